"""Payments: allocation (pure, with properties), ageing, and recording (idempotent, one transaction,
concurrent payments of one account never double-apply) on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hotline.errors import Conflict, Invalid
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import Bill, Customer, Payment
from hotline.utility.latefees import DEFAULT_RULE, LateFeeRule
from hotline.utility.payments import (
    OpenBill,
    account_state,
    ageing,
    allocate,
    credit_of,
    fee_owed,
    record_payment,
    tenant_zone,
)

D = Decimal
ZERO = D("0.00")


def test_oldest_bill_first_fee_then_principal() -> None:
    """Resident, as of 2026-03-10: bill 2026-01 (100.00 due 2026-02-24, 14 days late: fee
    100 × 0.001 × 14 = 1.40) and bill 2026-02 (80.00 due 2026-03-24, not yet due).
    Paying 150.00: 1.40 fee + 100.00 principal on January, then 48.60 on February."""
    bills = [
        OpenBill(2, "2026-02", date(2026, 3, 24), D("80.00")),
        OpenBill(1, "2026-01", date(2026, 2, 24), D("100.00")),
    ]
    a = allocate(D("150.00"), bills, date(2026, 3, 10), "urban_resident", DEFAULT_RULE)
    assert [(b.bill_id, b.late_fee, b.principal, b.settled) for b in a.bills] == [
        (1, D("1.40"), D("100.00"), True),
        (2, ZERO, D("48.60"), False),
    ]
    assert a.credit == ZERO and a.credit_used == ZERO and a.late_fee == D("1.40")


def test_leftover_becomes_credit_and_credit_is_used_first() -> None:
    bills = [OpenBill(1, "2026-01", date(2026, 2, 24), D("100.00"))]
    a = allocate(D("150.00"), bills, date(2026, 2, 1), "commercial")
    assert a.bills[0].principal == D("100.00") and a.credit == D("50.00")
    # 30.00 of credit is used before the new money: 70.00 of the payment pays the rest
    b = allocate(D("100.00"), bills, date(2026, 2, 1), "commercial", credit=D("30.00"))
    assert b.credit_used == D("30.00") and b.credit == D("30.00")
    assert b.entries(date(2026, 2, 1))[-1] == {"credit_used": "30.00"}
    # no bills: everything is credit
    c = allocate(D("20.00"), [], date(2026, 2, 1), "commercial", credit=D("5.00"))
    assert c.bills == () and c.credit == D("20.00") and c.credit_used == ZERO


def test_partial_payment_pays_fee_first() -> None:
    # commercial 1000.00 due 2026-01-25, 10 days late: fee 20.00; paying 15.00 pays only fee
    bills = [OpenBill(1, "2026-01", date(2026, 1, 25), D("1000.00"))]
    a = allocate(D("15.00"), bills, date(2026, 2, 4), "commercial")
    assert (a.bills[0].late_fee, a.bills[0].principal, a.bills[0].settled) == (D("15.00"), ZERO, False)
    after = OpenBill(1, "2026-01", date(2026, 1, 25), D("1000.00"), late_fee_paid=D("15.00"))
    assert fee_owed(after, date(2026, 2, 4), "commercial") == D("5.00")


def test_ageing_buckets() -> None:
    as_of = date(2026, 12, 31)
    bills = [
        OpenBill(1, "a", as_of, D("1.00")),  # due today: not overdue
        OpenBill(2, "b", as_of - timedelta(1), D("2.00")),
        OpenBill(3, "c", as_of - timedelta(30), D("4.00")),
        OpenBill(4, "d", as_of - timedelta(31), D("8.00")),
        OpenBill(5, "e", as_of - timedelta(91), D("16.00")),
        OpenBill(6, "f", as_of - timedelta(365), D("32.00")),
        OpenBill(7, "g", as_of - timedelta(366), D("64.00")),
    ]
    assert ageing(bills, as_of) == {
        "0-30": D("6.00"),
        "31-90": D("8.00"),
        "91-180": D("16.00"),
        "181-365": D("32.00"),
        "365+": D("64.00"),
    }


def test_credit_of() -> None:
    assert credit_of([(D("50.00"), []), (D("0.00"), [{"credit_used": "20.00"}, {"bill_id": 1}])]) == D(
        "30.00"
    )


money = st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2)
open_bill = st.builds(
    lambda i, due, amt: OpenBill(i, f"p{i}", due, amt),
    st.integers(1, 10_000),
    st.dates(date(2024, 1, 1), date(2026, 12, 31)),
    money,
)


@settings(max_examples=300)
@given(
    money,
    st.lists(open_bill, max_size=6, unique_by=lambda b: b.bill_id),
    st.dates(date(2024, 1, 1), date(2027, 12, 31)),
    st.sampled_from(["urban_resident", "commercial", "large_industry"]),
    st.decimals(min_value=D("0"), max_value=D("500"), places=2),
)
def test_allocation_conserves_money(
    amount: Decimal, bills: list[OpenBill], as_of: date, klass: str, credit: Decimal
) -> None:
    a = allocate(amount, bills, as_of, klass, DEFAULT_RULE, credit)
    assert a.principal + a.late_fee + a.credit == amount + a.credit_used
    assert ZERO <= a.credit_used <= credit and a.credit >= 0
    by_id = {b.bill_id: b for b in bills}
    for part in a.bills:
        b = by_id[part.bill_id]
        assert part.principal <= b.outstanding
        assert part.late_fee <= fee_owed(b, as_of, klass)
    # oldest first: once a bill is left unsettled no later bill gets anything
    seen_unsettled = False
    for part in a.bills:
        assert not seen_unsettled
        seen_unsettled = not part.settled
    if a.credit > 0:  # money left over: every bill was settled
        assert all(p.settled for p in a.bills) and len(a.bills) == len(bills)


# -- recording -------------------------------------------------------------------------------------


async def _account(factory: Any, klass: str = "urban_resident") -> tuple[int, int]:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "pay", "Payments")
        u = await org.add_unit(s, t.id, "u", "Unit")
        c = Customer(
            tenant_id=t.id, unit_id=u.id, account_no="3201009999", name="测试户", customer_class=klass
        )
        s.add(c)
        await s.flush()
        for period, due, amount in [
            ("2026-01", date(2026, 2, 24), "100.00"),
            ("2026-02", date(2026, 3, 24), "80.00"),
        ]:
            s.add(
                Bill(
                    tenant_id=t.id,
                    customer_id=c.id,
                    period=period,
                    amount=D(amount),
                    kwh=D("200.00"),
                    issued_on=due - timedelta(24),
                    due_on=due,
                )
            )
        return t.id, c.id


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 4, 0, tzinfo=UTC)  # noon in Shanghai


async def _pay(
    factory: Any, tid: int, cid: int, amount: str, ref: str, day: date, channel: str = "bank"
) -> Payment:
    async with transaction(factory) as s:
        c = await s.get_one(Customer, cid)
        return await record_payment(s, tid, c, amount, channel, ref, paid_at=at(day))


async def test_record_payment_applies_and_is_idempotent(factory: Any) -> None:
    tid, cid = await _account(factory)
    p = await _pay(factory, tid, cid, "150.00", "B-1", date(2026, 3, 10))
    assert p.late_fee == D("1.40") and p.credit == ZERO
    assert p.allocations[0] == {
        "bill_id": p.allocations[0]["bill_id"],
        "period": "2026-01",
        "principal": "100.00",
        "late_fee": "1.40",
        "on": "2026-03-10",
    }
    again = await _pay(factory, tid, cid, "150.00", "B-1", date(2026, 3, 11))
    assert again.id == p.id
    with pytest.raises(Conflict, match="B-1"):
        await _pay(factory, tid, cid, "151.00", "B-1", date(2026, 3, 11))
    async with factory() as s:
        bills = (await s.scalars(select(Bill).where(Bill.customer_id == cid).order_by(Bill.period))).all()
        assert [(b.status, b.paid, b.late_fee_paid, b.settled_on) for b in bills] == [
            ("paid", D("100.00"), D("1.40"), date(2026, 3, 10)),
            ("partial", D("48.60"), ZERO, None),
        ]
        assert len((await s.scalars(select(Payment))).all()) == 1
    # pays the rest and 10.00 more: credit; the next payment uses that credit first
    p2 = await _pay(factory, tid, cid, "41.40", "B-2", date(2026, 3, 20))
    assert p2.credit == D("10.00")
    async with factory() as s:
        state = await account_state(s, tid, cid, await tenant_zone(s, tid))
        assert state.open_bills == [] and state.credit == D("10.00")


async def test_late_fee_stops_on_paid_principal(factory: Any) -> None:
    """Resident bill 100.00 due 2026-02-24. 2026-03-06 (10 days): pay 50.00 = fee 1.00 + 49.00.
    2026-03-16: 10 more days on 51.00 = 0.51 → accrued 1.51, paid 1.00, owed 0.51."""
    tid, cid = await _account(factory)
    await _pay(factory, tid, cid, "50.00", "R-1", date(2026, 3, 6))
    async with factory() as s:
        state = await account_state(s, tid, cid, await tenant_zone(s, tid))
        jan = state.open_bills[0]
        assert jan.outstanding == D("51.00") and jan.late_fee_paid == D("1.00")
        assert fee_owed(jan, date(2026, 3, 16), "urban_resident", LateFeeRule()) == D("0.51")


async def test_bad_amounts_and_channels(factory: Any) -> None:
    tid, cid = await _account(factory)
    for amount in ("0", "-5", "1.234", "abc"):
        with pytest.raises(Invalid) as e:
            await _pay(factory, tid, cid, amount, f"X-{amount}", date(2026, 3, 1))
        assert e.value.field == "amount"
    with pytest.raises(Invalid) as e:
        await _pay(factory, tid, cid, "1.00", "X", date(2026, 3, 1), channel="cash-in-envelope")
    assert e.value.field == "channel"


async def test_concurrent_payments_never_double_apply(factory: Any) -> None:
    """Two payments of 180.00 at once on an account owing 180.00 (nothing overdue): one settles
    both bills, the other becomes credit; never both applied to the same bills."""
    tid, cid = await _account(factory)
    day = date(2026, 2, 1)
    results = await asyncio.gather(
        *(_pay(factory, tid, cid, "180.00", f"C-{i}", day) for i in range(2)),
    )
    assert sorted(p.credit for p in results) == [ZERO, D("180.00")]
    async with factory() as s:
        bills = (await s.scalars(select(Bill).where(Bill.customer_id == cid))).all()
        assert all(b.status == "paid" and b.paid == b.amount for b in bills)
        state = await account_state(s, tid, cid, await tenant_zone(s, tid))
        assert state.credit == D("180.00")
    # and the same reference twice at once: one payment
    both = await asyncio.gather(
        *(_pay(factory, tid, cid, "5.00", "SAME", day) for _ in range(2)), return_exceptions=True
    )
    ids = {p.id for p in both if isinstance(p, Payment)}
    assert len(ids) == 1, both
    assert all(isinstance(p, Payment | Conflict) for p in both)
