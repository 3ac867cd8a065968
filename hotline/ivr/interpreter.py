"""The sans-IO IVR interpreter: one :class:`FlowRun` per call.

The shell feeds events with the current time (``start``, ``digit``, ``playback_done``,
``action_done`` / ``action_failed``, ``record_done``, ``tick``, ``hangup``) and carries out the
returned effects (:class:`Play`, :class:`StopPlay`, :class:`RunAction`, :class:`Record`,
:class:`RequestCallback`, :class:`Finish`). Timers are the run's own: the shell calls
``tick(now)`` at ``next_deadline()``. No I/O, no clock, no randomness.

Semantics worth knowing:

* Keys pressed during a barge-in prompt stop it (``StopPlay``) and count as input; keys
  pressed during a prompt that is not barge-in are discarded, except at a ``collect`` node
  where they are kept and read when the prompt ends. A key that interrupts a ``play`` node is
  kept as type-ahead for the next menu or collect (whose prompt is then skipped, if it may be
  interrupted).
* A menu's timer starts when its prompt ends; a timeout or invalid key plays the node's own
  ``timeout_prompt`` / ``invalid_prompt`` and then the menu prompt again; ``max_retries`` is
  the number of such repeats, after which the run goes to ``on_max_retries``.
* Collect: the terminator ends input (and is not part of it), so does reaching
  ``max_length``; the inter-digit timeout ends input when at least ``min_length`` keys were
  pressed, otherwise it is a failed attempt, like input that is too short or does not match
  ``pattern`` (``re.fullmatch``). After ``max_retries`` repeats: ``on_failure``.
* Runtime errors (failed or timed-out actions, a missing subflow, a loop of ``max_steps``
  transitions without caller input, bad data) go to the node's ``on_error``, else the flow's
  ``error`` node (an error inside a subflow without one goes to the calling subflow node's
  ``on_error`` or its flow's ``error``), else the run ends in
  ``ToQueue(fallback_queue, 0, None, {..., "ivr_error": message})`` — never silence. An
  ``optional`` action that fails without ``on_error`` just continues at ``next``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hotline.ivr.conditions import Condition, ConditionSyntaxError, parse_condition
from hotline.ivr.model import (
    DTMF_DIGITS,
    ActionNode,
    AnyNode,
    CallbackNode,
    CollectNode,
    ConditionNode,
    Flow,
    HangupNode,
    MenuNode,
    PlayNode,
    PromptPart,
    QueueNode,
    ReturnNode,
    SetNode,
    SubflowNode,
    SwitchNode,
    TransferNode,
    VoicemailNode,
)
from hotline.ivr.template import substitute, substitute_value

BUILTIN_VARIABLES = frozenset(
    {
        "caller",
        "dnis",
        "call_id",
        "language",
        "calendar.open",
        "calendar.holiday",
        "time.hour",
        "time.weekday",
    }
)
"""Variables the shell always passes in at the start of a run (not copied into queue data)."""
MAX_SUBFLOW_DEPTH = 8
MAX_ERRORS = 20
"""After this many runtime errors in one run, go straight to the fallback queue."""
CALLBACK_TIMEOUT = 10.0
"""Seconds the shell has to confirm a :class:`RequestCallback`."""
RECORD_GRACE = 30.0
"""Seconds beyond ``max_seconds`` after which a recording that was never reported is given up."""


# -- prompts, effects, outcomes ---------------------------------------------------------------


@dataclass(frozen=True)
class TextPrompt:
    text: str
    language: str


@dataclass(frozen=True)
class FilePrompt:
    path: str


Prompt = TextPrompt | FilePrompt


@dataclass(frozen=True)
class ToQueue:
    queue: str
    priority: int
    requirements: str | None
    data: dict[str, Any]


@dataclass(frozen=True)
class ToTransfer:
    target: str


@dataclass(frozen=True)
class Hangup:
    reason: str  # "flow" (a hangup node) or "caller" (the caller left)


@dataclass(frozen=True)
class Returned:
    values: dict[str, Any]


Outcome = ToQueue | ToTransfer | Hangup | Returned


@dataclass(frozen=True)
class Play:
    """Play the prompts in order, then call ``playback_done(play_id, now)``."""

    play_id: int
    prompts: tuple[Prompt, ...]
    barge_in: bool


@dataclass(frozen=True)
class StopPlay:
    """The caller barged in: stop that playback (no ``playback_done`` for it is needed)."""

    play_id: int


@dataclass(frozen=True)
class RunAction:
    """Run a plugin, then call ``action_done`` or ``action_failed`` (late answers are ignored)."""

    request_id: int
    name: str
    args: dict[str, Any]
    timeout: float


@dataclass(frozen=True)
class Record:
    """Record a voicemail, then call ``record_done(request_id, path, seconds, now)``."""

    request_id: int
    max_seconds: float
    beep: bool
    box: str


@dataclass(frozen=True)
class RequestCallback:
    """Store a callback request, then call ``action_done(request_id, {...}, now)``."""

    request_id: int
    number: str
    queue: str


@dataclass(frozen=True)
class Finish:
    """The run is over; nothing more will come."""

    outcome: Outcome


Effect = Play | StopPlay | RunAction | Record | RequestCallback | Finish


@dataclass
class PathStep:
    """One node visit: where, when, keys pressed there and how it ended."""

    node: str
    flow: str
    at: float
    digits: str | None = None
    result: str | None = None


@dataclass
class _Frame:
    flow: Flow
    variables: dict[str, Any]
    node: str | None = None


@dataclass
class _Wait:
    """What the run waits for at the current node."""

    mode: str = "idle"  # idle, play, menu, collect, action, voicemail-prompt, record,
    # callback-prompt, callback, hangup
    play_id: int | None = None
    barge_in: bool = False
    deadline: float | None = None
    request_id: int | None = None
    failures: int = 0
    buffer: str = ""
    pending: str = ""  # keys pressed during a collect prompt that cannot be interrupted


class FlowRun:
    """One run of a flow for one call."""

    def __init__(
        self,
        flow: Flow,
        *,
        flows: Mapping[str, Flow] | None = None,
        variables: Mapping[str, Any] | None = None,
        max_steps: int = 200,
    ) -> None:
        self.flow = flow
        self.flows: Mapping[str, Flow] = flows or {}
        self.max_steps = max_steps
        initial: dict[str, Any] = {**flow.variables, **(variables or {})}
        initial.setdefault("language", flow.language)
        self._frames: list[_Frame] = [_Frame(flow, initial)]
        self.path: list[PathStep] = []
        self.errors: list[str] = []
        self.finished = False
        self.outcome: Outcome | None = None
        self._started = False
        self._ids = 0
        self._steps = 0
        self._wait = _Wait()
        self._typeahead = ""
        self._swallow = ""
        self._conditions: dict[str, Condition] = {}
        self._patterns: dict[str, re.Pattern[str]] = {}

    # -- public state ---------------------------------------------------------------------

    @property
    def variables(self) -> dict[str, Any]:
        """Every variable of the current flow frame (initial values, built-ins, set values)."""
        return self._frames[-1].variables

    @property
    def current_node(self) -> str | None:
        return self._frames[-1].node

    @property
    def current_flow(self) -> str:
        return self._frames[-1].flow.name

    @property
    def waiting_for(self) -> str | None:
        """``"input"`` (keys), ``"playback"``, ``"action"``, ``"record"``, ``"callback"`` or None."""
        if self.finished or not self._started:
            return None
        w = self._wait
        if w.play_id is not None:
            return "playback"
        if w.mode in ("menu", "collect"):
            return "input"
        if w.mode in ("action", "record", "callback"):
            return w.mode
        return None

    def next_deadline(self) -> float | None:
        return None if self.finished else self._wait.deadline

    # -- events ---------------------------------------------------------------------------

    def start(self, now: float) -> list[Effect]:
        if self._started or self.finished:
            return []
        self._started = True
        return self._go(self.flow.start, now, [])

    def digit(self, d: str, now: float) -> list[Effect]:
        if self.finished or not self._started or len(d) != 1 or d not in DTMF_DIGITS:
            return []
        swallow, self._swallow = self._swallow, ""
        if d == swallow:  # the terminator pressed after a collect already had max_length keys
            return []
        w = self._wait
        node = self._node()
        effects: list[Effect] = []
        target: str | None = None
        if w.play_id is not None:
            if isinstance(node, CollectNode):
                if w.barge_in:
                    effects.append(StopPlay(w.play_id))
                    w.play_id = None
                    w.deadline = now + node.inter_digit_timeout
                    target = self._collect_feed(node, d, now, effects)
                else:
                    w.pending += d
            elif w.barge_in:
                effects.append(StopPlay(w.play_id))
                w.play_id = None
                if isinstance(node, MenuNode):
                    target = self._menu_choice(node, d, now, effects)
                else:
                    self._typeahead += d
                    target = self._prompt_finished(node, now, effects)
            else:
                return []
        elif isinstance(node, MenuNode) and w.mode == "menu":
            target = self._menu_choice(node, d, now, effects)
        elif isinstance(node, CollectNode) and w.mode == "collect":
            target = self._collect_feed(node, d, now, effects)
        elif w.mode in ("action", "callback"):
            self._typeahead += d
            return []
        else:
            return []
        return self._go(target, now, effects)

    def playback_done(self, play_id: int, now: float) -> list[Effect]:
        if self.finished or self._wait.play_id is None or play_id != self._wait.play_id:
            return []
        self._wait.play_id = None
        effects: list[Effect] = []
        target = self._prompt_finished(self._node(), now, effects)
        return self._go(target, now, effects)

    def action_done(self, request_id: int, values: Mapping[str, Any], now: float) -> list[Effect]:
        w = self._wait
        if self.finished or w.mode not in ("action", "callback") or request_id != w.request_id:
            return []
        node = self._node()
        effects: list[Effect] = []
        w.request_id = None
        w.deadline = None
        if isinstance(node, ActionNode) and w.mode == "action":
            result = dict(values) if isinstance(values, Mapping) else {}
            if node.assign:
                for var, key in node.assign.items():
                    self.variables[var] = result.get(key)
            else:
                self.variables.update({str(k): v for k, v in result.items()})
            self._step_result("ok")
            return self._go(node.next, now, effects)
        if isinstance(node, CallbackNode) and w.mode == "callback":
            if isinstance(values, Mapping):
                self.variables.update({f"callback.{k}": v for k, v in values.items()})
            self._step_result("callback requested")
            return self._go(node.next, now, effects)
        return []

    def action_failed(self, request_id: int, error: str, now: float) -> list[Effect]:
        w = self._wait
        if self.finished or w.mode not in ("action", "callback") or request_id != w.request_id:
            return []
        w.request_id = None
        w.deadline = None
        effects: list[Effect] = []
        return self._go(self._request_failed(str(error), now, effects), now, effects)

    def record_done(self, request_id: int, path: str | None, seconds: float, now: float) -> list[Effect]:
        w = self._wait
        node = self._node()
        if self.finished or w.mode != "record" or request_id != w.request_id:
            return []
        if not isinstance(node, VoicemailNode):  # pragma: no cover - record mode implies a voicemail node
            return []
        w.request_id = None
        w.deadline = None
        self.variables["voicemail.path"] = path
        self.variables["voicemail.seconds"] = seconds
        self._step_result("recorded" if path else "no recording")
        return self._go(node.next, now, [])

    def tick(self, now: float) -> list[Effect]:
        w = self._wait
        if self.finished or w.deadline is None or now < w.deadline:
            return []
        w.deadline = None
        node = self._node()
        effects: list[Effect] = []
        target: str | None = None
        if isinstance(node, MenuNode) and w.mode == "menu":
            target = self._menu_fail(node, "timeout", now, effects)
        elif isinstance(node, CollectNode) and w.mode == "collect":
            target = self._collect_end(node, now, effects, timed_out=True)
        elif w.mode in ("action", "callback"):
            w.request_id = None
            what = "action" if w.mode == "action" else "callback request"
            timeout = node.timeout if isinstance(node, ActionNode) else CALLBACK_TIMEOUT
            target = self._request_failed(f"{what} timed out after {timeout:g}s", now, effects)
        elif isinstance(node, VoicemailNode) and w.mode == "record":
            w.request_id = None
            self.errors.append("the recording was never reported")
            self.variables["voicemail.path"] = None
            self.variables["voicemail.seconds"] = 0.0
            self._step_result("no recording (not reported)")
            target = node.next
        return self._go(target, now, effects)

    def hangup(self, now: float) -> None:
        """The caller left: the run ends here; the last path step records the abandon point."""
        if self.finished:
            return
        self.finished = True
        self.outcome = Hangup("caller")
        if self.path:
            self.path[-1].result = "abandon"
        self._wait = _Wait()

    # -- internals ------------------------------------------------------------------------

    def _node(self) -> AnyNode | None:
        frame = self._frames[-1]
        return frame.flow.nodes.get(frame.node) if frame.node is not None else None

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _step_result(self, result: str) -> None:
        if self.path:
            self.path[-1].result = result

    def _add_digits(self, d: str) -> None:
        if self.path:
            step = self.path[-1]
            step.digits = (step.digits or "") + d

    def _go(self, target: str | None, now: float, effects: list[Effect]) -> list[Effect]:
        """Visit nodes from ``target`` until the run waits for something or ends."""
        while target is not None and not self.finished:
            self._steps += 1
            if self._steps > self.max_steps:
                target = self._runtime_error(
                    f"loop: {self.max_steps} steps without caller input", None, now, effects
                )
                continue
            frame = self._frames[-1]
            node = frame.flow.nodes.get(target)
            if node is None:
                target = self._runtime_error(
                    f"unknown node '{target}' in flow '{frame.flow.name}'", None, now, effects
                )
                continue
            frame.node = target
            self.path.append(PathStep(target, frame.flow.name, now))
            self._wait = _Wait()
            try:
                target = self._visit(node, now, effects)
            except _DataError as exc:
                target = self._runtime_error(str(exc), getattr(node, "on_error", None), now, effects)
        return effects

    def _visit(self, node: AnyNode, now: float, effects: list[Effect]) -> str | None:
        v = self.variables
        if isinstance(node, PlayNode):
            return node.next if not self._play(node.prompt, node.barge_in, "play", effects) else None
        if isinstance(node, MenuNode):
            self._steps = 0
            return self._menu_offer(node, None, now, effects)
        if isinstance(node, CollectNode):
            self._steps = 0
            return self._collect_offer(node, None, now, effects)
        if isinstance(node, SetNode):
            for name, value in node.values.items():
                v[name] = substitute_value(value, v)
            return node.next
        if isinstance(node, ConditionNode):
            ok = self._condition(node.when).evaluate(v)
            self._step_result("then" if ok else "else")
            return node.then if ok else node.else_
        if isinstance(node, SwitchNode):
            key = substitute(node.value, v)
            if key in node.cases:
                self._step_result(f"case {key}")
                return node.cases[key]
            self._step_result("default")
            return node.default
        if isinstance(node, ActionNode):
            rid = self._next_id()
            args = substitute_value(dict(node.args), v)
            effects.append(RunAction(rid, node.action, args, node.timeout))
            self._wait = _Wait(mode="action", request_id=rid, deadline=now + node.timeout)
            return None
        if isinstance(node, SubflowNode):
            callee = self.flows.get(node.flow)
            if callee is None:
                return self._runtime_error(f"unknown subflow '{node.flow}'", node.on_error, now, effects)
            if len(self._frames) > MAX_SUBFLOW_DEPTH:
                return self._runtime_error(
                    f"subflows nested more than {MAX_SUBFLOW_DEPTH} deep", node.on_error, now, effects
                )
            self._frames.append(_Frame(callee, {**v, **callee.variables}))
            self._step_result(f"enter {callee.name}")
            return callee.start
        if isinstance(node, ReturnNode):
            values = substitute_value(dict(node.values), v)
            if len(self._frames) == 1:
                self._finish(Returned(values), effects)
                return None
            self._frames.pop()
            parent = self._frames[-1]
            parent.variables.update(values)
            sub = parent.flow.nodes.get(parent.node) if parent.node is not None else None
            if not isinstance(sub, SubflowNode):  # pragma: no cover - frames are pushed by subflow nodes
                return self._runtime_error("return without a calling subflow node", None, now, effects)
            return sub.next
        if isinstance(node, QueueNode):
            data = {k: val for k, val in v.items() if k not in BUILTIN_VARIABLES}
            data.update(substitute_value(dict(node.data), v))
            requirements = substitute(node.requirements, v) if node.requirements else None
            outcome = ToQueue(substitute(node.queue, v), node.priority, requirements or None, data)
            self._finish(outcome, effects)
            return None
        if isinstance(node, TransferNode):
            self._finish(ToTransfer(substitute(node.target, v)), effects)
            return None
        if isinstance(node, VoicemailNode):
            if node.prompt and self._play(node.prompt, node.barge_in, "voicemail-prompt", effects):
                return None
            return self._prompt_finished(node, now, effects)
        if isinstance(node, CallbackNode):
            if node.prompt and self._play(node.prompt, node.barge_in, "callback-prompt", effects):
                return None
            return self._prompt_finished(node, now, effects)
        if isinstance(node, HangupNode):
            if node.prompt and self._play(node.prompt, node.barge_in, "hangup", effects):
                return None
            return self._prompt_finished(node, now, effects)
        raise _DataError(f"unsupported node type {type(node).__name__}")  # pragma: no cover

    def _prompts(self, parts: list[PromptPart] | None) -> list[Prompt]:
        out: list[Prompt] = []
        language = self._frames[-1].flow.language
        for part in parts or []:
            if part.file is not None:
                out.append(FilePrompt(substitute(part.file, self.variables)))
            elif part.text is not None:
                out.append(TextPrompt(substitute(part.text, self.variables), part.language or language))
        return out

    def _play(self, parts: list[PromptPart] | None, barge_in: bool, mode: str, effects: list[Effect]) -> bool:
        """Start a prompt (True) or skip it (False: nothing to play, or type-ahead skips it)."""
        if barge_in and self._typeahead:
            self._step_result("skipped (type-ahead)")
            return False
        if not barge_in:
            self._typeahead = ""
        prompts = self._prompts(parts)
        if not prompts:
            return False
        pid = self._next_id()
        effects.append(Play(pid, tuple(prompts), barge_in))
        w = self._wait
        w.mode, w.play_id, w.barge_in, w.deadline = mode, pid, barge_in, None
        return True

    def _prompt_finished(self, node: AnyNode | None, now: float, effects: list[Effect]) -> str | None:
        """What a node does once its prompt has ended (or was interrupted, or skipped)."""
        w = self._wait
        if isinstance(node, PlayNode):
            return node.next
        if isinstance(node, MenuNode):
            w.mode, w.deadline = "menu", now + node.timeout
            return None
        if isinstance(node, CollectNode):
            w.mode = "collect"
            pending, w.pending = w.pending, ""
            if pending or w.buffer:
                w.deadline = now + node.inter_digit_timeout
                return self._collect_feed(node, pending, now, effects) if pending else None
            w.deadline = now + node.first_digit_timeout
            return None
        if isinstance(node, VoicemailNode):
            rid = self._next_id()
            effects.append(Record(rid, node.max_seconds, node.beep, node.box))
            w.mode, w.request_id, w.deadline = "record", rid, now + node.max_seconds + RECORD_GRACE
            return None
        if isinstance(node, CallbackNode):
            rid = self._next_id()
            number = substitute(node.number, self.variables)
            effects.append(RequestCallback(rid, number, substitute(node.queue, self.variables)))
            w.mode, w.request_id, w.deadline = "callback", rid, now + CALLBACK_TIMEOUT
            return None
        if isinstance(node, HangupNode):
            self._finish(Hangup("flow"), effects)
            return None
        return None  # pragma: no cover - only prompt-playing nodes get here

    # menus

    def _menu_offer(
        self, node: MenuNode, extra: list[PromptPart] | None, now: float, effects: list[Effect]
    ) -> str | None:
        w = self._wait
        w.mode = "menu"
        if node.barge_in and self._typeahead:
            d, self._typeahead = self._typeahead[0], self._typeahead[1:]
            return self._menu_choice(node, d, now, effects)
        if self._play([*(extra or []), *(node.prompt or [])], node.barge_in, "menu", effects):
            return None
        w.deadline = now + node.timeout
        return None

    def _menu_choice(self, node: MenuNode, d: str, now: float, effects: list[Effect]) -> str | None:
        self._add_digits(d)
        target = node.options.get(d)
        if target is None:
            return self._menu_fail(node, "invalid", now, effects)
        if node.variable:
            self.variables[node.variable] = d
        self._step_result(f"option {d}")
        self._wait = _Wait()
        return target

    def _menu_fail(self, node: MenuNode, why: str, now: float, effects: list[Effect]) -> str | None:
        w = self._wait
        w.failures += 1
        w.deadline = None
        if w.failures > node.max_retries:
            self._step_result(f"max retries ({why})")
            self._wait = _Wait()
            return node.on_max_retries
        self._step_result(why)
        return self._menu_offer(
            node, node.invalid_prompt if why == "invalid" else node.timeout_prompt, now, effects
        )

    # collect

    def _collect_offer(
        self, node: CollectNode, extra: list[PromptPart] | None, now: float, effects: list[Effect]
    ) -> str | None:
        w = self._wait
        w.mode, w.buffer, w.pending = "collect", "", ""
        if node.barge_in and self._typeahead:
            ahead, self._typeahead = self._typeahead, ""
            w.deadline = now + node.inter_digit_timeout
            return self._collect_feed(node, ahead, now, effects)
        if self._play([*(extra or []), *(node.prompt or [])], node.barge_in, "collect", effects):
            return None
        w.deadline = now + node.first_digit_timeout
        return None

    def _collect_feed(self, node: CollectNode, keys: str, now: float, effects: list[Effect]) -> str | None:
        w = self._wait
        for i, ch in enumerate(keys):
            self._add_digits(ch)
            if node.terminator and ch == node.terminator:
                ended = True
            else:
                w.buffer += ch
                ended = len(w.buffer) >= node.max_length
            if ended:
                rest = keys[i + 1 :]
                if ch != node.terminator and node.terminator:
                    if rest.startswith(node.terminator):
                        rest = rest[1:]
                    elif not rest:
                        self._swallow = node.terminator
                self._typeahead = rest + self._typeahead
                return self._collect_end(node, now, effects, timed_out=False)
        w.deadline = now + node.inter_digit_timeout
        return None

    def _collect_end(
        self, node: CollectNode, now: float, effects: list[Effect], *, timed_out: bool
    ) -> str | None:
        value = self._wait.buffer
        if len(value) < node.min_length:
            return self._collect_fail(node, "timeout" if timed_out else "invalid", now, effects)
        if node.pattern is not None:
            try:
                rx = self._pattern(node.pattern)
            except _DataError as exc:
                return self._runtime_error(str(exc), None, now, effects)
            if rx.fullmatch(value) is None:
                return self._collect_fail(node, "invalid", now, effects)
        self.variables[node.variable] = value
        self._step_result("collected")
        self._wait = _Wait()
        return node.next

    def _collect_fail(self, node: CollectNode, why: str, now: float, effects: list[Effect]) -> str | None:
        w = self._wait
        w.failures += 1
        w.deadline = None
        if w.failures > node.max_retries:
            self._step_result(f"max retries ({why})")
            self._wait = _Wait()
            return node.on_failure
        self._step_result(why)
        extra = node.invalid_prompt if why == "invalid" else node.timeout_prompt
        return self._collect_offer(node, extra, now, effects)

    # errors and the end

    def _request_failed(self, error: str, now: float, effects: list[Effect]) -> str | None:
        node = self._node()
        self._wait = _Wait()
        if isinstance(node, ActionNode):
            message = f"action '{node.action}' failed: {error}"
            if node.optional and not node.on_error:
                self.errors.append(message)
                self._step_result(f"skipped (optional): {error}")
                return node.next
            return self._runtime_error(message, node.on_error, now, effects)
        return self._runtime_error(f"callback request failed: {error}", None, now, effects)

    def _runtime_error(
        self, message: str, on_error: str | None, now: float, effects: list[Effect]
    ) -> str | None:
        """Record a runtime error and say where the run goes on (None: it has finished)."""
        self.errors.append(message)
        self._step_result(f"error: {message}")
        self._wait = _Wait()
        self._steps = 0
        if len(self.errors) > MAX_ERRORS:
            self._finish_fallback(message, effects)
            return None
        if on_error is not None and on_error in self._frames[-1].flow.nodes:
            return on_error
        while True:
            frame = self._frames[-1]
            err = frame.flow.error
            if err is not None and err in frame.flow.nodes and frame.node != err:
                return err
            if len(self._frames) == 1:
                self._finish_fallback(message, effects)
                return None
            self._frames.pop()
            parent = self._frames[-1]
            sub = parent.flow.nodes.get(parent.node) if parent.node is not None else None
            if (
                isinstance(sub, SubflowNode)
                and sub.on_error is not None
                and sub.on_error in parent.flow.nodes
            ):
                return sub.on_error

    def _finish_fallback(self, message: str, effects: list[Effect]) -> None:
        data = {k: val for k, val in self.variables.items() if k not in BUILTIN_VARIABLES}
        data["ivr_error"] = message
        self._finish(ToQueue(self._frames[0].flow.fallback_queue or "general", 0, None, data), effects)

    def _finish(self, outcome: Outcome, effects: list[Effect]) -> None:
        self.finished = True
        self.outcome = outcome
        self._wait = _Wait()
        effects.append(Finish(outcome))

    def _condition(self, text: str) -> Condition:
        cond = self._conditions.get(text)
        if cond is None:
            try:
                cond = parse_condition(text)
            except ConditionSyntaxError as exc:
                raise _DataError(f"bad condition {text!r}: {exc.detail}") from None
            self._conditions[text] = cond
        return cond

    def _pattern(self, pattern: str) -> re.Pattern[str]:
        rx = self._patterns.get(pattern)
        if rx is None:
            try:
                rx = re.compile(pattern)
            except re.error as exc:
                raise _DataError(f"bad pattern {pattern!r}: {exc}") from None
            self._patterns[pattern] = rx
        return rx


class _DataError(Exception):
    """Bad data found at run time (a flow that was not validated)."""
