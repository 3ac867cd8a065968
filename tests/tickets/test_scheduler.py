"""The deadline scheduler: fires warnings, overdue flags and escalations at their times, survives
restarts (timers are rows) and never fires a timer twice, also with two schedulers on PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from hotline.cti.events import EventHub, LiveEvent
from hotline.store.db import create_engine, session_factory
from hotline.store.models import TicketTimer
from hotline.tickets.scheduler import DeadlineScheduler

from .sla_helpers import act, create, history, make_org, steps_of, ticket, timers_of

T = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def m(n: float) -> timedelta:
    return timedelta(minutes=n)


class RecordingHub(EventHub):
    """The real hub, remembering what was published."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, str, dict[str, Any]]] = []

    def publish(self, tenant_id: int, type: str, **kw: Any) -> LiveEvent:
        self.seen.append((tenant_id, type, kw.get("data") or {}))
        return super().publish(tenant_id, type, **kw)

    def kinds(self) -> list[tuple[str, Any]]:
        return [(d["kind"], d.get("level")) for _, t, d in self.seen if t == "ticket_deadline"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_fires_warn_overdue_and_escalations_at_their_times(factory: Any) -> None:
    o = await make_org(factory)
    tid, _ = await create(factory, o, "fault_repair", T, unit_id=o.team)
    hub = RecordingHub()
    sch = DeadlineScheduler(factory, hub)
    assert await sch.run_once(T + m(7.9)) == 0
    assert await sch.run_once(T + m(8)) == 1
    assert hub.kinds() == [("warned", 0)]
    assert await sch.run_once(T + m(9)) == 0
    await sch.run_once(T + m(10))
    assert hub.kinds()[1:] == [("overdue", 0), ("escalated", 1)]
    esc = hub.seen[-1][2]
    assert esc["up_unit"] == "t1.js.nj.ds" and esc["id"] == tid and esc["step"] == "dispatch"
    assert esc["number"].startswith("GD20261123-")
    row = await ticket(factory, tid)
    assert row.overdue and row.escalations == 1 and row.version == 1  # history is not a version
    timers = await timers_of(factory, tid)
    assert timers["dispatch"].kind == "escalate" and timers["dispatch"].level == 2
    assert timers["dispatch"].fire_at.replace(tzinfo=UTC) == T + m(70)
    await sch.run_once(T + m(69))
    assert len(hub.kinds()) == 3
    await sch.run_once(T + m(70))
    assert hub.seen[-1][2]["level"] == 2 and hub.seen[-1][2]["up_unit"] == "t1.js.nj"  # climbs
    await sch.run_once(T + m(130))
    assert hub.seen[-1][2]["level"] == 3 and hub.seen[-1][2]["up_unit"] == "t1.js"
    assert await timers_of(factory, tid) == {}  # max_times reached: nothing more to fire
    assert await sch.run_once(T + m(1000)) == 0
    assert hub.kinds() == [
        ("warned", 0),
        ("overdue", 0),
        ("escalated", 1),
        ("escalated", 2),
        ("escalated", 3),
    ]
    hist = [h for h in await history(factory, tid) if h.actor == "system"]
    assert [h.action for h in hist] == ["warned", "overdue", "escalated", "escalated", "escalated"]
    assert all(h.user_id is None and h.version == 1 and h.to_state == "accepted" for h in hist)
    assert [h.data["up_unit"] for h in hist[2:]] == ["t1.js.nj.ds", "t1.js.nj", "t1.js"]
    st = (await steps_of(factory, tid))["dispatch"]
    assert st.fired == 5 and st.escalations == 3 and st.done_at is None
    # the step ends late: its overdue time counts into the ticket's
    await act(factory, tid, "dispatch", T + m(140), unit=str(o.team))
    row = await ticket(factory, tid)
    assert abs(row.overdue_seconds - 130 * 60) < 1 and row.escalations == 3


async def test_the_loop_wakes_and_a_restart_fires_everything_exactly_once(factory: Any) -> None:
    o = await make_org(factory)
    tid, _ = await create(factory, o, "fault_repair", T, unit_id=o.station)
    clock = Clock(T)
    hub = RecordingHub()
    sch = DeadlineScheduler(factory, hub, poll=0.05, clock=clock)
    await sch.start()
    try:
        clock.now = T + m(8)
        sch.wake()
        for _ in range(200):
            if hub.kinds():
                break
            await asyncio.sleep(0.02)
        assert hub.kinds() == [("warned", 0)]
    finally:
        await sch.stop()
    assert not sch.running
    # the server is down while the ticket goes overdue and every escalation comes due
    clock.now = T + m(200)
    hub2 = RecordingHub()
    again = DeadlineScheduler(factory, hub2, poll=0.05, clock=clock)
    await again.start()
    try:
        for _ in range(200):
            if len(hub2.kinds()) >= 4:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)  # a few more rounds: nothing fires twice
    finally:
        await again.stop()
    assert hub2.kinds() == [("overdue", 0), ("escalated", 1), ("escalated", 2), ("escalated", 3)]
    hist = [h.action for h in await history(factory, tid) if h.actor == "system"]
    assert hist == ["warned", "overdue", "escalated", "escalated", "escalated"]
    assert (await ticket(factory, tid)).escalations == 3
    # a third start finds nothing to do
    third = DeadlineScheduler(factory, RecordingHub(), clock=clock)
    assert await third.run_once() == 0


async def test_a_done_step_never_fires_and_a_bad_ticket_does_not_stop_the_others(factory: Any) -> None:
    o = await make_org(factory)
    done, _ = await create(factory, o, "fault_repair", T)
    await act(factory, done, "dispatch", T + m(2), unit=str(o.station))
    await act(factory, done, "acknowledge", T + m(3))
    bad, _ = await create(factory, o, "fault_repair", T)
    good, _ = await create(factory, o, "fault_repair", T)
    # break one ticket: its unit's calendar becomes unreadable
    from hotline.store.db import transaction
    from hotline.store.models import Calendar, Unit

    async with transaction(factory) as s:
        cal = Calendar(tenant_id=o.tenant_id, name="broken", timezone="Mars/Olympus", week={})
        s.add(cal)
        await s.flush()
        u = Unit(
            tenant_id=o.tenant_id,
            code="t1.broken",
            name="Broken",
            parent_id=o.root,
            calendar_id=cal.id,
            path="",
        )
        s.add(u)
        await s.flush()
        u.path = f"/{o.root}/{u.id}/"
        from hotline.store.models import Ticket

        row = await s.get(Ticket, bad)
        assert row is not None
        row.unit_id = u.id
    hub = RecordingHub()
    sch = DeadlineScheduler(factory, hub, retry=30)
    await sch.run_once(T + m(8))
    fired = {d["id"] for _, _, d in hub.seen}
    assert fired == {good}  # the done ticket's dispatch step ended; the bad one failed alone
    assert sch.failures == 1
    timers = await timers_of(factory, bad)
    assert timers["dispatch"].fire_at.replace(tzinfo=UTC) == T + m(8) + timedelta(seconds=30)


@pytest.mark.postgres
async def test_two_schedulers_never_fire_a_timer_twice(db_url: str, factory: Any) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("row locks: PostgreSQL only (SQLite has one writer)")
    o = await make_org(factory)
    n = 120
    for i in range(n):
        await create(factory, o, "fault_repair", T + timedelta(seconds=i), unit_id=o.team)
    engines = [create_engine(db_url), create_engine(db_url)]
    hubs = [RecordingHub(), RecordingHub()]
    try:
        scheds = [
            DeadlineScheduler(session_factory(e), h, batch=7) for e, h in zip(engines, hubs, strict=True)
        ]

        async def drain(sch: DeadlineScheduler, at: datetime) -> None:
            for _ in range(500):
                if await sch.run_once(at) == 0:
                    return
                await asyncio.sleep(0)

        for minute in (8, 10, 70, 130):
            at = T + m(minute) + timedelta(seconds=n)
            await asyncio.gather(*(drain(s, at) for s in scheds))
    finally:
        for e in engines:
            await e.dispose()
    seen = Counter(
        (d["id"], d["kind"], d["level"]) for h in hubs for _, t, d in h.seen if t == "ticket_deadline"
    )
    assert len(seen) == n * 5  # warned, overdue, 3 escalations each
    assert max(seen.values()) == 1, [k for k, v in seen.items() if v > 1][:5]
    assert all(h.seen for h in hubs), "both schedulers did part of the work"
    async with factory() as s:
        assert await s.scalar(select(func.count()).select_from(TicketTimer)) == 0
