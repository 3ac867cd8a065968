"""Screen pop, call linking and caller verification over the API (demo tenant)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from hotline.crm.protect import hash_pin
from hotline.cti.events import LiveEvent
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import AuditEntry, Call, ContactEntry, Customer, CustomerPhone, Tenant, Unit, User
from hotline.store.types import utcnow
from tests.conftest import token_for
from tests.crm.test_screenpop import FakeCis

PHONE = "+8613912340001"


async def _prepare(client: AsyncClient) -> dict[str, Any]:
    """Demo customers with phone rows, a second account on 周建国's number (PIN 123456 on the
    first), calls from that number, and another tenant with a call and a customer."""
    db = client.app.state.hotline.db  # type: ignore[attr-defined]
    async with transaction(db) as s:
        tid = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        assert tid is not None
        units = {u.code: u for u in (await s.scalars(select(Unit).where(Unit.tenant_id == tid))).all()}
        users = {u.username: u.id for u in (await s.scalars(select(User).where(User.tenant_id == tid))).all()}
        first = await s.scalar(
            select(Customer).where(Customer.tenant_id == tid, Customer.account_no == "3201001001")
        )
        assert first is not None
        first.pin_hash = hash_pin("123456")
        first.id_number_mask = "3201**********0011"
        second = Customer(
            tenant_id=tid,
            unit_id=units["js.nj.jn.ds"].id,
            account_no="3201001009",
            name="周建国（老宅）",
            phone=PHONE,
            address="南京市江宁区东山街道上坊村 14 号",
        )
        s.add(second)
        await s.flush()
        for c in (first, second):
            if (
                await s.scalar(
                    select(CustomerPhone.id).where(
                        CustomerPhone.customer_id == c.id, CustomerPhone.phone == PHONE
                    )
                )
                is None
            ):
                s.add(CustomerPhone(tenant_id=tid, customer_id=c.id, phone=PHONE, kind="mobile"))
        now = utcnow()
        for cid, data, ended in (
            ("c-pop-1", {}, True),
            ("c-pop-ivr", {"account": "3201001001", "verified_account": "3201001001"}, True),
        ):
            s.add(
                Call(
                    id=cid,
                    tenant_id=tid,
                    unit_id=units["js.nj"].id,
                    direction="inbound",
                    caller=PHONE,
                    dialed="95598",
                    started_at=now - timedelta(minutes=5),
                    answered_at=now - timedelta(minutes=4),
                    ended_at=now - timedelta(minutes=1) if ended else None,
                    agent_id=users["li.na"],
                    queue="billing",
                    data=data,
                )
            )
        other = await org.add_tenant(s, "elsewhere", "Elsewhere")
        ou = await org.add_unit(s, other.id, "x", "X")
        oc = Customer(tenant_id=other.id, unit_id=ou.id, account_no="7701", name="别家", phone=PHONE)
        s.add(oc)
        await s.flush()
        s.add(CustomerPhone(tenant_id=other.id, customer_id=oc.id, phone=PHONE))
        s.add(Call(id="c-other", tenant_id=other.id, direction="inbound", caller=PHONE, dialed="95598"))
        return {
            "tenant": tid,
            "first": first.id,
            "second": second.id,
            "other_customer": oc.id,
            "users": users,
        }


async def _audits(client: AsyncClient, action: str) -> list[AuditEntry]:
    db = client.app.state.hotline.db  # type: ignore[attr-defined]
    async with db() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_pop_by_phone_several_accounts_private_hidden(app_client: AsyncClient) -> None:
    env = await _prepare(app_client)
    li = await token_for(app_client, "li.na")
    r = await app_client.get("/api/v1/screen-pop", params={"phone": "139 1234 0001"}, headers=li)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["phone"] == PHONE
    assert [c["account_no"] for c in body["candidates"]] == ["3201001001", "3201001009"]
    assert body["selected"] is None and body["pop"] is None  # the agent picks
    assert body["candidates"][0]["masked_address"] == "南京市江宁区…"
    assert "上坊村" not in r.text and "7701" not in r.text

    r = await app_client.get(
        "/api/v1/screen-pop", params={"phone": PHONE, "customer_id": env["first"]}, headers=li
    )
    pop = r.json()["pop"]
    assert pop["customer"]["name"] == "周建国" and pop["customer"]["customer_class"] == "rural_resident"
    assert pop["private"] is None and pop["balance"] is None and pop["verified"] is None
    assert "0011" not in r.text and "上坊村 12" not in r.text
    # the calls from the number are the last contacts; li.na was the last agent
    calls = {x["ref"] for x in pop["last_contacts"] if x["kind"] != "ticket"}  # demo orders too
    assert calls == {"c-pop-1", "c-pop-ivr"}
    assert pop["last_agent"]["name"] == "李娜"
    assert pop["open_orders_source"] == "hotline.tickets.service"
    assert pop["open_orders"] and all(o["title"].startswith("GD") for o in pop["open_orders"])

    entries = await _audits(app_client, "customer.pop")
    assert entries[0].detail["ids"] == [env["first"], env["second"]] and entries[0].detail["selected"] is None
    assert entries[1].resource_id == str(env["first"]) and entries[1].detail["private"] is False

    # bad input, missing input, no permission
    r = await app_client.get("/api/v1/screen-pop", params={"phone": "abc"}, headers=li)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "phone", r.text
    assert (await app_client.get("/api/v1/screen-pop", headers=li)).status_code == 422
    viewer = await token_for(app_client, "sun.li")
    r = await app_client.get("/api/v1/screen-pop", params={"phone": PHONE}, headers=viewer)
    assert r.status_code == 403, r.text


async def test_call_pop_ivr_verified_and_admin_private(app_client: AsyncClient) -> None:
    env = await _prepare(app_client)
    app_client.app.state.hotline.center.billing = FakeCis()  # type: ignore[attr-defined]
    li = await token_for(app_client, "li.na")
    # the IVR identified and verified 3201001001 with its PIN: chosen, private shown
    r = await app_client.get("/api/v1/calls/c-pop-ivr/customer", headers=li)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["selected"] == env["first"] and len(body["candidates"]) == 2
    pop = body["pop"]
    assert pop["verified"] == "ivr" and pop["private_shown"]
    assert pop["private"]["address"] == "南京市江宁区东山街道上坊村 12 号"
    assert pop["private"]["id_number"] == "3201**********0011"
    assert pop["balance"]["amount_due"] == "316.90"
    assert pop["outages"][0]["notice"]["zh"] == "线路故障抢修中"
    # ... but not for the other account of the same caller
    r = await app_client.get(
        "/api/v1/calls/c-pop-ivr/customer", params={"customer_id": env["second"]}, headers=li
    )
    assert r.json()["pop"]["private"] is None
    private_reads = await _audits(app_client, "customer.private.read")
    assert [e.resource_id for e in private_reads] == [str(env["first"])]

    # a call without call data: nothing chosen
    r = await app_client.get("/api/v1/calls/c-pop-1/customer", headers=li)
    assert r.json()["selected"] is None

    # the administrator holds customer.private: private data without verification
    admin = await token_for(app_client, "admin")
    r = await app_client.get(
        "/api/v1/screen-pop", params={"phone": PHONE, "customer_id": env["second"]}, headers=admin
    )
    pop = r.json()["pop"]
    assert pop["private_shown"] and pop["verified"] is None
    assert pop["private"]["address"] == "南京市江宁区东山街道上坊村 14 号"

    # other tenants' calls and customers are 404
    r = await app_client.get("/api/v1/calls/c-other/customer", headers=li)
    assert r.status_code == 404, r.text
    r = await app_client.get("/api/v1/screen-pop", params={"customer_id": env["other_customer"]}, headers=li)
    assert r.status_code == 404, r.text
    r = await app_client.post(
        "/api/v1/calls/c-other/customer", json={"customer_id": env["first"]}, headers=li
    )
    assert r.status_code == 404, r.text
    r = await app_client.post(
        "/api/v1/calls/c-pop-1/customer", json={"customer_id": env["other_customer"]}, headers=li
    )
    assert r.status_code == 404, r.text


async def test_link_and_verify_with_pin(app_client: AsyncClient) -> None:
    env = await _prepare(app_client)
    hotline = app_client.app.state.hotline  # type: ignore[attr-defined]
    hotline.center.billing = FakeCis()
    events: list[LiveEvent] = []
    hotline.center.hub.listen(events.append)
    li = await token_for(app_client, "li.na")

    # linked to the wrong account first, then to the right one: the entry moves
    for target in (env["second"], env["first"]):
        r = await app_client.post("/api/v1/calls/c-pop-1/customer", json={"customer_id": target}, headers=li)
        assert r.status_code == 200, r.text
        assert r.json()["selected"] == target and r.json()["pop"]["private"] is None
    async with hotline.db() as s:
        call = await s.get_one(Call, "c-pop-1")
        assert call.data["customer_id"] == env["first"] and call.data["account_no"] == "3201001001"
        rows = (await s.scalars(select(ContactEntry).where(ContactEntry.ref == "c-pop-1"))).all()
        assert [(e.kind, e.customer_id) for e in rows] == [("call", env["first"])]
    linked = [e for e in events if e.type == "customer_linked"]
    assert [e.data["customer_id"] for e in linked] == [env["second"], env["first"]]
    assert linked[-1].call_id == "c-pop-1" and linked[-1].queue == "billing"
    # linking again changes nothing (no event)
    r = await app_client.post(
        "/api/v1/calls/c-pop-1/customer", json={"customer_id": env["first"]}, headers=li
    )
    assert r.status_code == 200 and len([e for e in events if e.type == "customer_linked"]) == 2

    # a wrong PIN: 422, audited, still no private data
    r = await app_client.post(
        "/api/v1/calls/c-pop-1/verification",
        json={"customer_id": env["first"], "method": "pin", "pin": "654321", "note": ""},
        headers=li,
    )
    assert r.status_code == 422 and r.json()["detail"] == "PIN does not match", r.text
    failed = await _audits(app_client, "customer.verify")
    assert [(e.outcome, e.resource_id, e.detail["call_id"]) for e in failed] == [
        ("fail", str(env["first"]), "c-pop-1")
    ]
    r = await app_client.get("/api/v1/calls/c-pop-1/customer", headers=li)
    assert r.json()["pop"]["private"] is None

    # the right PIN: verified, private data and balance shown
    r = await app_client.post(
        "/api/v1/calls/c-pop-1/verification",
        json={
            "customer_id": env["first"],
            "method": "pin",
            "pin": "123456",
            "note": "PIN told by the caller",
        },
        headers=li,
    )
    assert r.status_code == 200, r.text
    pop = r.json()["pop"]
    assert pop["verified"] == "agent" and pop["balance"]["arrears"] == "150.00"
    assert pop["private"]["phones"] == [PHONE]
    async with hotline.db() as s:
        v = await s.scalar(
            select(ContactEntry).where(ContactEntry.ref == "c-pop-1", ContactEntry.kind == "verification")
        )
        assert v is not None and v.customer_id == env["first"] and v.agent_id == env["users"]["li.na"]
        assert v.detail == {"method": "pin", "note": "PIN told by the caller"}
    verified = [e for e in events if e.type == "customer_verified"]
    assert verified and verified[0].data["method"] == "pin" and verified[0].call_id == "c-pop-1"
    assert [e.outcome for e in await _audits(app_client, "customer.verify")] == ["fail", "ok"]

    # questions: the second account, which has no PIN (a PIN check is refused)
    r = await app_client.post(
        "/api/v1/calls/c-pop-1/verification",
        json={"customer_id": env["second"], "method": "pin", "pin": "123456", "note": ""},
        headers=li,
    )
    assert r.status_code == 422 and "no PIN" in r.json()["detail"], r.text
    r = await app_client.post(
        "/api/v1/calls/c-pop-1/verification",
        json={"customer_id": env["second"], "method": "questions", "note": "last payment date and amount"},
        headers=li,
    )
    assert r.status_code == 200 and r.json()["pop"]["verified"] == "agent", r.text

    # somebody without call.control over the call cannot link or verify
    handler = await token_for(app_client, "liu.yang")
    r = await app_client.post(
        "/api/v1/calls/c-pop-1/customer", json={"customer_id": env["first"]}, headers=handler
    )
    assert r.status_code == 403, r.text


async def test_backend_failure_shows_error_and_the_rest(app_client: AsyncClient) -> None:
    env = await _prepare(app_client)
    app_client.app.state.hotline.center.billing = FakeCis("down")  # type: ignore[attr-defined]
    li = await token_for(app_client, "li.na")
    r = await app_client.get("/api/v1/calls/c-pop-ivr/customer", headers=li)
    assert r.status_code == 200, r.text
    pop = r.json()["pop"]
    assert pop["balance"] == {"error": "billing system unavailable: connection refused by cis.example"}
    assert pop["outages"] == [] and pop["outages_error"]
    assert pop["customer"]["account_no"] == "3201001001" and pop["private"]["address"]
    assert r.json()["selected"] == env["first"]


async def test_wrong_pins_are_limited_per_customer(app_client: AsyncClient) -> None:
    env = await _prepare(app_client)
    li = await token_for(app_client, "li.na")
    body = {"customer_id": env["first"], "method": "pin", "pin": "999999", "note": ""}
    for _ in range(5):
        r = await app_client.post("/api/v1/calls/c-pop-1/verification", json=body, headers=li)
        assert r.status_code == 422, r.text
    # even the right PIN is no longer checked: security questions instead
    r = await app_client.post(
        "/api/v1/calls/c-pop-1/verification", json={**body, "pin": "123456"}, headers=li
    )
    assert r.status_code == 409 and "security questions" in r.json()["detail"], r.text
    r = await app_client.post(
        "/api/v1/calls/c-pop-1/verification",
        json={"customer_id": env["first"], "method": "questions", "note": "address and last payment"},
        headers=li,
    )
    assert r.status_code == 200 and r.json()["pop"]["private_shown"], r.text


async def test_pop_with_the_builtin_backend(app_client: AsyncClient) -> None:
    """The app's own billing back-end (no bills yet for the demo customer: nothing due)."""
    env = await _prepare(app_client)
    li = await token_for(app_client, "li.na")
    r = await app_client.get("/api/v1/calls/c-pop-ivr/customer", headers=li)
    assert r.status_code == 200, r.text
    pop = r.json()["pop"]
    assert r.json()["selected"] == env["first"] and pop["verified"] == "ivr"
    assert "error" not in pop["balance"], pop["balance"]
    assert pop["balance"]["amount_due"] == "0.00" and pop["outages_error"] is None
