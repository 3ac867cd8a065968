"""The statistics service: one :class:`~hotline.cti.stats.LiveStats` per tenant, kept live from the
event hub, rebuilt at start-up from the stored queue event log, published every 2 s.

* start: for each tenant, the time zone (the calendar of the root unit; Asia/Shanghai without
  one) and the wallboard thresholds (``tenant_settings`` key ``wallboard``) are loaded, the last
  24 hours of ``queue_events`` are replayed (today's counters and the interval history) and the
  result is aligned with the running ACD (calls and agent sessions do not survive a restart);
* live: a synchronous hub listener feeds every queue-log event to the tenant's reducer;
* publishing: every ``period`` seconds, for each tenant with activity (an event, a caller
  waiting, a new 15-minute interval), one ``stats`` event whose data holds the documents that
  changed since the last one: ``{"queues": [changed queue docs], "agents": [changed agent
  docs]}`` (the first event after start holds all of them). The hub filters the lists item by
  item (stats.read over each queue's / agent's unit), so a city supervisor gets their rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.cti.acdservice import AcdService
from hotline.cti.events import EventHub, LiveEvent
from hotline.cti.stats import (
    DEFAULT_THRESHOLDS,
    DEFAULT_TIMEZONE,
    EVENT_TYPES,
    KEEP_HOURS,
    LiveStats,
    StatEvent,
    check_thresholds,
    levels,
)
from hotline.store.models import Calendar, QueueEvent, Tenant, TenantSetting, Unit

log = logging.getLogger("hotline.stats")

WALLBOARD_KEY = "wallboard"


#: seconds between rebuilds of every agent's document (in between: only the agents events named)
FULL_EVERY = 30.0


class StatsService:
    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        hub: EventHub,
        acd: AcdService,
        *,
        period: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = factory
        self.hub = hub
        self.acd = acd
        self.period = period
        self.clock = clock
        self.tenants: dict[int, LiveStats] = {}
        self.timezones: dict[int, str] = {}
        self._thresholds: dict[int, dict[str, list[float]]] = {}
        self._published: dict[tuple[int, str], dict[str, Any]] = {}
        self._active: set[int] = set()
        #: agents whose document may have changed since the last tick (events naming them)
        self._dirty: dict[int, set[int]] = {}
        #: when every agent document was last rebuilt (a safety net for changes without an event)
        self._full_at: dict[int, float] = {}
        self._bucket: dict[int, float] = {}
        self._unlisten: Callable[[], None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.replayed = 0
        #: the 2-second loop publishes only while this is set (tests call :meth:`tick` themselves)
        self.publishing = True

    # -- life cycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.load()
        if self._unlisten is None:
            self._unlisten = self.hub.listen(self._on_event)
        if self._task is None and self.period > 0:
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def load(self) -> None:
        async with self._db() as s:
            tenant_ids = list(await s.scalars(select(Tenant.id)))
        for tid in tenant_ids:
            await self.load_tenant(tid)

    async def load_tenant(self, tenant_id: int) -> LiveStats:
        """Rebuild a tenant's statistics from the stored log (start-up)."""
        async with self._db() as s:
            tz = await s.scalar(
                select(Calendar.timezone)
                .join(Unit, Unit.calendar_id == Calendar.id)
                .where(Unit.tenant_id == tenant_id, Unit.parent_id.is_(None))
                .order_by(Unit.id)
                .limit(1)
            )
            setting = await s.scalar(
                select(TenantSetting).where(
                    TenantSetting.tenant_id == tenant_id, TenantSetting.key == WALLBOARD_KEY
                )
            )
        self.timezones[tenant_id] = tz or DEFAULT_TIMEZONE
        try:
            self._thresholds[tenant_id] = check_thresholds(setting.value if setting is not None else {})
        except ValueError:
            log.warning("tenant %d: stored wallboard thresholds are invalid; using defaults", tenant_id)
            self._thresholds[tenant_id] = check_thresholds({})
        st = self._new(tenant_id)
        now = self.clock()
        since = st.bucket_of(now - KEEP_HOURS * 3600.0)
        since_dt = datetime.fromtimestamp(since, UTC)
        last_id = 0
        while True:
            async with self._db() as s:
                rows = list(
                    await s.scalars(
                        select(QueueEvent)
                        .where(
                            QueueEvent.tenant_id == tenant_id,
                            QueueEvent.at >= since_dt,
                            QueueEvent.id > last_id,
                            QueueEvent.event.in_(EVENT_TYPES),
                        )
                        .order_by(QueueEvent.id)
                        .limit(5000)
                    )
                )
            for r in rows:
                st.consume(StatEvent(r.event, r.at.timestamp(), r.call_id, r.queue, r.agent_id, r.data or {}))
            self.replayed += len(rows)
            if len(rows) < 5000:
                break
            last_id = rows[-1].id
        self._reconcile(tenant_id, st)
        self.tenants[tenant_id] = st
        return st

    def _new(self, tenant_id: int) -> LiveStats:
        st = LiveStats(self.timezones.get(tenant_id, DEFAULT_TIMEZONE))
        self._sync_thresholds(tenant_id, st)
        return st

    def _sync_thresholds(self, tenant_id: int, st: LiveStats) -> None:
        acd = self.acd.tenants.get(tenant_id)
        if acd is not None:
            st.thresholds = {name: info.settings.sl_seconds for name, info in acd.queues.items()}

    def _reconcile(self, tenant_id: int, st: LiveStats) -> None:
        acd = self.acd.tenants.get(tenant_id)
        if acd is None:
            return
        eng = acd.engine
        agents = {
            uid: (eng.agent_state(s.agent_id).value, eng.agent_reason(s.agent_id))
            for uid, s in acd.agents.items()
        }
        st.reconcile(eng.live_task_ids, agents)

    def stats(self, tenant_id: int) -> LiveStats:
        st = self.tenants.get(tenant_id)
        if st is None:
            st = self.tenants[tenant_id] = self._new(tenant_id)
        return st

    # -- live -------------------------------------------------------------------------------------

    def _on_event(self, ev: LiveEvent) -> None:
        if ev.type not in EVENT_TYPES:
            return
        st = self.stats(ev.tenant_id)
        st.consume(StatEvent(ev.type, ev.at.timestamp(), ev.call_id, ev.queue, ev.agent_id, ev.data))
        self._active.add(ev.tenant_id)
        if ev.agent_id is not None:
            self._dirty.setdefault(ev.tenant_id, set()).add(ev.agent_id)

    # -- thresholds -------------------------------------------------------------------------------

    def thresholds(self, tenant_id: int) -> dict[str, list[float]]:
        return self._thresholds.get(tenant_id) or {k: list(v) for k, v in DEFAULT_THRESHOLDS.items()}

    def set_thresholds(self, tenant_id: int, value: dict[str, list[float]]) -> None:
        self._thresholds[tenant_id] = value
        self._active.add(tenant_id)

    # -- documents --------------------------------------------------------------------------------

    def queue_docs(self, tenant_id: int, now: float | None = None) -> list[dict[str, Any]]:
        """GET /api/v1/stats/queues items of every configured queue (unfiltered)."""
        now = self.clock() if now is None else now
        st = self.stats(tenant_id)
        self._sync_thresholds(tenant_id, st)
        acd = self.acd.tenants.get(tenant_id)
        if acd is None:
            return []
        thr = self.thresholds(tenant_id)
        self._reconcile(tenant_id, st)  # the ACD is the authority (e.g. after a queue reload)
        docs = st.all_queue_stats(now, sorted(acd.queues))
        mono = self.acd.now()
        for d in docs:
            info = acd.queues[d["queue"]]
            snap = acd.stats.snapshot(info.name, mono)  # the engine's own view: exact to the moment
            d["waiting"] = snap.waiting
            d["longest_wait"] = round(snap.longest_wait, 1)
            d["display_name"] = info.display_name
            d["unit_id"] = info.unit_id
            d["levels"] = levels(d, thr)
        return docs

    def agent_docs(
        self, tenant_id: int, now: float | None = None, only: set[int] | None = None
    ) -> list[dict[str, Any]]:
        """GET /api/v1/stats/agents items of every agent (unfiltered), or of the agents ``only``."""
        now = self.clock() if now is None else now
        st = self.stats(tenant_id)
        acd = self.acd.tenants.get(tenant_id)
        if acd is None:
            return []
        eng = acd.engine
        out = []
        for uid in sorted(acd.agents if only is None else only & acd.agents.keys()):
            session = acd.agents[uid]
            d = st.agent_stats(uid, now)
            d["name"] = session.name
            d["unit_id"] = session.unit_id
            d["state"] = eng.agent_state(session.agent_id).value
            d["reason"] = eng.agent_reason(session.agent_id)
            d["since"] = self.acd.wall(session.state_since).isoformat()
            d["extension"] = session.extension
            d["logout_pending"] = session.logout_pending
            if (
                d["call_id"] is None
                and (session.current_call or session.wrap_call)
                and d["state"] != "available"
            ):
                d["call_id"] = session.current_call or session.wrap_call
            if d["call_id"] and not d["caller"]:
                d["caller"] = self._caller_of(d["call_id"])
            out.append(d)
        return out

    def _caller_of(self, call_id: str) -> str | None:
        """The caller's number from the running call layer, when there is one."""
        manager = getattr(self.acd.handler, "m", None)
        calls = getattr(manager, "_calls", None)
        call = calls.get(call_id) if isinstance(calls, dict) else None
        number = getattr(call, "caller_number", "") if call is not None else ""
        return str(number) or None

    def intervals(
        self, tenant_id: int, hours: float, queues: list[str] | None, now: float | None = None
    ) -> list[dict[str, Any]]:
        now = self.clock() if now is None else now
        st = self.stats(tenant_id)
        self._sync_thresholds(tenant_id, st)
        return st.intervals(now, hours, queues)

    # -- publishing -------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.period)
            if not self.publishing:
                continue
            try:
                self.tick()
            except Exception:
                log.exception("stats: publishing failed")

    def republish(self) -> None:
        """Send every document again on the next tick (as after a start)."""
        self._published.clear()
        self._bucket.clear()
        self._full_at.clear()  # every agent, not only those named by events since the last tick

    def _changed(self, tenant_id: int, key: str, doc: dict[str, Any]) -> bool:
        if self._published.get((tenant_id, key)) == doc:
            return False
        self._published[(tenant_id, key)] = doc
        return True

    def tick(self, now: float | None = None) -> int:
        """Publish the documents that changed; returns how many ``stats`` events went out."""
        now = self.clock() if now is None else now
        sent = 0
        for tid, st in list(self.tenants.items()):
            bucket = st.bucket_of(now)
            if tid not in self._active and not st.open and self._bucket.get(tid) == bucket:
                continue
            self._bucket[tid] = bucket
            queues = [d for d in self.queue_docs(tid, now) if self._changed(tid, "q:" + d["queue"], d)]
            # only the agents named by events since the last tick (2,000 documents cost ~15 ms),
            # and every agent each FULL_EVERY seconds in case something changed without an event
            only: set[int] | None = self._dirty.pop(tid, set())
            if now - self._full_at.get(tid, float("-inf")) >= FULL_EVERY:
                self._full_at[tid] = now
                only = None
            agents = [
                d for d in self.agent_docs(tid, now, only) if self._changed(tid, f"a:{d['agent_id']}", d)
            ]
            if queues or agents:
                self.hub.publish(tid, "stats", data={"queues": queues, "agents": agents})
                sent += 1
        self._active.clear()
        return sent
