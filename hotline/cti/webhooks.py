"""Webhooks: live events POSTed to integrations, signed, retried, durable.

Path of an event: :class:`~hotline.cti.events.EventHub` calls :meth:`WebhookService._on_event`
synchronously (it only appends to a list — never I/O on the call path); a writer task inserts
the matching (webhook, event) pairs into the ``webhook_deliveries`` outbox in one transaction
every ``batch_interval`` seconds; a sender task POSTs due deliveries and records the outcome.

Request: body = the event envelope as JSON; headers ``X-Hotline-Event`` (type),
``X-Hotline-Delivery`` (delivery id: the same on every retry, for de-duplication),
``X-Hotline-Timestamp`` (Unix seconds of this attempt) and
``X-Hotline-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>``.
A 2xx answer is success; anything else (or no answer within ``timeout``) is retried after
``backoff * 2**(attempt-1)`` seconds (capped at ``backoff_cap``) until ``max_attempts``, then
the delivery is ``failed``. Pending deliveries are rows: a restart carries on with them.
Delivery is at least once and not ordered across retries (receivers order by ``seq`` and drop
repeated ``X-Hotline-Delivery`` ids).
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.cti.events import EventHub, LiveEvent, encode
from hotline.store.db import transaction
from hotline.store.models import Webhook, WebhookDelivery
from hotline.store.types import utcnow

log = logging.getLogger("hotline.cti.webhooks")

#: live-only ticks sent only to webhooks that name them (every 2 s per tenant)
NOT_BY_DEFAULT = frozenset({"stats"})


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str, *, tolerance: float = 300.0) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent (replays)."""
    try:
        age = abs(time.time() - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(signature(secret, timestamp, body), header)


def matches(patterns: list[str], event_type: str) -> bool:
    """fnmatch patterns (``call_*``, ``agent_state``); none: every event but the ``stats`` ticks."""
    if not patterns:
        return event_type not in NOT_BY_DEFAULT
    return any(fnmatch.fnmatchcase(event_type, p) for p in patterns)


def backoff_delay(attempts: int, base: float, cap: float) -> float:
    """Seconds before the next try after ``attempts`` failed ones: base, 2·base, 4·base … ≤ cap."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class _Hook:
    id: int
    events: tuple[str, ...]


class WebhookService:
    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        hub: EventHub,
        *,
        max_attempts: int = 10,
        backoff: float = 1.0,
        backoff_cap: float = 600.0,
        timeout: float = 10.0,
        batch_interval: float = 0.2,
        concurrency: int = 16,
    ) -> None:
        self._db = factory
        self.hub = hub
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.timeout = timeout
        self.batch_interval = batch_interval
        self.concurrency = concurrency
        self._hooks: dict[int, list[_Hook]] = {}
        self._pending: list[dict[str, Any]] = []
        self._stop_listening: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake_writer = asyncio.Event()
        self._wake_sender = asyncio.Event()
        self._stopping = False
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        self.sent = 0
        self.failed_attempts = 0

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.reload()
        self._stop_listening = self.hub.listen(self._on_event)
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        self._tasks = [
            asyncio.ensure_future(self._write_loop()),
            asyncio.ensure_future(self._send_loop()),
        ]

    async def stop(self) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        # let the loops finish their current step: a loop cancelled inside a transaction would
        # leave its SQLite connection holding the write lock (see EventLog.stop)
        self._stopping = True
        self._wake_writer.set()
        self._wake_sender.set()
        if self._tasks:
            _done, late = await asyncio.wait(self._tasks, timeout=15)
            for task in late:
                task.cancel()
            for task in late:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._tasks = []
        self._stopping = False
        with contextlib.suppress(Exception):
            await self.flush()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def reload(self, tenant_id: int | None = None) -> None:
        """Re-read the active webhooks (after a change through the API)."""
        q = select(Webhook).where(Webhook.active)
        if tenant_id is not None:
            q = q.where(Webhook.tenant_id == tenant_id)
        async with self._db() as s:
            rows = list(await s.scalars(q.order_by(Webhook.id)))
        hooks: dict[int, list[_Hook]] = {} if tenant_id is None else {tenant_id: []}
        for w in rows:
            hooks.setdefault(w.tenant_id, []).append(_Hook(w.id, tuple(w.events or ())))
        if tenant_id is None:
            self._hooks = hooks
        else:
            self._hooks[tenant_id] = hooks[tenant_id]
        self._wake_sender.set()

    # -- events into the outbox ---------------------------------------------------------------

    def _on_event(self, event: LiveEvent) -> None:
        hooks = self._hooks.get(event.tenant_id)
        if not hooks:
            return
        payload: dict[str, Any] | None = None
        for h in hooks:
            if matches(list(h.events), event.type):
                if payload is None:
                    payload = json.loads(event.text)  # exactly what WebSocket readers get
                self._pending.append(
                    {
                        "tenant_id": event.tenant_id,
                        "webhook_id": h.id,
                        "event": event.type[:64],
                        "payload": payload,
                        "status": "pending",
                        "attempts": 0,
                        "next_at": event.at,
                        "last_error": "",
                        "created_at": event.at,
                    }
                )
        if len(self._pending) >= 500:
            self._wake_writer.set()

    async def flush(self) -> int:
        """Write buffered deliveries to the outbox now; returns how many."""
        async with self._lock:
            batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                async with transaction(self._db) as s:
                    await s.execute(insert(WebhookDelivery), batch)
            except BaseException:
                self._pending[:0] = batch
                raise
        self._wake_sender.set()
        return len(batch)

    async def _write_loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_writer.wait(), self.batch_interval)
            self._wake_writer.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("webhooks: writing the outbox failed; %d kept", len(self._pending))
                await asyncio.sleep(1.0)

    # -- sending ------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        while not self._stopping:
            try:
                delay = await self.send_due()
            except Exception:
                log.exception("webhooks: sending failed")
                delay = 1.0
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake_sender.wait(), delay)
            self._wake_sender.clear()

    async def send_due(self, limit: int = 200) -> float:
        """Try every due delivery once; return the seconds until the next one is due (≤ 30)."""
        now = utcnow()
        async with self._db() as s:
            rows = (
                await s.execute(
                    select(WebhookDelivery, Webhook.url, Webhook.secret)
                    .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                    .where(
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.next_at <= now,
                        Webhook.active,
                    )
                    .order_by(WebhookDelivery.next_at, WebhookDelivery.id)
                    .limit(limit)
                )
            ).all()
            if not rows:
                nxt = await s.scalar(
                    select(func.min(WebhookDelivery.next_at))
                    .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                    .where(WebhookDelivery.status == "pending", Webhook.active)
                )
                if nxt is None:
                    return 30.0
                return min(30.0, max(0.05, (nxt - now).total_seconds()))
        sem = asyncio.Semaphore(self.concurrency)

        async def one(d: WebhookDelivery, url: str, secret: str) -> dict[str, Any]:
            async with sem:
                error = await self._post(d, url, secret)
            attempts = d.attempts + 1
            if error is None:
                self.sent += 1
                return {
                    "id": d.id,
                    "status": "done",
                    "attempts": attempts,
                    "done_at": utcnow(),
                    "last_error": "",
                }
            self.failed_attempts += 1
            if attempts >= self.max_attempts:
                log.warning("webhooks: delivery %d to %s failed for good: %s", d.id, url, error)
                return {"id": d.id, "status": "failed", "attempts": attempts, "last_error": error[:500]}
            wait = backoff_delay(attempts, self.backoff, self.backoff_cap)
            return {
                "id": d.id,
                "status": "pending",
                "attempts": attempts,
                "last_error": error[:500],
                "next_at": utcnow() + timedelta(seconds=wait),
            }

        outcomes = await asyncio.gather(*(one(d, url, secret) for d, url, secret in rows))
        async with transaction(self._db) as s:
            for o in outcomes:
                values = {k: v for k, v in o.items() if k != "id"}
                await s.execute(update(WebhookDelivery).where(WebhookDelivery.id == o["id"]).values(**values))
        return 0.0

    async def _post(self, d: WebhookDelivery, url: str, secret: str) -> str | None:
        """One attempt: None on a 2xx answer, else what went wrong."""
        assert self._client is not None
        body = encode(d.payload).encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Hotline-Webhooks/1",
            "X-Hotline-Event": d.event,
            "X-Hotline-Delivery": str(d.id),
            "X-Hotline-Timestamp": ts,
            "X-Hotline-Signature": signature(secret, ts, body),
        }
        try:
            r = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}".strip(": ")
        if 200 <= r.status_code < 300:
            return None
        return f"HTTP {r.status_code}: {r.text[:200]}"
