"""The accounts API: reads through the billing back-end (audited, money as strings), payments
(idempotent), readings (validated), the late-fee rule, RBAC and tenant isolation."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select

from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import (
    AuditEntry,
    Bill,
    Customer,
    MeterReading,
    ServiceApplication,
    Tenant,
    User,
)
from tests.conftest import token_for

D = Decimal
ACC = "3201999001"  # commercial, js.nj.jn.ds (covered by the js.nj agents)
ACC_SZ = "3205999001"  # js.sz: outside the js.nj agents' subtree


def db(client: AsyncClient) -> Any:
    return client.app.state.hotline.db  # type: ignore[attr-defined]


async def _setup(client: AsyncClient) -> dict[str, int]:
    async with transaction(db(client)) as s:
        tid = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        assert tid is not None
        ds = await org.get_unit(s, tid, "js.nj.jn.ds")
        sz = await org.get_unit(s, tid, "js.sz")
        c = Customer(
            tenant_id=tid, unit_id=ds.id, account_no=ACC, name="东山茶楼", customer_class="commercial"
        )
        c2 = Customer(
            tenant_id=tid, unit_id=sz.id, account_no=ACC_SZ, name="平江书店", customer_class="commercial"
        )
        s.add_all([c, c2])
        await s.flush()
        for i, (period, amount) in enumerate(
            [("2026-08", "300.00"), ("2026-09", "200.00"), ("2026-10", "100.00")]
        ):
            issued = date(2026, 9 + i, 1)
            lines = [
                {"code": "flat", "label": "电度电费", "kwh": "400.00", "price": "0.75", "amount": amount}
            ]
            s.add(
                Bill(
                    tenant_id=tid,
                    customer_id=c.id,
                    period=period,
                    kwh=D("400.00"),
                    amount=D(amount),
                    issued_on=issued,
                    due_on=issued + timedelta(24),
                    lines=lines,
                )
            )
            s.add(
                MeterReading(
                    tenant_id=tid,
                    customer_id=c.id,
                    meter_no="M1",
                    period=period,
                    read_on=issued,
                    register_value=D(1000 + 400 * i),
                    kwh_total=D("400.00"),
                )
            )
        s.add(ServiceApplication(tenant_id=tid, customer_id=c.id, kind="capacity_increase", status="survey"))
        s.add(
            Bill(
                tenant_id=tid,
                customer_id=c2.id,
                period="2026-10",
                amount=D("50.00"),
                issued_on=date(2026, 11, 1),
                due_on=date(2026, 11, 25),
            )
        )
        lina = await s.scalar(select(User.id).where(User.tenant_id == tid, User.username == "li.na"))
        return {"tenant_id": tid, "customer_id": c.id, "li.na": lina or 0}


async def test_reads_are_audited_and_money_is_text(client_on: AsyncClient) -> None:
    ids = await _setup(client_on)
    h = await token_for(client_on, "li.na")
    base = f"/api/v1/accounts/{ACC}"
    r = await client_on.get(base, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "东山茶楼" and r.json()["customer_id"] == ids["customer_id"]

    # Worked example, as of 2026-11-20, commercial 0.2 %/day (all days in 2026):
    # 2026-08 300.00 due 2026-09-25: 56 days → 300 × 0.002 × 56 = 33.60
    # 2026-09 200.00 due 2026-10-25: 26 days → 200 × 0.002 × 26 = 10.40
    # 2026-10 100.00 due 2026-11-25: not due. Late fee 44.00; due 600.00 + 44.00 = 644.00.
    r = await client_on.get(base + "/balance", params={"on": "2026-11-20"}, headers=h)
    assert r.status_code == 200, r.text
    b = r.json()
    assert b == {
        "account_no": ACC,
        "as_of": "2026-11-20",
        "unpaid": "600.00",
        "arrears": "500.00",
        "late_fee": "44.00",
        "credit": "0.00",
        "amount_due": "644.00",
        "overdue_bills": 2,
        "next_due_on": "2026-11-25",
        "ageing": {"0-30": "200.00", "31-90": "300.00", "91-180": "0.00", "181-365": "0.00", "365+": "0.00"},
    }
    # on 2027-01-10 the 2026 bills are cross-year: 2026-10 (due 2026-11-25): 36 days in 2026
    # (100 × 0.002 × 36 = 7.20) + 10 in 2027 (100 × 0.003 × 10 = 3.00) = 10.20
    r = await client_on.get(base + "/balance", params={"on": "2027-01-10"}, headers=h)
    fee = D("300") * D("0.002") * 97 + D("300") * D("0.003") * 10  # 58.20 + 9.00
    fee += D("200") * D("0.002") * 67 + D("200") * D("0.003") * 10  # 26.80 + 6.00
    fee += D("10.20")
    assert r.json()["late_fee"] == str(fee.quantize(D("0.01"))) == "110.20"

    page = (await client_on.get(base + "/bills", params={"limit": 2, "offset": 1}, headers=h)).json()
    assert [x["period"] for x in page["items"]] == ["2026-09", "2026-08"]
    assert page["items"][0]["amount"] == "200.00" and page["items"][0]["outstanding"] == "200.00"
    one = (await client_on.get(base + "/bills/2026-10", headers=h)).json()
    assert one["lines"] == [
        {"code": "flat", "label": "电度电费", "kwh": "400.00", "price": "0.75", "amount": "100.00"}
    ]
    assert (await client_on.get(base + "/bills/2026-13", headers=h)).status_code == 422
    assert (await client_on.get(base + "/bills/2025-01", headers=h)).status_code == 404
    readings = (await client_on.get(base + "/readings", params={"limit": 1}, headers=h)).json()["items"]
    assert readings == [
        {
            "period": "2026-10",
            "read_on": "2026-11-01",
            "register_value": "1800.00",
            "kwh_total": "400.00",
            "kwh_sharp": "0.00",
            "kwh_peak": "0.00",
            "kwh_flat": "0.00",
            "kwh_valley": "0.00",
            "demand_kw": "0.00",
            "source": "remote",
        }
    ]
    assert (await client_on.get(base + "/payments", headers=h)).json()["items"] == []
    apps = (await client_on.get(base + "/applications", headers=h)).json()
    assert [a["kind"] for a in apps] == ["capacity_increase"]
    assert (await client_on.get("/api/v1/accounts/0000000000", headers=h)).status_code == 404
    async with db(client_on)() as s:
        reads = (
            await s.scalars(
                select(AuditEntry).where(AuditEntry.action == "billing.read").order_by(AuditEntry.id)
            )
        ).all()
    assert [e.detail["what"] for e in reads] == [
        "account", "balance", "balance", "bills", "bill", "bill", "readings", "payments", "applications",
    ]  # fmt: skip
    assert all(e.resource_id == str(ids["customer_id"]) and e.actor == "li.na" for e in reads)


async def test_payments_are_idempotent_and_applied(client_on: AsyncClient) -> None:
    ids = await _setup(client_on)
    h = await token_for(client_on, "li.na")
    url = f"/api/v1/accounts/{ACC}/payments"
    body = {"amount": "700.00", "channel": "agent", "reference": "AG-1", "call_id": "c-42"}
    r = await client_on.post(url, json=body, headers=h)
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["amount"] == "700.00" and p["agent_id"] == ids["li.na"] and p["call_id"] == "c-42"
    assert [a["period"] for a in p["allocations"]] == ["2026-08", "2026-09", "2026-10"]
    assert sum(D(a["principal"]) for a in p["allocations"]) == D("600.00")
    total_fee = D(p["late_fee"])
    assert D(p["credit"]) == D("100.00") - total_fee  # the rest of 700.00 is credit
    again = await client_on.post(url, json=body, headers=h)
    assert again.status_code == 200 and again.json()["id"] == p["id"]
    clash = await client_on.post(url, json={**body, "amount": "701.00"}, headers=h)
    assert clash.status_code == 409 and "AG-1" in clash.json()["detail"]
    assert clash.headers["content-type"] == "application/problem+json"
    for bad in (
        {"amount": "1.234"},
        {"amount": "0"},
        {"amount": "-3"},
        {"amount": 12.5},
        {"channel": "cash"},
        {"reference": ""},
    ):
        r = await client_on.post(url, json={**body, "reference": "AG-bad", **bad}, headers=h)
        assert r.status_code == 422, (bad, r.text)
    listed = (await client_on.get(url, headers=h)).json()["items"]
    assert [x["id"] for x in listed] == [p["id"]]
    bal = (await client_on.get(f"/api/v1/accounts/{ACC}/balance", headers=h)).json()
    assert bal["unpaid"] == "0.00" and bal["amount_due"] == "0.00" and bal["credit"] == p["credit"]
    async with db(client_on)() as s:
        n = await s.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "billing.payment")
        )
    assert n == 1


async def test_readings_validated(app_client: AsyncClient) -> None:
    await _setup(app_client)
    h = await token_for(app_client, "zhang.wei")
    url = f"/api/v1/accounts/{ACC}/readings"
    ok = {
        "period": "2026-11",
        "read_on": "2026-12-01",
        "register_value": "2150.00",
        "kwh_peak": "100",
        "kwh_flat": "150.5",
        "kwh_valley": "99.5",
    }
    r = await app_client.post(url, json=ok, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["kwh_total"] == "350.00" and r.json()["source"] == "manual"
    bad = [
        ({**ok, "period": "2026-12", "kwh_total": "351.00"}, 422, "kwh_total"),
        ({**ok, "period": "2026-11"}, 409, "period"),
        ({**ok, "period": "2026-07"}, 422, "period"),
        ({**ok, "period": "2026-13"}, 422, "period"),
        ({**ok, "period": "2026-12", "register_value": "2000.00"}, 422, "register_value"),
        ({**ok, "period": "2026-12", "kwh_peak": "-1"}, 422, "kwh_peak"),
        ({**ok, "period": "2026-12", "read_on": "2026-11-30"}, 422, "read_on"),
        ({**ok, "period": "2026-12", "register_value": "1.001"}, 422, "register_value"),
        ({**ok, "period": "2026-12", "register_value": "99999999999999999999"}, 422, "register_value"),
    ]
    for body, status, field in bad:
        r = await app_client.post(url, json=body, headers=h)
        assert r.status_code == status, (body, r.text)
        assert field in r.text, r.text


async def test_rbac_and_other_tenants(app_client: AsyncClient) -> None:
    ids = await _setup(app_client)
    lina = await token_for(app_client, "li.na")
    assert (await app_client.get(f"/api/v1/accounts/{ACC}/balance", headers=lina)).status_code == 200
    r = await app_client.get(f"/api/v1/accounts/{ACC_SZ}/balance", headers=lina)
    assert r.status_code == 403, r.text  # js.sz is outside li.na's js.nj subtree
    pay = {"amount": "1.00", "channel": "agent", "reference": "SZ-1"}
    assert (
        await app_client.post(f"/api/v1/accounts/{ACC_SZ}/payments", json=pay, headers=lina)
    ).status_code == 403
    viewer = await token_for(app_client, "sun.li")
    assert (await app_client.get(f"/api/v1/accounts/{ACC}", headers=viewer)).status_code == 403
    handler = await token_for(app_client, "liu.yang")  # handler at js.nj.jn.ds: reads, cannot pay
    assert (await app_client.get(f"/api/v1/accounts/{ACC}/bills", headers=handler)).status_code == 200
    assert (
        await app_client.post(f"/api/v1/accounts/{ACC}/payments", json=pay, headers=handler)
    ).status_code == 403
    # another tenant's account: 404, like one that does not exist
    async with transaction(db(app_client)) as s:
        t = await org.add_tenant(s, "other", "Other utility")
        u = await org.add_unit(s, t.id, "hq", "HQ")
        s.add(Customer(tenant_id=t.id, unit_id=u.id, account_no="9999000001", name="B customer"))
    admin = await token_for(app_client, "admin")
    for path in ("", "/balance", "/bills", "/bills/2026-10", "/payments", "/readings", "/applications"):
        r = await app_client.get(f"/api/v1/accounts/9999000001{path}", headers=admin)
        assert r.status_code == 404, (path, r.text)
    r = await app_client.post("/api/v1/accounts/9999000001/payments", json=pay, headers=admin)
    assert r.status_code == 404
    async with db(app_client)() as s:
        denied = await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.outcome == "denied", AuditEntry.action == "billing.read")
        )
    assert denied and ids


async def test_late_fee_rule(app_client: AsyncClient) -> None:
    await _setup(app_client)
    lina = await token_for(app_client, "li.na")
    url = "/api/v1/billing/late-fee-rule"
    r = await app_client.get(url, headers=lina)
    assert r.status_code == 200
    assert r.json() == {
        "resident_rate": "0.001",
        "current_year_rate": "0.002",
        "cross_year_rate": "0.003",
        "minimum": "1.00",
        "grace_days": 0,
        "resident_classes": ["urban_resident", "rural_resident"],
    }
    new = {**r.json(), "current_year_rate": "0.001", "minimum": "0"}
    assert (await app_client.put(url, json=new, headers=lina)).status_code == 403
    assert (await app_client.get(url, headers=await token_for(app_client, "sun.li"))).status_code == 403
    admin = await token_for(app_client, "admin")
    bad = await app_client.put(url, json={**new, "cross_year_rate": "0.5"}, headers=admin)
    assert bad.status_code == 422 and "cross_year_rate" in bad.text
    r = await app_client.put(url, json=new, headers=admin)
    assert r.status_code == 200 and r.json()["minimum"] == "0.00"
    # half the default fee now: 300 × 0.001 × 56 + 200 × 0.001 × 26 = 16.80 + 5.20
    bal = (
        await app_client.get(f"/api/v1/accounts/{ACC}/balance", params={"on": "2026-11-20"}, headers=lina)
    ).json()
    assert bal["late_fee"] == "22.00"
