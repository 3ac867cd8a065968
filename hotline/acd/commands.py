"""Command dataclasses: the data form of the engine's input (``Engine.handle(cmd)``).

Each command carries the time ``now`` at which it happens.  They are convenient for
simulators, logs and replays: replaying the same command list on a fresh engine with
the same seed yields the same decisions and events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hotline.acd.model import AgentConfig, TaskSpec

if TYPE_CHECKING:
    from hotline.acd.engine import Engine
    from hotline.acd.events import Decision


@dataclass(frozen=True, slots=True)
class Tick:
    now: float

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.tick(self.now)


@dataclass(frozen=True, slots=True)
class AddAgent:
    now: float
    config: AgentConfig

    def apply(self, engine: Engine) -> list[Decision]:
        engine.add_agent(self.config, self.now)
        return engine.pop_decisions()


@dataclass(frozen=True, slots=True)
class UpdateAgent:
    now: float
    config: AgentConfig

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.update_agent(self.config, self.now)


@dataclass(frozen=True, slots=True)
class Login:
    now: float
    agent_id: str
    ready: bool = False
    reason: str = "login"

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.login(self.agent_id, self.now, ready=self.ready, reason=self.reason)


@dataclass(frozen=True, slots=True)
class Logout:
    now: float
    agent_id: str

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.logout(self.agent_id, self.now)


@dataclass(frozen=True, slots=True)
class SetReady:
    now: float
    agent_id: str

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.set_ready(self.agent_id, self.now)


@dataclass(frozen=True, slots=True)
class SetNotReady:
    now: float
    agent_id: str
    reason: str = "break"

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.set_not_ready(self.agent_id, self.now, self.reason)


@dataclass(frozen=True, slots=True)
class StartOutbound:
    now: float
    agent_id: str

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.start_outbound(self.agent_id, self.now)


@dataclass(frozen=True, slots=True)
class EndOutbound:
    now: float
    agent_id: str

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.end_outbound(self.agent_id, self.now)


@dataclass(frozen=True, slots=True)
class NewTask:
    now: float
    spec: TaskSpec

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.new_task(self.spec, self.now)


@dataclass(frozen=True, slots=True)
class Accept:
    now: float
    agent_id: str
    task_id: str

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.accept(self.agent_id, self.task_id, self.now)


@dataclass(frozen=True, slots=True)
class Reject:
    now: float
    agent_id: str
    task_id: str

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.reject(self.agent_id, self.task_id, self.now)


@dataclass(frozen=True, slots=True)
class Hold:
    now: float
    agent_id: str
    task_id: str

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.hold(self.agent_id, self.task_id, self.now)


@dataclass(frozen=True, slots=True)
class Unhold:
    now: float
    agent_id: str
    task_id: str

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.unhold(self.agent_id, self.task_id, self.now)


@dataclass(frozen=True, slots=True)
class Complete:
    now: float
    agent_id: str
    task_id: str

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.complete(self.agent_id, self.task_id, self.now)


@dataclass(frozen=True, slots=True)
class EndWrapUp:
    now: float
    agent_id: str

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.end_wrap_up(self.agent_id, self.now)


@dataclass(frozen=True, slots=True)
class Abandon:
    now: float
    task_id: str

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.abandon(self.task_id, self.now)


@dataclass(frozen=True, slots=True)
class Reserve:
    now: float
    task_id: str
    agent_id: str
    duration: float

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.reserve(self.task_id, self.agent_id, self.duration, self.now)


@dataclass(frozen=True, slots=True)
class Release:
    now: float
    task_id: str

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.release(self.task_id, self.now)


@dataclass(frozen=True, slots=True)
class Requeue:
    now: float
    task_id: str
    queue: str | None = None
    target_agent: str | None = None
    target_timeout: float = 30.0

    def apply(self, engine: Engine) -> list[Decision]:
        return engine.requeue(
            self.task_id,
            self.now,
            queue=self.queue,
            target_agent=self.target_agent,
            target_timeout=self.target_timeout,
        )


Command = (
    Tick
    | AddAgent
    | UpdateAgent
    | Login
    | Logout
    | SetReady
    | SetNotReady
    | StartOutbound
    | EndOutbound
    | NewTask
    | Accept
    | Reject
    | Hold
    | Unhold
    | Complete
    | EndWrapUp
    | Abandon
    | Reserve
    | Release
    | Requeue
)
