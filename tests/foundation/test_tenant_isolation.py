"""Tenant isolation: a user of tenant A can never read or change tenant B's data through any API.

The test walks every path of the OpenAPI document: each path parameter is filled with an id
of tenant B, each list endpoint is searched for tenant B's records, and every body that names
a unit, calendar or user points at tenant B. A new endpoint whose parameter this test does not
know fails it, so isolation is checked for endpoints added later too.
"""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from hotline.auth.policy import Role, Scope
from hotline.auth.users import GrantSpec, add_user
from hotline.crm.customers import add_customer
from hotline.org import service as org
from hotline.sip.extensions import add_extension
from hotline.store.db import transaction
from hotline.store.models import (
    AgentMessage,
    AgentMessageRecipient,
    Call,
    DispatchRule,
    IvrFlow,
    NumberRoute,
    Outage,
    QueueDef,
    Ticket,
    TicketAttachment,
    Voicemail,
)
from hotline.store.models import Webhook as WebhookRow
from hotline.store.types import utcnow
from hotline.utility.tariffs import save_tariff
from tests.conftest import token_for

PW = "Other-tenant-1"

#: Body for writes, per path template; {unit}, {user}, {cal} are tenant B's ids.
CONTROL_VERBS = (
    "hangup", "hold", "resume", "transfer/complete", "transfer/cancel", "conference", "pickup",
    "supervise/stop", "takeover", "release",
)  # fmt: skip
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/units/{unit_id}"): {"name": "hijacked"},
    ("PUT", "/api/v1/calendars/{cal_id}"): {"name": "B hours", "week": {}},
    ("PATCH", "/api/v1/users/{user_id}"): {"display_name": "hijacked"},
    ("POST", "/api/v1/users/{user_id}/password"): {"password": "Hijack-pass-1"},
    ("POST", "/api/v1/users/{user_id}/unlock"): {},
    ("PATCH", "/api/v1/customers/{customer_id}"): {"name": "hijacked"},
    ("PUT", "/api/v1/customers/{customer_id}/pin"): {"pin": "1234"},
    ("POST", "/api/v1/customers/{customer_id}/notes"): {"text": "hijacked"},
    ("PATCH", "/api/v1/extensions/{extension_id}"): {"display_name": "hijacked"},
    ("POST", "/api/v1/extensions/{extension_id}/password"): {"password": "Hijack-pass-1"},
    # name-keyed upserts: tenant A may own a record of the same name; these bodies are refused
    # (an invalid flow, a flow A does not have, a unit of B) so nothing is created in A either
    ("PUT", "/api/v1/ivr/flows/{name}"): {"source": "name: bname\nnodes: {}"},
    ("POST", "/api/v1/ivr/flows/{name}/validate"): {"source": "name: bname\nnodes: {}"},
    ("POST", "/api/v1/ivr/flows/{name}/versions/{version}/activate"): {},
    ("PUT", "/api/v1/ivr/numbers/{number}"): {"flow": "bname"},
    ("PUT", "/api/v1/queues/{name}"): {"unit": "__B_UNIT__", "settings": {}},
    ("POST", "/api/v1/agents/{user_id}/login"): {"extension": "1001"},
    ("POST", "/api/v1/agents/{user_id}/logout"): {},
    ("POST", "/api/v1/agents/{user_id}/ready"): {},
    ("POST", "/api/v1/agents/{user_id}/not-ready"): {"reason": "break"},
    ("POST", "/api/v1/agents/{user_id}/wrap-up"): {"disposition": "resolved"},
    ("PUT", "/api/v1/agents/{user_id}/profile"): {"skills": {}, "queues": []},
    ("PATCH", "/api/v1/voicemails/{voicemail_id}"): {"status": "done"},
    ("POST", "/api/v1/calls/{call_id}/flow"): {"flow": "bname"},
    # call control (a live call of B; without telephony every live call is unknown: 404)
    **{("POST", f"/api/v1/calls/{{call_id}}/{verb}"): {} for verb in CONTROL_VERBS},
    ("POST", "/api/v1/calls/{call_id}/mute"): {"muted": True},
    ("POST", "/api/v1/calls/{call_id}/dtmf"): {"digits": "1"},
    ("POST", "/api/v1/calls/{call_id}/transfer"): {"mode": "blind", "to": {"queue": "bname"}},
    ("POST", "/api/v1/calls/{call_id}/supervise"): {"mode": "listen"},
    ("POST", "/api/v1/agents/{user_id}/dial"): {"number": "1001"},
    ("POST", "/api/v1/agents/{user_id}/answer"): {},
    ("PUT", "/api/v1/webhooks/{webhook_id}"): {"name": "hijacked", "url": "https://evil.example/"},
    ("PUT", "/api/v1/codes/{kind}/{code}"): {"label_zh": "", "label_en": "x"},
    ("PUT", "/api/v1/tariffs/{code}"): {"kind": "flat", "customer_class": "agriculture", "price": "-1"},
    ("POST", "/api/v1/calls/{call_id}/reserve"): {"agent_id": 1},
    ("POST", "/api/v1/calls/{call_id}/customer"): {"customer_id": 1},
    ("POST", "/api/v1/calls/{call_id}/verification"): {"customer_id": 1, "method": "questions", "note": "x"},
    ("POST", "/api/v1/messages/{message_id}/read"): {},
    ("POST", "/api/v1/accounts/{account_no}/payments"): {
        "amount": "1.00",
        "channel": "agent",
        "reference": "x",
    },
    ("POST", "/api/v1/accounts/{account_no}/readings"): {"period": "2026-11", "register_value": "1.00"},
    ("PATCH", "/api/v1/outages/{outage_id}"): {"cause": "hijacked"},
    **{("POST", f"/api/v1/outages/{{outage_id}}/{verb}"): {} for verb in ("activate", "restore", "cancel")},
    ("PATCH", "/api/v1/tickets/{key}"): {"version": 1, "subject": "hijacked"},
    ("PUT", "/api/v1/tickets/types/{code}"): {"doc": {"label": ""}},
    ("PATCH", "/api/v1/tickets/dispatch-rules/{rule_id}"): {"name": "hijacked"},
    ("POST", "/api/v1/tickets/{key}/actions"): {"action": "urge", "version": 1, "note": "hijacked"},
}
#: answers other than 404 that still reveal nothing of tenant B
EXPECTED: dict[tuple[str, str], int] = {
    ("PUT", "/api/v1/ivr/flows/{name}"): 422,  # the invalid flow is refused before any lookup
    ("POST", "/api/v1/ivr/flows/{name}/validate"): 200,  # validates the text sent; reads nothing of B
    ("PUT", "/api/v1/ivr/numbers/{number}"): 422,  # "no active flow 'bname'" — in tenant A
    ("PUT", "/api/v1/codes/{kind}/{code}"): 422,  # empty label refused; codes are per tenant anyway
    ("PUT", "/api/v1/tariffs/{code}"): 422,  # invalid tariff refused; tariffs are per tenant anyway
    ("PUT", "/api/v1/tickets/types/{code}"): 422,  # invalid type refused; types are per tenant anyway
    ("GET", "/api/v1/billing/runs/{period}"): 200,  # tenant A's own month; reads nothing of B
}
FLOW_B = """name: bname
language: en
start: bye
nodes:
  bye: {type: hangup}
"""


async def _tenant_b(client: AsyncClient) -> dict[str, int]:
    db = client.app.state.hotline.db  # type: ignore[attr-defined]
    async with transaction(db) as s:
        t = await org.add_tenant(s, "other", "Other bank hotline")
        cal = await org.add_calendar(s, t.id, "B hours", week={"mon": [["09:00", "17:00"]]})
        root = await org.add_unit(s, t.id, "hq", "Bank HQ", kind="center", calendar=cal)
        branch = await org.add_unit(s, t.id, "br1", "Branch 1", parent=root, kind="branch")
        admin = await add_user(
            s, t.id, "admin", unit=root, password=PW, grants=[GrantSpec(Role.ADMIN, Scope.TENANT)]
        )
        agent = await add_user(s, t.id, "b.agent", unit=branch, password=PW, grants=[GrantSpec(Role.AGENT)])
        cust = await add_customer(
            s,
            t.id,
            unit=branch,
            account_no="B-000001",
            name="Bank customer",
            phone="+8613900000099",
            dedicated_agent_id=agent.id,
        )
        ext = await add_extension(s, t, "1001", "Phone-pass-b", unit=branch, user_id=agent.id)
        s.add(
            Call(
                id="b-call-1", tenant_id=t.id, unit_id=branch.id, direction="inbound", caller="+8613900000099"
            )
        )
        s.add(IvrFlow(tenant_id=t.id, name="bname", version=1, source=FLOW_B, active=True))
        s.add(QueueDef(tenant_id=t.id, unit_id=branch.id, name="bname", display_name="B queue", settings={}))
        s.add(NumberRoute(tenant_id=t.id, number="96666", flow="bname"))
        vm = Voicemail(tenant_id=t.id, call_id="b-call-1", box="bname", path="voicemail/x.wav", seconds=1.0)
        s.add(vm)
        hook = WebhookRow(
            tenant_id=t.id, name="b-crm", url="https://b.example/hook", secret="b" * 32, events=[]
        )
        s.add(hook)
        msg = AgentMessage(tenant_id=t.id, sender_id=admin.id, text="B only")
        s.add(msg)
        outage = Outage(tenant_id=t.id, unit_id=branch.id, kind="planned", start_at=utcnow())
        s.add(outage)
        b_tariff = {"kind": "flat", "customer_class": "agriculture", "effective_from": "2026-01-01"}
        await save_tariff(s, t.id, {**b_tariff, "code": "bcode", "price": "0.5"})
        ticket = Ticket(
            tenant_id=t.id, number="GD20261123-9000001", type_code="consultation", state="dispatched",
            unit_id=branch.id, customer_id=cust.id, subject="B order", search=" b order ",
        )  # fmt: skip
        s.add(ticket)
        rule = DispatchRule(tenant_id=t.id, name="B rule", target_unit_id=branch.id)
        s.add(rule)
        await s.flush()
        s.add(AgentMessageRecipient(message_id=msg.id, user_id=agent.id))
        s.add(
            TicketAttachment(
                id="b" * 32, tenant_id=t.id, ticket_id=ticket.id, filename="b.txt", content_type="text/plain",
                size=1, sha256="0" * 64,
            )
        )  # fmt: skip
        return {
            "tenant_id": t.id,
            "name": "bname",
            "version": 1,
            "number": "96666",
            "voicemail_id": vm.id,
            "unit_id": branch.id,
            "root": root.id,
            "cal_id": cal.id,
            "user_id": agent.id,
            "admin": admin.id,
            "customer_id": cust.id,
            "account_no": "B-000001",  # utility accounts API (the customer's account number)
            "period": "2026-10",
            "extension_id": ext.id,
            "outage_id": outage.id,
            "call_id": "b-call-1",
            "webhook_id": hook.id,
            "message_id": msg.id,
            "kind": "disposition",  # service codes are keyed by tenant, kind and code
            "code": "bcode",
            "key": ticket.id,  # work orders: id (or number)
            "attachment_id": "b" * 32,
            "rule_id": rule.id,
        }


async def test_no_api_reaches_another_tenant(app_client: AsyncClient) -> None:
    b = await _tenant_b(app_client)
    bh = await token_for(app_client, "b.agent", PW, tenant="other")
    # tenant B's agent reads its own customer once, so there is an audit entry to look for
    assert (await app_client.get(f"/api/v1/customers/{b['customer_id']}", headers=bh)).status_code == 200
    h = await token_for(app_client, "admin", tenant="demo")  # the most powerful user of tenant A
    spec = (await app_client.get("/api/v1/openapi.json")).json()
    checked = 0
    for path, ops in spec["paths"].items():
        params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        for method in ops:
            method = method.upper()
            if not params:
                continue
            unknown = [p for p in params if p not in b]
            assert not unknown, f"{method} {path}: add tenant-B ids for {unknown} to this test"
            url = path.format(**b)
            body = BODIES.get((method, path))
            if method in ("POST", "PUT", "PATCH"):
                assert body is not None, f"{method} {path}: add a valid body to BODIES"
                body = {k: (b["unit_id"] if v == "__B_UNIT__" else v) for k, v in body.items()}
            r = await app_client.request(method, url, headers=h, json=body)
            want = EXPECTED.get((method, path), 404)
            assert r.status_code == want, f"{method} {url} answered {r.status_code}: {r.text}"
            checked += 1
    assert checked >= 10

    # writes that name tenant B's objects in the body
    attempts = [
        ("/api/v1/units", {"code": "x", "name": "x", "parent": b["unit_id"]}),
        ("/api/v1/units", {"code": "x", "name": "x", "parent": "sgcc", "calendar": b["cal_id"]}),
        (
            "/api/v1/users",
            {"username": "x1", "password": PW, "unit": b["unit_id"], "roles": [{"role": "agent"}]},
        ),
        (
            "/api/v1/users",
            {"username": "x2", "password": PW, "unit": "js", "roles": [{"role": "agent", "unit": b["root"]}]},
        ),
        ("/api/v1/customers", {"account_no": "X-0001", "name": "x", "unit": b["unit_id"]}),
        (
            "/api/v1/customers",
            {"account_no": "X-0002", "name": "x", "unit": "js", "dedicated_agent_id": b["user_id"]},
        ),
        ("/api/v1/extensions", {"number": "3001", "password": PW, "unit": b["unit_id"]}),
        ("/api/v1/extensions", {"number": "3002", "password": PW, "unit": "js", "user_id": b["user_id"]}),
        ("/api/v1/tickets", {"type": "consultation", "subject": "x", "unit": b["unit_id"]}),
        ("/api/v1/tickets", {"type": "consultation", "subject": "x", "customer": b["customer_id"]}),
        ("/api/v1/tickets", {"type": "consultation", "subject": "x", "customer": "B-000001"}),
        ("/api/v1/tickets", {"type": "consultation", "subject": "x", "call_id": "b-call-1"}),
    ]
    for url, body in attempts:
        r = await app_client.post(url, json=body, headers=h)
        assert r.status_code == 404, f"POST {url} {body}: {r.status_code} {r.text}"

    # lists and searches never show tenant B's records
    units = (await app_client.get("/api/v1/units", params={"limit": 1000}, headers=h)).json()["items"]
    assert not {u["id"] for u in units} & {b["unit_id"], b["root"]}
    users = (await app_client.get("/api/v1/users", params={"limit": 1000}, headers=h)).json()["items"]
    assert not {u["id"] for u in users} & {b["user_id"], b["admin"]}
    calls = (await app_client.get("/api/v1/calls", params={"limit": 500}, headers=h)).json()["items"]
    assert "b-call-1" not in {c["id"] for c in calls}
    exts = (await app_client.get("/api/v1/extensions", headers=h)).json()["items"]
    assert b["extension_id"] not in {x["id"] for x in exts}
    cals = (await app_client.get("/api/v1/calendars", headers=h)).json()
    assert b["cal_id"] not in {c["id"] for c in cals}
    found = (await app_client.get("/api/v1/customers", params={"phone": "+8613900000099"}, headers=h)).json()
    assert found["items"] == []
    pop = (await app_client.get("/api/v1/screen-pop", params={"phone": "+8613900000099"}, headers=h)).json()
    assert pop["candidates"] == [] and pop["pop"] is None
    entries = (await app_client.get("/api/v1/audit", params={"limit": 1000}, headers=h)).json()
    assert all(e["actor"] != "b.agent" for e in entries)
    assert (await app_client.get("/api/v1/tenant", headers=h)).json()["slug"] == "demo"
    queues = (await app_client.get("/api/v1/queues", headers=h)).json()
    assert "bname" not in {q["name"] for q in queues} and queues
    flows = (await app_client.get("/api/v1/ivr/flows", headers=h)).json()
    assert "bname" not in {f["name"] for f in flows} and flows
    numbers = (await app_client.get("/api/v1/ivr/numbers", headers=h)).json()
    assert "96666" not in {n["number"] for n in numbers}
    vms = (await app_client.get("/api/v1/voicemails", headers=h)).json()
    assert b["voicemail_id"] not in {v["id"] for v in vms}
    agents = (await app_client.get("/api/v1/agents", headers=h)).json()
    assert b["user_id"] not in {a["user_id"] for a in agents} and agents
    hooks = (await app_client.get("/api/v1/webhooks", headers=h)).json()
    assert b["webhook_id"] not in {w["id"] for w in hooks}
    events = (await app_client.get("/api/v1/queue-events", headers=h)).json()
    assert all(e["call_id"] != "b-call-1" for e in events)
    stats = (await app_client.get("/api/v1/stats/queues", headers=h)).json()
    assert "bname" not in {q["queue"] for q in stats} and stats
    stat_agents = (await app_client.get("/api/v1/stats/agents", headers=h)).json()
    assert b["user_id"] not in {a["agent_id"] for a in stat_agents} and stat_agents
    assert all(m["text"] != "B only" for m in (await app_client.get("/api/v1/messages", headers=h)).json())
    for params in ({}, {"q": "B order"}, {"account_no": "B-000001"}, {"customer": b["customer_id"]}):
        orders = (await app_client.get("/api/v1/tickets", params=params, headers=h)).json()["items"]
        assert b["key"] not in {o["id"] for o in orders}, params
    assert (await app_client.get("/api/v1/tickets/GD20261123-9000001", headers=h)).status_code == 404
    r = await app_client.post("/api/v1/messages", json={"to_users": [b["user_id"]], "text": "x"}, headers=h)
    assert r.status_code == 422 and "no user" in r.json()["detail"]  # like an id that does not exist
    r = await app_client.post("/api/v1/messages", json={"to_unit": b["unit_id"], "text": "x"}, headers=h)
    assert r.status_code == 404

    # and tenant B's data is untouched
    bt = b["tenant_id"]
    async with app_client.app.state.hotline.db() as s:  # type: ignore[attr-defined]
        assert (await s.scalar(select(IvrFlow.source).where(IvrFlow.tenant_id == bt))) == FLOW_B
        q = await s.scalar(select(QueueDef).where(QueueDef.tenant_id == bt))
        assert q is not None and q.display_name == "B queue"
        assert (await s.scalar(select(Voicemail.status).where(Voicemail.tenant_id == bt))) == "new"
        assert (await s.scalar(select(WebhookRow.name).where(WebhookRow.tenant_id == bt))) == "b-crm"
        a_names = set(await s.scalars(select(QueueDef.name).where(QueueDef.tenant_id != bt)))
        assert "bname" not in a_names
    r = await app_client.get(f"/api/v1/customers/{b['customer_id']}", headers=bh)
    assert r.json()["name"] == "Bank customer"


async def test_same_user_name_in_two_tenants(app_client: AsyncClient) -> None:
    await _tenant_b(app_client)
    r = await app_client.post("/api/v1/auth/token", json={"username": "admin", "password": PW})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "tenant"
    await token_for(app_client, "admin", PW, tenant="other")
    r = await app_client.post(
        "/api/v1/auth/token", json={"username": "admin", "password": PW, "tenant": "demo"}
    )
    assert r.status_code == 401
