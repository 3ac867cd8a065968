"""Agreement of the simulator (driving the real engine) with Erlang C and Erlang A.

M/M/N (+M): one queue, one skill, Poisson arrivals, exponential handle times, no
wrap-up, no pause after task, zero answer delay.  Independent replications (one seed
each, warm-up hour discarded) give a mean and its standard error; the analytic value
must lie within 4 standard errors of the simulated mean.  The band itself must be
narrow, so the test cannot pass by being vague.
"""

from __future__ import annotations

import math
import statistics

from hotline.sim import run
from hotline.wfm import erlang_a, erlang_c

from .conftest import mmn_scenario

REPS = 10


def _band(values: list[float]) -> tuple[float, float]:
    """(mean, standard error of the mean) over independent replications."""
    return statistics.fmean(values), statistics.stdev(values) / math.sqrt(len(values))


def _check(name: str, sim: list[float], exact: float, max_se: float) -> None:
    mean, se = _band(sim)
    assert se < max_se, f"{name}: standard error {se:.4f} too wide to be a meaningful check"
    assert abs(mean - exact) <= 4 * se, f"{name}: simulated {mean:.4f} ± {se:.4f} (1σ) vs exact {exact:.4f}"


def test_erlang_c_agreement() -> None:
    # textbook: 200 calls/h, AHT 180 s, 14 agents, T = 20 s -> SL 0.888, P(wait) 0.174
    exact = erlang_c(14, 200, 180, 20)
    assert round(exact.service_level, 3) == 0.888 and round(exact.wait_probability, 3) == 0.174
    sl, pw, asa, occ = [], [], [], []
    for seed in range(REPS):
        r = run(mmn_scenario(agents=14, calls_per_hour=200, aht=180, hours=61, seed=seed))
        t = r.kpis.total()
        assert t.abandoned == 0 and t.unfinished == 0 and t.offered > 11000
        assert t.sl_abandons_ignored is not None and t.wait_probability is not None and t.asa is not None
        sl.append(t.sl_abandons_ignored)
        pw.append(t.wait_probability)
        asa.append(t.asa)
        occ.append(r.kpis.agents_total().occupancy or 0.0)
    _check("SL", sl, exact.service_level, 0.01)
    _check("P(wait)", pw, exact.wait_probability, 0.015)
    _check("ASA", asa, exact.asa_seconds, 1.0)
    _check("occupancy", occ, exact.occupancy, 0.01)


def test_erlang_a_agreement() -> None:
    # 200 calls/h, AHT 180 s, 10 agents (load 10 Erlang = N: Erlang C would be unstable),
    # exponential patience with mean 120 s
    exact = erlang_a(10, 200, 180, 120, 20)
    sl, ab, pw, asa = [], [], [], []
    for seed in range(REPS):
        r = run(mmn_scenario(agents=10, calls_per_hour=200, aht=180, hours=61, seed=100 + seed, patience=120))
        t = r.kpis.total()
        assert t.unfinished == 0 and t.offered > 11000 and t.abandoned > 0
        assert t.sl_abandons_missed is not None and t.abandon_rate is not None
        assert t.wait_probability is not None and t.asa is not None
        sl.append(t.sl_abandons_missed)
        ab.append(t.abandon_rate)
        pw.append(t.wait_probability)
        asa.append(t.asa)
    _check("SL (abandons as misses)", sl, exact.service_level, 0.015)
    _check("abandon rate", ab, exact.abandon_rate, 0.01)
    _check("P(wait)", pw, exact.wait_probability, 0.015)
    _check("ASA", asa, exact.asa_seconds, 2.0)
