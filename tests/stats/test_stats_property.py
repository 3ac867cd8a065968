"""Property: the live reducer fed one event at a time equals a recomputation from the whole log.

Event logs come from the real ACD engine driven by random commands (arrivals, answers, declines,
abandons, hang-ups, wrap-ups, agents changing state, reservations, time passing across local
midnight), written exactly as the ACD service writes them (:func:`describe`)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.acd import AcdError, AgentConfig, Engine, OverflowRule, QueueConfig, TaskSpec, TaskStatus
from hotline.cti.acdservice import describe
from hotline.cti.stats import LiveStats, StatEvent
from tests.stats.reference import recompute

TZ = "Asia/Shanghai"
THRESHOLDS = {"q1": 20.0, "q2": 10.0}
#: 23:56 local: many runs cross midnight
BASE = datetime(2026, 11, 23, 23, 56, tzinfo=ZoneInfo(TZ)).timestamp()


def engine() -> Engine:
    eng = Engine(skills=["s1"], start=0.0)
    eng.add_queues(
        [
            QueueConfig("q1", ring_timeout=8, wrap_up=3, pause_after_task=0, max_wait=90,
                        rules=(OverflowRule("q2", after=40),)),
            QueueConfig("q2", ring_timeout=5, wrap_up=None, pause_after_task=0, requirements="s1>=2",
                        max_wait=50),
        ]
    )  # fmt: skip
    eng.add_agent(AgentConfig("1", skills={"s1": 3}, queues=("q1", "q2")))
    eng.add_agent(AgentConfig("2", skills={"s1": 1}, queues=("q1",)))
    eng.add_agent(AgentConfig("3", skills={"s1": 2}, queues=("q2",)))
    return eng


ACTIONS = ["new", "new", "tick", "tick", "tick", "accept", "accept", "accept", "reject", "abandon",
           "complete", "complete", "end_wrap", "ready", "ready", "not_ready", "login", "logout",
           "reserve"]  # fmt: skip


def run(data: st.DataObject, steps: int) -> tuple[list[StatEvent], LiveStats, float]:
    eng = engine()
    live = LiveStats(TZ, thresholds=THRESHOLDS)
    log: list[StatEvent] = []
    now = 0.0
    n = 0

    def flush() -> None:
        for e in eng.pop_events():
            d = describe(e)
            if d is None:
                continue
            name, call, queue, agent, payload = d
            ev = StatEvent(name, BASE + e.t, call, queue, agent, payload)
            log.append(ev)
            live.consume(ev)  # one at a time, as the hub delivers them

    for aid in ("1", "2", "3"):
        eng.login(aid, now, ready=True)
    flush()
    for _ in range(steps):
        action = data.draw(st.sampled_from(ACTIONS))
        agent = data.draw(st.sampled_from(["1", "2", "3"]))
        tasks = sorted(eng.live_task_ids)
        task = data.draw(st.sampled_from(tasks)) if tasks else None
        try:
            if action == "new":
                n += 1
                eng.new_task(TaskSpec(f"c{n}", data.draw(st.sampled_from(["q1", "q2"]))), now)
            elif action == "tick":
                now += data.draw(st.floats(0.5, 60.0))
                eng.tick(now)
            elif action == "accept" and eng.agent_offers(agent):
                eng.accept(agent, eng.agent_offers(agent)[0], now)
            elif action == "reject" and eng.agent_offers(agent):
                eng.reject(agent, eng.agent_offers(agent)[0], now)
            elif action == "abandon" and task is not None:
                if eng.task_status(task) in (TaskStatus.QUEUED, TaskStatus.OFFERED):
                    eng.abandon(task, now)
            elif action == "complete" and eng.agent_tasks(agent):
                eng.complete(agent, eng.agent_tasks(agent)[0], now)
            elif action == "end_wrap":
                eng.end_wrap_up(agent, now)
            elif action == "ready":
                eng.set_ready(agent, now)
            elif action == "not_ready":
                eng.set_not_ready(agent, now, data.draw(st.sampled_from(["break", "lunch"])))
            elif action == "login":
                eng.login(agent, now, ready=data.draw(st.booleans()))
            elif action == "logout":
                eng.logout(agent, now)
            elif action == "reserve" and task is not None:
                eng.reserve(task, agent, data.draw(st.floats(1.0, 30.0)), now)
        except AcdError:
            pass
        flush()
    return log, live, BASE + now + data.draw(st.floats(0.0, 30.0))


def compare(live: LiveStats, log: list[StatEvent], now: float) -> None:
    want = recompute(log, now, TZ, THRESHOLDS)
    for q, ref in want["queues"].items():
        got = live.queue_stats(q, now)
        for k, v in ref.items():
            if isinstance(v, float):
                assert got[k] == pytest.approx(v, abs=0.051), (q, k, got, ref)
            else:
                assert got[k] == v, (q, k, got[k], v)
    for a, ref in want["agents"].items():
        got = live.agent_stats(a, now)
        assert got["handled"] == ref["handled"], (a, got, ref)
        assert got["state"] == ref["state"], (a, got, ref)
        if ref["aht"] is None:
            assert got["aht"] is None
        else:
            assert got["aht"] == pytest.approx(ref["aht"], abs=0.051), (a, got, ref)
    rows = {r["start"]: r for r in live.intervals(now, 24)}
    for start, ref in want["buckets"].items():
        got = rows[start]
        assert {k: got[k] for k in ref} == ref, (start, got, ref)
    assert sum(r["offered"] for r in rows.values()) == sum(r["offered"] for r in want["buckets"].values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_live_equals_recomputed_from_the_whole_log(data: st.DataObject) -> None:
    log, live, now = run(data, data.draw(st.integers(5, 80)))
    compare(live, log, now)
    # and a second reducer fed the whole stored log at once (a restart) says the same
    again = LiveStats(TZ, thresholds=THRESHOLDS)
    again.consume_all(log)
    for q in ("q1", "q2"):
        assert again.queue_stats(q, now) == live.queue_stats(q, now)
    assert again.intervals(now, 24) == live.intervals(now, 24)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_outcomes_add_up(data: st.DataObject) -> None:
    """Per queue and interval: offered = answered + abandoned + exited + overflowed + waiting."""
    _log, live, now = run(data, data.draw(st.integers(5, 60)))
    waiting: dict[tuple[str, float], int] = {}
    for x in live.open.values():
        waiting[(x.queue, x.bucket)] = waiting.get((x.queue, x.bucket), 0) + 1
    for key, c in live.buckets.items():
        assert c.offered == c.answered + c.abandoned + c.exited + c.overflowed + waiting.get(key, 0), key
        assert c.short_abandoned <= c.abandoned and c.answered_within <= c.answered
    for q in ("q1", "q2"):
        s = live.queue_stats(q, now)
        assert s["sl"] is None or 0.0 <= s["sl"] <= 1.0
