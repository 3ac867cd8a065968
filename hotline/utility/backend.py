"""The billing back-end interface (``BillingBackend``) and what it answers.

Everything in Hotline that needs utility data (the IVR actions, the screen pop, the account
API) goes through this interface, never to tables directly, so a deployment can plug in its own
billing system (CIS) with an adapter: ``[utility] backend = "package.module:factory"`` where
``factory(db_sessionmaker) -> BillingBackend``. ``"builtin"`` (the default) is
:class:`hotline.utility.builtin.BuiltinBackend`, which keeps its data in the Hotline database.

All money is :class:`~decimal.Decimal` with two places; all energy is kWh with two places.
A back-end that cannot answer (timeout, connection refused, its own error) raises
:class:`BackendUnavailable`; callers turn that into a polite message, never a crash.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.errors import HotlineError, NotFound


class BackendUnavailable(HotlineError):
    """The billing system did not answer (or answered nonsense)."""

    status = 503
    title = "Billing system unavailable"


class UnknownAccount(NotFound):
    """No account with that number (in this tenant)."""


@dataclass(frozen=True)
class AccountInfo:
    account_no: str
    name: str
    customer_class: str
    voltage: str
    status: str
    address: str = ""
    tariff_code: str = ""
    customer_id: int | None = None  # set by the built-in back-end (the CRM row)


@dataclass(frozen=True)
class BillLine:
    code: str  # e.g. tier1, tier2, peak, valley, capacity, energy
    label: str
    amount: Decimal
    kwh: Decimal | None = None
    price: Decimal | None = None  # yuan per kWh (or per kW / kVA for capacity lines)


@dataclass(frozen=True)
class BillInfo:
    id: str
    period: str  # "YYYY-MM"
    kwh: Decimal
    amount: Decimal
    paid: Decimal
    status: str  # open | partial | paid | cancelled
    issued_on: date
    due_on: date
    settled_on: date | None = None
    lines: tuple[BillLine, ...] = ()

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.paid


@dataclass(frozen=True)
class Balance:
    """Where an account stands on ``as_of``.

    ``arrears`` = unpaid principal of bills already past due; ``unpaid`` = unpaid principal of all
    open bills (due or not); ``late_fee`` = late fee accrued on the arrears up to ``as_of``;
    ``credit`` = prepaid money not yet applied; ``amount_due`` = unpaid + late_fee − credit, not
    below zero. ``ageing`` splits the arrears by days overdue ("0-30", "31-90", "91-180", "181-365",
    "365+").
    """

    account_no: str
    as_of: date
    unpaid: Decimal
    arrears: Decimal
    late_fee: Decimal
    credit: Decimal
    amount_due: Decimal
    overdue_bills: int = 0
    next_due_on: date | None = None
    ageing: Mapping[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentInfo:
    id: str
    amount: Decimal
    channel: str  # counter | bank | online | agent
    reference: str
    paid_at: datetime
    late_fee: Decimal = Decimal("0.00")
    credit: Decimal = Decimal("0.00")


@dataclass(frozen=True)
class ReadingInfo:
    period: str
    read_on: date
    register_value: Decimal
    kwh_total: Decimal
    kwh_sharp: Decimal = Decimal("0.00")
    kwh_peak: Decimal = Decimal("0.00")
    kwh_flat: Decimal = Decimal("0.00")
    kwh_valley: Decimal = Decimal("0.00")
    demand_kw: Decimal = Decimal("0.00")
    source: str = "remote"


@dataclass(frozen=True)
class OutageInfo:
    id: str
    kind: str  # planned | unplanned
    status: str  # scheduled | active | restored | cancelled
    cause: str
    start_at: datetime
    expected_end_at: datetime | None = None
    actual_end_at: datetime | None = None
    #: [(feeder, transformer_area)] ("" area = the whole feeder)
    areas: tuple[tuple[str, str], ...] = ()
    notice: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ApplicationInfo:
    id: str
    kind: str
    status: str
    submitted_at: datetime
    steps: tuple[Mapping[str, Any], ...] = ()


@runtime_checkable
class BillingBackend(Protocol):
    """What Hotline asks a billing system. Lists are newest first."""

    name: str

    async def account(self, tenant_id: int, account_no: str) -> AccountInfo | None: ...

    async def balance(self, tenant_id: int, account_no: str, *, on: date | None = None) -> Balance: ...

    async def bills(self, tenant_id: int, account_no: str, *, limit: int = 12) -> list[BillInfo]: ...

    async def payments(self, tenant_id: int, account_no: str, *, limit: int = 12) -> list[PaymentInfo]: ...

    async def readings(self, tenant_id: int, account_no: str, *, limit: int = 12) -> list[ReadingInfo]: ...

    async def outages(
        self, tenant_id: int, account_no: str, *, at: datetime | None = None
    ) -> list[OutageInfo]:
        """Outages affecting the account that are active at ``at`` (default now) or planned to
        start within the next 7 days."""
        ...

    async def applications(self, tenant_id: int, account_no: str) -> list[ApplicationInfo]: ...


BackendFactory = Callable[[async_sessionmaker[AsyncSession]], BillingBackend]


def load_backend(spec: str, factory: async_sessionmaker[AsyncSession]) -> BillingBackend:
    """``"builtin"`` or ``"package.module:callable"`` (called with the session factory)."""
    if spec in ("", "builtin"):
        from hotline.utility.builtin import BuiltinBackend

        return BuiltinBackend(factory)
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ValueError(f"utility backend {spec!r}: use 'builtin' or 'package.module:callable'")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"utility backend {spec!r}: cannot load it ({exc})") from exc
    backend = obj(factory)
    if not isinstance(backend, BillingBackend):
        raise ValueError(f"utility backend {spec!r} does not implement BillingBackend")
    return backend
