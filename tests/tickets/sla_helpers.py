"""Shared set-up of the SLA and scheduler tests: a tenant with a unit tree and a calendar, and
tickets driven through the pure workflow with the SLA shell called as the service calls it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import Ticket, TicketHistory, TicketStep, TicketTimer
from hotline.tickets import sla
from hotline.tickets.workflow import Command, TicketState, apply

WEEK = {d: [["08:30", "12:00"], ["13:30", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri")}


@dataclass
class Org:
    tenant_id: int
    root: int  # js (no calendar: 24x7)
    city: int  # js.nj (office hours)
    station: int  # js.nj.ds (inherits js.nj's calendar)
    team: int  # js.nj.ds.t1


async def make_org(factory: async_sessionmaker[AsyncSession], slug: str = "t1") -> Org:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, slug, "Tenant")
        cal = await org.add_calendar(s, t.id, "office", timezone="Asia/Shanghai", week=WEEK)
        root = await org.add_unit(s, t.id, f"{slug}.js", "Province", kind="province")
        city = await org.add_unit(s, t.id, f"{slug}.js.nj", "City", parent=root, kind="city", calendar=cal)
        station = await org.add_unit(s, t.id, f"{slug}.js.nj.ds", "Station", parent=city, kind="station")
        team = await org.add_unit(s, t.id, f"{slug}.js.nj.ds.t1", "Team", parent=station, kind="team")
        return Org(t.id, root.id, city.id, station.id, team.id)


def state_of(row: Ticket) -> TicketState:
    return TicketState(
        id=str(row.id),
        type_code=row.type_code,
        state=row.state,
        version=row.version,
        changed_at=row.changed_at,
        unit=str(row.unit_id),
        held_from=row.held_from,
        held_since=row.held_since,
        held_total=timedelta(seconds=row.held_seconds or 0.0),
        replied_at=row.replied_at,
        satisfaction=row.satisfaction,
        urges=row.urges or 0,
    )


async def create(
    factory: async_sessionmaker[AsyncSession],
    o: Org,
    type_code: str,
    now: datetime,
    *,
    unit_id: int | None = None,
    area: str = "urban",
    urgency: str = "normal",
) -> tuple[int, list[dict[str, Any]]]:
    async with transaction(factory) as s:
        row = Ticket(
            tenant_id=o.tenant_id,
            number="new",
            type_code=type_code,
            urgency=urgency,
            state="accepted",
            version=1,
            changed_at=now,
            unit_id=unit_id or o.station,
            area_class=area,
            subject="停电",
            created_at=now,
        )
        s.add(row)
        await s.flush()
        row.number = f"GD{now:%Y%m%d}-{row.id:07d}"
        s.add(
            TicketHistory(
                tenant_id=o.tenant_id,
                ticket_id=row.id,
                at=now,
                actor="tester",
                action="accept",
                from_state=None,
                to_state="accepted",
                version=1,
            )
        )
        events = await sla.on_created(s, row, now)
        return row.id, events


async def act(
    factory: async_sessionmaker[AsyncSession],
    ticket_id: int,
    action: str,
    now: datetime,
    *,
    note: str = "",
    **payload: Any,
) -> list[dict[str, Any]]:
    async with transaction(factory) as s:
        row = await s.get(Ticket, ticket_id)
        assert row is not None
        before = state_of(row)
        out = apply(before, Command(action, "tester", note=note, payload=payload), now)
        st = out.state
        row.state, row.version, row.changed_at = st.state, st.version, st.changed_at
        row.held_from, row.held_since = st.held_from, st.held_since
        row.held_seconds = st.held_total.total_seconds()
        row.replied_at, row.satisfaction, row.urges = st.replied_at, st.satisfaction, st.urges
        if st.unit is not None:
            row.unit_id = int(st.unit)
        e = out.entry
        s.add(
            TicketHistory(
                tenant_id=row.tenant_id,
                ticket_id=row.id,
                at=e.at,
                actor=e.actor,
                action=e.action,
                from_state=e.from_state,
                to_state=e.to_state,
                note=e.note,
                data=dict(e.data),
                version=e.version,
            )
        )
        await s.flush()
        events = await sla.on_outcome(s, row, before, out, now)
        if action == "urge":
            events += await sla.on_urge(s, row, now, by="tester", note=note)
        return events


async def steps_of(factory: async_sessionmaker[AsyncSession], ticket_id: int) -> dict[str, TicketStep]:
    async with factory() as s:
        rows = (await s.scalars(select(TicketStep).where(TicketStep.ticket_id == ticket_id))).all()
        return {r.step: r for r in rows}


async def timers_of(factory: async_sessionmaker[AsyncSession], ticket_id: int) -> dict[str, TicketTimer]:
    async with factory() as s:
        rows = (await s.scalars(select(TicketTimer).where(TicketTimer.ticket_id == ticket_id))).all()
        return {r.step: r for r in rows}


async def ticket(factory: async_sessionmaker[AsyncSession], ticket_id: int) -> Ticket:
    async with factory() as s:
        row = await s.get(Ticket, ticket_id)
        assert row is not None
        return row


async def history(factory: async_sessionmaker[AsyncSession], ticket_id: int) -> list[TicketHistory]:
    async with factory() as s:
        return list(
            (
                await s.scalars(
                    select(TicketHistory)
                    .where(TicketHistory.ticket_id == ticket_id)
                    .order_by(TicketHistory.id)
                )
            ).all()
        )
