"""Exception hierarchy of the ACD engine.

Every error raised by :mod:`hotline.acd` derives from :class:`AcdError`.  A command
that raises leaves the engine state unchanged (commands validate before they mutate).
"""

from __future__ import annotations


class AcdError(Exception):
    """Base class of all ACD errors."""


class ExpressionSyntaxError(AcdError, ValueError):
    """A requirement or condition expression could not be parsed.

    ``position`` is the 0-based character offset where the problem was found and
    ``reason`` a short human-readable explanation.
    """

    kind = "expression"

    def __init__(self, text: str, position: int, reason: str) -> None:
        self.text = text
        self.position = position
        self.reason = reason
        pointer = " " * position + "^"
        super().__init__(f"invalid {self.kind} at position {position}: {reason}\n  {text}\n  {pointer}")


class RequirementSyntaxError(ExpressionSyntaxError):
    """Invalid requirement expression (``billing>=3 AND NOT trainee``)."""

    kind = "requirement"


class ConditionSyntaxError(ExpressionSyntaxError):
    """Invalid routing condition (``waiting > 25 and available(group2) >= 4``)."""

    kind = "condition"


class UnknownItemError(AcdError, KeyError):
    """A command referred to an item (skill, queue, agent, task) that does not exist."""

    item = "item"

    def __init__(self, item_id: str) -> None:
        self.item_id = item_id
        super().__init__(f"unknown {self.item}: {item_id!r}")

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class UnknownSkillError(UnknownItemError):
    item = "skill"


class UnknownQueueError(UnknownItemError):
    item = "queue"


class UnknownAgentError(UnknownItemError):
    item = "agent"


class UnknownTaskError(UnknownItemError):
    item = "task"


class DuplicateItemError(AcdError, ValueError):
    """An item with this id already exists (or existed: task ids are never reused)."""

    def __init__(self, item: str, item_id: str) -> None:
        self.item = item
        self.item_id = item_id
        super().__init__(f"{item} {item_id!r} already exists")


class InvalidValueError(AcdError, ValueError):
    """A numeric or enumerated argument is out of range (negative time, priority 101, ...)."""

    def __init__(self, name: str, value: object, reason: str) -> None:
        self.name = name
        self.value = value
        super().__init__(f"invalid {name} {value!r}: {reason}")


class InvalidTransitionError(AcdError):
    """A command is not allowed in the current state of an agent or task."""

    def __init__(self, item: str, item_id: str, state: str, action: str, detail: str = "") -> None:
        self.item = item
        self.item_id = item_id
        self.state = state
        self.action = action
        msg = f"cannot {action}: {item} {item_id!r} is {state}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class ClockError(AcdError, ValueError):
    """Time went backwards: ``now`` is earlier than the engine's current time."""

    def __init__(self, now: float, current: float) -> None:
        self.now = now
        self.current = current
        super().__init__(f"time went backwards: now={now!r} < engine time {current!r}")


class ConfigurationError(AcdError, ValueError):
    """A queue, agent or rule configuration is inconsistent."""
