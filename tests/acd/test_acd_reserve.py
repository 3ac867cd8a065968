"""Reserving a waiting task for one agent (a supervisor's "reserve"): what the API builds on."""

from __future__ import annotations

import pytest

from hotline.acd import AgentConfig, Engine, InvalidTransitionError, QueueConfig, TaskSpec


def engine() -> Engine:
    eng = Engine(skills=["fault"], start=0.0)
    eng.add_queues(
        [QueueConfig("fault", requirements="fault>=2", ring_timeout=10, wrap_up=0, pause_after_task=0)]
    )
    eng.add_agent(AgentConfig("1", skills={"fault": 3}, queues=("fault",)))
    eng.add_agent(AgentConfig("2", skills={"fault": 1}, queues=("fault",)))
    eng.add_agent(AgentConfig("3", skills={"fault": 5}, queues=()))  # serves no queue
    return eng


def test_qualification_and_requirements_text() -> None:
    eng = engine()
    eng.new_task(TaskSpec("t", "fault"), 1.0)
    assert (
        eng.agent_qualifies("1", "t") and not eng.agent_qualifies("2", "t") and eng.agent_qualifies("3", "t")
    )
    assert "fault" in (eng.task_requirements("t") or "")
    assert eng.task_target("t") is None


def test_reserved_task_waits_for_its_agent_then_goes_back_to_the_line() -> None:
    eng = engine()
    eng.login("1", 0.0, ready=False)
    eng.login("3", 0.0, ready=False)
    eng.new_task(TaskSpec("t", "fault"), 1.0)
    eng.reserve("t", "3", 30.0, 2.0)
    assert eng.task_target("t") == "3"
    eng.set_ready("1", 3.0)
    assert eng.agent_offers("1") == ()  # kept for agent 3
    eng.set_ready("3", 4.0)  # offered as soon as agent 3 is ready, though 3 serves no queue
    assert eng.agent_offers("3") == ("t",)
    with pytest.raises(InvalidTransitionError):
        eng.reserve("t", "1", 30.0, 5.0)  # ringing: not waiting any more


def test_reservation_expires_and_overrides_an_earlier_decline() -> None:
    eng = engine()
    eng.login("1", 0.0, ready=True)
    eng.new_task(TaskSpec("t", "fault"), 1.0)
    eng.reject("1", "t", 2.0)  # declined: never offered to agent 1 again…
    assert eng.agent_offers("1") == ()
    eng.reserve("t", "1", 30.0, 3.0)  # …unless a supervisor reserves it for them
    assert eng.agent_offers("1") == ("t",)
    eng.reject("1", "t", 4.0)
    eng.login("3", 5.0, ready=False)
    eng.reserve("t", "3", 10.0, 5.0)
    eng.tick(16.0)  # expired: back in the general line (agent 1 declined, 3 does not serve it)
    assert eng.task_target("t") is None and eng.task_status("t") == "queued"
