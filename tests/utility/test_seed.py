"""The utility demo data generator on SQLite and PostgreSQL: deterministic, realistic shares,
consistent readings, bills equal to a re-pricing, payments consistent with the bills."""

from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from hotline.crm.phones import normalize_phone, phone_kind
from hotline.org import service as org
from hotline.store import migrate
from hotline.store.db import create_engine, session_factory, transaction
from hotline.store.models import (
    Bill,
    Customer,
    CustomerPhone,
    Meter,
    MeterReading,
    Outage,
    OutageArea,
    Payment,
    ServiceApplication,
)
from hotline.utility import seed as S
from hotline.utility import tariffs as T
from hotline.utility.money import ZERO

END = "2026-09"
AS_OF = date(2026, 10, 20)
NOW = datetime(2026, 10, 20, 4, 0, tzinfo=UTC)
COUNT = 3000
MONTHS = 6


async def make_tenant(factory: Any) -> int:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "util", "Utility")
        root = await org.add_unit(s, t.id, "js", "国网江苏省电力有限公司", kind="province")
        nj = await org.add_unit(s, t.id, "js.nj", "国网南京供电公司 Nanjing", kind="city", parent=root)
        jn = await org.add_unit(s, t.id, "js.nj.jn", "江宁区供电公司", kind="county", parent=nj)
        await org.add_unit(s, t.id, "js.nj.jn.ds", "东山供电所", kind="station", parent=jn)
        await org.add_unit(s, t.id, "js.sz", "国网苏州供电公司 Suzhou", kind="city", parent=root)
        return t.id


async def run(factory: Any, tenant_id: int, **kw: Any) -> S.SeedReport:
    args: dict[str, Any] = {
        "customers": COUNT,
        "months": MONTHS,
        "seed": 7,
        "end_period": END,
        "as_of": AS_OF,
        "now": NOW,
    }
    args.update(kw)
    return await S.generate(factory, tenant_id, **args)


def _json(doc: Any) -> str:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False)  # JSONB (PostgreSQL) reorders keys


async def digest(factory: Any, tenant_id: int) -> str:
    """Everything generated, without database ids and creation times."""
    async with factory() as s:
        acct = dict((await s.execute(select(Customer.id, Customer.account_no))).all())
        parts: list[tuple[Any, ...]] = []
        for c in await s.scalars(
            select(Customer).where(Customer.tenant_id == tenant_id).order_by(Customer.account_no)
        ):
            parts.append(
                (c.account_no, c.name, c.customer_class, c.voltage, c.phone, c.address, c.vip, tuple(c.tags),
                 c.feeder, c.transformer_area, c.tariff_code, c.preferred_channel, c.email)
            )  # fmt: skip
        phones = (
            await s.execute(select(CustomerPhone.customer_id, CustomerPhone.phone, CustomerPhone.kind))
        ).all()
        parts += sorted((acct[c], p, k) for c, p, k in phones)
        readings = (await s.scalars(select(MeterReading))).all()
        parts += sorted(
            (acct[r.customer_id], r.period, r.read_on, r.register_value, r.kwh_total, r.kwh_peak, r.kwh_valley,
             r.kwh_sharp, r.kwh_flat, r.demand_kw)
            for r in readings
        )  # fmt: skip
        bills = (await s.scalars(select(Bill))).all()
        period_of = {b.id: b.period for b in bills}
        parts += sorted(
            (
                acct[b.customer_id],
                b.period,
                b.amount,
                b.paid,
                b.late_fee_paid,
                b.status,
                b.settled_on,
                _json(b.lines),
            )
            for b in bills
        )
        pays = (await s.scalars(select(Payment))).all()
        parts += sorted(
            (acct[p.customer_id], p.reference, p.amount, p.channel, p.paid_at.isoformat(), p.late_fee, p.credit,
             _json([{**a, "bill_id": period_of.get(a.get("bill_id", 0))} for a in p.allocations]))
            for p in pays
        )  # fmt: skip
        outages = (await s.scalars(select(Outage).order_by(Outage.start_at))).all()
        parts += [(o.kind, o.status, o.cause, o.start_at.isoformat()) for o in outages]
    return S.digest_rows(parts)


async def test_generate_realistic_and_consistent(factory: Any) -> None:
    tenant_id = await make_tenant(factory)
    seen: list[tuple[str, int, int]] = []
    report = await run(factory, tenant_id, batch=1000, progress=lambda st, d, t: seen.append((st, d, t)))
    assert seen[:3] == [("customers", 1000, COUNT), ("customers", 2000, COUNT), ("customers", 3000, COUNT)]
    assert report.customers == COUNT and report.skipped == 0
    assert report.periods == ["2026-04", "2026-05", "2026-06", "2026-07", "2026-08", "2026-09"]
    async with factory() as s:

        async def count(model: Any) -> int:
            return int(
                await s.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id))
                or 0
            )

        counts = {
            "customers": await count(Customer),
            "customer_phones": await count(CustomerPhone),
            "meters": await count(Meter),
            "meter_readings": await count(MeterReading),
            "bills": await count(Bill),
            "payments": await count(Payment),
            "outages": await count(Outage),
            "outage_areas": await count(OutageArea),
            "service_applications": await count(ServiceApplication),
        }
        assert counts == report.rows()
        assert counts["meter_readings"] == COUNT * MONTHS == counts["bills"]
        customers = (await s.scalars(select(Customer).where(Customer.tenant_id == tenant_id))).all()
        phones = (
            await s.execute(select(CustomerPhone.customer_id, CustomerPhone.phone, CustomerPhone.kind))
        ).all()
        meters = {m.customer_id: m for m in (await s.scalars(select(Meter))).all()}
        readings = (await s.scalars(select(MeterReading).order_by(MeterReading.period))).all()
        bills = (await s.scalars(select(Bill).order_by(Bill.period))).all()
        payments = (await s.scalars(select(Payment))).all()
        outages = (await s.scalars(select(Outage))).all()
        areas = (await s.scalars(select(OutageArea))).all()
        versions = {v.id: v for v in await T.load_versions(s, tenant_id)}
    by_id = {c.id: c for c in customers}

    # classes, voltages, accounts
    shares = Counter(c.customer_class for c in customers)
    for klass, share in S.CLASS_SHARES:
        assert abs(shares[klass] / COUNT - share) < max(0.03, share * 0.35), (klass, shares)
    for c in customers:
        assert c.voltage in dict(S.VOLTAGES[c.customer_class]), c
        assert len(c.account_no) == 13 and c.account_no.isdigit()
        assert c.address.startswith(("南京市", "苏州市")) and c.name and c.feeder and c.transformer_area
        if c.address.startswith("南京市"):
            assert c.address.startswith("南京市江宁区")  # the station's county names the district
    assert any(c.vip for c in customers)
    assert sum(1 for c in customers if c.customer_class == "large_industry" and c.vip) >= 1
    per_ta = Counter((c.feeder, c.transformer_area) for c in customers)
    assert max(per_ta.values()) <= S.TA_SIZE

    # phones: normalised, the primary one among the customer's rows, some shared by 2-4 accounts
    of_customer: dict[int, list[str]] = defaultdict(list)
    for cid, phone, kind in phones:
        assert normalize_phone(phone) == phone and phone_kind(phone) == kind
        of_customer[cid].append(phone)
    for c in customers:
        assert c.phone in of_customer[c.id] and 1 <= len(of_customer[c.id]) <= 3
    owners = Counter(p for _cid, p, _k in phones)
    shared = [p for p, k in owners.items() if k > 1]
    assert 0.01 < len(shared) / len(owners) < 0.1
    assert max(owners.values()) <= 4
    assert sum(1 for _c, p, _k in phones if not p.startswith("+861")) > 0.03 * len(phones)  # landlines

    # readings: one per customer and period, registers add up, seasonal and class-shaped
    per_customer: dict[int, list[Any]] = defaultdict(list)
    for r in readings:
        per_customer[r.customer_id].append(r)
        parts = r.kwh_sharp + r.kwh_peak + r.kwh_flat + r.kwh_valley
        kind = meters[r.customer_id].kind
        if kind == "single":
            assert parts == ZERO and r.demand_kw == ZERO
        else:
            assert parts == r.kwh_total, r
        assert (r.demand_kw > 0) == (kind == "demand")
        assert r.kwh_total > 0 and r.read_on == S.month_end(r.period)
    for cid, rs in per_customer.items():
        assert [r.period for r in rs] == report.periods
        registers = [r.register_value for r in rs]
        assert registers == sorted(registers)
        m = meters[cid]
        for a, b in itertools.pairwise(rs):
            assert (b.register_value - a.register_value) * m.multiplier == b.kwh_total
    residents = sorted(
        r.kwh_total for r in readings if by_id[r.customer_id].customer_class == "urban_resident"
    )
    assert D(100) < residents[len(residents) // 2] < D(300)
    industry = [r.kwh_total for r in readings if by_id[r.customer_id].customer_class == "large_industry"]
    assert sum(industry) / len(industry) > D(100_000)
    july = sum(
        r.kwh_total
        for r in readings
        if r.period == "2026-07" and by_id[r.customer_id].customer_class in S.RESIDENTS
    )
    april = sum(
        r.kwh_total
        for r in readings
        if r.period == "2026-04" and by_id[r.customer_id].customer_class in S.RESIDENTS
    )
    assert july > april * D("1.4")  # summer peak

    # bills: exactly what the tariff code prices (the bill run's choice and year-to-date tiers)
    reading_of = {(r.customer_id, r.period): r for r in readings}
    ytd: dict[int, D] = defaultdict(lambda: ZERO)
    for b in bills:
        c = by_id[b.customer_id]
        r = reading_of[(b.customer_id, b.period)]
        version = versions[b.tariff_id]
        book = T.TariffBook(list(versions.values()), S.month_end(b.period))
        assert book.find(c.customer_class, c.voltage, c.tariff_code) == version
        usage = T.Usage(
            period=b.period,
            kwh_total=r.kwh_total,
            kwh_sharp=r.kwh_sharp,
            kwh_peak=r.kwh_peak,
            kwh_flat=r.kwh_flat,
            kwh_valley=r.kwh_valley,
            demand_kw=r.demand_kw,
            year_to_date_kwh=ytd[b.customer_id],
        )
        lines = T.price(version.spec, usage)
        assert b.amount == T.total(lines) and b.lines == T.lines_json(lines) and b.kwh == r.kwh_total
        ytd[b.customer_id] += b.kwh
        assert b.issued_on == S.issue_day(b.period) and (b.due_on - b.issued_on).days == 24

    # payments: allocations add up to the bills' paid amounts; statuses follow
    principal: dict[int, D] = defaultdict(lambda: ZERO)
    fees: dict[int, D] = defaultdict(lambda: ZERO)
    references = set()
    for p in payments:
        assert p.channel in ("bank", "online", "counter", "agent")
        assert p.paid_at.date() <= AS_OF
        references.add((p.channel, p.reference))
        used = ZERO
        spent = ZERO
        for a in p.allocations:
            if "credit_used" in a:
                used += D(a["credit_used"])
                continue
            principal[a["bill_id"]] += D(a["principal"])
            fees[a["bill_id"]] += D(a["late_fee"])
            spent += D(a["principal"]) + D(a["late_fee"])
        assert p.amount + used == spent + p.credit
        assert p.late_fee == sum((D(a["late_fee"]) for a in p.allocations if "late_fee" in a), ZERO)
    assert len(references) == len(payments)
    for b in bills:
        assert b.paid == principal[b.id] and b.late_fee_paid == fees[b.id]
        assert (b.status == "paid") == (b.paid == b.amount) and (b.settled_on is not None) == (
            b.status == "paid"
        )
        assert b.status == "open" or b.paid > 0 or b.status == "paid"
    paid_late = sum(1 for b in bills if b.late_fee_paid > 0)
    assert paid_late > 0.005 * len(bills)
    overdue = {b.customer_id for b in bills if b.status != "paid" and b.due_on < AS_OF}
    assert 0.005 * COUNT < len(overdue) < 0.06 * COUNT  # about 2 % keep arrears
    current = [b for b in bills if b.period == END]
    assert 0.1 < sum(1 for b in current if b.status == "paid") / len(current) < 0.99  # due 2026-10-25
    assert any(p.credit > 0 for p in payments)

    # outages on the generated grid: restored ones, one or two active, one planned soon
    grid = {(c.feeder, c.transformer_area) for c in customers}
    feeders = {f for f, _t in grid}
    status = Counter(o.status for o in outages)
    assert status["restored"] > 10 and 1 <= status["active"] <= 2 and status["scheduled"] == 1
    for o in outages:
        if o.status == "active":
            assert o.start_at < NOW < o.expected_end_at  # type: ignore[operator]
        if o.status == "scheduled":
            assert NOW < o.start_at < NOW.replace(day=NOW.day + 5)
    for a in areas:
        assert a.feeder in feeders and (a.transformer_area == "" or (a.feeder, a.transformer_area) in grid)
    assert report.applications > 0


async def test_deterministic_idempotent_and_more(factory: Any, tmp_path: Path) -> None:
    tenant_id = await make_tenant(factory)
    first = await run(factory, tenant_id, customers=600)
    assert first.customers == 600
    again = await run(factory, tenant_id, customers=600)
    assert again.customers == 0 and again.skipped == 600 and again.rows()["payments"] == 0
    assert any("nothing added" in n for n in again.notes)
    expected = await digest(factory, tenant_id)

    # the same seed on a fresh database, other batches: the same data
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    await migrate.upgrade(engine)
    other = session_factory(engine)
    try:
        other_tenant = await make_tenant(other)
        await run(other, other_tenant, customers=600, batch=250)
        assert await digest(other, other_tenant) == expected
        different = await run(other, other_tenant, customers=0)
        assert different.customers == 0
    finally:
        await engine.dispose()

    more = await run(factory, tenant_id, customers=100, start_account=601, outages=False, payments=False)
    assert more.customers == 100 and more.payments == 0 and more.bills == 100 * MONTHS
    async with factory() as s:
        assert (
            await s.scalar(select(func.count()).select_from(Customer).where(Customer.tenant_id == tenant_id))
            == 700
        )
        unpaid = await s.scalar(
            select(func.count()).select_from(Bill).where(Bill.tenant_id == tenant_id, Bill.status == "open")
        )
        assert unpaid and unpaid >= 100 * MONTHS


async def test_readings_only_and_other_seed(factory: Any) -> None:
    tenant_id = await make_tenant(factory)
    a = await run(factory, tenant_id, customers=200, bills=False, outages=False, units=["js.sz"])
    assert a.bills == 0 and a.payments == 0 and a.outages == 0 and a.readings == 200 * MONTHS
    async with factory() as s:
        addresses = (await s.scalars(select(Customer.address).where(Customer.tenant_id == tenant_id))).all()
    assert all(x.startswith("苏州市") for x in addresses)


def test_drafts_are_pure() -> None:
    areas = [
        S.unit_area(4, "js.nj.jn.ds", ["东山供电所", "江宁区供电公司", "国网南京供电公司 Nanjing"]),
        S.unit_area(5, "js.sz", ["国网苏州供电公司 Suzhou", "国网江苏省电力有限公司"]),
    ]
    assert areas[0].city == "南京" and areas[0].districts == ("江宁区",) and areas[0].town == "东山街道"
    assert areas[1].city == "苏州" and areas[1].city_code == "3205" and len(areas[1].districts) > 3
    periods = S.periods_ending("2026-02", 4)
    assert periods == ["2025-11", "2025-12", "2026-01", "2026-02"]
    one = S.draft_customer(3, 17, areas, periods, date(2026, 3, 5))
    assert one == S.draft_customer(3, 17, areas, periods, date(2026, 3, 5))
    assert one != S.draft_customer(4, 17, areas, periods, date(2026, 3, 5))
    assert one.account_no == "3205050000017"


@pytest.mark.parametrize(
    "period,k,expected", [("2026-01", -1, "2025-12"), ("2025-12", 1, "2026-01"), ("2026-05", 24, "2028-05")]
)
def test_add_months(period: str, k: int, expected: str) -> None:
    assert S.add_months(period, k) == expected
