"""Work-order deadlines: policy validation, hand-checked due dates, the ticket clock, the timer heap."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.errors import Invalid
from hotline.org.calendar import BusinessCalendar, china_2026_public_holidays
from hotline.tickets.deadlines import (
    ClockPaused,
    ClockResumed,
    StepDone,
    StepEscalated,
    StepOverdue,
    StepRule,
    StepStarted,
    StepWarned,
    TicketClock,
    TimerHeap,
    TimerRequest,
    Urged,
    _plan,
    check_policy,
    compute_deadline,
    default_policy,
    parse_policy,
)

TZ = ZoneInfo("Asia/Shanghai")
OFFICE_WEEK = {d: [["08:30", "12:00"], ["13:30", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri")}
_HOL, _WORK = china_2026_public_holidays()
OFFICE = BusinessCalendar.from_spec(week=OFFICE_WEEK, holidays=_HOL, workdays=_WORK)
ALWAYS = BusinessCalendar.always_open()


def L(*a: int) -> datetime:  # local Beijing time, short for the examples
    return datetime(*a, tzinfo=TZ)


def rule(**kw: Any) -> StepRule:
    doc = {"rules": [{"type": "t", "steps": [{"step": "reply", **kw}]}]}
    return parse_policy(doc).rules[0].steps[0]


POLICY = default_policy()
COMPLAINT = POLICY.steps_for("complaint", "normal")
REPAIR = POLICY.steps_for("fault_repair", "urgent")


# -- policy ---------------------------------------------------------------------------------------


def test_default_policy_and_lookup() -> None:
    assert set(COMPLAINT) == {"dispatch", "contact", "reply"}
    assert REPAIR["arrive"].by_area == {"urban": 45, "rural": 90, "remote": 120}
    assert POLICY.steps_for("praise", "normal") == {}
    p = parse_policy(
        {
            "rules": [
                {"type": "fault_repair", "steps": [{"step": "dispatch", "minutes": 10}]},
                {"type": "fault_repair", "urgency": "urgent", "steps": [{"step": "dispatch", "minutes": 5}]},
            ]
        }
    )
    assert p.steps_for("fault_repair", "urgent")["dispatch"].minutes == 5
    assert p.steps_for("fault_repair", "normal")["dispatch"].minutes == 10


@pytest.mark.parametrize(
    ("step", "path", "reason"),
    [
        ({"step": "reply", "minutes": -5}, "rules[0].steps[0].minutes", "must not be negative (got -5)"),
        ({"step": "reply", "minutes": 0}, "rules[0].steps[0].minutes", "must be more than 0"),
        ({"step": "fix", "minutes": 5}, "rules[0].steps[0].step", "unknown step 'fix'; use one of dispatch,"),
        (
            {"step": "reply"},
            "rules[0].steps[0]",
            "give exactly one of minutes, working_days, by_area (got none)",
        ),
        (
            {"step": "reply", "minutes": 5, "working_days": 1, "clock": "working"},
            "rules[0].steps[0]",
            "(got minutes and working_days)",
        ),
        ({"step": "reply", "working_days": 2}, "rules[0].steps[0].clock", "use clock: working"),
        (
            {"step": "reply", "working_days": -1, "clock": "working"},
            "rules[0].steps[0].working_days",
            "must not be negative (got -1)",
        ),
        (
            {"step": "reply", "minutes": 30, "warn": {"percent": 120}},
            "rules[0].steps[0].warn.percent",
            "a warning at 120 % is after the due time",
        ),
        (
            {"step": "reply", "minutes": 30, "warn": {"before_minutes": 30}},
            "rules[0].steps[0].warn.before_minutes",
            "a warning 30 min before due is not after the start: the step has 30 min",
        ),
        (
            {"step": "reply", "minutes": 30, "warn": {"before_minutes": -1}},
            "rules[0].steps[0].warn.before_minutes",
            "must be more than 0 (got -1)",
        ),
        (
            {"step": "reply", "minutes": 30, "warn": {}},
            "rules[0].steps[0].warn",
            "give exactly one of percent, before_minutes",
        ),
        (
            {
                "step": "arrive",
                "by_area": {"urban": 45, "rural": 90, "remote": 120},
                "warn": {"before_minutes": 50},
            },
            "rules[0].steps[0].warn.before_minutes",
            "the step has 45 min",
        ),
        (
            {"step": "arrive", "by_area": {"urban": 45, "rural": 90}},
            "rules[0].steps[0].by_area",
            "missing area class remote",
        ),
        (
            {"step": "arrive", "by_area": {"urban": 45, "rural": 90, "remote": 120, "moon": 9}},
            "rules[0].steps[0].by_area.moon",
            "unknown area class",
        ),
        (
            {"step": "reply", "minutes": 5, "escalate": {"after_minutes": -1}},
            "rules[0].steps[0].escalate.after_minutes",
            "must not be negative (got -1)",
        ),
        (
            {"step": "reply", "minutes": 5, "escalate": {"max_times": 3}},
            "rules[0].steps[0].escalate.repeat_every_minutes",
            "max_times 3 needs repeat_every_minutes",
        ),
        (
            {"step": "reply", "minutes": 5, "escalate": {"repeat_every_minutes": 60}},
            "rules[0].steps[0].escalate.max_times",
            "needs max_times of 2 or more",
        ),
        ({"step": "reply", "minutes": 5, "colour": "red"}, "rules[0].steps[0].colour", "unknown field"),
    ],
)
def test_policy_validation_messages(step: dict[str, Any], path: str, reason: str) -> None:
    policy, issues = check_policy({"rules": [{"type": "complaint", "steps": [step]}]})
    assert policy is None
    assert any(i.path == path and reason in i.reason for i in issues), issues
    with pytest.raises(Invalid) as exc:
        parse_policy({"rules": [{"type": "complaint", "steps": [step]}]})
    assert exc.value.field == issues[0].path


def test_policy_duplicates() -> None:
    doc = {
        "rules": [
            {
                "type": "complaint",
                "steps": [{"step": "reply", "minutes": 5}, {"step": "reply", "minutes": 6}],
            },
            {"type": "complaint", "urgency": "*", "steps": []},
        ]
    }
    _, issues = check_policy(doc)
    assert {str(i) for i in issues} == {
        "rules[1]: type complaint urgency * is already defined in rules[0]",
        "rules[0].steps[1].step: step reply is already defined in steps[0]",
    }


# -- hand-checked due dates (office hours 08:30-12:00, 13:30-17:30, China 2026 holidays) ----------


def test_one_working_day_across_a_weekend() -> None:
    # accepted Friday 6 March 10:00: due Monday 10:00; warn 120 working minutes before = Friday 17:00
    d = compute_deadline(COMPLAINT["contact"], L(2026, 3, 6, 10), OFFICE, now=L(2026, 3, 6, 10))
    assert d.due_at == L(2026, 3, 9, 10)
    assert d.warn_at == L(2026, 3, 6, 17)
    assert d.budget == timedelta(hours=7, minutes=30)
    # at Monday 11:00 it is 1 working hour overdue (the weekend does not count)
    late = compute_deadline(COMPLAINT["contact"], L(2026, 3, 6, 10), OFFICE, now=L(2026, 3, 9, 11))
    assert late.overdue == timedelta(hours=1) and late.is_overdue


def test_accepted_on_saturday_starts_monday() -> None:
    d = compute_deadline(COMPLAINT["contact"], L(2026, 3, 7, 10), OFFICE, now=L(2026, 3, 7, 10))
    assert d.origin == L(2026, 3, 9, 8, 30)
    assert d.due_at == L(2026, 3, 10, 8, 30)  # a full working day, due at Tuesday's opening
    assert d.warn_at == L(2026, 3, 9, 15, 30)
    # Monday evening: the working time is used up but it is not overdue before Tuesday's opening
    eve = compute_deadline(COMPLAINT["contact"], L(2026, 3, 7, 10), OFFICE, now=L(2026, 3, 9, 20))
    assert not eve.is_overdue


def test_five_working_days_across_national_day_and_a_make_up_saturday() -> None:
    # Wed 30 Sep 09:00; 1-7 Oct holidays; Thu 8 (1), Fri 9 (2), Sat 10 make-up (3), Mon 12 (4), Tue 13 (5)
    d = compute_deadline(COMPLAINT["reply"], L(2026, 9, 30, 9), OFFICE, now=L(2026, 9, 30, 9))
    assert d.due_at == L(2026, 10, 13, 9)
    assert d.warn_at == L(2026, 10, 12, 9)  # 80 %: 7.5 working hours before
    # escalations: at due, then every 480 working minutes (a working day is 7.5 h)
    assert d.escalate_at == (L(2026, 10, 13, 9), L(2026, 10, 14, 9, 30), L(2026, 10, 15, 10))


def test_working_minutes_vs_wall_minutes() -> None:
    start = L(2026, 3, 6, 17, 15)  # Friday, 15 minutes before closing
    working = compute_deadline(rule(minutes=30, clock="working"), start, OFFICE, now=start)
    wall = compute_deadline(rule(minutes=30), start, OFFICE, now=start)
    assert working.due_at == L(2026, 3, 9, 8, 45)
    assert wall.due_at == L(2026, 3, 6, 17, 45)
    # over the lunch break
    lunch = compute_deadline(rule(minutes=30, clock="working"), L(2026, 3, 9, 11, 50), OFFICE, now=start)
    assert lunch.due_at == L(2026, 3, 9, 13, 50)


def test_repair_arrival_by_area() -> None:
    start = L(2026, 10, 3, 2, 0)  # a holiday night: wall clock
    for area, minutes in (("urban", 45), ("rural", 90), ("remote", 120)):
        d = compute_deadline(REPAIR["arrive"], start, OFFICE, now=start, area=area)
        assert d.due_at == start + timedelta(minutes=minutes)
        assert d.warn_at == d.due_at - timedelta(minutes=10)
    with pytest.raises(Invalid, match="area"):
        compute_deadline(REPAIR["arrive"], start, OFFICE, now=start, area=None)


def test_holds_shift_due_dates() -> None:
    start = L(2026, 3, 6, 10)
    dispatch = REPAIR["dispatch"]  # 10 wall minutes
    d = compute_deadline(
        dispatch, start, OFFICE, now=start, holds=[(L(2026, 3, 6, 10, 3), L(2026, 3, 6, 10, 8))]
    )
    assert d.due_at == L(2026, 3, 6, 10, 15)
    # a hold from Friday 17:00 to Monday 09:00 holds 1 working hour: due Monday 11:00 instead of 10:00
    hold = [(L(2026, 3, 6, 17), L(2026, 3, 9, 9))]
    d = compute_deadline(COMPLAINT["contact"], start, OFFICE, now=start, holds=hold)
    assert d.due_at == L(2026, 3, 9, 11)
    # a hold over the weekend only shifts nothing
    weekend = [(L(2026, 3, 6, 18), L(2026, 3, 9, 8))]
    d = compute_deadline(COMPLAINT["contact"], start, OFFICE, now=start, holds=weekend)
    assert d.due_at == L(2026, 3, 9, 10)
    # still on hold: projected as if resumed now, and paused
    d = compute_deadline(
        dispatch, start, OFFICE, now=L(2026, 3, 6, 10, 30), holds=[(L(2026, 3, 6, 10, 5), None)]
    )
    assert d.paused and d.due_at == L(2026, 3, 6, 10, 35) and not d.is_overdue
    # a hold after the due date does not undo the overdue time already run up
    d = compute_deadline(
        dispatch, start, OFFICE, now=L(2026, 3, 6, 11), holds=[(L(2026, 3, 6, 10, 40), None)]
    )
    assert d.due_at == L(2026, 3, 6, 10, 10) and d.overdue == timedelta(minutes=30)


# -- the ticket clock -----------------------------------------------------------------------------


def test_clock_warn_due_escalate_and_done() -> None:
    c = TicketClock("T1", REPAIR, OFFICE, area="rural")
    t0 = L(2026, 3, 7, 22)  # Saturday night, wall clock
    dec = c.start("dispatch", t0)
    assert dec.events == (
        StepStarted("T1", "dispatch", t0, t0 + timedelta(minutes=10), t0 + timedelta(minutes=8)),
    )
    (warn,) = dec.timers
    assert (warn.kind, warn.fire_at) == ("warn", t0 + timedelta(minutes=8))
    (due,) = c.fire(warn, warn.fire_at).timers
    assert c.fire(warn, warn.fire_at).events == ()  # fired twice: stale
    dec = c.fire(due, due.fire_at)
    assert isinstance(dec.events[0], StepOverdue)
    # escalation 1 at due (after_minutes 0): same instant, caught up in the same decision
    assert isinstance(dec.events[1], StepEscalated) and dec.events[1].level == 1
    (esc2,) = dec.timers
    assert (esc2.kind, esc2.level, esc2.fire_at) == ("escalate", 2, due.fire_at + timedelta(hours=1))
    dec = c.fire(esc2, esc2.fire_at + timedelta(seconds=1))
    (ev,) = dec.events
    assert isinstance(ev, StepEscalated) and ev.up == 2 and ev.overdue == timedelta(hours=1, seconds=1)
    dec = c.done("dispatch", esc2.fire_at + timedelta(minutes=5))
    assert dec.timers == () and dec.cancels[0].step == "dispatch"
    (done,) = dec.events
    assert isinstance(done, StepDone) and not done.on_time and done.overdue == timedelta(hours=1, minutes=5)


def test_clock_hold_resume_urge_and_stale_timers() -> None:
    c = TicketClock("T2", COMPLAINT, OFFICE)
    t0 = L(2026, 3, 6, 10)
    start = c.start("contact", t0)
    (warn,) = start.timers
    assert warn.fire_at == L(2026, 3, 6, 17)
    held = c.hold(L(2026, 3, 6, 11))
    assert held.events == (ClockPaused("T2", L(2026, 3, 6, 11)),) and held.cancels[0].step == "contact"
    assert c.fire(warn, warn.fire_at).events == ()  # cancelled by the hold
    assert c.urge(L(2026, 3, 6, 12), by="center", note="customer called again").events == (
        Urged("T2", L(2026, 3, 6, 12), 1, ("contact",), "center", "customer called again"),
    )
    resumed = c.resume(L(2026, 3, 6, 14))  # held 1.5 working hours (11-12, 13:30-14)
    assert resumed.events == (ClockResumed("T2", L(2026, 3, 6, 14), timedelta(hours=3)),)
    (warn2,) = resumed.timers
    assert warn2.fire_at == L(2026, 3, 9, 9, 30) and warn2.generation > warn.generation
    d = c.deadline("contact", L(2026, 3, 6, 14))
    assert d is not None and d.due_at == L(2026, 3, 9, 11, 30)
    done = c.done("contact", L(2026, 3, 9, 10))
    assert isinstance(done.events[-1], StepDone) and done.events[-1].on_time
    assert isinstance(done.events[0], StepWarned)  # the warning came due before the reply: emitted first
    assert c.start("revisit", L(2026, 3, 9, 10)).events == ()  # no deadline configured for this step


def test_clock_refuses_time_going_backwards_and_unknown_steps_done_is_noop() -> None:
    c = TicketClock("T3", COMPLAINT, OFFICE)
    c.start("reply", L(2026, 3, 6, 10))
    with pytest.raises(ValueError, match="before the previous one"):
        c.hold(L(2026, 3, 6, 9))
    assert c.done("contact", L(2026, 3, 6, 11)).events == ()


def test_reconfigure_moves_to_another_calendar_and_area() -> None:
    c = TicketClock("T5", {**COMPLAINT, **REPAIR}, OFFICE, area="remote")
    (t,) = c.start("contact", L(2026, 3, 6, 17)).timers  # due Monday 17:00, warn Monday 15:00
    arrive = c.start("arrive", L(2026, 3, 6, 17)).timers[0]
    assert arrive.fire_at == L(2026, 3, 6, 18, 50)  # remote: 120 - 10 min
    dec = c.reconfigure(L(2026, 3, 6, 17, 30), calendar=ALWAYS, area="urban")
    by_step = {x.step: x for x in dec.timers}
    assert by_step["arrive"].fire_at == L(2026, 3, 6, 17, 35)  # urban: 45 - 10 min
    assert by_step["contact"].fire_at == L(2026, 3, 7, 15)  # 24x7: due Saturday 17:00, warn 2 h before
    assert by_step["contact"].generation > t.generation
    assert c.fire(t, L(2026, 3, 6, 17, 31)).events == ()  # replaced


def test_late_firing_catches_up_in_order() -> None:
    c = TicketClock("T4", REPAIR, OFFICE, area="urban")
    (warn,) = c.start("dispatch", L(2026, 3, 6, 10)).timers
    dec = c.fire(warn, L(2026, 3, 6, 14))  # the process was down for hours
    kinds = [type(e).__name__ for e in dec.events]
    assert kinds == ["StepWarned", "StepOverdue", "StepEscalated", "StepEscalated", "StepEscalated"]
    assert dec.timers == ()


# -- the timer heap -------------------------------------------------------------------------------


def _t(ticket: str, at: float, gen: int, step: str = "s") -> TimerRequest:
    return TimerRequest(ticket, step, "due", datetime.fromtimestamp(at, UTC), gen)


def test_timer_heap_replace_cancel_due() -> None:
    h = TimerHeap()
    h.schedule(_t("a", 10, 1))
    h.schedule(_t("b", 5, 1))
    h.schedule(_t("a", 3, 2))  # reschedule a earlier
    h.schedule(_t("c", 7, 1))
    assert h.cancel("c", "s") and not h.cancel("c", "s")
    assert len(h) == 2 and h.next_at() == 3
    assert [(t.ticket, t.generation) for t in h.due(6.0)] == [("a", 2), ("b", 1)]
    assert h.due(100.0) == [] and len(h) == 0 and h.next_at() is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["schedule", "schedule", "cancel", "due"]),
            st.integers(0, 30),  # ticket
            st.integers(0, 1000),  # time
        ),
        max_size=200,
    )
)
def test_heap_fires_each_live_timer_once_in_order_never_cancelled(ops: list[tuple[str, int, int]]) -> None:
    h = TimerHeap()
    model: dict[str, TimerRequest] = {}  # live timer per ticket
    gen = 0
    now = 0
    fired: list[TimerRequest] = []
    for op, ticket, t in ops:
        key = str(ticket)
        if op == "schedule":
            gen += 1
            timer = _t(key, now + t, gen)
            h.schedule(timer)
            model[key] = timer
        elif op == "cancel":
            assert h.cancel(key, "s") == (key in model)
            model.pop(key, None)
        else:
            now += t
            got = h.due(float(now))
            expect = [m for m in model.values() if m.fire_at.timestamp() <= now]
            assert sorted(got, key=lambda x: x.generation) == sorted(expect, key=lambda x: x.generation)
            assert [x.fire_at for x in got] == sorted(x.fire_at for x in got)
            if fired and got:
                assert got[0].fire_at >= fired[-1].fire_at
            for x in got:
                del model[x.ticket]
            fired.extend(got)
        assert len(h) == len(model)
    rest = h.due(1e12)
    assert sorted(rest, key=lambda x: x.generation) == sorted(model.values(), key=lambda x: x.generation)
    all_fired = fired + rest
    assert len({x.generation for x in all_fired}) == len(all_fired)  # never twice


def test_heap_compacts_stale_entries() -> None:
    h = TimerHeap()
    for g in range(1, 5001):
        h.schedule(_t("a", g, g))  # each replaces the previous
    assert len(h) == 1 and len(h._heap) < 3000
    assert [t.generation for t in h.due(1e9)] == [5000]


# -- properties of the due-date arithmetic --------------------------------------------------------

_starts = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 1), timezones=st.just(TZ)
).map(lambda d: d.replace(microsecond=0))


@st.composite
def _rules(draw: st.DrawFn) -> StepRule:
    kind = draw(st.sampled_from(["wall", "working", "days"]))
    warn = draw(st.sampled_from([None, {"percent": 80}, {"before_minutes": 5}]))
    esc = draw(st.sampled_from([None, {"after_minutes": 0}, {"repeat_every_minutes": 30, "max_times": 3}]))
    extra: dict[str, Any] = {}
    if warn:
        extra["warn"] = warn
    if esc:
        extra["escalate"] = esc
    if kind == "days":
        return rule(working_days=draw(st.integers(1, 5)), clock="working", **extra)
    return rule(minutes=draw(st.integers(10, 3000)), clock=kind, **extra)


@st.composite
def _holds(draw: st.DrawFn, start: datetime) -> list[tuple[datetime, datetime | None]]:
    out: list[tuple[datetime, datetime | None]] = []
    for _ in range(draw(st.integers(0, 3))):
        a = start + timedelta(minutes=draw(st.integers(-600, 20000)))
        out.append((a, a + timedelta(minutes=draw(st.integers(1, 5000)))))
    return out


@settings(max_examples=150, deadline=None)
@given(r=_rules(), start=_starts, data=st.data(), cal=st.sampled_from([OFFICE, ALWAYS]))
def test_due_properties(r: StepRule, start: datetime, data: st.DataObject, cal: BusinessCalendar) -> None:
    holds = data.draw(_holds(start))
    base = compute_deadline(r, start, cal, now=start)
    d = compute_deadline(r, start, cal, now=start, holds=holds)
    assert base.due_at >= start and d.due_at >= start  # never before the start
    assert d.due_at >= base.due_at  # holds never make it earlier
    extra = data.draw(_holds(start))
    assert compute_deadline(r, start, cal, now=start, holds=holds + extra).due_at >= d.due_at
    for x in (base, d):
        if x.warn_at is not None:
            assert start <= x.warn_at <= x.due_at
        assert all(e >= x.due_at for e in x.escalate_at)
        assert list(x.escalate_at) == sorted(x.escalate_at)
    if r.clock == "wall" and not holds:
        assert base.due_at == start + base.budget
    # the overdue time is zero up to the due date and positive after it (in working time when open)
    assert not compute_deadline(r, start, cal, now=d.due_at, holds=holds).is_overdue
    later = d.due_at + timedelta(minutes=1)
    # the clock's shortcut (measure only since due_at) agrees with the full computation
    far = d.due_at + timedelta(minutes=data.draw(st.integers(0, 20000)))
    plan = _plan(r, start, cal, start, holds, None)
    assert plan.overdue(far) == compute_deadline(r, start, cal, now=far, holds=holds).overdue
    if r.clock == "wall" or cal.is_open(d.due_at):
        after = compute_deadline(r, start, cal, now=later, holds=holds)
        assert after.is_overdue or any(a <= d.due_at < b for a, b in holds if b is not None)


def test_random_clock_runs_emit_stages_in_order() -> None:
    rnd = random.Random(7)
    heap = TimerHeap()
    clocks = {f"T{i}": TicketClock(f"T{i}", REPAIR, OFFICE, area="urban") for i in range(50)}
    held = {t for t in clocks if rnd.random() < 0.3}
    now = L(2026, 3, 6, 10)
    seen: dict[str, list[str]] = {t: [] for t in clocks}

    def apply(tid: str, dec: Any) -> None:
        seen[tid].extend(type(e).__name__ for e in dec.events if type(e).__name__.startswith("Step"))
        heap.apply(dec)

    for tid, c in clocks.items():
        apply(tid, c.start("dispatch", now))
    for step in range(1, 400):
        t = now + timedelta(minutes=step)
        for timer in heap.due(t):
            dec = clocks[timer.ticket].fire(timer, t)
            assert dec.events, "a live timer is never stale for its clock"
            apply(timer.ticket, dec)
        for tid in held:
            if step == 9:
                apply(tid, clocks[tid].hold(t))
            if step == 100:
                apply(tid, clocks[tid].resume(t))
    expect = ["StepStarted", "StepWarned", "StepOverdue", "StepEscalated", "StepEscalated", "StepEscalated"]
    for names in seen.values():
        assert names == expect
    assert len(heap) == 0
    d = clocks[next(iter(held))].deadline("dispatch", now)
    assert d is not None and d.due_at == now + timedelta(minutes=10 + 91)
