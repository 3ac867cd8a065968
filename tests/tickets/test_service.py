"""The work-order service on SQLite and PostgreSQL: create, act, edit, history, list."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.auth.policy import DataScope
from hotline.crm.customers import add_customer
from hotline.crm.screenpop import OPEN_ORDER_PROVIDERS
from hotline.errors import Invalid, NotFound
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import ContactEntry, Ticket, TicketTypeDef, User
from hotline.tickets import dispatch as rules
from hotline.tickets import service as svc
from hotline.tickets.events import publish
from hotline.tickets.service import Actor, TicketFilter
from hotline.tickets.workflow import Command, Refused, StaleVersion, TicketState

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _user(tenant_id: int, unit_id: int, name: str) -> User:
    return User(tenant_id=tenant_id, unit_id=unit_id, username=name, password_hash="x", active=True)


async def _world(factory: Any) -> dict[str, Any]:
    """grid: center → nj (city) → jn (district) → ds (station); sz (another city); a second tenant."""
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "grid", "Grid")
        center = await org.add_unit(s, t.id, "center", "Center")
        nj = await org.add_unit(s, t.id, "nj", "Nanjing", parent=center)
        jn = await org.add_unit(s, t.id, "jn", "Jiangning", parent=nj)
        ds = await org.add_unit(s, t.id, "ds", "Dongshan", parent=jn)
        sz = await org.add_unit(s, t.id, "sz", "Suzhou", parent=center)
        agent = _user(t.id, center.id, "li.na")
        handler = _user(t.id, ds.id, "liu.yang")
        other_handler = _user(t.id, sz.id, "zhou.x")
        s.add_all([agent, handler, other_handler])
        await s.flush()
        c1 = await add_customer(
            s,
            t.id,
            unit=jn,
            account_no="3201001001",
            name="张三",
            phone="13812340001",
            address="南京市江宁区东山街道1号",
        )
        c2 = await add_customer(s, t.id, unit=sz, account_no="3205001001", name="李四", phone="13812340002")
        other = await org.add_tenant(s, "other", "Other")
        ou = await org.add_unit(s, other.id, "x", "X")
        oc = await add_customer(s, other.id, unit=ou, account_no="3201001001", name="别家")
        return {
            "tenant": t.id,
            "other": other.id,
            "other_unit": ou.id,
            "other_customer": oc.id,
            "units": {u.code: u.id for u in (center, nj, jn, ds, sz)},
            "paths": {u.code: u.path for u in (center, nj, jn, ds, sz)},
            "agent": Actor(agent.id, "li.na", center.id),
            "handler": Actor(handler.id, "liu.yang", ds.id),
            "other_handler": other_handler.id,
            "c1": c1.id,
            "c2": c2.id,
        }


async def _create(factory: Any, w: dict[str, Any], **kw: Any) -> svc.Change:
    args: dict[str, Any] = {
        "type_code": "consultation",
        "actor": w["agent"],
        "fields": {},
        "subject": "电费咨询",
        "description": "客户询问本月电费为何升高",
        "now": NOW,
    }
    if "customer_id" not in kw:
        args["contact_phone"] = "13900001111"
    args.update(kw)
    async with transaction(factory) as s:
        return await svc.create_ticket(s, w["tenant"], **args)


async def _act(
    factory: Any, w: dict[str, Any], key: Any, action: str, actor: Actor, *, at: datetime, **kw: Any
) -> svc.Change:
    async with transaction(factory) as s:
        row = await svc.get_ticket(s, w["tenant"], key)
        cmd = Command(action, actor.name, expected_version=row.version, **kw)
        return await svc.act(s, w["tenant"], key, cmd, actor=actor, now=at)


async def test_closed_loop_with_history(factory: Any) -> None:
    w = await _world(factory)
    ch = await _create(factory, w, customer_id=w["c1"], call_id="call-1", caller_number="13812340001")
    t = ch.ticket
    # the customer's supply unit is responsible (no rules): accepted and dispatched at once
    assert t.number == f"GD20261123-{t.id:07d}"
    assert t.state == "dispatched" and t.unit_id == w["units"]["jn"] and t.version == 2
    assert t.intake_unit_id == w["units"]["center"]
    assert t.contact_name == "张三" and t.contact_phone and t.account_no == "3201001001"
    assert [e["data"]["action"] for e in ch.events if e["type"] == "ticket"] == ["created", "dispatched"]
    steps: list[tuple[str, Actor, dict[str, Any]]] = [
        ("forward", w["agent"], {"payload": {"unit": "ds", "handler": "liu.yang"}}),
        ("acknowledge", w["handler"], {}),
        ("start", w["handler"], {}),
        ("hold", w["handler"], {"payload": {"waiting_for": "customer"}}),
        ("resume", w["handler"], {}),
        ("reply", w["handler"], {"note": "已向客户解释阶梯电价", "payload": {"substantiated": False}}),
        ("review", w["agent"], {}),
        ("revisit", w["agent"], {"payload": {"satisfaction": "satisfied"}, "note": "满意"}),
        ("archive", w["agent"], {}),
    ]
    at = NOW
    for action, actor, kw in steps:
        at += timedelta(minutes=10)
        ch = await _act(factory, w, t.id, action, actor, at=at, **kw)
    t = ch.ticket
    assert t.state == "archived" and t.closed_at == at and t.version == 2 + len(steps)
    assert t.unit_id == w["units"]["ds"] and t.handler_id == w["handler"].user_id
    assert t.held_seconds == 600.0 and t.satisfaction == "satisfied" and t.substantiated is False
    async with transaction(factory) as s:
        rows = await svc.history(s, w["tenant"], t.id)
        assert [r.action for r in rows] == ["accept", "dispatch", *[a for a, _, _ in steps]]
        assert [r.version for r in rows] == list(range(1, len(rows) + 1))
        fwd = rows[2]
        assert fwd.data["unit_code"] == "ds" and fwd.data["handler_name"] == "liu.yang"
        assert rows[3].user_id == w["handler"].user_id and rows[3].actor == "liu.yang"
        # by number too; contact history: create, reply, revisit
        assert (await svc.get_ticket(s, w["tenant"], t.number)).id == t.id
        kinds = (
            await s.scalars(
                ContactEntry.__table__.select()
                .with_only_columns(ContactEntry.summary)
                .where(ContactEntry.customer_id == w["c1"], ContactEntry.kind == "ticket")
                .order_by(ContactEntry.id)
            )
        ).all()
        assert len(kinds) == 3 and kinds[0].startswith(f"{t.number} 咨询: 电费咨询")


async def test_refusals_and_not_found(factory: Any) -> None:
    w = await _world(factory)
    t = (await _create(factory, w, customer_id=w["c1"])).ticket
    with pytest.raises(Refused) as e:
        await _act(factory, w, t.id, "reply", w["handler"], at=NOW, note="done")
    assert "acknowledge" in e.value.allowed and "allowed:" in e.value.detail
    await _act(factory, w, t.id, "acknowledge", w["handler"], at=NOW)
    await _act(factory, w, t.id, "start", w["handler"], at=NOW)
    # revisit before reply: refused with the allowed actions listed
    with pytest.raises(Refused) as e:
        await _act(factory, w, t.id, "revisit", w["agent"], at=NOW, payload={"satisfaction": "satisfied"})
    assert "reply" in e.value.allowed
    # other tenant: not found, by id and by number
    async with transaction(factory) as s:
        with pytest.raises(NotFound):
            await svc.get_ticket(s, w["other"], t.id)
        with pytest.raises(NotFound):
            await svc.get_ticket(s, w["other"], t.number)
        with pytest.raises(NotFound):
            await svc.history(s, w["other"], t.id)


async def test_stale_version_and_concurrent_act(factory: Any) -> None:
    w = await _world(factory)
    t = (await _create(factory, w, customer_id=w["c1"])).ticket
    async with transaction(factory) as s:
        with pytest.raises(StaleVersion):
            await svc.act(
                s,
                w["tenant"],
                t.id,
                Command("acknowledge", "x", expected_version=1),
                actor=w["handler"],
                now=NOW,
            )

    async def attempt(action: str) -> str:
        try:
            async with transaction(factory) as s:
                await svc.act(
                    s,
                    w["tenant"],
                    t.id,
                    Command(action, "x", expected_version=2),
                    actor=w["handler"],
                    now=NOW,
                )
            return "won"
        except StaleVersion:
            return "stale"

    results = await asyncio.gather(attempt("acknowledge"), attempt("acknowledge"))
    assert sorted(results) == ["stale", "won"]
    async with transaction(factory) as s:
        row = await svc.get_ticket(s, w["tenant"], t.id)
        assert row.version == 3
        assert [h.action for h in await svc.history(s, w["tenant"], t.id)] == [
            "accept",
            "dispatch",
            "acknowledge",
        ]


async def test_forward_only_down_the_tree(factory: Any) -> None:
    w = await _world(factory)
    t = (await _create(factory, w, unit_id="nj")).ticket
    assert t.unit_id == w["units"]["nj"] and t.state == "dispatched"
    for bad in ("sz", "center", "nj", "nowhere", w["other_unit"]):
        with pytest.raises(Invalid) as e:
            await _act(factory, w, t.id, "forward", w["agent"], at=NOW, payload={"unit": bad})
        assert e.value.field == "payload.unit"
    ch = await _act(factory, w, t.id, "forward", w["agent"], at=NOW, payload={"unit": w["units"]["jn"]})
    assert ch.ticket.unit_id == w["units"]["jn"]
    # a handler of another unit cannot be named
    with pytest.raises(Invalid) as e:
        await _act(
            factory, w, t.id, "forward", w["agent"], at=NOW, payload={"unit": "ds", "handler": "zhou.x"}
        )
    assert e.value.field == "payload.handler"
    # dispatch goes anywhere: a fresh order without a unit stays at the intake unit until dispatched
    t2 = (await _create(factory, w)).ticket
    assert t2.state == "accepted" and t2.unit_id == w["units"]["center"]
    ch = await _act(factory, w, t2.id, "dispatch", w["agent"], at=NOW, payload={"unit": "sz"})
    assert ch.ticket.unit_id == w["units"]["sz"] and ch.ticket.state == "dispatched"


async def test_form_validation(factory: Any) -> None:
    w = await _world(factory)
    with pytest.raises(Invalid) as e:
        await _create(factory, w, type_code="complaint", customer_id=w["c1"], fields={"nature": "cosmic"})
    assert e.value.field in ("business_category", "nature")
    with pytest.raises(Invalid) as e:
        await _create(
            factory,
            w,
            type_code="complaint",
            customer_id=w["c1"],
            fields={"business_category": "service", "nature": "cosmic"},
        )
    assert e.value.field == "nature" and "cosmic" in e.value.detail
    with pytest.raises(Invalid) as e:
        await _create(factory, w, fields={"favourite_color": "red"})
    assert e.value.field == "favourite_color"
    with pytest.raises(Invalid) as e:
        await _create(factory, w, type_code="nonsense")
    assert e.value.field == "type"
    with pytest.raises(NotFound):
        await _create(factory, w, customer_id=w["other_customer"])
    # a complaint pre-filled from the customer, the call and the agent
    ch = await _create(
        factory,
        w,
        type_code="complaint",
        customer_id=w["c1"],
        caller_number="13812340001",
        fields={"business_category": "service", "nature": "general"},
    )
    form = ch.ticket.form
    assert form["customer_name"] == "张三" and form["receiving_agent"] == "li.na"
    assert form["intake_date"] == "2026-11-23" and form["number"] == ch.ticket.number
    assert ch.ticket.category == "service"


async def test_repeats(factory: Any) -> None:
    w = await _world(factory)
    kw: dict[str, Any] = {
        "type_code": "complaint",
        "customer_id": w["c1"],
        "fields": {"business_category": "service", "nature": "general"},
    }
    a = (await _create(factory, w, now=NOW - timedelta(days=70), **kw)).ticket
    b = (await _create(factory, w, now=NOW - timedelta(days=20), **kw)).ticket
    c = (await _create(factory, w, now=NOW, **kw)).ticket
    d = (await _create(factory, w, now=NOW, repeat_days=0, **kw)).ticket
    assert (a.repeat_of, a.repeat_count) == (None, 0)
    assert (b.repeat_of, b.repeat_count) == (None, 0)  # a is 50 days older: outside the 30-day window
    assert (c.repeat_of, c.repeat_count) == (b.id, 1)
    assert (d.repeat_of, d.repeat_count) == (None, 0)
    e = (await _create(factory, w, now=NOW + timedelta(hours=1), **kw)).ticket
    assert (e.repeat_of, e.repeat_count) == (d.id, 1)
    g = (await _create(factory, w, now=NOW + timedelta(hours=2), **kw)).ticket
    assert (g.repeat_of, g.repeat_count) == (e.id, 2)
    # consultations are not repeats by default
    f1 = (await _create(factory, w, customer_id=w["c1"])).ticket
    f2 = (await _create(factory, w, customer_id=w["c1"])).ticket
    assert f1.repeat_of is None and f2.repeat_of is None


async def test_update_fields_and_urge(factory: Any) -> None:
    w = await _world(factory)
    t = (await _create(factory, w, customer_id=w["c1"])).ticket
    async with transaction(factory) as s:
        with pytest.raises(StaleVersion):
            await svc.update_fields(
                s, w["tenant"], t.id, version=1, actor=w["agent"], changes={"subject": "x"}
            )
        ch = await svc.update_fields(
            s,
            w["tenant"],
            t.id,
            version=t.version,
            actor=w["agent"],
            changes={"subject": "Meter reading wrong", "urgency": "urgent"},
            now=NOW,
        )
        assert ch.entry is not None and ch.entry.data == {"fields": ["subject", "urgency"]}
        assert ch.ticket.version == t.version + 1 and " meter " in ch.ticket.search
        with pytest.raises(Invalid):
            await svc.update_fields(
                s, w["tenant"], t.id, version=ch.ticket.version, actor=w["agent"], changes={"state": "x"}
            )
    ch = await _act(factory, w, t.id, "urge", w["agent"], at=NOW, note="客户再次来电催促")
    assert ch.ticket.urges == 1 and ch.events[0]["data"]["action"] == "urged"
    async with transaction(factory) as s:
        orders = await svc.open_for_customer(s, w["tenant"], w["c1"])
        assert [o["id"] for o in orders] == [t.id] and orders[0]["urges"] == 1
        assert svc.open_for_customer in OPEN_ORDER_PROVIDERS
        row = await svc.get_ticket(s, w["tenant"], t.id)
        cmd = Command("cancel", "li.na", note="客户撤诉", expected_version=row.version)
        await svc.act(s, w["tenant"], t.id, cmd, actor=w["agent"], now=NOW)
    async with transaction(factory) as s:
        assert await svc.open_for_customer(s, w["tenant"], w["c1"]) == []
        row = await svc.get_ticket(s, w["tenant"], t.id)
        with pytest.raises(Refused):
            await svc.update_fields(
                s, w["tenant"], t.id, version=row.version, actor=w["agent"], changes={"subject": "y"}
            )


async def test_dispatch_rules_and_tenant_types(factory: Any) -> None:
    w = await _world(factory)
    async with transaction(factory) as s:
        await rules.create_rule(
            s, w["tenant"], {"priority": 10, "type_code": "complaint", "target_unit": "nj"}
        )
        await rules.create_rule(
            s, w["tenant"], {"priority": 20, "address_contains": "东山", "target_unit": "ds"}
        )
        with pytest.raises(Invalid):
            await rules.create_rule(s, w["tenant"], {"target_unit": w["other_unit"]})
        # a tenant type replacing the default consultation (no subject field needed)
        s.add(
            TicketTypeDef(
                tenant_id=w["tenant"], code="consultation", doc={"label": "问询"}, active=True, version=1
            )
        )
    t = (await _create(factory, w, customer_id=w["c1"])).ticket  # address contains 东山
    assert t.unit_id == w["units"]["ds"]
    t = (await _create(factory, w, customer_id=w["c2"])).ticket  # no rule: supply unit
    assert t.unit_id == w["units"]["sz"]
    async with transaction(factory) as s:
        assert (await svc.types_for(s, w["tenant"]))["consultation"].label == "问询"
        assert (await svc.types_for(s, w["other"]))["consultation"].label == "咨询"


async def test_list_filters_paging_scope_and_search(factory: Any) -> None:
    w = await _world(factory)
    made = []
    texts = [
        ("停电报修", "东山街道大面积停电"),
        ("Meter reading wrong", "The meter shows 12345 kWh"),
        ("电费咨询", "本月电费较高"),
        ("Power outage", "No power since morning, 停电"),
    ]
    for i in range(12):
        subj, desc = texts[i % 4]
        unit = ("ds", "jn", "sz")[i % 3]
        made.append(
            (
                await _create(
                    factory, w, subject=subj, description=desc, unit_id=unit, now=NOW + timedelta(minutes=i)
                )
            ).ticket
        )
    async with transaction(factory) as s:
        rows, nxt = await svc.list_tickets(s, w["tenant"], TicketFilter(limit=5), scope_paths=None)
        assert [r.id for r in rows] == [t.id for t in reversed(made)][:5] and nxt is not None
        seen = [r.id for r in rows]
        while nxt is not None:
            rows, nxt = await svc.list_tickets(
                s, w["tenant"], TicketFilter(limit=5, after=nxt), scope_paths=None
            )
            seen += [r.id for r in rows]
        assert seen == [t.id for t in reversed(made)]
        # scope: the nj subtree sees jn and ds, not sz
        rows, _ = await svc.list_tickets(
            s, w["tenant"], TicketFilter(limit=50), scope_paths=[w["paths"]["nj"]]
        )
        assert len(rows) == 8 and w["units"]["sz"] not in {r.unit_id for r in rows}
        assert (await svc.list_tickets(s, w["tenant"], TicketFilter(), scope_paths=[]))[0] == []
        rows, _ = await svc.list_tickets(
            s, w["tenant"], TicketFilter(unit_id=w["units"]["jn"]), scope_paths=None
        )
        assert len(rows) == 8
        rows, _ = await svc.list_tickets(
            s, w["tenant"], TicketFilter(unit_id=w["units"]["jn"], subtree=False), scope_paths=None
        )
        assert len(rows) == 4

        # full text, Chinese and English
        async def q(text: str) -> set[int]:
            rows, _ = await svc.list_tickets(
                s, w["tenant"], TicketFilter(q=text, limit=100), scope_paths=None
            )
            return {r.id for r in rows}

        assert await q("停电") == {t.id for t in made if "停电" in t.subject + t.description}
        assert await q("大面积停电") == {made[i].id for i in (0, 4, 8)}
        assert await q("METER 12345") == {made[i].id for i in (1, 5, 9)}
        assert await q("power morning") == {made[i].id for i in (3, 7, 11)}
        assert await q("电费 wrong") == set()
        assert await q(made[2].number) == {made[2].id}
        # the other tenant sees nothing
        assert (await svc.list_tickets(s, w["other"], TicketFilter(), scope_paths=None))[0] == []
        # overdue: flagged, or open and past due
        r0 = await svc.get_ticket(s, w["tenant"], made[0].id)
        r0.due_at = NOW
        r1 = await svc.get_ticket(s, w["tenant"], made[1].id)
        r1.overdue = True
        await s.flush()
        rows, _ = await svc.list_tickets(
            s, w["tenant"], TicketFilter(overdue=True), scope_paths=None, now=NOW + timedelta(hours=1)
        )
        assert {r.id for r in rows} == {made[0].id, made[1].id}
        rows, _ = await svc.list_tickets(
            s, w["tenant"], TicketFilter(overdue=False), scope_paths=None, now=NOW + timedelta(hours=1)
        )
        assert len(rows) == 10
        with pytest.raises(Invalid):
            await svc.list_tickets(s, w["tenant"], TicketFilter(limit=0), scope_paths=None)


async def test_publish_events() -> None:
    sent: list[tuple[int, str, dict[str, Any]]] = []

    class Hub:
        def publish(self, tenant_id: int, type: str, *, data: dict[str, Any] | None = None) -> None:
            sent.append((tenant_id, type, data or {}))

    assert publish(Hub(), 3, [{"type": "ticket", "data": {"id": 1}}]) == 1
    assert publish(None, 3, [{"type": "ticket", "data": {}}]) == 0
    assert sent == [(3, "ticket", {"id": 1})]


async def test_merge_return_reopen_and_more_filters(factory: Any) -> None:
    w = await _world(factory)
    a = (await _create(factory, w, customer_id=w["c1"], call_id="call-9")).ticket
    b = (await _create(factory, w, customer_id=w["c1"])).ticket
    c = (await _create(factory, w, customer_id=w["c2"], dispatch=False)).ticket
    assert c.state == "accepted" and c.unit_id == w["units"]["center"]
    with pytest.raises(Invalid) as e:
        await _act(factory, w, b.id, "merge", w["agent"], at=NOW, payload={"into": "GD20991231-0000001"})
    assert e.value.field == "payload.into"
    with pytest.raises(Refused, match="itself"):
        await _act(factory, w, b.id, "merge", w["agent"], at=NOW, payload={"into": b.number})
    ch = await _act(factory, w, b.id, "merge", w["agent"], at=NOW, payload={"into": a.number})
    assert ch.ticket.state == "merged" and ch.ticket.merged_into == a.id and ch.ticket.closed_at == NOW
    assert ch.entry is not None and ch.entry.data["into_number"] == a.number
    with pytest.raises(Invalid, match="closed"):
        await _act(factory, w, c.id, "merge", w["agent"], at=NOW, payload={"into": b.id})
    # return for rework and a dissatisfied revisit that reopens
    h = w["handler"]
    at = NOW
    plan: list[tuple[str, Actor, dict[str, Any]]] = [
        ("forward", w["agent"], {"payload": {"unit": "ds"}}),
        ("acknowledge", h, {}),
        ("start", h, {}),
        ("reply", h, {"note": "处理完毕"}),
        ("return", w["agent"], {"note": "未说明原因"}),
        ("reply", h, {"note": "已说明原因", "payload": {"substantiated": True}}),
        ("review", w["agent"], {}),
        ("revisit", w["agent"], {"payload": {"satisfaction": "dissatisfied", "comment": "仍未解决"}}),
        ("reopen", w["agent"], {"note": "重新处理"}),
    ]
    for action, actor, kw in plan:
        at += timedelta(minutes=1)
        ch = await _act(factory, w, a.id, action, actor, at=at, **kw)
    t = ch.ticket
    assert (t.state, t.returns, t.reopens, t.satisfaction, t.substantiated) == (
        "in_progress",
        1,
        1,
        "dissatisfied",
        True,
    )
    assert t.handler_id == h.user_id  # acknowledge made the acting handler the handler
    assert t.closed_at is None
    async with transaction(factory) as s:

        async def ids(**kw: Any) -> set[int]:
            rows, _ = await svc.list_tickets(s, w["tenant"], TicketFilter(**kw), scope_paths=None)
            return {r.id for r in rows}

        assert await ids(handler_id=h.user_id) == {a.id}
        assert await ids(state=("merged", "accepted")) == {b.id, c.id}
        assert await ids(open_only=True) == {a.id, c.id}
        assert await ids(customer_id=w["c1"]) == {a.id, b.id}
        assert await ids(account_no="3205001001") == {c.id}
        assert await ids(call_id="call-9") == {a.id}
        assert await ids(type="complaint") == set()
        assert await ids(created_from=NOW, created_to=NOW + timedelta(seconds=1)) == {a.id, b.id, c.id}
        assert await ids(created_from=NOW + timedelta(seconds=1)) == set()
        assert await ids(unit_id=w["other_unit"]) == set()
        # keyset paging through orders created at the same instant: the id breaks the tie
        seen, nxt = [], None
        while True:
            rows, nxt = await svc.list_tickets(
                s, w["tenant"], TicketFilter(limit=1, after=nxt), scope_paths=None
            )
            seen += [r.id for r in rows]
            if nxt is None:
                break
        assert seen == sorted([a.id, b.id, c.id], reverse=True)
        rows, _ = await svc.list_tickets(s, w["tenant"], TicketFilter(), scope_paths=[w["paths"]["center"]])
        assert len(rows) == 3
        rows, _ = await svc.list_tickets(s, w["tenant"], TicketFilter(), scope_paths=[w["paths"]["ds"]])
        assert [r.id for r in rows] == [a.id]
        rows, _ = await svc.list_tickets(
            s, w["tenant"], TicketFilter(unit_id=w["units"]["sz"]), scope_paths=[w["paths"]["nj"]]
        )
        assert rows == []

        # a data scope: exact units, subtrees and own (handled) tickets, OR-ed
        def scope(
            everything: bool = False,
            exact: tuple[str, ...] = (),
            sub: tuple[str, ...] = (),
            owner: int | None = None,
        ) -> DataScope:
            return DataScope(
                everything,
                frozenset(w["paths"][u] for u in exact),
                frozenset(w["paths"][u] for u in sub),
                owner,
            )

        async def visible(sc: DataScope, **kw: Any) -> set[int]:
            rows, _ = await svc.list_tickets(s, w["tenant"], TicketFilter(**kw), scope=sc)
            return {r.id for r in rows}

        assert await visible(scope(everything=True)) == {a.id, b.id, c.id}
        assert await visible(scope()) == set()
        assert await visible(scope(sub=("center",))) == {a.id, b.id, c.id}
        assert await visible(scope(exact=("center",))) == {c.id}
        assert await visible(scope(exact=("jn",))) == {b.id}
        assert await visible(scope(sub=("jn",))) == {a.id, b.id}
        assert await visible(scope(exact=("sz",), owner=h.user_id)) == {a.id}
        assert await visible(scope(owner=h.user_id)) == {a.id}
        assert await visible(scope(owner=h.user_id), unit_id=w["units"]["ds"]) == {a.id}
        assert await visible(scope(exact=("center",)), unit_id=w["units"]["jn"]) == set()
        # due before
        row = await svc.get_ticket(s, w["tenant"], c.id)
        row.due_at = NOW + timedelta(minutes=30)
        await s.flush()
        assert await ids(due_before=NOW + timedelta(hours=1)) == {c.id}
        assert await ids(due_before=NOW) == set()

    # the board's "due soon" (open, not late, due before) is a range on the open orders'
    # deadline index: the same orders as the general form of "not late"
    others = [
        # (due in, overdue flag): not yet due; due but the step done late before; passed
        (timedelta(minutes=10), False),
        (timedelta(minutes=50), True),
        (timedelta(minutes=-5), False),
        (timedelta(hours=3), False),
    ]
    extra = [(await _create(factory, w, customer_id=w["c1"])).ticket.id for _ in others]
    async with transaction(factory) as s:
        for tid, (due_in, flag) in zip(extra, others, strict=True):
            r = await svc.get_ticket(s, w["tenant"], tid)
            r.due_at, r.overdue = NOW + due_in, flag
        await s.flush()

        async def listed(**kw: Any) -> set[int]:
            rows, _ = await svc.list_tickets(s, w["tenant"], TicketFilter(**kw), scope_paths=None, now=NOW)
            return {r.id for r in rows}

        for before in (NOW, NOW + timedelta(minutes=20), NOW + timedelta(hours=1), NOW + timedelta(days=1)):
            fast = await listed(open_only=True, overdue=False, due_before=before)
            general = await listed(open_only=True, overdue=False) & await listed(due_before=before)
            assert fast == general
        assert await listed(open_only=True, overdue=False, due_before=NOW + timedelta(hours=1)) == {
            c.id,
            extra[0],
        }


_AT = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))


@given(
    st.builds(
        TicketState,
        id=st.integers(1, 10**9).map(str),
        type_code=st.sampled_from(["complaint", "fault_repair"]),
        state=st.sampled_from(["accepted", "on_hold", "replied", "archived"]),
        version=st.integers(1, 1000),
        changed_at=_AT,
        unit=st.integers(1, 10**6).map(str),
        handler=st.none() | st.integers(1, 10**6).map(str),
        held_from=st.none() | st.just("in_progress"),
        held_since=st.none() | _AT,
        held_total=st.integers(0, 10**7).map(lambda n: timedelta(seconds=n / 4)),
        replied_at=st.none() | _AT,
        substantiated=st.none() | st.booleans(),
        returns=st.integers(0, 9),
        reopens=st.integers(0, 9),
        satisfaction=st.none() | st.sampled_from(["satisfied", "dissatisfied"]),
        urges=st.integers(0, 99),
        merged_into=st.none() | st.integers(1, 10**9).map(str),
    )
)
def test_state_round_trips_through_the_row(state: TicketState) -> None:
    row = Ticket(id=int(state.id), type_code=state.type_code)
    svc.store_state(row, state)
    assert svc.state_of(row) == state
