"""The ACD engine's asyncio shell: one engine per tenant, its clock, agent sessions, the event log.

The engine (:mod:`hotline.acd`) is pure: it is fed commands with ``now`` and answers with
decisions (offer, withdraw, overflow, exit) and events. This service

* loads queues (``queues`` table) and agent résumés (``agents`` table) of every tenant,
* keeps agent sessions: which extension an agent logged in at, since when, the call in wrap-up,
* runs the engine's timers (ring-no-answer, wrap-up, max wait, overflow) on the event loop,
* hands decisions to the :class:`TaskHandler` (the inbound call path rings phones, plays
  announcements and moves callers), and writes every engine event to the queue event log.

Engine time is ``time.monotonic()``; :meth:`AcdService.wall` converts it to a datetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.acd import (
    AgentConfig,
    AgentState,
    Decision,
    Engine,
    Event,
    Exit,
    Offer,
    Overflow,
    TaskSpec,
    Withdraw,
)
from hotline.acd.errors import AcdError
from hotline.acd.events import (
    AgentStateChanged,
    TaskAbandoned,
    TaskAccepted,
    TaskCompleted,
    TaskExited,
    TaskOffered,
    TaskOfferWithdrawn,
    TaskOverflowed,
    TaskQueued,
    TaskRequeued,
)
from hotline.acd.model import TaskStatus
from hotline.acd.stats import QueueStats
from hotline.cti.eventlog import EventLog
from hotline.cti.queues import QueueSettings, parse_settings, to_queue_config
from hotline.errors import Conflict, Invalid, NotFound
from hotline.org.calendar import BusinessCalendar
from hotline.store.models import AgentProfile, Calendar, QueueDef, Tenant, User

log = logging.getLogger("hotline.acd")


class TaskHandler(Protocol):
    """What the call layer does with the engine's decisions (all synchronous; spawn work)."""

    def on_offer(self, tenant_id: int, offer: Offer) -> None: ...
    def on_withdraw(self, tenant_id: int, withdraw: Withdraw) -> None: ...
    def on_exit(self, tenant_id: int, exit_: Exit) -> None: ...
    def on_overflow(self, tenant_id: int, overflow: Overflow) -> None: ...


@dataclass
class AgentSession:
    tenant_id: int
    user_id: int
    username: str
    name: str
    unit_id: int
    auto_ready: bool = True
    extension: str | None = None
    logged_in_at: datetime | None = None
    state_since: float = 0.0
    #: the call the agent is talking on, and the last call awaiting its disposition
    current_call: str | None = None
    wrap_call: str | None = None
    calls_handled: int = 0
    #: a supervisor forced a logout while the agent was on a call: log out when it ends
    logout_pending: bool = False

    @property
    def agent_id(self) -> str:
        return str(self.user_id)


@dataclass
class QueueInfo:
    id: int
    name: str
    display_name: str
    unit_id: int
    settings: QueueSettings


@dataclass
class TenantAcd:
    tenant_id: int
    engine: Engine
    stats: QueueStats
    queues: dict[str, QueueInfo] = field(default_factory=dict)
    agents: dict[int, AgentSession] = field(default_factory=dict)
    calendars: dict[str, BusinessCalendar] = field(default_factory=dict)
    #: caller numbers of tasks in the ACD (written into their enter_queue events)
    callers: dict[str, str] = field(default_factory=dict)
    #: user ids of agents to log out once their call ends
    logout_pending: set[int] = field(default_factory=set)


class _EngineCalendar:
    """A business calendar asked in engine time (monotonic seconds)."""

    def __init__(self, calendar: BusinessCalendar, offset: float) -> None:
        self.calendar, self.offset = calendar, offset

    def is_open(self, t: float) -> bool:
        return self.calendar.is_open_ts(t + self.offset)


class AcdService:
    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        events: EventLog,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = factory
        self.events = events
        self.clock = clock
        self._offset = time.time() - clock()
        self.tenants: dict[int, TenantAcd] = {}
        self.handler: TaskHandler | None = None
        #: called on every agent state change: (session, old, new, seconds spent in old)
        self.agent_listener: Callable[[AgentSession, AgentState, AgentState, float], None] | None = None
        self._wake = asyncio.Event()
        self._pending_reload: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.Task[None] | None = None

    # -- time -------------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock()

    def wall(self, t: float) -> datetime:
        return datetime.fromtimestamp(t + self._offset, tz=UTC)

    # -- loading ----------------------------------------------------------------------------------

    async def load(self) -> None:
        async with self._db() as s:
            tenant_ids = list(await s.scalars(select(Tenant.id)))
        for tid in tenant_ids:
            await self.load_tenant(tid)

    async def load_tenant(self, tenant_id: int) -> TenantAcd:
        """(Re)build a tenant's engine from the database. Only while no call is in its queues."""
        old = self.tenants.get(tenant_id)
        if old is not None and old.engine.live_task_ids:
            raise Conflict("calls are waiting or connected in this tenant's queues; reload later")
        async with self._db() as s:
            qrows = list(await s.scalars(select(QueueDef).where(QueueDef.tenant_id == tenant_id)))
            arows = list(
                (
                    await s.execute(
                        select(AgentProfile, User)
                        .join(User, User.id == AgentProfile.user_id)
                        .where(AgentProfile.tenant_id == tenant_id)
                    )
                ).all()
            )
            crows = list(await s.scalars(select(Calendar).where(Calendar.tenant_id == tenant_id)))
        calendars = {
            c.name: BusinessCalendar.from_spec(
                timezone=c.timezone, week=c.week, holidays=c.holidays, workdays=c.workdays
            )
            for c in crows
        }
        queues: dict[str, QueueInfo] = {}
        skills: set[str] = set()
        for q in qrows:
            settings = parse_settings(q.settings)
            queues[q.name] = QueueInfo(q.id, q.name, q.display_name or q.name, q.unit_id, settings)
            skills |= settings.skills()
        for profile, _user in arows:
            skills |= set(profile.skills)
        engine = Engine(skills=sorted(skills), start=self.now())
        configs = []
        for info in queues.values():
            cal = calendars.get(info.settings.calendar or "")
            configs.append(
                to_queue_config(
                    info.name,
                    info.settings,
                    calendar=_EngineCalendar(cal, self._offset) if cal is not None else None,
                )
            )
        engine.add_queues(configs)
        thresholds = {name: info.settings.sl_seconds for name, info in queues.items()}
        stats = QueueStats(default_aht=120.0, per_queue_threshold=thresholds)
        acd = TenantAcd(tenant_id, engine, stats, queues, {}, calendars)
        for profile, user in arows:
            engine.add_agent(self._agent_config(profile, queues))
            acd.agents[user.id] = AgentSession(
                tenant_id=tenant_id,
                user_id=user.id,
                username=user.username,
                name=user.display_name or user.username,
                unit_id=user.unit_id,
                auto_ready=profile.auto_ready,
                state_since=self.now(),
            )
        if old is not None:  # carry logged-in agents over to the new engine
            for uid, prev in old.agents.items():
                session = acd.agents.get(uid)
                if session is None or prev.extension is None:
                    continue
                state = old.engine.agent_state(prev.agent_id)
                reason = old.engine.agent_reason(prev.agent_id)
                session.extension, session.logged_in_at = prev.extension, prev.logged_in_at
                session.calls_handled, session.wrap_call = prev.calls_handled, prev.wrap_call
                ready = state in (AgentState.AVAILABLE, AgentState.WRAP_UP)
                engine.login(session.agent_id, self.now(), ready=ready, reason=reason or "login")
            engine.pop_events()
            engine.pop_decisions()
        self.tenants[tenant_id] = acd
        self._pending_reload.discard(tenant_id)
        log.info("acd: tenant %d: %d queues, %d agents", tenant_id, len(queues), len(acd.agents))
        return acd

    async def reload_when_idle(self, tenant_id: int) -> bool:
        """Apply changed queue settings: now if no call is in the tenant's queues, else as soon as
        they are idle. What callers hear (greeting, announcements) changes at once either way."""
        acd = self.tenants.get(tenant_id)
        if acd is None or not acd.engine.live_task_ids:
            await self.load_tenant(tenant_id)
            return True
        async with self._db() as s:
            rows = list(await s.scalars(select(QueueDef).where(QueueDef.tenant_id == tenant_id)))
        for q in rows:
            info = acd.queues.get(q.name)
            if info is not None:
                info.settings = parse_settings(q.settings)
                info.display_name = q.display_name or q.name
        self._pending_reload.add(tenant_id)
        return False

    async def refresh_agent(self, tenant_id: int, user_id: int) -> None:
        """A changed agent profile: update the engine (résumé, queues) in any state."""
        acd = self.tenant(tenant_id)
        async with self._db() as s:
            row = (
                await s.execute(
                    select(AgentProfile, User)
                    .join(User, User.id == AgentProfile.user_id)
                    .where(AgentProfile.user_id == user_id)
                )
            ).first()
        if row is None:
            return
        profile, user = row
        for skill in profile.skills:
            if skill not in acd.engine.skills:
                acd.engine.add_skill(skill)
        cfg = self._agent_config(profile, acd.queues)
        session = acd.agents.get(user_id)
        if session is None:
            acd.engine.add_agent(cfg, self.now())
            acd.agents[user_id] = AgentSession(
                tenant_id=tenant_id,
                user_id=user_id,
                username=user.username,
                name=user.display_name or user.username,
                unit_id=user.unit_id,
                auto_ready=profile.auto_ready,
                state_since=self.now(),
            )
        else:
            session.auto_ready = profile.auto_ready
            self.apply(tenant_id, lambda e, now: e.update_agent(cfg, now))

    @staticmethod
    def _agent_config(profile: AgentProfile, queues: dict[str, QueueInfo]) -> AgentConfig:
        served = tuple(q for q in profile.queues if q in queues)
        return AgentConfig(
            id=str(profile.user_id),
            skills={k: int(v) for k, v in profile.skills.items()},
            queues=served,
        )

    async def _reload_later(self, tenant_id: int) -> None:
        try:
            await self.reload_when_idle(tenant_id)
        except Exception:
            log.exception("acd: reloading tenant %d failed", tenant_id)

    # -- the clock --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._timer is None:
            self._timer = asyncio.ensure_future(self._run_timers())

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
            self._timer = None

    async def _run_timers(self) -> None:
        while True:
            deadlines = [d for a in self.tenants.values() if (d := a.engine.next_deadline()) is not None]
            delay = max(0.0, min(deadlines) - self.now()) if deadlines else 3600.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            now = self.now()
            for acd in list(self.tenants.values()):
                d = acd.engine.next_deadline()
                if d is not None and d <= now:
                    try:
                        self._after(acd, acd.engine.tick(now))
                    except Exception:
                        log.exception("acd: tick failed for tenant %d", acd.tenant_id)

    # -- applying commands ------------------------------------------------------------------------

    def tenant(self, tenant_id: int) -> TenantAcd:
        acd = self.tenants.get(tenant_id)
        if acd is None:
            raise NotFound("no ACD configuration for this tenant", field="tenant")
        return acd

    def apply(self, tenant_id: int, command: Callable[[Engine, float], list[Decision]]) -> list[Decision]:
        """Run one engine command now; act on its decisions; log its events."""
        acd = self.tenant(tenant_id)
        decisions = command(acd.engine, self.now())
        self._after(acd, decisions)
        return decisions

    def _after(self, acd: TenantAcd, decisions: list[Decision]) -> None:
        if acd.tenant_id in self._pending_reload and not acd.engine.live_task_ids:
            self._pending_reload.discard(acd.tenant_id)
            task = asyncio.ensure_future(self._reload_later(acd.tenant_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        events = acd.engine.pop_events()
        acd.stats.consume(events)
        for e in events:
            self._log_event(acd, e)
        self._wake.set()  # a new deadline may be earlier than the one the timer sleeps for
        handler = self.handler
        if handler is not None:
            for d in decisions:
                try:
                    if isinstance(d, Offer):
                        handler.on_offer(acd.tenant_id, d)
                    elif isinstance(d, Withdraw):
                        handler.on_withdraw(acd.tenant_id, d)
                    elif isinstance(d, Exit):
                        handler.on_exit(acd.tenant_id, d)
                    elif isinstance(d, Overflow):
                        handler.on_overflow(acd.tenant_id, d)
                except Exception:
                    log.exception("acd: handler failed on %s", d)
        if acd.logout_pending:
            self._pending_logouts(acd)

    def _log_event(self, acd: TenantAcd, e: Event) -> None:
        at = self.wall(e.t)
        tid = acd.tenant_id
        if isinstance(e, AgentStateChanged):
            session = acd.agents.get(int(e.agent_id))
            if session is not None:
                spent = e.t - session.state_since
                session.state_since = e.t
                if self.agent_listener is not None:
                    try:
                        self.agent_listener(session, e.old, e.new, spent)
                    except Exception:
                        log.exception("acd: agent listener failed")
        described = describe(e)
        if described is None:
            return
        name, call_id, queue, agent, data = described
        if name == "enter_queue":
            caller = acd.callers.get(call_id)
            if caller:
                data["caller"] = caller
        elif name in ("complete", "abandon", "exit"):
            acd.callers.pop(call_id, None)
        self.events.append(tid, name, call_id=call_id, queue=queue, agent_id=agent, at=at, **data)

    # -- agents -----------------------------------------------------------------------------------

    def agent(self, tenant_id: int, user_id: int) -> AgentSession:
        session = self.tenant(tenant_id).agents.get(user_id)
        if session is None:
            raise NotFound(f"user {user_id} is not an agent (no agent profile)", field="agent")
        return session

    def agent_state(self, session: AgentSession) -> AgentState:
        return self.tenant(session.tenant_id).engine.agent_state(session.agent_id)

    def agent_status(self, session: AgentSession) -> dict[str, Any]:
        acd = self.tenant(session.tenant_id)
        eng = acd.engine
        state = eng.agent_state(session.agent_id)
        return {
            "user_id": session.user_id,
            "username": session.username,
            "name": session.name,
            "state": state.value,
            "reason": eng.agent_reason(session.agent_id),
            "extension": session.extension,
            "since": self.wall(session.state_since).isoformat(),
            "seconds_in_state": round(self.now() - session.state_since, 1),
            "logged_in_at": session.logged_in_at.isoformat() if session.logged_in_at else None,
            "current_call": session.current_call,
            "wrap_up_call": session.wrap_call,
            "offers": list(eng.agent_offers(session.agent_id)),
            "calls_handled": session.calls_handled,
            "logout_pending": session.logout_pending,
        }

    def login(self, session: AgentSession, extension: str, *, ready: bool) -> None:
        acd = self.tenant(session.tenant_id)
        for other in acd.agents.values():
            if other is not session and other.extension == extension:
                raise Conflict(
                    f"extension {extension} is in use by agent {other.username}", field="extension"
                )
        if session.extension is not None:
            if session.extension != extension:
                raise Conflict(
                    f"already logged in at extension {session.extension}; log out first", field="extension"
                )
            return  # idempotent
        if acd.engine.agent_state(session.agent_id) is not AgentState.LOGGED_OUT:
            raise Conflict("agent is already logged in", field="state")
        self.events.append(session.tenant_id, "agent_login", agent_id=session.user_id, extension=extension)
        self._engine_call(session, lambda e, now: e.login(session.agent_id, now, ready=ready))
        session.extension = extension
        session.logged_in_at = datetime.now(UTC)

    def logout(self, session: AgentSession, *, force: bool = False) -> bool:
        """Log the agent out; True when done now.

        An agent whose phone rings or who is in wrap-up is refused (409 naming the state)
        unless ``force``: the offer is declined (the call goes to the next agent) or the
        wrap-up ended, then the agent is logged out. An agent on a call (busy, hold) is refused
        unless ``force``: then the logout is *pending* — the agent gets no new call and is
        logged out as soon as the call ends (never cut off the caller; release the call with
        the call-control API for that). Answers False for a pending logout.
        """
        if session.extension is None:
            session.logout_pending = False
            return True
        acd = self.tenant(session.tenant_id)
        eng = acd.engine
        state = eng.agent_state(session.agent_id)
        aid = session.agent_id
        if state in (AgentState.RESERVED, AgentState.BUSY, AgentState.HOLD, AgentState.WRAP_UP) and not force:
            what = {
                AgentState.RESERVED: "ringing (reserved) with call " + ", ".join(eng.agent_offers(aid)),
                AgentState.WRAP_UP: f"in wrap-up of call {session.wrap_call}",
            }.get(state, f"on call {session.current_call} (state: {state.value})")
            raise Conflict(
                f"agent {session.username} is {what}; add ?force=true to log out anyway", field="state"
            )
        if state in (AgentState.BUSY, AgentState.HOLD) or eng.agent_tasks(aid):
            with contextlib.suppress(AcdError):  # no new call meanwhile
                self.apply(session.tenant_id, lambda e, now: e.set_not_ready(aid, now, "logout"))
            session.logout_pending = True
            acd.logout_pending.add(session.user_id)
            return False
        for task_id in eng.agent_offers(aid):
            self._engine_call(session, lambda e, now, t=task_id: e.reject(aid, t, now))  # type: ignore[misc]
        if eng.agent_state(aid) is AgentState.WRAP_UP:
            self._engine_call(session, lambda e, now: e.end_wrap_up(aid, now))
        self._engine_call(session, lambda e, now: e.logout(aid, now))
        self.events.append(
            session.tenant_id, "agent_logout", agent_id=session.user_id, extension=session.extension
        )
        session.extension = None
        session.logged_in_at = None
        session.logout_pending = False
        acd.logout_pending.discard(session.user_id)
        return True

    def _pending_logouts(self, acd: TenantAcd) -> None:
        for uid in list(acd.logout_pending):
            session = acd.agents.get(uid)
            if session is None or not session.logout_pending or session.extension is None:
                acd.logout_pending.discard(uid)
                continue
            eng = acd.engine
            if eng.agent_tasks(session.agent_id) or eng.agent_offers(session.agent_id):
                continue
            session.logout_pending = False
            acd.logout_pending.discard(uid)
            try:
                self.logout(session, force=True)
            except Exception:
                log.exception("acd: pending logout of agent %s failed", session.username)

    def set_ready(self, session: AgentSession) -> None:
        self._require_login(session)
        state = self.agent_state(session)
        if state is AgentState.WRAP_UP:
            self._engine_call(session, lambda e, now: e.end_wrap_up(session.agent_id, now))
        self._engine_call(session, lambda e, now: e.set_ready(session.agent_id, now))

    def set_not_ready(self, session: AgentSession, reason: str) -> None:
        self._require_login(session)
        self._engine_call(session, lambda e, now: e.set_not_ready(session.agent_id, now, reason))

    def end_wrap_up(self, session: AgentSession, *, ready: bool) -> None:
        self._require_login(session)
        if self.agent_state(session) is AgentState.WRAP_UP:
            self._engine_call(session, lambda e, now: e.end_wrap_up(session.agent_id, now))
        if not ready:
            self._engine_call(
                session, lambda e, now: e.set_not_ready(session.agent_id, now, "after_call_work")
            )

    def _require_login(self, session: AgentSession) -> None:
        if session.extension is None:
            raise Conflict("agent is logged out; log in with an extension first", field="state")

    def _engine_call(self, session: AgentSession, command: Callable[[Engine, float], list[Decision]]) -> None:
        try:
            self.apply(session.tenant_id, command)
        except AcdError as exc:
            raise Conflict(str(exc), field="state") from None

    # -- tasks (the call layer) -------------------------------------------------------------------

    def new_task(self, tenant_id: int, spec: TaskSpec) -> None:
        acd = self.tenant(tenant_id)
        if spec.queue not in acd.queues:
            raise Invalid(f"unknown queue {spec.queue!r}", field="queue")
        caller = spec.data.get("caller") or spec.data.get("number")
        if caller:
            acd.callers[spec.id] = str(caller)
        self.apply(tenant_id, lambda e, now: e.new_task(spec, now))

    def reserve(self, session: AgentSession, call_id: str, seconds: float, *, by: int) -> dict[str, Any]:
        """Keep a waiting call for one agent for ``seconds`` (offered to them as soon as they are
        ready; afterwards it goes back to the general line). 409 when the call is not waiting,
        422 when the agent cannot take it (logged out, lacks the skills)."""
        acd = self.tenant(session.tenant_id)
        eng = acd.engine
        status = self.task_status(session.tenant_id, call_id)
        if status is not TaskStatus.QUEUED:
            words = {TaskStatus.OFFERED: "ringing", TaskStatus.ASSIGNED: "connected"}
            word = "not in a queue" if status is None else words.get(status, str(status))
            raise Conflict(f"call {call_id} is not waiting in a queue (state: {word})", field="call_id")
        aid = session.agent_id
        if session.extension is None or eng.agent_state(aid) is AgentState.LOGGED_OUT:
            raise Invalid(f"agent {session.username} is not logged in", field="agent_id")
        if not eng.agent_qualifies(aid, call_id):
            raise Invalid(
                f"agent {session.username} lacks the skills the call needs ({eng.task_requirements(call_id)})",
                field="agent_id",
            )
        queue = eng.task_queue(call_id)
        self.events.append(
            session.tenant_id, "reserve", call_id=call_id, queue=queue, agent_id=session.user_id,
            by=by, seconds=seconds,
        )  # fmt: skip
        try:
            if eng.task_target(call_id) is not None:
                self.apply(session.tenant_id, lambda e, now: e.release(call_id, now))
            self.apply(session.tenant_id, lambda e, now: e.reserve(call_id, aid, seconds, now))
        except AcdError as exc:
            raise Conflict(str(exc), field="call_id") from None
        ringing = call_id in eng.agent_offers(aid)
        return {
            "call_id": call_id,
            "queue": queue,
            "agent_id": session.user_id,
            "state": "ringing" if ringing else "reserved",
            "until": self.wall(self.now() + seconds).isoformat(),
        }

    def task_of(self, tenant_id: int, call_id: str) -> str:
        """The ACD task of a call: the call id itself, or after a transfer ``<call id>/t<n>``
        (the newest live one); the call id when the ACD holds none."""
        acd = self.tenants.get(tenant_id)
        if acd is None:
            return call_id
        prefix = call_id + "/"
        live = [t for t in acd.engine.live_task_ids if t == call_id or t.startswith(prefix)]
        return max(live, key=lambda t: (t != call_id, len(t), t)) if live else call_id

    def task_status(self, tenant_id: int, call_id: str) -> TaskStatus | None:
        """The call's state in the ACD; None when the ACD does not know it."""
        eng = self.tenant(tenant_id).engine
        try:
            return eng.task_status(call_id)
        except AcdError:
            return None

    def queue_info(self, tenant_id: int, queue: str) -> QueueInfo | None:
        acd = self.tenants.get(tenant_id)
        return acd.queues.get(queue) if acd is not None else None

    def position(self, tenant_id: int, task_id: str) -> tuple[int, float] | None:
        """(1-based position in line, expected wait in seconds) of a waiting task."""
        acd = self.tenant(tenant_id)
        eng = acd.engine
        try:
            queue = eng.task_queue(task_id)
        except AcdError:
            return None
        line = eng.waiting(queue)
        if task_id not in line:
            return None
        pos = line.index(task_id) + 1
        snap = acd.stats.snapshot(queue, self.now())
        staffed = snap.available + snap.busy + snap.wrap_up
        ahead = pos - snap.available
        if ahead <= 0:
            return pos, 0.0
        if staffed == 0:
            return pos, float("inf")
        return pos, ahead * snap.aht / staffed

    def queue_status(self, tenant_id: int, queue: str) -> dict[str, Any]:
        acd = self.tenant(tenant_id)
        info = acd.queues.get(queue)
        if info is None:
            raise NotFound(f"no queue {queue!r}", field="queue")
        snap = acd.stats.snapshot(queue, self.now())
        out: dict[str, Any] = {k: getattr(snap, k) for k in snap.__slots__ if k != "queue_id"}
        if out["expected_wait"] == float("inf"):
            out["expected_wait"] = None
        out["name"] = queue
        out["display_name"] = info.display_name
        out["waiting_calls"] = acd.engine.waiting(queue)
        return out


_EVENT_NAMES: dict[type, str] = {
    TaskQueued: "enter_queue",
    TaskRequeued: "requeue",
    TaskOffered: "offer",
    TaskOfferWithdrawn: "offer_withdrawn",
    TaskAccepted: "connect",
    TaskCompleted: "complete",
    TaskAbandoned: "abandon",
    TaskExited: "exit",
    TaskOverflowed: "overflow",
}


def describe(e: Event) -> tuple[str, str, str, int | None, dict[str, Any]] | None:
    """How an engine event is written to the queue event log: (event name, call id, queue,
    agent user id, data) — None for events the log does not keep."""
    if isinstance(e, AgentStateChanged):
        data: dict[str, Any] = {
            "old": e.old.value, "new": e.new.value, "reason": e.reason, "queues": list(e.queues), "t": e.t,
        }  # fmt: skip
        return "agent_state", "", "", int(e.agent_id), data
    name = _EVENT_NAMES.get(type(e))
    if name is None:
        return None
    data = {
        k: getattr(e, k) for k in getattr(e, "__slots__", ()) if k not in ("task_id", "agent_id", "queue_id")
    }  # "t" (engine seconds) is kept: reports replay the log in engine time
    agent = getattr(e, "agent_id", None)
    queue = str(getattr(e, "queue_id", None) or getattr(e, "from_queue", ""))
    task_id = str(getattr(e, "task_id", ""))
    return name, task_id, queue, int(agent) if agent and agent.isdecimal() else None, data
