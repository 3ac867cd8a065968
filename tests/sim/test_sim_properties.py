"""Simulator properties: determinism, conservation, shifts, overflow, timers, RONA, KPI definitions."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from hotline.acd import (
    AgentState,
    AgentStateChanged,
    TaskAbandoned,
    TaskAccepted,
    TaskCompleted,
    TaskExited,
    TaskOffered,
    TaskOfferWithdrawn,
    TaskOverflowed,
    TaskQueued,
)
from hotline.acd.model import Media
from hotline.sim import EXAMPLES, KpiCollector, SimResult, load_scenario, parse_scenario, run

from .conftest import mmn_scenario

END = (TaskCompleted, TaskAbandoned, TaskExited)


def small(**sim: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "skills": ["s"],
        "simulation": {"duration_hours": 2, "seed": 7, **sim},
        "queues": [
            {
                "id": "q",
                "requirements": "s",
                "wrap_up": 7,
                "pause_after_task": 3,
                "ring_timeout": 6,
                "handle_time": {"dist": "exponential", "mean": 120},
            }
        ],
        "agents": [{"id": "a", "count": 6, "skills": {"s": 5}, "queues": ["q"]}],
        "arrivals": [
            {"queue": "q", "calls_per_interval": 40, "patience": {"dist": "exponential", "mean": 60}}
        ],
    }
    return doc


def day() -> SimResult:
    return run(load_scenario(EXAMPLES / "multiskill_95598.toml"), keep_events=True)


@pytest.fixture(scope="module")
def day_result() -> SimResult:
    return day()


def _strip(d: dict[str, Any]) -> dict[str, Any]:
    d = dict(d)
    d.pop("wall_seconds")
    return d


def test_deterministic_per_seed(day_result: SimResult) -> None:
    again = day()
    assert again.event_log == day_result.event_log
    assert _strip(again.to_dict()) == _strip(day_result.to_dict())
    other = run(replace(day_result.scenario, seed=1), keep_events=True)
    assert other.event_log != day_result.event_log


def test_every_task_ends_exactly_once_and_counts_add_up(day_result: SimResult) -> None:
    log = day_result.event_log
    assert log is not None
    ends = Counter(e.task_id for e in log if isinstance(e, END))
    arrived = {e.task_id for e in log if isinstance(e, TaskQueued | TaskExited | TaskOverflowed)}
    assert len(arrived) == day_result.arrivals
    assert set(ends) == arrived and set(ends.values()) == {1}
    k = day_result.kpis
    tot = k.total()
    assert tot.offered == day_result.arrivals  # no warm-up in this scenario
    assert tot.answered == sum(isinstance(e, TaskAccepted) for e in log)
    assert tot.abandoned == sum(isinstance(e, TaskAbandoned) for e in log)
    assert tot.exited == sum(isinstance(e, TaskExited) for e in log)
    assert tot.completed == sum(isinstance(e, TaskCompleted) for e in log) == tot.answered
    assert tot.unfinished == 0
    assert tot.answered + tot.abandoned + tot.exited == tot.offered
    # per queue and per interval sums agree with the totals
    assert sum(k.queue_total(q).offered for q in k.queues) == tot.offered
    assert sum(k.interval_total(i).answered for i in range(k.n_intervals)) == tot.answered
    assert sum(k.queue_total(q).answered_in for q in k.queues) == tot.answered
    d = day_result.to_dict()
    assert d["total"]["offered"] == tot.offered and len(d["intervals"]) == 96


def test_stopping_at_horizon_leaves_unfinished_tasks_counted() -> None:
    doc = small()
    doc["agents"][0]["count"] = 2  # overloaded: a line at the horizon
    doc["arrivals"][0]["patience"] = "none"
    sc = replace(parse_scenario(doc), drain=0.0)
    r = run(sc, keep_events=True)
    t = r.kpis.total()
    assert t.unfinished > 10 and t.completed < t.answered
    assert r.end_time <= sc.horizon
    assert t.answered + t.abandoned + t.exited + t.unfinished == t.offered == r.arrivals


def test_overflow_moves_calls(day_result: SimResult) -> None:
    log = day_result.event_log
    assert log is not None
    moves = [e for e in log if isinstance(e, TaskOverflowed)]
    out_of_outage = [e for e in moves if e.from_queue == "outage"]
    assert out_of_outage and all(e.to_queue == "general" and e.wait >= 45 for e in out_of_outage)
    moved = {e.task_id for e in moves}
    answered_general = {e.task_id for e in log if isinstance(e, TaskAccepted) and e.queue_id == "general"}
    assert answered_general and answered_general <= moved
    k = day_result.kpis
    assert k.queue_total("outage").overflowed_out == len(out_of_outage)
    assert k.queue_total("general").answered_in == len(answered_general)
    assert k.queue_total("general").offered == 0  # attributed to the arrival queue


def test_shifts_respected() -> None:
    doc = small()
    doc["simulation"] = {"duration_hours": 3, "seed": 3, "answer_delay": 0}
    doc["queues"][0]["handle_time"] = {"dist": "constant", "value": 400}
    doc["queues"][0]["wrap_up"] = 0
    doc["agents"] = [
        {"id": "early", "count": 3, "skills": {"s": 5}, "queues": ["q"], "shift": ["00:00", "01:00"]},
        {"id": "mid", "count": 4, "skills": {"s": 5}, "queues": ["q"], "shift": ["01:00", "02:00"]},
        {"id": "all", "count": 1, "skills": {"s": 5}, "queues": ["q"]},
    ]
    r = run(parse_scenario(doc), keep_events=True)
    log = r.event_log
    assert log is not None
    logins = {(a, d) for _, a, d in r.logins}
    assert all((f"mid-00{i}", "in") in logins and (f"mid-00{i}", "out") in logins for i in range(1, 5))
    assert ("all", "out") not in logins
    for aid, start, end in [(f"early-00{i}", 0.0, 3600.0) for i in range(1, 4)] + [
        (f"mid-00{i}", 3600.0, 7200.0) for i in range(1, 5)
    ]:
        changes = [e for e in log if isinstance(e, AgentStateChanged) and e.agent_id == aid]
        assert changes[0].t == start and changes[0].new is AgentState.AVAILABLE
        offers = [e.t for e in log if isinstance(e, TaskOffered) and e.agent_id == aid]
        assert offers and all(start <= t < end for t in offers)
        out = [e.t for e in changes if e.new is AgentState.LOGGED_OUT]
        assert len(out) == 1 and out[0] >= end
        if out[0] > end:  # busy at shift end: logs out right after the task
            done = [e.t for e in log if isinstance(e, TaskCompleted) and e.agent_id == aid]
            assert out[0] == max(done) and max(done) > end
    # everyone busy at 400 s handle: at least one agent leaves late
    late = [t for t, a, d in r.logins if d == "out" and t not in (3600.0, 7200.0)]
    assert late


def test_engine_timers_fire_at_their_time() -> None:
    r = run(parse_scenario(small()), keep_events=True)
    log = r.event_log
    assert log is not None
    since: dict[str, float] = {}
    wraps = []
    for e in log:
        if isinstance(e, AgentStateChanged):
            if e.new is AgentState.WRAP_UP:
                since[e.agent_id] = e.t
            elif e.old is AgentState.WRAP_UP:
                wraps.append(e.t - since.pop(e.agent_id))
    assert wraps and all(w == pytest.approx(7.0, abs=1e-9) for w in wraps)
    t = r.kpis.total()
    assert t.wrap_sum == pytest.approx(7.0 * t.completed)  # wrap-ups running at the end finish too
    # the pause after task: no offer to an agent within 3 s after its wrap-up ended
    wrap_end: dict[str, float] = {}
    for e in log:
        if isinstance(e, AgentStateChanged) and e.old is AgentState.WRAP_UP:
            wrap_end[e.agent_id] = e.t
        elif isinstance(e, TaskOffered) and e.agent_id in wrap_end:
            assert e.t >= wrap_end[e.agent_id] + 3.0 - 1e-9


def test_rona_withdraws_and_agents_return() -> None:
    r = run(parse_scenario(small(rona_probability=0.3, rona_recovery_seconds=5)), keep_events=True)
    log = r.event_log
    assert log is not None
    ronas = [e for e in log if isinstance(e, TaskOfferWithdrawn) and e.reason == "rona"]
    assert len(ronas) > 20
    back = [
        e
        for e in log
        if isinstance(e, AgentStateChanged)
        and e.old is AgentState.NOT_READY
        and e.new is AgentState.AVAILABLE
    ]
    assert len(back) >= len(ronas) - 6  # each rona'd agent comes back (some may still be out at the end)
    # ring timeout is the queue's 6 s
    offered_at: dict[tuple[str, str], float] = {}
    for e in log:
        if isinstance(e, TaskOffered):
            offered_at[(e.task_id, e.agent_id)] = e.t
        elif isinstance(e, TaskOfferWithdrawn) and e.reason == "rona":
            assert e.t - offered_at[(e.task_id, e.agent_id)] == pytest.approx(6.0)
    assert r.kpis.total().unfinished == 0


def test_abandon_while_ringing_and_short_abandons() -> None:
    doc = small(answer_delay=30)
    doc["queues"][0]["ring_timeout"] = "none"
    doc["arrivals"][0]["patience"] = {"dist": "constant", "value": 3}
    doc["agents"][0]["count"] = 50
    t = run(parse_scenario(doc)).kpis.total()
    assert t.offered > 100 and t.answered == 0
    assert t.abandoned == t.abandoned_ringing == t.short_abandons == t.offered
    assert t.sl_abandons_missed == 0.0 and t.sl_abandons_within_met == 1.0 and t.sl_abandons_ignored is None


def test_warmup_excluded() -> None:
    sc = parse_scenario(small(warmup_minutes=30))
    r = run(sc, keep_events=True)
    log = r.event_log
    assert log is not None
    first_seen: dict[str, float] = {}
    for e in log:
        if isinstance(e, TaskQueued):
            first_seen.setdefault(e.task_id, e.t)
    assert r.kpis.total().offered == sum(t >= 1800 for t in first_seen.values()) < r.arrivals
    assert all(not a.seconds for a in r.kpis.agent_time[:2])
    assert r.kpis.agent_time[2].seconds


def test_piecewise_arrivals_follow_the_rates() -> None:
    doc = small()
    doc["arrivals"][0] = {"queue": "q", "rates": [60, 0, 60], "start": "00:30"}
    r = run(parse_scenario(doc), keep_events=True)
    assert r.event_log is not None
    times = [e.t for e in r.event_log if isinstance(e, TaskQueued)]
    assert all(1800 <= t < 2700 or 3600 <= t < 4500 for t in times)
    assert 80 < len(times) < 160  # 120 expected


def test_occupancy_matches_busy_share() -> None:
    r = run(mmn_scenario(agents=5, calls_per_hour=60, aht=180, hours=4, seed=2, warmup_minutes=0))
    ag = r.kpis.agents_total()
    s = ag.seconds
    assert ag.occupancy == pytest.approx(s[AgentState.BUSY] / (s[AgentState.BUSY] + s[AgentState.AVAILABLE]))
    assert sum(s.values()) == pytest.approx(5 * 4 * 3600)


def test_kpi_conventions_from_synthetic_events() -> None:
    k = KpiCollector(["q"], {"q": 20.0}, horizon=3600)
    ev: list[Any] = []
    for i, t0 in enumerate([0.0, 1.0, 2.0, 3.0, 4.0]):
        ev.append(TaskQueued(t0, f"t{i}", "q", Media.CALL, 0, t0))
    ev += [
        TaskAccepted(10.0, "t0", "a", "q", 10.0, 10.0),  # answered within T
        TaskAccepted(31.0, "t1", "b", "q", 30.0, 30.0),  # answered after T
        TaskAbandoned(4.0, "t2", "q", 2.0),  # short abandon, within T
        TaskAbandoned(28.0, "t3", "q", 25.0),  # abandon after T
        TaskExited(54.0, "t4", "q", "max_wait", 50.0),
    ]
    k.consume(ev)
    t = k.total()
    assert (t.offered, t.answered, t.abandoned, t.exited, t.short_abandons) == (5, 2, 2, 1, 1)
    assert t.sl_abandons_ignored == pytest.approx(1 / 3)
    assert t.sl_abandons_missed == pytest.approx(1 / 5)
    assert t.sl_abandons_within_met == pytest.approx(2 / 5)
    assert t.asa == pytest.approx(20.0) and t.max_wait == 50.0 and t.max_answer_wait == 30.0


def test_ring_all_and_multi_queue_run_clean() -> None:
    doc = copy.deepcopy(small(rona_probability=0.1))
    doc["queues"][0]["strategy"] = "ring_all"
    r = run(parse_scenario(doc), keep_events=True, check_invariants=True)
    assert r.kpis.total().unfinished == 0 and r.kpis.total().answered > 100


def test_back_to_back_shifts_keep_agents_working() -> None:
    doc = small(answer_delay=0)
    doc["simulation"] = {"days": 2, "seed": 5, "answer_delay": 0}
    doc["queues"][0]["handle_time"] = {"dist": "constant", "value": 500}
    doc["agents"][0]["shift"] = ["00:00", "24:00"]
    doc["arrivals"][0] = {"queue": "q", "calls_per_interval": 9}
    r = run(parse_scenario(doc), keep_events=True)
    log = r.event_log
    assert log is not None
    for i in range(1, 7):
        aid = f"a-00{i}"
        offers = [e.t for e in log if isinstance(e, TaskOffered) and e.agent_id == aid]
        assert any(t > 86400 + 3600 for t in offers), aid  # still offered tasks on day 2
    assert r.kpis.total().unfinished == 0


def test_answer_slower_than_ring_timeout_never_accepts_a_later_offer() -> None:
    doc = small(answer_delay=8, rona_recovery_seconds=1)
    doc["queues"][0]["ring_timeout"] = 5  # every offer rings out before the agent would answer
    r = run(parse_scenario(doc), keep_events=True)
    assert r.event_log is not None
    assert not any(isinstance(e, TaskAccepted) for e in r.event_log)
    t = r.kpis.total()
    assert t.answered == 0 and t.abandoned == t.offered > 100


def test_chat_capacity_allows_concurrent_tasks() -> None:
    doc = small(answer_delay=0)
    doc["queues"][0]["wrap_up"] = 0
    doc["agents"][0].update(count=2, capacity={"chat": 3})
    doc["arrivals"][0] = {"queue": "q", "calls_per_interval": 30, "mix": [{"media": "chat"}]}
    r = run(parse_scenario(doc), keep_events=True)
    log = r.event_log
    assert log is not None
    active: Counter[str] = Counter()
    peak = 0
    for e in log:
        if isinstance(e, TaskAccepted):
            active[e.agent_id] += 1
            peak = max(peak, active[e.agent_id])
        elif isinstance(e, TaskCompleted):
            active[e.agent_id] -= 1
    assert peak == 3
    assert r.kpis.total().unfinished == 0
