"""Graph and content checks of a flow, beyond what the model's types say.

Errors: dangling targets, unreachable nodes, missing prompts (and missing prompt files when
``prompt_exists`` is given), loops that never wait for the caller or never reach an end, bad
menu keys, collect lengths, terminators and patterns, condition syntax (with the column),
unknown placeholder formats, unknown subflows / actions / queues (when the known names are
given), invalid queue requirements. Warnings: variables used but never set, unknown
optional actions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any

from hotline.acd.errors import RequirementSyntaxError
from hotline.acd.requirements import parse_requirement
from hotline.ivr.conditions import ConditionSyntaxError, parse_condition
from hotline.ivr.interpreter import BUILTIN_VARIABLES
from hotline.ivr.loader import FlowError, FlowIssue, Locator, PathKey, parse_flow
from hotline.ivr.model import (
    DTMF_KEYS,
    INPUT_NODES,
    TERMINAL_NODES,
    ActionNode,
    AnyNode,
    CallbackNode,
    CollectNode,
    ConditionNode,
    Flow,
    MenuNode,
    PromptPart,
    QueueNode,
    ReturnNode,
    SetNode,
    SubflowNode,
)
from hotline.ivr.template import FORMATS, placeholders

RUNTIME_PREFIXES = ("voicemail.", "callback.")
"""Variables the interpreter sets itself (``voicemail.path``, ``callback.<key>``)."""


class _Checker:
    def __init__(
        self,
        flow: Flow,
        loc: Locator,
        source: str,
        *,
        known_flows: Collection[str] | None,
        known_actions: Collection[str] | None,
        known_queues: Collection[str] | None,
        prompt_exists: Callable[[str], bool] | None,
        flows: Mapping[str, Flow] | None,
    ) -> None:
        self.flow = flow
        self.loc = loc
        self.source = source
        self.known_flows = known_flows
        self.known_actions = known_actions
        self.known_queues = known_queues
        self.prompt_exists = prompt_exists
        self.flows = flows or {}
        self.issues: list[FlowIssue] = []

    def add(
        self,
        path: Sequence[PathKey],
        message: str,
        *,
        severity: str = "error",
        at_key: bool = False,
        column_offset: int | None = None,
    ) -> None:
        node = str(path[1]) if len(path) >= 2 and path[0] == "nodes" else None
        if column_offset is not None:
            line, col, quote = self.loc.scalar_offset(path)
            if col is not None:
                col += quote + column_offset
        else:
            line, col = self.loc.position(path, at_key=at_key)
        self.issues.append(FlowIssue(line, col, node, message, severity, self.source))

    # -- checks -------------------------------------------------------------------------------

    def run(self) -> list[FlowIssue]:
        self.targets()
        self.reachability()
        self.loops()
        for node_id, node in self.flow.nodes.items():
            self.node(node_id, node)
        self.variables()
        if self.known_queues is not None:
            self.queue_name(("fallback_queue",), self.flow.fallback_queue)
        return sorted(self.issues, key=lambda i: (i.line or 0, i.column or 0))

    def targets(self) -> None:
        nodes = self.flow.nodes
        if self.flow.start not in nodes:
            self.add(("start",), f"start points to unknown node '{self.flow.start}'")
        if self.flow.error is not None and self.flow.error not in nodes:
            self.add(("error",), f"error points to unknown node '{self.flow.error}'")
        for node_id, node in nodes.items():
            for sub, target in node.edges():
                if target not in nodes:
                    where = ".".join(sub)
                    self.add(("nodes", node_id, *sub), f"{where} points to unknown node '{target}'")

    def _edges(self) -> dict[str, list[str]]:
        return {nid: [t for t in self.flow.targets(nid) if t in self.flow.nodes] for nid in self.flow.nodes}

    def reachability(self) -> None:
        edges = self._edges()
        roots = [r for r in (self.flow.start, self.flow.error) if r is not None and r in self.flow.nodes]
        seen = set(roots)
        stack = list(roots)
        while stack:
            for t in edges[stack.pop()]:
                if t not in seen:
                    seen.add(t)
                    stack.append(t)
        for node_id in self.flow.nodes:
            if node_id not in seen:
                self.add(("nodes", node_id), "unreachable from the start node", at_key=True)

    def loops(self) -> None:
        edges = self._edges()
        nodes = self.flow.nodes
        # nodes from which an end (queue, transfer, hangup, return) can be reached
        reverse: dict[str, list[str]] = {n: [] for n in nodes}
        for n, ts in edges.items():
            for t in ts:
                reverse[t].append(n)
        can_end = {n for n, node in nodes.items() if isinstance(node, TERMINAL_NODES)}
        stack = list(can_end)
        while stack:
            for p in reverse[stack.pop()]:
                if p not in can_end:
                    can_end.add(p)
                    stack.append(p)
        for scc in _strongly_connected(list(nodes), edges):
            first = scc[0]
            cyclic = len(scc) > 1 or first in edges[first]
            if not cyclic:
                continue
            cycle = " → ".join([*scc, first])
            if not any(isinstance(nodes[n], INPUT_NODES) for n in scc):
                self.add(
                    ("nodes", first),
                    f"loop without caller input ({cycle}): it would spin forever",
                    at_key=True,
                )
            elif not any(n in can_end for n in scc):
                self.add(
                    ("nodes", first), f"loop with no way out ({cycle}): no end can be reached", at_key=True
                )

    def node(self, node_id: str, node: AnyNode) -> None:
        base: tuple[PathKey, ...] = ("nodes", node_id)
        for sub, prompt in node.prompts():
            self.prompt((*base, *sub), prompt)
        if isinstance(node, MenuNode | CollectNode) and not node.prompt:
            self.add(base, f"a {node.type} node needs a prompt", at_key=True)
        if isinstance(node, MenuNode):
            if not node.options:
                self.add((*base, "options"), "a menu needs at least one option")
            for key in node.options:
                if len(key) != 1 or key not in DTMF_KEYS:
                    self.add(
                        (*base, "options", key), f"option key {key!r} is not one of 0-9 * #", at_key=True
                    )
        elif isinstance(node, CollectNode):
            if node.min_length > node.max_length:
                self.add(
                    (*base, "min_length"),
                    f"min_length {node.min_length} is greater than max_length {node.max_length}",
                )
            if node.terminator and (len(node.terminator) != 1 or node.terminator not in DTMF_KEYS):
                self.add(
                    (*base, "terminator"), f"terminator {node.terminator!r} is not one of 0-9 * # (or empty)"
                )
            if node.pattern is not None:
                try:
                    re.compile(node.pattern)
                except re.error as exc:
                    self.add((*base, "pattern"), f"pattern is not a valid regular expression: {exc}")
        elif isinstance(node, ConditionNode):
            try:
                parse_condition(node.when)
            except ConditionSyntaxError as exc:
                self.add(
                    (*base, "when"), f"when: {exc.reason} (column {exc.column})", column_offset=exc.column - 1
                )
        elif isinstance(node, SubflowNode):
            if self.known_flows is not None and node.flow not in self.known_flows:
                self.add((*base, "flow"), f"unknown subflow '{node.flow}'")
        elif isinstance(node, ActionNode):
            if self.known_actions is not None and node.action not in self.known_actions:
                if node.optional:
                    then = f"goes to '{node.on_error}'" if node.on_error else f"continues at '{node.next}'"
                    self.add(
                        (*base, "action"),
                        f"unknown action '{node.action}' (optional: without it a call {then})",
                        severity="warning",
                    )
                else:
                    self.add((*base, "action"), f"unknown action '{node.action}'")
        elif isinstance(node, QueueNode):
            self.queue_name((*base, "queue"), node.queue)
            if node.requirements:
                try:
                    parse_requirement(node.requirements)
                except RequirementSyntaxError as exc:
                    self.add((*base, "requirements"), f"requirements: {exc.reason} (position {exc.position})")
        elif isinstance(node, CallbackNode):
            self.queue_name((*base, "queue"), node.queue)

    def queue_name(self, path: Sequence[PathKey], queue: str) -> None:
        if self.known_queues is not None and "{" not in queue and queue not in self.known_queues:
            self.add(path, f"unknown queue '{queue}'")

    def prompt(self, path: tuple[PathKey, ...], prompt: list[PromptPart]) -> None:
        for i, part in enumerate(prompt):
            if part.text is not None and not part.text.strip():
                self.add((*path, i), "empty prompt text")
            exists = self.prompt_exists
            if (
                part.file is not None
                and exists is not None
                and "{" not in part.file
                and not exists(part.file)
            ):
                self.add((*path, i, "file"), f"prompt file not found: {part.file}")

    # -- variables ----------------------------------------------------------------------------

    def set_names(self) -> set[str]:
        names = set(BUILTIN_VARIABLES) | set(self.flow.variables)
        for node in self.flow.nodes.values():
            if isinstance(node, SetNode):
                names |= set(node.values)
            elif isinstance(node, MenuNode | CollectNode) and node.variable:
                names.add(node.variable)
            elif isinstance(node, ActionNode):
                names |= set(node.assign) if node.assign else set(node.args)
            elif isinstance(node, SubflowNode) and node.flow in self.flows:
                for sub in self.flows[node.flow].nodes.values():
                    if isinstance(sub, ReturnNode):
                        names |= set(sub.values)
        return names

    def uses(self) -> Iterator[tuple[tuple[PathKey, ...], str, int | None]]:
        """``(path, variable name, column offset in a condition)`` of every variable use."""
        for node_id, node in self.flow.nodes.items():
            base: tuple[PathKey, ...] = ("nodes", node_id)
            for sub, prompt in node.prompts():
                for i, part in enumerate(prompt):
                    if part.text is not None:
                        yield from self.text_uses((*base, *sub, i), part.text)
                    if part.file is not None:
                        yield from self.text_uses((*base, *sub, i, "file"), part.file)
            for name in ("values", "args", "data", "value", "number", "target", "queue", "requirements"):
                value = getattr(node, name, None)
                if value is not None:
                    yield from self.value_uses((*base, name), value)
            if isinstance(node, ConditionNode):
                try:
                    cond = parse_condition(node.when)
                except ConditionSyntaxError:
                    continue
                for var in sorted(cond.variables):
                    yield (*base, "when"), var, None

    def text_uses(
        self, path: tuple[PathKey, ...], text: str
    ) -> Iterator[tuple[tuple[PathKey, ...], str, int | None]]:
        for name, fmt, _ in placeholders(text):
            if fmt is not None and fmt not in FORMATS:
                self.add(
                    path, f"unknown format '{fmt}' in {{{name}:{fmt}}} (known: {', '.join(sorted(FORMATS))})"
                )
            yield path, name, None

    def value_uses(
        self, path: tuple[PathKey, ...], value: Any
    ) -> Iterator[tuple[tuple[PathKey, ...], str, int | None]]:
        if isinstance(value, str):
            yield from self.text_uses(path, value)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from self.value_uses((*path, i), v)
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from self.value_uses((*path, str(k)), v)

    def variables(self) -> None:
        known = self.set_names()

        def is_known(name: str) -> bool:
            if name in known or name.startswith(RUNTIME_PREFIXES):
                return True
            parts = name.split(".")
            return any(".".join(parts[:i]) in known for i in range(1, len(parts)))

        warned: set[tuple[tuple[PathKey, ...], str]] = set()
        for path, name, _ in list(self.uses()):
            if not is_known(name) and (path, name) not in warned:
                warned.add((path, name))
                self.add(path, f"variable '{name}' is never set in this flow", severity="warning")


def _strongly_connected(nodes: list[str], edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components keep the flow's node order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    order = {n: i for i, n in enumerate(nodes)}
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            succ = edges[v]
            if i < len(succ):
                work.append((v, i + 1))
                w = succ[i]
                if w not in index:
                    work.append((w, 0))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp: list[str] = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp, key=order.__getitem__))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return out


def validate_flow(
    flow_or_text: Flow | str,
    *,
    known_flows: Collection[str] | None = None,
    known_actions: Collection[str] | None = None,
    known_queues: Collection[str] | None = None,
    prompt_exists: Callable[[str], bool] | None = None,
    source: str = "<flow>",
    flows: Mapping[str, Flow] | None = None,
) -> list[FlowIssue]:
    """Every problem of a flow (errors and warnings), positioned when given text.

    ``flows`` (optional, by name) lets the variable check know what subflows return.
    """
    if isinstance(flow_or_text, str):
        try:
            flow = parse_flow(flow_or_text, source=source)
        except FlowError as exc:
            return exc.issues
        loc = Locator.from_text(flow_or_text)
    else:
        flow = flow_or_text
        loc = Locator(None)
    checker = _Checker(
        flow,
        loc,
        source,
        known_flows=known_flows,
        known_actions=known_actions,
        known_queues=known_queues,
        prompt_exists=prompt_exists,
        flows=flows,
    )
    return checker.run()


def check_flow(
    text: str,
    *,
    known_flows: Collection[str] | None = None,
    known_actions: Collection[str] | None = None,
    known_queues: Collection[str] | None = None,
    prompt_exists: Callable[[str], bool] | None = None,
    source: str = "<flow>",
    flows: Mapping[str, Flow] | None = None,
) -> Flow:
    """Parse and validate; raise :class:`FlowError` (carrying every issue) if any is an error."""
    flow = parse_flow(text, source=source)
    issues = validate_flow(
        text,
        known_flows=known_flows,
        known_actions=known_actions,
        known_queues=known_queues,
        prompt_exists=prompt_exists,
        source=source,
        flows=flows,
    )
    if any(i.is_error for i in issues):
        raise FlowError(issues)
    return flow


__all__ = ["BUILTIN_VARIABLES", "check_flow", "validate_flow"]
