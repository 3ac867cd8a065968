"""Work orders in the database: create, act (workflow transitions), edit, read, list.

Every change runs in the caller's transaction (the caller commits; events are published after
the commit with :func:`hotline.tickets.events.publish`) and is checked with optimistic locking:
``UPDATE tickets SET …, version = old + 1 WHERE id = :id AND version = :old`` — a concurrent
change makes the rowcount 0 and the loser gets :class:`StaleVersion` (409), never a silent
overwrite. History entry, attachment binding, deadline steps (:mod:`hotline.tickets.sla`) and
contact-history entries are written in the same transaction.

A ticket's workflow state maps onto its row with :func:`state_of` / :func:`store_state`
(``TicketState.id`` is ``str(ticket.id)``, ``unit``/``handler`` the ids as text,
``held_total`` ⇄ ``held_seconds``). Types are :data:`DEFAULT_TYPES` overlaid by the tenant's
active ``ticket_types`` rows (:func:`types_for`).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import (
    and_,
    bindparam,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from hotline.auth.policy import DataScope
from hotline.crm import screenpop, timeline
from hotline.crm.facts import CustomerFacts
from hotline.crm.phones import normalize_phone
from hotline.errors import HotlineError, Invalid, NotFound
from hotline.store.bulk import attach as attach_rows
from hotline.store.bulk import flush_inserts, insert_objects, new_object, one_statement
from hotline.store.cache import Cache, db_key
from hotline.store.models import (
    ContactEntry,
    Customer,
    Outage,
    Ticket,
    TicketHistory,
    TicketTypeDef,
    Unit,
    User,
)
from hotline.store.types import UTCDateTime, utcnow, valid_id
from hotline.tickets import attachments as attach
from hotline.tickets import dispatch as rules
from hotline.tickets import incidents, sla
from hotline.tickets.events import ticket_event
from hotline.tickets.search import document, query_tokens
from hotline.tickets.workflow import (
    CHANNELS,
    DEFAULT_TYPES,
    DEFAULT_WORKFLOW,
    Command,
    Outcome,
    Refused,
    StaleVersion,
    TicketState,
    TicketType,
    Workflow,
    allowed_actions,
    apply,
    clean_form,
    open_ticket,
    parse_type,
)
from hotline.utility.payments import tenant_zone

log = logging.getLogger(__name__)

__all__ = [
    "Actor",
    "Change",
    "Refused",
    "StaleVersion",
    "TicketFilter",
    "act",
    "create_ticket",
    "get_ticket",
    "history",
    "list_tickets",
    "open_for_customer",
    "state_of",
    "store_state",
    "types_for",
    "update_fields",
]

AREA_CLASSES = ("urban", "rural", "remote")
NUMBER_RE = re.compile(r"^GD\d{8}-\d{7,}$")
#: contact-history channel of a ticket channel
TIMELINE_CHANNEL = {
    "phone": "voice",
    "web": "web",
    "app": "web",
    "wechat": "wechat",
    "sms": "sms",
    "email": "email",
    "letter": "counter",
    "visit": "counter",
}
#: the fields :func:`update_fields` may change
EDITABLE = (
    "subject",
    "description",
    "category",
    "address",
    "contact_name",
    "contact_phone",
    "form",
    "urgency",
    "area_class",
)
MAX_LIMIT = 500


@dataclass(frozen=True)
class Actor:
    """Who acts: a user (``user_id``; ``name`` their username) or the system (``user_id`` None,
    ``name`` "system", "incident", "ivr"); ``unit_id`` is the user's unit (the intake unit)."""

    user_id: int | None
    name: str
    unit_id: int | None = None


@dataclass(frozen=True)
class Change:
    #: the row after the change (usable after the commit: sessions do not expire on commit)
    ticket: Ticket
    #: the last history entry written (None when nothing was recorded)
    entry: TicketHistory | None
    #: live events to publish after the commit: ``{"type": ..., "data": {...}}``
    events: tuple[dict[str, Any], ...] = ()
    #: every history entry written by this change, in order
    entries: tuple[TicketHistory, ...] = field(default=())
    #: the earliest deadline timer this change wrote (the scheduler is woken when it is near)
    next_timer: datetime | None = None
    #: the ticket's deadline steps as :func:`sla.deadlines` lists them, when the change knows
    #: them without reading (a creation)
    deadlines: tuple[dict[str, Any], ...] | None = None


@dataclass(frozen=True)
class TicketFilter:
    type: str | None = None
    state: tuple[str, ...] = ()
    unit_id: int | None = None
    #: with ``unit_id``: its whole subtree (True) or the unit alone
    subtree: bool = True
    handler_id: int | None = None
    #: True: overdue (flag set, or an open ticket past its due time); False: not overdue
    overdue: bool | None = None
    customer_id: int | None = None
    account_no: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    q: str | None = None
    open_only: bool = False
    outage_id: int | None = None
    call_id: str | None = None
    #: only tickets due (earliest running step) before this time
    due_before: datetime | None = None
    limit: int = 50
    #: keyset: the (created_at, id) of the last ticket of the previous page (newest first)
    after: tuple[datetime, int] | None = None


# -- helpers ------------------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    if now is None:
        return utcnow()
    if now.tzinfo is None or now.utcoffset() is None:
        raise Invalid("now must be an aware datetime", field="now")
    return now


def _text(value: Any, name: str, limit: int, *, required: bool = False) -> str:
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


def _maybe_phone(value: str) -> str | None:
    try:
        return normalize_phone(value) if value else None
    except HotlineError:
        return None


# -- types --------------------------------------------------------------------------------------------

#: the tenant's types (see :mod:`hotline.store.cache`: an edit in this process is seen at once,
#: one made by another server within the ttl)
_TYPES: Cache[tuple[str, int], dict[str, TicketType]] = Cache(("ticket_types",))


async def types_for(s: AsyncSession, tenant_id: int) -> dict[str, TicketType]:
    """The tenant's ticket types: :data:`DEFAULT_TYPES` overlaid by its active ``ticket_types``
    rows (cached per tenant)."""

    async def load() -> dict[str, TicketType]:
        types = dict(DEFAULT_TYPES)
        for row in (
            await s.scalars(
                select(TicketTypeDef)
                .where(TicketTypeDef.tenant_id == tenant_id, TicketTypeDef.active.is_(True))
                .order_by(TicketTypeDef.id)
            )
        ).all():
            try:
                types[row.code] = parse_type({**row.doc, "code": row.code})
            except HotlineError as exc:
                log.error("ticket type %r of tenant %s is invalid: %s", row.code, tenant_id, exc.detail)
        return types

    return await _TYPES.fetch((db_key(s), tenant_id), load)


def _workflow(types: Mapping[str, TicketType], type_code: str) -> Workflow:
    t = types.get(type_code)
    return t.workflow if t is not None else DEFAULT_WORKFLOW


async def type_of(s: AsyncSession, tenant_id: int, type_code: str) -> TicketType:
    types = await types_for(s, tenant_id)
    t = types.get(type_code)
    if t is None:
        raise Invalid(f"unknown ticket type {type_code!r}; types: {', '.join(types)}", field="type")
    return t


# -- state ⇄ row --------------------------------------------------------------------------------------


def state_of(row: Ticket) -> TicketState:
    """The workflow's view of a ticket row."""
    return TicketState(
        id=str(row.id),
        type_code=row.type_code,
        state=row.state,
        version=row.version,
        changed_at=row.changed_at,
        unit=str(row.unit_id) if row.unit_id is not None else None,
        handler=str(row.handler_id) if row.handler_id is not None else None,
        held_from=row.held_from,
        held_since=row.held_since,
        held_total=timedelta(seconds=row.held_seconds or 0.0),
        replied_at=row.replied_at,
        substantiated=row.substantiated,
        returns=row.returns or 0,
        reopens=row.reopens or 0,
        satisfaction=row.satisfaction,
        urges=row.urges or 0,
        merged_into=str(row.merged_into) if row.merged_into is not None else None,
    )


def _int_or_none(v: str | None) -> int | None:
    return int(v) if v not in (None, "") else None


def state_values(state: TicketState) -> dict[str, Any]:
    """The row's columns for a workflow state (everything :func:`state_of` reads)."""
    values: dict[str, Any] = {
        "state": state.state,
        "version": state.version,
        "changed_at": state.changed_at,
        "handler_id": _int_or_none(state.handler),
        "held_from": state.held_from,
        "held_since": state.held_since,
        "held_seconds": state.held_total.total_seconds(),
        "replied_at": state.replied_at,
        "substantiated": state.substantiated,
        "returns": state.returns,
        "reopens": state.reopens,
        "satisfaction": state.satisfaction,
        "urges": state.urges,
        "merged_into": _int_or_none(state.merged_into),
    }
    if state.unit:
        values["unit_id"] = int(state.unit)
    return values


def store_state(row: Ticket, state: TicketState) -> None:
    """Copy a workflow state into the row's attributes (no version check: see :func:`act`)."""
    for k, v in state_values(state).items():
        setattr(row, k, v)


# -- reading ------------------------------------------------------------------------------------------


async def get_ticket(s: AsyncSession, tenant_id: int, key: int | str, *, fresh: bool = False) -> Ticket:
    """The tenant's ticket by id (int or digits) or number (``GD20261123-0000042``); NotFound
    otherwise (other tenants' tickets included). ``fresh`` reloads a row already in the session."""
    q = select(Ticket).where(Ticket.tenant_id == tenant_id)
    if isinstance(key, int) and not isinstance(key, bool):
        if not valid_id(key):
            raise NotFound(f"no ticket {key!r}", field="ticket")
        q = q.where(Ticket.id == key)
    elif isinstance(key, str) and key.strip().isdecimal():
        ident = int(key.strip())
        if not valid_id(ident):
            raise NotFound(f"no ticket {key!r}", field="ticket")
        q = q.where(Ticket.id == ident)
    elif isinstance(key, str) and key.strip():
        q = q.where(Ticket.number == key.strip().upper())
    else:
        raise NotFound(f"no ticket {key!r}", field="ticket")
    if fresh:
        q = q.execution_options(populate_existing=True)
    row = await s.scalar(q)
    if row is None:
        raise NotFound(f"no ticket {key!r}", field="ticket")
    return row


async def history(s: AsyncSession, tenant_id: int, ticket_id: int | str) -> list[TicketHistory]:
    """The ticket's history, oldest first (NotFound for other tenants' tickets)."""
    if isinstance(ticket_id, str) or not valid_id(ticket_id):
        ticket_id = (await get_ticket(s, tenant_id, ticket_id)).id
    rows = list(
        (
            await s.scalars(
                select(TicketHistory)
                .where(TicketHistory.tenant_id == tenant_id, TicketHistory.ticket_id == ticket_id)
                .order_by(TicketHistory.version, TicketHistory.id)
            )
        ).all()
    )
    if not rows:
        await get_ticket(s, tenant_id, ticket_id)
    return rows


@dataclass(frozen=True, slots=True)
class UnitInfo:
    id: int
    tenant_id: int
    code: str
    path: str


#: units never change code or path once created: cached per database and id
_UNITS: dict[tuple[str, int], UnitInfo] = {}
_ROOTS: dict[tuple[str, int], int] = {}
_ZONES: dict[tuple[str, int], tuple[float, ZoneInfo]] = {}
ZONE_TTL = 60.0


def _remember(s: AsyncSession, u: Unit) -> UnitInfo:
    if len(_UNITS) > 200_000:
        _UNITS.clear()
    info = UnitInfo(u.id, u.tenant_id, u.code, u.path)
    _UNITS[(db_key(s), u.id)] = info
    return info


async def unit_info(s: AsyncSession, unit_id: int) -> UnitInfo | None:
    """Id, tenant, code and path of a unit (cached: they never change)."""
    key = (db_key(s), unit_id)
    info = _UNITS.get(key)
    if info is None:
        u = await s.scalar(select(Unit).where(Unit.id == unit_id)) if valid_id(unit_id) else None
        if u is None:
            return None
        info = _remember(s, u)
    return info


async def unit_code(s: AsyncSession, unit_id: int | None) -> str:
    if unit_id is None:
        return ""
    info = await unit_info(s, unit_id)
    return info.code if info else ""


async def _root_unit(s: AsyncSession, tenant_id: int) -> int:
    key = (db_key(s), tenant_id)
    if key in _ROOTS:
        return _ROOTS[key]
    uid = await s.scalar(
        select(Unit.id)
        .where(Unit.tenant_id == tenant_id, Unit.parent_id.is_(None))
        .order_by(Unit.id)
        .limit(1)
    )
    if uid is None:
        raise Invalid("the tenant has no units", field="unit_id")
    _ROOTS[key] = uid
    return uid


async def zone_of(s: AsyncSession, tenant_id: int) -> ZoneInfo:
    """The tenant's time zone (for the order number's date), cached for a minute."""
    key = (db_key(s), tenant_id)
    hit = _ZONES.get(key)
    mono = time.monotonic()
    if hit is not None and mono - hit[0] < ZONE_TTL:
        return hit[1]
    tz = await tenant_zone(s, tenant_id)
    _ZONES[key] = (mono, tz)
    return tz


_UNIT_CODES: Cache[tuple[str, int, str], UnitInfo] = Cache(("units",))


async def _unit_by_code(s: AsyncSession, tenant_id: int, code: str) -> UnitInfo | None:
    """A unit of the tenant by code (cached when found), else None."""
    ck = (db_key(s), tenant_id, code)
    info = _UNIT_CODES.get(ck)
    if info is None:
        mark = _UNIT_CODES.mark()
        row = await s.scalar(select(Unit).where(Unit.tenant_id == tenant_id, Unit.code == code))
        if row is not None:
            info = _UNIT_CODES.put(ck, _remember(s, row), mark)
    return info


async def unit_by_key(s: AsyncSession, tenant_id: int, key: int | str) -> UnitInfo:
    """A unit of the tenant by id or code (cached); NotFound otherwise."""
    info = await unit_info(s, key) if isinstance(key, int) else await _unit_by_code(s, tenant_id, key)
    if info is None or info.tenant_id != tenant_id:
        raise NotFound(f"no unit {key!r}", field="unit")
    return info


async def _unit(s: AsyncSession, tenant_id: int, key: Any, field: str) -> UnitInfo:
    """A unit of the tenant by code or id (int or digits); Invalid naming ``field`` otherwise."""
    if isinstance(key, bool) or key is None:
        raise Invalid(f"{field} must be a unit code or id", field=field)
    info: UnitInfo | None = None
    if isinstance(key, int):
        info = await unit_info(s, key)
    elif isinstance(key, str) and key.strip():
        k = key.strip()
        info = await _unit_by_code(s, tenant_id, k)
        if info is None and k.isdecimal():
            info = await unit_info(s, int(k))
    else:
        raise Invalid(f"{field} must be a unit code or id", field=field)
    if info is None or info.tenant_id != tenant_id:
        raise Invalid(f"no unit {key!r} in this tenant", field=field)
    return info


async def _user(s: AsyncSession, tenant_id: int, key: Any, field: str) -> User:
    q = select(User).where(User.tenant_id == tenant_id)
    row: User | None = None
    if isinstance(key, int) and not isinstance(key, bool):
        row = await s.scalar(q.where(User.id == key)) if valid_id(key) else None
    elif isinstance(key, str) and key.strip():
        k = key.strip()
        row = await s.scalar(q.where(User.username == k))
        if row is None and k.isdecimal() and valid_id(int(k)):
            row = await s.scalar(q.where(User.id == int(k)))
    if row is None or not row.active:
        raise Invalid(f"no active user {key!r} in this tenant", field=field)
    return row


# -- writing ------------------------------------------------------------------------------------------


def _history_row(
    tenant_id: int, ticket_id: int, actor: Actor, outcome: Outcome, extra: Mapping[str, Any] | None = None
) -> TicketHistory:
    e = outcome.entry
    return new_object(
        TicketHistory,
        {
            "tenant_id": tenant_id,
            "ticket_id": ticket_id,
            "at": e.at,
            "user_id": actor.user_id,
            "actor": e.actor,
            "action": e.action,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "note": e.note,
            "attachments": list(e.attachments),
            "data": {**dict(e.data), **(extra or {})},
            "version": e.version,
        },
    )


async def _guarded_update(s: AsyncSession, row: Ticket, old_version: int, values: Mapping[str, Any]) -> None:
    """``UPDATE … WHERE id AND version = old``; StaleVersion when another change won."""
    result = await s.execute(
        update(Ticket)
        .where(Ticket.id == row.id, Ticket.version == old_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise StaleVersion(
            f"ticket {row.number or row.id} was changed by someone else; reload it and try again",
            field="version",
        )
    for k, v in values.items():
        set_committed_value(row, k, v)


async def _contact(
    s: AsyncSession,
    row: Ticket,
    actor: Actor,
    summary: str,
    now: datetime,
    detail: Mapping[str, Any] | None = None,
) -> None:
    entry = _contact_entry(row, actor, summary, now, detail)
    if entry is not None:
        s.add(entry)
        await s.flush()


def _contact_entry(
    row: Ticket, actor: Actor, summary: str, now: datetime, detail: Mapping[str, Any] | None = None
) -> ContactEntry | None:
    """The customer-timeline entry (kind ``ticket``) of a change of ``row``; None without a customer."""
    if row.customer_id is None:
        return None
    return timeline.new_entry(
        row.tenant_id,
        row.customer_id,
        kind="ticket",
        channel=TIMELINE_CHANNEL.get(row.channel, "system") if actor.user_id is not None else "system",
        ref=str(row.id),
        summary=summary[: timeline.MAX_SUMMARY],
        agent_id=actor.user_id,
        detail=dict(detail or {}),
        at=now,
    )


async def _resolve_payload(
    s: AsyncSession, tenant_id: int, row: Ticket, command: Command, actor: Actor
) -> tuple[Command, dict[str, Any]]:
    """Unit codes, usernames and ticket numbers of the payload → ids (as the workflow's text);
    the extra history data (codes and names)."""
    payload = dict(command.payload)
    extra: dict[str, Any] = {}
    action = command.action
    target_unit: UnitInfo | None = None
    if action in ("dispatch", "forward") and payload.get("unit") not in (None, ""):
        target_unit = await _unit(s, tenant_id, payload["unit"], "payload.unit")
        if action == "forward":
            current = await unit_info(s, row.unit_id)
            if (
                current is None
                or target_unit.id == current.id
                or not target_unit.path.startswith(current.path)
            ):
                raise Invalid(
                    f"a ticket is forwarded only to a unit below {current.code if current else 'its unit'}",
                    field="payload.unit",
                )
        payload["unit"] = str(target_unit.id)
        extra["unit_code"] = target_unit.code
    if action in ("dispatch", "forward", "acknowledge") and payload.get("handler") not in (None, ""):
        user = await _user(s, tenant_id, payload["handler"], "payload.handler")
        scope = target_unit or await unit_info(s, row.unit_id)
        user_unit = await unit_info(s, user.unit_id)
        if scope is not None and not (user_unit and user_unit.path.startswith(scope.path)):
            raise Invalid(f"{user.username} is not in unit {scope.code} or below", field="payload.handler")
        payload["handler"] = str(user.id)
        extra["handler_name"] = user.username
    elif action == "acknowledge" and row.handler_id is None and actor.user_id is not None:
        payload["handler"] = str(actor.user_id)
        extra["handler_name"] = actor.name
    if action == "merge" and payload.get("into") not in (None, ""):
        into = payload["into"]
        try:
            other = await get_ticket(s, tenant_id, into if isinstance(into, int | str) else str(into))
        except NotFound:
            raise Invalid(f"no ticket {into!r} to merge into", field="payload.into") from None
        if other.closed_at is not None:
            raise Invalid(f"ticket {other.number} is closed: merge into an open one", field="payload.into")
        payload["into"] = str(other.id)
        extra["into_number"] = other.number
    return (
        Command(
            action=command.action,
            actor=actor.name or command.actor,
            note=command.note,
            attachments=command.attachments,
            payload=payload,
            expected_version=command.expected_version,
        ),
        extra,
    )


async def _transition(
    s: AsyncSession,
    tenant_id: int,
    row: Ticket,
    wf: Workflow,
    command: Command,
    actor: Actor,
    now: datetime,
    *,
    call_id: str = "",
    type_label: str = "",
) -> tuple[TicketHistory, list[dict[str, Any]]]:
    before = state_of(row)
    cmd, extra = await _resolve_payload(s, tenant_id, row, command, actor)
    outcome = apply(before, cmd, now, workflow=wf)
    values = state_values(outcome.state)
    values["closed_at"] = now if wf.is_terminal(outcome.state.state) else None
    await _guarded_update(s, row, before.version, values)
    entry = _history_row(tenant_id, row.id, actor, outcome, extra)
    s.add(entry)
    await s.flush()
    if outcome.entry.attachments:
        await attach.bind(s, tenant_id, row.id, list(outcome.entry.attachments))
    events: list[dict[str, Any]] = [
        ticket_event(row, cmd.action, from_state=before.state, unit_code=await unit_code(s, row.unit_id))
    ]
    events.extend(await sla.on_outcome(s, row, before, outcome, now))
    action = cmd.action
    if action == "urge":
        events.extend(await sla.on_urge(s, row, now, by=actor.name, note=outcome.entry.note))
    if action in ("reply", "revisit", "urge"):
        label = {"reply": "回单", "revisit": "回访", "urge": "催办"}[action]
        text = outcome.entry.note or str(outcome.entry.data.get("comment") or "")
        detail: dict[str, Any] = {"ticket_id": row.id, "number": row.number, "action": action}
        if call_id:
            detail["call_id"] = call_id
        if action == "revisit":
            detail["satisfaction"] = outcome.entry.data.get("satisfaction")
        await _contact(s, row, actor, f"{row.number} {label}: {text}".strip().rstrip(":"), now, detail)
    return entry, events


async def create_ticket(s: AsyncSession, tenant_id: int, **kwargs: Any) -> Change:
    """Accept a new work order (history ``accept``), and dispatch it at once when a responsible
    unit is known (``unit_id``, else the dispatch rules, else the customer's supply unit; history
    ``dispatch``), in the caller's transaction: :func:`plan_ticket` (arguments), then
    :func:`write_drafts`."""
    draft = await plan_ticket(s, tenant_id, **kwargs)
    return (await write_drafts(s, [draft], persistent=True))[0]


@dataclass
class Draft:
    """A new work order worked out in full — validated, numbered later, dispatched, its deadline
    clock started — but not written (:func:`plan_ticket`; :func:`write_drafts` writes a batch)."""

    tenant_id: int
    #: the ticket's columns (no id, no number: they are given at the write)
    values: dict[str, Any]
    ttype: TicketType
    actor: Actor
    opened: Outcome
    final: Outcome
    dispatched: UnitInfo | None
    intake_code: str
    clock: sla.NewClock
    outage: Outage | None
    local_day: date
    now: datetime
    #: the planned row itself, for the first write (a retry builds a fresh one from ``values``)
    row: Ticket | None = None


async def plan_ticket(
    s: AsyncSession,
    tenant_id: int,
    *,
    type_code: str,
    actor: Actor,
    fields: Mapping[str, Any] | None = None,
    subject: str = "",
    description: str = "",
    subtype: str = "",
    urgency: str | None = None,
    channel: str = "phone",
    customer_id: int | None = None,
    customer: CustomerFacts | None = None,
    call_id: str = "",
    caller_number: str = "",
    contact_name: str = "",
    contact_phone: str = "",
    address: str = "",
    area_class: str | None = None,
    category: str = "",
    unit_id: int | str | None = None,
    dispatch: bool = True,
    attachments: Sequence[str] = (),
    note: str = "",
    now: datetime | None = None,
    repeat_days: int = 30,
    repeat_types: Sequence[str] = ("complaint", "opinion"),
) -> Draft:
    """A new work order worked out from its inputs (reads only; see :func:`create_ticket`).
    See the module docstring for the transaction and the contract for details."""
    now = _now(now)
    ttype = await type_of(s, tenant_id, type_code)
    wf = ttype.workflow
    fields = dict(fields or {})
    if channel not in CHANNELS:
        raise Invalid(f"unknown channel {channel!r}; one of: {', '.join(CHANNELS)}", field="channel")
    if customer is not None and (customer.tenant_id != tenant_id or customer.id != customer_id):
        customer = None  # not the one named: read it
    if customer_id is not None and customer is None:
        customer = (
            await s.scalar(
                select(Customer).where(Customer.tenant_id == tenant_id, Customer.id == customer_id)
            )
            if valid_id(customer_id)
            else None
        )
        if customer is None:
            raise NotFound(f"no customer {customer_id!r}", field="customer_id")
    call_id = _text(call_id, "call_id", 40)
    caller_number = _text(caller_number, "caller_number", 40)
    subject = _text(subject, "subject", 200) or _text(fields.get("subject"), "fields.subject", 200)
    description = _text(description, "description", 4000) or _text(
        fields.get("description"), "fields.description", 4000
    )
    contact_name = (
        _text(contact_name, "contact_name", 200)
        or _text(fields.get("customer_name"), "fields.customer_name", 200)
        or (customer.name if customer else "")
    )
    contact_phone = (
        _text(contact_phone, "contact_phone", 40)
        or (fields.get("contact_phone") if isinstance(fields.get("contact_phone"), str) else "")
        or (customer.phone if customer else "")
        or caller_number
    )
    address = (
        _text(address, "address", 500)
        or _text(fields.get("address"), "fields.address", 500)
        or (customer.address if customer else "")
    )
    account_no = customer.account_no if customer else _text(fields.get("account_no"), "fields.account_no", 32)
    tz = await zone_of(s, tenant_id)
    local_day = now.astimezone(tz).date()
    # pre-fill the form from what is known (only fields of this type and subtype, only when empty)
    known: dict[str, Any] = {
        "subject": subject,
        "description": description,
        "customer_name": contact_name,
        "contact_phone": _maybe_phone(contact_phone),
        "address": address[:500],
        "account_no": account_no,
        "calling_number": _maybe_phone(caller_number),
        "receiving_agent": actor.name,
        "intake_date": local_day.isoformat(),
        "channel": channel,
    }
    for f in ttype.fields:
        if f.subtypes and subtype not in f.subtypes:
            continue
        if fields.get(f.name) in (None, "") and known.get(f.name):
            if f.kind == "choice" and known[f.name] not in f.choices:
                continue
            fields[f.name] = known[f.name]
    form = clean_form(ttype, fields, subtype=subtype or None)
    subject = subject or str(form.get("subject") or "") or ttype.label
    description = description or str(form.get("description") or "")
    contact_phone = str(form.get("contact_phone") or _maybe_phone(contact_phone) or contact_phone)[:40]
    contact_name = str(form.get("customer_name") or contact_name)[:200]
    address = str(form.get("address") or address)
    urgency_code = ttype.urgency(urgency).code
    area = area_class or str(form.get("area") or "") or "urban"
    if area not in AREA_CLASSES:
        raise Invalid(f"area_class must be one of: {', '.join(AREA_CLASSES)}", field="area_class")
    category = (
        _text(category, "category", 64)
        or str(form.get("business_category") or form.get("fault_kind") or "")[:64]
    )
    note = _text(note, "note", 4000)

    # units: the intake unit (the actor's, else the tenant's root) and the responsible one
    intake = None
    if actor.unit_id is not None:
        info = await unit_info(s, actor.unit_id)
        intake = info.id if info is not None and info.tenant_id == tenant_id else None
    if intake is None:
        intake = await _root_unit(s, tenant_id)
    target: int | None = None
    if unit_id is not None and unit_id != "":
        target = (await _unit(s, tenant_id, unit_id, "unit_id")).id
    elif dispatch:
        supply = await unit_info(s, customer.unit_id) if customer is not None else None
        target = await rules.resolve(
            s,
            tenant_id,
            type_code=type_code,
            category=category,
            customer=customer,
            address=address,
            unit_path=supply.path if supply else "",
        )
        if target is None and customer is not None:
            target = customer.unit_id

    # repeats
    repeat_of: int | None = None
    repeat_count = 0
    if customer is not None and type_code in repeat_types and repeat_days > 0:
        earlier = (
            await s.execute(
                select(Ticket.id, Ticket.repeat_count)
                .where(
                    Ticket.tenant_id == tenant_id,
                    Ticket.customer_id == customer.id,
                    Ticket.type_code == type_code,
                    Ticket.created_at >= now - timedelta(days=repeat_days),
                    Ticket.created_at <= now,
                )
                .order_by(Ticket.created_at.desc(), Ticket.id.desc())
                .limit(1)
            )
        ).first()
        if earlier is not None:
            repeat_of, repeat_count = earlier[0], (earlier[1] or 0) + 1

    opened = open_ticket(
        "new", type_code, actor=actor.name, now=now, workflow=wf, note=note, attachments=attachments
    )
    # the dispatch that comes with the creation, applied in memory: the row is written once, in
    # its final state, and the deadline clock is fed both actions at once
    outcomes = [opened]
    dispatched: UnitInfo | None = None
    if dispatch and target is not None and "dispatch" in allowed_actions(opened.state, workflow=wf):
        dispatched = await unit_info(s, target)
        if dispatched is None or dispatched.tenant_id != tenant_id:
            raise Invalid(f"no unit {target!r} in this tenant", field="unit_id")
        outcomes.append(
            apply(
                replace(opened.state, unit=str(intake)),
                Command("dispatch", actor.name, payload={"unit": str(dispatched.id)}),
                now,
                workflow=wf,
            )
        )
    final = outcomes[-1]
    values: dict[str, Any] = dict(
        tenant_id=tenant_id,
        number=f"new-{uuid.uuid4().hex[:24]}",
        type_code=type_code,
        subtype=subtype or "",
        urgency=urgency_code,
        channel=channel,
        unit_id=intake,
        intake_unit_id=intake,
        created_by=actor.user_id,
        customer_id=customer.id if customer else None,
        account_no=account_no,
        call_id=call_id,
        caller_number=caller_number,
        contact_name=contact_name,
        contact_phone=contact_phone,
        address=address,
        area_class=area,
        category=category,
        subject=subject,
        description=description,
        form=form,
        search=document(subject, description),
        overdue=False,
        overdue_seconds=0.0,
        escalations=0,
        repeat_of=repeat_of,
        repeat_count=repeat_count,
        created_at=now,
    )
    values.update(state_values(final.state))
    values["closed_at"] = now if wf.is_terminal(final.state.state) else None
    row = new_object(Ticket, values)
    clock = await sla.plan_new(s, row, outcomes, now)
    row.due_at, row.overdue = clock.due_at, clock.overdue
    outage = None
    if type_code == "fault_repair":  # it decides itself (customer's area, or an outage on the form)
        outage = await incidents.outage_for(s, row, now, customer=customer)
    return Draft(
        tenant_id=tenant_id,
        values={k: v for k, v in row.__dict__.items() if k in _DRAFT_KEYS},
        ttype=ttype,
        actor=actor,
        opened=opened,
        final=final,
        dispatched=dispatched,
        intake_code=await unit_code(s, intake),
        clock=clock,
        outage=outage,
        local_day=local_day,
        now=now,
        row=row,
    )


#: the columns a draft keeps (the id and the number are given at the write)
_DRAFT_KEYS = frozenset(c.key for c in Ticket.__table__.columns) - {"id", "number"}


def _set_number(row: Ticket, d: Draft) -> None:
    row.number = f"GD{d.local_day:%Y%m%d}-{row.id:07d}"
    form = d.values.get("form") or {}
    if d.ttype.field("number") is not None and not form.get("number"):
        row.form = {**form, "number": row.number}


async def write_drafts(
    s: AsyncSession, drafts: Sequence[Draft], *, persistent: bool = False, ids: Sequence[int] | None = None
) -> list[Change]:
    """Write new work orders in the caller's transaction: one INSERT per table for the whole
    batch (tickets, history, contact entries, deadline steps and timers; no ORM flush). With
    ``persistent`` the tickets are then persistent in ``s`` (for later ORM work in the same
    session); otherwise they are transient, fully loaded objects. Drafts can be written again
    after a failed attempt (nothing in them is bound to a session).

    On PostgreSQL the INSERTs go as ONE statement (:func:`~hotline.store.bulk.one_statement`;
    the caller may widen it to its own rows); the history rows' ids are set once it is written.
    ``ids``: the tickets' ids, one per draft, taken beforehand (:func:`take_ids`)."""
    async with one_statement(s):
        return await _write_drafts(s, drafts, persistent=persistent, ids=ids)


def one_statement_draft(d: Draft) -> bool:
    """Whether writing ``d`` (with its id taken beforehand) takes no statement but its INSERTs:
    neither uploads to bind nor an outage incident to count (:func:`write_drafts`)."""
    return d.outage is None and not d.opened.entry.attachments


async def _write_drafts(
    s: AsyncSession, drafts: Sequence[Draft], *, persistent: bool, ids: Sequence[int] | None
) -> list[Change]:
    if ids is not None and len(ids) != len(drafts):
        raise ValueError(f"{len(ids)} ids for {len(drafts)} drafts")
    rows: list[Ticket] = []
    numbered = True
    for i, d in enumerate(drafts):
        row, d.row = (d.row, None) if d.row is not None else (new_object(Ticket, d.values), None)
        ident = ids[i] if ids is not None else await _reserve_id(s)
        if ident is None:  # SQLite: the INSERT gives the id, the number follows
            row.number = f"new-{uuid.uuid4().hex[:24]}"
            numbered = False
        else:  # PostgreSQL: the id (so the number) is known before the INSERT
            row.id = ident
            _set_number(row, d)
        if d.outage is not None:
            row.outage_id = d.outage.id
        rows.append(row)
    await insert_objects(s, rows)
    if not numbered:
        for row, d in zip(rows, drafts, strict=True):
            _set_number(row, d)
        tbl: Any = Ticket.__table__
        await s.execute(
            update(tbl)
            .where(tbl.c.id == bindparam("b_id"))
            .values(number=bindparam("b_number"), form=bindparam("b_form", type_=tbl.c.form.type)),
            [{"b_id": r.id, "b_number": r.number, "b_form": r.form} for r in rows],
        )
    if persistent:
        attach_rows(s, rows)
    all_entries: list[list[TicketHistory]] = []
    contacts: list[ContactEntry] = []
    for row, d in zip(rows, drafts, strict=True):
        entries = [_history_row(d.tenant_id, row.id, d.actor, d.opened)]
        if d.outage is not None:
            entries.append(
                incidents.linked_entry(
                    row, d.outage, d.now, state=d.opened.state.state, version=d.opened.state.version
                )
            )
        if d.dispatched is not None:
            entries.append(
                _history_row(d.tenant_id, row.id, d.actor, d.final, {"unit_code": d.dispatched.code})
            )
        all_entries.append(entries)
        contact = _contact_entry(
            row,
            d.actor,
            f"{row.number} {d.ttype.label}: {row.subject}",
            d.now,
            {
                "ticket_id": row.id,
                "number": row.number,
                "action": "accept",
                **({"call_id": row.call_id} if row.call_id else {}),
            },
        )
        if contact is not None:
            contacts.append(contact)
        d.clock.bind(row.id, row.number)
    await insert_objects(s, [h for entries in all_entries for h in entries])
    await insert_objects(s, contacts)
    if any(d.opened.entry.attachments for d in drafts):
        await flush_inserts(s)  # the orders exist before their uploads point at them
    for row, d in zip(rows, drafts, strict=True):
        if d.opened.entry.attachments:
            await attach.bind(s, d.tenant_id, row.id, list(d.opened.entry.attachments))
    await sla.write(s, [d.clock.result for d in drafts], summary=False)
    if any(d.outage is not None for d in drafts):
        await flush_inserts(s)  # the incident's count includes these orders
    out: list[Change] = []
    for row, d, entries in zip(rows, drafts, all_entries, strict=True):
        accepted = ticket_event(row, "accept", from_state=None, unit_code=d.intake_code)
        accepted["data"].update(
            state=d.opened.state.state,
            version=d.opened.state.version,
            unit_id=row.intake_unit_id,
            handler_id=None,
        )
        events: list[dict[str, Any]] = [accepted]
        if d.outage is not None:
            events.extend(await incidents.linked_events(s, row, d.outage))
        if d.dispatched is not None:
            events.append(
                ticket_event(row, "dispatch", from_state=d.opened.state.state, unit_code=d.dispatched.code)
            )
        events.extend(d.clock.events)
        out.append(
            Change(
                ticket=row,
                entry=entries[-1],
                events=tuple(events),
                entries=tuple(entries),
                next_timer=d.clock.next_timer,
                deadlines=tuple(d.clock.deadlines),
            )
        )
    return out


#: PostgreSQL ids taken from the tickets' sequence ahead of use, per database (a restart leaves
#: a gap in the numbers, as any sequence may; a block unused for a minute is dropped)
_ID_BLOCKS: Cache[str, list[int]] = Cache((), ttl=60.0)
ID_BLOCK = 50
#: the advisory lock under which ids are taken from the sequence in blocks (here, and by the
#: bulk generator, which reserves its whole range: :func:`reserve_ids`)
ID_LOCK = 0x7469636B


async def _reserve_id(s: AsyncSession) -> int | None:
    """The next ticket id on PostgreSQL (one round trip per :data:`ID_BLOCK` orders); None on
    SQLite, where the INSERT assigns it."""
    bind = s.get_bind()
    if bind.dialect.name != "postgresql":
        return None
    key = db_key(s)
    block = _ID_BLOCKS.get(key)
    if not block:
        mark = _ID_BLOCKS.mark()
        await s.execute(select(func.pg_advisory_xact_lock(ID_LOCK)))
        got = await s.scalars(
            select(func.nextval(literal_column("pg_get_serial_sequence('tickets', 'id')"))).select_from(
                func.generate_series(1, ID_BLOCK)
            )
        )
        block = _ID_BLOCKS.put(key, sorted(got.all(), reverse=True), mark)
    return block.pop()


async def take_ids(factory: async_sessionmaker[AsyncSession], count: int) -> list[int] | None:
    """``count`` ticket ids for this process on PostgreSQL (from its block; a block is taken in a
    transaction of its own when too few are left), so that writing the orders needs no statement
    but their INSERTs; None elsewhere (SQLite: the INSERT assigns the id)."""
    out: list[int] = []
    async with factory() as s:
        if s.get_bind().dialect.name != "postgresql":
            return None
        key = db_key(s)
        while len(out) < count:
            block = _ID_BLOCKS.get(key)
            if block:
                out.append(block.pop())
                continue
            async with s.begin():
                ident = await _reserve_id(s)
            assert ident is not None
            out.append(ident)
    return out


async def reserve_ids(conn: Any, count: int) -> int:
    """Reserve ``count`` consecutive ticket ids on PostgreSQL for a bulk load, in the caller's
    transaction (under the lock the servers take their blocks under, so nobody else is handed one
    of them); the first id."""
    await conn.execute(select(func.pg_advisory_xact_lock(ID_LOCK)))
    seq = str(await conn.scalar(text("SELECT pg_get_serial_sequence('tickets', 'id')")))
    last = await conn.scalar(text("SELECT pg_sequence_last_value(CAST(:seq AS regclass))"), {"seq": seq})
    top = await conn.scalar(select(func.max(Ticket.id)))
    first = max(int(last or 0), int(top or 0)) + 1
    await conn.execute(
        text("SELECT setval(CAST(:seq AS regclass), :last)"), {"seq": seq, "last": first + count - 1}
    )
    return first


async def act(
    s: AsyncSession,
    tenant_id: int,
    key: int | str,
    command: Command,
    *,
    actor: Actor,
    now: datetime | None = None,
    call_id: str = "",
) -> Change:
    """Carry out a workflow action on a ticket (see the module docstring). ``command.payload``
    may name units by code or id, handlers by username or id, the merge target by id or number;
    ``call_id`` names the call of an urge or revisit for the contact history."""
    now = _now(now)
    row = await get_ticket(s, tenant_id, key, fresh=True)
    types = await types_for(s, tenant_id)
    wf = _workflow(types, row.type_code)
    t = types.get(row.type_code)
    entry, events = await _transition(
        s,
        tenant_id,
        row,
        wf,
        command,
        actor,
        now,
        call_id=_text(call_id, "call_id", 40),
        type_label=t.label if t else "",
    )
    return Change(
        ticket=row,
        entry=entry,
        events=tuple(events),
        entries=(entry,),
        next_timer=s.info.pop("next_timer", None),
    )


async def update_fields(
    s: AsyncSession,
    tenant_id: int,
    key: int | str,
    *,
    version: int,
    actor: Actor,
    changes: Mapping[str, Any],
    now: datetime | None = None,
) -> Change:
    """Edit the ticket's data fields (:data:`EDITABLE`; ``form`` is merged over the stored form
    and validated again) — history ``update`` listing the fields changed; refused (409) once the
    ticket is closed; StaleVersion (409) when ``version`` is not the ticket's."""
    now = _now(now)
    row = await get_ticket(s, tenant_id, key, fresh=True)
    if row.version != version:
        raise StaleVersion(f"ticket {row.number} is at version {row.version}, not {version}", field="version")
    types = await types_for(s, tenant_id)
    wf = _workflow(types, row.type_code)
    if wf.is_terminal(row.state):
        raise Refused(
            f"ticket {row.number} is {row.state}: its fields cannot change",
            state=row.state,
            allowed=allowed_actions(state_of(row), workflow=wf),
        )
    for k in changes:
        if k not in EDITABLE:
            raise Invalid(f"{k!r} cannot be edited; editable: {', '.join(EDITABLE)}", field=k)
    values: dict[str, Any] = {}
    if "subject" in changes:
        values["subject"] = _text(changes["subject"], "subject", 200, required=True)
    if "description" in changes:
        values["description"] = _text(changes["description"], "description", 4000)
    if "category" in changes:
        values["category"] = _text(changes["category"], "category", 64)
    if "address" in changes:
        values["address"] = _text(changes["address"], "address", 500)
    if "contact_name" in changes:
        values["contact_name"] = _text(changes["contact_name"], "contact_name", 200)
    if "contact_phone" in changes:
        phone = _text(changes["contact_phone"], "contact_phone", 40)
        if phone:
            try:
                phone = normalize_phone(phone)
            except HotlineError:
                raise Invalid(f"{phone!r} is not a phone number", field="contact_phone") from None
        values["contact_phone"] = phone
    if "urgency" in changes:
        t = types.get(row.type_code)
        if t is None:
            raise Invalid(f"the type {row.type_code!r} no longer exists", field="urgency")
        values["urgency"] = t.urgency(changes["urgency"]).code
    if "area_class" in changes:
        if changes["area_class"] not in AREA_CLASSES:
            raise Invalid(f"area_class must be one of: {', '.join(AREA_CLASSES)}", field="area_class")
        values["area_class"] = changes["area_class"]
    if "form" in changes:
        if not isinstance(changes["form"], Mapping):
            raise Invalid("form must be an object", field="form")
        t = types.get(row.type_code)
        if t is None:
            raise Invalid(f"the type {row.type_code!r} no longer exists", field="form")
        merged = {**dict(row.form or {}), **dict(changes["form"])}
        try:
            values["form"] = clean_form(t, merged, subtype=row.subtype or None)
        except Invalid as exc:
            raise Invalid(f"form.{exc.detail}", field=f"form.{exc.field}" if exc.field else "form") from None
    changed = sorted(k for k, v in values.items() if getattr(row, k) != v)
    if not changed:
        return Change(ticket=row, entry=None, events=())
    values = {k: values[k] for k in changed}
    if "subject" in values or "description" in values:
        values["search"] = document(
            values.get("subject", row.subject), values.get("description", row.description)
        )
    values["version"] = row.version + 1
    values["changed_at"] = now
    old = row.version
    before_state = row.state
    await _guarded_update(s, row, old, values)
    # the deadlines depend on the urgency (its rules) and the area (a repair's arrival limit)
    replanned = (
        await sla.on_reclassified(s, row, now) if "urgency" in values or "area_class" in values else []
    )
    entry = TicketHistory(
        tenant_id=tenant_id,
        ticket_id=row.id,
        at=now,
        user_id=actor.user_id,
        actor=actor.name,
        action="update",
        from_state=before_state,
        to_state=row.state,
        note="",
        attachments=[],
        data={"fields": changed},
        version=row.version,
    )
    s.add(entry)
    await s.flush()
    events = (
        ticket_event(row, "update", from_state=before_state, unit_code=await unit_code(s, row.unit_id)),
        *replanned,
    )
    return Change(
        ticket=row, entry=entry, events=events, entries=(entry,), next_timer=s.info.pop("next_timer", None)
    )


# -- queries ------------------------------------------------------------------------------------------


async def open_for_customer(s: AsyncSession, tenant_id: int, customer_id: int) -> list[dict[str, Any]]:
    """The customer's open orders, newest first (at most 20) — the screen pop's "open work
    orders" (``id``, ``number``, ``title``, ``status``, ``type``, ``created_at``, …)."""
    rows = (
        await s.execute(
            select(Ticket, Unit.code)
            .join(Unit, Unit.id == Ticket.unit_id)
            .where(
                Ticket.tenant_id == tenant_id,
                Ticket.customer_id == customer_id,
                Ticket.closed_at.is_(None),
            )
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(20)
        )
    ).all()
    types = await types_for(s, tenant_id) if rows else {}
    out = []
    for t, code in rows:
        tt = types.get(t.type_code)
        label = tt.label if tt else t.type_code
        out.append(
            {
                "id": t.id,
                "number": t.number,
                "title": f"{t.number} {label}: {t.subject}",
                "status": t.state,
                "state_label": (tt.workflow if tt else DEFAULT_WORKFLOW).labels.get(t.state, t.state),
                "type": t.type_code,
                "type_label": label,
                "subject": t.subject,
                "unit": code,
                "urges": t.urges,
                "overdue": bool(t.overdue),
                "due_at": t.due_at.isoformat() if t.due_at else None,
                "version": t.version,
                "created_at": t.created_at.isoformat(),
            }
        )
    return out


screenpop.OPEN_ORDER_PROVIDERS[:] = [
    p for p in screenpop.OPEN_ORDER_PROVIDERS if getattr(p, "__qualname__", "") != "open_for_customer"
]
screenpop.OPEN_ORDER_PROVIDERS.append(open_for_customer)


async def list_tickets(
    s: AsyncSession,
    tenant_id: int,
    f: TicketFilter,
    *,
    scope_paths: Sequence[str] | None = None,
    scope: DataScope | None = None,
    now: datetime | None = None,
) -> tuple[list[Ticket], tuple[datetime, int] | None]:
    """Tickets matching ``f``, newest first (keyset on (created_at, id)); the ``after`` of the
    next page, or None on the last page.

    What the reader may see: ``scope`` (:func:`hotline.auth.policy.data_scope` of ``ticket.read``:
    exact units, subtrees and the tickets they handle, OR-ed; empty: nothing) or ``scope_paths``
    (subtree paths; []: nothing). Both None: the whole tenant."""
    now = _now(now)
    if isinstance(f.limit, bool) or not 1 <= f.limit <= MAX_LIMIT:
        raise Invalid(f"limit must be from 1 to {MAX_LIMIT}", field="limit")
    q = select(Ticket).where(Ticket.tenant_id == tenant_id)
    # the units the reader may see and the filter names, as id lists (units are few; a list lets
    # the database use the (tenant, unit, state, created) index)
    visible: set[int] | None = None
    owner: int | None = None
    root = f"/{await _root_unit(s, tenant_id)}/"
    if scope is not None and not scope.everything:
        if scope.empty:
            return [], None
        if root not in scope.unit_prefixes:
            visible = set()
            if scope.unit_paths:
                visible |= set(
                    (
                        await s.scalars(
                            select(Unit.id).where(
                                Unit.tenant_id == tenant_id, Unit.path.in_(list(scope.unit_paths))
                            )
                        )
                    ).all()
                )
            if scope.unit_prefixes:
                visible |= await _subtree_ids(s, tenant_id, sorted(scope.unit_prefixes))
            owner = scope.owner_id
    elif scope is None and scope_paths is not None:
        if not scope_paths:
            return [], None
        if root not in scope_paths:
            visible = await _subtree_ids(s, tenant_id, scope_paths)
    if visible is not None:
        if owner is not None:
            q = q.where(or_(Ticket.unit_id.in_(sorted(visible)), Ticket.handler_id == owner))
        elif not visible:
            return [], None
        else:
            q = q.where(Ticket.unit_id.in_(sorted(visible)))
    if f.unit_id is not None:
        info = await unit_info(s, f.unit_id)
        if info is None or info.tenant_id != tenant_id:
            return [], None
        if not f.subtree:
            q = q.where(Ticket.unit_id == info.id)
        else:
            wanted = await _subtree_ids(s, tenant_id, [info.path])
            if owner is None and visible is not None:
                wanted &= visible
                if not wanted:
                    return [], None
            q = q.where(Ticket.unit_id.in_(sorted(wanted)))
    if f.due_before is not None:
        q = q.where(Ticket.due_at < f.due_before)
    if f.type:
        q = q.where(Ticket.type_code == f.type)
    if f.state:
        q = q.where(Ticket.state.in_(list(f.state)))
    if f.handler_id is not None:
        q = q.where(Ticket.handler_id == f.handler_id)
    if f.customer_id is not None:
        q = q.where(Ticket.customer_id == f.customer_id)
    if f.account_no:
        # through the customer (indexed) when the account is one; else the order's own field
        cid = await s.scalar(
            select(Customer.id).where(Customer.tenant_id == tenant_id, Customer.account_no == f.account_no)
        )
        q = (
            q.where(Ticket.customer_id == cid)
            if cid is not None
            else q.where(Ticket.account_no == f.account_no)
        )
    if f.created_from is not None:
        q = q.where(Ticket.created_at >= f.created_from)
    if f.created_to is not None:
        q = q.where(Ticket.created_at < f.created_to)
    if f.open_only:
        q = q.where(Ticket.closed_at.is_(None))
    if f.outage_id is not None:
        q = q.where(Ticket.outage_id == f.outage_id)
    if f.call_id:
        q = q.where(Ticket.call_id == f.call_id)
    if f.overdue is not None:
        if f.open_only and not f.overdue and f.due_before is not None:
            # open, not late and due before: a range of the open orders' index by deadline
            # (the overdue board's "due soon"), where the general form below walks every order
            q = q.where(Ticket.overdue.is_not(True), Ticket.due_at >= now)
        else:
            late = or_(
                Ticket.overdue.is_(True),
                and_(Ticket.closed_at.is_(None), Ticket.due_at.is_not(None), Ticket.due_at < now),
            )
            q = q.where(late if f.overdue else ~late)
    if f.q and f.q.strip():
        text = f.q.strip()
        if NUMBER_RE.match(text.upper()):
            q = q.where(Ticket.number == text.upper())
        else:
            for tok in query_tokens(text):
                # the pattern written into the statement (tokens are letters, digits and CJK
                # characters only): PostgreSQL then plans for this word — the newest-first index
                # for a common one, the trigram index for a rare one — where a prepared
                # statement's generic plan would take the trigram index for every word
                q = q.where(Ticket.search.like(literal(f"% {tok} %", literal_execute=True)))
    if f.after is not None:
        at, last = f.after
        # a row-value comparison: PostgreSQL turns it into one index range
        q = q.where(tuple_(Ticket.created_at, Ticket.id) < tuple_(literal(at, UTCDateTime()), literal(last)))
    q = q.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(f.limit + 1)
    rows = list((await s.scalars(q)).all())
    more = len(rows) > f.limit
    rows = rows[: f.limit]
    nxt = (rows[-1].created_at, rows[-1].id) if more and rows else None
    return rows, nxt


_SUBTREES: Cache[tuple[str, int, tuple[str, ...]], frozenset[int]] = Cache(("units",))


async def _subtree_ids(s: AsyncSession, tenant_id: int, paths: Sequence[str]) -> set[int]:
    async def load() -> frozenset[int]:
        q = select(Unit.id).where(Unit.tenant_id == tenant_id, or_(*[Unit.path.like(p + "%") for p in paths]))
        return frozenset((await s.scalars(q)).all())

    return set(await _SUBTREES.fetch((db_key(s), tenant_id, tuple(sorted(paths))), load))


def cursor_text(after: tuple[datetime, int]) -> str:
    """An opaque paging cursor for the API (``<iso time>_<id>``)."""
    return timeline.cursor_of(after[0], after[1])


def parse_cursor(text: str) -> tuple[datetime, int]:
    """The ``after`` of a cursor from :func:`cursor_text`; Invalid (field ``after``) if bad."""
    try:
        return timeline.parse_cursor(text)
    except Invalid:
        raise Invalid(f"bad cursor {text!r}", field="after") from None
