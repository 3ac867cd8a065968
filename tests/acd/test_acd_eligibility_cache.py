"""The engine caches and interns agent eligibility: every state change must invalidate it.

``check_invariants`` compares the cached eligibility (and the per-queue eligibility
indexes) with a from-scratch computation; these tests walk an agent through every
kind of change (presence, offers, tasks, hold, wrap-up, pause, capacity updates) and
check both the invariant and the observable routing after each step.
"""

from __future__ import annotations

import pytest

from hotline.acd import AgentConfig, Engine, InvalidValueError, Media, Offer, QueueConfig, TaskSpec
from hotline.acd.events import Decision

MULTI = {Media.CALL: 1, Media.CALLBACK: 1, Media.CHAT: 2, Media.EMAIL: 1}


def _engine(cfg: AgentConfig, *, wrap_up: float | None = 5.0, pause: float = 3.0) -> Engine:
    eng = Engine(skills=["s"], queues=[QueueConfig("q", wrap_up=wrap_up, pause_after_task=pause)])
    eng.add_agent(cfg)
    eng.check_invariants()
    return eng


def _offered(ds: list[Decision]) -> list[str]:
    return [d.task_id for d in ds if isinstance(d, Offer)]


def _check(eng: Engine, agent_id: str, expected: set[Media]) -> None:
    eng.check_invariants()
    assert {m for m in Media if agent_id in eng._elig_q.get(("q", m), ())} == expected


def test_eligibility_follows_every_agent_change() -> None:
    eng = _engine(AgentConfig("a", skills={"s": 5}, queues=("q",), capacity=MULTI, max_total=3))
    _check(eng, "a", set())
    eng.login("a", 0.0)
    _check(eng, "a", set())
    eng.set_ready("a", 0.0)
    _check(eng, "a", {Media.CALL, Media.CALLBACK, Media.CHAT, Media.EMAIL})
    assert _offered(eng.new_task(TaskSpec("c1", queue="q", media=Media.CALL), 1.0)) == ["c1"]
    _check(eng, "a", {Media.CHAT, Media.EMAIL})  # voice_max 1 reached
    assert _offered(eng.new_task(TaskSpec("h1", queue="q", media=Media.CHAT), 1.0)) == ["h1"]
    _check(eng, "a", {Media.CHAT, Media.EMAIL})
    eng.accept("a", "c1", 2.0)
    eng.accept("a", "h1", 2.0)
    _check(eng, "a", {Media.CHAT, Media.EMAIL})
    assert _offered(eng.new_task(TaskSpec("h2", queue="q", media=Media.CHAT), 2.0)) == ["h2"]
    _check(eng, "a", set())  # max_total 3 reached
    assert _offered(eng.new_task(TaskSpec("e1", queue="q", media=Media.EMAIL), 2.5)) == []
    eng.reject("a", "h2", 3.0)
    # back under max_total: the queued email is offered at once, which fills it again
    assert eng.agent_offers("a") == ("e1",)
    _check(eng, "a", set())
    eng.accept("a", "e1", 3.0)
    eng.hold("a", "c1", 3.5)
    _check(eng, "a", set())
    eng.unhold("a", "c1", 3.6)
    eng.complete("a", "c1", 4.0)
    _check(eng, "a", set())  # wrap-up
    eng.tick(9.0)  # wrap-up over, pause until 12 (other tasks still active)
    _check(eng, "a", set())
    eng.complete("a", "h1", 9.5)
    eng.complete("a", "e1", 9.5)
    eng.end_wrap_up("a", 10.0)
    _check(eng, "a", set())  # pause
    eng.tick(13.0)
    _check(eng, "a", {Media.CALL, Media.CALLBACK, Media.CHAT, Media.EMAIL})
    eng.set_not_ready("a", 13.0, "break")
    _check(eng, "a", set())
    eng.set_ready("a", 14.0)
    eng.start_outbound("a", 14.0)
    _check(eng, "a", set())
    eng.end_outbound("a", 15.0)
    _check(eng, "a", {Media.CALL, Media.CALLBACK, Media.CHAT, Media.EMAIL})
    # capacity change: the cached sets of the old configuration must not survive
    eng.update_agent(AgentConfig("a", skills={"s": 5}, queues=("q",), capacity={Media.CHAT: 1}), 16.0)
    _check(eng, "a", {Media.CHAT})
    assert _offered(eng.new_task(TaskSpec("h3", queue="q", media=Media.CHAT), 16.0)) == ["h3"]
    _check(eng, "a", set())
    eng.update_agent(AgentConfig("a", skills={"s": 5}, queues=("q",), capacity={Media.CHAT: 3}), 17.0)
    _check(eng, "a", {Media.CHAT})
    eng.abandon("h3", 17.5)
    _check(eng, "a", {Media.CHAT})
    eng.update_agent(
        AgentConfig("a", skills={"s": 5}, queues=("q",), capacity={Media.CHAT: 3}, max_total=0), 18.0
    )
    _check(eng, "a", set())
    eng.update_agent(
        AgentConfig("a", skills={"s": 5}, queues=("q",), capacity={Media.CALL: 1}, voice_max=0), 19.0
    )
    _check(eng, "a", set())  # voice_max 0: no voice media even when idle
    eng.update_agent(AgentConfig("a", skills={"s": 5}, queues=("q",), capacity={Media.CALL: 1}), 21.0)
    _check(eng, "a", {Media.CALL})
    eng.logout("a", 22.0)
    _check(eng, "a", set())


def test_ring_timeout_and_timers_between_commands_refresh_eligibility() -> None:
    eng = Engine(skills=["s"], queues=[QueueConfig("q", ring_timeout=10.0, wrap_up=5.0, pause_after_task=0)])
    eng.add_agent(AgentConfig("a", skills={"s": 1}, queues=("q",)))
    eng.add_agent(AgentConfig("b", skills={"s": 1}, queues=("q",)))
    eng.login("a", 0.0, ready=True)
    eng.login("b", 0.0, ready=True)
    first = [d.agent_id for d in eng.new_task(TaskSpec("t1", queue="q"), 1.0) if isinstance(d, Offer)]
    eng.check_invariants()
    # the ring timeout fires inside the next command: the rung agent goes not ready (rona)
    # and the task is offered to the other agent, whose eligibility must be taken away
    eng.new_task(TaskSpec("t2", queue="q"), 11.0)
    eng.check_invariants()
    other = "b" if first == ["a"] else "a"
    assert eng.agent_offers(other) == ("t1",)
    eng.accept(other, "t1", 12.0)
    eng.complete(other, "t1", 13.0)
    eng.check_invariants()
    # wrap-up ends by timer at 18 inside a command at a later time: t2 is then offered
    eng.tick(17.9)
    assert eng.agent_offers(other) == ()
    ds = eng.tick(18.5)
    assert _offered(ds) == ["t2"]
    eng.check_invariants()


def test_invalid_now_is_still_rejected_with_fast_clock_path() -> None:
    eng = _engine(AgentConfig("a", skills={"s": 5}, queues=("q",)))
    for bad in (float("nan"), float("inf"), -float("inf"), True, "1"):
        with pytest.raises(InvalidValueError):
            eng.tick(bad)  # type: ignore[arg-type]
    eng.tick(1)  # plain int still accepted
    assert eng.now == 1.0 and isinstance(eng.now, float)


def test_queue_state_counts_follow_the_agent_after_a_queue_change() -> None:
    eng = Engine(skills=["s"], queues=[QueueConfig("q", pause_after_task=0), QueueConfig("r")])
    eng.add_agent(AgentConfig("a", skills={"s": 1}, queues=("q",)))
    eng.login("a", 0.0, ready=True)
    assert eng.queue_metric("q", "available") == 1
    eng.update_agent(AgentConfig("a", skills={"s": 1}, queues=("r",)), 1.0)
    eng.set_not_ready("a", 2.0, "break")
    assert (eng.queue_metric("q", "available"), eng.queue_metric("q", "not_ready")) == (0, 0)
    assert (eng.queue_metric("r", "available"), eng.queue_metric("r", "not_ready")) == (0, 1)
    eng.set_ready("a", 3.0)
    assert eng.queue_metric("r", "available") == 1 and eng.queue_metric("q", "available") == 0
    assert _offered(eng.new_task(TaskSpec("t", queue="r"), 4.0)) == ["t"]
    assert eng.queue_metric("r", "busy") == 1 and eng.queue_metric("q", "busy") == 0
    eng.check_invariants()
