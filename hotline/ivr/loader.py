"""Flow text (YAML, or JSON — a YAML subset) → :class:`~hotline.ivr.model.Flow`, with positions.

Every problem becomes a :class:`FlowIssue` with the 1-based line and column of the YAML node it
is about: syntax errors from the YAML marks, model errors by following pydantic's error
location through the composed YAML tree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hotline.errors import HotlineError
from hotline.ivr.model import Flow

PathKey = str | int


class FlowLoader(yaml.SafeLoader):
    """YAML 1.2-style booleans: only true/false (``yes``, ``no``, ``on``, ``off`` stay text,
    as they are likely node ids); mapping keys that are numbers become text (``1: bill``)."""


FlowLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
FlowLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _construct_mapping(loader: FlowLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, int | float) and not isinstance(key, bool):
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key)
        out[key] = loader.construct_object(value_node, deep=True)
    return out


FlowLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


@dataclass
class FlowIssue:
    """One problem in a flow; ``severity`` is ``"error"`` or ``"warning"``."""

    line: int | None
    column: int | None
    node: str | None
    message: str
    severity: str = "error"
    source: str | None = None

    def __str__(self) -> str:
        where = self.source or "<flow>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        level = "warning: " if self.severity == "warning" else ""
        node = f"node '{self.node}': " if self.node is not None else ""
        return f"{where}: {level}{node}{self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class FlowError(HotlineError):
    """A flow could not be loaded or failed validation; ``issues`` lists every problem."""

    status = 422
    title = "Invalid flow"

    def __init__(self, issues: Sequence[FlowIssue]) -> None:
        self.issues = list(issues)
        errors = [i for i in self.issues if i.is_error] or self.issues
        detail = str(errors[0]) if errors else "invalid flow"
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more)"
        super().__init__(detail)


class Locator:
    """Positions of values in a composed YAML document, addressed by key paths."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    @classmethod
    def from_text(cls, text: str) -> Locator:
        try:
            return cls(yaml.compose(text, Loader=FlowLoader))
        except yaml.YAMLError:
            return cls(None)

    def resolve(self, path: Sequence[PathKey]) -> tuple[list[PathKey], yaml.Node | None, yaml.Node | None]:
        """Follow ``path`` as far as the document goes.

        Returns the keys that matched (parts not found in the document, such as pydantic's
        union member names, are dropped), the deepest value node reached and the key node
        that led to it.
        """
        node = self.root
        key_node: yaml.Node | None = None
        kept: list[PathKey] = []
        for part in path:
            child: tuple[yaml.Node, yaml.Node] | None = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                        child = (k, v)
                        break
            elif (
                isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value)
            ):
                child = (node, node.value[part])
            if child is not None:
                key_node, node = child
                kept.append(part)
        return kept, node, key_node

    def position(self, path: Sequence[PathKey], *, at_key: bool = False) -> tuple[int | None, int | None]:
        """1-based (line, column) of the value at ``path`` (or of its key)."""
        if self.root is None:
            return None, None
        _, node, key_node = self.resolve(path)
        target = key_node if at_key and key_node is not None else node
        if target is None:
            return None, None
        mark = target.start_mark
        return mark.line + 1, mark.column + 1

    def scalar_offset(self, path: Sequence[PathKey]) -> tuple[int | None, int | None, int]:
        """Position of a scalar and how many characters precede its text (quotes)."""
        line, col = self.position(path)
        _, node, _ = self.resolve(path)
        extra = 1 if isinstance(node, yaml.ScalarNode) and node.style in ("'", '"') else 0
        return line, col, extra


def _node_of(path: Sequence[PathKey]) -> str | None:
    if len(path) >= 2 and path[0] == "nodes":
        return str(path[1])
    return None


def _dotted(parts: Sequence[PathKey]) -> str:
    return ".".join(str(p) for p in parts)


def _duplicate_keys(node: yaml.Node | None, path: list[PathKey], out: list[FlowIssue], source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for k, v in node.value:
            key = k.value if isinstance(k, yaml.ScalarNode) else None
            if key is not None:
                if key in seen:
                    full: list[PathKey] = [*path, key]
                    node_id = _node_of(full)
                    inner = full[2:] if node_id is not None else full
                    message = f"duplicate key '{_dotted(inner)}'" if inner else "duplicate node id"
                    line, col = k.start_mark.line + 1, k.start_mark.column + 1
                    out.append(FlowIssue(line, col, node_id, message, source=source))
                seen.add(key)
                _duplicate_keys(v, [*path, key], out, source)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _duplicate_keys(v, [*path, i], out, source)


def _pydantic_issues(exc: ValidationError, loc: Locator, source: str) -> list[FlowIssue]:
    issues: list[FlowIssue] = []
    seen: set[tuple[int | None, int | None, str]] = set()
    for err in exc.errors():
        raw: list[PathKey] = [p for p in err["loc"] if isinstance(p, str | int)]
        kept, _, _ = loc.resolve(raw)
        missing = err["type"] == "missing"
        extra = err["type"] == "extra_forbidden"
        if missing:
            # point at the mapping that lacks the field: its key (e.g. the node id)
            line, col = loc.position(kept, at_key=True)
            kept = [*kept, raw[-1]] if raw else kept
        else:
            line, col = loc.position(kept, at_key=extra)
        node_id = _node_of(kept)
        inner = kept[2:] if node_id is not None else kept
        msg = str(err["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if "PromptPart" in msg:
            msg = "a prompt is text, {file: name.wav}, {text: ..., language: en} or a list of those"
        if missing:
            text = f"missing field '{_dotted(inner)}'" if inner else "missing field"
        elif extra:
            text = f"unknown field '{_dotted(inner)}'"
        elif err["type"] == "union_tag_invalid":
            given = err.get("input")
            kind = given.get("type") if isinstance(given, dict) else None
            text = f"unknown node type {kind!r} (expected {err.get('ctx', {}).get('expected_tags', '')})"
        elif err["type"] == "union_tag_not_found":
            text = "missing field 'type'"
        else:
            text = f"{_dotted(inner)}: {msg}" if inner else msg
        if (line, col, text) in seen:
            continue
        seen.add((line, col, text))
        issues.append(FlowIssue(line, col, node_id, text, source=source))
    return issues


def parse_flow(text: str, *, source: str = "<flow>") -> Flow:
    """Parse a flow; raises :class:`FlowError` with positioned issues."""
    try:
        root = yaml.compose(text, Loader=FlowLoader)
        data = yaml.load(text, Loader=FlowLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise FlowError([FlowIssue(line, col, None, f"YAML syntax: {problem}", source=source)]) from None
    except yaml.YAMLError as exc:
        raise FlowError([FlowIssue(None, None, None, f"YAML syntax: {exc}", source=source)]) from None
    if not isinstance(data, dict):
        raise FlowError(
            [FlowIssue(1, 1, None, "a flow must be a mapping (name, start, nodes, …)", source=source)]
        )
    issues: list[FlowIssue] = []
    _duplicate_keys(root, [], issues, source)
    loc = Locator(root)
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        issues.extend(_pydantic_issues(exc, loc, source))
        raise FlowError(_sorted(issues)) from None
    if issues:
        raise FlowError(_sorted(issues))
    return flow


def _sorted(issues: list[FlowIssue]) -> list[FlowIssue]:
    return sorted(issues, key=lambda i: (i.line or 0, i.column or 0))


def load_flow_file(path: str | Path) -> Flow:
    """Read and parse a flow file (UTF-8)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowError(
            [FlowIssue(None, None, None, f"cannot read the file: {exc}", source=str(p))]
        ) from None
    return parse_flow(text, source=str(p))
