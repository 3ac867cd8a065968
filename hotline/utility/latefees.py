"""Late fees (违约金) on overdue bills: the rule, its exact arithmetic, and the tenant's setting.

The rule (default values; a tenant changes them in ``tenant_settings`` key ``utility.late_fees``
through ``PUT /api/v1/billing/late-fee-rule``):

* A bill is overdue from the day after ``due_on``. Fee days are counted from the day after
  ``due_on + grace_days`` **through ``as_of`` inclusive** (grace 0: a bill due on 25 January
  has its first fee day on 26 January; on 26 January one day is charged). Nothing is charged
  on or before the due date.
* Residents (``resident_classes``, by default ``urban_resident`` and ``rural_resident``) pay
  ``resident_rate`` (0.1 %) of the unpaid principal per fee day, whatever the year.
* Every other class pays ``current_year_rate`` (0.2 %) per fee day falling in the calendar year
  the bill fell due (that year's arrears) and ``cross_year_rate`` (0.3 %) per fee day after
  31 December of that year (cross-year arrears).
* The fee of one bill is computed per rate bracket: the exact products of each bracket are
  added up, the bracket's sum rounded to the fen half up (:mod:`hotline.utility.money`), and the
  brackets added.
* ``minimum`` (1.00 yuan): once any fee is due on a bill (the exact sum is above zero), the
  bill's fee is at least the minimum. 0 disables it.

Partial payments: the fee accrues on the principal *still unpaid on each day*. When principal
is paid on day *d*, day *d* is still charged on the principal before the payment, the days
after on what is left (``principal_payments`` of :func:`accrued_late_fee`). What a customer still
owes on a bill is the accrued fee minus ``late_fee_paid`` (see :mod:`hotline.utility.payments`).

Worked example: a commercial bill of 1,000.00 due 2025-12-25, unpaid on 2026-01-10. Fee days
are 26-31 December (6 days in 2025, 0.2 %) and 1-10 January (10 days, 0.3 %):
1000 × 0.002 × 6 = 12.00 and 1000 × 0.003 × 10 = 30.00, together 42.00. A resident with the
same bill pays 1000 × 0.001 × 16 = 16.00.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.errors import Invalid
from hotline.store.models import TenantSetting
from hotline.store.types import utcnow
from hotline.utility.money import ZERO, fen

SETTING_KEY = "utility.late_fees"
CLASSES = ("urban_resident", "rural_resident", "commercial", "large_industry", "agriculture")
MAX_RATE = Decimal("0.01")


class LateFeeRule(BaseModel):
    """A tenant's late-fee rule (rates per day as fractions: 0.001 = 0.1 %/day)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    resident_rate: Decimal = Field(Decimal("0.001"), examples=["0.001"])
    current_year_rate: Decimal = Field(Decimal("0.002"), examples=["0.002"])
    cross_year_rate: Decimal = Field(Decimal("0.003"), examples=["0.003"])
    minimum: Decimal = Field(Decimal("1.00"), examples=["1.00"], description="per overdue bill; 0 = none")
    grace_days: int = Field(0, ge=0, le=365, examples=[0])
    resident_classes: tuple[str, ...] = Field(
        ("urban_resident", "rural_resident"), examples=[["urban_resident", "rural_resident"]]
    )

    @field_validator("resident_rate", "current_year_rate", "cross_year_rate")
    @classmethod
    def _rate(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v < 0 or v > MAX_RATE:
            raise ValueError(f"a daily rate must be between 0 and {MAX_RATE} (1 %/day)")
        exp = v.as_tuple().exponent
        if isinstance(exp, int) and exp < -6:
            raise ValueError("a daily rate has at most 6 decimal places")
        return v

    @field_validator("minimum")
    @classmethod
    def _minimum(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v < 0 or v > 1000:
            raise ValueError("the minimum must be between 0 and 1000 yuan")
        exp = v.as_tuple().exponent
        if isinstance(exp, int) and exp < -2:
            raise ValueError("the minimum has at most two decimal places")
        return v.quantize(Decimal("0.01"))

    @field_validator("resident_classes")
    @classmethod
    def _classes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in v if c not in CLASSES]
        if unknown:
            raise ValueError(f"unknown customer classes {unknown}; classes are: {', '.join(CLASSES)}")
        return tuple(dict.fromkeys(v))

    def to_doc(self) -> dict[str, Any]:
        """The JSON document stored in ``tenant_settings`` (decimals as strings)."""
        return self.model_dump(mode="json")


DEFAULT_RULE = LateFeeRule()


def parse_rule(doc: Any) -> LateFeeRule:
    """A rule from a JSON document; :class:`Invalid` names the first bad field."""
    try:
        return LateFeeRule.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "rule"
        raise Invalid(f"{where}: {err['msg']}", field=where) from None


def _brackets(
    due_on: date, as_of: date, customer_class: str, rule: LateFeeRule
) -> list[tuple[date, date, Decimal]]:
    """(first fee day, last fee day, daily rate) of each bracket, in order; empty before any fee."""
    first = due_on + timedelta(days=rule.grace_days + 1)
    if as_of < first:
        return []
    if customer_class in rule.resident_classes:
        return [(first, as_of, rule.resident_rate)]
    year_end = date(due_on.year, 12, 31)
    out: list[tuple[date, date, Decimal]] = []
    if first <= year_end:
        out.append((first, min(as_of, year_end), rule.current_year_rate))
    if as_of > year_end:
        out.append((max(first, year_end + timedelta(days=1)), as_of, rule.cross_year_rate))
    return out


def accrued_late_fee(
    principal: Decimal,
    due_on: date,
    as_of: date,
    customer_class: str,
    rule: LateFeeRule = DEFAULT_RULE,
    principal_payments: Sequence[tuple[date, Decimal]] = (),
) -> Decimal:
    """The whole late fee a bill has accrued by ``as_of`` (before subtracting fees already paid).

    ``principal`` is the principal unpaid *now* (after every payment in ``principal_payments``);
    ``principal_payments`` are (day, principal paid that day) of payments on this bill, so the
    principal unpaid on each earlier day is reconstructed: paying on day *d* stops the accrual on
    the paid part from day *d* + 1. Payments after ``as_of`` are ignored.
    """
    brackets = _brackets(due_on, as_of, customer_class, rule)
    if not brackets:
        return ZERO
    events = sorted((d, Decimal(p)) for d, p in principal_payments if d <= as_of and p > 0)
    # principal unpaid on a day = principal now + everything paid strictly after that day
    total_later = sum((p for _d, p in events), ZERO)
    # segments: (from day, to day, principal unpaid on those days)
    segments: list[tuple[date, date, Decimal]] = []
    start = brackets[0][0]
    unpaid = Decimal(principal) + total_later
    for d, p in events:
        if d >= start:
            segments.append((start, d, unpaid))
            start = d + timedelta(days=1)
        unpaid -= p
    segments.append((start, as_of, unpaid))
    exact_total = ZERO
    fee = ZERO
    for b_from, b_to, rate in brackets:
        part = ZERO
        for s_from, s_to, base in segments:
            lo, hi = max(b_from, s_from), min(b_to, s_to)
            if hi >= lo and base > 0:
                part += base * rate * ((hi - lo).days + 1)
        exact_total += part
        fee += fen(part)
    if exact_total > 0 and fee < rule.minimum:
        return fen(rule.minimum)
    return fen(fee)


def late_fee(
    principal: Decimal,
    due_on: date,
    as_of: date,
    customer_class: str,
    rule: LateFeeRule = DEFAULT_RULE,
) -> Decimal:
    """The late fee on ``principal`` unpaid since ``due_on``, as of ``as_of`` (the rule above).

    Exact: ``Decimal`` in, ``Decimal`` with two places out; 0.00 before the first fee day or
    for a principal that is not positive.
    """
    if principal <= 0:
        return ZERO
    return accrued_late_fee(principal, due_on, as_of, customer_class, rule)


async def load_rule(s: AsyncSession, tenant_id: int) -> LateFeeRule:
    """The tenant's rule (the default when none is saved; a stored document that no longer
    validates falls back to the default for the fields it lacks, and is reported on save)."""
    value = await s.scalar(
        select(TenantSetting.value).where(
            TenantSetting.tenant_id == tenant_id, TenantSetting.key == SETTING_KEY
        )
    )
    if not value:
        return DEFAULT_RULE
    try:
        return LateFeeRule.model_validate(value)
    except ValidationError:
        return DEFAULT_RULE


async def save_rule(s: AsyncSession, tenant_id: int, rule: LateFeeRule) -> None:
    row = await s.scalar(
        select(TenantSetting).where(TenantSetting.tenant_id == tenant_id, TenantSetting.key == SETTING_KEY)
    )
    if row is None:
        row = TenantSetting(tenant_id=tenant_id, key=SETTING_KEY)
        s.add(row)
    row.value = rule.to_doc()
    row.updated_at = utcnow()
