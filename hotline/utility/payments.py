"""Payments (缴费): how a payment is applied to an account's bills, arrears ageing, and recording.

Allocation (pure, :func:`allocate`):

* The money available is the account's existing **credit first**, then the new payment.
* Open bills are settled **oldest first** (by due date, then period): for each bill first the
  late fee it owes on the day of the payment (:mod:`hotline.utility.latefees`), then its
  principal. Bills not yet due are paid too (no fee), so a customer can pay ahead.
* Whatever is left after every open bill is settled becomes **credit** (预存) on the account. It
  is not pushed into later bills by the bill run: it reduces the balance's ``amount_due`` and is
  used first by the next payment.

Representation (within the ``payments`` columns):

* ``payments.allocations`` = one entry per bill touched,
  ``{"bill_id", "period", "principal", "late_fee", "on"}`` (decimal strings; ``on`` = the local
  day the payment counts for, the day the late fee was computed for), plus, when the payment
  used existing credit, one entry ``{"credit_used": "12.30"}``.
* ``payments.credit`` = credit this payment *added* (its leftover, ≥ 0); ``payments.late_fee`` =
  late fees it settled.
* Credit on an account = Σ ``payments.credit`` − Σ ``credit_used`` entries (:func:`credit_of`).
* A bill's ``paid`` is its principal paid, ``late_fee_paid`` the fees paid on it; it is
  ``paid`` (``settled_on`` = that day) once no principal and no fee is left, ``partial`` once
  anything was paid.

Recording (:func:`record_payment`) is one transaction, idempotent on (channel, reference), and
serialised per customer: it first updates the customer's row (a row lock on PostgreSQL, the
write lock on SQLite), then reads the open bills (``SELECT … FOR UPDATE`` on PostgreSQL), so two
concurrent payments of one account never apply to the same unpaid amounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.errors import Conflict, Invalid
from hotline.store.models import Bill, Calendar, Customer, Payment, Unit
from hotline.store.types import utcnow
from hotline.utility.latefees import DEFAULT_RULE, LateFeeRule, accrued_late_fee, load_rule
from hotline.utility.money import ZERO, fen, parse_money, to_str

CHANNELS = ("counter", "bank", "online", "agent")
OPEN_STATUSES = ("open", "partial")
AGEING_BUCKETS = ("0-30", "31-90", "91-180", "181-365", "365+")
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: largest single payment accepted (yuan)
MAX_PAYMENT = Decimal("100000000.00")


@dataclass(frozen=True)
class OpenBill:
    """An open bill as allocation sees it: ``outstanding`` = unpaid principal now."""

    bill_id: int
    period: str
    due_on: date
    outstanding: Decimal
    late_fee_paid: Decimal = ZERO
    #: (day, principal paid that day) of earlier payments on this bill (for the late fee)
    principal_payments: tuple[tuple[date, Decimal], ...] = ()


@dataclass(frozen=True)
class BillAllocation:
    bill_id: int
    period: str
    principal: Decimal
    late_fee: Decimal
    #: nothing left on the bill afterwards (no principal, no fee)
    settled: bool


@dataclass(frozen=True)
class Allocation:
    bills: tuple[BillAllocation, ...]
    #: existing credit used by this payment
    credit_used: Decimal
    #: new credit left over from this payment
    credit: Decimal

    @property
    def late_fee(self) -> Decimal:
        return sum((b.late_fee for b in self.bills), ZERO)

    @property
    def principal(self) -> Decimal:
        return sum((b.principal for b in self.bills), ZERO)

    def entries(self, on: date) -> list[dict[str, Any]]:
        """The ``payments.allocations`` document."""
        out: list[dict[str, Any]] = [
            {
                "bill_id": b.bill_id,
                "period": b.period,
                "principal": to_str(b.principal),
                "late_fee": to_str(b.late_fee),
                "on": on.isoformat(),
            }
            for b in self.bills
        ]
        if self.credit_used > 0:
            out.append({"credit_used": to_str(self.credit_used)})
        return out


def fee_owed(bill: OpenBill, as_of: date, customer_class: str, rule: LateFeeRule = DEFAULT_RULE) -> Decimal:
    """Late fee still owed on ``bill`` on ``as_of``: accrued minus already paid, not below 0."""
    accrued = accrued_late_fee(
        bill.outstanding, bill.due_on, as_of, customer_class, rule, bill.principal_payments
    )
    return max(ZERO, accrued - bill.late_fee_paid)


def _ordered(bills: Iterable[OpenBill]) -> list[OpenBill]:
    return sorted(bills, key=lambda b: (b.due_on, b.period, b.bill_id))


def allocate(
    amount: Decimal,
    open_bills: Sequence[OpenBill],
    as_of: date,
    customer_class: str,
    rule: LateFeeRule = DEFAULT_RULE,
    credit: Decimal = ZERO,
) -> Allocation:
    """Apply ``credit`` (first) and ``amount`` to ``open_bills``, oldest first, fee before principal.

    Invariants: Σ principal + Σ late fee + leftover credit = amount + credit used; nothing is
    paid beyond what a bill owes; credit used ≤ ``credit``.
    """
    if amount < 0 or credit < 0:
        raise ValueError("amount and credit must not be negative")
    pool = amount + credit
    spent = ZERO
    parts: list[BillAllocation] = []
    for bill in _ordered(open_bills):
        if pool - spent <= 0:
            break
        fee_due = fee_owed(bill, as_of, customer_class, rule)
        fee = min(fee_due, pool - spent)
        spent += fee
        principal = min(max(bill.outstanding, ZERO), pool - spent)
        spent += principal
        if fee > 0 or principal > 0:
            settled = fee == fee_due and principal == max(bill.outstanding, ZERO)
            parts.append(BillAllocation(bill.bill_id, bill.period, principal, fee, settled))
    credit_used = min(credit, spent)
    leftover = amount - (spent - credit_used)
    return Allocation(tuple(parts), fen(credit_used), fen(leftover))


def ageing(open_bills: Iterable[OpenBill], as_of: date) -> dict[str, Decimal]:
    """Arrears (unpaid principal of bills past due) by days overdue on ``as_of``:
    "0-30" (1-30 days), "31-90", "91-180", "181-365", "365+" (366 days or more)."""
    out = {k: ZERO for k in AGEING_BUCKETS}
    for b in open_bills:
        days = (as_of - b.due_on).days
        if days <= 0 or b.outstanding <= 0:
            continue
        key = (
            "0-30"
            if days <= 30
            else "31-90"
            if days <= 90
            else "91-180"
            if days <= 180
            else "181-365"
            if days <= 365
            else "365+"
        )
        out[key] += b.outstanding
    return out


def credit_of(payments: Iterable[tuple[Decimal, Sequence[Any]]]) -> Decimal:
    """Credit on an account from its payments' (credit, allocations)."""
    total = ZERO
    for credit, allocations in payments:
        total += credit or ZERO
        for entry in allocations or ():
            if isinstance(entry, dict) and "credit_used" in entry:
                total -= Decimal(str(entry["credit_used"]))
    return max(ZERO, total)


# -- database shell -----------------------------------------------------------------------------


async def tenant_zone(s: AsyncSession, tenant_id: int) -> ZoneInfo:
    """The tenant's time zone (its root unit's calendar), for "today" and payment days."""
    tz = await s.scalar(
        select(Calendar.timezone)
        .join(Unit, Unit.calendar_id == Calendar.id)
        .where(Unit.tenant_id == tenant_id, Unit.parent_id.is_(None))
        .order_by(Unit.id)
        .limit(1)
    )
    return ZoneInfo(tz or DEFAULT_TIMEZONE)


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


@dataclass(frozen=True)
class AccountState:
    open_bills: list[OpenBill]
    credit: Decimal


async def account_state(
    s: AsyncSession, tenant_id: int, customer_id: int, tz: ZoneInfo, *, lock: bool = False
) -> AccountState:
    """Open bills (with the principal payments made on them) and the credit of an account."""
    q = (
        select(Bill)
        .where(
            Bill.tenant_id == tenant_id,
            Bill.customer_id == customer_id,
            Bill.status.in_(OPEN_STATUSES),
        )
        .order_by(Bill.due_on, Bill.period)
    )
    if lock:
        q = q.with_for_update()
    bills = (await s.scalars(q)).all()
    pays = (
        await s.execute(
            select(Payment.paid_at, Payment.credit, Payment.allocations).where(
                Payment.tenant_id == tenant_id, Payment.customer_id == customer_id
            )
        )
    ).all()
    events: dict[int, list[tuple[date, Decimal]]] = {b.id: [] for b in bills}
    for paid_at, _credit, allocations in pays:
        for entry in allocations or ():
            if not isinstance(entry, dict) or entry.get("bill_id") not in events:
                continue
            day = date.fromisoformat(entry["on"]) if entry.get("on") else local_day(paid_at, tz)
            events[entry["bill_id"]].append((day, Decimal(str(entry.get("principal", "0")))))
    open_bills = [
        OpenBill(
            bill_id=b.id,
            period=b.period,
            due_on=b.due_on,
            outstanding=b.amount - b.paid,
            late_fee_paid=b.late_fee_paid,
            principal_payments=tuple(sorted(events[b.id])),
        )
        for b in bills
    ]
    return AccountState(open_bills, credit_of((c, a) for _p, c, a in pays))


def check_reference(channel: str, reference: str) -> tuple[str, str]:
    if channel not in CHANNELS:
        raise Invalid(f"unknown channel {channel!r}; channels are: {', '.join(CHANNELS)}", field="channel")
    reference = reference.strip()
    if not reference or len(reference) > 64:
        raise Invalid("reference must be 1-64 characters", field="reference")
    return channel, reference


async def record_payment(
    s: AsyncSession,
    tenant_id: int,
    customer: Customer,
    amount: Decimal | str | int,
    channel: str,
    reference: str,
    *,
    paid_at: datetime | None = None,
    agent_id: int | None = None,
    call_id: str = "",
    rule: LateFeeRule | None = None,
) -> Payment:
    """Record a payment and apply it (in the caller's transaction; commit it to make it count).

    Idempotent on (channel, reference): the same payment again returns the stored one; the
    same reference with another amount or account is a :class:`Conflict` naming the reference.
    """
    value = parse_money(amount)
    if value <= 0:
        raise Invalid("amount must be greater than 0", field="amount")
    if value > MAX_PAYMENT:
        raise Invalid(f"amount must not exceed {to_str(MAX_PAYMENT)}", field="amount")
    channel, reference = check_reference(channel, reference)
    if customer.tenant_id != tenant_id:
        raise Invalid("customer of another tenant", field="customer")
    # serialise payments of this customer: row lock (PostgreSQL) / write lock (SQLite) first
    await s.execute(update(Customer).where(Customer.id == customer.id).values(updated_at=utcnow()))
    existing = await s.scalar(
        select(Payment).where(
            Payment.tenant_id == tenant_id, Payment.channel == channel, Payment.reference == reference
        )
    )
    if existing is not None:
        if existing.amount == value and existing.customer_id == customer.id:
            return existing
        raise Conflict(
            f"payment reference {reference!r} ({channel}) was already recorded "
            f"for {to_str(existing.amount)} on another payment",
            field="reference",
        )
    tz = await tenant_zone(s, tenant_id)
    at = paid_at or utcnow()
    day = local_day(at, tz)
    if rule is None:
        rule = await load_rule(s, tenant_id)
    state = await account_state(s, tenant_id, customer.id, tz, lock=True)
    alloc = allocate(value, state.open_bills, day, customer.customer_class, rule, state.credit)
    by_id = {a.bill_id: a for a in alloc.bills}
    if by_id:
        bills = (await s.scalars(select(Bill).where(Bill.id.in_(list(by_id))))).all()
        for bill in bills:
            a = by_id[bill.id]
            bill.paid = bill.paid + a.principal
            bill.late_fee_paid = bill.late_fee_paid + a.late_fee
            if a.settled:
                bill.status, bill.settled_on = "paid", day
            else:
                bill.status = "partial"
    payment = Payment(
        tenant_id=tenant_id,
        customer_id=customer.id,
        amount=value,
        channel=channel,
        reference=reference,
        paid_at=at,
        late_fee=fen(alloc.late_fee),
        credit=alloc.credit,
        allocations=alloc.entries(day),
        agent_id=agent_id,
        call_id=call_id[:40],
    )
    s.add(payment)
    try:
        await s.flush()
    except IntegrityError:
        raise Conflict(
            f"payment reference {reference!r} ({channel}) is being recorded by another request; "
            "send it again to get the stored payment",
            field="reference",
        ) from None
    return payment
