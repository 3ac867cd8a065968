"""Bulk loading (COPY on PostgreSQL, executemany on SQLite) stores what an ORM insert would."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from hotline.org import service as org
from hotline.store.bulk import bulk_insert
from hotline.store.db import transaction
from hotline.store.models import Bill, Customer


async def test_bulk_insert_round_trips_types_and_defaults(factory: Any) -> None:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "bulk", "Bulk")
        u = await org.add_unit(s, t.id, "u", "Unit")
        tenant_id, unit_id = t.id, u.id
    rows = [
        {
            "tenant_id": tenant_id,
            "unit_id": unit_id,
            "account_no": f"ACC{i:05d}",
            "name": f"客户{i}",
            "tags": ["a", "季"],
            "vip": i % 2 == 0,
        }
        for i in range(300)
    ]
    async with factory() as s, s.begin():
        conn = await s.connection()
        assert await bulk_insert(conn, Customer.__table__, rows) == 300
        assert await bulk_insert(conn, Customer.__table__, []) == 0
    async with factory() as s:
        cs = (await s.scalars(select(Customer).order_by(Customer.id))).all()
        assert len(cs) == 300
        assert cs[7].name == "客户7" and cs[7].tags == ["a", "季"] and cs[8].vip and not cs[7].vip
        assert cs[0].customer_class == "urban_resident" and cs[0].status == "active"  # model defaults
        assert cs[0].created_at.tzinfo is not None
        first = cs[0].id
    bills = [
        {
            "tenant_id": tenant_id,
            "customer_id": first + i,
            "period": "2026-10",
            "kwh": Decimal("123.45"),
            "amount": Decimal("65.22"),
            "issued_on": date(2026, 11, 1),
            "due_on": date(2026, 11, 25),
            "lines": [{"code": "tier1", "amount": "65.22"}],
        }
        for i in range(5)
    ]
    async with factory() as s, s.begin():
        await bulk_insert(await s.connection(), Bill.__table__, bills)
    async with factory() as s:
        b = (await s.scalars(select(Bill).order_by(Bill.id))).all()
        assert [x.amount for x in b] == [Decimal("65.22")] * 5
        assert b[0].kwh == Decimal("123.45") and b[0].paid == Decimal("0.00") and b[0].status == "open"
        assert b[0].lines == [{"code": "tier1", "amount": "65.22"}]
