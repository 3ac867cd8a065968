"""Monotonicity, limits and large-load stability (hypothesis)."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.wfm import (
    erlang_a,
    erlang_a_required_agents,
    erlang_b,
    erlang_c,
    erlang_c_required_agents,
)

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

calls = st.floats(min_value=1.0, max_value=5_000.0)
aht = st.floats(min_value=30.0, max_value=900.0)
patience = st.floats(min_value=5.0, max_value=1_800.0)
sl_seconds = st.floats(min_value=0.0, max_value=120.0)
target = st.floats(min_value=0.05, max_value=0.98)


@_SETTINGS
@given(load=st.floats(min_value=0.01, max_value=2_000.0), n=st.integers(min_value=0, max_value=2_500))
def test_erlang_b_monotone(load: float, n: int) -> None:
    b = erlang_b(load, n)
    assert 0.0 <= b <= 1.0
    assert erlang_b(load, n + 1) <= b
    assert erlang_b(load * 1.05, n) >= b


@_SETTINGS
@given(calls=calls, aht=aht, t=sl_seconds, extra=st.integers(min_value=0, max_value=60))
def test_erlang_c_sl_increases_with_agents(calls: float, aht: float, t: float, extra: int) -> None:
    load = calls * aht / 3600.0
    n = math.floor(load) + 1 + extra
    lo = erlang_c(n, calls, aht, t)
    hi = erlang_c(n + 1, calls, aht, t)
    assert 0.0 <= lo.service_level <= hi.service_level <= 1.0
    assert hi.wait_probability <= lo.wait_probability
    assert hi.asa_seconds <= lo.asa_seconds
    assert hi.occupancy < lo.occupancy <= 1.0


@_SETTINGS
@given(calls=calls, aht=aht, patience=patience, t=sl_seconds, frac=st.floats(min_value=0.0, max_value=2.0))
def test_erlang_a_monotone_in_agents(
    calls: float, aht: float, patience: float, t: float, frac: float
) -> None:
    load = calls * aht / 3600.0
    n = max(1, round(load * frac))
    lo = erlang_a(n, calls, aht, patience, t)
    hi = erlang_a(n + 1, calls, aht, patience, t)
    for res in (lo, hi):
        for value in (res.service_level, res.wait_probability, res.abandon_rate, res.occupancy):
            assert math.isfinite(value) and 0.0 <= value <= 1.0
        assert res.service_level <= 1.0 - res.abandon_rate + 1e-12
        assert math.isfinite(res.asa_seconds) and res.asa_seconds >= 0.0
    assert hi.service_level >= lo.service_level - 1e-12
    assert hi.abandon_rate <= lo.abandon_rate + 1e-15
    assert hi.wait_probability <= lo.wait_probability + 1e-12
    assert hi.asa_seconds <= lo.asa_seconds * (1 + 1e-9) + 1e-12


@settings(max_examples=25, deadline=None)
@given(
    calls=st.floats(min_value=10.0, max_value=1_000.0),
    aht=st.floats(min_value=60.0, max_value=600.0),
    t=sl_seconds,
    extra=st.integers(min_value=1, max_value=10),
)
def test_erlang_a_long_patience_tends_to_erlang_c(calls: float, aht: float, t: float, extra: int) -> None:
    load = calls * aht / 3600.0
    n = math.floor(load) + extra
    c = erlang_c(n, calls, aht, t)
    gaps: list[float] = []
    epss: list[float] = []
    for ratio in (1e3, 1e4, 1e5):
        a = erlang_a(n, calls, aht, ratio * aht, t)
        # abandonment is ~ E[W] / patience; the effects scale with E[W | W > 0] / patience,
        # amplified by up to 1 / (1 - rho)
        eps = c.asa_seconds / c.wait_probability / (ratio * aht) / (1.0 - load / n)
        assert a.abandon_rate <= 2.0 * eps
        gap = max(
            abs(a.service_level - c.service_level),
            abs(a.wait_probability - c.wait_probability),
            abs(a.asa_seconds - c.asa_seconds) / c.asa_seconds,
        )
        assert gap <= 5.0 * eps + 1e-12
        if gaps:
            assert gap <= gaps[-1] + 1e-12
            if epss[-1] < 0.05:  # first-order convergence in 1 / patience once in the linear regime
                assert gap <= gaps[-1] / 5.0 + 1e-12
        gaps.append(gap)
        epss.append(eps)


@_SETTINGS
@given(calls=calls, aht=aht, target=target, t=sl_seconds)
def test_erlang_c_required_agents_is_minimal(calls: float, aht: float, target: float, t: float) -> None:
    res = erlang_c_required_agents(calls, aht, target, t)
    assert res.service_level >= target
    assert erlang_c(res.agents - 1, calls, aht, t).service_level < target


@_SETTINGS
@given(
    calls=calls,
    aht=aht,
    patience=patience,
    target=target,
    t=sl_seconds,
    occ=st.one_of(st.none(), st.floats(min_value=0.5, max_value=1.0)),
)
def test_erlang_a_required_agents_is_minimal(
    calls: float, aht: float, patience: float, target: float, t: float, occ: float | None
) -> None:
    res = erlang_a_required_agents(calls, aht, patience, target, t, max_occupancy=occ)
    assert res.service_level >= target
    assert occ is None or res.occupancy <= occ
    if res.agents > 1:
        prev = erlang_a(res.agents - 1, calls, aht, patience, t)
        assert prev.service_level < target or (occ is not None and prev.occupancy > occ)


@settings(max_examples=15, deadline=None)
@given(
    load=st.floats(min_value=5_000.0, max_value=10_000.0),
    aht=aht,
    patience=st.floats(min_value=10.0, max_value=600.0),
    target=st.floats(min_value=0.5, max_value=0.95),
)
def test_stability_at_ten_thousand_erlangs(load: float, aht: float, patience: float, target: float) -> None:
    calls = load * 3600.0 / aht
    c = erlang_c_required_agents(calls, aht, target, 20.0)
    a = erlang_a_required_agents(calls, aht, patience, target, 20.0)
    for res in (c, a):
        for value in res.to_dict().values():
            assert value is None or (isinstance(value, int | float) and math.isfinite(value))
    assert c.agents > load
    for n in (math.floor(load) - 200, math.floor(load), math.floor(load) + 50):
        ea = erlang_a(n, calls, aht, patience, 20.0)
        assert all(v is None or math.isfinite(v) for v in ea.to_dict().values())
    assert math.isfinite(erlang_b(load, math.floor(load)))
