"""The bill run (电费发行): a bill for every active customer with a meter reading for the period.

``run_bills`` walks the tenant's customers in customer-id order (keyset pagination, ``batch``
customers at a time, so a million accounts never sit in memory at once). For each batch one
query fetches the customers with their reading and whether a bill exists, one aggregate query
the year-to-date kWh of the year's earlier bills (annual tiers), then the pure
:func:`hotline.utility.tariffs.price` prices every reading, and the new bills go in with
:func:`hotline.store.bulk.bulk_insert` (``COPY`` on PostgreSQL) and a commit per batch.

Idempotent and restartable: customers already billed for the period are skipped, and the unique
key (tenant, customer, period) makes a bill twice impossible even if two runs overlap (the
losing batch is rolled back and retried, skipping what the other run billed). A run that stops
half way is simply run again.

Tariff: the customer's ``tariff_code`` when set, else the default tariff of the class and
voltage, in the version in force on the period's last day. Customers without one are counted
and sampled in the report (``no_tariff``), as are readings that do not fit the tariff
(``bad_reading``: registers adding up to more than the total, a register the tariff does not
price). Capacity-based two-part tariffs take the contracted capacity from the customer's
``capacity_kva`` (合同容量).

A bill of 0.00 is issued already settled (status ``paid``).
"""

from __future__ import annotations

import calendar
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.errors import Invalid
from hotline.store.bulk import bulk_insert
from hotline.store.models import Bill, Customer, MeterReading
from hotline.utility import tariffs as T
from hotline.utility.money import ZERO

SAMPLE = 20


def parse_period(period: str) -> tuple[int, int]:
    try:
        y, m = period.split("-")
        year, month = int(y), int(m)
    except ValueError:
        raise Invalid(f"period {period!r}: use YYYY-MM", field="period") from None
    if len(period) != 7 or not (1 <= month <= 12) or not (1900 <= year <= 2999):
        raise Invalid(f"period {period!r}: use YYYY-MM", field="period")
    return year, month


@functools.lru_cache(maxsize=4096)
def period_last_day(period: str) -> date:
    year, month = parse_period(period)
    return date(year, month, calendar.monthrange(year, month)[1])


@functools.lru_cache(maxsize=4096)
def default_issued_on(period: str) -> date:
    return period_last_day(period) + timedelta(days=1)


@dataclass
class BillRunReport:
    period: str
    billed: int = 0
    already_billed: int = 0
    no_reading: int = 0
    no_tariff: int = 0
    bad_reading: int = 0
    kwh: Decimal = ZERO
    amount: Decimal = ZERO
    seconds: float = 0.0
    issued_on: date | None = None
    due_on: date | None = None
    #: account numbers (at most 20 each) of the customers not billed for a reason to fix
    no_tariff_accounts: list[str] = field(default_factory=list)
    bad_reading_accounts: list[str] = field(default_factory=list)
    no_reading_accounts: list[str] = field(default_factory=list)
    bad_reading_reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["kwh"] = str(self.kwh)
        d["amount"] = str(self.amount)
        d["seconds"] = round(self.seconds, 3)
        d["issued_on"] = None if self.issued_on is None else self.issued_on.isoformat()
        d["due_on"] = None if self.due_on is None else self.due_on.isoformat()
        return d


def _sample(where: list[str], value: str) -> None:
    if len(where) < SAMPLE:
        where.append(value)


async def run_bills(
    factory: async_sessionmaker[AsyncSession],
    tenant_id: int,
    period: str,
    *,
    issued_on: date | None = None,
    due_days: int = 24,
    batch: int = 5000,
    progress: Callable[[int, int], None] | None = None,
) -> BillRunReport:
    """Bill ``period`` ("YYYY-MM") for the tenant; see the module docstring."""
    start = time.perf_counter()
    year, _ = parse_period(period)
    if due_days < 0:
        raise Invalid("due_days must not be negative", field="due_days")
    on = period_last_day(period)
    issued = issued_on or default_issued_on(period)
    try:
        due = issued + timedelta(days=due_days)
    except OverflowError:
        raise Invalid("issued_on + due_days is past the year 9999", field="issued_on") from None
    report = BillRunReport(period=period, issued_on=issued, due_on=due)
    year_start = f"{year:04d}-01"

    async with factory() as s:
        book = T.TariffBook(await T.load_versions(s, tenant_id), on)
        total = (
            await s.scalar(
                select(func.count())
                .select_from(Customer)
                .where(Customer.tenant_id == tenant_id, Customer.status == "active")
            )
            or 0
        )

    # customers page by page (keyset on id); their readings and bills are then fetched by id
    # range, so every query is an index range scan whatever the planner's statistics say
    q = (
        select(
            Customer.id,
            Customer.account_no,
            Customer.customer_class,
            Customer.voltage,
            Customer.tariff_code,
            Customer.capacity_kva,
        )
        .where(Customer.tenant_id == tenant_id, Customer.status == "active")
        .order_by(Customer.id)
        .limit(batch)
    )
    after = 0
    done = 0
    while True:
        for attempt in range(3):
            try:
                rows, part = await _batch(factory, q, after, tenant_id, period, year_start, book, issued, due)
            except IntegrityError:
                if attempt == 2:
                    raise
                continue  # another run billed some of them meanwhile: look again
            break
        if not rows:
            break
        for name in ("billed", "already_billed", "no_reading", "no_tariff", "bad_reading"):
            setattr(report, name, getattr(report, name) + getattr(part, name))
        report.kwh += part.kwh
        report.amount += part.amount
        for name in (
            "no_tariff_accounts",
            "bad_reading_accounts",
            "no_reading_accounts",
            "bad_reading_reasons",
        ):
            for v in getattr(part, name):
                _sample(getattr(report, name), v)
        after = rows[-1].id
        done += len(rows)
        if progress is not None:
            progress(done, max(total, done))
    report.seconds = time.perf_counter() - start
    return report


async def _batch(
    factory: async_sessionmaker[AsyncSession],
    q: Any,
    after: int,
    tenant_id: int,
    period: str,
    year_start: str,
    book: T.TariffBook,
    issued: date,
    due: date,
) -> tuple[Sequence[Any], BillRunReport]:
    """One batch of customers after id ``after``, in one transaction."""
    async with factory() as s, s.begin():
        rows = (await s.execute(q.where(Customer.id > after))).all()
        if not rows:
            return rows, BillRunReport(period=period)
        lo, hi = rows[0].id, rows[-1].id
        R = MeterReading
        readings = {
            r.customer_id: r
            for r in (
                await s.execute(
                    select(
                        R.customer_id,
                        R.kwh_total,
                        R.kwh_sharp,
                        R.kwh_peak,
                        R.kwh_flat,
                        R.kwh_valley,
                        R.demand_kw,
                    ).where(R.tenant_id == tenant_id, R.period == period, R.customer_id.between(lo, hi))
                )
            ).all()
        }
        billed = set(
            (
                await s.scalars(
                    select(Bill.customer_id).where(
                        Bill.tenant_id == tenant_id, Bill.period == period, Bill.customer_id.between(lo, hi)
                    )
                )
            ).all()
        )
        ids = [r.id for r in rows if r.id in readings and r.id not in billed]
        ytd: dict[int, Decimal] = {}
        if ids and period > year_start:
            ytd = {
                cid: k
                for cid, k in (
                    await s.execute(
                        select(Bill.customer_id, func.sum(Bill.kwh))
                        .where(
                            Bill.tenant_id == tenant_id,
                            Bill.customer_id.between(ids[0], ids[-1]),
                            Bill.period >= year_start,
                            Bill.period < period,
                            Bill.status != "cancelled",
                        )
                        .group_by(Bill.customer_id)
                    )
                ).all()
                if k is not None
            }
        part = BillRunReport(period=period)
        new: list[dict[str, Any]] = []
        for r in rows:
            if r.id in billed:
                part.already_billed += 1
                continue
            reading = readings.get(r.id)
            if reading is None:
                part.no_reading += 1
                _sample(part.no_reading_accounts, r.account_no)
                continue
            version = book.find(r.customer_class, r.voltage, r.tariff_code)
            if version is None:
                part.no_tariff += 1
                _sample(part.no_tariff_accounts, r.account_no)
                continue
            usage = T.Usage(
                period=period,
                kwh_total=reading.kwh_total,
                kwh_sharp=reading.kwh_sharp,
                kwh_peak=reading.kwh_peak,
                kwh_flat=reading.kwh_flat,
                kwh_valley=reading.kwh_valley,
                demand_kw=reading.demand_kw,
                year_to_date_kwh=ytd.get(r.id, ZERO),
                capacity_kva=r.capacity_kva if version.spec.kind == "two_part" else ZERO,
            )
            try:
                lines = T.price(version.spec, usage)
            except Invalid as exc:
                part.bad_reading += 1
                _sample(part.bad_reading_accounts, r.account_no)
                _sample(part.bad_reading_reasons, f"{r.account_no}: {exc.detail}")
                continue
            amount = T.total(lines)
            part.kwh += reading.kwh_total
            part.amount += amount
            new.append(
                {
                    "tenant_id": tenant_id,
                    "customer_id": r.id,
                    "period": period,
                    "tariff_id": version.id,
                    "kwh": reading.kwh_total,
                    "amount": amount,
                    "paid": ZERO,
                    "late_fee_paid": ZERO,
                    "status": "open" if amount else "paid",
                    "issued_on": issued,
                    "due_on": due,
                    "settled_on": None if amount else issued,
                    "lines": T.lines_json(lines),
                }
            )
        part.billed = len(new)
        if new:
            await bulk_insert(await s.connection(), Bill.__table__, new)  # type: ignore[arg-type]
        return rows, part


async def period_summary(s: AsyncSession, tenant_id: int, period: str) -> dict[str, Any]:
    """What the database says about a period: bills, their kWh and amount, readings not billed."""
    parse_period(period)
    bills, kwh, amount = (
        await s.execute(
            select(func.count(), func.sum(Bill.kwh), func.sum(Bill.amount)).where(
                Bill.tenant_id == tenant_id, Bill.period == period
            )
        )
    ).one()
    readings = await s.scalar(
        select(func.count())
        .select_from(MeterReading)
        .where(MeterReading.tenant_id == tenant_id, MeterReading.period == period)
    )
    return {
        "period": period,
        "bills": int(bills or 0),
        "kwh": str(kwh or ZERO),
        "amount": str(amount or ZERO),
        "readings": int(readings or 0),
    }
