"""The contact-centre services that live with the app whether or not SIP runs:
the queue event log, the ACD (engine per tenant + agent sessions), IVR flows and actions,
the live event hub (WebSocket readers) and webhooks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.cti.acdservice import AcdService
from hotline.cti.eventlog import EventLog
from hotline.cti.events import EventHub, encode
from hotline.cti.flows import FlowStore
from hotline.cti.statsservice import StatsService
from hotline.cti.webhooks import WebhookService
from hotline.ivr.actions import ActionRegistry, default_registry
from hotline.store.models import AuthSession, Unit
from hotline.store.types import utcnow
from hotline.tickets.scheduler import DeadlineScheduler
from hotline.utility.backend import BillingBackend
from hotline.utility.builtin import BuiltinBackend

log = logging.getLogger("hotline.cti.events")

#: a reader that got no frame for this long gets a keep-alive frame
KEEPALIVE_AFTER = 20.0
#: how often readers' tokens are checked (revoked or expired: the connection is closed, 4401)
SESSION_CHECK_EVERY = 60.0
KEEPALIVE_FRAME = encode({"type": "keepalive"})


class AcdLocator:
    """Unit paths for the event hub: agents and queues from the running ACD (current after every
    reload), unit paths from the database (reloaded when an unknown unit shows up, and every
    minute — units are rarely moved)."""

    def __init__(self, acd: AcdService, factory: async_sessionmaker[AsyncSession]) -> None:
        self.acd = acd
        self._db = factory
        self.units: dict[int, str] = {}
        self._reload: asyncio.Task[None] | None = None
        self._reloaded = 0.0

    async def load(self) -> None:
        async with self._db() as s:
            rows = (await s.execute(select(Unit.id, Unit.path))).all()
        self.units = {uid: path for uid, path in rows}

    def _path(self, unit_id: int) -> str | None:
        path = self.units.get(unit_id)
        now = time.monotonic()
        if path is None and now - self._reloaded >= 5.0 and (self._reload is None or self._reload.done()):
            self._reloaded = now  # at most one reload per 5 s, however many lookups miss
            with contextlib.suppress(RuntimeError):  # no running loop (pure tests)
                self._reload = asyncio.get_running_loop().create_task(self.load())
        return path

    def agent_path(self, tenant_id: int, agent_id: int) -> str | None:
        t = self.acd.tenants.get(tenant_id)
        session = t.agents.get(agent_id) if t is not None else None
        return self._path(session.unit_id) if session is not None else None

    def queue_path(self, tenant_id: int, queue: str) -> str | None:
        t = self.acd.tenants.get(tenant_id)
        info = t.queues.get(queue) if t is not None else None
        return self._path(info.unit_id) if info is not None else None

    def unit_path(self, tenant_id: int, unit_id: int) -> str | None:
        return self._path(unit_id)


class ContactCenter:
    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        *,
        actions: ActionRegistry | None = None,
        billing: BillingBackend | None = None,
    ) -> None:
        self.factory = factory
        #: live events (WebSocket /api/v1/events, webhooks); the event log publishes into it
        self.hub = EventHub()
        self.events = EventLog(factory, hub=self.hub)
        self.acd = AcdService(factory, self.events)
        #: live statistics (GET /api/v1/stats/…, ``stats`` events every 2 s) — H-acd
        self.stats = StatsService(factory, self.hub, self.acd)
        self.locator = AcdLocator(self.acd, factory)
        self.hub.locator = self.locator
        self.webhooks = WebhookService(factory, self.hub)
        #: work-order deadline timers (warnings, overdue, 督办); the ticket service wakes it — H-sla
        self.deadlines = DeadlineScheduler(factory, self.hub)
        self.actions = actions if actions is not None else default_registry()
        self.flows = FlowStore(factory, action_names=self.actions.names)
        #: the billing system (built-in or a CIS adapter) — hotline.utility.backend
        self.billing: BillingBackend = billing if billing is not None else BuiltinBackend(factory)
        #: what IVR action plugins may use (hotline.ivr.actions.ActionContext.services)
        self.services: dict[str, Any] = {"db": factory, "billing": self.billing, "hub": self.hub}
        self._upkeep: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.acd.load()
        await self.stats.start()  # replays today's queue log before any call can arrive
        await self.locator.load()
        self.acd.start()
        self.events.start()
        await self.webhooks.start()
        await self.deadlines.start()
        self._upkeep = asyncio.ensure_future(self._readers_upkeep())

    async def stop(self) -> None:
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep
            self._upkeep = None
        await self.stats.stop()
        await self.acd.stop()
        await self.events.stop()
        await self.deadlines.stop()
        await self.webhooks.stop()

    async def _readers_upkeep(self) -> None:
        """Keep-alive frames for idle readers; close readers whose token was revoked or expired;
        refresh unit paths now and then."""
        last_check = last_units = time.monotonic()
        while True:
            await asyncio.sleep(5.0)
            now = time.monotonic()
            readers = self.hub.readers()
            for r in readers:
                if now - r.last_sent >= KEEPALIVE_AFTER and not r.frames:
                    r.last_sent = now
                    r.control(KEEPALIVE_FRAME)
            try:
                if now - last_check >= SESSION_CHECK_EVERY and readers:
                    last_check = now
                    await self.check_sessions()
                if now - last_units >= 60.0:
                    last_units = now
                    await self.locator.load()
                    self.hub.invalidate()
            except Exception:
                log.exception("events: reader upkeep failed")

    async def check_sessions(self) -> int:
        """Close readers whose session was revoked or has expired; returns how many."""
        readers = [r for r in self.hub.readers() if r.session_id is not None]
        ids = list({r.session_id for r in readers})
        bad: set[int] = set()
        now = utcnow()
        async with self.factory() as s:
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                bad |= set(
                    await s.scalars(
                        select(AuthSession.id).where(
                            AuthSession.id.in_(chunk),
                            or_(AuthSession.revoked_at.is_not(None), AuthSession.expires_at <= now),
                        )
                    )
                )
        closed = 0
        for r in readers:
            if r.session_id in bad:
                r.close(4401, "token revoked or expired")
                closed += 1
        return closed
