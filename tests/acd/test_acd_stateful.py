"""Model-based test: random command sequences must keep every engine invariant.

Invariants checked after every step:
* an agent is offered / assigned at most its capacity (per media and in total);
* no task is offered to two agents unless its queue uses ring_all;
* an ended (abandoned / exited / completed) task is never offered again, and every task
  ends at most once -- and, after the teardown drains everything, exactly once;
* every TaskReserved is followed by exactly one ReservationEnded (checked at teardown
  after all timers have run);
* agents are never reserved without a live offer; the indexes match the agents;
* a rejected command changes nothing (snapshot before == after).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hotline.acd import (
    AcdError,
    AgentConfig,
    DedicatedAgentRule,
    Engine,
    Media,
    OverflowRule,
    QueueConfig,
    RelaxRule,
    ReservationEnded,
    SkillEntry,
    Strategy,
    TaskAbandoned,
    TaskAccepted,
    TaskCompleted,
    TaskExited,
    TaskOffered,
    TaskOfferWithdrawn,
    TaskReserved,
    TaskSpec,
    TaskStatus,
)
from hotline.acd.events import Decision, Event

SKILLS = ["s1", "s2", "s3"]
QUEUES = [
    QueueConfig(
        "li",
        strategy=Strategy.LONGEST_IDLE,
        ring_timeout=8,
        wrap_up=3,
        pause_after_task=1,
        rules=(OverflowRule("ra", after=30), RelaxRule(after=10, requirements=None)),
    ),
    QueueConfig(
        "ra", strategy=Strategy.RING_ALL, ring_timeout=5, wrap_up=None, pause_after_task=0, max_wait=60
    ),
    QueueConfig(
        "mq",
        strategy=Strategy.MOST_QUALIFIED,
        requirements="s1>=2 OR s2",
        ring_timeout=None,
        wrap_up=0,
        priority_aging=0.5,
        max_length=6,
        rules=(
            DedicatedAgentRule("dedicated", timeout=7),
            OverflowRule("li", when="waiting > 3 and available(li) >= 1"),
        ),
    ),
    QueueConfig("rr", strategy=Strategy.ROUND_ROBIN, ring_timeout=4, wrap_up=2, leave_when_empty=True),
    QueueConfig("wr", strategy=Strategy.WEIGHTED_RANDOM, ring_timeout=6, wrap_up=1),
]
QUEUES += [
    QueueConfig("ft", strategy=Strategy.FEWEST_TASKS, ring_timeout=5, wrap_up=0, pause_after_task=2),
    QueueConfig("lt", strategy=Strategy.LEAST_TALK_TIME, ring_timeout=5, wrap_up=1, priority_aging=1.0),
    QueueConfig("ln", strategy=Strategy.LINEAR, ring_timeout=5, requirements="s3", join_when_empty=False),
    QueueConfig("rd", strategy=Strategy.RANDOM, ring_timeout=5),
]
QIDS = [q.id for q in QUEUES]
AGENTS = [
    AgentConfig("a0", skills={"s1": 3}, queues=("li", "mq", "ra")),
    AgentConfig(
        "a1",
        skills={"s1": 1, "s2": SkillEntry(4, 9)},
        queues=("mq", "rr", "wr"),
        capacity={Media.CALL: 1, Media.CHAT: 2},
        max_total=2,
    ),
    AgentConfig("a2", skills={"s2": 2, "s3": 1}, queues=("ra", "rr"), capacity={Media.CHAT: 3}),
    AgentConfig("a3", skills={"s3": 5}, queues=("li", "wr", "ra", "ft", "ln", "rd")),
    AgentConfig("a5", skills={"s2": 1}, queues=("lt", "ft", "rd"), capacity={Media.CALL: 1, Media.CHAT: 1}),
    AgentConfig("a4", skills={"s1": 9, "s2": 9, "s3": 9}, queues=tuple(QIDS)),
]
AIDS = [a.id for a in AGENTS] + ["ghost"]
REQS = [None, "s1", "s2>=3 OR s3", "s1 AND NOT s3", "s3>=4"]


class AcdMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.eng = Engine(skills=SKILLS, queues=QUEUES, seed=1)
        for a in AGENTS:
            self.eng.add_agent(a)
        self.now = 0.0
        self.n = 0
        self.ended: Counter[str] = Counter()
        self.created: set[str] = set()
        self.offered: dict[str, set[str]] = {}
        self.reserved: Counter[str] = Counter()
        self.decisions: list[Decision] = []

    # ------------------------------------------------------------- plumbing

    def consume(self, events: list[Event]) -> None:
        for e in events:
            if isinstance(e, TaskOffered):
                assert self.ended[e.task_id] == 0, f"ended task {e.task_id} offered again"
                self.offered.setdefault(e.task_id, set()).add(e.agent_id)
            elif isinstance(e, TaskOfferWithdrawn):
                self.offered[e.task_id].discard(e.agent_id)
            elif isinstance(e, TaskAccepted):
                self.offered[e.task_id] = set()
            elif isinstance(e, TaskAbandoned | TaskExited | TaskCompleted):
                self.ended[e.task_id] += 1
                assert self.ended[e.task_id] == 1, f"task {e.task_id} ended twice"
                assert not self.offered.get(e.task_id)
            elif isinstance(e, TaskReserved):
                self.reserved[e.task_id] += 1
                assert self.reserved[e.task_id] == 1
            elif isinstance(e, ReservationEnded):
                self.reserved[e.task_id] -= 1
                assert self.reserved[e.task_id] == 0
        for tid, agents in self.offered.items():
            if len(agents) > 1:
                assert self.eng.task_queue(tid) == "ra", f"{tid} offered to {agents}"

    def run(self, fn: Callable[[], list[Decision]]) -> None:
        self.decisions += self.eng.tick(self.now)
        self.consume(self.eng.pop_events())
        before = self.eng.snapshot()
        try:
            self.decisions += fn()
        except AcdError:
            assert self.eng.snapshot() == before, "rejected command changed the engine state"
        self.consume(self.eng.pop_events())

    def pick_task(self, i: int) -> str:
        live = sorted(self.eng.live_task_ids)
        pool = live or sorted(self.created) or ["none"]
        return pool[i % len(pool)]

    # ------------------------------------------------------------- rules

    @initialize()
    def log_in_some(self) -> None:
        for a in ("a0", "a2", "a4"):
            self.run(lambda a=a: self.eng.login(a, self.now, ready=True))

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 3.0, 7.0, 31.0]))
    def advance(self, dt: float) -> None:
        self.now += dt
        self.run(lambda: self.eng.tick(self.now))

    @rule(
        q=st.sampled_from(QIDS),
        media=st.sampled_from([Media.CALL, Media.CHAT]),
        prio=st.integers(0, 100),
        req=st.sampled_from(REQS),
        ded=st.sampled_from([None, "a0", "a4"]),
        back=st.sampled_from([None, 0.0, 5.0]),
    )
    def new_task(
        self, q: str, media: Media, prio: int, req: str | None, ded: str | None, back: float | None
    ) -> None:
        self.n += 1
        tid = f"t{self.n}"
        self.created.add(tid)
        since = None if back is None else max(0.0, self.now - back)
        data = {"dedicated": ded} if ded else {}
        spec = TaskSpec(tid, q, media=media, priority=prio, requirements=req, data=data, queued_since=since)
        self.run(lambda: self.eng.new_task(spec, self.now))

    @rule(a=st.sampled_from(AIDS), ready=st.booleans())
    def login(self, a: str, ready: bool) -> None:
        self.run(lambda: self.eng.login(a, self.now, ready=ready))

    @rule(a=st.sampled_from(AIDS))
    def logout(self, a: str) -> None:
        self.run(lambda: self.eng.logout(a, self.now))

    @rule(a=st.sampled_from(AIDS))
    def ready(self, a: str) -> None:
        self.run(lambda: self.eng.set_ready(a, self.now))

    @rule(a=st.sampled_from(AIDS), reason=st.sampled_from(["break", "lunch", ""]))
    def not_ready(self, a: str, reason: str) -> None:
        self.run(lambda: self.eng.set_not_ready(a, self.now, reason))

    @rule(a=st.sampled_from(AIDS), i=st.integers(0, 50))
    def accept(self, a: str, i: int) -> None:
        offers = self.eng.agent_offers(a) if a != "ghost" else ()
        tid = offers[i % len(offers)] if offers and i % 5 else self.pick_task(i)
        self.run(lambda: self.eng.accept(a, tid, self.now))

    @rule(a=st.sampled_from(AIDS), i=st.integers(0, 50))
    def reject(self, a: str, i: int) -> None:
        offers = self.eng.agent_offers(a) if a != "ghost" else ()
        tid = offers[i % len(offers)] if offers else self.pick_task(i)
        self.run(lambda: self.eng.reject(a, tid, self.now))

    @rule(a=st.sampled_from(AIDS), i=st.integers(0, 50), op=st.sampled_from(["complete", "hold", "unhold"]))
    def handle(self, a: str, i: int, op: str) -> None:
        tasks = self.eng.agent_tasks(a) if a != "ghost" else ()
        tid = tasks[i % len(tasks)] if tasks and i % 7 else self.pick_task(i)
        fn = getattr(self.eng, op)
        self.run(lambda: fn(a, tid, self.now))

    @rule(a=st.sampled_from(AIDS))
    def end_wrap_up(self, a: str) -> None:
        self.run(lambda: self.eng.end_wrap_up(a, self.now))

    @rule(a=st.sampled_from(AIDS), start=st.booleans())
    def outbound(self, a: str, start: bool) -> None:
        fn = self.eng.start_outbound if start else self.eng.end_outbound
        self.run(lambda: fn(a, self.now))

    @rule(i=st.integers(0, 50))
    def abandon(self, i: int) -> None:
        tid = self.pick_task(i)
        self.run(lambda: self.eng.abandon(tid, self.now))

    @rule(i=st.integers(0, 50), a=st.sampled_from(AIDS), d=st.sampled_from([0.0, 2.0, 10.0, -1.0]))
    def reserve(self, i: int, a: str, d: float) -> None:
        tid = self.pick_task(i)
        self.run(lambda: self.eng.reserve(tid, a, d, self.now))

    @rule(i=st.integers(0, 50))
    def release(self, i: int) -> None:
        tid = self.pick_task(i)
        self.run(lambda: self.eng.release(tid, self.now))

    @rule(
        i=st.integers(0, 50),
        q=st.sampled_from([None, *QIDS, "nowhere"]),
        a=st.sampled_from([None, "a1", "a3"]),
    )
    def requeue(self, i: int, q: str | None, a: str | None) -> None:
        tid = self.pick_task(i)
        self.run(lambda: self.eng.requeue(tid, self.now, queue=q, target_agent=a, target_timeout=4.0))

    @rule(
        i=st.integers(0, len(AGENTS) - 1),
        skills=st.dictionaries(st.sampled_from(SKILLS), st.integers(1, 9), max_size=3),
        queues=st.lists(st.sampled_from(QIDS), max_size=3, unique=True),
    )
    def update_agent(self, i: int, skills: dict[str, int], queues: list[str]) -> None:
        old = AGENTS[i]
        cfg = AgentConfig(
            old.id, skills=skills, queues=tuple(queues), capacity=old.capacity, max_total=old.max_total
        )
        self.run(lambda: self.eng.update_agent(cfg, self.now))

    @rule(back=st.sampled_from([0.5, 10.0]))
    def clock_backwards(self, back: float) -> None:
        self.run(lambda: self.eng.tick(self.now - back))

    # ------------------------------------------------------------- invariants

    @invariant()
    def engine_consistent(self) -> None:
        self.eng.check_invariants()

    @invariant()
    def ended_tasks_are_gone(self) -> None:
        for tid, n in self.ended.items():
            assert n == 1
            assert self.eng.task_status(tid) is TaskStatus.ENDED

    def teardown(self) -> None:
        # Drain: abandon waiting tasks, complete assigned ones, run every timer.
        eng = self.eng
        for tid in sorted(eng.live_task_ids):
            if eng.task_status(tid) in (TaskStatus.QUEUED, TaskStatus.OFFERED):
                self.run(lambda tid=tid: eng.abandon(tid, self.now))
        for a in eng.agent_ids:
            for tid in eng.agent_tasks(a):
                self.run(lambda a=a, tid=tid: eng.complete(a, tid, self.now))
        self.now += 10_000
        self.run(lambda: eng.tick(self.now))
        eng.check_invariants()
        assert eng.live_task_ids == ()
        assert all(self.ended[t] == 1 for t in self.created), "every task ends exactly once"
        assert all(v == 0 for v in self.reserved.values()), "every reservation ends"


AcdMachine.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestAcdStateful = AcdMachine.TestCase
