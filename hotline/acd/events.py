"""Outputs of the engine: decisions (instructions for the I/O shell) and events (facts).

Decisions tell the shell what to do (ring an agent, stop ringing, move or drop a
task).  Events are the single source of truth for statistics and audit.  Both are
plain frozen dataclasses carrying the engine time ``t`` at which they happened.
"""

from __future__ import annotations

from dataclasses import dataclass

from hotline.acd.model import AgentState, ExitAction, Media

# ------------------------------------------------------------------ decisions


@dataclass(frozen=True, slots=True)
class Offer:
    """Ring / present task ``task_id`` to ``agent_id``; answer with accept / reject."""

    t: float
    task_id: str
    agent_id: str
    queue_id: str
    media: Media
    ring_deadline: float | None


@dataclass(frozen=True, slots=True)
class Withdraw:
    """Stop presenting ``task_id`` to ``agent_id`` (rona, answered_elsewhere, abandoned, ...)."""

    t: float
    task_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Overflow:
    """The task moved from one queue to another (announcement hook for the shell)."""

    t: float
    task_id: str
    from_queue: str
    to_queue: str
    reason: str


@dataclass(frozen=True, slots=True)
class Exit:
    """The task leaves the ACD without an agent: carry out ``action``."""

    t: float
    task_id: str
    queue_id: str
    reason: str  # closed, max_wait, queue_full, no_agents
    action: ExitAction


Decision = Offer | Withdraw | Overflow | Exit

# ------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class TaskQueued:
    t: float
    task_id: str
    queue_id: str
    media: Media
    priority: int
    queued_since: float  # ordering time (earlier = further ahead at equal priority)


@dataclass(frozen=True, slots=True)
class TaskRequeued:
    """Back to waiting after a withdrawn offer or an agent's requeue, same place in line."""

    t: float
    task_id: str
    queue_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class TaskOffered:
    t: float
    task_id: str
    agent_id: str
    queue_id: str


@dataclass(frozen=True, slots=True)
class TaskOfferWithdrawn:
    t: float
    task_id: str
    agent_id: str
    queue_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class TaskAccepted:
    t: float
    task_id: str
    agent_id: str
    queue_id: str
    wait: float  # seconds in this queue
    total_wait: float  # seconds since queued_since


@dataclass(frozen=True, slots=True)
class TaskCompleted:
    """Ends a task that an agent handled."""

    t: float
    task_id: str
    agent_id: str
    queue_id: str
    handle_time: float


@dataclass(frozen=True, slots=True)
class TaskAbandoned:
    """Ends a task: the customer left before an agent accepted."""

    t: float
    task_id: str
    queue_id: str
    wait: float


@dataclass(frozen=True, slots=True)
class TaskExited:
    """Ends a task: it left the ACD by a rule (closed, max_wait, queue_full, no_agents)."""

    t: float
    task_id: str
    queue_id: str
    reason: str
    wait: float


@dataclass(frozen=True, slots=True)
class TaskOverflowed:
    t: float
    task_id: str
    from_queue: str
    to_queue: str
    reason: str
    wait: float  # seconds spent in from_queue


@dataclass(frozen=True, slots=True)
class TaskRequirementsChanged:
    t: float
    task_id: str
    queue_id: str
    requirements: str | None


@dataclass(frozen=True, slots=True)
class TaskReserved:
    """The task is reserved for one agent until ``until`` (kind: reservation, dedicated, sticky)."""

    t: float
    task_id: str
    agent_id: str
    until: float
    kind: str


@dataclass(frozen=True, slots=True)
class ReservationEnded:
    """Every TaskReserved is followed by exactly one ReservationEnded.

    reason: accepted, expired, released, cancelled (task ended or moved).
    """

    t: float
    task_id: str
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    t: float
    agent_id: str
    old: AgentState
    new: AgentState
    reason: str | None  # not-ready reason code when new is not_ready
    queues: tuple[str, ...]


Event = (
    TaskQueued
    | TaskRequeued
    | TaskOffered
    | TaskOfferWithdrawn
    | TaskAccepted
    | TaskCompleted
    | TaskAbandoned
    | TaskExited
    | TaskOverflowed
    | TaskRequirementsChanged
    | TaskReserved
    | ReservationEnded
    | AgentStateChanged
)

END_EVENTS = (TaskCompleted, TaskAbandoned, TaskExited)
