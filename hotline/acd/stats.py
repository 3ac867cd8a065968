"""Real-time queue statistics computed purely from engine events.

Feed every event batch (``Engine.pop_events()``) to :meth:`QueueStats.consume`; ask
:meth:`QueueStats.snapshot` for a queue's figures at time ``now``.  Nothing here reads
engine internals, so the same consumer works on a recorded event log.

Definitions (per queue, since the consumer started):

* ``waiting``: tasks in the queue not yet accepted (queued or ringing);
* ``longest_wait``: seconds the oldest of them has been in the queue;
* ``offered``: tasks that entered the queue (TaskQueued);
* ``answered`` / ``abandoned`` / ``exited`` / ``overflowed_out``;
* ``service_level``: answered within the threshold / (answered + abandoned after the
  threshold); ``None`` before any such task.  Threshold default 20 s;
* ``asa``: mean wait of answered tasks;
* agent counts by reported state (available, busy = reserved+busy+hold, wrap_up,
  not_ready (incl. outbound), logged_in);
* ``expected_wait``: estimate for a newly arriving task (see :meth:`expected_wait`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from hotline.acd.events import (
    AgentStateChanged,
    Event,
    TaskAbandoned,
    TaskAccepted,
    TaskCompleted,
    TaskExited,
    TaskOverflowed,
    TaskQueued,
    TaskRequeued,
)
from hotline.acd.model import AgentState


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    queue_id: str
    waiting: int
    longest_wait: float
    offered: int
    answered: int
    answered_within: int
    abandoned: int
    abandoned_after: int
    exited: int
    overflowed_out: int
    service_level: float | None
    asa: float | None
    aht: float
    available: int
    busy: int
    wrap_up: int
    not_ready: int
    logged_in: int
    expected_wait: float


@dataclass
class _Q:
    waiting: dict[str, float] = field(default_factory=dict)  # task -> entered at
    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    wait_sum: float = 0.0
    abandoned: int = 0
    abandoned_after: int = 0
    exited: int = 0
    overflowed_out: int = 0
    aht: float | None = None
    agents: dict[str, AgentState] = field(default_factory=dict)


class QueueStats:
    """Event consumer.  ``sl_threshold`` may be overridden per queue."""

    def __init__(
        self,
        sl_threshold: float = 20.0,
        per_queue_threshold: dict[str, float] | None = None,
        default_aht: float = 180.0,
        aht_smoothing: float = 0.1,
    ) -> None:
        if sl_threshold < 0 or default_aht <= 0 or not 0 < aht_smoothing <= 1:
            raise ValueError("sl_threshold >= 0, default_aht > 0 and 0 < aht_smoothing <= 1 required")
        self.sl_threshold = sl_threshold
        self.per_queue_threshold = dict(per_queue_threshold or {})
        self.default_aht = default_aht
        self.aht_smoothing = aht_smoothing
        self._q: dict[str, _Q] = {}
        self._agent_queues: dict[str, tuple[str, ...]] = {}

    def _get(self, qid: str) -> _Q:
        q = self._q.get(qid)
        if q is None:
            q = self._q[qid] = _Q()
        return q

    def threshold(self, qid: str) -> float:
        return self.per_queue_threshold.get(qid, self.sl_threshold)

    def consume(self, events: Iterable[Event]) -> None:
        for e in events:
            if isinstance(e, TaskQueued):
                q = self._get(e.queue_id)
                q.offered += 1
                q.waiting[e.task_id] = e.t
            elif isinstance(e, TaskRequeued):
                q = self._get(e.queue_id)
                q.waiting.setdefault(e.task_id, e.t)
            elif isinstance(e, TaskAccepted):
                q = self._get(e.queue_id)
                q.waiting.pop(e.task_id, None)
                q.answered += 1
                q.wait_sum += e.wait
                if e.wait <= self.threshold(e.queue_id):
                    q.answered_within += 1
            elif isinstance(e, TaskAbandoned):
                q = self._get(e.queue_id)
                q.waiting.pop(e.task_id, None)
                q.abandoned += 1
                if e.wait > self.threshold(e.queue_id):
                    q.abandoned_after += 1
            elif isinstance(e, TaskExited):
                q = self._get(e.queue_id)
                q.waiting.pop(e.task_id, None)
                q.exited += 1
            elif isinstance(e, TaskOverflowed):
                q = self._get(e.from_queue)
                q.waiting.pop(e.task_id, None)
                q.overflowed_out += 1
            elif isinstance(e, TaskCompleted):
                q = self._get(e.queue_id)
                a = self.aht_smoothing
                q.aht = e.handle_time if q.aht is None else (1 - a) * q.aht + a * e.handle_time
            elif isinstance(e, AgentStateChanged):
                for qid in self._agent_queues.get(e.agent_id, ()):
                    if qid not in e.queues:
                        self._get(qid).agents.pop(e.agent_id, None)
                self._agent_queues[e.agent_id] = e.queues
                for qid in e.queues:
                    q = self._get(qid)
                    if e.new is AgentState.LOGGED_OUT:
                        q.agents.pop(e.agent_id, None)
                    else:
                        q.agents[e.agent_id] = e.new

    def expected_wait(self, queue_id: str, now: float) -> float:
        """Estimated wait of a task arriving now (seconds).

        Position-based estimate: with ``n`` tasks already waiting, ``f`` free agents and
        ``s`` staffed agents (logged in, not not_ready), the new task is served after
        ``n + 1 - f`` completions; completions arrive at ``s / AHT`` per second, so
        EWT = max(0, n + 1 - f) * AHT / s.  AHT is an exponential moving average of
        handle times (``default_aht`` before any).  With no staffed agent, ``inf``.
        """
        q = self._get(queue_id)
        counts = self._counts(q)
        free = counts["available"]
        staffed = counts["available"] + counts["busy"] + counts["wrap_up"]
        ahead = len(q.waiting) + 1 - free
        if ahead <= 0:
            return 0.0
        if staffed == 0:
            return float("inf")
        aht = q.aht if q.aht is not None else self.default_aht
        return ahead * aht / staffed

    @staticmethod
    def _counts(q: _Q) -> dict[str, int]:
        c = {"available": 0, "busy": 0, "wrap_up": 0, "not_ready": 0}
        for st in q.agents.values():
            if st is AgentState.AVAILABLE:
                c["available"] += 1
            elif st in (AgentState.BUSY, AgentState.HOLD, AgentState.RESERVED):
                c["busy"] += 1
            elif st is AgentState.WRAP_UP:
                c["wrap_up"] += 1
            else:
                c["not_ready"] += 1
        return c

    def snapshot(self, queue_id: str, now: float) -> QueueSnapshot:
        q = self._get(queue_id)
        c = self._counts(q)
        denom = q.answered + q.abandoned_after
        return QueueSnapshot(
            queue_id=queue_id,
            waiting=len(q.waiting),
            longest_wait=max((now - t for t in q.waiting.values()), default=0.0),
            offered=q.offered,
            answered=q.answered,
            answered_within=q.answered_within,
            abandoned=q.abandoned,
            abandoned_after=q.abandoned_after,
            exited=q.exited,
            overflowed_out=q.overflowed_out,
            service_level=(q.answered_within / denom) if denom else None,
            asa=(q.wait_sum / q.answered) if q.answered else None,
            aht=q.aht if q.aht is not None else self.default_aht,
            available=c["available"],
            busy=c["busy"],
            wrap_up=c["wrap_up"],
            not_ready=c["not_ready"],
            logged_in=len(q.agents),
            expected_wait=self.expected_wait(queue_id, now),
        )
