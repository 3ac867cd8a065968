"""The built-in billing back-end answers every BillingBackend question from the Hotline tables
(SQLite and PostgreSQL), and turns database failures into BackendUnavailable."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from hotline.org import service as org
from hotline.store.db import session_factory, transaction
from hotline.store.models import (
    Bill,
    Customer,
    MeterReading,
    Outage,
    OutageArea,
    ServiceApplication,
)
from hotline.utility.backend import BackendUnavailable, BillingBackend, UnknownAccount
from hotline.utility.builtin import BuiltinBackend
from hotline.utility.latefees import LateFeeRule, save_rule
from hotline.utility.payments import record_payment

D = Decimal
NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


async def _world(factory: Any) -> int:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "bb", "Backend")
        u = await org.add_unit(s, t.id, "u", "Unit")
        c = Customer(
            tenant_id=t.id,
            unit_id=u.id,
            account_no="3201000001",
            name="周建国",
            customer_class="commercial",
            voltage="380V",
            address="南京市江宁区东山街道 1 号",
            feeder="F10",
            transformer_area="TA-3",
            tariff_code="commercial-flat",
        )
        other = Customer(tenant_id=t.id, unit_id=u.id, account_no="3201000002", name="邻居", feeder="F99")
        s.add_all([c, other])
        await s.flush()
        for i, (period, amount) in enumerate(
            [("2026-08", "300.00"), ("2026-09", "200.00"), ("2026-10", "100.00")]
        ):
            issued = date(2026, 9 + i, 1)
            s.add(
                Bill(
                    tenant_id=t.id,
                    customer_id=c.id,
                    period=period,
                    kwh=D("400.00"),
                    amount=D(amount),
                    issued_on=issued,
                    due_on=issued + timedelta(24),
                    lines=[
                        {
                            "code": "flat",
                            "label": "电度电费",
                            "kwh": "400.00",
                            "price": "0.75",
                            "amount": amount,
                        }
                    ],
                )
            )
        for i, period in enumerate(["2026-08", "2026-09", "2026-10"]):
            s.add(
                MeterReading(
                    tenant_id=t.id,
                    customer_id=c.id,
                    meter_no="M1",
                    period=period,
                    read_on=date(2026, 9 + i, 1),
                    register_value=D(1000 + 400 * i),
                    kwh_total=D("400.00"),
                )
            )
        outages = [
            ("active", "unplanned", NOW - timedelta(hours=1), [("F10", "")]),  # whole feeder
            ("scheduled", "planned", NOW + timedelta(days=3), [("F10", "TA-3")]),  # their area
            ("scheduled", "planned", NOW + timedelta(days=10), [("F10", "TA-3")]),  # too far ahead
            ("scheduled", "planned", NOW + timedelta(days=1), [("F10", "TA-9")]),  # another area
            ("restored", "unplanned", NOW - timedelta(days=1), [("F10", "")]),  # over
        ]
        for status, kind, start, areas in outages:
            o = Outage(
                tenant_id=t.id,
                unit_id=u.id,
                kind=kind,
                status=status,
                cause=f"{kind} {status}",
                start_at=start,
            )
            s.add(o)
            await s.flush()
            s.add_all(
                OutageArea(tenant_id=t.id, outage_id=o.id, feeder=f, transformer_area=a) for f, a in areas
            )
        s.add(
            ServiceApplication(
                tenant_id=t.id,
                customer_id=c.id,
                kind="capacity_increase",
                status="survey",
                submitted_at=NOW - timedelta(days=5),
                steps=[{"step": "accepted", "at": "2026-11-15", "note": ""}],
            )
        )
        return t.id


async def test_every_method(factory: Any) -> None:
    tid = await _world(factory)
    b = BuiltinBackend(factory)
    assert isinstance(b, BillingBackend)
    acc = await b.account(tid, "3201000001")
    assert acc is not None and acc.name == "周建国" and acc.voltage == "380V" and acc.customer_id
    assert await b.account(tid, "nope") is None
    assert await b.account(tid + 999, "3201000001") is None  # another tenant

    bills = await b.bills(tid, "3201000001")
    assert [x.period for x in bills] == ["2026-10", "2026-09", "2026-08"]
    assert bills[0].lines[0].price == D("0.75") and bills[0].outstanding == D("100.00")
    assert len(await b.bills(tid, "3201000001", limit=2)) == 2

    # as of 2026-11-20: August (due 2026-09-25, 56 days) and September (due 2026-10-25, 26 days)
    # are overdue; October (due 2026-11-25) is not. Commercial 0.2 %/day:
    # 300 × 0.002 × 56 = 33.60; 200 × 0.002 × 26 = 10.40 → 44.00
    bal = await b.balance(tid, "3201000001", on=date(2026, 11, 20))
    assert (bal.unpaid, bal.arrears, bal.late_fee, bal.credit) == (D("600.00"), D("500.00"), D("44.00"), D(0))
    assert bal.amount_due == D("644.00") and bal.overdue_bills == 2
    assert bal.next_due_on == date(2026, 11, 25)
    assert bal.ageing["0-30"] == D("200.00") and bal.ageing["31-90"] == D("300.00")

    # the tenant's rule is used
    async with transaction(factory) as s:
        await save_rule(s, tid, LateFeeRule(current_year_rate=D("0.001")))
    assert (await b.balance(tid, "3201000001", on=date(2026, 11, 20))).late_fee == D("22.00")

    # pay 700.00 on 2026-11-20 (fees 22.00 + 600.00 principal, 78.00 credit)
    async with transaction(factory) as s:
        c = await s.get_one(Customer, acc.customer_id)
        await record_payment(s, tid, c, "700.00", "online", "ONL-1", paid_at=NOW)
    bal = await b.balance(tid, "3201000001", on=date(2026, 11, 20))
    assert (bal.unpaid, bal.late_fee, bal.credit, bal.amount_due) == (D(0), D(0), D("78.00"), D(0))
    assert bal.next_due_on is None
    pays = await b.payments(tid, "3201000001")
    assert [(p.amount, p.late_fee, p.credit, p.channel) for p in pays] == [
        (D("700.00"), D("22.00"), D("78.00"), "online")
    ]
    assert [x.status for x in await b.bills(tid, "3201000001")] == ["paid", "paid", "paid"]

    readings = await b.readings(tid, "3201000001", limit=2)
    assert [r.period for r in readings] == ["2026-10", "2026-09"] and readings[0].register_value == D(
        "1800.00"
    )

    outs = await b.outages(tid, "3201000001", at=NOW)
    # H5's outages_for_customer: active now, or planned within 7 days, by start time
    assert [o.cause for o in outs] == ["unplanned active", "planned scheduled"]
    assert outs[0].areas == (("F10", ""),) and outs[0].notice["zh"]
    assert await b.outages(tid, "3201000002", at=NOW) == []

    apps = await b.applications(tid, "3201000001")
    assert [(a.kind, a.status) for a in apps] == [("capacity_increase", "survey")]
    assert apps[0].steps[0]["step"] == "accepted"

    for call in (b.balance, b.bills, b.payments, b.readings, b.outages, b.applications):
        with pytest.raises(UnknownAccount):
            await call(tid, "nope")  # type: ignore[operator]


async def test_database_errors_become_backend_unavailable(tmp_path: Any) -> None:
    eng = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/dir/x.db")
    b = BuiltinBackend(session_factory(eng))
    with pytest.raises(BackendUnavailable, match="did not answer"):
        await b.balance(1, "3201000001")
    with pytest.raises(BackendUnavailable):
        await b.account(1, "3201000001")
    await eng.dispose()
    eng = create_async_engine("postgresql+asyncpg://nobody:x@127.0.0.1:9/none", connect_args={"timeout": 2})
    with pytest.raises(BackendUnavailable):
        await BuiltinBackend(session_factory(eng)).bills(1, "3201000001")
    await eng.dispose()
