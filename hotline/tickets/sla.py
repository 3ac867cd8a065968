"""Deadlines of stored tickets: the shell around :mod:`hotline.tickets.deadlines`.

A ticket's :class:`~hotline.tickets.deadlines.TicketClock` is never kept in memory: it is
rebuilt from the ticket's ``ticket_steps`` rows (start, stages fired), its ``ticket_timers``
rows (the pending timer's generation), its hold intervals (from the history, only for tickets
that were ever on hold), the tenant's policy (tenant setting ``ticket_sla``, else
:func:`~hotline.tickets.deadlines.default_policy`) and the responsible unit's calendar (its own,
else its nearest ancestor's, else always open). The clock is fed the state change's inputs
(:func:`hotline.tickets.steps.inputs_for` with the tenant's step map: setting
``ticket_sla_steps`` over :data:`~hotline.tickets.steps.DEFAULT_STEP_MAP`) or a due timer (the
scheduler), and the result is
written back: steps, the one timer per (ticket, step) (upserted; deleted when the step ends),
the ticket's summary columns (``due_at`` = the earliest due time of a running step, ``overdue``
set once any step ran late, ``overdue_seconds`` summed over finished steps, ``escalations``), and
``warned`` / ``overdue`` / ``escalated`` history entries of the system (``actor="system"``,
``user_id`` None, state and version unchanged).

Nothing here commits: the callers (the ticket service, inside its transaction; the scheduler)
own the transaction. Each function returns the live ``ticket_deadline`` events to publish after
the commit: ``{"type": "ticket_deadline", "data": {"kind", "id", "number", "step", "due_at",
"level", "up_unit", "overdue_seconds", …}}``.

Concurrency: the summary columns are updated with SQL expressions (``escalations =
escalations + n``), never from a possibly stale row object, and the scheduler locks the ticket
row before it reads the steps (the service's optimistic ``UPDATE`` takes the same row lock first),
so a step is never fired twice and a done step never fires.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Integer, bindparam, delete, or_, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from hotline.org.calendar import BusinessCalendar
from hotline.store.bulk import insert_rows, update_rows
from hotline.store.cache import Cache, db_key
from hotline.store.models import Calendar, TenantSetting, Ticket, TicketHistory, TicketStep, TicketTimer, Unit
from hotline.tickets import deadlines as D
from hotline.tickets.steps import DEFAULT_STEP_MAP, ClockInput, StepMap, inputs_for, parse_step_map
from hotline.tickets.workflow import Outcome, TicketState

log = logging.getLogger("hotline.tickets.sla")

SETTING_KEY = "ticket_sla"
#: what a history entry says for each stage
_NOTES = {"warned": "即将超时", "overdue": "已超时", "escalated": "督办"}

# -- lookups --------------------------------------------------------------------------------------

_calendar_cache: dict[tuple[str, str, str, str], BusinessCalendar] = {}
_ALWAYS_OPEN = BusinessCalendar.always_open()


@dataclass(frozen=True, slots=True)
class UnitInfo:
    id: int
    code: str
    path: str
    calendar_id: int | None
    #: unit ids from the root down to this unit
    chain: tuple[int, ...] = ()


def _unit_info(id: int, code: str, path: str, calendar_id: int | None) -> UnitInfo:
    return UnitInfo(id, code, path, calendar_id, tuple(int(p) for p in path.strip("/").split("/") if p))


class Lookup:
    """Policies, units and calendars read once per transaction (a scheduler round), or — with
    ``keep`` — kept across rounds (the scheduler renews ``keep`` every few seconds, so a changed
    policy, calendar or unit is seen within that time)."""

    def __init__(self, s: AsyncSession, keep: Lookup | None = None) -> None:
        self.s = s
        self.policies: dict[int, D.SlaPolicy] = keep.policies if keep is not None else {}
        self.units: dict[int, UnitInfo] = keep.units if keep is not None else {}
        self.calendars: dict[int, BusinessCalendar] = keep.calendars if keep is not None else {}

    async def policy(self, tenant_id: int) -> D.SlaPolicy:
        got = self.policies.get(tenant_id)
        if got is None:
            got = self.policies[tenant_id] = await policy_for(self.s, tenant_id)
        return got

    async def load_units(self, ids: Iterable[int]) -> None:
        """Load the units ``ids`` and their ancestors: with them every unit of their tenants, and
        the calendars those units name, in two queries. A tenant's tree is small beside the
        orders (thousands of units at most) and a kept Lookup is renewed every few seconds:
        reading one unit at a time would be one query per unit each time, for hundreds of
        units, under the orders being created."""
        want = sorted({i for i in ids if i not in self.units})
        if not want:
            return
        tenants = select(Unit.tenant_id).where(Unit.id.in_(want)).scalar_subquery()
        rows = (
            await self.s.execute(
                select(Unit.id, Unit.code, Unit.path, Unit.calendar_id).where(Unit.tenant_id.in_(tenants))
            )
        ).all()
        for r in rows:
            self.units[r.id] = _unit_info(r.id, r.code, r.path, r.calendar_id)
        await self._load_calendars({r.calendar_id for r in rows if r.calendar_id is not None})

    async def unit(self, unit_id: int) -> UnitInfo | None:
        got = self.units.get(unit_id)
        if got is None:
            await self.load_units([unit_id])
            got = self.units.get(unit_id)
        return got

    async def calendar(self, unit_id: int) -> BusinessCalendar:
        """The unit's calendar, else its nearest ancestor's, else always open."""
        u = await self.unit(unit_id)
        if u is None:
            return _ALWAYS_OPEN
        for uid in reversed(u.chain):
            info = self.units.get(uid)
            if info is not None and info.calendar_id is not None:
                return await self._calendar(info.calendar_id)
        return _ALWAYS_OPEN

    async def _calendar(self, cal_id: int) -> BusinessCalendar:
        got = self.calendars.get(cal_id)
        if got is None:
            await self._load_calendars({cal_id})
            got = self.calendars.get(cal_id)
        return got if got is not None else _ALWAYS_OPEN

    async def _load_calendars(self, ids: Iterable[int]) -> None:
        """Load the calendars ``ids`` not known yet (one query)."""
        want = sorted({i for i in ids if i not in self.calendars})
        if not want:
            return
        for c in await self.s.execute(
            select(Calendar.id, Calendar.timezone, Calendar.week, Calendar.holidays, Calendar.workdays).where(
                Calendar.id.in_(want)
            )
        ):
            # keyed by content, not by id: ids repeat across databases (and the cache is per process)
            key = (c.timezone, repr(c.week), repr(c.holidays), repr(c.workdays))
            cal = _calendar_cache.get(key)
            if cal is None:
                cal = BusinessCalendar.from_spec(
                    timezone=c.timezone, week=c.week, holidays=c.holidays, workdays=c.workdays
                )
                if len(_calendar_cache) > 1000:
                    _calendar_cache.clear()
                _calendar_cache[key] = cal
            self.calendars[c.id] = cal

    async def up_unit(self, unit_id: int, up: int) -> UnitInfo | None:
        """The unit ``up`` levels above ``unit_id`` (the root when the tree is not that deep)."""
        u = await self.unit(unit_id)
        if u is None:
            return None
        chain = u.chain
        return self.units.get(chain[max(0, len(chain) - 1 - up)])


#: the tenant's policy and step map (:mod:`hotline.store.cache`)
_POLICIES: Cache[tuple[str, int], D.SlaPolicy] = Cache(("tenant_settings",))
_STEP_MAPS: Cache[tuple[str, int], StepMap] = Cache(("tenant_settings",))


#: units and calendars shared by the requests of this process (:mod:`hotline.store.cache`)
_ORG: Cache[str, Lookup] = Cache(("units", "calendars"))


def shared_lookup(s: AsyncSession) -> Lookup:
    """A Lookup for ``s`` whose units and calendars are kept across requests."""
    key = db_key(s)
    kept = _ORG.get(key)
    if kept is None:
        kept = _ORG.put(key, Lookup(None), _ORG.mark())  # type: ignore[arg-type]
    lookup = Lookup(s, keep=kept)
    lookup.policies = {}  # policy_for has its own cache
    return lookup


async def policy_for(s: AsyncSession, tenant_id: int) -> D.SlaPolicy:
    """The tenant's SLA policy (setting ``ticket_sla``), else the default policy."""
    return await _POLICIES.fetch((db_key(s), tenant_id), lambda: _read_policy(s, tenant_id))


async def _read_policy(s: AsyncSession, tenant_id: int) -> D.SlaPolicy:
    row = (
        await s.execute(
            select(TenantSetting.value, TenantSetting.updated_at).where(
                TenantSetting.tenant_id == tenant_id, TenantSetting.key == SETTING_KEY
            )
        )
    ).first()
    if row is None:
        return _default()
    try:
        return D.parse_policy(row.value)
    except Exception:
        log.exception("tenant %s: stored SLA policy is invalid; using the default", tenant_id)
        return _default()


_DEFAULT: list[D.SlaPolicy] = []


def _default() -> D.SlaPolicy:
    if not _DEFAULT:
        _DEFAULT.append(D.default_policy())
    return _DEFAULT[0]


def forget_policy(tenant_id: int) -> None:
    _POLICIES.clear()
    _STEP_MAPS.clear()


STEPS_KEY = "ticket_sla_steps"


async def step_map_for(s: AsyncSession, tenant_id: int) -> StepMap:
    """The tenant's action → steps map (setting ``ticket_sla_steps``: the actions it names
    replace the default's), else :data:`~hotline.tickets.steps.DEFAULT_STEP_MAP`."""
    return await _STEP_MAPS.fetch((db_key(s), tenant_id), lambda: _read_step_map(s, tenant_id))


async def _read_step_map(s: AsyncSession, tenant_id: int) -> StepMap:
    row = (
        await s.execute(
            select(TenantSetting.value, TenantSetting.updated_at).where(
                TenantSetting.tenant_id == tenant_id, TenantSetting.key == STEPS_KEY
            )
        )
    ).first()
    if row is None:
        return DEFAULT_STEP_MAP
    try:
        return {**DEFAULT_STEP_MAP, **parse_step_map(row.value)}
    except Exception:
        log.exception("tenant %s: stored step map is invalid; using the default", tenant_id)
        return DEFAULT_STEP_MAP


# -- the rebuilt clock ----------------------------------------------------------------------------

_TICKET_COLS = (
    Ticket.id,
    Ticket.tenant_id,
    Ticket.number,
    Ticket.type_code,
    Ticket.urgency,
    Ticket.unit_id,
    Ticket.state,
    Ticket.version,
    Ticket.area_class,
    Ticket.urges,
    Ticket.held_since,
    Ticket.held_seconds,
)


@dataclass(slots=True)
class TicketInfo:
    id: int
    tenant_id: int
    number: str
    type_code: str
    urgency: str
    unit_id: int
    state: str
    version: int
    area_class: str
    urges: int
    held_since: datetime | None
    held_seconds: float

    @property
    def ever_held(self) -> bool:
        return self.held_since is not None or (self.held_seconds or 0) > 0


def _info(r: Any) -> TicketInfo:
    return TicketInfo(*(r[i] for i in range(len(_TICKET_COLS))))


@dataclass(slots=True)
class StepRow:
    id: int | None
    step: str
    started_at: datetime
    due_at: datetime | None = None
    warn_at: datetime | None = None
    done_at: datetime | None = None
    on_time: bool | None = None
    overdue_seconds: float = 0.0
    fired: int = 0
    escalations: int = 0
    dirty: bool = False


@dataclass(slots=True)
class TimerRow:
    id: int
    step: str
    kind: str
    fire_at: datetime
    generation: int
    level: int


_STEP_COLS = (
    TicketStep.id,
    TicketStep.ticket_id,
    TicketStep.step,
    TicketStep.started_at,
    TicketStep.due_at,
    TicketStep.warn_at,
    TicketStep.done_at,
    TicketStep.on_time,
    TicketStep.overdue_seconds,
    TicketStep.fired,
    TicketStep.escalations,
)
_TIMER_COLS = (
    TicketTimer.id,
    TicketTimer.ticket_id,
    TicketTimer.step,
    TicketTimer.kind,
    TicketTimer.fire_at,
    TicketTimer.generation,
    TicketTimer.level,
)


@dataclass(slots=True)
class Work:
    """One ticket's rebuilt clock, its rows and what feeding it produced."""

    ticket: TicketInfo
    clock: D.TicketClock
    steps: dict[str, StepRow]
    timers: dict[str, TimerRow]
    #: the slots whose pending timer changed: the new timer, or None (delete)
    slots: dict[str, D.TimerRequest | None] = field(default_factory=dict)
    events: list[D.DeadlineEvent] = field(default_factory=list)
    cancelled: set[str] = field(default_factory=set)

    def feed(self, d: D.Decision) -> None:
        for c in d.cancels:
            self.slots[c.step] = None
        for t in d.timers:
            self.slots[t.step] = t
        self.events.extend(d.events)

    def timer_request(self, step: str) -> D.TimerRequest | None:
        t = self.timers.get(step)
        if t is None:
            return None
        return D.TimerRequest(str(self.ticket.id), step, t.kind, t.fire_at, t.generation, t.level)  # type: ignore[arg-type]


def rebuild(
    ticket: TicketInfo,
    rules: Mapping[str, D.StepRule],
    calendar: BusinessCalendar,
    steps: Mapping[str, StepRow],
    timers: Mapping[str, TimerRow],
    holds: Sequence[D.Hold] = (),
) -> Work:
    """The ticket's clock as it stands after the stored inputs (pure).

    Running steps (no ``done_at``) with a rule get their start, the stages already fired and the
    generation of their stored timer; a timer of a step that has no rule any more is dropped.
    """
    clock = D.TicketClock(str(ticket.id), rules, calendar, area=ticket.area_class or None)
    clock.holds = list(holds)
    clock.urges = ticket.urges or 0
    work = Work(ticket, clock, dict(steps), dict(timers))
    generation = 0
    for name, st in steps.items():
        rule = rules.get(name)
        if st.done_at is not None or rule is None:
            if name in timers:
                work.slots[name] = None
            continue
        t = timers.get(name)
        gen = t.generation if t is not None else 0
        generation = max(generation, gen)
        clock._running[name] = D._Running(rule, st.started_at, fired=st.fired, generation=gen)
    clock._generation = max(generation, max((t.generation for t in timers.values()), default=0))
    return work


def holds_from(entries: Iterable[Any]) -> list[D.Hold]:
    """Hold intervals from history entries ``(at, action, from_state, to_state)`` in order: a
    ``hold`` entry starts one, the first later entry leaving its state ends it."""
    out: list[D.Hold] = []
    held: str | None = None
    for at, action, from_state, to_state in entries:
        if held is None:
            if action == "hold" and to_state != from_state:
                held = to_state
                out.append((at, None))
        elif from_state == held and to_state != held:
            out[-1] = (out[-1][0], at)
            held = None
    return out


def apply_inputs(work: Work, inputs: Sequence[ClockInput], now: datetime, calendar: BusinessCalendar) -> None:
    clock = work.clock
    for inp in inputs:
        if inp.op == "start":
            assert inp.step is not None
            if inp.step not in clock.running:
                work.feed(clock.start(inp.step, now))
        elif inp.op == "restart":
            assert inp.step is not None
            work.feed(clock.start(inp.step, now))
        elif inp.op == "done":
            assert inp.step is not None
            work.feed(clock.done(inp.step, now))
        elif inp.op == "cancel":
            for step in clock.running:
                work.cancelled.add(step)
                work.feed(clock.done(step, now))
        elif inp.op == "hold":
            work.feed(clock.hold(now))
        elif inp.op == "resume":
            work.feed(clock.resume(now))
        elif inp.op == "reconfigure":
            work.feed(clock.reconfigure(now, calendar=calendar))


# -- results --------------------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    """What to write for one ticket and what to publish afterwards."""

    ticket: TicketInfo
    step_updates: list[StepRow] = field(default_factory=list)
    step_inserts: list[StepRow] = field(default_factory=list)
    timer_upserts: list[tuple[int | None, D.TimerRequest]] = field(default_factory=list)
    timer_deletes: list[int] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    due_at: datetime | None = None
    overdue: bool = False
    add_overdue_seconds: float = 0.0
    add_escalations: int = 0


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v is not None else None


async def finish(work: Work, now: datetime, lookup: Lookup) -> Result:
    """Turn the fed clock into rows to write and events to publish."""
    t = work.ticket
    res = Result(t)
    unit = await lookup.unit(t.unit_id)
    cancelled = work.cancelled
    for ev in work.events:
        step = getattr(ev, "step", None)
        row = work.steps.get(step) if step is not None else None
        if isinstance(ev, D.StepStarted):
            if row is None:
                row = work.steps[ev.step] = StepRow(None, ev.step, ev.at)
            row.started_at, row.due_at, row.warn_at = ev.at, ev.due_at, ev.warn_at
            row.done_at, row.on_time, row.overdue_seconds = None, None, 0.0
            row.fired, row.escalations, row.dirty = 0, 0, True
        elif isinstance(ev, D.StepDone):
            if row is None:
                continue
            row.done_at, row.due_at = ev.at, ev.due_at
            row.on_time = None if ev.step in cancelled else ev.on_time
            row.overdue_seconds = ev.overdue.total_seconds()
            row.dirty = True
            res.add_overdue_seconds += row.overdue_seconds
            if not ev.on_time and ev.step not in cancelled:
                res.overdue = True
        elif isinstance(ev, D.StepWarned | D.StepOverdue | D.StepEscalated):
            if row is not None:
                row.fired += 1
                row.dirty = True
            data: dict[str, Any] = {
                "id": t.id,
                "number": t.number,
                "type": t.type_code,
                "state": t.state,
                "step": ev.step,
                "unit": unit.code if unit else None,
                "unit_id": t.unit_id,
                "level": 0,
                "up_unit": None,
                "up_unit_id": None,
                "overdue_seconds": 0.0,
            }
            if isinstance(ev, D.StepWarned):
                kind = "warned"
                data["due_at"] = ev.due_at.isoformat()
            elif isinstance(ev, D.StepOverdue):
                kind = "overdue"
                data["due_at"] = ev.due_at.isoformat()
                res.overdue = True
            else:
                kind = "escalated"
                res.overdue = True
                res.add_escalations += 1
                if row is not None:
                    row.escalations += 1
                up = await lookup.up_unit(t.unit_id, ev.up)
                data.update(
                    due_at=_iso(row.due_at if row else None),
                    level=ev.level,
                    up=ev.up,
                    up_unit=up.code if up else None,
                    up_unit_id=up.id if up else None,
                    overdue_seconds=round(ev.overdue.total_seconds(), 3),
                )
            data["kind"] = kind
            note = f"{_NOTES[kind]}: {ev.step}"
            if kind == "escalated" and data["up_unit"]:
                note += f" → {data['up_unit']} (level {data['level']})"
            res.history.append(
                {
                    "tenant_id": t.tenant_id,
                    "ticket_id": t.id,
                    "at": ev.at,
                    "user_id": None,
                    "actor": "system",
                    "action": kind,
                    "from_state": t.state,
                    "to_state": t.state,
                    "note": note,
                    "attachments": [],
                    "data": {
                        k: data[k]
                        for k in ("step", "due_at", "level", "up_unit", "up_unit_id", "overdue_seconds")
                    },
                    "version": t.version,
                }
            )
            res.events.append({"type": "ticket_deadline", "data": data})
        elif isinstance(ev, D.Urged):
            res.events.append(
                {
                    "type": "ticket_deadline",
                    "data": {
                        "kind": "urged",
                        "id": t.id,
                        "number": t.number,
                        "type": t.type_code,
                        "state": t.state,
                        "step": ev.steps[0] if ev.steps else None,
                        "steps": list(ev.steps),
                        "unit": unit.code if unit else None,
                        "unit_id": t.unit_id,
                        "due_at": None,
                        "level": 0,
                        "up_unit": None,
                        "overdue_seconds": 0.0,
                        "urges": ev.count,
                        "by": ev.by,
                        "note": ev.note,
                    },
                }
            )
    # running steps: due / warn as they stand now (holds, another calendar)
    dues: list[datetime] = []
    for name in work.clock.running:
        d = work.clock.deadline(name, now)
        row = work.steps.get(name)
        if d is None or row is None:
            continue
        dues.append(d.due_at)
        if row.due_at != d.due_at or row.warn_at != d.warn_at:
            row.due_at, row.warn_at, row.dirty = d.due_at, d.warn_at, True
    res.due_at = min(dues) if dues else None
    for row in work.steps.values():
        if row.dirty:
            (res.step_updates if row.id is not None else res.step_inserts).append(row)
    for step, req in work.slots.items():
        existing = work.timers.get(step)
        if req is None:
            if existing is not None:
                res.timer_deletes.append(existing.id)
        else:
            res.timer_upserts.append((existing.id if existing else None, req))
    return res


#: the columns of a step and of a timer that the clock writes (besides tenant, ticket and step)
_STEP_WRITTEN = (
    "started_at",
    "due_at",
    "warn_at",
    "done_at",
    "on_time",
    "overdue_seconds",
    "fired",
    "escalations",
)
_TIMER_WRITTEN = ("kind", "fire_at", "generation", "level")


async def write(
    s: AsyncSession, results: Sequence[Result], *, returning: bool = False, summary: bool = True
) -> list[Any]:
    """Write the results in bulk; returns the tickets' new summary rows when ``returning``
    (``summary=False``: the tickets' summary columns are written by the caller)."""
    if not results:
        return []
    st: Any = TicketStep.__table__
    tm: Any = TicketTimer.__table__
    ups = [r for res in results for r in res.step_updates]
    if ups:
        await update_rows(s, st, [{"id": r.id, **{c: getattr(r, c) for c in _STEP_WRITTEN}} for r in ups])
    ins = [(res.ticket, r) for res in results for r in res.step_inserts]
    if ins:
        await insert_rows(
            s,
            st,
            [
                {
                    "tenant_id": t.tenant_id,
                    "ticket_id": t.id,
                    "step": r.step,
                    **{c: getattr(r, c) for c in _STEP_WRITTEN},
                }
                for t, r in ins
            ],
        )
    fires = [req.fire_at for res in results for _i, req in res.timer_upserts]
    if fires:  # the scheduler is woken for timers due before its next look (Change.next_timer)
        known = s.info.get("next_timer")
        s.info["next_timer"] = min(fires) if known is None else min(known, *fires)
    dels = [i for res in results for i in res.timer_deletes]
    if dels:
        await s.execute(delete(tm).where(tm.c.id.in_(dels)))
    t_up = [(i, req) for res in results for i, req in res.timer_upserts if i is not None]
    if t_up:
        await update_rows(s, tm, [{"id": i, **{c: getattr(r, c) for c in _TIMER_WRITTEN}} for i, r in t_up])
    t_ins = [(res.ticket, req) for res in results for i, req in res.timer_upserts if i is None]
    if t_ins:
        await insert_rows(
            s,
            tm,
            [
                {
                    "tenant_id": t.tenant_id,
                    "ticket_id": t.id,
                    "step": r.step,
                    **{c: getattr(r, c) for c in _TIMER_WRITTEN},
                }
                for t, r in t_ins
            ],
        )
    hist = [h for res in results for h in res.history]
    if hist:
        th: Any = TicketHistory.__table__
        await insert_rows(s, th, hist)
    if not summary:
        return []
    tbl: Any = Ticket.__table__
    if returning:
        stmt = (
            update(tbl)
            .where(tbl.c.id == bindparam("b_id"))
            .values(
                due_at=bindparam("b_due", type_=tbl.c.due_at.type),
                overdue=or_(tbl.c.overdue, bindparam("b_flag", type_=Boolean)),
                overdue_seconds=tbl.c.overdue_seconds + bindparam("b_add", type_=Float),
                escalations=tbl.c.escalations + bindparam("b_esc", type_=Integer),
            )
            .returning(tbl.c.due_at, tbl.c.overdue, tbl.c.overdue_seconds, tbl.c.escalations)
        )
        out = []
        for res in results:
            p = {
                "b_id": res.ticket.id,
                "b_due": res.due_at,
                "b_flag": res.overdue,
                "b_add": res.add_overdue_seconds,
                "b_esc": res.add_escalations,
            }
            out.append((await s.execute(stmt, p)).one())
        return out
    await update_rows(
        s,
        tbl,
        [
            {
                "id": res.ticket.id,
                "due_at": res.due_at,
                "overdue": res.overdue,
                "overdue_seconds": res.add_overdue_seconds,
                "escalations": res.add_escalations,
            }
            for res in results
        ],
        add=("overdue_seconds", "escalations"),
        either=("overdue",),
    )
    return []


# -- loading --------------------------------------------------------------------------------------


async def load_rows(
    s: AsyncSession, ticket_ids: Sequence[int]
) -> tuple[dict[int, dict[str, StepRow]], dict[int, dict[str, TimerRow]]]:
    steps: dict[int, dict[str, StepRow]] = {i: {} for i in ticket_ids}
    timers: dict[int, dict[str, TimerRow]] = {i: {} for i in ticket_ids}
    if not ticket_ids:
        return steps, timers
    for r in (await s.execute(select(*_STEP_COLS).where(TicketStep.ticket_id.in_(ticket_ids)))).all():
        steps[r.ticket_id][r.step] = StepRow(
            r.id,
            r.step,
            r.started_at,
            r.due_at,
            r.warn_at,
            r.done_at,
            r.on_time,
            r.overdue_seconds or 0.0,
            r.fired or 0,
            r.escalations or 0,
        )
    for t in (await s.execute(select(*_TIMER_COLS).where(TicketTimer.ticket_id.in_(ticket_ids)))).all():
        timers[t.ticket_id][t.step] = TimerRow(t.id, t.step, t.kind, t.fire_at, t.generation, t.level)
    return steps, timers


async def load_holds(
    s: AsyncSession, tickets: Sequence[TicketInfo], *, before_version: int | None = None
) -> dict[int, list[D.Hold]]:
    ids = [t.id for t in tickets if t.ever_held]
    out: dict[int, list[D.Hold]] = {}
    if not ids:
        return out
    q = select(
        TicketHistory.ticket_id,
        TicketHistory.at,
        TicketHistory.action,
        TicketHistory.from_state,
        TicketHistory.to_state,
    ).where(
        TicketHistory.ticket_id.in_(ids),
        TicketHistory.action.not_in(("warned", "overdue", "escalated")),
    )
    if before_version is not None:
        q = q.where(TicketHistory.version < before_version)
    by: dict[int, list[tuple[Any, ...]]] = {}
    for r in (await s.execute(q.order_by(TicketHistory.ticket_id, TicketHistory.id))).all():
        by.setdefault(r.ticket_id, []).append((r.at, r.action, r.from_state, r.to_state))
    for tid, entries in by.items():
        out[tid] = holds_from(entries)
    return out


async def prepare(
    s: AsyncSession,
    tickets: Sequence[TicketInfo],
    lookup: Lookup,
    *,
    before_version: int | None = None,
    errors: list[int] | None = None,
) -> dict[int, tuple[Work, BusinessCalendar]]:
    """Rebuilt clocks of ``tickets`` (one query per table for all of them)."""
    ids = [t.id for t in tickets]
    steps, timers = await load_rows(s, ids)
    holds = await load_holds(s, tickets, before_version=before_version)
    await lookup.load_units({t.unit_id for t in tickets})
    out: dict[int, tuple[Work, BusinessCalendar]] = {}
    for t in tickets:
        try:
            policy = await lookup.policy(t.tenant_id)
            rules = policy.steps_for(t.type_code, t.urgency)
            cal = await lookup.calendar(t.unit_id)
            out[t.id] = (rebuild(t, rules, cal, steps[t.id], timers[t.id], holds.get(t.id, ())), cal)
        except Exception:
            if errors is None:
                raise
            log.exception("ticket %s: cannot rebuild its deadline clock", t.id)
            errors.append(t.id)
    return out


async def _ticket(s: AsyncSession, row: Ticket) -> TicketInfo:
    ident = sa_inspect(row).identity
    tid = ident[0] if ident else row.id
    r = (await s.execute(select(*_TICKET_COLS).where(Ticket.id == tid))).one()
    return _info(r)


def _sync_row(row: Ticket, summary: Any) -> None:
    for name, value in zip(("due_at", "overdue", "overdue_seconds", "escalations"), summary, strict=True):
        set_committed_value(row, name, value)


async def _run(
    s: AsyncSession,
    row: Ticket,
    now: datetime,
    make_inputs: Callable[[StepMap], list[ClockInput]],
    *,
    before_version: int | None = None,
) -> list[dict[str, Any]]:
    t = await _ticket(s, row)
    inputs = make_inputs(await step_map_for(s, t.tenant_id))
    if not inputs:
        return []
    lookup = shared_lookup(s)
    work, cal = (await prepare(s, [t], lookup, before_version=before_version))[t.id]
    apply_inputs(work, inputs, now, cal)
    res = await finish(work, now, lookup)
    summary = await write(s, [res], returning=True)
    _sync_row(row, summary[0])
    return res.events


# -- the contract ---------------------------------------------------------------------------------


async def on_created(s: AsyncSession, row: Ticket, now: datetime) -> list[dict[str, Any]]:
    """A ticket was created (``accept``): start its steps."""
    return await _run(s, row, now, lambda m: inputs_for("accept", step_map=m))


async def on_outcome(
    s: AsyncSession, row: Ticket, before: TicketState, outcome: Outcome, now: datetime
) -> list[dict[str, Any]]:
    """A workflow action was applied to ``row`` (already updated, inside the caller's
    transaction): feed the clock the action's inputs."""
    unit_changed = any(e.kind == "assigned" for e in outcome.events) and (
        before.unit is None or outcome.state.unit is None or str(before.unit) != str(outcome.state.unit)
    )
    if outcome.entry.action == "urge":
        return []  # on_urge
    return await _run(
        s,
        row,
        now,
        lambda m: inputs_for(outcome.entry.action, outcome.events, unit_changed=unit_changed, step_map=m),
        before_version=outcome.entry.version,
    )


async def on_reclassified(s: AsyncSession, row: Ticket, now: datetime) -> list[dict[str, Any]]:
    """The ticket's urgency or area class changed (``row`` already updated, inside the caller's
    transaction): every running step is measured again from its start, under its type's rules
    for the new urgency and the limits of the new area (a repair's arrival: urban 45 min, remote
    120). A step the new rules do not have keeps running without a timer; steps not started yet
    start with their action, as before. Events: what the new plan makes due at once (overdue)."""
    return await _run(s, row, now, lambda _m: [ClockInput("reconfigure")])


async def on_urge(s: AsyncSession, row: Ticket, now: datetime, *, by: str, note: str) -> list[dict[str, Any]]:
    """催办: an ``urged`` event naming the running steps (deadlines are unchanged)."""
    t = await _ticket(s, row)
    lookup = shared_lookup(s)
    work, _cal = (await prepare(s, [t], lookup))[t.id]
    work.clock.urges = max(0, (t.urges or 1) - 1)  # the row already counts this urge
    work.feed(work.clock.urge(now, by=by, note=note))
    res = await finish(work, now, lookup)
    return res.events


def fire(work: Work, step: str, now: datetime) -> None:
    """Fire the stored timer of ``step`` (the scheduler)."""
    req = work.timer_request(step)
    if req is None:
        return
    work.slots.setdefault(step, None)  # the fired timer is gone unless the clock asks for another
    work.feed(work.clock.fire(req, now))


async def deadlines(s: AsyncSession, row: Ticket, now: datetime) -> list[dict[str, Any]]:
    """The ticket's steps for the API: running ones measured at ``now``."""
    t = await _ticket(s, row)
    lookup = shared_lookup(s)
    work, _cal = (await prepare(s, [t], lookup))[t.id]
    return deadline_rows(work, now)


def deadline_rows(work: Work, now: datetime) -> list[dict[str, Any]]:
    """The steps of a clock for the API (pure): running ones measured at ``now``; ``next`` is the
    pending timer (stored, or just planned)."""
    out: list[dict[str, Any]] = []
    for name, st in sorted(work.steps.items(), key=lambda kv: (kv[1].started_at, kv[0])):
        d = work.clock.deadline(name, now) if st.done_at is None else None
        nxt: dict[str, Any] | None = None
        if st.done_at is None:
            if name in work.slots:
                req = work.slots[name]
                if req is not None:
                    nxt = {"kind": req.kind, "fire_at": req.fire_at, "level": req.level}
            elif (timer := work.timers.get(name)) is not None:
                nxt = {"kind": timer.kind, "fire_at": timer.fire_at, "level": timer.level}
        out.append(
            {
                "step": name,
                "started_at": st.started_at,
                "due_at": d.due_at if d else st.due_at,
                "warn_at": d.warn_at if d else st.warn_at,
                "done_at": st.done_at,
                "running": st.done_at is None and d is not None,
                "on_time": st.on_time,
                "overdue_seconds": d.overdue.total_seconds() if d else st.overdue_seconds,
                "paused": d.paused if d else False,
                "fired": st.fired,
                "escalations": st.escalations,
                "next": nxt,
            }
        )
    return out


@dataclass(slots=True)
class NewClock:
    """The deadline clock of a ticket being created (:func:`plan_new`), to write with
    :func:`write` once the ticket has its id (:meth:`bind`)."""

    result: Result
    due_at: datetime | None
    overdue: bool
    events: list[dict[str, Any]]
    next_timer: datetime | None
    deadlines: list[dict[str, Any]]

    def bind(self, ticket_id: int, number: str) -> None:
        """The ticket has its id and number now (again, when a write is retried)."""
        self.result.ticket.id, self.result.ticket.number = ticket_id, number
        for ev in self.events:
            ev["data"]["id"], ev["data"]["number"] = ticket_id, number
        for h in self.result.history:
            h["ticket_id"] = ticket_id


async def plan_new(s: AsyncSession, row: Ticket, outcomes: Sequence[Outcome], now: datetime) -> NewClock:
    """The clock of a new ticket (``row``: its final state, not yet written) fed the inputs of
    ``outcomes`` (the ``accept``, then the actions applied with the creation, e.g. the dispatch)
    at once — nothing is read back: a new ticket has no steps, timers or holds. The clock runs
    on the calendar of the row's unit (the last one assigned; the creation's actions all happen
    at ``now``, so the intake unit's calendar would be replaced at once anyway)."""
    t = TicketInfo(
        0,
        row.tenant_id,
        row.number,
        row.type_code,
        row.urgency,
        row.unit_id,
        row.state,
        row.version,
        row.area_class,
        row.urges or 0,
        None,
        0.0,
    )
    step_map = await step_map_for(s, t.tenant_id)
    inputs: list[ClockInput] = []
    for i, o in enumerate(outcomes):
        if i == 0:
            inputs.extend(inputs_for("accept", step_map=step_map))
        else:
            inputs.extend(inputs_for(o.entry.action, o.events, step_map=step_map))
    lookup = shared_lookup(s)
    await lookup.load_units([t.unit_id])
    policy = await lookup.policy(t.tenant_id)
    rules = policy.steps_for(t.type_code, t.urgency)
    cal = await lookup.calendar(t.unit_id)
    work = rebuild(t, rules, cal, {}, {})
    apply_inputs(work, inputs, now, cal)
    res = await finish(work, now, lookup)
    fires = [req.fire_at for _i, req in res.timer_upserts]
    return NewClock(
        res, res.due_at, res.overdue, res.events, min(fires) if fires else None, deadline_rows(work, now)
    )
