"""Simulator benchmark: simulated calls per second (prints one JSON object).

Scenarios:

* ``one_queue_100_agents``: 1 queue, 100 agents, Poisson 1,800 calls/h (450 per
  15 min), M/M/N+M-like: exponential handle 170 s, 10 s wrap-up,
  no pause, default answer delay U(0, 2) s, exponential patience 120 s; 8 h.
* ``multiskill_95598``: the shipped example (5 queues, 59 agents on shifts, overflow,
  relaxation, RONA), 1 day.

For each: best-of-``--repeat`` CPU and wall time of a full run (KPIs included), and
the engine's share measured by replaying the exact same command stream (recorded
through a proxy in a separate run) into a fresh engine: ``engine_only_calls_per_s``
is the ceiling the simulator could reach with zero overhead of its own.

Run: ``.venv/bin/python bench/sim_bench.py [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from hotline.acd import Engine
from hotline.sim import EXAMPLES, Scenario, Simulator, load_scenario, parse_scenario

ONE_QUEUE: dict[str, Any] = {
    "name": "one_queue_100_agents",
    "skills": ["s"],
    "simulation": {"duration_hours": 8, "seed": 1},
    "queues": [
        {
            "id": "q",
            "requirements": "s",
            "wrap_up": 10,
            "pause_after_task": 0,
            "handle_time": {"dist": "exponential", "mean": 170},
        }
    ],
    "agents": [{"id": "a", "count": 100, "skills": {"s": 5}, "queues": ["q"]}],
    "arrivals": [{"queue": "q", "calls_per_interval": 450, "patience": {"dist": "exponential", "mean": 120}}],
}


class _Recorder:
    """Forwards to a real engine and records every call (name, args, kwargs)."""

    def __init__(self, engine: Engine, log: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> None:
        self._engine = engine
        self._log = log

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._engine, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            self._log.append((name, args, kwargs))
            return target(*args, **kwargs)

        return call


def _engine_replay_seconds(sc: Scenario) -> tuple[float, int]:
    log: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    sim = Simulator(sc)
    real = sim.engine
    sim.engine = _Recorder(real, log)  # type: ignore[assignment]
    sim.run()
    fresh = Engine(sc.skills, [q.config for q in sc.queues], seed=sc.seed)
    for g in sc.agents:
        for aid in g.agent_ids():
            fresh.add_agent(g.agent_config(aid))
    calls = [(getattr(fresh, n), a, k) for n, a, k in log if n != "add_agent"]
    c0 = time.process_time()
    for fn, a, k in calls:
        fn(*a, **k)
    return time.process_time() - c0, len(calls)


def bench(sc: Scenario, repeat: int) -> dict[str, Any]:
    best_cpu = best_wall = float("inf")
    arrivals = commands = 0
    res = None
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        res = Simulator(sc).run()
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
        arrivals, commands = res.arrivals, res.commands
    assert res is not None
    eng_cpu = min(_engine_replay_seconds(sc)[0] for _ in range(repeat))
    tot = res.kpis.total()
    return {
        "arrivals": arrivals,
        "engine_commands": commands,
        "cpu_seconds": round(best_cpu, 3),
        "wall_seconds": round(best_wall, 3),
        "calls_per_s_cpu": round(arrivals / best_cpu),
        "calls_per_s_wall": round(arrivals / best_wall),
        "engine_only_cpu_seconds": round(eng_cpu, 3),
        "engine_only_calls_per_s": round(arrivals / eng_cpu),
        "engine_share": round(eng_cpu / best_cpu, 3),
        "sl_abandons_missed": None if tot.sl_abandons_missed is None else round(tot.sl_abandons_missed, 4),
        "occupancy": round(res.kpis.agents_total().occupancy or 0.0, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    out = {
        "target_calls_per_s": 100_000,
        "one_queue_100_agents": bench(parse_scenario(ONE_QUEUE), args.repeat),
        "multiskill_95598": bench(load_scenario(EXAMPLES / "multiskill_95598.toml"), args.repeat),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
