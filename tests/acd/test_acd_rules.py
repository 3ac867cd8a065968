"""Routing rules, reservations, requeue, and timers."""

from __future__ import annotations

from dataclasses import dataclass

from hotline.acd import (
    AgentConfig,
    DedicatedAgentRule,
    Engine,
    Exit,
    ExitAction,
    Offer,
    Overflow,
    OverflowRule,
    PriorityRule,
    QueueConfig,
    RelaxRule,
    ReservationEnded,
    RouteRule,
    StickyAgentRule,
    TaskExited,
    TaskReserved,
    TaskSpec,
    TaskStatus,
)
from hotline.acd.events import Decision

SKILLS = ["billing", "tech"]


def offers(ds: list[Decision]) -> list[tuple[str, str]]:
    return [(d.task_id, d.agent_id) for d in ds if isinstance(d, Offer)]


def build(
    queues: list[QueueConfig], agents: list[AgentConfig], ready: tuple[str, ...] | None = None
) -> Engine:
    eng = Engine(skills=SKILLS, queues=queues)
    for a in agents:
        eng.add_agent(a)
        if ready is None or a.id in ready:
            eng.login(a.id, 0, ready=True)
    return eng


@dataclass
class Hours:
    open_from: float
    open_to: float

    def is_open(self, t: float) -> bool:
        return self.open_from <= t < self.open_to


def test_calendar_closed_action() -> None:
    vm = ExitAction("voicemail", announcement="closed.wav")
    eng = build([QueueConfig("q1", calendar=Hours(10, 20), closed_action=vm)], [])
    ds = eng.new_task(TaskSpec("t1", "q1"), 5)
    assert ds == [Exit(5, "t1", "q1", "closed", vm)]
    assert eng.task_status("t1") is TaskStatus.ENDED
    assert eng.new_task(TaskSpec("t2", "q1"), 12) == []
    assert eng.task_status("t2") is TaskStatus.QUEUED


def test_route_rule_by_data() -> None:
    q = [
        QueueConfig("main", rules=(RouteRule("data.vip == true", "vip"),)),
        QueueConfig("vip"),
    ]
    eng = build(q, [AgentConfig("v", queues=("vip",))])
    ds = eng.new_task(TaskSpec("t1", "main", data={"vip": True}), 1)
    assert Overflow(1, "t1", "main", "vip", "route") in ds
    assert offers(ds) == [("t1", "v")]
    eng.new_task(TaskSpec("t2", "main", data={"vip": False}), 2)
    assert eng.task_queue("t2") == "main"


def test_priority_rule() -> None:
    q = [
        QueueConfig(
            "q1", rules=(PriorityRule("data.region == 'north'", add=30), PriorityRule("data.vip", set_to=90))
        )
    ]
    eng = build(q, [])
    eng.new_task(TaskSpec("t1", "q1", priority=10, data={"region": "north"}), 1)
    eng.new_task(TaskSpec("t2", "q1", priority=10, data={"vip": 1}), 1)
    eng.new_task(TaskSpec("t3", "q1", priority=80, data={"region": "north"}), 1)
    assert (eng.task_priority("t1"), eng.task_priority("t2"), eng.task_priority("t3")) == (40, 90, 100)


def test_dedicated_agent_waits_then_anyone() -> None:
    q = [QueueConfig("q1", rules=(DedicatedAgentRule("agent", timeout=30),), pause_after_task=0)]
    eng = build(q, [AgentConfig("a1", queues=("q1",)), AgentConfig("a2", queues=("q1",))], ready=("a2",))
    ds = eng.new_task(TaskSpec("t1", "q1", data={"agent": "a1"}), 0)
    assert offers(ds) == []  # a2 is free but the task waits for a1
    assert offers(eng.login("a1", 10, ready=True)) == [("t1", "a1")]
    eng.reject("a1", "t1", 11)
    # rejected by the dedicated agent: reservation released, a2 gets it
    assert eng.agent_offers("a2") == ("t1",)
    ev = eng.pop_events()
    assert [e.reason for e in ev if isinstance(e, ReservationEnded)] == ["released"]


def test_dedicated_agent_timeout_expires() -> None:
    q = [QueueConfig("q1", rules=(DedicatedAgentRule("agent", timeout=30),), pause_after_task=0)]
    eng = build(q, [AgentConfig("a1", queues=("q1",)), AgentConfig("a2", queues=("q1",))], ready=("a2",))
    eng.new_task(TaskSpec("t1", "q1", data={"agent": "a1"}), 0)
    assert eng.next_deadline() == 30
    assert offers(eng.tick(30)) == [("t1", "a2")]
    ev = eng.pop_events()
    assert [e.kind for e in ev if isinstance(e, TaskReserved)] == ["dedicated"]
    assert [e.reason for e in ev if isinstance(e, ReservationEnded)] == ["expired"]


def test_sticky_agent_only_if_logged_in() -> None:
    q = [QueueConfig("q1", rules=(StickyAgentRule(timeout=20),), pause_after_task=0)]
    eng = build(q, [AgentConfig("a1", queues=("q1",)), AgentConfig("a2", queues=("q1",))])
    eng.new_task(TaskSpec("x", "q1"), 0)  # occupies a1 (longest idle, seq tie-break)
    assert eng.agent_offers("a1") == ("x",)
    eng.accept("a1", "x", 1)
    ds = eng.new_task(TaskSpec("t1", "q1", data={"last_agent": "a1"}), 2)
    assert offers(ds) == []  # waits for a1 although a2 is free
    assert offers(eng.complete("a1", "x", 3)) == [("t1", "a1")]
    eng.set_not_ready("a2", 4, "x")
    eng.logout("a2", 5)
    ds = eng.new_task(TaskSpec("t2", "q1", data={"last_agent": "a2"}), 6)
    assert eng.pop_events()[-1].__class__.__name__ == "TaskQueued"  # a2 logged out: no stickiness


def test_relaxation_after_n_seconds() -> None:
    q = [QueueConfig("q1", requirements="tech>=5", rules=(RelaxRule(after=15, requirements="tech>=2"),))]
    eng = build(q, [AgentConfig("a1", skills={"tech": 3}, queues=("q1",))])
    assert offers(eng.new_task(TaskSpec("t1", "q1"), 0)) == []
    assert eng.next_deadline() == 15
    assert offers(eng.tick(15)) == [("t1", "a1")]


def test_overflow_after_n_seconds_keeps_place() -> None:
    q = [
        QueueConfig("q1", rules=(OverflowRule("q2", after=30),)),
        QueueConfig("q2", pause_after_task=0),
    ]
    eng = build(q, [AgentConfig("b", queues=("q2",))])
    eng.set_not_ready("b", 0, "x")
    eng.new_task(TaskSpec("t1", "q1"), 0)
    eng.new_task(TaskSpec("t2", "q2"), 10)
    ds = eng.tick(30)
    assert ds == [Overflow(30, "t1", "q1", "q2", "overflow")]
    assert eng.waiting("q2") == ["t1", "t2"]  # ordered by original arrival
    assert offers(eng.set_ready("b", 31)) == [("t1", "b")]


def test_conditional_overflow() -> None:
    q = [
        QueueConfig("q1", rules=(OverflowRule("q2", when="waiting > 2 and available(q2) >= 1"),)),
        QueueConfig("q2"),
    ]
    eng = build(q, [AgentConfig("b", queues=("q2",))], ready=())
    for i in range(3):
        eng.new_task(TaskSpec(f"t{i}", "q1"), float(i))
    assert eng.waiting("q1") == ["t0", "t1", "t2"]
    eng.login("b", 3.0, ready=True)
    ds = eng.tick(4.0)  # the periodic evaluation (every 1 s)
    assert [d for d in ds if isinstance(d, Overflow)] == [Overflow(4.0, "t0", "q1", "q2", "condition")]
    assert offers(ds) == [("t0", "b")]
    assert eng.waiting("q1") == ["t1", "t2"]


def test_max_wait_exit() -> None:
    act = ExitAction("voicemail")
    eng = build([QueueConfig("q1", max_wait=60, max_wait_action=act)], [])
    eng.new_task(TaskSpec("t1", "q1"), 0)
    assert eng.tick(59.9) == []
    assert eng.tick(60) == [Exit(60, "t1", "q1", "max_wait", act)]
    assert any(isinstance(e, TaskExited) and e.wait == 60 for e in eng.pop_events())


def test_max_wait_deferred_while_ringing() -> None:
    eng = build([QueueConfig("q1", max_wait=5, ring_timeout=10)], [AgentConfig("a", queues=("q1",))])
    eng.new_task(TaskSpec("t1", "q1"), 0)
    assert eng.tick(6) == []  # ringing: not pulled away from the agent
    ds = eng.tick(10)  # ring-no-answer: requeued, then max wait applies
    assert [type(d).__name__ for d in ds] == ["Withdraw", "Exit"]


def test_join_when_empty_false_and_max_length() -> None:
    q = [
        QueueConfig("nojoin", join_when_empty=False),
        QueueConfig("short", max_length=1),
    ]
    eng = build(q, [])
    assert [d.reason for d in eng.new_task(TaskSpec("t1", "nojoin"), 0) if isinstance(d, Exit)] == [
        "no_agents"
    ]
    assert eng.new_task(TaskSpec("t2", "short"), 0) == []
    assert [d.reason for d in eng.new_task(TaskSpec("t3", "short"), 0) if isinstance(d, Exit)] == [
        "queue_full"
    ]


def test_leave_when_empty() -> None:
    eng = build([QueueConfig("q1", leave_when_empty=True)], [AgentConfig("a", queues=("q1",))])
    eng.set_not_ready("a", 0, "x")
    eng.new_task(TaskSpec("t1", "q1"), 1)
    ds = eng.logout("a", 2)
    assert [(d.task_id, d.reason) for d in ds if isinstance(d, Exit)] == [("t1", "no_agents")]


def test_reservation_expires_and_requeues() -> None:
    eng = build(
        [QueueConfig("q1", pause_after_task=0)],
        [AgentConfig("a", queues=("q1",)), AgentConfig("b", queues=("q1",))],
    )
    eng.set_not_ready("a", 0, "x")
    eng.set_not_ready("b", 0, "x")
    eng.new_task(TaskSpec("t1", "q1"), 1)
    eng.reserve("t1", "a", 10, 2)
    assert offers(eng.set_ready("b", 3)) == []
    assert offers(eng.tick(12)) == [("t1", "b")]
    assert [e.reason for e in eng.pop_events() if isinstance(e, ReservationEnded)] == ["expired"]


def test_reservation_release_and_accept() -> None:
    eng = build(
        [QueueConfig("q1", pause_after_task=0)],
        [AgentConfig("a", queues=("q1",)), AgentConfig("b", queues=("q1",))],
    )
    eng.set_not_ready("a", 0, "x")
    eng.set_not_ready("b", 0, "x")
    eng.new_task(TaskSpec("t1", "q1"), 1)
    eng.new_task(TaskSpec("t2", "q1"), 1)
    eng.reserve("t1", "a", 10, 2)
    eng.reserve("t2", "a", 10, 2)
    eng.set_ready("b", 3)
    assert eng.agent_offers("b") == ()
    assert offers(eng.release("t2", 4)) == [("t2", "b")]
    assert offers(eng.set_ready("a", 5)) == [("t1", "a")]
    eng.accept("a", "t1", 6)
    assert [e.reason for e in eng.pop_events() if isinstance(e, ReservationEnded)] == ["released", "accepted"]


def test_requeue_with_target_and_callback_keeps_place() -> None:
    eng = build(
        [QueueConfig("q1", pause_after_task=0)],
        [AgentConfig("a", queues=("q1",)), AgentConfig("b", queues=("q1",))],
    )
    eng.set_not_ready("b", 0, "x")
    eng.new_task(TaskSpec("t1", "q1"), 1)
    eng.accept("a", "t1", 2)
    eng.set_not_ready("a", 3, "x")
    eng.new_task(TaskSpec("t2", "q1"), 4)
    eng.new_task(TaskSpec("cb", "q1", queued_since=0.5), 5)  # callback: original call queued at 0.5
    assert eng.waiting("q1") == ["cb", "t2"]
    eng.requeue("t1", 6, target_agent="b", target_timeout=20)
    assert eng.waiting("q1") == ["cb", "t1", "t2"]
    # b may take t1 (targeted) or anything in line: cb waited longest
    assert offers(eng.set_ready("b", 7)) == [("cb", "b")]
    eng.accept("b", "cb", 8)
    assert offers(eng.complete("b", "cb", 9)) == [("t1", "b")]


def test_next_deadline_none_when_idle() -> None:
    eng = build([QueueConfig("q1")], [])
    assert eng.next_deadline() is None


def test_requeue_of_reserved_task_drops_reservation() -> None:
    eng = build(
        [QueueConfig("q1", pause_after_task=0)],
        [AgentConfig("a", queues=("q1",)), AgentConfig("b", queues=("q1",))],
    )
    eng.set_not_ready("a", 0, "x")
    eng.set_not_ready("b", 0, "x")
    eng.new_task(TaskSpec("t1", "q1"), 1)
    eng.reserve("t1", "a", 100, 2)
    eng.requeue("t1", 3)  # back to the general line
    assert offers(eng.set_ready("b", 4)) == [("t1", "b")]
    eng.check_invariants()
    assert [e.reason for e in eng.pop_events() if isinstance(e, ReservationEnded)] == ["cancelled"]


def test_target_agent_on_arrival_is_honoured_before_others() -> None:
    eng = build(
        [QueueConfig("q1")],
        [AgentConfig("a", queues=("q1",)), AgentConfig("b", queues=("q1",))],
        ready=("b",),
    )
    ds = eng.new_task(TaskSpec("t1", "q1", target_agent="a", target_timeout=5), 1)
    assert offers(ds) == []
    assert offers(eng.tick(6)) == [("t1", "b")]


def test_conditional_overflow_only_after_local_agents_tried() -> None:
    q = [
        QueueConfig("q1", rules=(OverflowRule("q2", when="available(q2) >= 1"),)),
        QueueConfig("q2"),
    ]
    eng = build(q, [AgentConfig("a", queues=("q1",)), AgentConfig("b", queues=("q2",))])
    ds = eng.new_task(TaskSpec("t1", "q1"), 1)
    assert offers(ds) == [("t1", "a")]  # local agent free: no overflow
    ds = eng.new_task(TaskSpec("t2", "q1"), 2)
    assert [type(d).__name__ for d in ds] == ["Overflow", "Offer"]
    assert offers(ds) == [("t2", "b")]


def test_leave_when_empty_on_reconfiguration() -> None:
    eng = build(
        [QueueConfig("q1", leave_when_empty=True), QueueConfig("q2")], [AgentConfig("a", queues=("q1",))]
    )
    eng.set_not_ready("a", 0, "x")
    eng.new_task(TaskSpec("t1", "q1"), 1)
    ds = eng.update_agent(AgentConfig("a", queues=("q2",)), 2)
    assert [(d.task_id, d.reason) for d in ds if isinstance(d, Exit)] == [("t1", "no_agents")]
