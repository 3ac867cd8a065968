"""Work-order data: the demo orders (every state, through the service, idempotent) and the
deterministic generator (pure rows; bulk written on SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from hotline.seed import seed_demo
from hotline.store.db import transaction
from hotline.store.models import ContactEntry, Tenant, Ticket, TicketHistory
from hotline.tickets import seed as gen
from hotline.tickets import service as svc
from hotline.tickets.search import document
from hotline.tickets.seed import Client, GenContext, Person, orders
from hotline.tickets.workflow import DEFAULT_WORKFLOW

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def test_demo_orders_in_every_state_and_idempotent(factory: Any) -> None:
    async with transaction(factory) as s:
        await seed_demo(s)  # calls seed_demo_tickets
    async with transaction(factory) as s:
        tid = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        assert tid is not None
        assert await gen.seed_demo_tickets(s, tid) == 0  # already there
        await seed_demo(s)  # and the whole demo seed again: nothing new
    async with factory() as s:
        rows = list(await s.scalars(select(Ticket).where(Ticket.tenant_id == tid).order_by(Ticket.id)))
        assert len(rows) == len(gen.DEMO_ORDERS)
        states = {r.state for r in rows}
        for st in (
            "accepted", "dispatched", "acknowledged", "in_progress", "on_hold", "replied",
            "reviewed", "revisited", "archived", "cancelled",
        ):  # fmt: skip
            assert st in states, st
        by_subject = {r.subject: r for r in rows}
        revisited = next(r for r in rows if r.state == "revisited")
        assert revisited.satisfaction == "dissatisfied"
        assert svc.state_of(revisited).replied_at is not None
        assert next(r for r in rows if r.state == "archived").satisfaction == "satisfied"
        # the repeat complaint points at the earlier complaint of the same customer
        repeat = by_subject["频繁停电"]
        assert repeat.repeat_of == revisited.id and repeat.repeat_count == 1
        # the fault order over the active outage's area is linked to it
        assert by_subject["小区停电"].outage_id is not None
        # the overdue one: dispatched a day ago, never acknowledged, its deadline long passed
        late = by_subject["电表故障"]
        assert late.state == "dispatched" and late.due_at is not None
        assert late.due_at < datetime.now(UTC) - timedelta(hours=12)
        for r in rows:
            hist = await svc.history(s, tid, r.id)
            assert hist[0].action == "accept" and hist[-1].to_state == r.state
            assert max(h.version for h in hist) == r.version
            assert all(a.at <= b.at for a, b in itertools.pairwise(hist))
            assert r.created_at < datetime.now(UTC)
        # the handler's queue: the Dongshan station's orders are his
        assert any(r.handler_id is not None for r in rows)
        # contact history entries for the customers' orders
        n = await s.scalar(
            select(func.count())
            .select_from(ContactEntry)
            .where(ContactEntry.tenant_id == tid, ContactEntry.kind == "ticket")
        )
        assert n and n >= len([r for r in rows if r.customer_id])


def _ctx() -> GenContext:
    units = [10, 11, 12, 13]
    return GenContext(
        tenant_id=1,
        units=units,
        intake_unit_id=1,
        customers=[
            Client(i, f"32{i:08d}", f"客户{i}", f"+8613{i:09d}", f"地址{i}", units[i % 4])
            for i in range(1, 50)
        ],
        agents=[Person(2, "li.na"), Person(3, "zhang.wei")],
        handlers={10: [Person(7, "liu.yang")], 11: [Person(8, "h.11")]},
        reviewers=[Person(4, "wang.fang")],
    )


def _flat(batches: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    hist: list[dict[str, Any]] = []
    for r, h in batches:
        rows += r
        hist += h
    return rows, hist


def test_generator_is_deterministic_whatever_the_batch() -> None:
    a = _flat(orders(_ctx(), count=600, seed=5, now=NOW, batch=100))
    b = _flat(orders(_ctx(), count=600, seed=5, now=NOW, batch=37))
    assert a == b
    c = _flat(orders(_ctx(), count=600, seed=6, now=NOW, batch=100))
    assert [r["type_code"] for r in c[0]] != [r["type_code"] for r in a[0]]


def test_generated_orders_are_consistent() -> None:
    rows, hist = _flat(orders(_ctx(), count=3000, seed=1, now=NOW, first_id=101))
    assert [r["id"] for r in rows] == list(range(101, 3101))
    created = [r["created_at"] for r in rows]
    assert created == sorted(created)
    assert NOW - timedelta(days=731) < created[0] and created[-1] <= NOW
    states = {r["state"] for r in rows}
    assert {"archived", "cancelled", "in_progress", "on_hold"} <= states
    types = {r["type_code"] for r in rows}
    assert {"fault_repair", "complaint", "consultation", "service_application"} <= types
    by_ticket: dict[int, list[dict[str, Any]]] = {}
    for h in hist:
        by_ticket.setdefault(h["ticket_id"], []).append(h)
    assert set(by_ticket) == {r["id"] for r in rows}  # no history_days: every order has its history
    for r in rows:
        assert r["number"].startswith("GD") and r["number"].endswith(f"-{r['id']:07d}")
        assert r["search"] == document(r["subject"], r["description"])
        h = by_ticket[r["id"]]
        assert [x["version"] for x in h] == list(range(1, r["version"] + 1))
        assert h[-1]["to_state"] == r["state"] and h[0]["action"] == "accept"
        # every step is a transition of the default workflow
        for prev, nxt in itertools.pairwise(h):
            t = DEFAULT_WORKFLOW.transition(prev["to_state"], nxt["action"])
            assert t is not None and t.target == nxt["to_state"], (prev, nxt)
        assert all(x["at"] <= NOW for x in h) and r["changed_at"] == h[-1]["at"]
        open_ = r["state"] in gen.OPEN_STATES
        assert (r["due_at"] is not None) == open_
        assert (r["closed_at"] is not None) == (r["state"] in gen.CLOSED_STATES)
        if r["state"] in ("revisited", "archived"):
            assert r["satisfaction"] in ("satisfied", "basically_satisfied", "dissatisfied")
        if r["customer_id"] is not None:
            assert r["unit_id"] in (10, 11, 12, 13, 1)
    assert 0.02 < sum(r["overdue"] for r in rows) / len(rows) < 0.2
    # only recent and open orders keep their history with history_days
    rows2, hist2 = _flat(orders(_ctx(), count=3000, seed=1, now=NOW, first_id=101, history_days=30))
    assert rows2 == rows
    kept = {h["ticket_id"] for h in hist2}
    for r in rows2:
        recent = r["created_at"] >= NOW - timedelta(days=30) or r["state"] in gen.OPEN_STATES
        assert (r["id"] in kept) == recent


@pytest.mark.parametrize("history_days", [None, 30.0])
async def test_generate_writes_and_the_service_goes_on_after(
    factory: Any, history_days: float | None
) -> None:
    async with transaction(factory) as s:
        await seed_demo(s)
        tid = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        assert tid is not None
    seen: list[int] = []
    rep = await gen.generate(
        factory, tid, count=2500, seed=3, batch=1000, history_days=history_days,
        progress=lambda stage, done, total: seen.append(done),
    )  # fmt: skip
    assert rep.orders == 2500 and seen[-1] == 2500
    async with factory() as s:
        n = await s.scalar(select(func.count()).select_from(Ticket).where(Ticket.tenant_id == tid))
        assert n == 2500 + len(gen.DEMO_ORDERS)
        nh = await s.scalar(select(func.count()).select_from(TicketHistory))
        assert nh and nh >= rep.history
        page, _ = await svc.list_tickets(
            s, tid, svc.TicketFilter(state=("in_progress",), limit=20), scope_paths=None
        )
        assert page and all(t.state == "in_progress" for t in page)
        found, _ = await svc.list_tickets(s, tid, svc.TicketFilter(q="停电", limit=5), scope_paths=None)
        assert found and all("停电" in (t.subject + t.description) for t in found)
    # a new order through the service gets the next id (the PostgreSQL sequence moved on)
    async with transaction(factory) as s:
        ch = await svc.create_ticket(
            s, tid, type_code="consultation", actor=svc.Actor(None, "system"),
            fields={"contact_phone": "+8613912340001", "subject": "咨询", "description": "电费"},
        )  # fmt: skip
        assert ch.ticket.id > rep.first_id + 2500 - 1
