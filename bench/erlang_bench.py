"""Erlang staffing benchmark: a week of half-hour intervals plus 10,000-Erlang evaluations.

Run: ``.venv/bin/python bench/erlang_bench.py`` — prints one JSON object.
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

from hotline.wfm import (
    erlang_a,
    erlang_a_required_agents,
    erlang_b,
    erlang_c,
    erlang_c_required_agents,
    required_trunks,
)

AHT_SECONDS = 300.0
PATIENCE_SECONDS = 90.0
SL_TARGET = 0.8
SL_SECONDS = 20.0
MAX_OCCUPANCY = 0.9
SHRINKAGE = 0.3
PEAK_CALLS_PER_HALF_HOUR = 1_800.0  # 3,600 calls/h at 300 s AHT = 300 Erlangs at the weekly peak
DAY_FACTORS = (1.0, 0.93, 0.9, 0.88, 0.82, 0.5, 0.35)  # Monday .. Sunday


def _intraday_shape(slot: int) -> float:
    """Relative volume of half-hour ``slot`` (0 = 00:00–00:30): double-hump business day."""
    hour = (slot + 0.5) / 2.0
    morning = math.exp(-(((hour - 10.5) / 1.8) ** 2))
    afternoon = 0.85 * math.exp(-(((hour - 14.5) / 2.0) ** 2))
    evening = 0.25 * math.exp(-(((hour - 19.0) / 2.0) ** 2))
    night = 0.03
    return night + morning + afternoon + evening


def week_profile() -> list[float]:
    """336 half-hour intervals of calls per hour."""
    peak_shape = max(_intraday_shape(s) for s in range(48))
    return [
        2.0 * PEAK_CALLS_PER_HALF_HOUR * day * _intraday_shape(slot) / peak_shape
        for day in DAY_FACTORS
        for slot in range(48)
    ]


def _best_of(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best = math.inf
    value: Any = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main() -> None:
    profile = week_profile()

    def week_c() -> list[int]:
        return [
            erlang_c_required_agents(
                rate, AHT_SECONDS, SL_TARGET, SL_SECONDS, max_occupancy=MAX_OCCUPANCY, shrinkage=SHRINKAGE
            ).agents
            for rate in profile
        ]

    def week_a() -> list[int]:
        return [
            erlang_a_required_agents(
                rate,
                AHT_SECONDS,
                PATIENCE_SECONDS,
                SL_TARGET,
                SL_SECONDS,
                max_occupancy=MAX_OCCUPANCY,
                shrinkage=SHRINKAGE,
            ).agents
            for rate in profile
        ]

    t_c, agents_c = _best_of(3, week_c)
    t_a, agents_a = _best_of(3, week_a)

    big_load = 10_000.0
    big_aht = 180.0
    big_rate = big_load * 3600.0 / big_aht
    singles: dict[str, dict[str, Any]] = {}
    cases: dict[str, Callable[[], Any]] = {
        "erlang_b_10000_trunks": lambda: erlang_b(big_load, 10_000),
        "erlang_b_required_trunks_1pct": lambda: required_trunks(big_load, 0.01),
        "erlang_c_eval_10100_agents": lambda: erlang_c(10_100, big_rate, big_aht, SL_SECONDS).service_level,
        "erlang_c_required_agents": lambda: (
            erlang_c_required_agents(big_rate, big_aht, SL_TARGET, SL_SECONDS).agents
        ),
        "erlang_a_eval_10000_agents": lambda: (
            erlang_a(10_000, big_rate, big_aht, PATIENCE_SECONDS, SL_SECONDS).service_level
        ),
        "erlang_a_eval_9500_agents_overloaded": lambda: (
            erlang_a(9_500, big_rate, big_aht, PATIENCE_SECONDS, SL_SECONDS).abandon_rate
        ),
        "erlang_a_required_agents": lambda: (
            erlang_a_required_agents(big_rate, big_aht, PATIENCE_SECONDS, SL_TARGET, SL_SECONDS).agents
        ),
    }
    for name, fn in cases.items():
        seconds, value = _best_of(5, fn)
        singles[name] = {"value": value, "ms": round(seconds * 1e3, 4)}

    erlangs = [rate * AHT_SECONDS / 3600.0 for rate in profile]
    out = {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "week": {
            "intervals": len(profile),
            "aht_seconds": AHT_SECONDS,
            "patience_seconds": PATIENCE_SECONDS,
            "sl_target": SL_TARGET,
            "sl_seconds": SL_SECONDS,
            "max_occupancy": MAX_OCCUPANCY,
            "shrinkage": SHRINKAGE,
            "peak_erlangs": round(max(erlangs), 3),
            "min_erlangs": round(min(erlangs), 3),
            "erlang_c": {
                "total_ms": round(t_c * 1e3, 3),
                "per_interval_us": round(t_c / len(profile) * 1e6, 2),
                "peak_agents": max(agents_c),
                "agent_half_hours": sum(agents_c),
            },
            "erlang_a": {
                "total_ms": round(t_a * 1e3, 3),
                "per_interval_us": round(t_a / len(profile) * 1e6, 2),
                "peak_agents": max(agents_a),
                "agent_half_hours": sum(agents_a),
            },
        },
        "single_10000_erlangs": singles,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
