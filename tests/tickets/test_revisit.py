"""Revisits: the queue of orders awaiting their revisit, recording answers (by agents and by the IVR
survey plugin ``ticket.survey``, directly and through a flow in the IVR simulator), reopening after
a dissatisfied answer (SQLite and PostgreSQL)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from hotline.auth.policy import DataScope
from hotline.crm.customers import add_customer
from hotline.errors import Invalid
from hotline.ivr import ActionContext, ActionRegistry, default_registry, parse_flow
from hotline.ivr.simulate import simulate_async
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import ContactEntry, TicketTypeDef
from hotline.tickets import ivr_actions, revisit
from hotline.tickets import service as svc
from hotline.tickets.workflow import DEFAULT_TYPES, Command, TicketType, Workflow

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
AGENT = svc.Actor(user_id=None, name="li.na")
PHONE = "13900000001"
OTHER = "13900000002"
OPINION = {"subject": "营业厅排队太久", "description": "希望增加窗口"}

# a type whose handler's reply goes straight to the revisit (no review step)
QUICK_WF = Workflow.model_validate(
    {
        "states": ["accepted", "dispatched", "replied", "revisited", "archived"],
        "initial": "accepted",
        "terminal": ["archived"],
        "transitions": [
            {"action": "dispatch", "sources": ["accepted"], "target": "dispatched"},
            {"action": "reply", "sources": ["dispatched"], "target": "replied"},
            {"action": "revisit", "sources": ["replied"], "target": "revisited"},
            {"action": "archive", "sources": ["revisited"], "target": "archived"},
        ],
    }
)


async def _world(factory: Any) -> dict[str, Any]:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "grid", "Grid")
        root = await org.add_unit(s, t.id, "js", "Jiangsu")
        a = await org.add_unit(s, t.id, "js.a", "A", parent=root)
        b = await org.add_unit(s, t.id, "js.b", "B", parent=root)
        c1 = await add_customer(s, t.id, unit=a, account_no="3201000001", name="周建国", phone=PHONE)
        c2 = await add_customer(s, t.id, unit=b, account_no="3201000002", name="吴秀英", phone=OTHER)
        quick = TicketType(
            code="quick", label="快速咨询", fields=DEFAULT_TYPES["opinion"].fields, workflow=QUICK_WF
        )
        s.add(TicketTypeDef(tenant_id=t.id, code="quick", doc=quick.model_dump(mode="json"), version=1))
        return {"tenant": t.id, "a": a, "b": b, "c1": c1.id, "c2": c2.id}


async def _order(
    factory: Any, w: dict[str, Any], customer: int, at: datetime, *, to: str, type_code: str = "opinion"
) -> int:
    """An order driven to state ``to`` (replied or reviewed) at ``at``."""
    async with transaction(factory) as s:
        ch = await svc.create_ticket(
            s, w["tenant"], type_code=type_code, actor=AGENT, fields=OPINION, customer_id=customer, now=at
        )
        tid = ch.ticket.id
        steps = ["reply"] if type_code == "quick" else ["acknowledge", "start", "reply"]
        if to == "reviewed":
            steps.append("review")
        for i, action in enumerate(steps):
            await svc.act(
                s,
                w["tenant"],
                tid,
                Command(action, "li.na", note="已处理" if action == "reply" else ""),
                actor=AGENT,
                now=at + timedelta(minutes=i + 1),
            )
        return tid


async def test_queue_and_record(factory: Any) -> None:
    w = await _world(factory)
    tid = w["tenant"]
    old = await _order(factory, w, w["c1"], NOW - timedelta(days=3), to="reviewed")
    new = await _order(factory, w, w["c2"], NOW - timedelta(days=1), to="reviewed")
    waiting_review = await _order(factory, w, w["c1"], NOW - timedelta(days=2), to="replied")
    quick = await _order(factory, w, w["c1"], NOW - timedelta(days=2), to="replied", type_code="quick")
    async with transaction(factory) as s:
        q = await revisit.queue(s, tid, now=NOW)
        assert [x.ticket.id for x in q] == [old, quick, new]  # oldest first; not the unreviewed one
        assert waiting_review not in [x.ticket.id for x in q]
        assert q[0].unit_code == "js.a" and q[0].since < q[1].since
        only_b = DataScope(False, frozenset({w["b"].path}), frozenset(), None)
        assert [x.ticket.id for x in await revisit.queue(s, tid, scope=only_b, now=NOW)] == [new]
        assert [x.ticket.id for x in await revisit.queue(s, tid, type_code="quick", now=NOW)] == [quick]
        assert [x.ticket.id for x in await revisit.queue(s, tid, customer_id=w["c2"], now=NOW)] == [new]
        with pytest.raises(Invalid):
            await revisit.queue(s, tid, limit=0)

        with pytest.raises(Invalid, match="needs a comment"):
            await revisit.record(s, tid, old, "dissatisfied", "", "call", actor=AGENT)
        with pytest.raises(Invalid) as e:
            await revisit.record(s, tid, old, "satisfied", "", "fax", actor=AGENT)
        assert e.value.field == "method"
        ch = await revisit.record(s, tid, old, "satisfied", "很好", "call", actor=AGENT, now=NOW)
        assert ch.ticket.state == "revisited" and ch.ticket.satisfaction == "satisfied"
        assert ch.entry is not None and ch.entry.data["method"] == "call"
        assert not await revisit.can_reopen(s, ch.ticket)
        ch = await revisit.record(s, tid, quick, "dissatisfied", "还是没解决", "sms", actor=AGENT, now=NOW)
        assert ch.ticket.satisfaction == "dissatisfied"
        # the quick workflow has no reopen transition: a dissatisfied answer cannot reopen it
        assert not await revisit.can_reopen(s, ch.ticket)
        assert [x.ticket.id for x in await revisit.queue(s, tid, now=NOW)] == [new]
        entries = (
            await s.scalars(
                select(ContactEntry).where(ContactEntry.customer_id == w["c1"], ContactEntry.kind == "ticket")
            )
        ).all()
        assert any("回访" in e.summary for e in entries)


def test_keyed_and_wording() -> None:
    assert ivr_actions.parse_keyed("gd20261123-0000042") == ("number", "GD20261123-0000042")
    assert ivr_actions.parse_keyed("202611230000042") == ("number", "GD20261123-0000042")
    assert ivr_actions.parse_keyed("42") == ("id", 42)
    assert ivr_actions.parse_keyed("0") is None and ivr_actions.parse_keyed("abc") is None
    assert ivr_actions.say_question("GD20261123-0000042", "zh") == (
        "您反映的问题，工单尾号零零四二，已处理完毕。请对我们的服务进行评价：满意请按1，基本满意请按2，不满意请按3。"
    )
    assert "ending 0 0 4 2" in ivr_actions.say_question("GD20261123-0000042", "en")
    assert ivr_actions.say_recorded("dissatisfied", "zh").startswith("很抱歉")
    assert ivr_actions.say_none("en") == "There is no order waiting for your rating."


def ctx_for(tid: int, factory: Any, caller: str, **variables: Any) -> ActionContext:
    return ActionContext(
        call_id="c-1", tenant_id=tid, caller=caller, variables=variables, services={"db": factory}
    )


async def test_survey_plugin(factory: Any) -> None:
    w = await _world(factory)
    tid = w["tenant"]
    first = await _order(factory, w, w["c1"], NOW - timedelta(days=3), to="reviewed")
    latest = await _order(factory, w, w["c1"], NOW - timedelta(days=1), to="reviewed")
    theirs = await _order(factory, w, w["c2"], NOW - timedelta(days=1), to="reviewed")
    async with transaction(factory) as s:
        numbers = {t: (await svc.get_ticket(s, tid, t)).number for t in (first, latest, theirs)}
    ctx = ctx_for(tid, factory, "+86" + PHONE)
    r = await ivr_actions.ticket_survey({}, ctx)
    assert r["found"] and r["ticket_id"] == latest and not r["recorded"]
    assert r["say"].startswith("您反映的问题，工单尾号")
    r = await ivr_actions.ticket_survey({"satisfaction": "9", "lang": "en"}, ctx)
    assert r["invalid"] and not r["recorded"] and r["say"].startswith("Sorry, that is not a valid choice.")
    r = await ivr_actions.ticket_survey({"satisfaction": "2"}, ctx)
    assert r["recorded"] and r["ticket_id"] == latest and r["satisfaction"] == "basically_satisfied"
    # the next one is the older order; keyed by its digits
    digits = numbers[first].replace("GD", "").replace("-", "")
    r = await ivr_actions.ticket_survey({"ticket": digits, "digit": "3"}, ctx)
    assert r["recorded"] and r["ticket_id"] == first and r["reopenable"]
    assert r["say"].startswith("很抱歉")
    # nothing left for this caller; another customer's order cannot be rated by keying its number
    r = await ivr_actions.ticket_survey({}, ctx)
    assert not r["found"] and r["say"] == "目前没有需要您评价的工单。"
    r = await ivr_actions.ticket_survey({"ticket": numbers[theirs], "digit": "1"}, ctx)
    assert not r["found"] and not r["recorded"]
    async with transaction(factory) as s:
        row = await svc.get_ticket(s, tid, first)
        assert row.state == "revisited" and row.satisfaction == "dissatisfied"
        hist = await svc.history(s, tid, first)
        assert hist[-1].actor == "ivr" and hist[-1].user_id is None and hist[-1].data["method"] == "ivr"
        assert "不满意" in hist[-1].data["comment"]
        ch = await svc.act(s, tid, first, Command("reopen", "li.na"), actor=AGENT)
        assert ch.ticket.state == "in_progress"
        assert (await svc.get_ticket(s, tid, theirs)).state == "reviewed"


SURVEY_FLOW = """
name: survey
language: zh-CN
start: find
nodes:
  find:
    type: action
    action: ticket.survey
    args: {caller: "{caller}"}
    assign: {found: found, question: say}
    next: any
    on_error: bye
  any:
    type: condition
    when: "found == true"
    then: ask
    else: bye
  ask:
    type: menu
    prompt: "{question}"
    options: {"1": rate, "2": rate, "3": rate}
    variable: rating
    max_retries: 1
    on_max_retries: bye
  rate:
    type: action
    action: ticket.survey
    args: {caller: "{caller}", satisfaction: "{rating}"}
    assign: {closing: say, recorded: recorded}
    next: thanks
    on_error: bye
  thanks:
    type: play
    prompt: "{closing}"
    next: bye
  bye: {type: hangup}
"""


def registry(tenant_id: int, services: Mapping[str, Any]) -> ActionRegistry:
    base, reg = default_registry(), ActionRegistry()
    assert "ticket.survey" in base.names()  # installed through the entry point
    for name in base.names():
        fn = base.get(name)
        assert fn is not None

        async def wrapped(args: Mapping[str, Any], c: ActionContext, fn: Any = fn) -> Mapping[str, Any]:
            return dict(await fn(args, dataclasses.replace(c, tenant_id=tenant_id, services=services)))

        reg.register(name, wrapped)
    return reg


async def test_survey_flow(factory: Any) -> None:
    w = await _world(factory)
    tid = w["tenant"]
    order = await _order(factory, w, w["c1"], NOW - timedelta(days=1), to="reviewed")
    flow = parse_flow(SURVEY_FLOW)
    t = await simulate_async(
        flow, inputs=["1"], variables={"caller": PHONE}, registry=registry(tid, {"db": factory})
    )
    text = t.text()
    assert "工单尾号" in text and "感谢您的评价，祝您生活愉快。" in text and not t.errors, text
    assert t.variables["recorded"] is True
    async with transaction(factory) as s:
        assert (await svc.get_ticket(s, tid, order)).satisfaction == "satisfied"
    t = await simulate_async(
        flow, inputs=[], variables={"caller": PHONE}, registry=registry(tid, {"db": factory})
    )
    assert [s.node for s in t.path] == ["find", "any", "bye"], t.text()


async def test_revisits_api(app_client: Any) -> None:
    from hotline.store.models import AuditEntry, Customer
    from tests.conftest import token_for

    c = app_client
    db = c.app.state.hotline.db
    async with transaction(db) as s:
        cust = {x.account_no: x for x in (await s.scalars(select(Customer))).all()}
        tid = cust["3201003001"].tenant_id
    w = {"tenant": tid}
    nj = await _order(db, w, cust["3201003001"].id, NOW - timedelta(days=2), to="reviewed")
    sz = await _order(db, w, cust["3205001001"].id, NOW - timedelta(days=1), to="reviewed")

    admin = await token_for(c, "admin")
    r = await c.get("/api/v1/tickets/revisits", headers=admin)
    assert r.status_code == 200, r.text
    items = [x for x in r.json()["items"] if x["id"] in (nj, sz)]
    assert [x["id"] for x in items] == [nj, sz]
    first = items[0]
    assert first["state"] == "reviewed" and first["reply"] == "已处理" and first["unit"] == "js.nj"
    assert first["contact_phone"] == "+8613812340003" and first["type_label"] == "意见"
    # an agent of js.nj sees only the Nanjing order; a handler of another unit none of them
    r = await c.get("/api/v1/tickets/revisits", headers=await token_for(c, "li.na"))
    assert [x["id"] for x in r.json()["items"] if x["id"] in (nj, sz)] == [nj]
    r = await c.get("/api/v1/tickets/revisits?type=complaint", headers=admin)
    assert [x["id"] for x in r.json()["items"] if x["id"] in (nj, sz)] == []
    r = await c.get("/api/v1/tickets/revisits", headers=await token_for(c, "liu.yang"))
    assert r.status_code == 200 and [x["id"] for x in r.json()["items"] if x["id"] in (nj, sz)] == []
    r = await c.get("/api/v1/tickets/revisits", headers=await token_for(c, "sun.li"))
    assert r.status_code == 403
    r = await c.get("/api/v1/tickets/revisits?unit=nowhere", headers=admin)
    assert r.status_code == 422
    async with transaction(db) as s:
        n = len((await s.scalars(select(AuditEntry).where(AuditEntry.action == "ticket.revisits"))).all())
    assert n == 4
