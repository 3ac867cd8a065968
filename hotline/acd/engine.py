"""The ACD routing engine: pure, synchronous, deterministic, sans-IO.

Feed commands in (methods such as :meth:`Engine.new_task`, :meth:`Engine.accept`, or
:meth:`Engine.handle` with a command dataclass), each with the current time ``now``
in float seconds.  Every command returns the :mod:`decisions <hotline.acd.events>`
the I/O shell must carry out (offer, withdraw, overflow, exit) and appends facts to an
event buffer drained with :meth:`Engine.pop_events`.  Timers (ring timeout, wrap-up,
pause, reservation expiry, overflow/relaxation/max-wait) are processed by
:meth:`Engine.tick`; :meth:`Engine.next_deadline` tells the shell when to call it next.
Every command first advances the clock to ``now`` (firing due timers), then validates,
then mutates: a command that raises :class:`~hotline.acd.errors.AcdError` changes
nothing beyond what ``tick(now)`` would have done (decisions produced by those timers
are kept and returned by the next call, or by :meth:`Engine.pop_decisions`).

Determinism: no wall clock, no set-iteration order leaks into decisions (every choice
is a ``min`` over total keys ending in a registration sequence number, or a seeded
``random.Random`` draw over seq-sorted candidates).
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from hotline.acd.conditions import Condition, Value, parse_condition
from hotline.acd.errors import (
    ClockError,
    ConfigurationError,
    DuplicateItemError,
    InvalidTransitionError,
    InvalidValueError,
    UnknownAgentError,
    UnknownQueueError,
    UnknownSkillError,
    UnknownTaskError,
)
from hotline.acd.events import (
    AgentStateChanged,
    Decision,
    Event,
    Exit,
    Offer,
    Overflow,
    ReservationEnded,
    TaskAbandoned,
    TaskAccepted,
    TaskCompleted,
    TaskExited,
    TaskOffered,
    TaskOfferWithdrawn,
    TaskOverflowed,
    TaskQueued,
    TaskRequeued,
    TaskRequirementsChanged,
    TaskReserved,
    Withdraw,
)
from hotline.acd.model import (
    AgentConfig,
    AgentState,
    DedicatedAgentRule,
    ExitAction,
    Media,
    OverflowRule,
    PriorityRule,
    QueueConfig,
    RelaxRule,
    RouteRule,
    SkillEntry,
    StickyAgentRule,
    Strategy,
    TaskSpec,
    TaskStatus,
    check_non_negative,
)
from hotline.acd.requirements import (
    Requirement,
    parse_requirement,
    positive_skills,
    skill_names,
)

if TYPE_CHECKING:
    from hotline.acd.commands import Command

_EMPTY: frozenset[str] = frozenset()
_MAX_ROUTE_HOPS = 16

# presence values (what the agent asked for; the reported state is derived)
_P_AVAILABLE = "available"
_P_NOT_READY = "not_ready"
_P_OUTBOUND = "outbound"
_VOICE = frozenset({Media.CALL, Media.CALLBACK, Media.OUTBOUND})
_NO_MEDIA: frozenset[Media] = frozenset()
_MEDIA_BY_VALUE: dict[str, Media] = {m.value: m for m in Media}


def _as_media(value: Media | str) -> Media:
    """``Media(value)`` with a dict fast path for plain values (same result, same errors)."""
    if value.__class__ is str or value.__class__ is Media:
        m = _MEDIA_BY_VALUE.get(value)
        if m is not None:
            return m
    return Media(value)


class _Agent:
    __slots__ = (
        "accepted_at",
        "active",
        "cache",
        "capacity",
        "caps",
        "cfg",
        "ecache",
        "elig",
        "esets",
        "gen",
        "held",
        "id",
        "idle_elig",
        "idle_since",
        "levels",
        "logged_in",
        "max_total",
        "nonvoice_caps",
        "offers",
        "pause_timer",
        "pause_until",
        "presence",
        "qcounts",
        "queues",
        "reason",
        "resume",
        "rr",
        "scache",
        "seq",
        "sig",
        "state",
        "talk_time",
        "tasks_handled",
        "voice_max",
        "wrap_timers",
        "wrapups",
    )

    def __init__(self, cfg: AgentConfig, seq: int, now: float) -> None:
        self.id = cfg.id
        self.seq = seq
        self.logged_in = False
        self.presence = _P_NOT_READY
        self.reason: str | None = None
        self.offers: dict[str, Media] = {}
        self.active: dict[str, Media] = {}
        self.held: set[str] = set()
        self.wrapups: dict[str, float] = {}  # task id -> pause after (from its queue)
        self.wrap_timers: dict[str, int] = {}
        self.accepted_at: dict[str, float] = {}
        self.pause_until = 0.0
        self.pause_timer: int | None = None
        self.idle_since = now
        self.tasks_handled = 0
        self.talk_time = 0.0
        self.state = AgentState.LOGGED_OUT
        self.elig: frozenset[Media] = _NO_MEDIA
        self.gen = 0  # bumped whenever a selection key may change: older heap entries are stale
        self.sig: tuple[Any, ...] | None = None  # (elig, idle_since, tasks, talk) of the live entries
        self.rr: dict[str, int] = {}  # queue -> round-robin clock of the last offer from it
        self.configure(cfg)

    def configure(self, cfg: AgentConfig) -> None:
        self.cfg = cfg
        self.resume: dict[str, SkillEntry] = cfg.resume()
        self.levels: dict[str, int] = {k: v.level for k, v in self.resume.items() if not v.excluded}
        self.queues: tuple[str, ...] = tuple(dict.fromkeys(cfg.queues))
        self.capacity: dict[Media, int] = {Media(k): v for k, v in cfg.capacity.items()}
        self.max_total = cfg.max_total
        self.voice_max = cfg.voice_max
        self.cache: dict[int, bool] = {}
        self.scache: dict[tuple[int, int], tuple[float, int, int]] = {}
        # eligibility with no offer / task (depends on capacity and voice_max only)
        idle = [m for m, c in self.capacity.items() if c > 0 and (self.voice_max > 0 or m not in _VOICE)]
        self.idle_elig: frozenset[Media] = frozenset(idle) if idle else _NO_MEDIA
        # (media, capacity > 0) in capacity order: all, and the non-voice ones
        self.caps: tuple[tuple[Media, int], ...] = tuple((m, c) for m, c in self.capacity.items() if c > 0)
        self.nonvoice_caps = tuple((m, c) for m, c in self.caps if m not in _VOICE)
        # the state counters of this agent's queues (set by the engine on first use)
        self.qcounts: tuple[dict[AgentState, int], ...] | None = None
        # media -> the engine's (queue, media) eligibility sets of this agent's queues
        self.esets: dict[Media, tuple[set[str], ...]] = {}
        # interned eligibility sets by media tuple (so unchanged eligibility is an identity)
        self.ecache: dict[tuple[Media, ...], frozenset[Media]] = {}


class _Task:
    __slots__ = (
        "accepted_at",
        "agent",
        "data",
        "declined",
        "entered_at",
        "explicit_req",
        "fired",
        "id",
        "media",
        "offers",
        "order_time",
        "orig_req_id",
        "priority",
        "queue",
        "req_id",
        "ring_timer",
        "rule_timers",
        "seq",
        "status",
        "target",
        "target_kind",
        "target_timer",
        "target_until",
        "version",
    )

    def __init__(self, spec: TaskSpec, seq: int, now: float) -> None:
        self.id = spec.id
        self.seq = seq
        self.media = _as_media(spec.media)
        self.priority = spec.priority
        self.data: dict[str, object] = dict(spec.data)
        self.queue = spec.queue
        self.explicit_req = spec.requirements is not None
        self.req_id = 0
        self.orig_req_id = 0
        self.order_time = now if spec.queued_since is None else min(spec.queued_since, now)
        self.entered_at = now
        self.status = TaskStatus.QUEUED
        self.offers: dict[str, None] = {}
        self.agent: str | None = None
        self.accepted_at = 0.0
        self.target: str | None = None
        self.target_kind = ""
        self.target_until = 0.0
        self.target_timer: int | None = None
        self.ring_timer: int | None = None
        self.rule_timers: list[int] = []
        self.fired: set[int] = set()
        self.declined: set[str] = set()
        self.version = 0


class _Queue:
    __slots__ = (
        "aheaps",
        "buckets",
        "cfg",
        "cond_rules",
        "counts",
        "default_req_id",
        "eval_timer",
        "id",
        "logged_in",
        "members",
        "rr_last",
        "rule_conds",
        "tasks",
    )

    def __init__(self, cfg: QueueConfig) -> None:
        self.cfg = cfg
        self.id = cfg.id
        self.default_req_id = 0
        self.members: set[str] = set()
        self.logged_in = 0
        self.counts: dict[AgentState, int] = dict.fromkeys(AgentState, 0)
        # (media, req id) -> heap of (key, order_time, seq, version, task id)
        self.buckets: dict[Media, dict[int, list[tuple[float, float, int, int, str]]]] = {}
        self.tasks: dict[str, _Task] = {}  # queued + offered, insertion ordered
        self.rr_last = 0  # round-robin clock
        # (media, req id, original req id) -> heap of eligible matching agents by strategy key
        self.aheaps: dict[tuple[Media, int, int], list[tuple[float, float, int, str, int]]] = {}
        self.rule_conds: dict[int, Condition] = {}
        self.cond_rules: list[int] = []  # indexes of conditional overflow rules
        self.eval_timer: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Comparable logical state (used by tests: a rejected command must not change it)."""

    now: float
    agents: tuple[tuple[Any, ...], ...]
    tasks: tuple[tuple[Any, ...], ...]
    queues: tuple[tuple[Any, ...], ...]
    timers: tuple[tuple[Any, ...], ...]
    rng: Any
    counters: tuple[int, ...]
    pending: tuple[Any, ...] = field(default=())


class _Ctx:
    """ConditionContext over the engine for one task in one queue."""

    __slots__ = ("engine", "queue", "task")

    def __init__(self, engine: Engine, task: _Task, queue: _Queue) -> None:
        self.engine = engine
        self.task = task
        self.queue = queue

    def variable(self, name: str) -> Value:
        t, q, now = self.task, self.queue, self.engine.now
        if name == "wait":
            return now - t.entered_at
        if name == "total_wait":
            return now - t.order_time
        if name == "priority":
            return t.priority
        if name == "media":
            return str(t.media)
        if name == "queue":
            return q.id
        return self.engine._queue_metric(q, name)

    def data(self, key: str) -> Value:
        v = self.task.data.get(key)
        if v is None or isinstance(v, bool | int | float | str):
            return v
        return str(v)

    def function(self, name: str, queue_id: str) -> Value:
        return self.engine._queue_metric(self.engine._queues[queue_id], name)


class Engine:
    """Automatic call distributor core.  See the module docstring for the contract."""

    def __init__(
        self,
        skills: Iterable[str] = (),
        queues: Iterable[QueueConfig] = (),
        *,
        seed: int = 0,
        start: float = 0.0,
        remember_ended: int = 100_000,
    ) -> None:
        check_non_negative("start time", start)
        self._now = float(start)
        self._rng = random.Random(seed)
        self._skills: set[str] = set()
        self._queues: dict[str, _Queue] = {}
        self._agents: dict[str, _Agent] = {}
        self._tasks: dict[str, _Task] = {}
        # ids of ended tasks (FIFO, bounded): reuse of a recent id is rejected
        self._ended: dict[str, None] = {}
        self._remember_ended = max(0, remember_ended)
        self._agent_seq = 0
        self._task_seq = 0
        self._req_ids: dict[Requirement, int] = {}
        self._reqs: list[Requirement | None] = [None]
        self._elig_q: dict[tuple[str, Media], set[str]] = {}
        self._targeted: dict[str, dict[str, _Task]] = {}
        self._theap: list[tuple[float, int]] = []
        self._timers: dict[int, tuple[str, str, str | int]] = {}
        self._timer_seq = 0
        self._events: list[Event] = []
        self._decisions: list[Decision] = []
        self._pending_tasks: dict[str, None] = {}
        self._pending_agents: dict[str, None] = {}
        for s in skills:
            self.add_skill(s)
        self.add_queues(queues)

    # ================================================================ configuration

    @property
    def now(self) -> float:
        return self._now

    def add_skill(self, name: str) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidValueError("skill name", name, "must be a non-empty string")
        self._skills.add(name)

    @property
    def skills(self) -> frozenset[str]:
        return frozenset(self._skills)

    def add_queue(self, cfg: QueueConfig) -> None:
        self.add_queues([cfg])

    def add_queues(self, cfgs: Iterable[QueueConfig]) -> None:
        """Add queues; rules may refer to each other within the batch (and to existing queues)."""
        batch = list(cfgs)
        ids = [c.id for c in batch]
        for c in batch:
            if not isinstance(c.id, str) or not c.id:
                raise InvalidValueError("queue id", c.id, "must be a non-empty string")
            if c.id in self._queues or ids.count(c.id) > 1:
                raise DuplicateItemError("queue", c.id)
        known = set(self._queues) | set(ids)
        prepared = [self._prepare_queue(c, known) for c in batch]
        for q in prepared:
            self._queues[q.id] = q

    def _prepare_queue(self, cfg: QueueConfig, known: set[str]) -> _Queue:
        try:
            strategy = Strategy(cfg.strategy)
        except ValueError:
            raise InvalidValueError("strategy", cfg.strategy, f"queue {cfg.id!r}: unknown strategy") from None
        for name in ("ring_timeout", "wrap_up", "pause_after_task", "priority_aging", "max_wait"):
            check_non_negative(f"{name} of queue {cfg.id!r}", getattr(cfg, name))
        if cfg.evaluation_interval <= 0:
            raise InvalidValueError(
                f"evaluation_interval of queue {cfg.id!r}", cfg.evaluation_interval, "must be > 0"
            )
        if cfg.max_length is not None and (not isinstance(cfg.max_length, int) or cfg.max_length < 0):
            raise InvalidValueError(f"max_length of queue {cfg.id!r}", cfg.max_length, "must be an int >= 0")
        w = cfg.weights
        for wname in ("under", "extra", "preference", "idle"):
            check_non_negative(f"weight {wname} of queue {cfg.id!r}", getattr(w, wname))
        if cfg.ring_timeout is not None and cfg.ring_timeout <= 0:
            raise InvalidValueError(
                f"ring_timeout of queue {cfg.id!r}", cfg.ring_timeout, "must be > 0 or None"
            )
        q = _Queue(cfg if cfg.strategy is strategy else _replace_strategy(cfg, strategy))
        if cfg.requirements is not None:
            q.default_req_id = self._req_id_for(self._parse_req(cfg.requirements))
        for i, rule in enumerate(cfg.rules):
            where = f"rule {i} of queue {cfg.id!r}"
            when = getattr(rule, "when", None)
            if when is not None:
                cond = parse_condition(when)
                for ref in cond.queues:
                    if ref not in known:
                        raise UnknownQueueError(ref)
                q.rule_conds[i] = cond
            if isinstance(rule, RouteRule | OverflowRule):
                target = rule.queue if isinstance(rule, RouteRule) else rule.target
                if target not in known:
                    raise UnknownQueueError(target)
                if target == cfg.id:
                    raise ConfigurationError(f"{where}: a queue cannot overflow or route to itself")
            if isinstance(rule, OverflowRule):
                check_non_negative(f"{where}: after", rule.after)
                if rule.when is not None:
                    q.cond_rules.append(i)
            elif isinstance(rule, RelaxRule):
                check_non_negative(f"{where}: after", rule.after)
                if rule.requirements is not None:
                    self._req_id_for(self._parse_req(rule.requirements))
            elif isinstance(rule, DedicatedAgentRule | StickyAgentRule):
                check_non_negative(f"{where}: timeout", rule.timeout)
            elif isinstance(rule, PriorityRule):
                if rule.set_to is not None and not 0 <= rule.set_to <= 100:
                    raise InvalidValueError(f"{where}: set_to", rule.set_to, "must be 0-100")
            elif not isinstance(rule, RouteRule):
                raise ConfigurationError(f"{where}: unknown rule type {type(rule).__name__}")
        return q

    def _parse_req(self, text: str) -> Requirement:
        req = parse_requirement(text)
        for name in sorted(skill_names(req)):
            if name not in self._skills:
                raise UnknownSkillError(name)
        return req

    def _req_id_for(self, req: Requirement | None) -> int:
        if req is None:
            return 0
        rid = self._req_ids.get(req)
        if rid is None:
            rid = len(self._reqs)
            self._req_ids[req] = rid
            self._reqs.append(req)
        return rid

    def add_agent(self, cfg: AgentConfig, now: float | None = None) -> None:
        """Register an agent (logged out)."""
        if now is not None:
            self._begin(now)
        if not isinstance(cfg.id, str) or not cfg.id:
            raise InvalidValueError("agent id", cfg.id, "must be a non-empty string")
        if cfg.id in self._agents:
            raise DuplicateItemError("agent", cfg.id)
        self._validate_agent_cfg(cfg)
        self._agent_seq += 1
        a = _Agent(cfg, self._agent_seq, self._now)
        self._agents[a.id] = a
        for qid in a.queues:
            q = self._queues[qid]
            q.members.add(a.id)
            q.counts[a.state] += 1

    def _validate_agent_cfg(self, cfg: AgentConfig) -> None:
        resume = cfg.resume()  # validates levels / preferences
        for s in sorted(resume):
            if s not in self._skills:
                raise UnknownSkillError(s)
        for qid in cfg.queues:
            if qid not in self._queues:
                raise UnknownQueueError(qid)
        for m, c in cfg.capacity.items():
            try:
                Media(m)
            except ValueError:
                raise InvalidValueError("media", m, f"agent {cfg.id!r}: unknown media") from None
            if not isinstance(c, int) or c < 0:
                raise InvalidValueError(f"capacity[{m}] of agent {cfg.id!r}", c, "must be an int >= 0")
        if cfg.max_total is not None and (not isinstance(cfg.max_total, int) or cfg.max_total < 0):
            raise InvalidValueError(f"max_total of agent {cfg.id!r}", cfg.max_total, "must be an int >= 0")
        if not isinstance(cfg.voice_max, int) or cfg.voice_max < 0:
            raise InvalidValueError(f"voice_max of agent {cfg.id!r}", cfg.voice_max, "must be an int >= 0")

    def update_agent(self, cfg: AgentConfig, now: float) -> list[Decision]:
        """Replace an agent's résumé, queues and capacity (in any state)."""
        self._begin(now)
        a = self._agent(cfg.id)
        self._validate_agent_cfg(cfg)
        self._set_elig(a, _NO_MEDIA)
        for qid in a.queues:
            q = self._queues[qid]
            q.members.discard(a.id)
            q.counts[a.state] -= 1
            if a.logged_in:
                q.logged_in -= 1
        old_queues = a.queues
        a.configure(cfg)
        a.sig = None
        a.gen += 1
        for qid in a.queues:
            q = self._queues[qid]
            q.members.add(a.id)
            q.counts[a.state] += 1
            if a.logged_in:
                q.logged_in += 1
        if a.queues != old_queues:
            # same state, new queue list: lets event consumers move the agent between queues
            reason = a.reason if a.state is AgentState.NOT_READY else None
            self._events.append(AgentStateChanged(self._now, a.id, a.state, a.state, reason, a.queues))
        self._refresh(a)
        self._pending_agents[a.id] = None
        if a.logged_in:
            self._leave_if_empty([self._queues[qid] for qid in old_queues if qid not in a.queues])
        return self._finish()

    def _leave_if_empty(self, queues: list[_Queue]) -> None:
        for q in queues:
            if q.logged_in == 0 and q.cfg.leave_when_empty:
                for task in list(q.tasks.values()):
                    if task.status is TaskStatus.QUEUED:
                        self._exit(task, "no_agents", q.cfg.empty_action)

    # ================================================================ time

    def _begin(self, now: float) -> None:
        cls = now.__class__
        # fast path: a finite plain float / int skips the full check
        if ((cls is not float and cls is not int) or now - now != 0) and (
            not isinstance(now, int | float) or isinstance(now, bool) or math.isnan(now) or math.isinf(now)
        ):
            raise InvalidValueError("now", now, "must be a finite number of seconds")
        if now < self._now:
            raise ClockError(now, self._now)
        heap = self._theap
        if heap and heap[0][0] <= now:
            self._advance(now)
            return
        # no timer due (the head may be a cancelled one, popped later): just move the clock
        self._now = float(now)
        if self._pending_tasks or self._pending_agents:
            self._settle()

    def _advance(self, now: float) -> None:
        heap = self._theap
        timers = self._timers
        while heap:
            deadline, tid = heap[0]
            if tid not in timers:
                heapq.heappop(heap)
                continue
            if deadline > now:
                break
            heapq.heappop(heap)
            kind, a, b = timers.pop(tid)
            if deadline > self._now:
                self._now = deadline
            self._fire(kind, a, b, tid)
            self._settle()
        self._now = float(now)
        self._settle()

    def tick(self, now: float) -> list[Decision]:
        """Advance to ``now``, processing every timer due at or before it."""
        self._begin(now)
        return self._finish()

    def next_deadline(self) -> float | None:
        """Time of the next timer, or ``None`` when nothing is scheduled."""
        heap = self._theap
        while heap and heap[0][1] not in self._timers:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _timer(self, at: float, kind: str, a: str, b: str | int = "") -> int:
        self._timer_seq += 1
        tid = self._timer_seq
        self._timers[tid] = (kind, a, b)
        heapq.heappush(self._theap, (at, tid))
        return tid

    def _cancel(self, tid: int | None) -> None:
        if tid is not None:
            self._timers.pop(tid, None)

    def _fire(self, kind: str, a: str, b: str | int, tid: int) -> None:
        if kind == "ring":
            task = self._tasks.get(a)
            if task is not None and task.ring_timer == tid and task.status is TaskStatus.OFFERED:
                task.ring_timer = None
                self._ring_timeout(task)
        elif kind == "wrap":
            agent = self._agents[a]
            task_id = str(b)
            if agent.wrap_timers.get(task_id) == tid:
                del agent.wrap_timers[task_id]
                pause = agent.wrapups.pop(task_id)
                if not agent.wrapups:
                    self._start_pause(agent, pause)
                self._refresh(agent)
        elif kind == "pause":
            agent = self._agents[a]
            if agent.pause_timer == tid:
                agent.pause_timer = None
                self._refresh(agent)
        elif kind == "target":
            task = self._tasks.get(a)
            if task is not None and task.target_timer == tid:
                task.target_timer = None
                if task.status is TaskStatus.QUEUED:
                    self._clear_target(task, "expired")
                    self._pending_tasks[task.id] = None
                elif task.status is TaskStatus.OFFERED:
                    # ringing at the reserved agent: the reservation ends with that offer
                    self._end_target(task, "expired")
        elif kind == "rule":
            task = self._tasks.get(a)
            if task is not None and tid in task.rule_timers:
                task.rule_timers.remove(tid)
                if task.status is TaskStatus.QUEUED:
                    self._apply_time_rules(task)
        elif kind == "qeval":
            q = self._queues[a]
            if q.eval_timer == tid:
                q.eval_timer = None
                self._eval_conditional(q)
                self._arm_eval(q)

    # ================================================================ agent commands

    def _agent(self, agent_id: str) -> _Agent:
        a = self._agents.get(agent_id)
        if a is None:
            raise UnknownAgentError(agent_id)
        return a

    def _task(self, task_id: str, action: str = "") -> _Task:
        t = self._tasks.get(task_id)
        if t is None:
            if action and task_id in self._ended:
                raise InvalidTransitionError("task", task_id, TaskStatus.ENDED, action)
            raise UnknownTaskError(task_id)
        return t

    def login(
        self, agent_id: str, now: float, *, ready: bool = False, reason: str = "login"
    ) -> list[Decision]:
        """Log an agent in, available (``ready=True``) or not ready with ``reason``."""
        self._begin(now)
        a = self._agent(agent_id)
        if a.logged_in:
            raise InvalidTransitionError("agent", agent_id, a.state, "log in")
        a.logged_in = True
        a.presence = _P_AVAILABLE if ready else _P_NOT_READY
        a.reason = None if ready else reason
        a.idle_since = self._now
        for qid in a.queues:
            self._queues[qid].logged_in += 1
        self._refresh(a)
        return self._finish()

    def logout(self, agent_id: str, now: float) -> list[Decision]:
        self._begin(now)
        a = self._agent(agent_id)
        if not a.logged_in or a.offers or a.active or a.wrapups:
            raise InvalidTransitionError("agent", agent_id, a.state, "log out")
        a.logged_in = False
        a.presence = _P_NOT_READY
        a.reason = None
        self._cancel(a.pause_timer)
        a.pause_timer = None
        a.pause_until = 0.0
        for qid in a.queues:
            self._queues[qid].logged_in -= 1
        self._refresh(a)
        self._leave_if_empty([self._queues[qid] for qid in a.queues])
        return self._finish()

    def set_ready(self, agent_id: str, now: float) -> list[Decision]:
        self._begin(now)
        a = self._agent(agent_id)
        if not a.logged_in or a.presence == _P_AVAILABLE:
            raise InvalidTransitionError("agent", agent_id, a.state, "become ready")
        a.presence = _P_AVAILABLE
        a.reason = None
        self._refresh(a)
        return self._finish()

    def set_not_ready(self, agent_id: str, now: float, reason: str = "break") -> list[Decision]:
        """Not ready with a reason code; while handling tasks it takes effect after them."""
        self._begin(now)
        a = self._agent(agent_id)
        if not isinstance(reason, str) or not reason:
            raise InvalidValueError("not-ready reason", reason, "must be a non-empty string")
        if not a.logged_in or (a.presence == _P_NOT_READY and a.reason == reason):
            raise InvalidTransitionError("agent", agent_id, a.state, f"become not ready ({reason})")
        a.presence = _P_NOT_READY
        a.reason = reason
        self._refresh(a, force_event=True)
        return self._finish()

    def start_outbound(self, agent_id: str, now: float) -> list[Decision]:
        """The agent dials out manually: no offers until :meth:`end_outbound`."""
        self._begin(now)
        a = self._agent(agent_id)
        if a.state not in (AgentState.AVAILABLE, AgentState.NOT_READY):
            raise InvalidTransitionError("agent", agent_id, a.state, "start outbound")
        a.presence = _P_OUTBOUND
        a.reason = None
        self._refresh(a)
        return self._finish()

    def end_outbound(self, agent_id: str, now: float) -> list[Decision]:
        self._begin(now)
        a = self._agent(agent_id)
        if a.presence != _P_OUTBOUND or not a.logged_in:
            raise InvalidTransitionError("agent", agent_id, a.state, "end outbound")
        a.presence = _P_AVAILABLE
        self._refresh(a)
        return self._finish()

    def accept(self, agent_id: str, task_id: str, now: float) -> list[Decision]:
        """The agent answered the offer; for ring_all the other offers are withdrawn."""
        self._begin(now)
        a = self._agent(agent_id)
        task = self._task(task_id, "accept")
        if task.status is not TaskStatus.OFFERED or agent_id not in task.offers:
            raise InvalidTransitionError(
                "task", task_id, task.status, f"accept by {agent_id}", f"agent {agent_id} is {a.state}"
            )
        q = self._queues[task.queue]
        for other in list(task.offers):
            if other != agent_id:
                self._withdraw(task, self._agents[other], "answered_elsewhere")
        self._cancel(task.ring_timer)
        task.ring_timer = None
        task.offers.clear()
        del a.offers[task_id]
        a.active[task_id] = task.media
        a.accepted_at[task_id] = self._now
        task.status = TaskStatus.ASSIGNED
        task.agent = agent_id
        task.accepted_at = self._now
        self._leave_queue(task, q)
        if task.target is not None:
            self._end_target(task, "accepted")
        self._events.append(
            TaskAccepted(
                self._now, task_id, agent_id, q.id, self._now - task.entered_at, self._now - task.order_time
            )
        )
        self._refresh(a)
        return self._finish()

    def reject(self, agent_id: str, task_id: str, now: float) -> list[Decision]:
        """The agent declined the offer; the task is not offered to this agent again."""
        self._begin(now)
        a = self._agent(agent_id)
        task = self._task(task_id, "reject")
        if task.status is not TaskStatus.OFFERED or agent_id not in task.offers:
            raise InvalidTransitionError(
                "task", task_id, task.status, f"reject by {agent_id}", f"agent {agent_id} is {a.state}"
            )
        task.declined.add(agent_id)
        self._withdraw(task, a, "rejected")
        if task.target == agent_id:
            self._end_target(task, "released")
        if not task.offers:
            self._requeue_after_offer(task, "rejected")
        return self._finish()

    def hold(self, agent_id: str, task_id: str, now: float) -> list[Decision]:
        self._begin(now)
        a = self._agent(agent_id)
        self._task(task_id, "hold")
        if task_id not in a.active or task_id in a.held:
            raise InvalidTransitionError("agent", agent_id, a.state, f"hold task {task_id}")
        a.held.add(task_id)
        self._refresh(a)
        return self._finish()

    def unhold(self, agent_id: str, task_id: str, now: float) -> list[Decision]:
        self._begin(now)
        a = self._agent(agent_id)
        self._task(task_id, "unhold")
        if task_id not in a.held:
            raise InvalidTransitionError("agent", agent_id, a.state, f"retrieve task {task_id} from hold")
        a.held.discard(task_id)
        self._refresh(a)
        return self._finish()

    def complete(self, agent_id: str, task_id: str, now: float) -> list[Decision]:
        """The agent finished the task (hang-up / chat closed); wrap-up follows per queue."""
        self._begin(now)
        a = self._agent(agent_id)
        task = self._task(task_id, "complete")
        if task_id not in a.active:
            raise InvalidTransitionError(
                "task", task_id, task.status, f"complete by {agent_id}", f"agent {agent_id} is {a.state}"
            )
        q = self._queues[task.queue]
        del a.active[task_id]
        a.held.discard(task_id)
        handle = self._now - a.accepted_at.pop(task_id)
        a.tasks_handled += 1
        a.talk_time += handle
        task.status = TaskStatus.ENDED
        self._forget(task)
        self._events.append(TaskCompleted(self._now, task_id, agent_id, q.id, handle))
        wrap = q.cfg.wrap_up
        if wrap is None or wrap > 0:
            a.wrapups[task_id] = q.cfg.pause_after_task
            if wrap is not None:
                a.wrap_timers[task_id] = self._timer(self._now + wrap, "wrap", a.id, task_id)
        elif not a.wrapups:
            self._start_pause(a, q.cfg.pause_after_task)
        self._refresh(a)
        return self._finish()

    def end_wrap_up(self, agent_id: str, now: float) -> list[Decision]:
        """End (manual or timed) wrap-up now."""
        self._begin(now)
        a = self._agent(agent_id)
        if not a.wrapups:
            raise InvalidTransitionError("agent", agent_id, a.state, "end wrap-up")
        pause = max(a.wrapups.values())
        for tid in a.wrap_timers.values():
            self._cancel(tid)
        a.wrap_timers.clear()
        a.wrapups.clear()
        self._start_pause(a, pause)
        self._refresh(a)
        return self._finish()

    def _start_pause(self, a: _Agent, pause: float) -> None:
        until = self._now + pause
        if until > self._now and until > a.pause_until:
            a.pause_until = until
            self._cancel(a.pause_timer)
            a.pause_timer = self._timer(until, "pause", a.id)

    # ================================================================ task commands

    def new_task(self, spec: TaskSpec, now: float) -> list[Decision]:
        """A task arrives in ``spec.queue``: it is routed, offered or queued."""
        self._begin(now)
        if not isinstance(spec.id, str) or not spec.id:
            raise InvalidValueError("task id", spec.id, "must be a non-empty string")
        if spec.id in self._tasks or spec.id in self._ended:
            raise DuplicateItemError("task", spec.id)
        if spec.queue not in self._queues:
            raise UnknownQueueError(spec.queue)
        try:
            _as_media(spec.media)
        except ValueError:
            raise InvalidValueError("media", spec.media, f"task {spec.id!r}: unknown media") from None
        if (
            not isinstance(spec.priority, int)
            or isinstance(spec.priority, bool)
            or not 0 <= spec.priority <= 100
        ):
            raise InvalidValueError("priority", spec.priority, f"task {spec.id!r}: must be an int 0-100")
        if spec.queued_since is not None:
            check_non_negative(f"queued_since of task {spec.id!r}", spec.queued_since)
        tt = spec.target_timeout
        if tt.__class__ is not float or not tt >= 0.0:  # fast path for a plain non-negative float
            check_non_negative(f"target_timeout of task {spec.id!r}", tt)
        req = None if spec.requirements is None else self._parse_req(spec.requirements)
        if spec.target_agent is not None and spec.target_agent not in self._agents:
            raise UnknownAgentError(spec.target_agent)
        req_id = -1 if req is None else self._req_id_for(req)
        self._task_seq += 1
        task = _Task(spec, self._task_seq, self._now)
        if req_id >= 0:
            task.req_id = task.orig_req_id = req_id
        self._tasks[task.id] = task
        if spec.target_agent is not None:
            task.target = spec.target_agent  # activated by _enter_queue once queued
            task.target_kind = "reservation"
            task.target_until = self._now + spec.target_timeout
        self._enter_queue(task, self._queues[spec.queue], hops=0)
        return self._finish()

    def abandon(self, task_id: str, now: float) -> list[Decision]:
        """The customer hung up / left before being answered."""
        self._begin(now)
        task = self._task(task_id, "abandon")
        if task.status not in (TaskStatus.QUEUED, TaskStatus.OFFERED):
            raise InvalidTransitionError("task", task_id, task.status, "abandon")
        q = self._queues[task.queue]
        for aid in list(task.offers):
            self._withdraw(task, self._agents[aid], "abandoned")
        self._leave_queue(task, q)
        if task.target is not None:
            self._end_target(task, "cancelled")
        task.status = TaskStatus.ENDED
        self._forget(task)
        self._events.append(TaskAbandoned(self._now, task_id, q.id, self._now - task.entered_at))
        return self._finish()

    def reserve(self, task_id: str, agent_id: str, duration: float, now: float) -> list[Decision]:
        """Reserve a waiting task for one agent for ``duration`` s; it then returns to the queue."""
        self._begin(now)
        task = self._task(task_id, "reserve")
        self._agent(agent_id)
        check_non_negative("reservation duration", duration)
        if task.status is not TaskStatus.QUEUED or task.target is not None:
            state = f"reserved for {task.target}" if task.target is not None else str(task.status)
            raise InvalidTransitionError("task", task_id, state, f"reserve for {agent_id}")
        task.declined.discard(agent_id)  # an explicit reservation overrides an earlier decline
        self._set_target(task, agent_id, duration, "reservation")
        return self._finish()

    def release(self, task_id: str, now: float) -> list[Decision]:
        """End a task's reservation early; the task is offered to any agent again."""
        self._begin(now)
        task = self._task(task_id, "release")
        if task.status is not TaskStatus.QUEUED or task.target is None:
            raise InvalidTransitionError("task", task_id, task.status, "release reservation", "not reserved")
        self._clear_target(task, "released")
        self._pending_tasks[task.id] = None
        return self._finish()

    def requeue(
        self,
        task_id: str,
        now: float,
        *,
        queue: str | None = None,
        target_agent: str | None = None,
        target_timeout: float = 30.0,
    ) -> list[Decision]:
        """Put a waiting or assigned task back in line (same or other queue), optionally targeted.

        An assigned task keeps its original place in line (``queued_since``); the agent is
        freed without wrap-up.
        """
        self._begin(now)
        task = self._task(task_id, "requeue")
        if queue is not None and queue not in self._queues:
            raise UnknownQueueError(queue)
        if target_agent is not None and target_agent not in self._agents:
            raise UnknownAgentError(target_agent)
        check_non_negative("target_timeout", target_timeout)
        if task.status not in (TaskStatus.QUEUED, TaskStatus.ASSIGNED):
            raise InvalidTransitionError("task", task_id, task.status, "requeue")
        if task.target is not None:  # only QUEUED tasks can still hold a target
            self._clear_target(task, "cancelled")
        if task.status is TaskStatus.ASSIGNED:
            assert task.agent is not None
            a = self._agents[task.agent]
            del a.active[task_id]
            a.held.discard(task_id)
            handle = self._now - a.accepted_at.pop(task_id)
            a.talk_time += handle
            task.agent = None
            task.status = TaskStatus.QUEUED
            self._refresh(a)
            if queue is None or queue == task.queue:
                q = self._queues[task.queue]
                q.tasks[task.id] = task
                self._attach_waiting(task)
                self._events.append(TaskRequeued(self._now, task.id, q.id, "agent_requeue"))
                self._pending_tasks[task.id] = None
            else:
                task.status = TaskStatus.QUEUED
                self._enter_queue(task, self._queues[queue], hops=0)
        elif queue is not None and queue != task.queue:
            self._move(task, self._queues[queue], "requeue")
        if target_agent is not None and task.status is TaskStatus.QUEUED and task.target is None:
            self._set_target(task, target_agent, target_timeout, "requeue")
        return self._finish()

    # ================================================================ generic command interface

    def handle(self, command: Command) -> list[Decision]:
        """Apply a command dataclass (see :mod:`hotline.acd.commands`)."""
        return command.apply(self)

    def pop_events(self) -> list[Event]:
        """Drain and return the events produced since the last call."""
        out = self._events
        self._events = []
        return out

    def pop_decisions(self) -> list[Decision]:
        """Drain decisions left behind by a command that raised after firing timers."""
        out = self._decisions
        self._decisions = []
        return out

    def _finish(self) -> list[Decision]:
        if self._pending_tasks or self._pending_agents:
            self._settle()
        out = self._decisions
        self._decisions = []
        return out

    # ================================================================ queue mechanics

    def _enter_queue(self, task: _Task, q: _Queue, hops: int) -> None:
        """Arrival of ``task`` (status QUEUED, not in any queue) at ``q``: rules, then wait."""
        cfg = q.cfg
        task.queue = q.id
        task.entered_at = self._now
        task.fired = set()
        if task.explicit_req:
            task.req_id = task.orig_req_id  # undo a relaxation done in a previous queue
        else:
            task.req_id = task.orig_req_id = q.default_req_id
        if cfg.calendar is not None and not cfg.calendar.is_open(self._now):
            self._exit(task, "closed", cfg.closed_action, in_queue=False)
            return
        if cfg.rules:
            ctx = _Ctx(self, task, q)
            for i, rule in enumerate(cfg.rules):
                cond = q.rule_conds.get(i)
                if isinstance(rule, RouteRule):
                    if cond is not None and cond.evaluate(ctx) and hops < _MAX_ROUTE_HOPS:
                        target = self._queues[rule.queue]
                        self._events.append(TaskOverflowed(self._now, task.id, q.id, target.id, "route", 0.0))
                        self._decisions.append(Overflow(self._now, task.id, q.id, target.id, "route"))
                        self._enter_queue(task, target, hops + 1)
                        return
                elif isinstance(rule, PriorityRule):
                    if cond is not None and cond.evaluate(ctx):
                        p = rule.set_to if rule.set_to is not None else task.priority
                        task.priority = max(0, min(100, p + rule.add))
                elif isinstance(rule, DedicatedAgentRule | StickyAgentRule) and task.target is None:
                    aid = task.data.get(rule.data_key)
                    agent = self._agents.get(aid) if isinstance(aid, str) else None
                    dedicated = isinstance(rule, DedicatedAgentRule)
                    if (
                        agent is not None
                        and (dedicated or agent.logged_in)
                        and (cond is None or cond.evaluate(ctx))
                    ):
                        task.target = agent.id  # activated below, once queued
                        task.target_kind = "dedicated" if dedicated else "sticky"
                        task.target_until = self._now + rule.timeout
        if not cfg.join_when_empty and q.logged_in == 0:
            self._cancel_pending_target(task)
            self._exit(task, "no_agents", cfg.empty_action, in_queue=False)
            return
        if cfg.max_length is not None and len(q.tasks) >= cfg.max_length:
            self._cancel_pending_target(task)
            self._exit(task, "queue_full", cfg.full_action, in_queue=False)
            return
        task.status = TaskStatus.QUEUED
        q.tasks[task.id] = task
        self._events.append(TaskQueued(self._now, task.id, q.id, task.media, task.priority, task.order_time))
        if task.target is not None:
            aid, kind, until = task.target, task.target_kind, task.target_until
            task.target = None
            self._set_target(task, aid, until - self._now, kind, attach=False)
        self._attach_waiting(task)
        self._arm_rules(task, q)
        self._dispatch_task(task)  # an agent of this queue first; then conditional overflow
        if q.cond_rules:
            if task.status is TaskStatus.QUEUED:
                self._eval_conditional(q, only=task)
            self._arm_eval(q)

    def _cancel_pending_target(self, task: _Task) -> None:
        task.target = None
        task.target_kind = ""

    def _arm_rules(self, task: _Task, q: _Queue) -> None:
        for tid in task.rule_timers:
            self._cancel(tid)
        task.rule_timers = []
        deadlines: set[float] = set()
        for rule in q.cfg.rules:
            if isinstance(rule, RelaxRule) or (isinstance(rule, OverflowRule) and rule.when is None):
                deadlines.add(task.entered_at + rule.after)
        if q.cfg.max_wait is not None:
            deadlines.add(task.entered_at + q.cfg.max_wait)
        for d in sorted(deadlines):
            task.rule_timers.append(self._timer(max(d, self._now), "rule", task.id))

    def _apply_time_rules(self, task: _Task) -> None:
        """Apply every due, not yet fired time rule of the task's queue, in rule order."""
        q = self._queues[task.queue]
        wait = self._now - task.entered_at
        for i, rule in enumerate(q.cfg.rules):
            if task.status is not TaskStatus.QUEUED or task.queue != q.id:
                return
            if i in task.fired:
                continue
            if isinstance(rule, RelaxRule) and wait >= rule.after:
                task.fired.add(i)
                self._detach_waiting(task)
                task.req_id = (
                    0 if rule.requirements is None else self._req_id_for(parse_requirement(rule.requirements))
                )
                self._attach_waiting(task)
                self._events.append(TaskRequirementsChanged(self._now, task.id, q.id, rule.requirements))
                self._pending_tasks[task.id] = None
            elif isinstance(rule, OverflowRule) and rule.when is None and wait >= rule.after:
                task.fired.add(i)
                self._move(task, self._queues[rule.target], "overflow")
                return
        mw = q.cfg.max_wait
        if mw is not None and wait >= mw and task.status is TaskStatus.QUEUED and task.queue == q.id:
            self._exit(task, "max_wait", q.cfg.max_wait_action)

    def _eval_conditional(self, q: _Queue, only: _Task | None = None) -> None:
        tasks = [only] if only is not None else sorted(q.tasks.values(), key=lambda t: (t.order_time, t.seq))
        for task in tasks:
            if task.status is not TaskStatus.QUEUED or task.queue != q.id:
                continue
            ctx = _Ctx(self, task, q)
            wait = self._now - task.entered_at
            for i in q.cond_rules:
                rule = q.cfg.rules[i]
                assert isinstance(rule, OverflowRule)
                if wait >= rule.after and q.rule_conds[i].evaluate(ctx):
                    self._move(task, self._queues[rule.target], "condition")
                    break

    def _arm_eval(self, q: _Queue) -> None:
        if q.cond_rules and q.tasks and q.eval_timer is None:
            q.eval_timer = self._timer(self._now + q.cfg.evaluation_interval, "qeval", q.id)

    def _move(self, task: _Task, target: _Queue, reason: str) -> None:
        """Overflow a waiting task to another queue."""
        q = self._queues[task.queue]
        self._leave_queue(task, q)
        if task.target is not None:
            self._end_target(task, "cancelled")
        wait = self._now - task.entered_at
        self._events.append(TaskOverflowed(self._now, task.id, q.id, target.id, reason, wait))
        self._decisions.append(Overflow(self._now, task.id, q.id, target.id, reason))
        task.declined.clear()
        self._enter_queue(task, target, hops=0)

    def _exit(self, task: _Task, reason: str, action: ExitAction, *, in_queue: bool = True) -> None:
        q = self._queues[task.queue]
        if in_queue:
            self._leave_queue(task, q)
            if task.target is not None:
                self._end_target(task, "cancelled")
        task.status = TaskStatus.ENDED
        self._forget(task)
        self._events.append(TaskExited(self._now, task.id, q.id, reason, self._now - task.entered_at))
        self._decisions.append(Exit(self._now, task.id, q.id, reason, action))

    def _leave_queue(self, task: _Task, q: _Queue) -> None:
        q.tasks.pop(task.id, None)
        self._detach_waiting(task)
        for tid in task.rule_timers:
            self._cancel(tid)
        task.rule_timers = []

    def _forget(self, task: _Task) -> None:
        del self._tasks[task.id]
        ended = self._ended
        ended[task.id] = None
        if len(ended) > self._remember_ended:
            del ended[next(iter(ended))]
        self._pending_tasks.pop(task.id, None)

    # --- waiting structures: bucket heap (untargeted) or per-agent targeted dict

    def _attach_waiting(self, task: _Task) -> None:
        task.version += 1
        if task.target is not None:
            self._targeted.setdefault(task.target, {})[task.id] = task
            return
        q = self._queues[task.queue]
        by_req = q.buckets.get(task.media)
        if by_req is None:
            by_req = q.buckets[task.media] = {}
        heap = by_req.get(task.req_id)
        if heap is None:
            heap = by_req[task.req_id] = []
        key = q.cfg.priority_aging * task.order_time - task.priority
        heapq.heappush(heap, (key, task.order_time, task.seq, task.version, task.id))

    def _detach_waiting(self, task: _Task) -> None:
        task.version += 1  # invalidates the heap entry lazily
        if task.target is not None:
            d = self._targeted.get(task.target)
            if d is not None:
                d.pop(task.id, None)
                if not d:
                    del self._targeted[task.target]

    def _set_target(self, task: _Task, agent_id: str, timeout: float, kind: str, attach: bool = True) -> None:
        if attach:
            self._detach_waiting(task)
        task.target = agent_id
        task.target_kind = kind
        task.target_until = self._now + timeout
        task.target_timer = self._timer(task.target_until, "target", task.id)
        self._events.append(TaskReserved(self._now, task.id, agent_id, task.target_until, kind))
        if attach:
            self._attach_waiting(task)
            self._pending_tasks[task.id] = None

    def _clear_target(self, task: _Task, reason: str) -> None:
        """End the reservation of a QUEUED task and put it in the general line."""
        self._detach_waiting(task)
        self._end_target(task, reason)
        self._attach_waiting(task)

    def _end_target(self, task: _Task, reason: str) -> None:
        assert task.target is not None
        self._events.append(ReservationEnded(self._now, task.id, task.target, reason))
        self._cancel(task.target_timer)
        task.target_timer = None
        task.target = None
        task.target_kind = ""

    # ================================================================ offers

    def _offer(self, task: _Task, agents: list[_Agent]) -> None:
        q = self._queues[task.queue]
        self._detach_waiting(task)
        task.status = TaskStatus.OFFERED
        rt = q.cfg.ring_timeout
        deadline = None if rt is None else self._now + rt
        for a in agents:
            a.offers[task.id] = task.media
            task.offers[a.id] = None
            self._events.append(TaskOffered(self._now, task.id, a.id, q.id))
            self._decisions.append(Offer(self._now, task.id, a.id, q.id, task.media, deadline))
            if q.cfg.strategy is Strategy.ROUND_ROBIN:
                q.rr_last += 1
                a.rr[q.id] = q.rr_last
                a.sig = None  # its round-robin key changed: re-index
        if deadline is not None:
            task.ring_timer = self._timer(deadline, "ring", task.id)
        for a in agents:
            self._refresh(a)

    def _withdraw(self, task: _Task, a: _Agent, reason: str) -> None:
        del a.offers[task.id]
        del task.offers[a.id]
        self._events.append(TaskOfferWithdrawn(self._now, task.id, a.id, task.queue, reason))
        self._decisions.append(Withdraw(self._now, task.id, a.id, reason))
        if not task.offers:
            self._cancel(task.ring_timer)
            task.ring_timer = None
        self._refresh(a)
        self._pending_agents[a.id] = None

    def _ring_timeout(self, task: _Task) -> None:
        q = self._queues[task.queue]
        for aid in sorted(task.offers, key=lambda x: self._agents[x].seq):
            a = self._agents[aid]
            a.presence = _P_NOT_READY
            a.reason = q.cfg.rona_reason
            self._withdraw(task, a, "rona")
        self._requeue_after_offer(task, "rona")

    def _requeue_after_offer(self, task: _Task, reason: str) -> None:
        task.status = TaskStatus.QUEUED
        self._attach_waiting(task)
        self._events.append(TaskRequeued(self._now, task.id, task.queue, reason))
        self._pending_tasks[task.id] = None
        self._apply_time_rules(task)

    # ================================================================ agent state & indexes

    def _derive(self, a: _Agent) -> AgentState:
        if not a.logged_in:
            return AgentState.LOGGED_OUT
        if a.active:
            return AgentState.HOLD if len(a.held) == len(a.active) else AgentState.BUSY
        if a.offers:
            return AgentState.RESERVED
        if a.wrapups:
            return AgentState.WRAP_UP
        if a.presence == _P_NOT_READY:
            return AgentState.NOT_READY
        if a.presence == _P_OUTBOUND:
            return AgentState.OUTBOUND
        return AgentState.AVAILABLE

    def _eligible(self, a: _Agent) -> frozenset[Media]:
        """Media the agent can be offered now (interned per agent: unchanged is identical)."""
        if not a.logged_in or a.presence != _P_AVAILABLE or a.wrapups or self._now < a.pause_until:
            return _NO_MEDIA
        offers, active = a.offers, a.active
        if not offers and not active:
            return a.idle_elig if a.max_total is None or a.max_total > 0 else _NO_MEDIA
        total = len(offers) + len(active)
        if a.max_total is not None and total >= a.max_total:
            return _NO_MEDIA
        voice_used = 0
        for x in offers.values():
            if x in _VOICE:
                voice_used += 1
        for x in active.values():
            if x in _VOICE:
                voice_used += 1
        if voice_used >= a.voice_max:
            caps = a.nonvoice_caps
            if not caps:  # e.g. a voice-only agent on a call
                return _NO_MEDIA
        else:
            caps = a.caps
        used: dict[Media, int] = {}
        for x in offers.values():
            used[x] = used.get(x, 0) + 1
        for x in active.values():
            used[x] = used.get(x, 0) + 1
        out = tuple(m for m, c in caps if used.get(m, 0) < c)
        if not out:
            return _NO_MEDIA
        fs = a.ecache.get(out)
        if fs is None:
            fs = a.ecache[out] = frozenset(out)
        return fs

    def _eligible_reference(self, a: _Agent) -> frozenset[Media]:
        """Straightforward (uncached) eligibility; :meth:`check_invariants` compares against it."""
        if not a.logged_in or a.presence != _P_AVAILABLE or a.wrapups or self._now < a.pause_until:
            return frozenset()
        offers, active = a.offers, a.active
        total = len(offers) + len(active)
        if a.max_total is not None and total >= a.max_total:
            return frozenset()
        if total == 0:
            if a.voice_max <= 0:
                return frozenset(m for m, c in a.capacity.items() if c > 0 and m not in _VOICE)
            return frozenset(m for m, c in a.capacity.items() if c > 0)
        voice_used = sum(1 for x in offers.values() if x in _VOICE) + sum(
            1 for x in active.values() if x in _VOICE
        )
        out = []
        for m, c in a.capacity.items():
            if c <= 0 or (m in _VOICE and voice_used >= a.voice_max):
                continue
            used = sum(1 for x in offers.values() if x is m) + sum(1 for x in active.values() if x is m)
            if used < c:
                out.append(m)
        return frozenset(out)

    def _refresh(self, a: _Agent, force_event: bool = False) -> None:
        # inlined _derive (hot path; check_invariants compares with _derive)
        if not a.logged_in:
            new = AgentState.LOGGED_OUT
        elif a.active:
            new = AgentState.HOLD if len(a.held) == len(a.active) else AgentState.BUSY
        elif a.offers:
            new = AgentState.RESERVED
        elif a.wrapups:
            new = AgentState.WRAP_UP
        elif a.presence == _P_NOT_READY:
            new = AgentState.NOT_READY
        elif a.presence == _P_OUTBOUND:
            new = AgentState.OUTBOUND
        else:
            new = AgentState.AVAILABLE
        old = a.state
        if new is not old or (force_event and new is AgentState.NOT_READY):
            if new is not old:
                qcounts = a.qcounts
                if qcounts is None:
                    qcounts = a.qcounts = tuple(self._queues[qid].counts for qid in a.queues)
                for counts in qcounts:
                    counts[old] -= 1
                    counts[new] += 1
                a.state = new
                if new is AgentState.AVAILABLE:
                    a.idle_since = self._now
            reason = a.reason if new is AgentState.NOT_READY else None
            self._events.append(AgentStateChanged(self._now, a.id, old, new, reason, a.queues))
        elig = self._eligible(a)
        if elig is not a.elig and elig != a.elig:
            gained = bool(elig - a.elig)
            self._set_elig(a, elig)
            if gained:
                self._pending_agents[a.id] = None
        if elig:
            sig = (elig, a.idle_since, a.tasks_handled, a.talk_time)
            if sig != a.sig:
                a.sig = sig
                a.gen += 1
                self._push_agent(a)
        else:
            a.sig = None

    # --- agent heaps: per queue, per (media, requirement) heap of eligible matching agents
    #     ordered by the queue's strategy key; lazy deletion via the agent's generation.

    _HEAP_STRATEGIES = frozenset(
        {
            Strategy.LONGEST_IDLE,
            Strategy.FEWEST_TASKS,
            Strategy.LEAST_TALK_TIME,
            Strategy.MOST_QUALIFIED,
            Strategy.ROUND_ROBIN,
            Strategy.LINEAR,
        }
    )
    _MAX_HEAPS_PER_QUEUE = 8

    def _agent_key(self, a: _Agent, q: _Queue, rid: int, orid: int) -> tuple[float, float, int, str, int]:
        strat = q.cfg.strategy
        if strat is Strategy.LINEAR:
            return (0.0, 0.0, a.seq, a.id, a.gen)
        if strat is Strategy.ROUND_ROBIN:
            return (float(a.rr.get(q.id, 0)), 0.0, a.seq, a.id, a.gen)
        pref, under, extra = self._score_parts(a, rid, orid)
        w = q.cfg.weights
        static = w.preference * pref - w.under * under - w.extra * extra
        # score(now) = static + w.idle * (now - idle_since): "-score" ordering without now
        neg_score = -static + w.idle * a.idle_since
        if strat is Strategy.LONGEST_IDLE:
            return (a.idle_since, -static, a.seq, a.id, a.gen)
        if strat is Strategy.FEWEST_TASKS:
            return (float(a.tasks_handled), neg_score, a.seq, a.id, a.gen)
        if strat is Strategy.LEAST_TALK_TIME:
            return (a.talk_time, neg_score, a.seq, a.id, a.gen)
        return (neg_score, a.idle_since, a.seq, a.id, a.gen)  # MOST_QUALIFIED

    def _push_agent(self, a: _Agent) -> None:
        elig = a.elig
        for qid in a.queues:
            q = self._queues[qid]
            if not q.aheaps:
                continue
            for (m, rid, orid), heap in q.aheaps.items():
                if m in elig and (rid == 0 or self._matches(a, rid)):
                    heapq.heappush(heap, self._agent_key(a, q, rid, orid))
                    if len(heap) > 64 and len(heap) > 3 * len(self._elig_q.get((qid, m), ())):
                        self._compact(heap, m)

    def _compact(self, heap: list[tuple[float, float, int, str, int]], m: Media) -> None:
        agents = self._agents
        live = [e for e in heap if agents[e[3]].gen == e[4] and m in agents[e[3]].elig]
        heap[:] = live
        heapq.heapify(heap)

    def _agent_heap(
        self, q: _Queue, m: Media, rid: int, orid: int
    ) -> list[tuple[float, float, int, str, int]]:
        key = (m, rid, orid)
        heap = q.aheaps.pop(key, None)
        if heap is None:
            heap = []
            req = self._reqs[rid]
            for aid in self._elig_q.get((q.id, m), ()):
                a = self._agents[aid]
                if req is None or self._matches(a, rid):
                    heap.append(self._agent_key(a, q, rid, orid))
            heapq.heapify(heap)
            if len(q.aheaps) >= self._MAX_HEAPS_PER_QUEUE:
                del q.aheaps[next(iter(q.aheaps))]  # least recently used
        q.aheaps[key] = heap  # (re)insert as most recently used
        return heap

    def _select_from_heap(self, task: _Task, q: _Queue) -> _Agent | None:
        m = task.media
        heap = self._agent_heap(q, m, task.req_id, task.orig_req_id)
        agents = self._agents
        declined, offered = task.declined, task.offers
        skipped: list[tuple[float, float, int, str, int]] = []
        chosen: _Agent | None = None
        while heap:
            entry = heap[0]
            a = agents[entry[3]]
            if a.gen != entry[4] or m not in a.elig:
                heapq.heappop(heap)
                continue
            if a.id in declined or a.id in offered:
                skipped.append(heapq.heappop(heap))
                continue
            chosen = a
            break
        for e in skipped:
            heapq.heappush(heap, e)
        return chosen

    def _elig_sets(self, a: _Agent, m: Media) -> tuple[set[str], ...]:
        """The ``_elig_q`` sets of ``(queue, m)`` for the agent's queues (cached until reconfigured)."""
        sets = a.esets.get(m)
        if sets is None:
            elig_q = self._elig_q
            found = []
            for qid in a.queues:
                key = (qid, m)
                s = elig_q.get(key)
                if s is None:
                    s = elig_q[key] = set()
                found.append(s)
            sets = a.esets[m] = tuple(found)
        return sets

    def _set_elig(self, a: _Agent, elig: frozenset[Media]) -> None:
        # _elig_q sets are never removed, so cached references stay valid; an agent is in
        # them only for media in a.elig, which was added through _elig_sets after the last
        # configure() (update_agent empties a.elig before reconfiguring)
        old = a.elig
        if old is elig:
            return
        aid = a.id
        if old:
            for m in old if not elig else old - elig:
                for s in self._elig_sets(a, m):
                    s.discard(aid)
        if elig:
            for m in elig if not old else elig - old:
                for s in self._elig_sets(a, m):
                    s.add(aid)
        a.elig = elig

    # ================================================================ matching

    def _settle(self) -> None:
        pt, pa = self._pending_tasks, self._pending_agents
        while pt or pa:
            if pt:
                tid = next(iter(pt))
                del pt[tid]
                task = self._tasks.get(tid)
                if task is not None and task.status is TaskStatus.QUEUED:
                    self._dispatch_task(task)
            else:
                aid = next(iter(pa))
                del pa[aid]
                self._dispatch_agent(self._agents[aid])

    def _matches(self, a: _Agent, req_id: int) -> bool:
        hit = a.cache.get(req_id)
        if hit is None:
            req = self._reqs[req_id]
            hit = a.cache[req_id] = True if req is None else req.matches(a.levels)
        return hit

    def _score_parts(self, a: _Agent, req_id: int, orig_req_id: int) -> tuple[float, int, int]:
        """(mean preference of required skills, levels under the original requirement, extra skills)."""
        key = (req_id, orig_req_id)
        hit = a.scache.get(key)
        if hit is not None:
            return hit
        req = self._reqs[req_id]
        pos = positive_skills(req) if req is not None else ()
        prefs = [a.resume[s.name].preference for s in pos if s.name in a.levels]
        pref = sum(prefs) / len(prefs) if prefs else 0.0
        orig = self._reqs[orig_req_id]
        under = 0
        if orig is not None:
            for s in positive_skills(orig):
                lvl = a.levels.get(s.name)
                if lvl is not None and lvl < s.level:
                    under += s.level - lvl
        names = skill_names(req) if req is not None else _EMPTY
        extra = sum(1 for s in a.levels if s not in names)
        res = (pref, under, extra)
        a.scache[key] = res
        return res

    def _candidates(self, task: _Task) -> list[_Agent]:
        """Eligible matching agents of the task's queue (random / weighted / ring_all only)."""
        m = task.media
        pool = self._elig_q.get((task.queue, m))
        if not pool:
            return []
        agents = self._agents
        rid = task.req_id
        req = self._reqs[rid]
        declined, offered = task.declined, task.offers
        out = []
        for aid in pool:
            if aid in declined or aid in offered:
                continue
            a = agents[aid]
            if req is not None:
                ok = a.cache.get(rid)
                if ok is None:
                    ok = a.cache[rid] = req.matches(a.levels)
                if not ok:
                    continue
            out.append(a)
        return out

    def _dispatch_task(self, task: _Task) -> None:
        if task.target is not None:
            a = self._agents[task.target]
            if task.media in a.elig and a.id not in task.declined:
                self._offer(task, [a])
            return
        q = self._queues[task.queue]
        strat = q.cfg.strategy
        if strat in self._HEAP_STRATEGIES:
            agent = self._select_from_heap(task, q)
            if agent is not None:
                self._offer(task, [agent])
            return
        cands = self._candidates(task)
        if not cands:
            return
        if strat is Strategy.RING_ALL:
            cands.sort(key=lambda a: a.seq)
            self._offer(task, cands)
            return
        chosen = self._choose(strat, cands, task, q)
        self._offer(task, [chosen])

    def _choose(self, strat: Strategy, cands: list[_Agent], task: _Task, q: _Queue) -> _Agent:
        """RANDOM / WEIGHTED_RANDOM over the qualified eligible agents (seeded, seq-sorted)."""
        cands.sort(key=lambda a: a.seq)
        if strat is Strategy.RANDOM:
            return cands[self._rng.randrange(len(cands))]
        # WEIGHTED_RANDOM: weight = mean preference of the required skills (1-9), 1 without
        weights = [max(1.0, self._score_parts(a, task.req_id, task.orig_req_id)[0]) for a in cands]
        r = self._rng.random() * sum(weights)
        acc = 0.0
        for a, wt in zip(cands, weights, strict=True):
            acc += wt
            if r < acc:
                return a
        return cands[-1]

    def _dispatch_agent(self, a: _Agent) -> None:
        while a.elig:
            task = self._best_task_for(a)
            if task is None:
                return
            self._offer(task, [a])

    def _best_task_for(self, a: _Agent) -> _Task | None:
        now = self._now
        best: tuple[float, float, int] | None = None
        best_task: _Task | None = None
        elig = a.elig
        tasks = self._tasks
        empty: list[tuple[Media, int]] = []
        for qid in a.queues:
            q = self._queues[qid]
            if not q.tasks:
                continue
            rate = q.cfg.priority_aging
            if empty:
                empty.clear()
            for m, by_req in q.buckets.items():
                if m not in elig:
                    continue
                for rid, heap in by_req.items():
                    # drop stale heads
                    while heap:
                        head = heap[0]
                        t = tasks.get(head[4])
                        if t is None or t.version != head[3] or t.status is not TaskStatus.QUEUED:
                            heapq.heappop(heap)
                            continue
                        break
                    if not heap:
                        empty.append((m, rid))
                        continue
                    if rid and not self._matches(a, rid):
                        continue
                    cand = self._first_not_declined(heap, a.id)
                    if cand is None:
                        continue
                    key = (-(cand.priority + rate * (now - cand.order_time)), cand.order_time, cand.seq)
                    if best is None or key < best:
                        best, best_task = key, cand
            for m, rid in empty:
                del q.buckets[m][rid]
        targeted = self._targeted.get(a.id)
        if targeted:
            for t in targeted.values():
                if t.status is not TaskStatus.QUEUED or t.media not in elig or a.id in t.declined:
                    continue
                rate = self._queues[t.queue].cfg.priority_aging
                key = (-(t.priority + rate * (now - t.order_time)), t.order_time, t.seq)
                if best is None or key < best:
                    best, best_task = key, t
        return best_task

    def _first_not_declined(
        self, heap: list[tuple[float, float, int, int, str]], agent_id: str
    ) -> _Task | None:
        t = self._tasks[heap[0][4]]
        if agent_id not in t.declined:
            return t
        for entry in sorted(heap):  # rare path: this agent declined the head
            t2 = self._tasks.get(entry[4])
            if t2 is None or t2.version != entry[3] or t2.status is not TaskStatus.QUEUED:
                continue
            if agent_id not in t2.declined:
                return t2
        return None

    # ================================================================ queries

    def _queue_metric(self, q: _Queue, name: str) -> Value:
        c = q.counts
        if name == "available":
            return c[AgentState.AVAILABLE]
        if name == "busy":
            return c[AgentState.BUSY] + c[AgentState.HOLD] + c[AgentState.RESERVED] + c[AgentState.WRAP_UP]
        if name == "not_ready":
            return c[AgentState.NOT_READY] + c[AgentState.OUTBOUND]
        if name == "logged_in":
            return q.logged_in
        if name == "waiting":
            return len(q.tasks)
        if name == "longest_wait":
            return max((self._now - t.entered_at for t in q.tasks.values()), default=0.0)
        raise AssertionError(name)  # pragma: no cover - parser rejects unknown names

    def agent_state(self, agent_id: str) -> AgentState:
        return self._agent(agent_id).state

    def agent_reason(self, agent_id: str) -> str | None:
        a = self._agent(agent_id)
        return a.reason if a.state is AgentState.NOT_READY else None

    def agent_offers(self, agent_id: str) -> tuple[str, ...]:
        return tuple(self._agent(agent_id).offers)

    def agent_tasks(self, agent_id: str) -> tuple[str, ...]:
        return tuple(self._agent(agent_id).active)

    def task_status(self, task_id: str) -> TaskStatus:
        if task_id in self._ended:
            return TaskStatus.ENDED
        return self._task(task_id).status

    def task_queue(self, task_id: str) -> str:
        return self._task(task_id).queue

    def task_offers(self, task_id: str) -> tuple[str, ...]:
        return tuple(self._task(task_id).offers)

    def task_priority(self, task_id: str) -> int:
        return self._task(task_id).priority

    def task_target(self, task_id: str) -> str | None:
        """The agent a waiting task is reserved for (reservation, dedicated, sticky), if any."""
        return self._task(task_id).target

    def task_requirements(self, task_id: str) -> str | None:
        """The task's current skill requirement (after any relaxation), as text; None: any agent."""
        rid = self._task(task_id).req_id
        req = self._reqs[rid] if rid > 0 else None
        return None if req is None else str(req)

    def agent_qualifies(self, agent_id: str, task_id: str) -> bool:
        """Whether the agent's résumé meets the task's current skill requirement."""
        a = self._agent(agent_id)
        task = self._task(task_id)
        return task.req_id <= 0 or self._matches(a, task.req_id)

    def waiting(self, queue_id: str) -> list[str]:
        """Task ids waiting in the queue (queued or ringing), in line order at the current time."""
        q = self._queues.get(queue_id)
        if q is None:
            raise UnknownQueueError(queue_id)
        rate, now = q.cfg.priority_aging, self._now
        return [
            t.id
            for t in sorted(
                q.tasks.values(),
                key=lambda t: (-(t.priority + rate * (now - t.order_time)), t.order_time, t.seq),
            )
        ]

    def queue_metric(self, queue_id: str, name: str) -> Value:
        """``available``, ``busy``, ``not_ready``, ``logged_in``, ``waiting``, ``longest_wait``."""
        q = self._queues.get(queue_id)
        if q is None:
            raise UnknownQueueError(queue_id)
        if name not in ("available", "busy", "not_ready", "logged_in", "waiting", "longest_wait"):
            raise InvalidValueError("metric", name, "unknown queue metric")
        return self._queue_metric(q, name)

    @property
    def queue_ids(self) -> tuple[str, ...]:
        return tuple(self._queues)

    @property
    def agent_ids(self) -> tuple[str, ...]:
        return tuple(self._agents)

    @property
    def live_task_ids(self) -> tuple[str, ...]:
        return tuple(self._tasks)

    def snapshot(self) -> Snapshot:
        agents = tuple(
            (
                a.id,
                a.logged_in,
                a.presence,
                a.reason,
                a.state,
                tuple(sorted(a.offers)),
                tuple(sorted(a.active)),
                tuple(sorted(a.held)),
                tuple(sorted(a.wrapups.items())),
                a.pause_until,
                a.idle_since,
                a.tasks_handled,
                a.talk_time,
                tuple(sorted(a.elig)),
                a.cfg,
            )
            for a in self._agents.values()
        )
        tasks = tuple(
            (
                t.id,
                t.status,
                t.queue,
                t.priority,
                t.req_id,
                t.order_time,
                t.entered_at,
                tuple(sorted(t.offers)),
                t.agent,
                t.target,
                t.target_until,
                tuple(sorted(t.fired)),
                tuple(sorted(t.declined)),
            )
            for t in self._tasks.values()
        )
        queues = tuple(
            (q.id, tuple(self.waiting(q.id)), q.logged_in, tuple(sorted(q.counts.items())), q.rr_last)
            for q in self._queues.values()
        )
        timers = tuple(sorted((d, self._timers[tid]) for d, tid in self._theap if tid in self._timers))
        elig = tuple(sorted((k, tuple(sorted(v))) for k, v in self._elig_q.items()))
        return Snapshot(
            now=self._now,
            agents=agents,
            tasks=tasks,
            queues=queues,
            timers=timers,
            rng=self._rng.getstate(),
            counters=(self._agent_seq, self._task_seq, len(self._ended)),
            pending=(elig, tuple(self._events), tuple(self._decisions)),
        )

    def check_invariants(self) -> None:
        """Assert internal consistency (for tests and debugging; O(agents + tasks))."""
        for a in self._agents.values():
            assert a.state is self._derive(a), (a.id, a.state)
            assert a.elig == self._eligible(a) == self._eligible_reference(a), (a.id, a.elig)
            for m in Media:
                used = sum(1 for x in a.offers.values() if x is m) + sum(
                    1 for x in a.active.values() if x is m
                )
                assert used <= a.capacity.get(m, 0), (a.id, m, used)
            if a.max_total is not None:
                assert len(a.offers) + len(a.active) <= a.max_total
            voice = [x for x in (*a.offers.values(), *a.active.values()) if x in _VOICE]
            assert len(voice) <= max(a.voice_max, 0), (a.id, voice)
            for tid in a.offers:
                t = self._tasks[tid]
                assert t.status is TaskStatus.OFFERED and a.id in t.offers
            for tid in a.active:
                t = self._tasks[tid]
                assert t.status is TaskStatus.ASSIGNED and t.agent == a.id
            if a.state is AgentState.RESERVED:
                assert a.offers
            for m in Media:
                for qid in a.queues:
                    assert (a.id in self._elig_q.get((qid, m), ())) == (m in a.elig)
        for t in self._tasks.values():
            q = self._queues[t.queue]
            if t.status is TaskStatus.OFFERED:
                assert t.offers
                if len(t.offers) > 1:
                    assert q.cfg.strategy is Strategy.RING_ALL
                assert t.id in q.tasks
            elif t.status is TaskStatus.QUEUED:
                assert not t.offers and t.id in q.tasks
            else:
                assert t.status is TaskStatus.ASSIGNED and t.id not in q.tasks
            if t.target is not None:
                assert t.target_timer in self._timers
            if t.status is TaskStatus.QUEUED:
                if t.target is not None:
                    assert self._targeted[t.target][t.id] is t
                else:
                    heap = q.buckets[t.media][t.req_id]
                    assert sum(1 for e in heap if e[4] == t.id and e[3] == t.version) == 1, t.id
        for aid, d in self._targeted.items():
            for tid, t in d.items():
                assert t.status is TaskStatus.QUEUED and t.target == aid and self._tasks[tid] is t
        for q in self._queues.values():
            for tid in q.tasks:
                assert self._tasks[tid].queue == q.id
            for (m, rid, orid), aheap in q.aheaps.items():
                live = [e for e in aheap if self._agents[e[3]].gen == e[4] and m in self._agents[e[3]].elig]
                live_ids = [e[3] for e in live]
                assert len(live_ids) == len(set(live_ids)), "one live heap entry per agent"
                for aid in self._elig_q.get((q.id, m), ()):
                    a = self._agents[aid]
                    if rid == 0 or self._matches(a, rid):
                        assert live_ids.count(aid) == 1, (q.id, aid)
                        entry = next(e for e in live if e[3] == aid)
                        assert entry == self._agent_key(a, q, rid, orid), (q.id, aid, entry)
            assert sum(q.counts.values()) == len(q.members)


def _replace_strategy(cfg: QueueConfig, strategy: Strategy) -> QueueConfig:
    return replace(cfg, strategy=strategy)


__all__ = ["Engine", "Snapshot"]
