"""Erlang B / C / A: textbook values, exact oracles and an independent birth–death solution."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from hotline.wfm import (
    UnreachableTargetError,
    WfmInputError,
    erlang_a,
    erlang_a_required_agents,
    erlang_b,
    erlang_b_result,
    erlang_c,
    erlang_c_required_agents,
    erlang_c_wait_probability,
    offered_load,
    required_trunks,
    scheduled_agents,
)

# ---------------------------------------------------------------------------
# Erlang B


def _erlang_b_exact(n: int, load: Fraction) -> float:
    terms = [Fraction(1)]
    for k in range(1, n + 1):
        terms.append(terms[-1] * load / k)
    return float(terms[-1] / sum(terms))


@pytest.mark.parametrize(
    ("load", "n"),
    [("1", 1), ("2", 2), ("5", 10), ("10", 10), ("7/2", 3), ("43/5", 20), ("120", 100), ("50", 80)],
)
def test_erlang_b_matches_exact_rational(load: str, n: int) -> None:
    assert erlang_b(float(Fraction(load)), n) == pytest.approx(_erlang_b_exact(n, Fraction(load)), rel=1e-12)


def test_erlang_b_simple_values() -> None:
    assert erlang_b(1.0, 1) == pytest.approx(0.5)
    assert erlang_b(2.0, 2) == pytest.approx(0.4)
    assert erlang_b(3.0, 0) == 1.0
    assert erlang_b(0.0, 3) == 0.0


@pytest.mark.parametrize(
    # Classic Erlang B table, 1 % grade of service (max Erlangs for N trunks, truncated to 2 decimals)
    ("trunks", "erlangs"),
    [(1, 0.01), (5, 1.36), (10, 4.46), (20, 12.03), (50, 37.90), (100, 84.06)],
)
def test_erlang_b_table_one_percent(trunks: int, erlangs: float) -> None:
    assert erlang_b(erlangs, trunks) <= 0.01
    assert erlang_b(erlangs + 0.01, trunks) > 0.01
    assert required_trunks(erlangs, 0.01) == trunks


def test_erlang_b_table_other_grades() -> None:
    # 0.1 % and 5 % columns: N=10 -> 3.09 / 6.21 Erlangs (6.2157); N=30 (5 %) -> 24.80 Erlangs
    assert required_trunks(3.09, 0.001) == 10
    assert required_trunks(6.21, 0.05) == 10
    assert required_trunks(24.80, 0.05) == 30


def test_erlang_b_result_and_large_load() -> None:
    res = erlang_b_result(10_000.0, blocking=0.01)
    assert res.blocking <= 0.01 < erlang_b(10_000.0, res.trunks - 1)
    assert erlang_b_result(10.0, trunks=10).blocking == pytest.approx(0.2145823431, rel=1e-9)
    b = erlang_b(10_000.0, 10_000)
    # B(A, A) ~ 1/sqrt(pi A / 2) * (1 - ...) for large A
    assert b == pytest.approx(math.sqrt(2.0 / (math.pi * 10_000.0)), rel=0.01)


# ---------------------------------------------------------------------------
# Erlang C


def test_textbook_case() -> None:
    # 100 calls per 30 minutes, AHT 180 s, 80 % in 20 s
    res = erlang_c_required_agents(200.0, 180.0, 0.8, 20.0)
    assert res.agents == 14
    assert round(res.service_level, 3) == 0.888
    assert round(res.wait_probability, 3) == 0.174
    assert res.occupancy == pytest.approx(10.0 / 14.0)
    assert res.asa_seconds == pytest.approx(0.17413 * 180.0 / 4.0, rel=1e-4)
    assert res.offered_erlangs == pytest.approx(10.0)
    # 13 agents does not make it
    assert erlang_c(13, 200.0, 180.0, 20.0).service_level < 0.8


def test_erlang_c_evaluate_and_unstable() -> None:
    assert erlang_c_wait_probability(14, 10.0) == pytest.approx(0.17413, abs=1e-5)
    assert erlang_c_wait_probability(10, 10.0) == 1.0
    res = erlang_c(10, 200.0, 180.0, 20.0)
    assert res.service_level == 0.0 and res.wait_probability == 1.0 and math.isinf(res.asa_seconds)


def test_erlang_c_occupancy_and_shrinkage() -> None:
    res = erlang_c_required_agents(200.0, 180.0, 0.8, 20.0, max_occupancy=0.7, shrinkage=0.3)
    assert res.agents == 15  # 10 / 14 = 0.714 > 0.7
    assert res.scheduled_agents == math.ceil(15 / 0.7)
    assert scheduled_agents(14, 0.3) == 20  # 14 / 0.7 is 20.000000000000004 in floats
    assert scheduled_agents(14, 0.0) == 14
    assert erlang_c_required_agents(200.0, 180.0, 0.8, 20.0, max_occupancy=1.0).agents == 14


def test_zero_traffic() -> None:
    res = erlang_c_required_agents(0.0, 180.0, 0.8, 20.0)
    assert res.agents == 0 and res.service_level == 1.0
    resa = erlang_a_required_agents(0.0, 180.0, 60.0, 0.8, 20.0)
    assert resa.agents == 0 and resa.abandon_rate == 0.0


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"calls_per_hour": -1.0}, "calls_per_hour"),
        ({"aht_seconds": 0.0}, "aht_seconds"),
        ({"sl_target": 1.0}, "sl_target"),
        ({"sl_target": 0.0}, "sl_target"),
        ({"sl_seconds": -5.0}, "sl_seconds"),
        ({"max_occupancy": 0.0}, "max_occupancy"),
        ({"max_occupancy": 1.2}, "max_occupancy"),
        ({"shrinkage": 1.0}, "shrinkage"),
        ({"calls_per_hour": math.nan}, "calls_per_hour"),
    ],
)
def test_input_validation_names_the_parameter(kwargs: dict[str, float], param: str) -> None:
    args: dict[str, float] = {
        "calls_per_hour": 200.0,
        "aht_seconds": 180.0,
        "sl_target": 0.8,
        "sl_seconds": 20.0,
    }
    args.update(kwargs)
    with pytest.raises(WfmInputError) as info:
        erlang_c_required_agents(**args)
    assert info.value.param == param
    with pytest.raises(WfmInputError) as info:
        erlang_a_required_agents(patience_seconds=60.0, **args)
    assert info.value.param == param
    with pytest.raises(WfmInputError):
        erlang_b(-1.0, 3)
    with pytest.raises(WfmInputError):
        required_trunks(3.0, 1.5)
    with pytest.raises(WfmInputError) as info:
        erlang_a(5, 200.0, 180.0, 0.0, 20.0)
    assert info.value.param == "patience_seconds"
    assert issubclass(UnreachableTargetError, WfmInputError)


# ---------------------------------------------------------------------------
# Erlang A against an independent truncated birth–death (CTMC) solution


def _expm(m: np.ndarray) -> np.ndarray:
    """Matrix exponential by scaling and squaring of a Taylor series."""
    norm = float(np.max(np.sum(np.abs(m), axis=1)))
    s = max(0, math.ceil(math.log2(norm)) + 1) if norm > 0.5 else 0
    scaled = m / (2.0**s)
    result = np.eye(m.shape[0])
    term = np.eye(m.shape[0])
    for k in range(1, 30):
        term = term @ scaled / k
        result = result + term
    for _ in range(s):
        result = result @ result
    return result


def _mmn_m_oracle(
    n: int, calls_per_hour: float, aht: float, patience: float, t: float, k_max: int = 300
) -> dict[str, float]:
    lam = calls_per_hour / 3600.0
    mu = 1.0 / aht
    theta = 1.0 / patience
    # stationary distribution of the number in system, truncated at n + k_max
    size = n + k_max + 1
    log_pi = np.zeros(size)
    for s in range(1, size):
        death = min(s, n) * mu + max(0, s - n) * theta
        log_pi[s] = log_pi[s - 1] + math.log(lam) - math.log(death)
    pi = np.exp(log_pi - log_pi.max())
    pi /= pi.sum()
    queue = pi[n:]  # arrival finds j = 0..k_max calls queued (PASTA)
    p_wait = float(queue.sum())
    p_ab_little = theta * float(np.dot(np.arange(k_max + 1), queue)) / lam
    # tagged arrival with j calls ahead: j -> j-1 at n mu + j theta, abandons itself at theta
    served, abandoned = k_max + 1, k_max + 2
    gen = np.zeros((k_max + 3, k_max + 3))
    for j in range(k_max + 1):
        down = n * mu + j * theta
        gen[j, j - 1 if j > 0 else served] += down
        gen[j, abandoned] += theta
        gen[j, j] = -(down + theta)
    served_by_t = _expm(gen * t)[: k_max + 1, served]
    sl = float(pi[:n].sum() + np.dot(queue, served_by_t))
    # P(served) and E[wait * 1{served}] from each start, by first-step analysis
    p_served = np.zeros(k_max + 1)
    w_served = np.zeros(k_max + 1)
    for j in range(k_max + 1):
        down = n * mu + j * theta
        out = down + theta
        prev_p = 1.0 if j == 0 else p_served[j - 1]
        prev_w = 0.0 if j == 0 else w_served[j - 1]
        p_served[j] = down / out * prev_p
        w_served[j] = p_served[j] / out + down / out * prev_w
    p_ab = float(np.dot(queue, 1.0 - p_served))
    asa = float(np.dot(queue, w_served)) / (1.0 - p_ab)
    return {"p_wait": p_wait, "p_ab": p_ab, "p_ab_little": p_ab_little, "sl": sl, "asa": asa}


@pytest.mark.parametrize(
    ("n", "calls_per_hour", "aht", "patience", "t"),
    [
        (5, 200.0, 180.0, 60.0, 20.0),
        (10, 200.0, 180.0, 60.0, 20.0),
        (12, 200.0, 180.0, 60.0, 20.0),
        (15, 200.0, 180.0, 60.0, 20.0),
        (3, 50.0, 300.0, 30.0, 15.0),
        (60, 1000.0, 240.0, 200.0, 30.0),
        (20, 400.0, 300.0, 100.0, 60.0),  # heavily overloaded (A = 33.3)
        (8, 100.0, 120.0, 600.0, 0.0),  # T = 0: SL = 1 - P(wait)
        (1, 20.0, 200.0, 45.0, 10.0),
    ],
)
def test_erlang_a_matches_birth_death_chain(
    n: int, calls_per_hour: float, aht: float, patience: float, t: float
) -> None:
    ref = _mmn_m_oracle(n, calls_per_hour, aht, patience, t)
    assert ref["p_ab"] == pytest.approx(ref["p_ab_little"], rel=1e-9)  # oracle self-consistency
    res = erlang_a(n, calls_per_hour, aht, patience, t)
    assert res.wait_probability == pytest.approx(ref["p_wait"], rel=1e-9)
    assert res.abandon_rate == pytest.approx(ref["p_ab"], rel=1e-9)
    assert res.service_level == pytest.approx(ref["sl"], rel=1e-8, abs=1e-12)
    assert res.asa_seconds == pytest.approx(ref["asa"], rel=1e-8)
    assert res.mean_wait_seconds == pytest.approx(ref["p_ab"] * patience, rel=1e-9)
    load = calls_per_hour * aht / 3600.0
    assert res.occupancy == pytest.approx(load * (1.0 - ref["p_ab"]) / n, rel=1e-9)
    assert res.service_level <= 1.0 - res.abandon_rate + 1e-12


def test_erlang_a_required_agents_textbook_with_patience() -> None:
    res = erlang_a_required_agents(200.0, 180.0, 60.0, 0.8, 20.0, shrinkage=0.3)
    assert res.agents == 12
    assert erlang_a(11, 200.0, 180.0, 60.0, 20.0).service_level < 0.8 <= res.service_level
    assert res.scheduled_agents == math.ceil(12 / 0.7)
    assert set(res.to_dict()) >= {
        "agents",
        "service_level",
        "wait_probability",
        "asa_seconds",
        "occupancy",
        "abandon_rate",
    }


def test_erlang_a_infinite_patience_is_erlang_c() -> None:
    res = erlang_a(14, 200.0, 180.0, math.inf, 20.0)
    ref = erlang_c(14, 200.0, 180.0, 20.0)
    assert res.service_level == ref.service_level and res.abandon_rate == 0.0
    assert erlang_a_required_agents(200.0, 180.0, math.inf, 0.8, 20.0).agents == 14
    # very long (finite) patience converges to Erlang C through the incomplete-gamma path
    # (the deviation is physical and O(1/patience))
    previous = math.inf
    for patience in (1e5, 1e7, 1e9):
        near = erlang_a(14, 200.0, 180.0, patience, 20.0)
        gap = abs(near.service_level - ref.service_level)
        assert gap < 0.2 / patience * 1e3 and gap < previous / 50.0
        previous = gap
        assert near.wait_probability == pytest.approx(ref.wait_probability, abs=1e3 / patience)
        assert near.asa_seconds == pytest.approx(ref.asa_seconds, rel=1e3 / patience)


def test_erlang_a_occupancy_cap() -> None:
    free = erlang_a_required_agents(2000.0, 300.0, 120.0, 0.5, 20.0)
    capped = erlang_a_required_agents(2000.0, 300.0, 120.0, 0.5, 20.0, max_occupancy=0.8)
    assert capped.occupancy <= 0.8 < erlang_a(capped.agents - 1, 2000.0, 300.0, 120.0, 20.0).occupancy
    assert capped.agents >= free.agents


def test_ten_thousand_erlangs() -> None:
    rate = 10_000.0 * 3600.0 / 180.0
    assert offered_load(rate, 180.0) == pytest.approx(10_000.0)
    c = erlang_c_required_agents(rate, 180.0, 0.8, 20.0)
    assert 10_000 < c.agents < 10_100
    assert erlang_c(c.agents - 1, rate, 180.0, 20.0).service_level < 0.8 <= c.service_level
    a = erlang_a_required_agents(rate, 180.0, 120.0, 0.8, 20.0)
    assert erlang_a(a.agents - 1, rate, 180.0, 120.0, 20.0).service_level < 0.8 <= a.service_level
    for res in (c, a):
        for value in res.to_dict().values():
            assert value is None or math.isfinite(value)
