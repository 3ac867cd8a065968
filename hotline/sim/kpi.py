"""Contact-centre KPIs computed from ACD engine events only.

:class:`KpiCollector` consumes the engine's event batches (``Engine.pop_events()``);
it never looks at the simulator or the engine state, so the same code works on a
recorded event log.  Figures are kept per (queue, 15-minute interval) and summed.

Attribution: a task belongs to the queue it was **first seen in** (its arrival
queue: the ``from_queue`` of an arrival ``route`` or the first ``TaskQueued``) and to
the interval of its arrival time.  Tasks arriving before the warm-up end are ignored
entirely; agent time is counted only within ``[warmup, horizon]``.

Definitions (``T`` = the arrival queue's ``sl_threshold``; waits are measured from
arrival to acceptance/abandonment, over every queue the task visited):

* ``offered``: tasks that arrived; ``answered`` (accepted by an agent),
  ``abandoned`` (caller hung up; split into ``abandoned_in_queue`` and
  ``abandoned_ringing`` — hung up while an offer was ringing), ``exited`` (left by a
  rule: max wait, closed, full, no agents), ``unfinished`` (still waiting or ringing
  when the run stopped).  ``offered = answered + abandoned + exited + unfinished``.
* ``short_abandons``: abandons after less than ``short_abandon`` seconds (default 5);
  they are *included* in ``abandoned`` and in every SL convention below.
* ``sl_abandons_ignored`` = answered within T / (answered + exited): abandoned calls
  are left out of numerator and denominator.
* ``sl_abandons_missed`` = answered within T / (answered + abandoned + exited): every
  abandon is a miss (the Erlang A definition, ``hotline.wfm.erlang_a``).
* ``sl_abandons_within_met`` = (answered within T + abandoned within T) /
  (answered + abandoned + exited): an abandon before T counts as met, after T as missed.
* ``wait_probability``: fraction of offered tasks not offered to an agent at their
  arrival instant (they had to queue) — Erlang's P(wait) when answer delay is 0.
* ``asa``: mean wait of answered tasks (incl. ringing time); ``max_wait``: longest wait
  of any ended task; ``max_answer_wait``: longest wait of an answered task.
* ``aht`` = (talk + wrap-up) / completed tasks.  Talk is ``TaskCompleted.handle_time``;
  the wrap-up is the agent's time in ``wrap_up`` after that completion.
* ``abandon_rate`` = abandoned / offered.
* ``overflowed_out``: tasks of this queue moved to another queue (overflow, route,
  condition); ``answered_in``: tasks answered *by this queue* (any arrival queue),
  counted in the task's arrival interval.
* Agent time (totals and per interval, not per queue — agents serve several queues):
  ``occupancy`` = handle / (handle + available idle), handle = busy + hold + wrap_up,
  available idle = available + reserved (ringing); the post-task pause counts as
  available.  ``utilisation`` = handle / logged-in time (every state but logged out,
  including not ready).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hotline.acd import (
    AgentState,
    AgentStateChanged,
    Event,
    TaskAbandoned,
    TaskAccepted,
    TaskCompleted,
    TaskExited,
    TaskOffered,
    TaskOfferWithdrawn,
    TaskOverflowed,
    TaskQueued,
)

__all__ = ["AgentTime", "KpiCollector", "QueueKpis", "SlConventions"]

SL_DEFINITIONS = {
    "sl_abandons_ignored": "answered within T / (answered + exited)",
    "sl_abandons_missed": "answered within T / (answered + abandoned + exited)",
    "sl_abandons_within_met": "(answered within T + abandoned within T) / (answered + abandoned + exited)",
}
KPI_DEFINITIONS = {
    **SL_DEFINITIONS,
    "T": "the arrival queue's sl_threshold (seconds); waits run from arrival to accept/abandon",
    "offered": "tasks that arrived (after warm-up), attributed to their arrival queue and interval",
    "unfinished": "offered - answered - abandoned - exited (still waiting when the run stopped)",
    "short_abandons": "abandons after less than short_abandon seconds (included in abandoned)",
    "abandoned_ringing": "abandons while an offer was ringing at an agent",
    "wait_probability": "share of offered tasks not offered to an agent at their arrival instant",
    "asa": "mean wait of answered tasks (arrival to accept, ringing included)",
    "aht": "(talk + wrap-up) / completed tasks",
    "occupancy": "(busy + hold + wrap_up) / (busy + hold + wrap_up + available + reserved) agent time",
    "utilisation": "(busy + hold + wrap_up) / logged-in agent time (not ready included)",
    "answered_in": "tasks answered by this queue (any arrival queue, e.g. after overflow)",
}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


@dataclass(slots=True)
class QueueKpis:
    """Raw counters; derived figures are properties (``None`` when undefined)."""

    offered: int = 0
    immediate: int = 0  # offered to an agent at the arrival instant
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    abandoned_ringing: int = 0
    abandoned_within: int = 0
    short_abandons: int = 0
    exited: int = 0
    overflowed_out: int = 0
    answered_in: int = 0
    answer_wait_sum: float = 0.0
    max_wait: float = 0.0
    max_answer_wait: float = 0.0
    completed: int = 0
    talk_sum: float = 0.0
    wrap_sum: float = 0.0

    def add(self, o: QueueKpis) -> None:
        for name in self.__slots__:
            if name.startswith("max_"):
                setattr(self, name, max(getattr(self, name), getattr(o, name)))
            else:
                setattr(self, name, getattr(self, name) + getattr(o, name))

    @property
    def ended(self) -> int:
        return self.answered + self.abandoned + self.exited

    @property
    def unfinished(self) -> int:
        return self.offered - self.ended

    @property
    def sl_abandons_ignored(self) -> float | None:
        return _ratio(self.answered_within, self.answered + self.exited)

    @property
    def sl_abandons_missed(self) -> float | None:
        return _ratio(self.answered_within, self.ended)

    @property
    def sl_abandons_within_met(self) -> float | None:
        return _ratio(self.answered_within + self.abandoned_within, self.ended)

    @property
    def wait_probability(self) -> float | None:
        return _ratio(self.offered - self.immediate, self.offered)

    @property
    def asa(self) -> float | None:
        return _ratio(self.answer_wait_sum, self.answered)

    @property
    def aht(self) -> float | None:
        return _ratio(self.talk_sum + self.wrap_sum, self.completed)

    @property
    def abandon_rate(self) -> float | None:
        return _ratio(self.abandoned, self.offered)

    def to_dict(self) -> dict[str, Any]:
        return {
            "offered": self.offered,
            "answered": self.answered,
            "answered_within_sl": self.answered_within,
            "abandoned": self.abandoned,
            "abandoned_in_queue": self.abandoned - self.abandoned_ringing,
            "abandoned_ringing": self.abandoned_ringing,
            "abandoned_within_sl": self.abandoned_within,
            "short_abandons": self.short_abandons,
            "exited": self.exited,
            "unfinished": self.unfinished,
            "overflowed_out": self.overflowed_out,
            "answered_in": self.answered_in,
            "sl_abandons_ignored": self.sl_abandons_ignored,
            "sl_abandons_missed": self.sl_abandons_missed,
            "sl_abandons_within_met": self.sl_abandons_within_met,
            "wait_probability": self.wait_probability,
            "abandon_rate": self.abandon_rate,
            "asa": self.asa,
            "aht": self.aht,
            "talk_time": self.talk_sum,
            "wrap_up_time": self.wrap_sum,
            "completed": self.completed,
            "max_wait": self.max_wait,
            "max_answer_wait": self.max_answer_wait,
        }


SlConventions = tuple[float | None, float | None, float | None]

_STATES = tuple(AgentState)
_STATE_IDX = {st: i for i, st in enumerate(_STATES)}
_LOGGED_OUT = _STATE_IDX[AgentState.LOGGED_OUT]
_HANDLE = (AgentState.BUSY, AgentState.HOLD, AgentState.WRAP_UP)
_IDLE = (AgentState.AVAILABLE, AgentState.RESERVED)


@dataclass(slots=True)
class AgentTime:
    """Seconds of agent time per reported state."""

    seconds: dict[AgentState, float] = field(default_factory=dict)

    def add(self, o: AgentTime) -> None:
        for s, v in o.seconds.items():
            self.seconds[s] = self.seconds.get(s, 0.0) + v

    @property
    def handle(self) -> float:
        return sum(self.seconds.get(s, 0.0) for s in _HANDLE)

    @property
    def occupancy(self) -> float | None:
        h = self.handle
        return _ratio(h, h + sum(self.seconds.get(s, 0.0) for s in _IDLE))

    @property
    def utilisation(self) -> float | None:
        logged = sum(v for s, v in self.seconds.items() if s is not AgentState.LOGGED_OUT)
        return _ratio(self.handle, logged)

    def to_dict(self) -> dict[str, Any]:
        return {
            "occupancy": self.occupancy,
            "utilisation": self.utilisation,
            "state_seconds": {str(s): round(v, 3) for s, v in sorted(self.seconds.items())},
        }


class KpiCollector:
    """Consumes engine events; see the module docstring for every definition."""

    def __init__(
        self,
        queues: Sequence[str],
        sl_threshold: dict[str, float],
        *,
        horizon: float,
        warmup: float = 0.0,
        interval: float = 900.0,
        short_abandon: float = 5.0,
    ) -> None:
        self.queues = tuple(queues)
        self._qindex = {q: i for i, q in enumerate(self.queues)}
        self._sl = [sl_threshold.get(q, 20.0) for q in self.queues]
        self.horizon = horizon
        self.warmup = warmup
        self.interval = interval
        self.short_abandon = short_abandon
        self.n_intervals = max(1, math.ceil(horizon / interval))
        # buckets[q][k]
        self.buckets: list[list[QueueKpis]] = [
            [QueueKpis() for _ in range(self.n_intervals)] for _ in self.queues
        ]
        # raw agent seconds [interval][state ordinal]; see the agent_time property
        self._atime: list[list[float]] = [[0.0] * len(_STATES) for _ in range(self.n_intervals)]
        # task id -> [arrival t, queue index, interval, flags]; flags 1: offered, 2: abandoned while ringing
        self._tasks: dict[str, list[Any]] = {}
        self._ignored: set[str] = set()  # arrived during warm-up
        self._agents: dict[str, tuple[int, float]] = {}  # agent -> (state ordinal, since)
        self._last_done: dict[str, QueueKpis] = {}  # agent -> bucket of its last completed task
        self._wrap_since: dict[str, float] = {}
        self.ended = 0  # end events seen (every task, warm-up ones included)
        self.events = 0
        self._handlers: dict[type, Callable[[Any], None]] = {
            AgentStateChanged: self._agent_change,
            TaskQueued: self._on_queued,
            TaskOffered: self._on_offered,
            TaskAccepted: self._on_accepted,
            TaskCompleted: self._on_completed,
            TaskOfferWithdrawn: self._on_withdrawn,
            TaskAbandoned: self._on_abandoned,
            TaskExited: self._on_exited,
            TaskOverflowed: self._on_overflowed,
        }

    # -------------------------------------------------------------- consumption

    def _record(self, task_id: str, t: float, queue_id: str) -> list[Any] | None:
        rec = self._tasks.get(task_id)
        if rec is not None:
            return rec
        if task_id in self._ignored:
            return None
        if t < self.warmup:
            self._ignored.add(task_id)
            return None
        k = min(int(t // self.interval), self.n_intervals - 1)
        qi = self._qindex[queue_id]
        rec = [t, qi, k, 0]
        self._tasks[task_id] = rec
        self.buckets[qi][k].offered += 1
        return rec

    def _end(self, task_id: str) -> None:
        self.ended += 1
        self._tasks.pop(task_id, None)
        self._ignored.discard(task_id)

    def consume(self, events: Iterable[Event]) -> None:
        """Account one batch of engine events (in order)."""
        handlers = self._handlers
        n = 0
        for e in events:
            n += 1
            h = handlers.get(type(e))
            if h is not None:
                h(e)
        self.events += n

    def _on_queued(self, e: TaskQueued) -> None:
        self._record(e.task_id, e.t, e.queue_id)

    def _on_offered(self, e: TaskOffered) -> None:
        rec = self._tasks.get(e.task_id)
        if rec is not None and not rec[3] & 1:
            rec[3] |= 1
            if e.t == rec[0]:
                self.buckets[rec[1]][rec[2]].immediate += 1

    def _on_accepted(self, e: TaskAccepted) -> None:
        rec = self._tasks.get(e.task_id)
        if rec is not None:
            b = self.buckets[rec[1]][rec[2]]
            w = e.t - rec[0]
            b.answered += 1
            b.answer_wait_sum += w
            if w <= self._sl[rec[1]]:
                b.answered_within += 1
            if w > b.max_wait:
                b.max_wait = w
            if w > b.max_answer_wait:
                b.max_answer_wait = w
            self.buckets[self._qindex[e.queue_id]][rec[2]].answered_in += 1

    def _on_completed(self, e: TaskCompleted) -> None:
        rec = self._tasks.get(e.task_id)
        if rec is not None:
            b = self.buckets[rec[1]][rec[2]]
            b.completed += 1
            b.talk_sum += e.handle_time
            self._last_done[e.agent_id] = b
        else:
            self._last_done.pop(e.agent_id, None)
        self._end(e.task_id)

    def _on_withdrawn(self, e: TaskOfferWithdrawn) -> None:
        if e.reason == "abandoned":
            rec = self._tasks.get(e.task_id)
            if rec is not None:
                rec[3] |= 2

    def _on_abandoned(self, e: TaskAbandoned) -> None:
        rec = self._record(e.task_id, e.t, e.queue_id)
        if rec is not None:
            b = self.buckets[rec[1]][rec[2]]
            w = e.t - rec[0]
            b.abandoned += 1
            if rec[3] & 2:
                b.abandoned_ringing += 1
            if w <= self._sl[rec[1]]:
                b.abandoned_within += 1
            if w < self.short_abandon:
                b.short_abandons += 1
            if w > b.max_wait:
                b.max_wait = w
        self._end(e.task_id)

    def _on_exited(self, e: TaskExited) -> None:
        rec = self._record(e.task_id, e.t, e.queue_id)
        if rec is not None:
            b = self.buckets[rec[1]][rec[2]]
            b.exited += 1
            w = e.t - rec[0]
            if w > b.max_wait:
                b.max_wait = w
        self._end(e.task_id)

    def _on_overflowed(self, e: TaskOverflowed) -> None:
        rec = self._record(e.task_id, e.t, e.from_queue)
        if rec is not None:
            self.buckets[self._qindex[e.from_queue]][rec[2]].overflowed_out += 1

    def _agent_change(self, e: AgentStateChanged) -> None:
        aid = e.agent_id
        t1 = e.t
        prev = self._agents.get(aid)
        if prev is not None:
            si, t0 = prev
            if si != _LOGGED_OUT and t1 > t0:
                # fast path: both ends inside one interval, after warm-up, before the horizon
                k = int(t0 // self.interval)
                if t0 >= self.warmup and t1 <= (k + 1) * self.interval and t1 <= self.horizon:
                    self._atime[k][si] += t1 - t0
                else:
                    self._add_time(si, t0, t1)
        self._agents[aid] = (_STATE_IDX[e.new], t1)
        if e.old is AgentState.WRAP_UP:
            since = self._wrap_since.pop(aid, t1)
            b = self._last_done.get(aid)
            if b is not None:
                b.wrap_sum += t1 - since
        if e.new is AgentState.WRAP_UP:
            self._wrap_since[aid] = t1

    def _add_time(self, si: int, t0: float, t1: float) -> None:
        if si == _LOGGED_OUT:
            return
        t0 = max(t0, self.warmup)
        t1 = min(t1, self.horizon)
        step = self.interval
        while t0 < t1:
            k = int(t0 // step)
            end = min(t1, (k + 1) * step)
            self._atime[k][si] += end - t0
            t0 = end

    def close(self, t: float) -> None:
        """Account the agents' current states up to ``t`` (call once at the end)."""
        for aid, (si, since) in self._agents.items():
            self._add_time(si, since, t)
            self._agents[aid] = (si, t)

    @property
    def agent_time(self) -> list[AgentTime]:
        """Agent seconds per state, one :class:`AgentTime` per interval."""
        return [AgentTime({_STATES[i]: v for i, v in enumerate(row) if v > 0.0}) for row in self._atime]

    # -------------------------------------------------------------- results

    @property
    def agents_in_wrap_up(self) -> int:
        return len(self._wrap_since)

    @property
    def live_tasks(self) -> int:
        return len(self._tasks)

    def queue_total(self, queue_id: str) -> QueueKpis:
        out = QueueKpis()
        for b in self.buckets[self._qindex[queue_id]]:
            out.add(b)
        return out

    def total(self) -> QueueKpis:
        out = QueueKpis()
        for q in self.queues:
            out.add(self.queue_total(q))
        return out

    def agents_total(self) -> AgentTime:
        out = AgentTime()
        for a in self.agent_time:
            out.add(a)
        return out

    def interval_agents(self, k: int) -> AgentTime:
        row = self._atime[k]
        return AgentTime({_STATES[i]: v for i, v in enumerate(row) if v > 0.0})

    def interval_total(self, k: int) -> QueueKpis:
        out = QueueKpis()
        for qi in range(len(self.queues)):
            out.add(self.buckets[qi][k])
        return out
