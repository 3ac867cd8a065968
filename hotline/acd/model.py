"""Configuration objects of the ACD: media, agents, queues, strategies and routing rules.

All are frozen dataclasses; the engine validates them when they are added.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol, runtime_checkable

from hotline.acd.errors import InvalidValueError
from hotline.acd.requirements import MAX_LEVEL, MIN_LEVEL


class Media(StrEnum):
    CALL = "call"
    CHAT = "chat"
    EMAIL = "email"
    CALLBACK = "callback"
    OUTBOUND = "outbound"


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"  # offered a task, ringing
    BUSY = "busy"  # handling at least one task
    HOLD = "hold"  # every active task on hold
    WRAP_UP = "wrap_up"
    NOT_READY = "not_ready"
    OUTBOUND = "outbound"


class TaskStatus(StrEnum):
    QUEUED = "queued"  # waiting in a queue (possibly reserved for one agent)
    OFFERED = "offered"  # ringing at one agent (several for ring_all)
    ASSIGNED = "assigned"  # accepted, being handled
    ENDED = "ended"  # completed, abandoned or exited


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    FEWEST_TASKS = "fewest_tasks"
    LEAST_TALK_TIME = "least_talk_time"
    MOST_QUALIFIED = "most_qualified"
    ROUND_ROBIN = "round_robin"
    LINEAR = "linear"
    RANDOM = "random"
    WEIGHTED_RANDOM = "weighted_random"
    RING_ALL = "ring_all"


@runtime_checkable
class BusinessCalendar(Protocol):
    """Satisfied by the business-calendar module: is the queue open at time ``t``?"""

    def is_open(self, t: float) -> bool: ...


def check_non_negative(name: str, value: float | None) -> None:
    if value is None:
        return
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value) or value < 0:
        raise InvalidValueError(name, value, "must be a non-negative number")


@dataclass(frozen=True, slots=True)
class SkillEntry:
    """One line of an agent's résumé."""

    level: int
    preference: int = 5
    excluded: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.level, int) or not MIN_LEVEL <= self.level <= MAX_LEVEL:
            raise InvalidValueError("skill level", self.level, f"must be an integer {MIN_LEVEL}-{MAX_LEVEL}")
        if not isinstance(self.preference, int) or not 1 <= self.preference <= 9:
            raise InvalidValueError("skill preference", self.preference, "must be an integer 1-9")


def _default_capacity() -> Mapping[Media, int]:
    return {Media.CALL: 1, Media.CALLBACK: 1, Media.OUTBOUND: 1, Media.CHAT: 0, Media.EMAIL: 0}


@dataclass(frozen=True)
class AgentConfig:
    """An agent: résumé (skill -> level/preference/excluded), capacity per media, queues served.

    ``skills`` values may be a plain level ``int`` or a :class:`SkillEntry`.
    ``max_total`` caps the number of simultaneous tasks over all media (``None``: no cap
    beyond the per-media capacities).  ``voice_max`` caps simultaneous voice tasks
    (call + callback + outbound together; default 1: a caller is never offered a
    callback while on a call).  Queues are served in the order given (used only
    for deterministic iteration, never for priority).
    """

    id: str
    skills: Mapping[str, SkillEntry | int] = field(default_factory=dict)
    queues: tuple[str, ...] = ()
    capacity: Mapping[Media, int] = field(default_factory=_default_capacity)
    max_total: int | None = None
    voice_max: int = 1
    unit: str = ""
    site: str = ""

    def resume(self) -> dict[str, SkillEntry]:
        return {k: (v if isinstance(v, SkillEntry) else SkillEntry(v)) for k, v in self.skills.items()}


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """Weights of the agent score (most_qualified strategy and tie-breaks); higher score wins.

    score = preference * mean(preference of required skills)
          - under * (levels missing w.r.t. the task's *original* requirement, after relaxation)
          - extra * (number of résumé skills the requirement does not mention)
          + idle * (seconds the agent has been idle)
    """

    under: float = 10.0
    extra: float = 1.0
    preference: float = 1.0
    idle: float = 0.01


@dataclass(frozen=True, slots=True)
class ExitAction:
    """Where a task goes when it leaves the ACD without an agent (opaque to the engine)."""

    destination: str = "disconnect"
    announcement: str | None = None


# ---------------------------------------------------------------- routing rules


@dataclass(frozen=True, slots=True)
class RouteRule:
    """At arrival: if ``when`` (condition text) holds, send the task to ``queue`` instead."""

    when: str
    queue: str


@dataclass(frozen=True, slots=True)
class PriorityRule:
    """At arrival: if ``when`` holds, set (``set_to``) or raise (``add``) the priority (clamped 0-100)."""

    when: str
    set_to: int | None = None
    add: int = 0


@dataclass(frozen=True, slots=True)
class DedicatedAgentRule:
    """At arrival: reserve the task for the agent named in ``data[data_key]`` for ``timeout`` s.

    The task waits for that agent even while the agent is busy; after ``timeout`` any
    agent may take it.  Unknown agent ids are ignored.
    """

    data_key: str = "dedicated_agent"
    timeout: float = 60.0
    when: str | None = None


@dataclass(frozen=True, slots=True)
class StickyAgentRule:
    """At arrival: prefer the last agent (``data[data_key]``) for ``timeout`` s if logged in."""

    data_key: str = "last_agent"
    timeout: float = 20.0
    when: str | None = None


@dataclass(frozen=True, slots=True)
class RelaxRule:
    """After ``after`` s in the queue, replace the task's requirements with ``requirements``.

    ``None`` drops the requirements entirely (any agent of the queue).
    """

    after: float
    requirements: str | None = None


@dataclass(frozen=True, slots=True)
class OverflowRule:
    """Move the task to ``target`` after ``after`` s, optionally only while ``when`` holds.

    Conditional rules are evaluated at arrival and every ``QueueConfig.evaluation_interval``
    seconds for tasks that have waited at least ``after`` seconds, oldest first.
    """

    target: str
    after: float = 0.0
    when: str | None = None


Rule = RouteRule | PriorityRule | DedicatedAgentRule | StickyAgentRule | RelaxRule | OverflowRule


@dataclass(frozen=True)
class QueueConfig:
    """A queue and its routing policy.

    ``wrap_up``: seconds of wrap-up after each task (auto-return), ``0`` for none,
    ``None`` for manual wrap-up (agent ends it with ``end_wrap_up``).
    ``ring_timeout``: seconds before ring-no-answer (``None``: ring forever).
    ``pause_after_task``: seconds after wrap-up before the agent gets the next offer.
    ``priority_aging``: priority points gained per second of waiting (effective
    priority = priority + aging * total wait; not capped so the order stays stable).
    """

    id: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    requirements: str | None = None
    ring_timeout: float | None = 20.0
    wrap_up: float | None = 0.0
    pause_after_task: float = 4.0
    priority_aging: float = 0.0
    weights: ScoreWeights = field(default_factory=ScoreWeights)
    rules: tuple[Rule, ...] = ()
    max_wait: float | None = None
    max_wait_action: ExitAction = field(default_factory=ExitAction)
    max_length: int | None = None
    join_when_empty: bool = True
    leave_when_empty: bool = False
    empty_action: ExitAction = field(default_factory=ExitAction)
    calendar: BusinessCalendar | None = None
    closed_action: ExitAction = field(default_factory=ExitAction)
    full_action: ExitAction = field(default_factory=ExitAction)
    evaluation_interval: float = 1.0
    rona_reason: str = "rona"


@dataclass(frozen=True)
class TaskSpec:
    """A new task entering the ACD.

    ``requirements`` overrides the queue's default requirements.  ``queued_since`` keeps
    a callback's (or transferred task's) original place in line: the task is ordered as
    if it had queued at that time.  ``target_agent``/``target_timeout`` reserve the task
    for one agent on arrival.
    """

    id: str
    queue: str
    media: Media = Media.CALL
    priority: int = 0
    requirements: str | None = None
    data: Mapping[str, object] = field(default_factory=dict)
    queued_since: float | None = None
    target_agent: str | None = None
    target_timeout: float = 30.0
