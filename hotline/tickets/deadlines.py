"""Work-order deadlines (SLA): policy as data, pure due-date arithmetic, a ticket clock, a timer heap.

Pure and I/O-free: nothing here reads the clock, the database or the network. The shell feeds
events with their time and stores/fires the timers this module asks for.

Policy (:class:`SlaPolicy`, validated by :func:`parse_policy`)
    ``rules``: one per ticket ``type`` and ``urgency`` (``"*"`` = any urgency; an exact urgency
    wins over ``"*"``). Each rule lists ``steps`` (names from :data:`STEPS`), each with exactly
    one duration — ``minutes``, ``working_days`` or ``by_area`` (minutes per area class of
    :data:`AREA_CLASSES`, e.g. the repair crew's arrival) — and a ``clock``: ``wall`` (elapsed
    time) or ``working`` (working time of the responsible unit's :class:`BusinessCalendar`;
    ``working_days`` needs it). ``warn``: ``percent`` of the step's time (0 < p < 100) or
    ``before_minutes`` before due. ``escalate`` (督办 to the supervising unit): ``after_minutes``
    past due (default 0), optional ``repeat_every_minutes`` with ``max_times`` escalations in all;
    ``climb`` (default true) sends escalation *k* *k* levels up the unit tree, otherwise always one
    level up. All minutes count in the step's clock.

Due dates (:func:`compute_deadline`)
    A step's *budget* is its duration in its clock: wall minutes, working minutes, or for
    ``working_days`` the working time from the step's origin to
    ``calendar.add_working_days(origin, n)``, where the origin is the start, moved to the next
    opening when the start is outside working hours (a complaint accepted on Saturday has its
    first working day on Monday, due Tuesday at opening). The step's *elapsed* time is its clock
    time since the origin minus the time spent on hold (``on_hold``), so holds shift the due date
    by the held duration — in working time for working steps (a hold over a weekend shifts
    nothing). ``due_at`` is the first instant at which elapsed reaches the budget; for
    ``working_days`` an instant at a closing time moves to the next opening (due Tuesday 08:30
    rather than Monday 17:30 — the same working time). ``warn_at`` and the escalation instants
    are the instants at which elapsed reaches budget − lead and budget + offset (never before
    ``due_at``). ``overdue`` = elapsed − budget when positive, in the step's clock. An open hold
    counts as ending at ``now`` (``paused`` is then true).

Clock (:class:`TicketClock`)
    One per ticket. Fed ``start(step)``, ``done(step)``, ``hold``, ``resume``, ``urge`` (催办 by
    the center) and ``fire(timer)``; each returns a :class:`Decision`: events (started, warned,
    overdue, escalated, done, paused, resumed, urged), timers to (re)schedule and timers to
    cancel. Each running step has at most one pending timer (its next warn / due / escalation),
    identified by ``(ticket, step)`` and a ``generation``; a fired timer whose generation is not
    the step's current one is stale and ignored. Late firing (after a restart) catches up: all
    stages due by ``now`` are emitted in order. ``reconfigure`` (another unit's calendar, another
    area) measures the running steps again from their starts. The clock is deterministic, so the shell rebuilds
    it after a restart by replaying the stored inputs.

Scheduler (:class:`TimerHeap`)
    A binary heap of ``(fire_at, seq, timer)`` with lazy cancellation: a live map
    ``(ticket, step) → generation``; scheduling replaces the slot's timer, cancelling forgets it,
    :meth:`TimerHeap.due` pops everything due and skips stale entries; the heap is rebuilt when
    stale entries outnumber live ones. O(log n) per operation, amortised.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hotline.errors import Invalid
from hotline.org.calendar import BusinessCalendar, CalendarError

STEPS = ("dispatch", "acknowledge", "contact", "arrive", "restore", "reply", "review", "revisit")
AREA_CLASSES = ("urban", "rural", "remote")
CLOCKS = ("wall", "working")
TimerKind = Literal["warn", "due", "escalate"]
IDENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ZERO = timedelta(0)

Minutes = Annotated[float, Field(allow_inf_nan=False)]

# -- policy ---------------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WarnRule(_Model):
    percent: Minutes | None = None
    before_minutes: Minutes | None = None


class EscalateRule(_Model):
    after_minutes: Minutes = 0
    repeat_every_minutes: Minutes | None = None
    max_times: int = 1
    climb: bool = True


class StepRule(_Model):
    step: str
    clock: Literal["wall", "working"] = "wall"
    minutes: Minutes | None = None
    working_days: int | None = None
    by_area: dict[str, Minutes] | None = None
    warn: WarnRule | None = None
    escalate: EscalateRule | None = None

    def minutes_for(self, area: str | None) -> float | None:
        """The step's minutes (for ``by_area`` those of ``area``); None for ``working_days``."""
        if self.by_area is not None:
            if area is None or area not in self.by_area:
                raise Invalid(
                    f"step {self.step} has deadlines by area ({', '.join(self.by_area)}); "
                    f"the ticket's area is {area!r}",
                    field="area",
                )
            return self.by_area[area]
        return self.minutes


class SlaRule(_Model):
    type: str
    urgency: str = "*"
    steps: list[StepRule] = []


class SlaPolicy(_Model):
    rules: list[SlaRule] = []

    def steps_for(self, type: str, urgency: str) -> dict[str, StepRule]:
        """The step rules of a ticket type and urgency (exact urgency, else ``"*"``; else none)."""
        fallback: SlaRule | None = None
        for rule in self.rules:
            if rule.type == type:
                if rule.urgency == urgency:
                    return {s.step: s for s in rule.steps}
                if rule.urgency == "*":
                    fallback = rule
        return {s.step: s for s in fallback.steps} if fallback else {}


@dataclass(frozen=True, slots=True)
class Issue:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _fmt(v: float) -> str:
    return f"{v:g}"


def _step_issues(s: StepRule, p: str) -> list[Issue]:
    out: list[Issue] = []
    if s.step not in STEPS:
        out.append(Issue(f"{p}.step", f"unknown step {s.step!r}; use one of {', '.join(STEPS)}"))
    given = [k for k in ("minutes", "working_days", "by_area") if getattr(s, k) is not None]
    if len(given) != 1:
        what = "none" if not given else " and ".join(given)
        out.append(Issue(p, f"give exactly one of minutes, working_days, by_area (got {what})"))
    shortest: float | None = None  # the step's shortest time in minutes, when known statically
    if s.minutes is not None:
        if s.minutes < 0:
            out.append(Issue(f"{p}.minutes", f"must not be negative (got {_fmt(s.minutes)})"))
        elif s.minutes == 0:
            out.append(Issue(f"{p}.minutes", "must be more than 0"))
        else:
            shortest = s.minutes
    if s.working_days is not None:
        if s.working_days < 0:
            out.append(Issue(f"{p}.working_days", f"must not be negative (got {s.working_days})"))
        elif s.working_days == 0:
            out.append(Issue(f"{p}.working_days", "must be at least 1"))
        if s.clock != "working":
            out.append(Issue(f"{p}.clock", "working_days count the unit's calendar: use clock: working"))
    if s.by_area is not None:
        for area, minutes in s.by_area.items():
            if area not in AREA_CLASSES:
                out.append(
                    Issue(f"{p}.by_area.{area}", f"unknown area class; use one of {', '.join(AREA_CLASSES)}")
                )
            elif minutes < 0:
                out.append(Issue(f"{p}.by_area.{area}", f"must not be negative (got {_fmt(minutes)})"))
            elif minutes == 0:
                out.append(Issue(f"{p}.by_area.{area}", "must be more than 0"))
        missing = [a for a in AREA_CLASSES if a not in s.by_area]
        if missing:
            out.append(Issue(f"{p}.by_area", f"missing area class {', '.join(missing)}"))
        valid = [m for m in s.by_area.values() if m > 0]
        shortest = min(valid) if valid else None
    if s.warn is not None:
        w, wp = s.warn, f"{p}.warn"
        if (w.percent is None) == (w.before_minutes is None):
            out.append(Issue(wp, "give exactly one of percent, before_minutes"))
        if w.percent is not None and not 0 < w.percent < 100:
            where = (
                "after" if w.percent > 100 else ("at" if w.percent == 100 else "before the start, not before")
            )
            if w.percent <= 0:
                out.append(Issue(f"{wp}.percent", f"must be more than 0 (got {_fmt(w.percent)})"))
            else:
                out.append(
                    Issue(f"{wp}.percent", f"a warning at {_fmt(w.percent)} % is {where} the due time")
                )
        if w.before_minutes is not None:
            if w.before_minutes <= 0:
                out.append(
                    Issue(
                        f"{wp}.before_minutes",
                        f"must be more than 0 (got {_fmt(w.before_minutes)}); "
                        "a warning at or after the due time is the overdue flag",
                    )
                )
            elif shortest is not None and w.before_minutes >= shortest:
                out.append(
                    Issue(
                        f"{wp}.before_minutes",
                        f"a warning {_fmt(w.before_minutes)} min before due is not after the start: "
                        f"the step has {_fmt(shortest)} min",
                    )
                )
    if s.escalate is not None:
        e, ep = s.escalate, f"{p}.escalate"
        if e.after_minutes < 0:
            out.append(Issue(f"{ep}.after_minutes", f"must not be negative (got {_fmt(e.after_minutes)})"))
        if e.max_times < 1:
            out.append(Issue(f"{ep}.max_times", f"must be at least 1 (got {e.max_times})"))
        if e.repeat_every_minutes is not None:
            if e.repeat_every_minutes <= 0:
                out.append(
                    Issue(
                        f"{ep}.repeat_every_minutes",
                        f"must be more than 0 (got {_fmt(e.repeat_every_minutes)})",
                    )
                )
            elif e.max_times == 1:
                out.append(Issue(f"{ep}.max_times", "repeat_every_minutes needs max_times of 2 or more"))
        elif e.max_times > 1:
            out.append(
                Issue(f"{ep}.repeat_every_minutes", f"max_times {e.max_times} needs repeat_every_minutes")
            )
    return out


def _semantic(policy: SlaPolicy) -> list[Issue]:
    out: list[Issue] = []
    seen: dict[tuple[str, str], int] = {}
    for i, rule in enumerate(policy.rules):
        p = f"rules[{i}]"
        if not IDENT_RE.match(rule.type):
            out.append(Issue(f"{p}.type", f"expected a lower-case identifier, got {rule.type!r}"))
        if rule.urgency != "*" and not IDENT_RE.match(rule.urgency):
            out.append(
                Issue(f"{p}.urgency", f'expected a lower-case identifier or "*", got {rule.urgency!r}')
            )
        key = (rule.type, rule.urgency)
        if key in seen:
            out.append(
                Issue(p, f"type {rule.type} urgency {rule.urgency} is already defined in rules[{seen[key]}]")
            )
        seen.setdefault(key, i)
        steps: dict[str, int] = {}
        for j, s in enumerate(rule.steps):
            sp = f"{p}.steps[{j}]"
            if s.step in steps:
                out.append(Issue(f"{sp}.step", f"step {s.step} is already defined in steps[{steps[s.step]}]"))
            steps.setdefault(s.step, j)
            out.extend(_step_issues(s, sp))
    return out


def check_policy(doc: Mapping[str, Any]) -> tuple[SlaPolicy | None, list[Issue]]:
    """Validate a policy document: the policy (None when invalid) and every issue found."""
    if not isinstance(doc, Mapping):
        return None, [Issue("", "an SLA policy is a mapping (JSON object)")]
    try:
        policy = SlaPolicy.model_validate(dict(doc))
    except ValidationError as exc:
        issues = []
        for e in exc.errors():
            msg = "unknown field" if e["type"] == "extra_forbidden" else str(e["msg"])
            issues.append(Issue(_path(tuple(e["loc"])), msg.removeprefix("Value error, ")))
        return None, issues
    issues = _semantic(policy)
    return (None if issues else policy), issues


def parse_policy(doc: Mapping[str, Any]) -> SlaPolicy:
    """The validated policy, or :class:`Invalid` naming the first bad path (detail lists them all)."""
    policy, issues = check_policy(doc)
    if policy is None:
        exc = Invalid(
            "invalid SLA policy: " + "; ".join(str(i) for i in issues), field=issues[0].path or None
        )
        exc.errors = [{"field": i.path or "body", "reason": i.reason} for i in issues]  # type: ignore[attr-defined]
        raise exc
    return policy


def default_policy() -> SlaPolicy:
    """The demo policy: the commitments quoted in the brief (configuration, not law)."""
    esc_wall = {"after_minutes": 0, "repeat_every_minutes": 60, "max_times": 3}
    return parse_policy(
        {
            "rules": [
                {
                    "type": "fault_repair",
                    "urgency": "*",
                    "steps": [
                        {"step": "dispatch", "minutes": 10, "warn": {"percent": 80}, "escalate": esc_wall},
                        {
                            "step": "acknowledge",
                            "minutes": 30,
                            "warn": {"before_minutes": 5},
                            "escalate": esc_wall,
                        },
                        {
                            "step": "arrive",
                            "by_area": {"urban": 45, "rural": 90, "remote": 120},
                            "warn": {"before_minutes": 10},
                            "escalate": esc_wall,
                        },
                    ],
                },
                {
                    "type": "complaint",
                    "urgency": "*",
                    "steps": [
                        {"step": "dispatch", "minutes": 30, "clock": "working", "warn": {"percent": 80}},
                        {
                            "step": "contact",
                            "working_days": 1,
                            "clock": "working",
                            "warn": {"before_minutes": 120},
                            "escalate": {"after_minutes": 0},
                        },
                        {
                            "step": "reply",
                            "working_days": 5,
                            "clock": "working",
                            "warn": {"percent": 80},
                            "escalate": {"after_minutes": 0, "repeat_every_minutes": 480, "max_times": 3},
                        },
                    ],
                },
            ]
        }
    )


# -- due-date arithmetic --------------------------------------------------------------------------

Hold = tuple[datetime, datetime | None]


@dataclass(frozen=True, slots=True)
class Deadline:
    """A step's deadline as seen at ``now`` (see the module docstring for the definitions)."""

    start: datetime
    origin: datetime
    budget: timedelta
    due_at: datetime
    warn_at: datetime | None
    escalate_at: tuple[datetime, ...]
    elapsed: timedelta
    overdue: timedelta
    paused: bool

    @property
    def is_overdue(self) -> bool:
        return self.overdue > _ZERO


@dataclass(frozen=True, slots=True)
class _Stepper:
    """Active (not held) clock time of one step: measure and locate."""

    clock: str
    cal: BusinessCalendar
    origin: datetime
    holds: tuple[tuple[datetime, datetime], ...]  # merged, sorted, clipped to >= origin

    def measure(self, a: datetime, b: datetime) -> timedelta:
        if b <= a:
            return _ZERO
        return b - a if self.clock == "wall" else self.cal.working_time_between(a, b)

    def advance(self, a: datetime, d: timedelta) -> datetime:
        if self.clock == "wall":
            return a + d
        return a if d <= _ZERO else self.cal.add_working_time(a, d)

    def elapsed(self, now: datetime) -> timedelta:
        return self.active(self.origin, now)

    def active(self, a: datetime, b: datetime) -> timedelta:
        """Clock time in ``[a, b)`` not on hold."""
        total = self.measure(a, b)
        for hs, he in self.holds:
            if hs >= b:
                break
            if he > a:
                total -= self.measure(max(hs, a), min(he, b))
        return max(total, _ZERO)

    def locate(self, target: timedelta) -> datetime:
        """The first instant at which the active time reaches ``target``."""
        cursor, done = self.origin, _ZERO
        for hs, he in self.holds:
            if hs > cursor:
                seg = self.measure(cursor, hs)
                if done + seg >= target:
                    return self.advance(cursor, target - done)
                done += seg
            cursor = max(cursor, he)
        return self.advance(cursor, target - done)


def _merge_holds(
    holds: Iterable[Hold], origin: datetime, now: datetime
) -> tuple[list[tuple[datetime, datetime]], bool]:
    spans: list[tuple[datetime, datetime]] = []
    paused = False
    for hs, he in holds:
        if he is None:
            paused = True
            he = max(hs, now)
        if he <= origin or he <= hs:
            continue
        spans.append((max(hs, origin), he))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for hs, he in spans:
        if merged and hs <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], he))
        else:
            merged.append((hs, he))
    return merged, paused


@dataclass(frozen=True, slots=True)
class _Plan:
    """A step's instants for one state of its holds (independent of ``now`` unless paused)."""

    stepper: _Stepper
    budget: timedelta
    due_at: datetime
    warn_at: datetime | None
    escalate_at: tuple[datetime, ...]
    paused: bool

    def overdue(self, now: datetime) -> timedelta:
        # the active time at due_at is the budget: only the stretch since due_at needs measuring
        return self.stepper.active(self.due_at, now) if now > self.due_at else _ZERO

    def deadline(self, start: datetime, now: datetime) -> Deadline:
        elapsed = self.stepper.elapsed(now)
        return Deadline(
            start=start,
            origin=self.stepper.origin,
            budget=self.budget,
            due_at=self.due_at,
            warn_at=self.warn_at,
            escalate_at=self.escalate_at,
            elapsed=elapsed,
            overdue=max(elapsed - self.budget, _ZERO),
            paused=self.paused,
        )


def _plan(
    rule: StepRule,
    start: datetime,
    calendar: BusinessCalendar,
    now: datetime,
    holds: Iterable[Hold],
    area: str | None,
) -> _Plan:
    if start.tzinfo is None or now.tzinfo is None:
        raise ValueError("naive datetime; pass timezone-aware datetimes")
    if rule.working_days is not None:
        origin = calendar.next_open(start)
        if origin is None:
            raise CalendarError("week", "the calendar never opens")
        budget = calendar.working_time_between(origin, calendar.add_working_days(origin, rule.working_days))
    else:
        minutes = rule.minutes_for(area)
        assert minutes is not None
        origin, budget = start, timedelta(minutes=minutes)
    merged, paused = _merge_holds(holds, origin, now)
    st = _Stepper(rule.clock, calendar, origin, tuple(merged))
    due = st.locate(budget)
    if rule.working_days is not None and not calendar.is_open(due):
        due = calendar.next_open(due) or due
    warn_at: datetime | None = None
    if rule.warn is not None:
        if rule.warn.percent is not None:
            target = budget * (rule.warn.percent / 100)
        else:
            target = max(budget - timedelta(minutes=rule.warn.before_minutes or 0), _ZERO)
        warn_at = min(st.locate(target), due)
    escalate_at: list[datetime] = []
    if rule.escalate is not None:
        e = rule.escalate
        for k in range(e.max_times):
            offset = timedelta(minutes=e.after_minutes + k * (e.repeat_every_minutes or 0))
            escalate_at.append(max(st.locate(budget + offset), due))
    return _Plan(st, budget, due, warn_at, tuple(escalate_at), paused)


def compute_deadline(
    rule: StepRule,
    start: datetime,
    calendar: BusinessCalendar,
    *,
    now: datetime,
    holds: Iterable[Hold] = (),
    area: str | None = None,
) -> Deadline:
    """Due, warning and escalation instants and the overdue time of a step started at ``start``.

    ``holds`` are the ticket's on_hold intervals ``(from, until)``; ``until`` None = still on hold.
    """
    return _plan(rule, start, calendar, now, holds, area).deadline(start, now)


# -- the ticket clock -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimerRequest:
    """Schedule (or replace) the one pending timer of ``(ticket, step)``."""

    ticket: str
    step: str
    kind: TimerKind
    fire_at: datetime
    generation: int
    level: int = 0  # escalation number (1..max_times) for kind escalate


@dataclass(frozen=True, slots=True)
class TimerCancel:
    ticket: str
    step: str


@dataclass(frozen=True, slots=True)
class StepStarted:
    ticket: str
    step: str
    at: datetime
    due_at: datetime
    warn_at: datetime | None


@dataclass(frozen=True, slots=True)
class StepWarned:
    ticket: str
    step: str
    at: datetime
    due_at: datetime


@dataclass(frozen=True, slots=True)
class StepOverdue:
    ticket: str
    step: str
    at: datetime
    due_at: datetime


@dataclass(frozen=True, slots=True)
class StepEscalated:
    """督办: ``level`` is the escalation's number; ``up`` how many units above the responsible one."""

    ticket: str
    step: str
    at: datetime
    level: int
    up: int
    overdue: timedelta


@dataclass(frozen=True, slots=True)
class StepDone:
    ticket: str
    step: str
    at: datetime
    due_at: datetime
    on_time: bool
    overdue: timedelta


@dataclass(frozen=True, slots=True)
class ClockPaused:
    ticket: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ClockResumed:
    ticket: str
    at: datetime
    held: timedelta


@dataclass(frozen=True, slots=True)
class Urged:
    """催办 by the center: the shell reminds the handling unit (and shows the count)."""

    ticket: str
    at: datetime
    count: int
    steps: tuple[str, ...]
    by: str
    note: str


DeadlineEvent = (
    StepStarted | StepWarned | StepOverdue | StepEscalated | StepDone | ClockPaused | ClockResumed | Urged
)


@dataclass(frozen=True, slots=True)
class Decision:
    events: tuple[DeadlineEvent, ...] = ()
    timers: tuple[TimerRequest, ...] = ()
    cancels: tuple[TimerCancel, ...] = ()


@dataclass(slots=True)
class _Running:
    rule: StepRule
    start: datetime
    fired: int = 0  # stages already emitted
    generation: int = 0  # of the pending timer (0 = none)
    plan: _Plan | None = None  # cached for the holds state ``plan_key``
    plan_key: tuple[int, Hold | None] = (0, None)


@dataclass(slots=True)
class _Out:
    events: list[DeadlineEvent] = field(default_factory=list)
    timers: list[TimerRequest] = field(default_factory=list)
    cancels: list[TimerCancel] = field(default_factory=list)

    def decision(self) -> Decision:
        return Decision(tuple(self.events), tuple(self.timers), tuple(self.cancels))


class TicketClock:
    """The deadlines of one ticket: fed events with their time, returns :class:`Decision` s."""

    def __init__(
        self,
        ticket: str,
        steps: Mapping[str, StepRule],
        calendar: BusinessCalendar,
        *,
        area: str | None = None,
    ) -> None:
        self.ticket = ticket
        self.steps = dict(steps)
        self.calendar = calendar
        self.area = area
        self.holds: list[Hold] = []
        self.urges = 0
        self._running: dict[str, _Running] = {}
        self._generation = 0
        self._last: datetime | None = None

    # -- queries --

    @property
    def paused(self) -> bool:
        return bool(self.holds) and self.holds[-1][1] is None

    @property
    def running(self) -> tuple[str, ...]:
        return tuple(self._running)

    def deadline(self, step: str, now: datetime) -> Deadline | None:
        r = self._running.get(step)
        return None if r is None else self._compute(r, now)

    # -- inputs --

    def start(self, step: str, at: datetime) -> Decision:
        """A step's clock starts (again, if it was running: rework restarts the reply step)."""
        self._tick(at)
        out = _Out()
        rule = self.steps.get(step)
        if rule is None:  # no deadline for this step of this type
            return out.decision()
        if step in self._running:
            out.cancels.append(TimerCancel(self.ticket, step))
        r = self._running[step] = _Running(rule, at)
        d = self._compute(r, at)
        out.events.append(StepStarted(self.ticket, step, at, d.due_at, d.warn_at))
        self._advance(step, r, at, out)
        return out.decision()

    def done(self, step: str, at: datetime) -> Decision:
        self._tick(at)
        out = _Out()
        r = self._running.get(step)
        if r is None:
            return out.decision()
        self._advance(step, r, at, out, schedule=False)
        d = self._compute(r, at)
        del self._running[step]
        out.cancels.append(TimerCancel(self.ticket, step))
        out.timers = [t for t in out.timers if t.step != step]
        out.events.append(StepDone(self.ticket, step, at, d.due_at, not d.is_overdue, d.overdue))
        return out.decision()

    def hold(self, at: datetime) -> Decision:
        """on_hold: every running step's clock stops (idempotent)."""
        self._tick(at)
        out = _Out()
        if self.paused:
            return out.decision()
        for step, r in self._running.items():
            self._advance(step, r, at, out, schedule=False)
            r.generation = 0
            out.cancels.append(TimerCancel(self.ticket, step))
        self.holds.append((at, None))
        out.events.append(ClockPaused(self.ticket, at))
        return out.decision()

    def resume(self, at: datetime) -> Decision:
        self._tick(at)
        out = _Out()
        if not self.paused:
            return out.decision()
        since = self.holds[-1][0]
        self.holds[-1] = (since, at)
        out.events.append(ClockResumed(self.ticket, at, at - since))
        for step, r in self._running.items():
            self._advance(step, r, at, out)
        return out.decision()

    def urge(self, at: datetime, *, by: str = "", note: str = "") -> Decision:
        """催办 from the center; deadlines are unchanged."""
        self._tick(at)
        self.urges += 1
        return Decision(events=(Urged(self.ticket, at, self.urges, self.running, by, note),))

    def reconfigure(
        self, at: datetime, *, calendar: BusinessCalendar | None = None, area: str | None = None
    ) -> Decision:
        """The ticket moved (forwarded to a unit with another calendar, area corrected): every
        running step is measured again from its start with the new calendar / area."""
        self._tick(at)
        if calendar is not None:
            self.calendar = calendar
        if area is not None:
            self.area = area
        out = _Out()
        for step, r in self._running.items():
            r.plan = None
            self._advance(step, r, at, out)
        return out.decision()

    def fire(self, timer: TimerRequest, now: datetime) -> Decision:
        """A timer came due; stale timers (cancelled, replaced, other ticket) give an empty decision."""
        out = _Out()
        r = self._running.get(timer.step)
        if timer.ticket != self.ticket or r is None or r.generation != timer.generation or self.paused:
            return out.decision()
        self._tick(now)
        r.generation = 0
        self._advance(timer.step, r, now, out)
        return out.decision()

    # -- internals --

    def _tick(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("naive datetime; pass a timezone-aware datetime")
        if self._last is not None and at < self._last:
            raise ValueError(
                f"event at {at.isoformat()} is before the previous one at {self._last.isoformat()}"
            )
        self._last = at

    def _compute(self, r: _Running, now: datetime) -> Deadline:
        return self._plan(r, now).deadline(r.start, now)

    def _plan(self, r: _Running, now: datetime) -> _Plan:
        """The step's plan; cached while the holds do not change (recomputed while paused)."""
        key = (len(self.holds), self.holds[-1] if self.holds else None)
        if r.plan is not None and r.plan_key == key and not self.paused:
            return r.plan
        plan = _plan(r.rule, r.start, self.calendar, now, self.holds, self.area)
        if not self.paused:
            r.plan, r.plan_key = plan, key
        return plan

    def _stages(self, d: _Plan) -> list[tuple[TimerKind, int, datetime]]:
        out: list[tuple[TimerKind, int, datetime]] = []
        if d.warn_at is not None:
            out.append(("warn", 0, d.warn_at))
        out.append(("due", 0, d.due_at))
        out.extend(("escalate", k + 1, at) for k, at in enumerate(d.escalate_at))
        return out

    def _advance(self, step: str, r: _Running, now: datetime, out: _Out, *, schedule: bool = True) -> None:
        """Emit every stage due by ``now``; then ask for a timer for the next one."""
        d = self._plan(r, now)
        stages = self._stages(d)
        while r.fired < len(stages) and stages[r.fired][2] <= now:
            kind, level, _ = stages[r.fired]
            r.fired += 1
            if kind == "warn":
                out.events.append(StepWarned(self.ticket, step, now, d.due_at))
            elif kind == "due":
                out.events.append(StepOverdue(self.ticket, step, now, d.due_at))
            else:
                esc = r.rule.escalate
                up = level if esc is None or esc.climb else 1
                out.events.append(StepEscalated(self.ticket, step, now, level, up, d.overdue(now)))
        if schedule and not self.paused and r.fired < len(stages):
            kind, level, fire_at = stages[r.fired]
            self._generation += 1
            r.generation = self._generation
            out.timers.append(TimerRequest(self.ticket, step, kind, fire_at, r.generation, level))


# -- the scheduler core ---------------------------------------------------------------------------


class TimerHeap:
    """Pending timers of all tickets; at most one live timer per ``(ticket, step)`` slot."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerRequest]] = []
        self._live: dict[tuple[str, str], int] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def schedule(self, timer: TimerRequest) -> None:
        """Add ``timer``, replacing the slot's pending one (if any)."""
        self._live[(timer.ticket, timer.step)] = timer.generation
        heapq.heappush(self._heap, (timer.fire_at.timestamp(), next(self._seq), timer))
        self._maybe_compact()

    def cancel(self, ticket: str, step: str) -> bool:
        return self._live.pop((ticket, step), None) is not None

    def apply(self, decision: Decision) -> None:
        """Carry out a clock's decision: cancels first, then the new timers."""
        for c in decision.cancels:
            self.cancel(c.ticket, c.step)
        for t in decision.timers:
            self.schedule(t)

    def _is_live(self, t: TimerRequest) -> bool:
        return self._live.get((t.ticket, t.step)) == t.generation

    def next_at(self) -> float | None:
        """UNIX time of the earliest live timer (the shell sleeps until then)."""
        heap = self._heap
        while heap and not self._is_live(heap[0][2]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def due(self, now: datetime | float) -> list[TimerRequest]:
        """Pop every live timer with ``fire_at <= now``, in time order (ties: scheduling order)."""
        limit = now.timestamp() if isinstance(now, datetime) else float(now)
        heap, live = self._heap, self._live
        out: list[TimerRequest] = []
        while heap and heap[0][0] <= limit:
            t = heapq.heappop(heap)[2]
            key = (t.ticket, t.step)
            if live.get(key) == t.generation:
                del live[key]
                out.append(t)
        return out

    def _maybe_compact(self) -> None:
        if len(self._heap) > 1024 and len(self._heap) > 2 * len(self._live) + 1024:
            self._heap = [e for e in self._heap if self._is_live(e[2])]
            heapq.heapify(self._heap)
