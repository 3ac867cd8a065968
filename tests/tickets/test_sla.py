"""The SLA shell on both databases: steps, timers and summary columns written in the caller's
transaction; holds pause; working-day deadlines on the responsible unit's calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from hotline.store.db import transaction
from hotline.store.models import TenantSetting, Ticket
from hotline.tickets import sla
from hotline.tickets.deadlines import default_policy

from .sla_helpers import act, create, history, make_org, steps_of, ticket, timers_of

SH = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


def m(n: float) -> timedelta:
    return timedelta(minutes=n)


async def deadlines_of(factory: Any, tid: int, now: datetime) -> list[dict[str, Any]]:
    async with factory() as s:
        row = await s.get(Ticket, tid)
        return await sla.deadlines(s, row, now)


def same(a: datetime | None, b: datetime) -> bool:
    return a is not None and abs(a - b) < timedelta(seconds=1)


async def test_fault_repair_dispatch_due_ten_minutes_after_accept(factory: Any) -> None:
    o = await make_org(factory)
    tid, events = await create(factory, o, "fault_repair", T)
    assert events == []
    steps = await steps_of(factory, tid)
    assert set(steps) == {"dispatch"}  # reply and contact have no rule for fault repair
    assert same(steps["dispatch"].due_at, T + m(10))
    assert same(steps["dispatch"].warn_at, T + m(8))
    timers = await timers_of(factory, tid)
    assert set(timers) == {"dispatch"}
    assert timers["dispatch"].kind == "warn" and same(timers["dispatch"].fire_at, T + m(8))
    row = await ticket(factory, tid)
    assert same(row.due_at, T + m(10)) and not row.overdue

    await act(factory, tid, "dispatch", T + m(4), unit=str(o.station))
    steps = await steps_of(factory, tid)
    assert steps["dispatch"].done_at is not None and steps["dispatch"].on_time is True
    assert same(steps["acknowledge"].due_at, T + m(34))
    assert same(steps["arrive"].due_at, T + m(49))  # urban: 45 min
    timers = await timers_of(factory, tid)
    assert set(timers) == {"acknowledge", "arrive"}  # the dispatch step's timer is gone
    assert same(timers["acknowledge"].fire_at, T + m(29))  # warn 5 min before
    row = await ticket(factory, tid)
    assert same(row.due_at, T + m(34)) and not row.overdue and row.overdue_seconds == 0

    dl = {d["step"]: d for d in await deadlines_of(factory, tid, T + m(5))}
    assert dl["dispatch"]["running"] is False and dl["acknowledge"]["running"] is True
    assert dl["acknowledge"]["next"]["kind"] == "warn"


async def test_rural_arrival_and_late_dispatch_catches_up(factory: Any) -> None:
    o = await make_org(factory)
    tid, _ = await create(factory, o, "fault_repair", T, area="rural")
    # dispatched 15 min late: warn, overdue and the first escalation are due by then
    events = await act(factory, tid, "dispatch", T + m(15), unit=str(o.team))
    kinds = [(e["data"]["kind"], e["data"]["step"]) for e in events]
    assert kinds == [("warned", "dispatch"), ("overdue", "dispatch"), ("escalated", "dispatch")]
    esc = events[2]["data"]
    # the responsible unit is the team now: one level up is the station
    assert esc["level"] == 1 and esc["up_unit"] == "t1.js.nj.ds" and esc["unit"] == "t1.js.nj.ds.t1"
    assert abs(esc["overdue_seconds"] - 300) < 1
    steps = await steps_of(factory, tid)
    assert steps["dispatch"].on_time is False and abs(steps["dispatch"].overdue_seconds - 300) < 1
    assert steps["dispatch"].escalations == 1 and steps["dispatch"].fired == 3
    assert same(steps["arrive"].due_at, T + m(15 + 90))  # rural
    row = await ticket(factory, tid)
    assert row.overdue and abs(row.overdue_seconds - 300) < 1 and row.escalations == 1
    hist = [h for h in await history(factory, tid) if h.actor == "system"]
    assert [h.action for h in hist] == ["warned", "overdue", "escalated"]
    assert all(h.user_id is None and h.version == row.version for h in hist)
    assert all(h.from_state == h.to_state == "dispatched" for h in hist)


async def test_hold_pauses_the_running_steps(factory: Any) -> None:
    o = await make_org(factory)
    tid, _ = await create(factory, o, "fault_repair", T)
    await act(factory, tid, "dispatch", T + m(1), unit=str(o.station))
    steps = await steps_of(factory, tid)
    assert same(steps["acknowledge"].due_at, T + m(31))
    await act(factory, tid, "hold", T + m(11), waiting_for="customer")
    assert await timers_of(factory, tid) == {}  # nothing fires while on hold
    dl = {d["step"]: d for d in await deadlines_of(factory, tid, T + m(21))}
    assert dl["acknowledge"]["paused"] is True
    assert same(dl["acknowledge"]["due_at"], T + m(41))  # 10 min on hold so far
    await act(factory, tid, "resume", T + m(41))
    steps = await steps_of(factory, tid)
    assert same(steps["acknowledge"].due_at, T + m(61))  # shifted by the 30 min hold
    assert same(steps["arrive"].due_at, T + m(76))
    timers = await timers_of(factory, tid)
    assert same(timers["acknowledge"].fire_at, T + m(56)) and same(timers["arrive"].fire_at, T + m(66))
    row = await ticket(factory, tid)
    assert same(row.due_at, T + m(61))
    # rebuilt later from the stored rows and the history's holds: the same deadlines
    dl = {d["step"]: d for d in await deadlines_of(factory, tid, T + m(50))}
    assert same(dl["acknowledge"]["due_at"], T + m(61)) and dl["acknowledge"]["paused"] is False
    # a second hold and a cancel from it: every step ends, no timer remains
    await act(factory, tid, "hold", T + m(45))
    await act(factory, tid, "cancel", T + m(50), note="customer withdrew")
    assert await timers_of(factory, tid) == {}
    steps = await steps_of(factory, tid)
    assert all(
        st.done_at is not None and st.on_time is None for st in steps.values() if st.step != "dispatch"
    )
    assert (await ticket(factory, tid)).due_at is None


async def test_complaint_working_days_on_the_units_calendar(factory: Any) -> None:
    o = await make_org(factory)
    sat = datetime(2026, 11, 21, 10, 0, tzinfo=SH)  # Saturday
    # the station has no calendar of its own: its city's office hours apply
    tid, _ = await create(factory, o, "complaint", sat, unit_id=o.station)
    steps = await steps_of(factory, tid)
    assert set(steps) == {"dispatch", "contact", "reply"}
    assert same(steps["dispatch"].due_at, datetime(2026, 11, 23, 9, 0, tzinfo=SH))  # 30 working min
    assert same(steps["contact"].due_at, datetime(2026, 11, 24, 8, 30, tzinfo=SH))  # 1 working day
    assert same(steps["contact"].warn_at, datetime(2026, 11, 23, 15, 30, tzinfo=SH))  # 2 h before
    assert same(steps["reply"].due_at, datetime(2026, 11, 30, 8, 30, tzinfo=SH))  # 5 working days

    # at the root (no calendar anywhere up the tree): around the clock
    tid2, _ = await create(factory, o, "complaint", sat, unit_id=o.root)
    steps2 = await steps_of(factory, tid2)
    assert same(steps2["contact"].due_at, sat + timedelta(days=1))
    assert same(steps2["reply"].due_at, sat + timedelta(days=5))
    # dispatched from the root to the station: the running steps are measured on its calendar
    await act(factory, tid2, "dispatch", sat + m(5), unit=str(o.station))
    steps2 = await steps_of(factory, tid2)
    assert same(steps2["contact"].due_at, datetime(2026, 11, 24, 8, 30, tzinfo=SH))
    assert same(steps2["reply"].due_at, datetime(2026, 11, 30, 8, 30, tzinfo=SH))
    # acknowledged on Monday: the contact step is done in time
    await act(factory, tid2, "acknowledge", datetime(2026, 11, 23, 9, 0, tzinfo=SH))
    steps2 = await steps_of(factory, tid2)
    assert steps2["contact"].on_time is True
    assert set(await timers_of(factory, tid2)) == {"reply"}


async def test_the_tenants_policy_and_urges(factory: Any) -> None:
    o = await make_org(factory)
    doc = default_policy().model_dump(exclude_none=True)
    doc["rules"][0]["steps"][0]["minutes"] = 20  # fault_repair dispatch: 20 min
    async with transaction(factory) as s:
        s.add(TenantSetting(tenant_id=o.tenant_id, key=sla.SETTING_KEY, value=doc))
    tid, _ = await create(factory, o, "fault_repair", T)
    steps = await steps_of(factory, tid)
    assert same(steps["dispatch"].due_at, T + m(20))
    events = await act(factory, tid, "urge", T + m(3), note="customer called again")
    urged = [e["data"] for e in events if e["data"]["kind"] == "urged"]
    assert len(urged) == 1 and urged[0]["urges"] == 1 and urged[0]["steps"] == ["dispatch"]
    async with factory() as s:
        row = await s.scalar(select(Ticket).where(Ticket.id == tid))
        assert row is not None and row.urges == 1


async def test_the_tenants_step_map(factory: Any) -> None:
    o = await make_org(factory)
    async with transaction(factory) as s:
        s.add(
            TenantSetting(tenant_id=o.tenant_id, key=sla.STEPS_KEY, value={"accept": {"start": ["contact"]}})
        )
    tid, _ = await create(factory, o, "complaint", T)
    assert set(await steps_of(factory, tid)) == {"contact"}
    # the actions it does not name keep the default rules
    await act(factory, tid, "dispatch", T + m(1), unit=str(o.station))
    await act(factory, tid, "acknowledge", T + m(2))
    steps = await steps_of(factory, tid)
    assert steps["contact"].done_at is not None and steps["contact"].on_time is True


async def test_forward_restarts_the_acknowledge_step(factory: Any) -> None:
    o = await make_org(factory)
    tid, _ = await create(factory, o, "fault_repair", T)
    await act(factory, tid, "dispatch", T + m(1), unit=str(o.station))
    await act(factory, tid, "forward", T + m(20), unit=str(o.team))
    steps = await steps_of(factory, tid)
    assert same(steps["acknowledge"].started_at, T + m(20))
    assert same(steps["acknowledge"].due_at, T + m(50))
    assert same(steps["arrive"].due_at, T + m(46))  # still running from the dispatch
    timers = await timers_of(factory, tid)
    assert same(timers["acknowledge"].fire_at, T + m(45)) and timers["acknowledge"].kind == "warn"
    row = await ticket(factory, tid)
    assert same(row.due_at, T + m(46))


async def test_urgency_and_area_changes_replan_the_running_steps(factory: Any) -> None:
    from hotline.tickets import service as svc

    o = await make_org(factory)
    doc = default_policy().model_dump(exclude_none=True)
    urgent = {**doc["rules"][0], "urgency": "urgent"}  # fault repair, urgent: dispatch in 5 min
    urgent["steps"] = [dict(st) for st in urgent["steps"]]
    urgent["steps"][0] = {**urgent["steps"][0], "minutes": 5}
    doc["rules"].append(urgent)
    async with transaction(factory) as s:
        s.add(TenantSetting(tenant_id=o.tenant_id, key=sla.SETTING_KEY, value=doc))
    tid, _ = await create(factory, o, "fault_repair", T)
    assert same((await steps_of(factory, tid))["dispatch"].due_at, T + m(10))
    actor = svc.Actor(None, "tester")

    async def edit(changes: dict[str, Any], at: datetime) -> svc.Change:
        async with transaction(factory) as s:
            version = (await s.get_one(Ticket, tid)).version
            return await svc.update_fields(
                s, o.tenant_id, tid, version=version, actor=actor, changes=changes, now=at
            )

    # urgent: the running dispatch step is measured again from its start under the urgent rule
    ch = await edit({"urgency": "urgent"}, T + m(2))
    steps, timers = await steps_of(factory, tid), await timers_of(factory, tid)
    # warned at 80 % of the new 5 minutes
    assert same(steps["dispatch"].due_at, T + m(5)) and same(timers["dispatch"].fire_at, T + m(4))
    assert same((await ticket(factory, tid)).due_at, T + m(5)) and same(ch.ticket.due_at, T + m(5))
    # past its new deadline at once: the change says so
    ch = await edit({"urgency": "normal"}, T + m(3))
    assert same((await steps_of(factory, tid))["dispatch"].due_at, T + m(10))
    ch = await edit({"urgency": "urgent"}, T + m(7))
    kinds = [e["data"]["kind"] for e in ch.events if e["type"] == "ticket_deadline"]
    assert "overdue" in kinds, ch.events
    # the area: a repair's arrival limit follows it (urban 45 min, remote 120)
    await act(factory, tid, "dispatch", T + m(8), unit=str(o.station))
    assert same((await steps_of(factory, tid))["arrive"].due_at, T + m(8 + 45))
    await edit({"area_class": "remote"}, T + m(9))
    steps, timers = await steps_of(factory, tid), await timers_of(factory, tid)
    assert same(steps["arrive"].due_at, T + m(8 + 120)) and same(timers["arrive"].fire_at, T + m(8 + 110))
    # a change of another field leaves the deadlines alone
    ch = await edit({"subject": "停电 (whole street)"}, T + m(10))
    assert [e["type"] for e in ch.events] == ["ticket"]
    assert same((await steps_of(factory, tid))["arrive"].due_at, T + m(8 + 120))
