"""Mass events: fault orders in an outage area linked to one outage, and replied together when
power is restored (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from hotline.crm import timeline
from hotline.crm.customers import add_customer
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import AuditEntry, ContactEntry, Customer, Ticket, TicketHistory
from hotline.tickets import incidents
from hotline.tickets import service as svc
from hotline.tickets.workflow import DEFAULT_WORKFLOW, Command, TicketState, Workflow
from hotline.utility import outages

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Nanjing
AGENT = svc.Actor(user_id=None, name="li.na")
FAULT = {"fault_kind": "no_power_area", "area": "urban", "description": "家里停电了"}


def st(state: str, held_from: str | None = None) -> TicketState:
    return TicketState(
        id="1", type_code="fault_repair", state=state, version=3, changed_at=NOW, held_from=held_from
    )


def test_plan_to_reply() -> None:
    wf = DEFAULT_WORKFLOW
    assert incidents.plan_to_reply(wf, st("accepted")) == ["dispatch", "acknowledge", "start", "reply"]
    assert incidents.plan_to_reply(wf, st("dispatched")) == ["acknowledge", "start", "reply"]
    assert incidents.plan_to_reply(wf, st("in_progress")) == ["reply"]
    assert incidents.plan_to_reply(wf, st("on_hold", "acknowledged")) == ["resume", "start", "reply"]
    for answered in ("replied", "reviewed", "revisited", "archived", "cancelled", "merged"):
        assert incidents.plan_to_reply(wf, st(answered)) is None
    # a workflow whose handler replies straight from dispatched
    short = Workflow.model_validate(
        {
            "states": ["new", "sent", "done", "closed"],
            "initial": "new",
            "terminal": ["closed"],
            "transitions": [
                {"action": "dispatch", "sources": ["new"], "target": "sent"},
                {"action": "reply", "sources": ["sent"], "target": "done"},
                {"action": "archive", "sources": ["done"], "target": "closed"},
            ],
        }
    )
    assert incidents.plan_to_reply(short, st("new")) == ["dispatch", "reply"]


async def _world(factory: Any) -> dict[str, Any]:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "grid", "Grid")
        root = await org.add_unit(s, t.id, "js", "Jiangsu")
        ds = await org.add_unit(s, t.id, "js.ds", "Dongshan", parent=root)
        ids: dict[str, int] = {}
        for acc, feeder, area, phone in [
            ("3201000001", "F1", "T1", "13900000001"),
            ("3201000002", "F1", "T1", "13900000002"),
            ("3201000003", "F1", "T2", "13900000003"),
            ("3201000004", "F2", "T9", "13900000004"),
        ]:
            c = await add_customer(
                s,
                t.id,
                unit=ds,
                account_no=acc,
                name="客户",
                phone=phone,
                address="南京市江宁区东山街道 1 号",
            )
            c.feeder, c.transformer_area = feeder, area
            await s.flush()
            ids[acc] = c.id
        o = await outages.create_outage(
            s,
            t.id,
            unit=ds,
            kind="unplanned",
            status="active",
            cause="10kV 线路故障",
            start_at=NOW - timedelta(hours=1),
            areas=[("F1", "")],  # the whole feeder F1: customers 1, 2, 3
        )
        return {"tenant": t.id, "customers": ids, "outage": o.id, "unit": ds.id}


async def _fault(factory: Any, w: dict[str, Any], acc: str, at: datetime) -> svc.Change:
    async with transaction(factory) as s:
        return await svc.create_ticket(
            s,
            w["tenant"],
            type_code="fault_repair",
            actor=AGENT,
            fields=FAULT,
            customer_id=w["customers"][acc],
            now=at,
        )


async def test_link_and_restore(factory: Any) -> None:
    w = await _world(factory)
    tid, oid = w["tenant"], w["outage"]
    changes = [
        await _fault(factory, w, acc, NOW + timedelta(minutes=i))
        for i, acc in enumerate(["3201000001", "3201000002", "3201000003"])
    ]
    outside = await _fault(factory, w, "3201000004", NOW + timedelta(minutes=5))
    assert [c.ticket.outage_id for c in changes] == [oid, oid, oid]
    assert outside.ticket.outage_id is None
    incident_events = [e for c in changes for e in c.events if e["type"] == "incident"]
    assert [e["data"]["linked"] for e in incident_events] == [1, 2, 3]
    assert incident_events[0]["data"]["action"] == "linked"
    assert incident_events[0]["data"]["tickets"] == [changes[0].ticket.id]
    assert any(e["type"] == "ticket" and e["data"]["action"] == "linked" for e in changes[0].events)
    assert not any(e["type"] == "incident" for e in outside.events)

    # one order is moved along by its handler first, one is put on hold
    async with transaction(factory) as s:
        ids = [c.ticket.id for c in changes]
        hist = await svc.history(s, tid, ids[0])
        linked = [h for h in hist if h.action == "linked"]
        assert len(linked) == 1 and linked[0].actor == "system" and linked[0].data["outage_id"] == oid
        row = await svc.get_ticket(s, tid, ids[1])
        if row.state == "accepted":
            await svc.act(
                s, tid, ids[1], Command("dispatch", "li.na", payload={"unit": "js.ds"}), actor=AGENT
            )
        await svc.act(s, tid, ids[1], Command("acknowledge", "li.na"), actor=AGENT, now=NOW)
        await svc.act(s, tid, ids[1], Command("hold", "li.na"), actor=AGENT, now=NOW)

    restored_at = NOW + timedelta(hours=2)
    async with transaction(factory) as s:
        await outages.restore(s, tid, oid, at=restored_at)
        events = await incidents.on_outage_restored(s, tid, oid, restored_at)
    done = [e for e in events if e["type"] == "incident"]
    assert len(done) == 1 and done[0]["data"]["action"] == "restored"
    assert sorted(done[0]["data"]["tickets"]) == sorted(ids)
    assert done[0]["data"]["customers"] == 3 and done[0]["data"]["skipped"] == []
    assert any(e["type"] == "ticket" and e["data"]["action"] == "replied" for e in events)

    async with transaction(factory) as s:
        rows = {r.id: r for r in (await s.scalars(select(Ticket).where(Ticket.tenant_id == tid))).all()}
        for i in ids:
            assert rows[i].state == "replied" and rows[i].replied_at == restored_at
        assert rows[outside.ticket.id].state != "replied" and rows[outside.ticket.id].replied_at is None
        hist = await svc.history(s, tid, ids[1])
        tail = [(h.action, h.actor) for h in hist][-3:]
        assert tail == [("resume", "incident"), ("start", "incident"), ("reply", "incident")]
        reply = hist[-1]
        assert (
            "已于2026-11-23 12:00恢复供电" in reply.note
            and "Power restored at 2026-11-23 12:00" in reply.note
        )
        assert reply.user_id is None
        versions = [h.version for h in hist]
        assert versions == sorted(versions) and rows[ids[1]].version == versions[-1]
        notes = (
            await s.scalars(
                select(ContactEntry).where(ContactEntry.tenant_id == tid, ContactEntry.kind == "notification")
            )
        ).all()
        assert sorted(n.customer_id for n in notes) == sorted(
            w["customers"][a] for a in ("3201000001", "3201000002", "3201000003")
        )
        assert all("恢复供电" in n.summary and n.detail["outage_id"] == oid for n in notes)
        page = await timeline.entries(s, tid, w["customers"]["3201000001"], kinds=("notification",))
        assert len(page[0]) == 1

    # restoring again (a second call) finds nothing open
    async with transaction(factory) as s:
        again = await incidents.on_outage_restored(s, tid, oid, restored_at)
    assert [e["type"] for e in again] == ["incident"] and again[0]["data"]["tickets"] == []

    # a new fault call after the restoration is not linked
    late = await _fault(factory, w, "3201000001", restored_at + timedelta(minutes=10))
    assert late.ticket.outage_id is None
    async with transaction(factory) as s:
        n = len((await s.scalars(select(TicketHistory).where(TicketHistory.action == "linked"))).all())
    assert n == 3


async def test_named_and_scheduled_outages(factory: Any) -> None:
    w = await _world(factory)
    tid = w["tenant"]
    async with transaction(factory) as s:
        planned = await outages.create_outage(
            s,
            tid,
            unit=w["unit"],
            kind="planned",
            status="scheduled",
            start_at=NOW - timedelta(minutes=30),
            expected_end_at=NOW + timedelta(hours=4),
            areas=[("F2", "T9")],
        )
        future = await outages.create_outage(
            s, tid, unit=w["unit"], kind="planned", start_at=NOW + timedelta(days=1), areas=[("F9", "")]
        )
    # a planned outage whose start has come links like an active one
    c = await _fault(factory, w, "3201000004", NOW)
    assert c.ticket.outage_id == planned.id
    # an outage named on the form wins; one not in effect is ignored (the area's is taken)
    four = w["customers"]["3201000004"]
    async with transaction(factory) as s:
        named = await svc.create_ticket(
            s,
            tid,
            type_code="fault_repair",
            actor=AGENT,
            fields={**FAULT, "outage_id": str(w["outage"])},
            customer_id=four,
            now=NOW,
        )
        not_yet = await svc.create_ticket(
            s,
            tid,
            type_code="fault_repair",
            actor=AGENT,
            fields={**FAULT, "outage_id": str(future.id)},
            customer_id=four,
            now=NOW,
        )
    assert named.ticket.outage_id == w["outage"]
    assert not_yet.ticket.outage_id == planned.id


async def test_restore_through_the_api(app_client: Any) -> None:
    from tests.conftest import token_for

    db = app_client.app.state.hotline.db
    admin = await token_for(app_client, "admin")
    r = await app_client.get("/api/v1/outages?status=active", headers=admin)
    assert r.status_code == 200, r.text
    outage = r.json()["items"][0]
    async with transaction(db) as s:
        c = (await s.scalars(select(Customer).where(Customer.account_no == "3201003001"))).one()
        change = await svc.create_ticket(
            s, c.tenant_id, type_code="fault_repair", actor=AGENT, fields=FAULT, customer_id=c.id
        )
    assert change.ticket.outage_id == outage["id"]
    async with transaction(db) as s:  # the demo data may hold linked orders of its own
        open_linked = len(
            (
                await s.scalars(
                    select(Ticket.id).where(Ticket.outage_id == outage["id"], Ticket.replied_at.is_(None))
                )
            ).all()
        )
    r = await app_client.post(f"/api/v1/outages/{outage['id']}/restore", headers=admin)
    assert r.status_code == 200, r.text
    async with transaction(db) as s:
        row = await svc.get_ticket(s, c.tenant_id, change.ticket.id)
        assert row.state == "replied" and row.replied_at is not None
        entry = (
            await s.scalars(
                select(AuditEntry).where(AuditEntry.action == "outage.restore").order_by(AuditEntry.id.desc())
            )
        ).first()
        assert entry is not None and entry.detail["tickets_replied"] == open_linked >= 1
