"""Real-time statistics from events."""

from __future__ import annotations

import math

from hotline.acd import AgentConfig, Engine, QueueConfig, TaskSpec
from hotline.acd.stats import QueueStats


def setup() -> tuple[Engine, QueueStats]:
    eng = Engine(queues=[QueueConfig("q1", pause_after_task=0, wrap_up=2)])
    for i in range(2):
        eng.add_agent(AgentConfig(f"a{i}", queues=("q1",)))
    stats = QueueStats(sl_threshold=20)
    return eng, stats


def test_counts_sl_asa_abandoned() -> None:
    eng, stats = setup()
    eng.login("a0", 0, ready=True)
    eng.login("a1", 0)  # not ready
    eng.new_task(TaskSpec("t1", "q1"), 1)  # offered to a0
    eng.new_task(TaskSpec("t2", "q1"), 2)
    eng.new_task(TaskSpec("t3", "q1"), 3)
    stats.consume(eng.pop_events())
    s = stats.snapshot("q1", 5)
    assert (s.waiting, s.longest_wait, s.busy, s.not_ready, s.available) == (3, 4, 1, 1, 0)
    eng.accept("a0", "t1", 6)  # waited 5
    eng.abandon("t3", 40)  # waited 37 > 20
    eng.complete("a0", "t1", 50)  # handle 44, then wrap-up 2 s
    eng.tick(52)  # t2 offered to a0
    eng.accept("a0", "t2", 53)  # waited 51
    stats.consume(eng.pop_events())
    s = stats.snapshot("q1", 53)
    assert s.waiting == 0 and s.answered == 2 and s.abandoned == 1 and s.abandoned_after == 1
    assert s.service_level == 1 / 3
    assert s.asa == (5 + 51) / 2
    assert s.aht == 44
    assert s.offered == 3


def test_expected_wait() -> None:
    eng, stats = setup()
    stats.consume(eng.pop_events())
    assert math.isinf(stats.expected_wait("q1", 0))  # nobody staffed
    eng.login("a0", 0, ready=True)
    eng.login("a1", 0, ready=True)
    stats.consume(eng.pop_events())
    assert stats.expected_wait("q1", 0) == 0  # free agent
    for i in range(5):
        eng.new_task(TaskSpec(f"t{i}", "q1"), 1)
    stats.consume(eng.pop_events())
    # 5 waiting (2 ringing), 0 free, 2 staffed, AHT default 180: (5+1)*180/2
    assert stats.expected_wait("q1", 1) == 540
    snap = stats.snapshot("q1", 1)
    assert snap.expected_wait == 540 and snap.service_level is None and snap.asa is None


def test_overflow_and_exit_leave_waiting() -> None:
    from hotline.acd import OverflowRule

    eng = Engine(queues=[QueueConfig("a", rules=(OverflowRule("b", after=5),)), QueueConfig("b", max_wait=3)])
    stats = QueueStats()
    eng.new_task(TaskSpec("t", "a"), 0)
    eng.tick(5)
    stats.consume(eng.pop_events())
    assert stats.snapshot("a", 5).waiting == 0 and stats.snapshot("a", 5).overflowed_out == 1
    assert stats.snapshot("b", 5).waiting == 1
    eng.tick(8)
    stats.consume(eng.pop_events())
    assert stats.snapshot("b", 8).waiting == 0 and stats.snapshot("b", 8).exited == 1


def test_agent_moved_between_queues() -> None:
    eng = Engine(queues=[QueueConfig("a"), QueueConfig("b")])
    eng.add_agent(AgentConfig("x", queues=("a",)))
    eng.login("x", 0, ready=True)
    stats = QueueStats()
    stats.consume(eng.pop_events())
    assert stats.snapshot("a", 0).available == 1
    eng.update_agent(AgentConfig("x", queues=("b",)), 1)
    stats.consume(eng.pop_events())
    assert stats.snapshot("a", 1).available == 0
    assert stats.snapshot("b", 1).available == 1
