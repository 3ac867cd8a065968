"""A tiny discrete-event simulation driving the engine only through its public API.

Demonstrates the simulator pattern (jump to min(next arrival, next_deadline(), next
agent action)) and checks conservation of tasks and statistics at the end.
"""

from __future__ import annotations

import heapq
import random

from hotline.acd import (
    AgentConfig,
    Engine,
    Offer,
    OverflowRule,
    QueueConfig,
    Strategy,
    TaskAbandoned,
    TaskCompleted,
    TaskExited,
    TaskSpec,
)
from hotline.acd.events import Decision, Event
from hotline.acd.stats import QueueStats


def simulate(seed: int) -> tuple[list[Event], QueueStats, Engine]:
    rng = random.Random(seed)
    eng = Engine(
        skills=["en", "fr"],
        queues=[
            QueueConfig(
                "en", requirements="en", wrap_up=5, ring_timeout=8, rules=(OverflowRule("any", after=40),)
            ),
            QueueConfig(
                "fr", requirements="fr>=3", strategy=Strategy.MOST_QUALIFIED, wrap_up=5, max_wait=120
            ),
            QueueConfig("any", strategy=Strategy.ROUND_ROBIN, wrap_up=0),
        ],
        seed=seed,
    )
    for i in range(12):
        sk = {"en": rng.randint(1, 9)} if i % 3 else {"fr": rng.randint(3, 9), "en": 2}
        eng.add_agent(AgentConfig(f"a{i}", skills=sk, queues=("en", "fr", "any") if i % 2 else ("en", "fr")))
        eng.login(f"a{i}", 0.0, ready=True)
    stats = QueueStats()
    log: list[Event] = []
    actions: list[tuple[float, int, str, str, str]] = []  # (time, seq, kind, agent, task)
    seq = 0
    now = 0.0
    next_arrival = rng.expovariate(1 / 6)
    n = 0
    patience: dict[str, float] = {}

    def handle(ds: list[Decision]) -> None:
        nonlocal seq
        for d in ds:
            if isinstance(d, Offer):
                seq += 1
                if rng.random() < 0.9:  # answers after a few seconds, else ring-no-answer
                    heapq.heappush(actions, (now + rng.uniform(1, 5), seq, "accept", d.agent_id, d.task_id))

    while now < 3600:
        candidates = [next_arrival]
        if actions:
            candidates.append(actions[0][0])
        nd = eng.next_deadline()
        if nd is not None:
            candidates.append(nd)
        if patience:
            candidates.append(min(patience.values()))
        now = max(now, min(candidates))
        if now == next_arrival:
            n += 1
            tid = f"t{n}"
            q = rng.choice(["en", "en", "fr"])
            handle(eng.new_task(TaskSpec(tid, q, priority=rng.choice([0, 0, 20])), now))
            patience[tid] = now + rng.expovariate(1 / 90)
            next_arrival = now + rng.expovariate(1 / 6)
        elif actions and actions[0][0] == now:
            _, _, kind, aid, tid = heapq.heappop(actions)
            try:
                if kind == "accept":
                    handle(eng.accept(aid, tid, now))
                    patience.pop(tid, None)
                    seq += 1
                    heapq.heappush(actions, (now + rng.expovariate(1 / 60), seq, "complete", aid, tid))
                else:
                    handle(eng.complete(aid, tid, now))
            except Exception:  # the offer was withdrawn meanwhile (rona, abandoned)
                handle(eng.pop_decisions())
        elif patience and min(patience.values()) == now:
            tid = min(patience, key=lambda t: (patience[t], t))
            del patience[tid]
            if eng.task_status(tid).value in ("queued", "offered"):
                handle(eng.abandon(tid, now))
        else:
            handle(eng.tick(now))
            for a in eng.agent_ids:  # agents put not ready by rona come back
                if eng.agent_reason(a) == "rona":
                    handle(eng.set_ready(a, now))
        ev = eng.pop_events()
        stats.consume(ev)
        log += ev
        eng.check_invariants()
    return log, stats, eng


def test_simulation_conservation_and_determinism() -> None:
    log, stats, eng = simulate(4)
    ends = [e.task_id for e in log if isinstance(e, TaskCompleted | TaskAbandoned | TaskExited)]
    assert len(ends) == len(set(ends))
    live = set(eng.live_task_ids)
    assert live.isdisjoint(ends)
    arrived = {e.task_id for e in log if type(e).__name__ == "TaskQueued"}
    assert arrived == live | set(ends) | {e.task_id for e in log if isinstance(e, TaskExited)}
    snaps = [stats.snapshot(q, eng.now) for q in ("en", "fr", "any")]
    assert sum(s.answered for s in snaps) > 200
    for s in snaps:
        assert s.waiting == eng.queue_metric(s.queue_id, "waiting")
        if s.service_level is not None:
            assert 0 <= s.service_level <= 1
    log2, _, _ = simulate(4)
    assert log2 == log
