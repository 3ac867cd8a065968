"""Scenario parsing and validation (precise item + reason errors)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from hotline.sim import (
    EXAMPLES,
    Constant,
    Empirical,
    Exponential,
    LogNormal,
    Never,
    ScenarioError,
    Uniform,
    load_scenario,
    parse_distribution,
    parse_scenario,
)

BASE: dict[str, Any] = {
    "skills": ["s"],
    "simulation": {"duration_hours": 1},
    "queues": [{"id": "q", "requirements": "s"}],
    "agents": [{"id": "a", "count": 2, "skills": {"s": 5}, "queues": ["q"]}],
    "arrivals": [{"queue": "q", "calls_per_interval": 10}],
}


def _problems(doc: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(doc)
    return exc.value.problems


def _with(path: str, value: object) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    node: Any = doc
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    last = keys[-1]
    if last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return doc


def test_examples_load() -> None:
    files = sorted(EXAMPLES.glob("*.toml"))
    assert {f.stem for f in files} >= {"erlang_check", "multiskill_95598"}
    for f in files:
        sc = load_scenario(f)
        assert sc.queues and sc.agents and sc.arrivals


def test_base_is_valid() -> None:
    sc = parse_scenario(BASE)
    assert sc.horizon == 3600 and sc.agents[0].agent_ids() == ["a-001", "a-002"]
    assert isinstance(sc.answer_delay, Uniform) and sc.answer_delay.mean == 1.0


@pytest.mark.parametrize(
    ("path", "value", "item", "reason"),
    [
        ("arrivals.0.calls_per_interval", -3, "arrivals[0] 'q'.calls_per_interval", "must be >= 0"),
        ("arrivals.0.queue", "nope", "arrivals[0] 'nope'.queue", "unknown queue 'nope'"),
        ("agents.0.queues", ["q", "nope"], "agents[0] 'a'.queues", "unknown queue 'nope'"),
        ("agents.0.count", 0, "agents[0] 'a'.count", "integer >= 1"),
        ("agents.0.skills", {"x": 3}, "agents[0] 'a'.skills", "unknown skill 'x'"),
        ("agents.0.shift", ["25:00", "08:00"], "agents[0] 'a'.shift", "time of day"),
        ("agents.0.capacity", {"fax": 1}, "agents[0] 'a'.capacity.fax", "unknown media"),
        (
            "queues.0.handle_time",
            {"dist": "gamma", "mean": 3},
            "queues[0] 'q'.handle_time",
            "unknown dist 'gamma'",
        ),
        (
            "queues.0.handle_time",
            {"dist": "exponential", "mean": 0},
            "queues[0] 'q'.handle_time",
            "'mean' must be > 0",
        ),
        ("queues.0.handle_time", {"dist": "lognormal", "mean": 3}, "queues[0] 'q'.handle_time", "needs sd"),
        ("queues.0.handle_time", "none", "queues[0] 'q'.handle_time", "only allowed for patience"),
        ("queues.0.strategy", "fastest", "queues[0] 'q'.strategy", "unknown strategy 'fastest'"),
        ("queues.0.wrap_up", -1, "queues[0] 'q'.wrap_up", "must be >= 0"),
        ("queues.0.sl_threshold", "20s", "queues[0] 'q'.sl_threshold", "finite number"),
        (
            "queues.0.rules",
            [{"type": "overflow", "target": "zz"}],
            "queues[0] 'q'.rules[0]",
            "unknown queue 'zz'",
        ),
        ("queues.0.rules", [{"type": "teleport"}], "queues[0] 'q'.rules[0].type", "must be one of"),
        ("queues.0.requirements", "s >>= 2", "queues", "requirement"),
        ("arrivals.0.patience", {"dist": "uniform", "min": 5, "max": 1}, "arrivals[0] 'q'.patience", "'max'"),
        ("simulation.rona_probability", 1.5, "simulation.rona_probability", "within 0-1"),
        ("simulation.warmup_minutes", 90, "simulation.warmup_minutes", "shorter than the run"),
        ("simulation.bogus", 1, "simulation.bogus", "unknown key"),
    ],
)
def test_precise_errors(path: str, value: object, item: str, reason: str) -> None:
    problems = _problems(_with(path, value))
    assert any(i == item and reason in r for i, r in problems), problems


def test_all_problems_reported_at_once() -> None:
    doc = _with("arrivals.0.calls_per_interval", -1)
    doc["agents"][0]["queues"] = ["nope"]
    doc["queues"][0]["handle_time"] = {"dist": "weird"}
    problems = _problems(doc)
    items = {i for i, _ in problems}
    assert {
        "arrivals[0] 'q'.calls_per_interval",
        "agents[0] 'a'.queues",
        "queues[0] 'q'.handle_time",
    } <= items
    assert "arrivals[0] 'q'.calls_per_interval: must be >= 0" in str(ScenarioError(problems))


def test_rates_and_constant_are_exclusive() -> None:
    problems = _problems(_with("arrivals.0.rates", [1, 2]))
    assert problems[0][0] == "arrivals[0] 'q'" and "exactly one" in problems[0][1]


def test_mix_requirement_checked_by_engine() -> None:
    problems = _problems(_with("arrivals.0.mix", [{"weight": 1, "requirements": "unknown_skill>=2"}]))
    assert problems[0][0] == "arrivals[0] 'q'.mix[0]"


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "absent.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("skills = [", encoding="utf-8")
    with pytest.raises(ScenarioError, match="invalid TOML"):
        load_scenario(bad)


def test_distributions() -> None:
    import random

    rng = random.Random(1)
    assert parse_distribution(5) == Constant(5.0)
    assert isinstance(parse_distribution("none", allow_none=True), Never)
    ln = parse_distribution({"dist": "lognormal", "mean": 240, "sd": 120})
    assert isinstance(ln, LogNormal)
    xs = [ln.sample(rng) for _ in range(40000)]
    m = sum(xs) / len(xs)
    sd = (sum((x - m) ** 2 for x in xs) / len(xs)) ** 0.5
    assert m == pytest.approx(240, rel=0.02) and sd == pytest.approx(120, rel=0.05)
    emp = parse_distribution({"dist": "empirical", "values": [1, 2, 3]})
    assert isinstance(emp, Empirical) and {emp.sample(rng) for _ in range(100)} == {1.0, 2.0, 3.0}
    ex = parse_distribution({"dist": "exponential", "mean": 10})
    assert isinstance(ex, Exponential) and ex.mean == 10


def test_piecewise_rate_lookup() -> None:
    sc = parse_scenario(_with("arrivals.0", {"queue": "q", "rates": [4, 0, 8], "start": "23:30"}))
    st = sc.arrivals[0]
    per_day = 96
    assert st.rate(94) == 4 and st.rate(95) == 0 and st.rate(per_day) == 8  # 23:30, 23:45, next 00:00
    assert st.rate(per_day + 1) == 0 and st.rate(10) == 0


def test_warnings_for_unserved_queues() -> None:
    doc = copy.deepcopy(BASE)
    doc["queues"].append({"id": "lonely"})
    doc["arrivals"].append({"queue": "lonely", "calls_per_interval": 1})
    sc = parse_scenario(doc)
    assert sc.warnings == (
        "queues[1] 'lonely': receives tasks but no agent serves it",
        "arrivals[1] 'lonely': callers never abandon and no agent serves the queue",
    )
    assert parse_scenario(BASE).warnings == ()
