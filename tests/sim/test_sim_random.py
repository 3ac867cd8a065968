"""Randomised scenarios (hypothesis): the simulator and engine stay consistent.

Every generated scenario runs with the engine's invariant checks after each step;
every task ends exactly once and the KPI counts equal the event-log counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.acd import Strategy, TaskAbandoned, TaskAccepted, TaskCompleted, TaskExited
from hotline.sim import parse_scenario, run

STRATEGIES = [s.value for s in Strategy]


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    n_queues = draw(st.integers(1, 3))
    qids = [f"q{i}" for i in range(n_queues)]
    queues = []
    for i, q in enumerate(qids):
        rules: list[dict[str, Any]] = []
        if i + 1 < n_queues and draw(st.booleans()):
            rules.append({"type": "overflow", "target": qids[i + 1], "after": draw(st.integers(0, 60))})
        if draw(st.booleans()):
            rules.append({"type": "relax", "after": draw(st.integers(1, 60))})
        if i + 1 < n_queues and draw(st.booleans()):
            rules.append({"type": "overflow", "target": qids[i + 1], "when": "waiting > 2", "after": 5})
        queues.append(
            {
                "id": q,
                "requirements": f"s{i}>={draw(st.integers(1, 5))}",
                "strategy": draw(st.sampled_from(STRATEGIES)),
                "wrap_up": draw(st.sampled_from([0, 3, 10])),
                "pause_after_task": draw(st.sampled_from([0, 2])),
                "ring_timeout": draw(st.sampled_from([4, 15, "none"])),
                "handle_time": draw(
                    st.sampled_from(
                        [
                            {"dist": "exponential", "mean": 60},
                            {"dist": "lognormal", "mean": 80, "sd": 40},
                            {"dist": "empirical", "values": [20, 50, 120]},
                        ]
                    )
                ),
                "rules": rules,
                **({"max_wait": 90} if draw(st.booleans()) else {}),
            }
        )
    agents = []
    for g in range(draw(st.integers(1, 3))):
        served = draw(st.lists(st.sampled_from(qids), min_size=1, max_size=n_queues, unique=True))
        shift = draw(st.sampled_from([None, ["00:10", "00:40"], ["00:00", "00:30"]]))
        agents.append(
            {
                "id": f"g{g}",
                "count": draw(st.integers(1, 4)),
                "skills": {f"s{i}": draw(st.integers(1, 9)) for i in range(n_queues)},
                "queues": served,
                **({"shift": shift} if shift else {}),
                **({"capacity": {"chat": 2}} if draw(st.booleans()) else {}),
            }
        )
    arrivals = [
        {
            "queue": q,
            "calls_per_interval": draw(st.integers(0, 25)),
            "patience": draw(
                st.sampled_from(
                    ["none", {"dist": "exponential", "mean": 40}, {"dist": "constant", "value": 25}]
                )
            ),
            "mix": draw(
                st.sampled_from(
                    [
                        [{"weight": 1}],
                        [{"weight": 3}, {"weight": 1, "priority": 50}],
                        [{"weight": 1}, {"weight": 1, "media": "chat"}],
                    ]
                )
            ),
        }
        for q in qids
    ]
    return {
        "skills": [f"s{i}" for i in range(n_queues)],
        "simulation": {
            "duration_hours": 1,
            "seed": draw(st.integers(0, 1000)),
            "rona_probability": draw(st.sampled_from([0.0, 0.2])),
            "rona_recovery_seconds": 5,
            "drain_hours": 1,
        },
        "queues": queues,
        "agents": agents,
        "arrivals": arrivals,
    }


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_random_scenarios_conserve_tasks(doc: dict[str, Any]) -> None:
    r = run(parse_scenario(doc), keep_events=True, check_invariants=True)
    log = r.event_log
    assert log is not None
    ends = Counter(e.task_id for e in log if isinstance(e, TaskCompleted | TaskAbandoned | TaskExited))
    assert all(v == 1 for v in ends.values())
    t = r.kpis.total()
    assert t.offered == r.arrivals
    assert t.answered == sum(isinstance(e, TaskAccepted) for e in log)
    assert t.abandoned == sum(isinstance(e, TaskAbandoned) for e in log)
    assert t.exited == sum(isinstance(e, TaskExited) for e in log)
    assert t.answered + t.abandoned + t.exited + t.unfinished == t.offered
    assert len(ends) == t.completed + t.abandoned + t.exited
    if t.unfinished or t.completed < t.answered:
        # only when the drain time ran out with work left (e.g. no agent for a patient caller)
        assert r.end_time == r.scenario.horizon + r.scenario.drain
