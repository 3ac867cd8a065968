"""Which workflow action starts, ends or restarts which deadline step (pure, data).

The deadline engine (:class:`hotline.tickets.deadlines.TicketClock`) knows steps (dispatch,
acknowledge, arrive, reply, …); the workflow (:mod:`hotline.tickets.workflow`) knows actions.
A :data:`StepMap` joins them: for each action (``accept`` is the creation) the steps it starts,
finishes (``done``), starts anew even when running (``restart``), and whether it cancels every
running step (``cancel_all``: cancel, merge, archive). Holds are not in the map: the workflow's
``hold_started`` / ``hold_ended`` events pause and resume the clock, and an ``assigned`` event
to another unit measures the running steps again on that unit's calendar (``reconfigure``).

:func:`inputs_for` turns one state change into the ordered list of clock inputs:

1. ``resume`` (the change ended a hold: the steps count again from now);
2. ``done`` steps (measured on the calendar they ran on);
3. ``reconfigure`` (the ticket moved to another unit);
4. ``restart`` / ``start`` steps (``start`` leaves an already running step alone);
5. ``cancel`` of every running step;
6. ``hold`` (the change entered a hold state).

Steps without a rule in the tenant's SLA policy are simply not tracked (the clock ignores them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from hotline.errors import Invalid
from hotline.tickets.deadlines import STEPS
from hotline.tickets.workflow import ACTIONS

Op = Literal["resume", "done", "reconfigure", "restart", "start", "cancel", "hold"]
#: ``accept`` (creation) plus the workflow's actions
MAP_ACTIONS = ("accept", *ACTIONS)


class StepRules(BaseModel):
    """What one action does to the deadline steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: tuple[str, ...] = ()
    done: tuple[str, ...] = ()
    restart: tuple[str, ...] = ()
    cancel_all: bool = False


StepMap = Mapping[str, StepRules]

DEFAULT_STEP_MAP: dict[str, StepRules] = {
    "accept": StepRules(start=("dispatch", "reply", "contact")),
    "dispatch": StepRules(done=("dispatch",), start=("acknowledge", "arrive")),
    "forward": StepRules(restart=("acknowledge",)),
    "acknowledge": StepRules(done=("acknowledge", "contact")),
    "start": StepRules(done=("arrive",)),
    "reply": StepRules(done=("reply", "restore", "contact", "arrive"), start=("review",)),
    "review": StepRules(done=("review",), start=("revisit",)),
    "return": StepRules(done=("review",), start=("reply",)),
    "revisit": StepRules(done=("revisit",)),
    "reopen": StepRules(start=("reply",)),
    "cancel": StepRules(cancel_all=True),
    "merge": StepRules(cancel_all=True),
    "archive": StepRules(cancel_all=True),
}


@dataclass(frozen=True, slots=True)
class ClockInput:
    """One input for the ticket's clock; ``step`` for start / restart / done."""

    op: Op
    step: str | None = None


def check_step_map(doc: Mapping[str, Any]) -> tuple[dict[str, StepRules] | None, list[tuple[str, str]]]:
    """Validate a step map document ``{action: {start: [...], done: [...], restart: [...],
    cancel_all: bool}}``; returns the map or every problem as (path, reason)."""
    problems: list[tuple[str, str]] = []
    out: dict[str, StepRules] = {}
    if not isinstance(doc, Mapping):
        return None, [("", "a step map is a mapping of action to rules")]
    for action, body in doc.items():
        if action not in MAP_ACTIONS:
            problems.append((str(action), f"unknown action; use one of {', '.join(MAP_ACTIONS)}"))
            continue
        try:
            rules = StepRules.model_validate(body)
        except ValidationError as exc:
            for e in exc.errors():
                loc = ".".join(str(p) for p in (action, *e["loc"]))
                problems.append((loc, "unknown field" if e["type"] == "extra_forbidden" else str(e["msg"])))
            continue
        for key in ("start", "done", "restart"):
            for i, step in enumerate(getattr(rules, key)):
                if step not in STEPS:
                    problems.append(
                        (f"{action}.{key}[{i}]", f"unknown step {step!r}; use one of {', '.join(STEPS)}")
                    )
        out[action] = rules
    return (None if problems else out), problems


def parse_step_map(doc: Mapping[str, Any]) -> dict[str, StepRules]:
    """The validated map, or :class:`Invalid` naming the first bad path."""
    m, problems = check_step_map(doc)
    if m is None:
        raise Invalid(
            "invalid step map: " + "; ".join(f"{p}: {r}" for p, r in problems), field=problems[0][0] or None
        )
    return m


def inputs_for(
    action: str,
    events: Iterable[Any] = (),
    *,
    unit_changed: bool = False,
    step_map: StepMap = DEFAULT_STEP_MAP,
) -> list[ClockInput]:
    """The clock inputs of one state change: ``action`` (``accept`` for the creation) and the
    workflow's events (objects with a ``kind``, or their kind strings: ``hold_started``,
    ``hold_ended``, ``assigned``); ``unit_changed`` when the responsible unit is another one now."""
    kinds = {e if isinstance(e, str) else getattr(e, "kind", "") for e in events}
    rules = step_map.get(action, StepRules())
    out: list[ClockInput] = []
    if "hold_ended" in kinds:
        out.append(ClockInput("resume"))
    out.extend(ClockInput("done", s) for s in rules.done)
    if unit_changed:
        out.append(ClockInput("reconfigure"))
    out.extend(ClockInput("restart", s) for s in rules.restart)
    out.extend(ClockInput("start", s) for s in rules.start)
    if rules.cancel_all:
        out.append(ClockInput("cancel"))
    if "hold_started" in kinds:
        out.append(ClockInput("hold"))
    return out
