"""The demo tenant's utility data (hotline.seed → seed_demo_utility), read through the built-in
billing back-end as the IVR and the desk read it."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hotline.crm.protect import check_pin
from hotline.seed import DEMO_TENANT
from hotline.store.db import create_engine, session_factory
from hotline.store.models import Bill, Customer, CustomerPhone, MeterReading, Outage, OutageArea, Tenant
from hotline.utility.builtin import BuiltinBackend
from hotline.utility.seed import DEMO_ACCOUNTS, DEMO_PIN


@pytest.fixture
async def demo(tmp_path: Path, demo_db_template: Path) -> AsyncIterator[tuple[Any, int]]:
    db = tmp_path / "demo.db"
    shutil.copyfile(demo_db_template, db)
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    factory = session_factory(engine)
    async with factory() as s:
        tenant_id = await s.scalar(select(Tenant.id).where(Tenant.slug == DEMO_TENANT))
    assert tenant_id is not None
    yield factory, tenant_id
    await engine.dispose()


async def test_demo_customers_grid_phones_pins(demo: tuple[Any, int]) -> None:
    factory, tenant_id = demo
    async with factory() as s:
        customers = {
            c.account_no: c for c in await s.scalars(select(Customer).where(Customer.tenant_id == tenant_id))
        }
        phones = (
            await s.execute(
                select(CustomerPhone.phone, Customer.account_no).join(
                    Customer, Customer.id == CustomerPhone.customer_id
                )
            )
        ).all()
        readings = (await s.scalars(select(MeterReading).where(MeterReading.tenant_id == tenant_id))).all()
    assert set(DEMO_ACCOUNTS) <= set(customers)
    for acc, spec in DEMO_ACCOUNTS.items():
        c = customers[acc]
        assert (c.feeder, c.transformer_area, c.voltage) == (spec.feeder, spec.transformer_area, spec.voltage)
        assert c.phone == spec.phones[0]
        assert {p for p, a in phones if a == acc} == set(spec.phones)
    assert check_pin(customers["3201001001"].pin_hash, DEMO_PIN)
    assert check_pin(customers["3201001002"].pin_hash, DEMO_PIN)
    assert not customers["3201003001"].pin_hash
    assert sorted(a for p, a in phones if p == "+8613912340002") == ["3201001002", "3201001003"]
    assert len(readings) == 12 * len(DEMO_ACCOUNTS)
    tou = [r for r in readings if r.customer_id == customers["3201001002"].id]
    assert all(r.kwh_peak + r.kwh_valley == r.kwh_total and r.kwh_peak > 0 for r in tou)


async def test_demo_balances_and_outage(demo: tuple[Any, int]) -> None:
    factory, tenant_id = demo
    backend = BuiltinBackend(factory)
    arrears = await backend.balance(tenant_id, "3201003001")
    # the last three bills unpaid: two overdue (three once the current one is past its due day)
    assert arrears.arrears > 0 and arrears.late_fee >= D("1.00") and arrears.overdue_bills in (2, 3)
    current = await backend.balance(tenant_id, "3201001002")
    bills = await backend.bills(tenant_id, "3201001002")
    assert current.unpaid == bills[0].amount > 0
    if current.as_of <= bills[0].due_on:
        assert current.arrears == 0 and current.late_fee == 0
    assert len(bills) == 12 and bills[0].status == "open" and all(b.status == "paid" for b in bills[1:])
    assert {ln.code for ln in bills[0].lines} >= {"peak", "valley"}  # resident time-of-use tariff
    paid_up = await backend.balance(tenant_id, "3201001001")
    assert paid_up.arrears == 0 and paid_up.late_fee == 0
    assert len(await backend.payments(tenant_id, "3201001001")) >= 10
    industry = await backend.bills(tenant_id, "3201002001")
    assert any(ln.code == "demand" for ln in industry[0].lines)

    outages = await backend.outages(tenant_id, "3201003001")
    assert [(o.kind, o.status) for o in outages] == [("unplanned", "active")]
    assert outages[0].areas == (
        (DEMO_ACCOUNTS["3201003001"].feeder, DEMO_ACCOUNTS["3201003001"].transformer_area),
    )
    assert await backend.outages(tenant_id, "3201001001") == []  # the tests' usual caller: no outage
    assert await backend.outages(tenant_id, "3201001002") == []  # another transformer area
    async with factory() as s:
        assert len((await s.scalars(select(Outage))).all()) == 1
        assert len((await s.scalars(select(OutageArea))).all()) == 1
        assert all(b.tariff_id for b in (await s.scalars(select(Bill))).all())
