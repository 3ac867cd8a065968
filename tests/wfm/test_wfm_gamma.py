"""Regularized incomplete gamma against closed forms and exact sums."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.wfm._gamma import (
    gammainc_p,
    gammainc_q,
    log1mexp,
    log1pmx,
    log_gammainc_p,
    log_gammainc_q,
    log_prefactor,
)


def _poisson_cdf_exact(n: int, x: Fraction) -> float:
    """Q(n, x) = Pr{Pois(x) <= n-1}, exactly in rationals except for e^-x."""
    term = Fraction(1)
    total = Fraction(1)
    for k in range(1, n):
        term = term * x / k
        total += term
    return float(total) * math.exp(-float(x))


@pytest.mark.parametrize("x", [1e-8, 0.01, 0.3, 1.0, 2.0, 5.0, 20.0, 50.0])
def test_half_integer_is_erf(x: float) -> None:
    assert gammainc_p(0.5, x) == pytest.approx(math.erf(math.sqrt(x)), rel=1e-14, abs=1e-300)
    assert gammainc_q(0.5, x) == pytest.approx(math.erfc(math.sqrt(x)), rel=1e-13)


@pytest.mark.parametrize("x", [1e-10, 0.1, 1.0, 3.0, 30.0, 700.0])
def test_shape_one_is_exponential(x: float) -> None:
    assert gammainc_p(1.0, x) == pytest.approx(-math.expm1(-x), rel=1e-14)
    assert log_gammainc_q(1.0, x) == pytest.approx(-x, rel=1e-14)


@pytest.mark.parametrize(
    ("n", "x"),
    [
        (1, 0.5),
        (3, 2.0),
        (10, 5.0),
        (10, 15.0),
        (20, 3.0),
        (50, 50.0),
        (100, 100.0),
        (200, 180.0),
        (300, 350.0),
    ],
)
def test_integer_shape_is_poisson_cdf(n: int, x: float) -> None:
    expected = _poisson_cdf_exact(n, Fraction(x))
    assert gammainc_q(float(n), x) == pytest.approx(expected, rel=1e-12)
    assert gammainc_p(float(n), x) == pytest.approx(1.0 - expected, rel=1e-11, abs=1e-15)


def test_known_values() -> None:
    # Reference values (Abramowitz & Stegun / mpmath gammainc(..., regularized=True))
    assert gammainc_p(2.0, 1.0) == pytest.approx(1.0 - 2.0 / math.e, rel=1e-14)
    assert gammainc_p(3.0, 2.0) == pytest.approx(1.0 - 5.0 * math.exp(-2.0), rel=1e-14)
    # Q(a, a) = 1/2 - 1/(3 sqrt(2 pi a)) + O(1/a): the median of Gamma(a) is ~ a - 1/3
    for a in (1e4, 1e6, 1e8):
        approx = 0.5 - 1.0 / (3.0 * math.sqrt(2.0 * math.pi * a))
        assert gammainc_q(a, a) == pytest.approx(approx, abs=2.0 / a)


def test_extreme_tails_stay_finite_in_log_space() -> None:
    # P(10, 1e5) is 1 - e^-1e5 ..., log Q is about -1e5: far below the float range
    lq = log_gammainc_q(10.0, 1e5)
    assert math.isfinite(lq) and lq < -9e4
    lp = log_gammainc_p(1e5, 10.0)
    assert math.isfinite(lp) and lp < -1e5
    assert log_gammainc_p(1e4, 1e4 + 1.0) < 0.0


def test_prefactor_matches_naive_formula() -> None:
    for a, x in [(15.0, 14.0), (100.0, 90.0), (1000.0, 1003.5), (10_000.0, 9_876.0), (20.0, 1e-3)]:
        naive = a * math.log(x) - x - math.lgamma(a + 1.0)
        assert log_prefactor(a, x) == pytest.approx(naive, rel=1e-12, abs=1e-9)


def test_helpers() -> None:
    for d in (-0.9, -0.2, -1e-3, 0.1, 0.24, 3.0):
        assert log1pmx(d) == pytest.approx(math.log1p(d) - d, rel=1e-9, abs=1e-30)
    assert log1pmx(1e-8) == pytest.approx(-0.5e-16 + 1e-24 / 3.0, rel=1e-12)
    assert log1mexp(-1e-20) == pytest.approx(math.log(1e-20), rel=1e-12)
    assert log1mexp(-50.0) == pytest.approx(-math.exp(-50.0), rel=1e-12)
    with pytest.raises(ValueError):
        gammainc_p(0.0, 1.0)
    with pytest.raises(ValueError):
        gammainc_p(1.0, -1.0)


@settings(max_examples=200, deadline=None)
@given(
    a=st.floats(min_value=0.05, max_value=5e4),
    x=st.floats(min_value=0.0, max_value=1e5),
)
def test_p_plus_q_is_one_and_monotone(a: float, x: float) -> None:
    p = gammainc_p(a, x)
    q = gammainc_q(a, x)
    assert 0.0 <= p <= 1.0 and 0.0 <= q <= 1.0
    assert p + q == pytest.approx(1.0, abs=1e-12)
    # P(a, x) increases in x and decreases in a
    assert gammainc_p(a, x * 1.01 + 1e-3) >= p - 1e-13
    assert gammainc_p(a * 1.01 + 1e-3, x) <= p + 1e-13
