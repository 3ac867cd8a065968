"""The built-in billing back-end: Hotline's own tables (customers, readings, bills, payments,
outages, service applications) behind :class:`hotline.utility.backend.BillingBackend`.

Balances follow :mod:`hotline.utility.payments` (allocation, credit, ageing) and the tenant's
late-fee rule (:mod:`hotline.utility.latefees`). "Today" is the tenant's local day (its root
unit's calendar time zone). Any database error becomes :class:`BackendUnavailable`, so the IVR
apologises and routes to an agent instead of failing the call.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.errors import Conflict, Invalid
from hotline.store.models import (
    Bill,
    Customer,
    MeterReading,
    Payment,
    ServiceApplication,
)
from hotline.store.types import utcnow
from hotline.utility.backend import (
    AccountInfo,
    ApplicationInfo,
    BackendUnavailable,
    Balance,
    BillInfo,
    BillLine,
    OutageInfo,
    PaymentInfo,
    ReadingInfo,
    UnknownAccount,
)
from hotline.utility.latefees import load_rule
from hotline.utility.money import ZERO
from hotline.utility.outages import infos_for_customer
from hotline.utility.payments import account_state, ageing, fee_owed, local_day, tenant_zone


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    return Decimal(str(value))


def bill_info(b: Bill, *, with_lines: bool = True) -> BillInfo:
    lines: tuple[BillLine, ...] = ()
    if with_lines:
        lines = tuple(
            BillLine(
                code=str(ln.get("code", "")),
                label=str(ln.get("label", "")),
                amount=_dec(ln.get("amount")) or ZERO,
                kwh=_dec(ln.get("kwh")),
                price=_dec(ln.get("price")),
            )
            for ln in (b.lines or [])
            if isinstance(ln, dict)
        )
    return BillInfo(
        id=str(b.id),
        period=b.period,
        kwh=b.kwh,
        amount=b.amount,
        paid=b.paid,
        status=b.status,
        issued_on=b.issued_on,
        due_on=b.due_on,
        settled_on=b.settled_on,
        lines=lines,
    )


def payment_info(p: Payment) -> PaymentInfo:
    return PaymentInfo(
        id=str(p.id),
        amount=p.amount,
        channel=p.channel,
        reference=p.reference,
        paid_at=p.paid_at,
        late_fee=p.late_fee,
        credit=p.credit,
    )


def reading_info(r: MeterReading) -> ReadingInfo:
    return ReadingInfo(
        period=r.period,
        read_on=r.read_on,
        register_value=r.register_value,
        kwh_total=r.kwh_total,
        kwh_sharp=r.kwh_sharp,
        kwh_peak=r.kwh_peak,
        kwh_flat=r.kwh_flat,
        kwh_valley=r.kwh_valley,
        demand_kw=r.demand_kw,
        source=r.source,
    )


def account_info(c: Customer) -> AccountInfo:
    return AccountInfo(
        account_no=c.account_no,
        name=c.name,
        customer_class=c.customer_class,
        voltage=c.voltage,
        status=c.status,
        address=c.address,
        tariff_code=c.tariff_code,
        customer_id=c.id,
    )


async def customer_by_account(s: AsyncSession, tenant_id: int, account_no: str) -> Customer | None:
    return await s.scalar(
        select(Customer).where(Customer.tenant_id == tenant_id, Customer.account_no == account_no.strip())
    )


async def compute_balance(
    s: AsyncSession, tenant_id: int, customer: Customer, on: date | None = None
) -> Balance:
    """The balance of one account on ``on`` (default the tenant's today), inside a session."""
    tz = await tenant_zone(s, tenant_id)
    as_of = on or local_day(utcnow(), tz)
    rule = await load_rule(s, tenant_id)
    state = await account_state(s, tenant_id, customer.id, tz)
    bills = state.open_bills
    unpaid = sum((b.outstanding for b in bills), ZERO)
    overdue = [b for b in bills if b.due_on < as_of and b.outstanding > 0]
    arrears = sum((b.outstanding for b in overdue), ZERO)
    fee = sum((fee_owed(b, as_of, customer.customer_class, rule) for b in bills), ZERO)
    upcoming = [b.due_on for b in bills if b.due_on >= as_of and b.outstanding > 0]
    return Balance(
        account_no=customer.account_no,
        as_of=as_of,
        unpaid=unpaid,
        arrears=arrears,
        late_fee=fee,
        credit=state.credit,
        amount_due=max(ZERO, unpaid + fee - state.credit),
        overdue_bills=len(overdue),
        next_due_on=min(upcoming) if upcoming else None,
        ageing=ageing(bills, as_of),
    )


class BuiltinBackend:
    """:class:`~hotline.utility.backend.BillingBackend` over the Hotline database."""

    name = "builtin"

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self.factory = factory

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self.factory() as s:
                yield s
        except SQLAlchemyError as exc:
            raise BackendUnavailable(
                f"the built-in billing database did not answer ({type(exc).__name__})"
            ) from exc
        except OSError as exc:
            raise BackendUnavailable(f"the built-in billing database is unreachable ({exc})") from exc

    async def _customer(self, s: AsyncSession, tenant_id: int, account_no: str) -> Customer:
        c = await customer_by_account(s, tenant_id, account_no)
        if c is None:
            raise UnknownAccount(f"no account {account_no!r}", field="account_no")
        return c

    async def account(self, tenant_id: int, account_no: str) -> AccountInfo | None:
        async with self._session() as s:
            c = await customer_by_account(s, tenant_id, account_no)
            return account_info(c) if c is not None else None

    async def balance(self, tenant_id: int, account_no: str, *, on: date | None = None) -> Balance:
        async with self._session() as s:
            c = await self._customer(s, tenant_id, account_no)
            return await compute_balance(s, tenant_id, c, on)

    async def bills(self, tenant_id: int, account_no: str, *, limit: int = 12) -> list[BillInfo]:
        async with self._session() as s:
            c = await self._customer(s, tenant_id, account_no)
            rows = await s.scalars(
                select(Bill)
                .where(Bill.tenant_id == tenant_id, Bill.customer_id == c.id)
                .order_by(Bill.period.desc())
                .limit(limit)
            )
            return [bill_info(b) for b in rows]

    async def payments(self, tenant_id: int, account_no: str, *, limit: int = 12) -> list[PaymentInfo]:
        async with self._session() as s:
            c = await self._customer(s, tenant_id, account_no)
            rows = await s.scalars(
                select(Payment)
                .where(Payment.tenant_id == tenant_id, Payment.customer_id == c.id)
                .order_by(Payment.paid_at.desc(), Payment.id.desc())
                .limit(limit)
            )
            return [payment_info(p) for p in rows]

    async def readings(self, tenant_id: int, account_no: str, *, limit: int = 12) -> list[ReadingInfo]:
        async with self._session() as s:
            c = await self._customer(s, tenant_id, account_no)
            rows = await s.scalars(
                select(MeterReading)
                .where(MeterReading.tenant_id == tenant_id, MeterReading.customer_id == c.id)
                .order_by(MeterReading.period.desc())
                .limit(limit)
            )
            return [reading_info(r) for r in rows]

    async def outages(
        self, tenant_id: int, account_no: str, *, at: datetime | None = None
    ) -> list[OutageInfo]:
        async with self._session() as s:
            c = await self._customer(s, tenant_id, account_no)
            tz = await tenant_zone(s, tenant_id)
            return await infos_for_customer(s, tenant_id, c, at or utcnow(), tz=tz.key)

    async def applications(self, tenant_id: int, account_no: str) -> list[ApplicationInfo]:
        async with self._session() as s:
            c = await self._customer(s, tenant_id, account_no)
            rows = await s.scalars(
                select(ServiceApplication)
                .where(ServiceApplication.tenant_id == tenant_id, ServiceApplication.customer_id == c.id)
                .order_by(ServiceApplication.submitted_at.desc(), ServiceApplication.id.desc())
            )
            return [
                ApplicationInfo(
                    id=str(a.id),
                    kind=a.kind,
                    status=a.status,
                    submitted_at=a.submitted_at,
                    steps=tuple(st for st in (a.steps or []) if isinstance(st, dict)),
                )
                for a in rows
            ]


# -- meter readings entered by hand (manual readings, corrections from a call) -------------------

PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
TOU_FIELDS = ("kwh_sharp", "kwh_peak", "kwh_flat", "kwh_valley")
#: largest register or consumption value accepted (kWh / kW)
MAX_READING = Decimal("1000000000000")


def check_period(text: str, field: str = "period") -> str:
    if not PERIOD_RE.match(text or ""):
        raise Invalid(f"{field}: {text!r} is not a billing month YYYY-MM", field=field)
    return text


@dataclass(frozen=True)
class NewReading:
    period: str
    read_on: date
    register_value: Decimal
    kwh_total: Decimal
    kwh_sharp: Decimal = ZERO
    kwh_peak: Decimal = ZERO
    kwh_flat: Decimal = ZERO
    kwh_valley: Decimal = ZERO
    demand_kw: Decimal = ZERO
    meter_no: str = ""
    source: str = "manual"


def check_reading(new: NewReading, last: MeterReading | None) -> NewReading:
    """Validate a reading against the previous one (pure): period format; values ≥ 0; the TOU
    registers add up to ``kwh_total``; not before the last reading (period, date, register)."""
    check_period(new.period)
    for name in ("register_value", "kwh_total", *TOU_FIELDS, "demand_kw"):
        if getattr(new, name) < 0:
            raise Invalid(f"{name} must not be negative", field=name)
        if getattr(new, name) > MAX_READING:
            raise Invalid(f"{name} must not exceed {MAX_READING}", field=name)
    tou = sum((getattr(new, n) for n in TOU_FIELDS), ZERO)
    if tou > 0 and tou != new.kwh_total:
        raise Invalid(
            f"kwh_total {new.kwh_total} is not the sum of the registers "
            f"(sharp + peak + flat + valley = {tou})",
            field="kwh_total",
        )
    if new.source not in ("manual", "remote", "estimated", "import"):
        raise Invalid("source must be manual, remote, estimated or import", field="source")
    if last is not None:
        if new.period == last.period:
            raise Conflict(f"there is already a reading for {new.period}", field="period")
        if new.period < last.period:
            raise Invalid(f"period {new.period} is before the last reading ({last.period})", field="period")
        if new.read_on < last.read_on:
            raise Invalid(
                f"read_on {new.read_on} is before the last reading's date ({last.read_on})", field="read_on"
            )
        if new.register_value < last.register_value:
            raise Invalid(
                f"register_value {new.register_value} is below the last reading's "
                f"({last.register_value}); a replaced meter needs a new meter number",
                field="register_value",
            )
    return new


async def record_reading(
    s: AsyncSession, tenant_id: int, customer: Customer, new: NewReading
) -> MeterReading:
    """Store a validated reading (the caller's transaction)."""
    last = await s.scalar(
        select(MeterReading)
        .where(MeterReading.tenant_id == tenant_id, MeterReading.customer_id == customer.id)
        .order_by(MeterReading.period.desc())
        .limit(1)
    )
    if last is not None and new.meter_no and last.meter_no and new.meter_no != last.meter_no:
        last = None if new.period > last.period else last  # a new meter starts its own register
    check_reading(new, last)
    row = MeterReading(
        tenant_id=tenant_id,
        customer_id=customer.id,
        meter_no=new.meter_no or (last.meter_no if last is not None else ""),
        period=new.period,
        read_on=new.read_on,
        register_value=new.register_value,
        kwh_total=new.kwh_total,
        kwh_sharp=new.kwh_sharp,
        kwh_peak=new.kwh_peak,
        kwh_flat=new.kwh_flat,
        kwh_valley=new.kwh_valley,
        demand_kw=new.demand_kw,
        source=new.source,
    )
    s.add(row)
    await s.flush()
    return row
