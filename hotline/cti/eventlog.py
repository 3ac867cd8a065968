"""The queue event log: append-only facts about queues, agents and calls (like Asterisk's queue_log).

Writers call :meth:`EventLog.append` (synchronous, never blocks the call path); a background task
writes the buffer in one transaction every ``interval`` seconds. :meth:`flush` writes now (tests,
shutdown). Every report can be recomputed from this table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.cti.events import EventHub
from hotline.store.db import transaction
from hotline.store.models import QueueEvent
from hotline.store.types import utcnow

log = logging.getLogger("hotline.cti.events")


@dataclass
class LoggedEvent:
    tenant_id: int
    event: str
    at: datetime = field(default_factory=utcnow)
    call_id: str = ""
    queue: str = ""
    agent_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


class EventLog:
    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        interval: float = 0.2,
        hub: EventHub | None = None,
    ) -> None:
        self._db = factory
        #: every appended event is also published live (WebSocket clients, webhooks)
        self.hub = hub
        self._buffer: list[LoggedEvent] = []
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._stopping = False
        self.written = 0
        self.failures = 0

    def append(
        self,
        tenant_id: int,
        event: str,
        *,
        call_id: str = "",
        queue: str = "",
        agent_id: int | None = None,
        at: datetime | None = None,
        **data: Any,
    ) -> None:
        logged = LoggedEvent(tenant_id, event, at or utcnow(), call_id, queue, agent_id, _jsonable(data))
        self._buffer.append(logged)
        if self.hub is not None:
            self.hub.publish(
                tenant_id,
                event,
                call_id=call_id,
                queue=queue,
                agent_id=agent_id,
                at=logged.at,
                data=logged.data,
            )
        if len(self._buffer) >= 500:
            self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop the writer between two batches (never in the middle of one), then write the rest.

        Cancelling the writer inside a transaction would leave its SQLite connection holding the
        write lock until it is garbage-collected, and the final write would find the database
        locked."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), 30)
            except TimeoutError:  # pragma: no cover - a database hung for 30 s
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
            self._stopping = False
        await self.flush()

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # the database is down: keep the events and try again
                self.failures += 1
                log.exception("queue event log: write failed; %d events kept", len(self._buffer))
                if not self._stopping:
                    await asyncio.sleep(1.0)

    async def flush(self) -> None:
        async with self._lock:
            batch, self._buffer = self._buffer, []
            if not batch:
                return
            try:
                async with transaction(self._db) as s:
                    await s.execute(
                        insert(QueueEvent),
                        [
                            {
                                "tenant_id": e.tenant_id,
                                "at": e.at,
                                "call_id": e.call_id[:40],
                                "queue": e.queue[:64],
                                "agent_id": e.agent_id,
                                "event": e.event[:32],
                                "data": e.data,
                            }
                            for e in batch
                        ],
                    )
            except BaseException:
                self._buffer[:0] = batch  # nothing lost: retried on the next flush
                raise
            self.written += len(batch)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        if v is None or isinstance(v, str | int | float | bool):
            out[k] = v
        elif isinstance(v, list | tuple):
            out[k] = [
                x if isinstance(x, str | int | float | bool) or x is None
                else _jsonable(x) if isinstance(x, dict) else str(x)
                for x in v
            ]  # fmt: skip
        elif isinstance(v, dict):
            out[k] = _jsonable(v)
        else:
            out[k] = str(v)
    return out


def replay(rows: list[dict[str, Any]]) -> list[Any]:
    """The ACD engine events a stored log describes, in order (rows: ``event``, ``call_id``,
    ``queue``, ``agent_id``, ``data`` as in the ``queue_events`` table).

    Feeding them to :class:`hotline.acd.stats.QueueStats` recomputes the queue statistics of the
    live system (offered, answered within the service level, abandoned, ASA, AHT, agents by
    state) from the log alone — how reports are built.
    """
    from hotline.acd import events as ev
    from hotline.acd.model import AgentState, Media

    out: list[Any] = []
    for r in rows:
        d, name = r.get("data") or {}, r["event"]
        t = float(d.get("t", 0.0))
        task, queue, agent = r.get("call_id", ""), r.get("queue", ""), str(r.get("agent_id") or "")
        if name == "enter_queue":
            out.append(ev.TaskQueued(t, task, queue, Media(d.get("media", "call")), int(d.get("priority", 0)),
                                     float(d.get("queued_since", t))))  # fmt: skip
        elif name == "requeue":
            out.append(ev.TaskRequeued(t, task, queue, str(d.get("reason", ""))))
        elif name == "connect":
            out.append(
                ev.TaskAccepted(
                    t, task, agent, queue, float(d.get("wait", 0.0)), float(d.get("total_wait", 0.0))
                )
            )
        elif name == "complete":
            out.append(ev.TaskCompleted(t, task, agent, queue, float(d.get("handle_time", 0.0))))
        elif name == "abandon":
            out.append(ev.TaskAbandoned(t, task, queue, float(d.get("wait", 0.0))))
        elif name == "exit":
            out.append(ev.TaskExited(t, task, queue, str(d.get("reason", "")), float(d.get("wait", 0.0))))
        elif name == "overflow":
            out.append(ev.TaskOverflowed(t, task, queue, str(d.get("to_queue", "")), str(d.get("reason", "")),
                                         float(d.get("wait", 0.0))))  # fmt: skip
        elif name == "agent_state":
            out.append(ev.AgentStateChanged(t, agent, AgentState(d["old"]), AgentState(d["new"]), d.get("reason"),
                                            tuple(d.get("queues", ()))))  # fmt: skip
    return out
