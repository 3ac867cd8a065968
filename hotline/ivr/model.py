"""The IVR flow model: a flow is a named graph of typed nodes (pydantic v2, extra fields forbidden).

Flows are written in YAML (or JSON) by administrators; :mod:`hotline.ivr.loader` turns text
into a :class:`Flow` with positioned errors and :mod:`hotline.ivr.validate` checks the graph.

Prompts are normalised on input: a string, ``{file: x.wav}``, ``{text: ..., language: en}`` or
a list of those all become a list of :class:`PromptPart`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

Scalar = str | int | float | bool
Language = Literal["zh-CN", "en"]
FLOW_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
DTMF_KEYS = "0123456789*#"
"""Keys a menu option or a collect terminator may use."""
DTMF_DIGITS = "0123456789*#ABCD"
"""Every DTMF event a shell may report."""


class PromptPart(BaseModel):
    """One piece of a prompt: TTS ``text`` (with ``{var}`` placeholders) or a sound ``file``."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = None
    file: str | None = None
    language: Language | None = None

    @model_validator(mode="after")
    def _one_of(self) -> PromptPart:
        if (self.text is None) == (self.file is None):
            raise ValueError("a prompt part has either 'text' or 'file'")
        if self.file is not None and self.language is not None:
            raise ValueError("'language' applies to text prompts only")
        return self


def _normalise_prompt(value: Any) -> Any:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return [{"text": item} if isinstance(item, str) else item for item in items]


PromptSpec = Annotated[list[PromptPart], BeforeValidator(_normalise_prompt)]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    description: str = ""

    def edges(self) -> list[tuple[tuple[str, ...], str]]:
        """``(path inside the node, target node id)`` for every outgoing edge."""
        out: list[tuple[tuple[str, ...], str]] = []
        for name in ("next", "on_error", "on_max_retries", "on_failure", "then", "else_", "default"):
            target = getattr(self, name, None)
            if isinstance(target, str):
                out.append(((name.rstrip("_"),), target))
        for name in ("options", "cases"):
            mapping = getattr(self, name, None)
            if isinstance(mapping, dict):
                out.extend(((name, key), target) for key, target in mapping.items())
        return out

    def prompts(self) -> list[tuple[tuple[str, ...], list[PromptPart]]]:
        """``(path inside the node, prompt)`` for every prompt the node has."""
        out: list[tuple[tuple[str, ...], list[PromptPart]]] = []
        for name in ("prompt", "timeout_prompt", "invalid_prompt"):
            value = getattr(self, name, None)
            if isinstance(value, list):
                out.append(((name,), value))
        return out


class PlayNode(_Node):
    type: Literal["play"]
    prompt: PromptSpec
    barge_in: bool = False
    next: str


class MenuNode(_Node):
    type: Literal["menu"]
    prompt: PromptSpec | None = None
    options: dict[str, str]
    timeout: float = Field(default=5.0, gt=0, le=600)
    max_retries: int = Field(default=3, ge=0, le=20)
    """How many times the menu is offered again after a timeout or an invalid key."""
    timeout_prompt: PromptSpec | None = None
    invalid_prompt: PromptSpec | None = None
    on_max_retries: str
    variable: str | None = None
    barge_in: bool = True


class CollectNode(_Node):
    type: Literal["collect"]
    prompt: PromptSpec | None = None
    variable: str
    min_length: int = Field(default=1, ge=0, le=256)
    max_length: int = Field(default=20, ge=1, le=256)
    terminator: str = "#"
    first_digit_timeout: float = Field(default=8.0, gt=0, le=600)
    inter_digit_timeout: float = Field(default=4.0, gt=0, le=600)
    pattern: str | None = None
    max_retries: int = Field(default=2, ge=0, le=20)
    """How many times the prompt is offered again after a timeout or invalid input."""
    invalid_prompt: PromptSpec | None = None
    timeout_prompt: PromptSpec | None = None
    next: str
    on_failure: str
    barge_in: bool = True


class SetNode(_Node):
    type: Literal["set"]
    values: dict[str, Any]
    next: str


class ConditionNode(_Node):
    type: Literal["condition"]
    when: str
    then: str
    else_: str = Field(alias="else")


class SwitchNode(_Node):
    type: Literal["switch"]
    value: str
    cases: dict[str, str]
    default: str


class ActionNode(_Node):
    type: Literal["action"]
    action: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)
    assign: dict[str, str] = Field(default_factory=dict)
    """variable ← result key; empty: every result key becomes a variable of the same name."""
    next: str
    on_error: str | None = None
    optional: bool = False
    timeout: float = Field(default=5.0, gt=0, le=300)


class SubflowNode(_Node):
    type: Literal["subflow"]
    flow: str = Field(min_length=1)
    next: str
    on_error: str | None = None


class ReturnNode(_Node):
    type: Literal["return"]
    values: dict[str, Any] = Field(default_factory=dict)


class QueueNode(_Node):
    type: Literal["queue"]
    queue: str = Field(min_length=1)
    priority: int = Field(default=0, ge=0, le=1000)
    requirements: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class TransferNode(_Node):
    type: Literal["transfer"]
    target: str = Field(min_length=1)


class VoicemailNode(_Node):
    type: Literal["voicemail"]
    prompt: PromptSpec | None = None
    beep: bool = True
    max_seconds: float = Field(default=60.0, gt=0, le=3600)
    box: str = "general"
    next: str
    barge_in: bool = False


class CallbackNode(_Node):
    type: Literal["callback"]
    prompt: PromptSpec | None = None
    number: str = "{caller}"
    queue: str = "general"
    next: str
    barge_in: bool = False


class HangupNode(_Node):
    type: Literal["hangup"]
    prompt: PromptSpec | None = None
    barge_in: bool = False


AnyNode = (
    PlayNode
    | MenuNode
    | CollectNode
    | SetNode
    | ConditionNode
    | SwitchNode
    | ActionNode
    | SubflowNode
    | ReturnNode
    | QueueNode
    | TransferNode
    | VoicemailNode
    | CallbackNode
    | HangupNode
)
Node = Annotated[AnyNode, Field(discriminator="type")]
INPUT_NODES = (MenuNode, CollectNode)
"""Nodes that wait for the caller to press keys."""
TERMINAL_NODES = (ReturnNode, QueueNode, TransferNode, HangupNode)
"""Nodes that end the flow."""


class Flow(BaseModel):
    """A complete IVR flow."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=FLOW_NAME_PATTERN)
    language: Language = "zh-CN"
    description: str = ""
    start: str
    error: str | None = None
    """Node to go to on runtime errors (plugin failure, bad data)."""
    fallback_queue: str = "general"
    """Queue used when a runtime error has no error path."""
    variables: dict[str, Scalar] = Field(default_factory=dict)
    nodes: dict[str, Node] = Field(min_length=1)

    def targets(self, node_id: str) -> list[str]:
        """Node ids the node can go to, in declaration order (duplicates removed)."""
        seen: dict[str, None] = {}
        for _, target in self.nodes[node_id].edges():
            seen.setdefault(target, None)
        return list(seen)
