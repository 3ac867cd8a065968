"""Bad input: clear AcdError subclasses naming the item; rejected commands change nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hotline.acd import (
    AcdError,
    AgentConfig,
    ClockError,
    ConditionSyntaxError,
    ConfigurationError,
    DuplicateItemError,
    Engine,
    InvalidValueError,
    OverflowRule,
    QueueConfig,
    RelaxRule,
    RequirementSyntaxError,
    RouteRule,
    ScoreWeights,
    SkillEntry,
    TaskSpec,
    UnknownAgentError,
    UnknownQueueError,
    UnknownSkillError,
    UnknownTaskError,
)
from hotline.acd.model import Media


def engine() -> Engine:
    eng = Engine(skills=["billing"], queues=[QueueConfig("q1", ring_timeout=10)])
    eng.add_agent(AgentConfig("a1", skills={"billing": 2}, queues=("q1",)))
    eng.login("a1", 0, ready=True)
    eng.new_task(TaskSpec("t1", "q1"), 1)
    eng.new_task(TaskSpec("t2", "q1"), 1)
    return eng


CASES: list[tuple[Callable[[Engine], object], type[AcdError], str]] = [
    (lambda e: e.new_task(TaskSpec("t9", "nowhere"), 2), UnknownQueueError, "nowhere"),
    (lambda e: e.new_task(TaskSpec("t9", "q1", requirements="spanish"), 2), UnknownSkillError, "spanish"),
    (
        lambda e: e.new_task(TaskSpec("t9", "q1", requirements="billing >"), 2),
        RequirementSyntaxError,
        "position",
    ),
    (lambda e: e.new_task(TaskSpec("t9", "q1", priority=101), 2), InvalidValueError, "priority"),
    (lambda e: e.new_task(TaskSpec("t9", "q1", priority=-1), 2), InvalidValueError, "priority"),
    (lambda e: e.new_task(TaskSpec("t9", "q1", media="fax"), 2), InvalidValueError, "fax"),  # type: ignore[arg-type]
    (lambda e: e.new_task(TaskSpec("t9", "q1", queued_since=-5), 2), InvalidValueError, "queued_since"),
    (lambda e: e.new_task(TaskSpec("t9", "q1", target_agent="zed"), 2), UnknownAgentError, "zed"),
    (lambda e: e.new_task(TaskSpec("t1", "q1"), 2), DuplicateItemError, "t1"),
    (lambda e: e.accept("zed", "t1", 2), UnknownAgentError, "zed"),
    (lambda e: e.accept("a1", "t404", 2), UnknownTaskError, "t404"),
    (lambda e: e.abandon("t404", 2), UnknownTaskError, "t404"),
    (lambda e: e.reserve("t2", "a1", -1, 2), InvalidValueError, "duration"),
    (lambda e: e.reserve("t2", "zed", 5, 2), UnknownAgentError, "zed"),
    (lambda e: e.requeue("t2", 2, queue="nowhere"), UnknownQueueError, "nowhere"),
    (lambda e: e.requeue("t2", 2, target_timeout=-1), InvalidValueError, "target_timeout"),
    (lambda e: e.set_not_ready("a1", 2, ""), InvalidValueError, "reason"),
    (lambda e: e.tick(0.5), ClockError, "backwards"),
    (lambda e: e.tick(float("nan")), InvalidValueError, "now"),
    (lambda e: e.add_agent(AgentConfig("a1")), DuplicateItemError, "a1"),
    (lambda e: e.add_agent(AgentConfig("a2", skills={"x": 1})), UnknownSkillError, "'x'"),
    (lambda e: e.add_agent(AgentConfig("a2", queues=("nowhere",))), UnknownQueueError, "nowhere"),
    (lambda e: e.add_agent(AgentConfig("a2", capacity={Media.CHAT: -1})), InvalidValueError, "capacity"),
    (lambda e: e.add_agent(AgentConfig("a2", skills={"billing": 10})), InvalidValueError, "level"),
    (lambda e: e.update_agent(AgentConfig("a1", skills={"nope": 1}), 2), UnknownSkillError, "nope"),
    (lambda e: e.add_queue(QueueConfig("q1")), DuplicateItemError, "q1"),
    (lambda e: e.add_queue(QueueConfig("q2", ring_timeout=-1)), InvalidValueError, "ring_timeout"),
    (lambda e: e.add_queue(QueueConfig("q2", requirements="NOT billing")), RequirementSyntaxError, "NOT"),
    (lambda e: e.add_queue(QueueConfig("q2", rules=(OverflowRule("q9"),))), UnknownQueueError, "q9"),
    (lambda e: e.add_queue(QueueConfig("q2", rules=(OverflowRule("q2"),))), ConfigurationError, "itself"),
    (
        lambda e: e.add_queue(QueueConfig("q2", rules=(RouteRule("vip = 1", "q1"),))),
        ConditionSyntaxError,
        "==",
    ),
    (
        lambda e: e.add_queue(QueueConfig("q2", rules=(OverflowRule("q1", when="available(q7) > 1"),))),
        UnknownQueueError,
        "q7",
    ),
    (lambda e: e.add_queue(QueueConfig("q2", rules=(RelaxRule(5, "tech"),))), UnknownSkillError, "tech"),
    (lambda e: e.add_queue(QueueConfig("q2", rules=(RelaxRule(-5),))), InvalidValueError, "after"),
    (lambda e: e.add_queue(QueueConfig("q2", weights=ScoreWeights(under=-1))), InvalidValueError, "under"),
    (lambda e: e.add_queue(QueueConfig("q2", max_length=-1)), InvalidValueError, "max_length"),
]


@pytest.mark.parametrize(("command", "exc", "fragment"), CASES)
def test_rejected_command_names_item_and_changes_nothing(
    command: Callable[[Engine], object], exc: type[AcdError], fragment: str
) -> None:
    eng = engine()
    eng.tick(2)  # commands below run at t=2 (tick(0.5) is rejected as backwards)
    eng.pop_events()
    before = eng.snapshot()
    queues_before = eng.queue_ids
    with pytest.raises(exc) as ei:
        command(eng)
    assert fragment in str(ei.value)
    assert eng.snapshot() == before
    assert eng.queue_ids == queues_before
    assert eng.pop_events() == []


def test_skill_entry_validation() -> None:
    with pytest.raises(InvalidValueError):
        SkillEntry(0)
    with pytest.raises(InvalidValueError):
        SkillEntry(3, preference=10)


def test_errors_are_also_builtin_kinds() -> None:
    assert issubclass(UnknownTaskError, KeyError)
    assert issubclass(RequirementSyntaxError, ValueError)
    assert str(UnknownTaskError("t9")) == "unknown task: 't9'"


def test_decisions_from_timers_survive_a_rejected_command() -> None:
    eng = engine()
    # ring timeout of t1 at 11: the rejected command at 12 still fires it
    with pytest.raises(UnknownTaskError):
        eng.abandon("nope", 12)
    pending = eng.pop_decisions()
    assert [type(d).__name__ for d in pending] == ["Withdraw"]


def test_task_ids_never_reused() -> None:
    eng = engine()
    eng.abandon("t2", 2)
    with pytest.raises(DuplicateItemError):
        eng.new_task(TaskSpec("t2", "q1"), 3)
