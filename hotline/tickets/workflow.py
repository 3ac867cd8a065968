"""Ticket types, their forms and the workflow state machine of work orders (工单) — pure.

Nothing here does I/O or reads the clock: a shell loads the ticket's :class:`TicketState`,
calls :func:`apply` with a :class:`Command` and ``now``, and stores the :class:`Outcome`
(the new state, one :class:`HistoryEntry`, the :class:`Event` list) in one transaction,
comparing :attr:`TicketState.version` (optimistic locking; the loser gets 409).

Types (:class:`TicketType`) are data: a code, a form (:class:`FieldDef` list validated by
:func:`check_form`), subtypes, urgency levels and a :class:`Workflow`. :data:`DEFAULT_TYPES`
are the 95598 defaults; a tenant may replace any of them.

The default workflow (:data:`DEFAULT_WORKFLOW`)::

    accepted ─dispatch─▶ dispatched ─acknowledge─▶ acknowledged ─start─▶ in_progress
      ─reply─▶ replied ─review─▶ reviewed ─revisit─▶ revisited ─archive─▶ archived
    replied ─return (reason)─▶ in_progress        revisited ─reopen (dissatisfied)─▶ in_progress
    dispatched / acknowledged / in_progress ─hold─▶ on_hold ─resume─▶ the state it left
    before replied: ─cancel (reason)─▶ cancelled, ─merge (into)─▶ merged
    dispatched ─forward─▶ dispatched (a unit passes it down its tree)
    every open state ─urge─▶ the same state (urge count + 1)

Action semantics are fixed by the action's name (payload rules, hold bookkeeping); which
action leads from which state to which is the workflow's configuration. A transition's
``target`` of ``None`` keeps the state (``forward``, ``urge``) or, for ``resume``, returns to
the state the ticket was held from. Time spent in a hold state is summed exactly
(:attr:`TicketState.held_total`, :func:`hold_time`); the ``hold_started`` / ``hold_ended``
events let the deadline engine pause its clocks.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hotline.crm.phones import normalize_phone
from hotline.errors import Conflict, Invalid

# ---------------------------------------------------------------------------------------------
# vocabulary

ACTIONS = (
    "dispatch",
    "acknowledge",
    "start",
    "hold",
    "resume",
    "reply",
    "review",
    "return",
    "revisit",
    "reopen",
    "archive",
    "cancel",
    "merge",
    "forward",
    "urge",
)
Action = Literal[
    "dispatch",
    "acknowledge",
    "start",
    "hold",
    "resume",
    "reply",
    "review",
    "return",
    "revisit",
    "reopen",
    "archive",
    "cancel",
    "merge",
    "forward",
    "urge",
]
#: actions that never change the state (their transitions have no target)
STAY_ACTIONS = ("forward", "urge")
SATISFACTION = ("satisfied", "basically_satisfied", "dissatisfied")
WAITING_FOR = ("customer", "third_party", "other")
FIELD_KINDS = ("text", "number", "date", "choice", "phone")
#: the longest note, comment or reason kept in the history
MAX_NOTE = 4000
MAX_ATTACHMENTS = 20
MAX_TEXT = 2000

#: payload keys each action accepts (anything else is refused)
PAYLOAD_KEYS: dict[str, tuple[str, ...]] = {
    "dispatch": ("unit", "handler"),
    "forward": ("unit", "handler"),
    "acknowledge": ("handler",),
    "hold": ("waiting_for",),
    "reply": ("substantiated",),
    "revisit": ("satisfaction", "comment", "method"),
    "merge": ("into",),
}

Problem = tuple[str, str]  # path, reason


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------------------------------
# workflow definitions


class Transition(_Model):
    """``action`` leads from any of ``sources`` to ``target`` (None: see the module docstring)."""

    action: Action
    sources: tuple[str, ...] = Field(min_length=1)
    target: str | None = None


class Workflow(_Model):
    states: tuple[str, ...] = Field(min_length=1)
    initial: str
    terminal: tuple[str, ...]
    transitions: tuple[Transition, ...]
    labels: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _valid(self) -> Workflow:
        problems = workflow_problems(self)
        if problems:
            raise ValueError("; ".join(f"{p}: {r}" for p, r in problems))
        return self

    def allowed(self, state: str) -> tuple[str, ...]:
        """The actions the workflow allows from ``state``, in definition order."""
        out: list[str] = []
        for t in self.transitions:
            if state in t.sources and t.action not in out:
                out.append(t.action)
        return tuple(out)

    def transition(self, state: str, action: str) -> Transition | None:
        for t in self.transitions:
            if t.action == action and state in t.sources:
                return t
        return None

    def hold_states(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.target for t in self.transitions if t.action == "hold" and t.target))

    def is_terminal(self, state: str) -> bool:
        return state in self.terminal


def _successors(wf: Workflow, state: str) -> set[str]:
    """States one transition leads to from ``state`` (resume: every state held from)."""
    out: set[str] = set()
    for t in wf.transitions:
        if state not in t.sources:
            continue
        if t.target is not None:
            out.add(t.target)
        elif t.action == "resume":
            out.update(
                s for h in wf.transitions if h.action == "hold" and h.target == state for s in h.sources
            )
        else:
            out.add(state)
    return out


def workflow_problems(wf: Workflow) -> list[Problem]:
    """Every problem of a workflow definition as (path, reason); empty when it is sound."""
    problems: list[Problem] = []
    known = set(wf.states)
    if len(known) != len(wf.states):
        dup = sorted({s for s in wf.states if wf.states.count(s) > 1})
        problems.append(("states", f"state {dup[0]!r} is listed twice"))
    if wf.initial not in known:
        problems.append(("initial", f"unknown state {wf.initial!r}"))
    if not wf.terminal:
        problems.append(("terminal", "the workflow has no terminal state"))
    for i, s in enumerate(wf.terminal):
        if s not in known:
            problems.append((f"terminal[{i}]", f"unknown state {s!r}"))
    for s in wf.labels:
        if s not in known:
            problems.append((f"labels.{s}", f"unknown state {s!r}"))
    seen: dict[tuple[str, str], int] = {}
    for i, t in enumerate(wf.transitions):
        where = f"transitions[{i}]"
        for j, s in enumerate(t.sources):
            if s not in known:
                problems.append((f"{where}.sources[{j}]", f"unknown state {s!r}"))
            elif s in wf.terminal:
                problems.append((f"{where}.sources[{j}]", f"{t.action!r} leaves the terminal state {s!r}"))
            key = (t.action, s)
            if key in seen:
                problems.append(
                    (
                        f"{where}.sources[{j}]",
                        f"{t.action!r} from {s!r} is already defined by transitions[{seen[key]}]",
                    )
                )
            else:
                seen[key] = i
        if t.target is not None and t.target not in known:
            problems.append((f"{where}.target", f"unknown state {t.target!r}"))
        if t.action in STAY_ACTIONS and t.target is not None:
            problems.append((f"{where}.target", f"{t.action!r} keeps the state: leave the target out"))
        elif t.action == "resume":
            if t.target is not None:
                problems.append(
                    (f"{where}.target", "'resume' returns to the state held from: leave the target out")
                )
            for j, s in enumerate(t.sources):
                if not any(h.action == "hold" and h.target == s for h in wf.transitions):
                    problems.append(
                        (f"{where}.sources[{j}]", f"'resume' from {s!r} but no 'hold' leads there")
                    )
        elif t.action not in STAY_ACTIONS and t.target is None:
            problems.append((f"{where}.target", f"{t.action!r} needs a target state"))
        if t.action == "hold" and t.target is not None and t.target in t.sources:
            problems.append((f"{where}.target", "'hold' must lead to another state"))
    if problems or not wf.terminal:
        return problems
    # reachability from the initial state, and a way out to a terminal state from every state
    reached = {wf.initial}
    todo = deque([wf.initial])
    while todo:
        for n in _successors(wf, todo.popleft()):
            if n not in reached:
                reached.add(n)
                todo.append(n)
    for s in wf.states:
        if s not in reached:
            problems.append((f"states.{s}", f"state {s!r} is unreachable from {wf.initial!r}"))
    ends = set(wf.terminal)
    changed = True
    while changed:
        changed = False
        for s in wf.states:
            if s not in ends and _successors(wf, s) & ends:
                ends.add(s)
                changed = True
    for s in wf.states:
        if s in reached and s not in ends:
            problems.append((f"states.{s}", f"no terminal state can be reached from {s!r}"))
    return problems


def parse_workflow(doc: Mapping[str, Any]) -> Workflow:
    """A workflow from its document; :class:`Invalid` naming the first problem otherwise."""
    try:
        return Workflow.model_validate(doc)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: ValidationError) -> Invalid:
    first = exc.errors()[0]
    path = ""
    for part in first["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    msg = str(first["msg"]).removeprefix("Value error, ")
    if not path and ": " in msg:  # a model-level check names its path first
        path = msg.split(": ", 1)[0]
        return Invalid(msg, field=path)
    return Invalid(f"{path}: {msg}" if path else msg, field=path or None)


_OPEN_BEFORE_REPLY = ("accepted", "dispatched", "acknowledged", "in_progress", "on_hold")

DEFAULT_WORKFLOW = Workflow(
    states=(
        "accepted",
        "dispatched",
        "acknowledged",
        "in_progress",
        "on_hold",
        "replied",
        "reviewed",
        "revisited",
        "archived",
        "cancelled",
        "merged",
    ),
    initial="accepted",
    terminal=("archived", "cancelled", "merged"),
    labels={
        "accepted": "受理",
        "dispatched": "派发",
        "acknowledged": "接单",
        "in_progress": "处理中",
        "on_hold": "挂起",
        "replied": "回单",
        "reviewed": "审核",
        "revisited": "回访",
        "archived": "归档",
        "cancelled": "撤销",
        "merged": "合并",
    },
    transitions=(
        Transition(action="dispatch", sources=("accepted",), target="dispatched"),
        Transition(action="forward", sources=("dispatched",)),
        Transition(action="acknowledge", sources=("dispatched",), target="acknowledged"),
        Transition(action="start", sources=("acknowledged",), target="in_progress"),
        Transition(action="reply", sources=("in_progress",), target="replied"),
        Transition(action="hold", sources=("dispatched", "acknowledged", "in_progress"), target="on_hold"),
        Transition(action="resume", sources=("on_hold",)),
        Transition(action="review", sources=("replied",), target="reviewed"),
        Transition(action="return", sources=("replied",), target="in_progress"),
        Transition(action="revisit", sources=("reviewed",), target="revisited"),
        Transition(action="reopen", sources=("revisited",), target="in_progress"),
        Transition(action="archive", sources=("revisited",), target="archived"),
        Transition(action="cancel", sources=_OPEN_BEFORE_REPLY, target="cancelled"),
        Transition(action="merge", sources=_OPEN_BEFORE_REPLY, target="merged"),
        Transition(
            action="urge",
            sources=(*_OPEN_BEFORE_REPLY, "replied", "reviewed", "revisited"),
        ),
    ),
)


# ---------------------------------------------------------------------------------------------
# ticket types and forms


class FieldDef(_Model):
    """One field of a type's form."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=100)
    kind: Literal["text", "number", "date", "choice", "phone"] = "text"
    required: bool = False
    #: text: at most this many characters (default :data:`MAX_TEXT`)
    max_length: int | None = Field(default=None, ge=1, le=100_000)
    #: choice: the allowed values
    choices: tuple[str, ...] = ()
    #: number: bounds (inclusive)
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    #: only for these subtypes (empty: every subtype)
    subtypes: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> FieldDef:
        if self.kind == "choice" and not self.choices:
            raise ValueError(f"choice field {self.name!r} needs choices")
        if self.kind != "choice" and self.choices:
            raise ValueError(f"only choice fields have choices ({self.name!r} is {self.kind})")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"choices of {self.name!r} repeat a value")
        if self.max_length is not None and self.kind != "text":
            raise ValueError(f"only text fields have max_length ({self.name!r} is {self.kind})")
        if (self.minimum is not None or self.maximum is not None) and self.kind != "number":
            raise ValueError(f"only number fields have minimum/maximum ({self.name!r} is {self.kind})")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum of {self.name!r} is above its maximum")
        return self


class Subtype(_Model):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=100)


class Urgency(_Model):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    label: str = Field(min_length=1, max_length=100)
    #: higher = more urgent
    rank: int = Field(ge=0, le=100)


DEFAULT_URGENCIES = (
    Urgency(code="normal", label="一般", rank=0),
    Urgency(code="urgent", label="紧急", rank=1),
    Urgency(code="critical", label="特急", rank=2),
)


class TicketType(_Model):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    label: str = Field(min_length=1, max_length=100)
    fields: tuple[FieldDef, ...] = ()
    subtypes: tuple[Subtype, ...] = ()
    urgencies: tuple[Urgency, ...] = Field(default=DEFAULT_URGENCIES, min_length=1)
    default_urgency: str = "normal"
    workflow: Workflow = DEFAULT_WORKFLOW

    @model_validator(mode="after")
    def _consistent(self) -> TicketType:
        names = [f.name for f in self.fields]
        for n in names:
            if names.count(n) > 1:
                raise ValueError(f"field {n!r} is defined twice")
        codes = [s.code for s in self.subtypes]
        if len(set(codes)) != len(codes):
            raise ValueError("a subtype code is defined twice")
        for f in self.fields:
            for s in f.subtypes:
                if s not in codes:
                    raise ValueError(f"field {f.name!r} names unknown subtype {s!r}")
        levels = [u.code for u in self.urgencies]
        if len(set(levels)) != len(levels):
            raise ValueError("an urgency code is defined twice")
        if self.default_urgency not in levels:
            raise ValueError(f"default_urgency {self.default_urgency!r} is not one of: {', '.join(levels)}")
        return self

    def field(self, name: str) -> FieldDef | None:
        return next((f for f in self.fields if f.name == name), None)

    def urgency(self, code: str | None) -> Urgency:
        """The urgency level ``code`` (None: the default); :class:`Invalid` if unknown."""
        want = code or self.default_urgency
        for u in self.urgencies:
            if u.code == want:
                return u
        raise Invalid(
            f"unknown urgency {want!r}; one of: {', '.join(u.code for u in self.urgencies)}", field="urgency"
        )


def parse_type(doc: Mapping[str, Any]) -> TicketType:
    """A ticket type from its document; :class:`Invalid` naming the first problem otherwise."""
    try:
        return TicketType.model_validate(doc)
    except ValidationError as exc:
        raise _invalid(exc) from None


def _number(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, float):
        value = repr(value)
    try:
        d = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if not d.is_finite():
        raise ValueError("must be a finite number")
    return d


def check_value(f: FieldDef, value: Any) -> Any:
    """The clean value of one field (JSON-ready: text, int/float, ISO date, phone in stored form).

    Empty values (None, "", blanks) give None. Raises :class:`ValueError` with the reason.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if f.kind == "text":
        if not isinstance(value, str):
            raise ValueError("must be text")
        v = value.strip()
        limit = f.max_length or MAX_TEXT
        if len(v) > limit:
            raise ValueError(f"must be at most {limit} characters")
        return v
    if f.kind == "number":
        d = _number(value)
        if f.minimum is not None and d < f.minimum:
            raise ValueError(f"must be at least {f.minimum}")
        if f.maximum is not None and d > f.maximum:
            raise ValueError(f"must be at most {f.maximum}")
        return int(d) if d == d.to_integral_value() else float(d)
    if f.kind == "date":
        if isinstance(value, datetime):
            raise ValueError("must be a date (YYYY-MM-DD), not a date and time")
        if isinstance(value, date):
            return value.isoformat()
        if not isinstance(value, str):
            raise ValueError("must be a date (YYYY-MM-DD)")
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    if f.kind == "choice":
        v = str(value).strip()
        if v not in f.choices:
            raise ValueError(f"{v!r} is not one of: {', '.join(f.choices)}")
        return v
    # phone
    if not isinstance(value, str):
        raise ValueError("must be a phone number (text)")
    try:
        return normalize_phone(value)
    except Invalid:
        raise ValueError(f"{value!r} is not a phone number") from None


def check_form(
    ticket_type: TicketType, values: Mapping[str, Any], *, subtype: str | None = None
) -> tuple[dict[str, Any], list[Problem]]:
    """Clean the form ``values`` of a ticket of ``ticket_type`` (and ``subtype``).

    Returns the clean values (fields left empty are omitted) and every problem as (field,
    reason): unknown fields, fields of other subtypes, missing required fields, bad values.
    """
    problems: list[Problem] = []
    if ticket_type.subtypes:
        codes = [s.code for s in ticket_type.subtypes]
        if subtype not in codes:
            problems.append(("subtype", f"{ticket_type.code} needs a subtype: one of {', '.join(codes)}"))
    elif subtype:
        problems.append(("subtype", f"{ticket_type.code} has no subtypes"))
    out: dict[str, Any] = {}
    for key in values:
        f = ticket_type.field(key)
        if f is None:
            problems.append((key, f"unknown field for {ticket_type.code}"))
        elif f.subtypes and subtype not in f.subtypes:
            problems.append((key, f"only for subtypes {', '.join(f.subtypes)}"))
    for f in ticket_type.fields:
        if f.subtypes and subtype not in f.subtypes:
            continue
        try:
            clean = check_value(f, values.get(f.name))
        except ValueError as exc:
            problems.append((f.name, str(exc)))
            continue
        if clean is None:
            if f.required:
                problems.append((f.name, f"{f.label} is required"))
        else:
            out[f.name] = clean
    return out, problems


def clean_form(
    ticket_type: TicketType, values: Mapping[str, Any], *, subtype: str | None = None
) -> dict[str, Any]:
    """:func:`check_form`, raising :class:`Invalid` naming the first problem (all in ``errors``)."""
    out, problems = check_form(ticket_type, values, subtype=subtype)
    if problems:
        name, reason = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        err = Invalid(f"{name}: {reason}{more}", field=name)
        err.errors = [{"field": n, "reason": r} for n, r in problems]  # type: ignore[attr-defined]
        raise err
    return out


def _f(name: str, label: str, kind: str = "text", **kw: Any) -> FieldDef:
    return FieldDef.model_validate({"name": name, "label": label, "kind": kind, **kw})


CHANNELS = ("phone", "web", "app", "wechat", "sms", "email", "letter", "visit")
COMPLAINT_CHANNELS = ("hotline_95598", "gov_12345", "regulator_12398", "media", "letters_visits", "other")

#: fields every default type starts with (who and where)
_CONTACT = (
    _f("customer_name", "客户名称", max_length=200),
    _f("contact_phone", "联系电话", "phone", required=True),
    _f("address", "地址", max_length=500),
    _f("account_no", "户号", max_length=32),
)
_SUBJECT = (
    _f("subject", "主题", required=True, max_length=200),
    _f("description", "内容", required=True, max_length=4000),
)

COMPLAINT_FIELDS = (
    _f("intake_date", "受理日期", "date", required=True),
    _f("number", "工单编号", max_length=32),
    _f("receiving_agent", "受理人", required=True, max_length=100),
    _f("channel", "受理渠道", "choice", required=True, choices=CHANNELS),
    _f("calling_number", "来电号码", "phone"),
    _f("customer_name", "客户名称", required=True, max_length=200),
    _f("gender", "性别", "choice", choices=("male", "female", "unknown")),
    _f("address", "地址", required=True, max_length=500),
    _f("contact_phone", "联系电话", "phone", required=True),
    _f("account_no", "户号", max_length=32),
    _f("complaint_channel", "投诉渠道", "choice", choices=COMPLAINT_CHANNELS),
    _f(
        "business_category",
        "业务类别",
        "choice",
        required=True,
        choices=("service", "business", "outage", "power_quality", "grid_construction", "billing", "other"),
    ),
    _f("nature", "投诉性质", "choice", required=True, choices=("general", "important", "major")),
    _f("responsible_unit", "责任单位", max_length=100),
    *_SUBJECT,
)

FAULT_FIELDS = (
    *_CONTACT[:2],
    _f("address", "故障地址", required=True, max_length=500),
    _CONTACT[3],
    _f(
        "fault_kind",
        "故障类型",
        "choice",
        required=True,
        choices=("no_power_single", "no_power_area", "low_voltage", "danger", "meter", "other"),
    ),
    _f("area", "区域", "choice", required=True, choices=("urban", "rural", "remote")),
    _f("outage_id", "停电事件", max_length=64),
    _f("description", "故障描述", required=True, max_length=4000),
)

SERVICE_APPLICATION_FIELDS = (
    *_CONTACT,
    _f(
        "capacity_kva",
        "申请容量(kVA)",
        "number",
        required=True,
        minimum=Decimal(1),
        maximum=Decimal(10_000_000),
        subtypes=("new_connection", "capacity_increase"),
    ),
    _f("new_use", "变更后用途", max_length=200, subtypes=("change_of_use",)),
    _f("new_holder", "新户名", max_length=200, subtypes=("transfer_of_name",)),
    _f("suspend_from", "暂停开始日期", "date", subtypes=("suspension",)),
    _f("suspend_until", "暂停结束日期", "date", subtypes=("suspension",)),
    _f("description", "说明", max_length=4000),
)


def _type(code: str, label: str, fields: Sequence[FieldDef], **kw: Any) -> TicketType:
    return TicketType(code=code, label=label, fields=tuple(fields), **kw)


#: the 95598 default types, by code
DEFAULT_TYPES: dict[str, TicketType] = {
    t.code: t
    for t in (
        _type("fault_repair", "故障报修", FAULT_FIELDS),
        _type("complaint", "投诉", COMPLAINT_FIELDS),
        _type("report", "举报", (*_CONTACT, _f("reported_party", "被举报对象", max_length=200), *_SUBJECT)),
        _type("opinion", "意见", (*_CONTACT, *_SUBJECT)),
        _type("suggestion", "建议", (*_CONTACT, *_SUBJECT)),
        _type("praise", "表扬", (*_CONTACT, _f("praised", "表扬对象", max_length=200), *_SUBJECT)),
        _type("consultation", "咨询", (*_CONTACT, *_SUBJECT)),
        _type(
            "service_application",
            "业务申请",
            SERVICE_APPLICATION_FIELDS,
            subtypes=(
                Subtype(code="new_connection", label="新装"),
                Subtype(code="capacity_increase", label="增容"),
                Subtype(code="change_of_use", label="变更用途"),
                Subtype(code="transfer_of_name", label="过户"),
                Subtype(code="suspension", label="暂停"),
            ),
        ),
        _type(
            "urge",
            "催办",
            (*_CONTACT, _f("urged_ticket", "被催办工单", required=True, max_length=64), *_SUBJECT),
        ),
    )
}


# ---------------------------------------------------------------------------------------------
# ticket state, commands and outcomes


@dataclass(frozen=True, slots=True)
class TicketState:
    """What the workflow knows of one ticket (the shell stores it in the ticket's row)."""

    id: str
    type_code: str
    state: str
    version: int
    changed_at: datetime
    unit: str | None = None
    handler: str | None = None
    #: the state the ticket was held from while in a hold state
    held_from: str | None = None
    held_since: datetime | None = None
    #: closed hold intervals summed
    held_total: timedelta = timedelta(0)
    replied_at: datetime | None = None
    substantiated: bool | None = None
    returns: int = 0
    reopens: int = 0
    satisfaction: str | None = None
    urges: int = 0
    merged_into: str | None = None


@dataclass(frozen=True, slots=True)
class Command:
    action: str
    actor: str
    note: str = ""
    attachments: tuple[str, ...] = ()
    payload: Mapping[str, Any] = field(default_factory=dict)
    #: when given, the command is refused (409) unless the ticket is at this version
    expected_version: int | None = None


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    note: str
    attachments: tuple[str, ...]
    #: the cleaned payload
    data: Mapping[str, Any]
    #: the ticket's version after this entry
    version: int


@dataclass(frozen=True, slots=True)
class Event:
    """``created``, ``state_changed``, ``hold_started``, ``hold_ended``, ``assigned``, ``urged``."""

    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    state: TicketState
    entry: HistoryEntry
    events: tuple[Event, ...]


class Refused(Conflict):
    """The action is not allowed in the ticket's state (409); ``allowed`` lists what is."""

    def __init__(self, detail: str, *, state: str, allowed: Sequence[str]) -> None:
        super().__init__(detail, field="action")
        self.state = state
        self.allowed = tuple(allowed)


class StaleVersion(Conflict):
    """The ticket changed since the caller read it (409)."""


def _aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise Invalid("now must be an aware datetime", field="now")


def _text(value: Any, name: str, *, required: bool = False, limit: int = MAX_NOTE) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(f"{name} must be text", field=name)
    v = value.strip()
    if required and not v:
        raise Invalid(f"{name} must not be empty", field=name)
    if len(v) > limit:
        raise Invalid(f"{name} must be at most {limit} characters", field=name)
    return v


def open_ticket(
    ticket_id: str,
    type_code: str,
    *,
    actor: str,
    now: datetime,
    workflow: Workflow = DEFAULT_WORKFLOW,
    note: str = "",
    attachments: Iterable[str] = (),
) -> Outcome:
    """A new ticket in the workflow's initial state (version 1) with its ``accept`` entry."""
    _aware(now)
    if not ticket_id:
        raise Invalid("a ticket needs an id", field="id")
    state = TicketState(id=ticket_id, type_code=type_code, state=workflow.initial, version=1, changed_at=now)
    entry = HistoryEntry(
        at=now,
        actor=_text(actor, "actor", required=True, limit=200),
        action="accept",
        from_state=None,
        to_state=workflow.initial,
        note=_text(note, "note"),
        attachments=_attachments(attachments),
        data={},
        version=1,
    )
    return Outcome(state, entry, (Event("created", {"state": workflow.initial, "type": type_code}),))


def _attachments(values: Iterable[str]) -> tuple[str, ...]:
    out = tuple(values)
    if len(out) > MAX_ATTACHMENTS:
        raise Invalid(f"at most {MAX_ATTACHMENTS} attachments", field="attachments")
    for i, a in enumerate(out):
        if not isinstance(a, str) or not a.strip() or len(a) > 64:
            raise Invalid(f"attachments[{i}] must be an attachment id", field=f"attachments[{i}]")
    if len(set(out)) != len(out):
        raise Invalid("an attachment is listed twice", field="attachments")
    return out


def _guard(ticket: TicketState, action: str) -> str | None:
    """Why ``action`` is refused whatever its payload (None: the workflow alone decides)."""
    if action == "revisit" and ticket.replied_at is None:
        return "the ticket was never replied"
    if action == "reopen" and ticket.satisfaction != "dissatisfied":
        return "only a dissatisfied revisit reopens"
    if action == "resume" and ticket.held_from is None:
        return "the state held from is unknown"
    return None


def _refuse(wf: Workflow, ticket: TicketState, action: str, why: str = "") -> Refused:
    allowed = allowed_actions(ticket, workflow=wf)
    listed = ", ".join(allowed) if allowed else "nothing (the ticket is closed)"
    head = f"cannot {action} in state {ticket.state}" + (f" ({why})" if why else "")
    return Refused(f"{head}; allowed: {listed}", state=ticket.state, allowed=allowed)


def _payload(action: str, payload: Mapping[str, Any], note: str) -> dict[str, Any]:
    """Check the payload of ``action``; the clean data for the history entry."""
    known = PAYLOAD_KEYS.get(action, ())
    for key in payload:
        if key not in known:
            expected = ", ".join(known) if known else "none"
            raise Invalid(f"{action} does not take {key!r}; payload keys: {expected}", field=f"payload.{key}")
    data: dict[str, Any] = {}
    if action in ("dispatch", "forward"):
        data["unit"] = _text(payload.get("unit"), "payload.unit", required=True, limit=64)
        if payload.get("handler") is not None:
            data["handler"] = _text(payload["handler"], "payload.handler", required=True, limit=64)
    elif action == "acknowledge" and payload.get("handler") is not None:
        data["handler"] = _text(payload["handler"], "payload.handler", required=True, limit=64)
    elif action == "hold":
        waiting = payload.get("waiting_for", "customer")
        if waiting not in WAITING_FOR:
            raise Invalid(
                f"waiting_for must be one of: {', '.join(WAITING_FOR)}", field="payload.waiting_for"
            )
        data["waiting_for"] = waiting
    elif action == "reply":
        if not note:
            raise Invalid("a reply needs the result in its note", field="note")
        sub = payload.get("substantiated")
        if sub is not None and not isinstance(sub, bool):
            raise Invalid("substantiated must be true or false", field="payload.substantiated")
        if sub is not None:
            data["substantiated"] = sub
    elif action in ("return", "cancel"):
        if not note:
            raise Invalid(f"{action} needs a reason: give a note", field="note")
    elif action == "revisit":
        sat = payload.get("satisfaction")
        if sat not in SATISFACTION:
            raise Invalid(
                f"satisfaction must be one of: {', '.join(SATISFACTION)}", field="payload.satisfaction"
            )
        comment = _text(payload.get("comment"), "payload.comment") or note
        if sat == "dissatisfied" and not comment:
            raise Invalid("a dissatisfied revisit needs a comment", field="payload.comment")
        data["satisfaction"] = sat
        data["comment"] = comment
        if payload.get("method") is not None:
            data["method"] = _text(payload["method"], "payload.method", required=True, limit=32)
    elif action == "merge":
        data["into"] = _text(payload.get("into"), "payload.into", required=True, limit=64)
    return data


def apply(
    ticket: TicketState, command: Command, now: datetime, *, workflow: Workflow = DEFAULT_WORKFLOW
) -> Outcome:
    """Carry out ``command`` on ``ticket`` at ``now``.

    Raises :class:`Refused` (409, lists the allowed actions) when the workflow does not allow
    the action in the ticket's state or its guard fails (revisit of a ticket never replied,
    reopen without a dissatisfied revisit, merge into itself), :class:`StaleVersion` when
    ``expected_version`` is not the ticket's version, :class:`Invalid` (422) for a bad note,
    attachment list or payload. A refused command changes nothing (everything is immutable).
    """
    _aware(now)
    wf = workflow
    if command.expected_version is not None and command.expected_version != ticket.version:
        raise StaleVersion(
            f"ticket {ticket.id} is at version {ticket.version}, not {command.expected_version}",
            field="version",
        )
    action = command.action
    if action not in ACTIONS:
        raise Invalid(f"unknown action {action!r}; one of: {', '.join(ACTIONS)}", field="action")
    t = wf.transition(ticket.state, action)
    if t is None:
        raise _refuse(wf, ticket, action)
    actor = _text(command.actor, "actor", required=True, limit=200)
    note = _text(command.note, "note")
    attachments = _attachments(command.attachments)
    data = _payload(action, command.payload, note)
    why = _guard(ticket, action)
    if why:
        raise _refuse(wf, ticket, action, why)
    if action == "merge" and data["into"] == ticket.id:
        raise _refuse(wf, ticket, action, "a ticket cannot be merged into itself")
    if action == "resume":
        assert ticket.held_from is not None  # the guard
        target = ticket.held_from
    else:
        target = t.target if t.target is not None else ticket.state

    version = ticket.version + 1
    changes: dict[str, Any] = {"state": target, "version": version, "changed_at": now}
    events: list[Event] = []
    holds = wf.hold_states()
    if ticket.state in holds and target not in holds and ticket.held_since is not None:
        spent = max(now - ticket.held_since, timedelta(0))
        changes.update(held_total=ticket.held_total + spent, held_since=None, held_from=None)
        events.append(Event("hold_ended", {"at": now, "seconds": spent.total_seconds(), "to": target}))
    if target in holds and ticket.state not in holds:
        changes.update(held_from=ticket.state, held_since=now)
        events.append(
            Event("hold_started", {"at": now, "from": ticket.state, "waiting_for": data.get("waiting_for")})
        )
    if action in ("dispatch", "forward"):
        changes["unit"] = data["unit"]
        changes["handler"] = data.get("handler")
        events.append(
            Event("assigned", {"unit": data["unit"], "handler": data.get("handler"), "action": action})
        )
    elif action == "acknowledge" and "handler" in data:
        changes["handler"] = data["handler"]
        events.append(Event("assigned", {"unit": ticket.unit, "handler": data["handler"], "action": action}))
    elif action == "reply":
        changes["replied_at"] = now
        if "substantiated" in data:
            changes["substantiated"] = data["substantiated"]
    elif action == "return":
        changes["returns"] = ticket.returns + 1
    elif action == "revisit":
        changes["satisfaction"] = data["satisfaction"]
    elif action == "reopen":
        changes["reopens"] = ticket.reopens + 1
    elif action == "urge":
        changes["urges"] = ticket.urges + 1
        events.append(Event("urged", {"count": ticket.urges + 1}))
    elif action == "merge":
        changes["merged_into"] = data["into"]
    if target != ticket.state:
        events.insert(0, Event("state_changed", {"from": ticket.state, "to": target, "action": action}))
    entry = HistoryEntry(
        at=now,
        actor=actor,
        action=action,
        from_state=ticket.state,
        to_state=target,
        note=note,
        attachments=attachments,
        data=data,
        version=version,
    )
    return Outcome(replace(ticket, **changes), entry, tuple(events))


def hold_time(ticket: TicketState, now: datetime) -> timedelta:
    """Time spent in hold states so far (closed intervals plus the open one, if any)."""
    if ticket.held_since is None:
        return ticket.held_total
    return ticket.held_total + max(now - ticket.held_since, timedelta(0))


def allowed_actions(ticket: TicketState, *, workflow: Workflow = DEFAULT_WORKFLOW) -> tuple[str, ...]:
    """The actions allowed now: the workflow's from the ticket's state whose guards pass
    (revisit needs a reply, reopen a dissatisfied revisit, resume a state held from).
    Payload rules (reasons, satisfaction, merge target) still apply on :func:`apply`."""
    return tuple(a for a in workflow.allowed(ticket.state) if _guard(ticket, a) is None)
