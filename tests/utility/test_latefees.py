"""Late fees: the default rule on hand-checked examples, validation, the tenant setting, and
properties (monotonic, zero before due, minimum, residents never cross-year, exact decimals)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.errors import Invalid
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.utility.latefees import (
    DEFAULT_RULE,
    LateFeeRule,
    accrued_late_fee,
    late_fee,
    load_rule,
    parse_rule,
    save_rule,
)

D = Decimal
CLASSES = ["urban_resident", "rural_resident", "commercial", "large_industry", "agriculture"]


def test_worked_example_cross_year() -> None:
    """A commercial bill of 1,000.00 due 2025-12-25, still unpaid on 2026-01-10.

    Fee days: 26-31 December = 6 days in the bill's own year at 0.2 %/day:
    1000 × 0.002 × 6 = 12.00; 1-10 January = 10 cross-year days at 0.3 %/day:
    1000 × 0.003 × 10 = 30.00. Total 42.00. A resident pays 0.1 % on all 16 days: 16.00.
    """
    assert late_fee(D("1000.00"), date(2025, 12, 25), date(2026, 1, 10), "commercial") == D("42.00")
    assert late_fee(D("1000.00"), date(2025, 12, 25), date(2026, 1, 10), "urban_resident") == D("16.00")


def test_days_counted_from_the_day_after_due_inclusive() -> None:
    due = date(2026, 3, 25)
    assert late_fee(D("5000.00"), due, due, "commercial") == D("0.00")  # due day itself: nothing
    assert late_fee(D("5000.00"), due, date(2026, 3, 26), "commercial") == D("10.00")  # 1 day × 0.2 %
    assert late_fee(D("5000.00"), due, date(2026, 4, 4), "large_industry") == D("100.00")  # 10 days


def test_rounding_per_bracket_half_up() -> None:
    # due 28 Dec: 29-31 Dec 123.45 × 0.002 × 3 = 0.7407 → 0.74; 123.45 × 0.003 × 5 = 1.85175 → 1.85; sum 2.59
    got = late_fee(
        D("123.45"), date(2026, 12, 28), date(2027, 1, 5), "agriculture", LateFeeRule(minimum=D(0))
    )
    assert got == D("2.59")
    # 0.005 → 0.01 (half up): 5.00 × 0.001 × 1 = 0.005
    assert late_fee(
        D("5.00"), date(2026, 1, 1), date(2026, 1, 2), "urban_resident", LateFeeRule(minimum=D(0))
    ) == D("0.01")


def test_minimum_per_bill() -> None:
    # 80.00 × 0.001 × 3 = 0.24 → raised to the minimum 1.00
    assert late_fee(D("80.00"), date(2026, 5, 25), date(2026, 5, 28), "urban_resident") == D("1.00")
    assert late_fee(D("80.00"), date(2026, 5, 25), date(2026, 5, 25), "urban_resident") == D("0.00")
    no_min = LateFeeRule(minimum=D("0"))
    assert late_fee(D("80.00"), date(2026, 5, 25), date(2026, 5, 28), "urban_resident", no_min) == D("0.24")


def test_grace_days_and_rule_classes() -> None:
    rule = LateFeeRule(grace_days=5, resident_classes=("urban_resident",), minimum=D(0))
    due = date(2026, 6, 25)
    assert late_fee(D("1000"), due, date(2026, 6, 30), "urban_resident", rule) == D("0.00")
    assert late_fee(D("1000"), due, date(2026, 7, 1), "urban_resident", rule) == D("1.00")
    # rural residents are not residents under this rule: 0.2 %
    assert late_fee(D("1000"), due, date(2026, 7, 1), "rural_resident", rule) == D("2.00")


def test_partial_payment_stops_accrual_on_the_paid_part() -> None:
    """Resident bill 100.00 due 2026-01-25; 40.00 of principal paid on 2026-02-04.
    26 Jan - 4 Feb: 10 days on 100.00 = 1.00; 5 - 14 Feb: 10 days on 60.00 = 0.60; total 1.60."""
    got = accrued_late_fee(
        D("60.00"),
        date(2026, 1, 25),
        date(2026, 2, 14),
        "urban_resident",
        LateFeeRule(minimum=D(0)),
        [(date(2026, 2, 4), D("40.00"))],
    )
    assert got == D("1.60")


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"resident_rate": "0.02"}, "resident_rate"),
        ({"current_year_rate": "-0.001"}, "current_year_rate"),
        ({"cross_year_rate": "0.0000001"}, "cross_year_rate"),
        ({"minimum": "1.001"}, "minimum"),
        ({"minimum": "-1"}, "minimum"),
        ({"grace_days": -1}, "grace_days"),
        ({"resident_classes": ["martian"]}, "resident_classes"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_rule_validation(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(Invalid) as e:
        parse_rule(doc)
    assert e.value.field == field


def test_rule_round_trips_as_json() -> None:
    doc = DEFAULT_RULE.to_doc()
    assert doc["resident_rate"] == "0.001" and doc["minimum"] == "1.00"
    assert parse_rule(doc) == DEFAULT_RULE


async def test_tenant_rule_saved_and_loaded(factory: Any) -> None:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "lf", "Late fees")
        assert await load_rule(s, t.id) == DEFAULT_RULE
        await save_rule(s, t.id, LateFeeRule(resident_rate=D("0.0005"), minimum=D("0")))
    async with factory() as s:
        rule = await load_rule(s, t.id)
    assert rule.resident_rate == D("0.0005") and rule.minimum == D("0.00")


money = st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=2)
days = st.integers(min_value=0, max_value=1200)
dues = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))
classes = st.sampled_from(CLASSES)


@settings(max_examples=300)
@given(money, dues, days, days, classes)
def test_monotonic_in_days(p: Decimal, due: date, a: int, b: int, klass: str) -> None:
    lo, hi = sorted((a, b))
    assert late_fee(p, due, due + timedelta(lo), klass) <= late_fee(p, due, due + timedelta(hi), klass)


@settings(max_examples=300)
@given(money, money, dues, days, classes)
def test_monotonic_in_principal(a: Decimal, b: Decimal, due: date, n: int, klass: str) -> None:
    lo, hi = sorted((a, b))
    as_of = due + timedelta(n)
    assert late_fee(lo, due, as_of, klass) <= late_fee(hi, due, as_of, klass)


@given(money, dues, st.integers(min_value=0, max_value=400), classes)
def test_zero_until_due(p: Decimal, due: date, back: int, klass: str) -> None:
    assert late_fee(p, due, due - timedelta(back), klass) == D("0.00")


@given(money, dues, st.integers(min_value=1, max_value=1200), classes)
def test_minimum_applies_and_result_exact(p: Decimal, due: date, n: int, klass: str) -> None:
    fee = late_fee(p, due, due + timedelta(n), klass)
    assert fee >= D("1.00")
    assert isinstance(fee, Decimal) and fee == fee.quantize(D("0.01")) and fee.as_tuple().exponent == -2


@given(money, dues, st.integers(min_value=1, max_value=1200), st.sampled_from(CLASSES[:2]))
def test_residents_never_cross_year_rate(p: Decimal, due: date, n: int, klass: str) -> None:
    rule = LateFeeRule(minimum=D(0))
    fee = late_fee(p, due, due + timedelta(n), klass, rule)
    assert fee == (p * D("0.001") * n).quantize(D("0.01"), rounding="ROUND_HALF_UP")


@given(money, dues, st.integers(min_value=1, max_value=1200))
def test_non_residents_between_the_two_rates(p: Decimal, due: date, n: int) -> None:
    rule = LateFeeRule(minimum=D(0))
    fee = late_fee(p, due, due + timedelta(n), "commercial", rule)
    assert (p * D("0.002") * n) - D("0.01") <= fee <= (p * D("0.003") * n) + D("0.01")
