"""Queue settings: the ACD policy of a queue and what its callers hear while they wait (pure).

Stored as JSON on the ``queues`` table and validated here, so the API, the CLI and the seed
share one definition. :func:`to_queue_config` turns them into the ACD engine's
:class:`~hotline.acd.QueueConfig`.

Exit destinations (max wait, closed, empty, full): ``disconnect`` (play the announcement,
hang up), ``voicemail`` or ``voicemail:<box>``, ``flow:<name>`` (an IVR flow), ``queue:<name>``.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hotline.acd import ExitAction, OverflowRule, PriorityRule, QueueConfig, Strategy
from hotline.acd.model import BusinessCalendar, Rule
from hotline.acd.requirements import parse_requirement, skill_names

QUEUE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DESTINATION = re.compile(
    r"^(disconnect|voicemail(:[a-z0-9._-]{1,64})?|flow:[a-z0-9][a-z0-9._-]{0,63}|queue:[a-z0-9][a-z0-9._-]{0,63})$"
)
DTMF_KEYS = "0123456789*#"


class ExitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    destination: str = "disconnect"
    announcement: str | None = None

    @field_validator("destination")
    @classmethod
    def _dest(cls, v: str) -> str:
        if not _DESTINATION.match(v):
            raise ValueError("destination must be disconnect, voicemail[:box], flow:<name> or queue:<name>")
        return v

    def action(self) -> ExitAction:
        return ExitAction(self.destination, self.announcement)


class OverflowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: str
    after: float = Field(0.0, ge=0)
    when: str | None = None


class PrioritySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    when: str
    set_to: int | None = Field(None, ge=0, le=100)
    add: int = Field(0, ge=-100, le=100)


class QueueSettings(BaseModel):
    """Everything configurable about a queue. Durations are seconds."""

    model_config = ConfigDict(extra="forbid")

    # -- ACD policy
    strategy: Strategy = Strategy.LONGEST_IDLE
    requirements: str | None = None
    ring_timeout: float = Field(20.0, gt=0, le=600)
    #: seconds of wrap-up after each call; null: the agent ends wrap-up (manual)
    wrap_up: float | None = Field(15.0, ge=0, le=3600)
    pause_after_task: float = Field(0.0, ge=0, le=600)
    priority_aging: float = Field(0.0, ge=0, le=100)
    max_wait: float | None = Field(None, gt=0)
    max_wait_action: ExitSpec = Field(default_factory=lambda: ExitSpec(destination="voicemail"))
    max_length: int | None = Field(None, ge=0)
    join_when_empty: bool = True
    leave_when_empty: bool = False
    empty_action: ExitSpec = Field(default_factory=ExitSpec)
    full_action: ExitSpec = Field(default_factory=ExitSpec)
    #: name of a business calendar: callers arriving outside its hours take ``closed_action``
    calendar: str | None = None
    closed_action: ExitSpec = Field(default_factory=lambda: ExitSpec(destination="voicemail"))
    overflow: list[OverflowSpec] = Field(default_factory=list)
    priority_rules: list[PrioritySpec] = Field(default_factory=list)
    #: service-level threshold: a call answered within this many seconds is "in service level"
    sl_seconds: float = Field(20.0, gt=0, le=3600)

    # -- what the caller hears
    language: str = Field("zh-CN", pattern=r"^(zh-CN|en)$")
    #: played once when the caller joins (TTS text)
    greeting: str | None = None
    #: WAV file (relative to the data directory) looped while waiting; tones when unset
    music_on_hold: str | None = None
    announce_position: bool = True
    announce_wait: bool = True
    #: first announcement this many seconds after joining, then every ``announce_every`` s
    announce_first: float = Field(8.0, ge=0)
    announce_every: float = Field(30.0, gt=0)
    #: only announce when the caller's position improved since the last announcement
    announce_only_improved: bool = True
    #: expected wait is rounded up to this many seconds (60: "about 3 minutes")
    wait_rounding: int = Field(60, ge=1, le=3600)
    periodic_message: str | None = None
    periodic_every: float = Field(60.0, gt=0)
    #: offer "press <callback_key> to be called back" once the expected wait exceeds this
    callback_offer_after: float | None = Field(None, ge=0)
    callback_key: str = "1"
    #: a key that takes the caller out of the queue into ``exit_flow`` (e.g. voicemail)
    exit_key: str | None = None
    exit_flow: str | None = None
    #: speak the queue's display name to the agent before bridging
    whisper: bool = True

    @field_validator("callback_key", "exit_key")
    @classmethod
    def _key(cls, v: str | None) -> str | None:
        if v is not None and (len(v) != 1 or v not in DTMF_KEYS):
            raise ValueError("must be one DTMF key: 0-9, * or #")
        return v

    @field_validator("requirements")
    @classmethod
    def _req(cls, v: str | None) -> str | None:
        if v is not None:
            parse_requirement(v)  # raises RequirementSyntaxError (a ValueError) with the position
        return v

    @field_validator("max_wait", "callback_offer_after")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be finite")
        return v

    def skills(self) -> set[str]:
        """Skill names the requirements refer to (the engine must know them)."""
        names: set[str] = set()
        if self.requirements:
            names |= skill_names(parse_requirement(self.requirements))
        return names

    def exit_flow_check(self) -> None:
        if self.exit_key is not None and not self.exit_flow:
            raise ValueError("exit_key needs exit_flow")


def parse_settings(data: dict[str, Any] | None) -> QueueSettings:
    s = QueueSettings.model_validate(data or {})
    s.exit_flow_check()
    return s


def to_queue_config(
    name: str, settings: QueueSettings, *, calendar: BusinessCalendar | None = None
) -> QueueConfig:
    """The ACD engine's configuration of queue ``name``."""
    rules: list[Rule] = [PriorityRule(p.when, p.set_to, p.add) for p in settings.priority_rules]
    rules += [OverflowRule(o.target, o.after, o.when) for o in settings.overflow]
    return QueueConfig(
        id=name,
        strategy=settings.strategy,
        requirements=settings.requirements,
        ring_timeout=settings.ring_timeout,
        wrap_up=settings.wrap_up,
        pause_after_task=settings.pause_after_task,
        priority_aging=settings.priority_aging,
        rules=tuple(rules),
        max_wait=settings.max_wait,
        max_wait_action=settings.max_wait_action.action(),
        max_length=settings.max_length,
        join_when_empty=settings.join_when_empty,
        leave_when_empty=settings.leave_when_empty,
        empty_action=settings.empty_action.action(),
        full_action=settings.full_action.action(),
        calendar=calendar,
        closed_action=settings.closed_action.action(),
    )


def expected_wait_words(seconds: float, rounding: int, language: str) -> str:
    """'about 3 minutes' / '大约3分钟' — rounded up to ``rounding`` seconds, never 'zero'."""
    rounded = max(rounding, math.ceil(max(seconds, 0.0) / rounding) * rounding)
    minutes, secs = divmod(int(rounded), 60)
    if language == "en":
        if minutes and secs:
            return f"about {minutes} minute{'s' * (minutes != 1)} {secs} seconds"
        if minutes:
            return f"about {minutes} minute{'s' * (minutes != 1)}"
        return f"about {secs} seconds"
    if minutes and secs:
        return f"大约{minutes}分{secs}秒"
    if minutes:
        return f"大约{minutes}分钟"
    return f"大约{secs}秒"


def position_words(position: int, language: str) -> str:
    if language == "en":
        return f"You are number {position} in line."
    return f"您前面还有{position - 1}位客户在等待。" if position > 1 else "您是下一位。"
