"""The bill run on SQLite and PostgreSQL: tariffs chosen, year-to-date tiers, idempotent restart."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import func, select

from hotline.errors import Conflict, Invalid
from hotline.org import service as org
from hotline.store.bulk import bulk_insert
from hotline.store.db import transaction
from hotline.store.models import Bill, Customer, MeterReading, Tariff
from hotline.utility import billrun
from hotline.utility import tariffs as T

CLASSES = [
    ("urban_resident", "220V", ""),
    ("rural_resident", "220V", ""),
    ("commercial", "380V", ""),
    ("large_industry", "10kV", ""),
    ("agriculture", "380V", ""),
    ("urban_resident", "220V", "res-tiered-tou"),
    ("large_industry", "10kV", "li-two-part-capacity"),
]


async def setup(factory: Any, n: int, *, tariffs: bool = True) -> tuple[int, list[int]]:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "util", "Utility")
        u = await org.add_unit(s, t.id, "u", "Unit")
        if tariffs:
            assert await T.load_default_tariffs(s, t.id) == 7
            assert await T.load_default_tariffs(s, t.id) == 0  # idempotent
        tenant_id, unit_id = t.id, u.id
    rows = []
    for i in range(n):
        cls, volt, code = CLASSES[i % len(CLASSES)]
        rows.append(
            {
                "tenant_id": tenant_id,
                "unit_id": unit_id,
                "account_no": f"32{i:08d}",
                "name": f"客户{i}",
                "customer_class": cls,
                "voltage": volt,
                "tariff_code": code,
                "capacity_kva": Decimal(630) if code == "li-two-part-capacity" else Decimal(0),
            }
        )
    async with factory() as s, s.begin():
        await bulk_insert(await s.connection(), Customer.__table__, rows)
        ids = list(
            (
                await s.scalars(
                    select(Customer.id).where(Customer.tenant_id == tenant_id).order_by(Customer.id)
                )
            ).all()
        )
    return tenant_id, ids


async def add_readings(
    factory: Any, tenant_id: int, ids: list[int], period: str, kwh: str = "300.00"
) -> None:
    rows = [
        {
            "tenant_id": tenant_id,
            "customer_id": cid,
            "period": period,
            "read_on": billrun.period_last_day(period),
            "kwh_total": D(kwh),
            # resident TOU meters have two registers (peak + valley), others three
            "kwh_peak": D(kwh) * 3 / 4 if i % len(CLASSES) == 5 else D(kwh) / 2,
            "kwh_valley": D(kwh) / 4,
            "demand_kw": D("50.00"),
        }
        for i, cid in enumerate(ids)
    ]
    async with factory() as s, s.begin():
        await bulk_insert(await s.connection(), MeterReading.__table__, rows)


async def test_bill_run_prices_every_class_and_reports(factory: Any) -> None:
    tenant_id, ids = await setup(factory, 23)
    await add_readings(factory, tenant_id, ids[:20], "2026-10")
    seen: list[tuple[int, int]] = []
    report = await billrun.run_bills(
        factory, tenant_id, "2026-10", batch=6, progress=lambda d, t: seen.append((d, t))
    )
    assert report.billed == 20 and report.no_reading == 3 and report.no_tariff == 0
    assert report.no_reading_accounts == ["3200000020", "3200000021", "3200000022"]
    assert seen[-1] == (23, 23) and len(seen) == 4
    assert report.issued_on == date(2026, 11, 1) and report.due_on == date(2026, 11, 25)
    async with factory() as s:
        bills = {b.customer_id: b for b in (await s.scalars(select(Bill))).all()}
        tariff_ids = {t.code: t.id for t in (await s.scalars(select(Tariff))).all()}
    assert sum((b.amount for b in bills.values()), D(0)) == report.amount
    res = bills[ids[0]]
    assert res.tariff_id == tariff_ids["res-tiered"] and res.amount == D("158.49")  # 300 × 0.5283
    assert res.lines == [
        {"code": "tier1", "label": "第一档电量", "kwh": "300.00", "price": "0.5283", "amount": "158.49"}
    ]
    com = bills[ids[2]]
    assert [ln["code"] for ln in com.lines] == ["peak", "flat", "valley", "surcharge.gov_funds"]
    assert com.amount == sum((D(ln["amount"]) for ln in com.lines), D(0))
    ind = bills[ids[3]]
    assert ind.lines[0]["code"] == "demand" and ind.lines[0]["amount"] == "2000.00"
    cap = bills[ids[6]]
    assert cap.tariff_id == tariff_ids["li-two-part-capacity"] and cap.lines[0]["amount"] == "20160.00"
    tou = bills[ids[5]]
    assert [ln["code"] for ln in tou.lines] == ["peak", "valley"]
    assert all(b.status == "open" and b.due_on == date(2026, 11, 25) for b in bills.values())

    again = await billrun.run_bills(factory, tenant_id, "2026-10")
    assert again.billed == 0 and again.already_billed == 20 and again.no_reading == 3
    async with factory() as s:
        summary = await billrun.period_summary(s, tenant_id, "2026-10")
    assert summary["bills"] == 20 and summary["readings"] == 20 and summary["amount"] == str(report.amount)


async def test_annual_tiers_use_earlier_bills_of_the_year(factory: Any) -> None:
    tenant_id, ids = await setup(factory, 1)
    for period in ("2026-01", "2026-02", "2026-03"):
        await add_readings(factory, tenant_id, ids, period, "1000.00")
    await add_readings(factory, tenant_id, ids, "2027-01", "1000.00")
    for period in ("2026-01", "2026-02", "2026-03", "2027-01"):
        await billrun.run_bills(factory, tenant_id, period)
    async with factory() as s:
        bills = {b.period: b for b in (await s.scalars(select(Bill))).all()}
    assert [ln["code"] for ln in bills["2026-01"].lines] == ["tier1"]
    assert [(ln["code"], ln["kwh"]) for ln in bills["2026-03"].lines] == [
        ("tier1", "760.00"),
        ("tier2", "240.00"),
    ]
    assert [ln["code"] for ln in bills["2027-01"].lines] == ["tier1"]  # a new year starts over


async def test_no_tariff_and_bad_readings_are_reported(factory: Any) -> None:
    tenant_id, ids = await setup(factory, 3, tariffs=False)
    async with transaction(factory) as s:
        await T.save_tariff(s, tenant_id, T.default_documents()[0])  # residents only
    await add_readings(factory, tenant_id, ids, "2026-10")
    async with factory() as s, s.begin():
        r = await s.scalar(select(MeterReading).where(MeterReading.customer_id == ids[0]))
        assert r is not None
        r.kwh_peak = D("9999.00")  # registers above the total
    report = await billrun.run_bills(factory, tenant_id, "2026-10")
    assert report.billed == 0 and report.bad_reading == 1 and report.no_tariff == 2
    assert report.no_tariff_accounts == ["3200000001", "3200000002"]
    assert "more than the total" in report.bad_reading_reasons[0]
    with pytest.raises(Invalid):
        await billrun.run_bills(factory, tenant_id, "2026-13")


async def test_a_crashed_run_resumes_without_billing_twice(factory: Any) -> None:
    tenant_id, ids = await setup(factory, 30)
    await add_readings(factory, tenant_id, ids, "2026-10")

    def crash(done: int, total: int) -> None:
        if done >= 20:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        await billrun.run_bills(factory, tenant_id, "2026-10", batch=10, progress=crash)
    async with factory() as s:
        assert await s.scalar(select(func.count()).select_from(Bill)) == 20
    report = await billrun.run_bills(
        factory, tenant_id, "2026-10", batch=7, issued_on=date(2026, 11, 3), due_days=10
    )
    assert report.billed == 10 and report.already_billed == 20
    async with factory() as s:
        rows = (await s.execute(select(Bill.customer_id, func.count()).group_by(Bill.customer_id))).all()
        late = (await s.scalars(select(Bill).order_by(Bill.customer_id.desc()).limit(1))).one()
    assert len(rows) == 30 and all(n == 1 for _, n in rows)
    assert late.issued_on == date(2026, 11, 3) and late.due_on == date(2026, 11, 13)


async def test_saved_versions_never_change_old_bills(factory: Any) -> None:
    tenant_id, ids = await setup(factory, 1)
    await add_readings(factory, tenant_id, ids, "2026-10")
    await billrun.run_bills(factory, tenant_id, "2026-10")
    doc = T.default_documents()[0]
    changed = {
        **doc,
        "tiers": [{"upto": "2760", "price": "0.6"}, {"upto": "4800", "price": "0.7"}, {"price": "0.9"}],
    }
    async with transaction(factory) as s:
        with pytest.raises(Conflict):
            await T.save_tariff(s, tenant_id, changed)
    async with transaction(factory) as s:
        await T.save_tariff(s, tenant_id, {**changed, "effective_from": "2026-11-01"})
    await add_readings(factory, tenant_id, ids, "2026-11")
    await billrun.run_bills(factory, tenant_id, "2026-11")
    async with factory() as s:
        bills = {b.period: b for b in (await s.scalars(select(Bill))).all()}
    assert bills["2026-10"].amount == D("158.49") and bills["2026-11"].amount == D("180.00")
    assert bills["2026-10"].tariff_id != bills["2026-11"].tariff_id
