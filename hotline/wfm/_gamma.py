"""Regularized incomplete gamma functions, computed in log space.

Only the standard library is used. Conventions:

* ``P(a, x) = γ(a, x) / Γ(a)``  (regularized lower incomplete gamma),
* ``Q(a, x) = Γ(a, x) / Γ(a) = 1 - P(a, x)`` (regularized upper),
* ``D(a, x) = x**a * exp(-x) / Γ(a + 1)`` (the "prefactor"; for integer ``a``
  it is the Poisson probability mass ``Pr{Pois(x) = a}``).

``P`` is evaluated with its power series for ``x < a + 1`` and ``Q`` with the
Legendre continued fraction (modified Lentz) otherwise, so the smaller of the
two is always computed directly and the other one as ``log1p(-small)``. The
prefactor uses a Stirling-series form for ``a >= 15`` that avoids the
cancellation of ``a*log(x) - x - lgamma(a + 1)`` when ``a`` and ``x`` are large
and close (the Erlang regime at thousands of Erlangs).
"""

from __future__ import annotations

import math

__all__ = [
    "gammainc_p",
    "gammainc_q",
    "log1mexp",
    "log1pmx",
    "log_gammainc_p",
    "log_gammainc_q",
    "log_prefactor",
    "lower_series",
]

_EPS = 1e-17
_FPMIN = 1e-300
_LOG_2PI = math.log(2.0 * math.pi)


def log1pmx(d: float) -> float:
    """``log(1 + d) - d``, accurate also for small ``|d|``."""
    if d <= -1.0:
        return -math.inf
    if abs(d) >= 0.25:
        return math.log1p(d) - d
    total = 0.0
    power = d * d
    k = 2
    while True:
        term = power / k
        if k % 2 == 0:
            term = -term
        total += term
        if abs(term) <= _EPS * abs(total):
            return total
        power *= d
        k += 1


def log1mexp(v: float) -> float:
    """``log(1 - exp(v))`` for ``v <= 0`` (Mächler's stable form)."""
    if v > 0.0:
        raise ValueError("log1mexp needs v <= 0")
    if v == 0.0:
        return -math.inf
    if v > -math.log(2.0):
        return math.log(-math.expm1(v))
    return math.log1p(-math.exp(v))


def _stirling_correction(a: float) -> float:
    """``lgamma(a + 1) - (a*log(a) - a + 0.5*log(2*pi*a))`` for ``a >= 15``."""
    inv = 1.0 / a
    inv2 = inv * inv
    return inv * (
        1.0 / 12.0 - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 * (1.0 / 1680.0 - inv2 / 1188.0)))
    )


def log_prefactor(a: float, x: float) -> float:
    """``log(x**a * exp(-x) / Γ(a + 1))`` for ``a >= 0``, ``x >= 0``."""
    if x <= 0.0:
        return 0.0 if a == 0.0 else -math.inf
    if a < 15.0:
        return a * math.log(x) - x - math.lgamma(a + 1.0)
    return a * log1pmx((x - a) / a) - 0.5 * (_LOG_2PI + math.log(a)) - _stirling_correction(a)


def lower_series(a: float, x: float) -> tuple[float, float]:
    """Sum ``S = Σ_{n>=0} x**n / ((a+1)(a+2)…(a+n))`` and ``M = Σ n·term_n``.

    Only for ``0 <= x < a + 1`` (all terms are then <= 1 and decreasing). Note
    ``P(a, x) = D(a, x) · S``.
    """
    term = 1.0
    total = 1.0
    moment = 0.0
    n = 0
    while True:
        n += 1
        term *= x / (a + n)
        total += term
        moment += n * term
        if term <= _EPS * total:
            return total, moment


def _log_upper_cf(a: float, x: float) -> float:
    """``log Q(a, x)`` by the continued fraction, for ``x >= a + 1``."""
    b = x + 1.0 - a
    c = 1.0 / _FPMIN
    d = 1.0 / b
    h = d
    i = 0
    while True:
        i += 1
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = b + an / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) <= 2e-16 or i > 10_000_000:
            break
    # x**a e^-x / Γ(a) = a · D(a, x)
    return math.log(a) + log_prefactor(a, x) + math.log(h)


def _log_pq(a: float, x: float) -> tuple[float, float]:
    if not a > 0.0 or math.isinf(a):
        raise ValueError(f"incomplete gamma needs 0 < a < inf, got a={a!r}")
    if math.isnan(x) or x < 0.0:
        raise ValueError(f"incomplete gamma needs x >= 0, got x={x!r}")
    if x == 0.0:
        return -math.inf, 0.0
    if math.isinf(x):
        return 0.0, -math.inf
    if x < a + 1.0:
        s, _ = lower_series(a, x)
        log_p = log_prefactor(a, x) + math.log(s)
        return log_p, log1mexp(min(log_p, 0.0))
    log_q = _log_upper_cf(a, x)
    return log1mexp(min(log_q, 0.0)), log_q


def log_gammainc_p(a: float, x: float) -> float:
    """``log P(a, x)``."""
    return _log_pq(a, x)[0]


def log_gammainc_q(a: float, x: float) -> float:
    """``log Q(a, x)``."""
    return _log_pq(a, x)[1]


def gammainc_p(a: float, x: float) -> float:
    """Regularized lower incomplete gamma ``P(a, x)``."""
    return math.exp(log_gammainc_p(a, x))


def gammainc_q(a: float, x: float) -> float:
    """Regularized upper incomplete gamma ``Q(a, x) = 1 - P(a, x)``."""
    return math.exp(log_gammainc_q(a, x))
