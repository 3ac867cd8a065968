"""Group commit of new work orders (hotline.tickets.writer) on SQLite and PostgreSQL: batches,
one bad order failing alone, concurrent creates through the API."""

from __future__ import annotations

import asyncio
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select

from hotline.errors import Invalid
from hotline.store.db import transaction
from hotline.store.models import ContactEntry, Ticket, TicketHistory, TicketStep, TicketTimer
from hotline.tickets import service as svc
from hotline.tickets.writer import TicketWriter, writer_for
from tests.conftest import token_for
from tests.tickets.test_api import T, consultation, fault
from tests.tickets.test_service import NOW, _world


async def _draft(factory: Any, w: dict[str, Any], **kw: Any) -> svc.Draft:
    args: dict[str, Any] = {
        "type_code": "fault_repair",
        "actor": w["agent"],
        "fields": {
            "contact_phone": "13912340001",
            "address": "南京市江宁区东山街道1号",
            "fault_kind": "no_power_single",
            "area": "urban",
            "description": "家里停电了",
        },
        "subject": "家中停电",
        "customer_id": w["c1"],
        "now": NOW,
    }
    args.update(kw)
    async with factory() as s:
        return await svc.plan_ticket(s, w["tenant"], **args)


async def test_a_batch_is_one_transaction_and_a_bad_order_fails_alone(factory: Any) -> None:
    w = await _world(factory)
    good = [await _draft(factory, w, subject=f"停电 {i}") for i in range(4)]
    bad = await _draft(factory, w, attachments=["no-such-upload"])
    writer = TicketWriter(factory)
    jobs = [writer.submit(d) for d in (*good[:2], bad, *good[2:])]
    got = await asyncio.gather(*jobs, return_exceptions=True)
    errors = [g for g in got if isinstance(g, BaseException)]
    assert len(errors) == 1 and isinstance(errors[0], Invalid)
    assert "no uploaded attachment" in errors[0].detail
    changes = [g for g in got if isinstance(g, svc.Change)]
    assert len(changes) == 4
    async with factory() as s:
        rows = (await s.scalars(select(Ticket).order_by(Ticket.id))).all()
        assert [r.subject for r in rows] == ["停电 0", "停电 1", "停电 2", "停电 3"]
        assert len({r.number for r in rows}) == 4
        assert all(r.number == f"GD20261123-{r.id:07d}" for r in rows)
        assert all(r.state == "dispatched" and r.unit_id == w["units"]["jn"] for r in rows)
        # every order is whole: accept + dispatch, a timeline entry, its deadline steps and timers
        for r in rows:
            hist = (
                await s.scalars(
                    select(TicketHistory.action)
                    .where(TicketHistory.ticket_id == r.id)
                    .order_by(TicketHistory.id)
                )
            ).all()
            assert hist == ["accept", "dispatch"]
            assert (
                await s.scalar(
                    select(func.count()).select_from(ContactEntry).where(ContactEntry.ref == str(r.id))
                )
                == 1
            )
            assert (
                await s.scalar(
                    select(func.count()).select_from(TicketStep).where(TicketStep.ticket_id == r.id)
                )
                >= 1
            )
            assert (
                await s.scalar(
                    select(func.count()).select_from(TicketTimer).where(TicketTimer.ticket_id == r.id)
                )
                >= 1
            )
            assert r.due_at is not None
    # the first try wrote them together, then one by one after the bad one failed it
    assert writer.written == 4


async def test_drafts_written_in_one_batch(factory: Any) -> None:
    w = await _world(factory)
    drafts = [await _draft(factory, w, subject=f"停电 {i}") for i in range(6)]
    writer = TicketWriter(factory)
    changes = await asyncio.gather(*(writer.submit(d) for d in drafts))
    assert writer.batches == 1 and writer.largest == 6
    # PostgreSQL: one statement outside a transaction (no BEGIN, no COMMIT)
    assert writer.single == (1 if factory.kw["bind"].dialect.name == "postgresql" else 0)
    assert [c.ticket.subject for c in changes] == [f"停电 {i}" for i in range(6)]
    # the change carries what the API answers with: the history ids, the deadlines, the events
    for c in changes:
        assert all(h.id is not None for h in c.entries)
        assert c.deadlines and c.next_timer is not None
        assert [e["data"]["action"] for e in c.events if e["type"] == "ticket"] == ["created", "dispatched"]
        assert all(e["data"]["id"] == c.ticket.id for e in c.events if e["type"] == "ticket")
    # a draft can be written again (a retried batch): a new order with a new id and number
    async with transaction(factory) as s:
        again = (await svc.write_drafts(s, [drafts[0]]))[0]
    assert again.ticket.id not in {c.ticket.id for c in changes}
    assert again.entries[0].ticket_id == again.ticket.id


async def test_concurrent_creates_through_the_api(client_on: AsyncClient) -> None:
    c = client_on
    h = await token_for(c, "li.na")
    bodies = [consultation(f"咨询 {i}", f"第 {i} 个问题") if i % 2 else fault(f"停电 {i}") for i in range(24)]
    got = await asyncio.gather(*(c.post(T, json=b, headers=h) for b in bodies))
    assert [r.status_code for r in got] == [201] * 24, [r.text for r in got if r.status_code != 201][:1]
    out = [r.json() for r in got]
    assert len({o["number"] for o in out}) == 24
    assert sorted(o["subject"] for o in out) == sorted(b["subject"] for b in bodies)
    writer = writer_for(c.app.state.hotline.db)  # type: ignore[attr-defined]
    assert writer.written >= 24 and writer.batches < writer.written  # some were written together
    for o in out:
        r = await c.get(f"{T}/{o['id']}", headers=h)
        assert r.status_code == 200
        full = r.json()
        assert full["number"] == o["number"] and [x["action"] for x in full["history"]][:1] == ["accept"]
        assert full["deadlines"] == o["deadlines"] or o["state"] != full["state"]


async def test_a_draft_queued_as_the_last_batch_ends_is_written(factory: Any) -> None:
    """A draft queued in the loop turn between a writing task's end and its done callback (every
    slot still looks taken then) is still written, without waiting for another draft."""
    w = await _world(factory)
    first, second = await _draft(factory, w, subject="停电 1"), await _draft(factory, w, subject="停电 2")
    writer = TicketWriter(factory, max_inflight=1)
    loop = asyncio.get_running_loop()
    late: list[asyncio.Future[svc.Change]] = []
    queued = asyncio.Event()
    real_write = writer._write

    def queue_second() -> None:
        late.append(writer.enqueue(second))
        queued.set()

    async def write(batch: Any) -> None:
        await real_write(batch)
        if not late:  # runs before the finished task's done callback
            loop.call_soon(queue_second)

    writer._write = write  # type: ignore[method-assign]
    assert (await writer.submit(first)).ticket.subject == "停电 1"
    await queued.wait()
    change = await asyncio.wait_for(late[0], timeout=10)
    assert change.ticket.subject == "停电 2" and writer.written == 2


async def test_a_batch_needing_another_statement_is_written_in_a_transaction(
    factory: Any, monkeypatch: Any
) -> None:
    """Were a batch taken for one statement when writing it needs another (here: binding an
    upload), that statement is refused before it is sent and the batch is written in a
    transaction, with the outcome it would have had there (here: the upload does not exist)."""
    import hotline.tickets.writer as writer_mod

    monkeypatch.setattr(writer_mod, "one_statement_draft", lambda _d: True)
    w = await _world(factory)
    writer = TicketWriter(factory)
    bad = await _draft(factory, w, attachments=["no-such-upload"])
    try:
        await writer.submit(bad)
    except Invalid as exc:
        assert "no uploaded attachment" in exc.detail
    else:
        raise AssertionError("the order naming a missing upload was accepted")
    good = await _draft(factory, w, subject="停电 ok")
    change = await writer.submit(good)
    assert writer.single == (1 if factory.kw["bind"].dialect.name == "postgresql" else 0)
    async with factory() as s:
        assert (await s.scalars(select(Ticket.subject))).all() == ["停电 ok"]
        assert await s.scalar(select(func.count()).select_from(TicketHistory)) == len(change.entries)
