"""Text-mode runs of a flow: prompts finish at once, inputs are typed where the flow waits.

Each entry of ``inputs`` is typed at the next point where the flow waits for keys (a menu or a
collect; for a collect the whole string is typed); ``""`` or ``"-"`` means "say nothing" (the
timeout happens). When inputs run out the caller stays silent. Actions run through an
:class:`~hotline.ivr.actions.ActionRegistry`; voicemail and callbacks are simulated. The clock
starts at 0 and advances one second per prompt.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hotline.ivr.actions import ActionContext, ActionError, ActionRegistry, default_registry
from hotline.ivr.interpreter import (
    Effect,
    FilePrompt,
    Finish,
    FlowRun,
    Hangup,
    Outcome,
    PathStep,
    Play,
    Record,
    RequestCallback,
    Returned,
    RunAction,
    StopPlay,
    TextPrompt,
    ToQueue,
    ToTransfer,
)
from hotline.ivr.model import Flow

DEFAULT_VARIABLES: dict[str, Any] = {
    "caller": "13800000000",
    "dnis": "95598",
    "call_id": "sim-1",
    "calendar.open": True,
    "calendar.holiday": False,
    "time.hour": 10,
    "time.weekday": 3,
}
"""Built-in variables of a simulated call (override them with ``variables``)."""
MAX_EVENTS = 10_000


@dataclass
class Transcript:
    """What happened: readable ``lines``, the node ``path``, the ``outcome`` and final ``variables``."""

    lines: list[str] = field(default_factory=list)
    path: list[PathStep] = field(default_factory=list)
    outcome: Outcome | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def text(self) -> str:
        out = list(self.lines)
        out.append("VARIABLES")
        for name in sorted(self.variables):
            out.append(f"  {name} = {_json(self.variables[name])}")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.text()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def describe_outcome(outcome: Outcome | None) -> str:
    if isinstance(outcome, ToQueue):
        req = f" requirements {outcome.requirements}" if outcome.requirements else ""
        return f"END queue {outcome.queue} priority {outcome.priority}{req} data {_json(outcome.data)}"
    if isinstance(outcome, ToTransfer):
        return f"END transfer {outcome.target}"
    if isinstance(outcome, Hangup):
        return f"END hangup {outcome.reason}"
    if isinstance(outcome, Returned):
        return f"END return {_json(outcome.values)}"
    return "END (still running)"


class _Sim:
    def __init__(
        self,
        flow: Flow,
        flows: Mapping[str, Flow],
        inputs: list[str],
        variables: Mapping[str, Any],
        registry: ActionRegistry,
    ) -> None:
        self.run = FlowRun(flow, flows=flows, variables={**DEFAULT_VARIABLES, **variables})
        self.inputs = list(inputs)
        self.registry = registry
        self.clock = 0.0
        self.t = Transcript()

    def where(self) -> str:
        node = self.run.current_node or "?"
        if len(self.run.path) and self.run.current_flow != self.run.flow.name:
            return f"[{self.run.current_flow}/{node}]"
        return f"[{node}]"

    async def go(self) -> Transcript:
        queue: list[Effect] = list(self.run.start(self.clock))
        for _ in range(MAX_EVENTS):
            if self.run.finished:
                break
            if queue:
                queue.extend(await self.effect(queue.pop(0)))
                continue
            waiting = self.run.waiting_for
            if waiting == "input":
                queue.extend(self.type_input())
                continue
            deadline = self.run.next_deadline()
            if deadline is None:
                self.t.lines.append(f"{self.where()} STUCK (nothing to wait for)")
                break
            self.clock = max(self.clock, deadline)
            queue.extend(self.run.tick(self.clock))
        else:
            self.t.lines.append(f"{self.where()} STOPPED after {MAX_EVENTS} events")
        for e in queue:
            if isinstance(e, Finish):
                self.t.lines.append(describe_outcome(e.outcome))
        self.t.path = list(self.run.path)
        self.t.outcome = self.run.outcome
        self.t.variables = dict(self.run.variables)
        self.t.errors = list(self.run.errors)
        return self.t

    def type_input(self) -> list[Effect]:
        where = self.where()
        before = len(self.run.path)
        text = self.inputs.pop(0) if self.inputs else ""
        if text in ("", "-"):
            self.t.lines.append(f"{where} INPUT (none)")
            deadline = self.run.next_deadline()
            if deadline is None:  # pragma: no cover - input waits always have a timer
                return []
            self.clock = max(self.clock, deadline)
            return self.run.tick(self.clock)
        self.t.lines.append(f"{where} INPUT {text}")
        effects: list[Effect] = []
        for ch in text:
            self.clock += 0.2
            effects.extend(self.run.digit(ch, self.clock))
        if not effects and self.run.waiting_for == "input" and len(self.run.path) == before:
            # a collect without terminator: the inter-digit timeout ends the input
            deadline = self.run.next_deadline()
            if deadline is not None:
                self.clock = max(self.clock, deadline)
                effects.extend(self.run.tick(self.clock))
        return effects

    async def effect(self, e: Effect) -> list[Effect]:
        where = self.where()
        if isinstance(e, Play):
            for p in e.prompts:
                if isinstance(p, TextPrompt):
                    self.t.lines.append(f"{where} PLAY(tts {p.language}): {p.text}")
                elif isinstance(p, FilePrompt):
                    self.t.lines.append(f"{where} PLAY(file): {p.path}")
            self.clock += 1.0
            return self.run.playback_done(e.play_id, self.clock)
        if isinstance(e, StopPlay):
            return []
        if isinstance(e, RunAction):
            v = self.run.variables
            ctx = ActionContext(
                call_id=str(v.get("call_id", "sim")),
                tenant_id=None,
                caller=str(v.get("caller", "")),
                dnis=str(v.get("dnis", "")),
                variables=dict(v),
            )
            try:
                result = await self.registry.run(e.name, e.args, ctx, e.timeout)
            except ActionError as exc:
                self.t.lines.append(f"{where} ACTION {e.name} {_json(e.args)} failed: {exc.detail}")
                return self.run.action_failed(e.request_id, exc.detail, self.clock)
            self.t.lines.append(f"{where} ACTION {e.name} {_json(e.args)} -> {_json(result)}")
            return self.run.action_done(e.request_id, result, self.clock)
        if isinstance(e, Record):
            beep = ", beep" if e.beep else ""
            self.t.lines.append(f"{where} RECORD box {e.box} (max {e.max_seconds:g}s{beep})")
            self.clock += 5.0
            return self.run.record_done(e.request_id, f"voicemail/{e.box}/sim.wav", 5.0, self.clock)
        if isinstance(e, RequestCallback):
            self.t.lines.append(f"{where} CALLBACK {e.number} queue {e.queue}")
            return self.run.action_done(e.request_id, {"id": "sim-callback-1"}, self.clock)
        if isinstance(e, Finish):
            self.t.lines.append(describe_outcome(e.outcome))
        return []


async def simulate_async(
    flow: Flow,
    *,
    flows: Mapping[str, Flow] | None = None,
    inputs: list[str],
    variables: Mapping[str, Any] | None = None,
    registry: ActionRegistry | None = None,
) -> Transcript:
    """Run ``flow`` in text mode (see the module docstring)."""
    sim = _Sim(flow, flows or {}, inputs, variables or {}, registry or default_registry())
    return await sim.go()


def simulate(
    flow: Flow,
    *,
    flows: Mapping[str, Flow] | None = None,
    inputs: list[str],
    variables: Mapping[str, Any] | None = None,
    registry: ActionRegistry | None = None,
) -> Transcript:
    """:func:`simulate_async` in a fresh event loop (not callable from inside a running loop)."""
    return asyncio.run(
        simulate_async(flow, flows=flows, inputs=inputs, variables=variables, registry=registry)
    )
