"""Helpers shared by the simulator tests."""

from __future__ import annotations

from typing import Any

from hotline.sim import Scenario, parse_scenario


def mmn_scenario(
    *,
    agents: int,
    calls_per_hour: float,
    aht: float,
    hours: float,
    seed: int,
    patience: float | None = None,
    sl: float = 20.0,
    warmup_minutes: float = 60.0,
) -> Scenario:
    """Single queue, one skill, Poisson arrivals, exponential handle (and patience), no wrap-up/pause/delay."""
    doc: dict[str, Any] = {
        "name": "mmn",
        "skills": ["s"],
        "simulation": {
            "duration_hours": hours,
            "warmup_minutes": warmup_minutes,
            "seed": seed,
            "answer_delay": 0,
        },
        "queues": [
            {
                "id": "q",
                "requirements": "s",
                "wrap_up": 0,
                "pause_after_task": 0,
                "ring_timeout": "none",
                "sl_threshold": sl,
                "handle_time": {"dist": "exponential", "mean": aht},
            }
        ],
        "agents": [{"id": "a", "count": agents, "skills": {"s": 5}, "queues": ["q"]}],
        "arrivals": [
            {
                "queue": "q",
                "calls_per_interval": calls_per_hour / 4,
                "patience": "none" if patience is None else {"dist": "exponential", "mean": patience},
            }
        ],
    }
    return parse_scenario(doc)
