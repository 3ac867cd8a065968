"""Work orders (工单) API: create, list, read, change fields, workflow actions, attachments.

Permissions (docs/access.md; a ticket lies in its responsible unit, its handler owns it):

- reading (``GET …/tickets``, ``…/{key}``, ``…/history``, attachments): ``ticket.read`` over the
  ticket (lists are filtered to the reader's grants: tenant, unit, subtree, own = handler);
- creating: ``ticket.write`` over the unit named in the body, else the creator's own (intake) unit;
- changing fields (``PATCH``): ``ticket.write`` or ``ticket.review`` over the ticket;
- actions: :data:`ACTION_PERMS` over the ticket's current unit (dispatch and forward need nothing
  over the target unit: the center dispatches anywhere, a unit forwards down its own tree);
- uploading an attachment: ``ticket.write`` or ``ticket.handle`` in any scope.

Errors: an action the workflow does not allow now is 409 with ``state`` and ``allowed`` in the
problem document; a stale ``version`` is 409 with the current ``version``; bad bodies are 422
naming the field. Every change is audited (``ticket.create``, ``ticket.update``,
``ticket.<action>``) and so is every single read of an order about a customer
(``ticket.read``). Live events (``ticket``, ``ticket_deadline``) are published after commit;
webhooks subscribed to ``ticket*`` receive them.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import audit
from hotline.auth.policy import DataScope, Perm, Principal, Resource, allows, can_at_all, data_scope
from hotline.crm.facts import CustomerFacts, CustomerRow, customer_rows
from hotline.errors import HotlineError, Invalid, NotFound
from hotline.store.batch import KeyLoader
from hotline.store.cache import Cache, db_key
from hotline.store.db import reads, transaction
from hotline.store.lookup import unit_path
from hotline.store.models import AuditEntry, Customer, Ticket, TicketAttachment, TicketHistory, Unit, User
from hotline.store.types import MAX_ID, utcnow, valid_id
from hotline.tickets import attachments as files
from hotline.tickets import events as ticket_events
from hotline.tickets import service as svc
from hotline.tickets import sla
from hotline.tickets.workflow import (
    ACTIONS,
    CHANNELS,
    DEFAULT_WORKFLOW,
    MAX_ATTACHMENTS,
    MAX_NOTE,
    Command,
    Refused,
    StaleVersion,
    TicketType,
    allowed_actions,
)
from hotline.tickets.writer import writer_for
from hotline.web.api.schemas import Strict
from hotline.web.api.screenpop import _call, _chosen, _may_read_call
from hotline.web.context import Ctx, CtxDep

router = APIRouter(tags=["tickets"])
#: ``/api/v1/tickets`` itself (create, list): matched before every other router (app.py), being
#: the busiest paths of the API; no other route's path can match them
collection = APIRouter(tags=["tickets"])
PREFIX = "/api/v1/tickets"

W, H, R = Perm.TICKET_WRITE, Perm.TICKET_HANDLE, Perm.TICKET_REVIEW
#: which permissions (any of them, over the ticket's unit) allow each workflow action
ACTION_PERMS: dict[str, tuple[Perm, ...]] = {
    **{a: (W, R) for a in ("dispatch", "urge", "revisit", "reopen")},
    **{a: (H,) for a in ("acknowledge", "start", "hold", "resume", "reply", "forward")},
    **{a: (R,) for a in ("review", "return", "cancel", "merge", "archive")},
}
assert set(ACTION_PERMS) == set(ACTIONS)

ActionName = Literal[
    "dispatch", "acknowledge", "start", "hold", "resume", "reply", "review", "return", "revisit",
    "reopen", "archive", "cancel", "merge", "forward", "urge",
]  # fmt: skip
AreaClass = Literal["urban", "rural", "remote"]
Channel = Literal["phone", "web", "app", "wechat", "sms", "email", "letter", "visit"]
assert set(Channel.__args__) == set(CHANNELS)  # type: ignore[attr-defined]
MAX_LIMIT = 200

# -- bodies ---------------------------------------------------------------------------------------

CREATE_EXAMPLE: dict[str, Any] = {
    "type": "fault_repair",
    "urgency": "urgent",
    "channel": "phone",
    "subject": "上坊村 12 号停电",
    "description": "客户反映家中无电，邻居家有电。",
    "fields": {"fault_kind": "no_power_single", "area": "rural", "contact_phone": "13912340001",
               "address": "南京市江宁区东山街道上坊村 12 号", "description": "家中无电"},
    "customer": "3201001001",
    "call_id": "",
    "area_class": "rural",
    "dispatch": True,
}  # fmt: skip


class TicketIn(Strict):
    type: str = Field(min_length=1, max_length=64, examples=["fault_repair"], description="ticket type code")
    subtype: str = Field("", max_length=64, examples=[""], description="service_application: its subtype")
    urgency: str | None = Field(None, max_length=32, examples=["urgent"], description="default: the type's")
    channel: Channel = Field("phone", examples=["phone"])
    subject: str = Field(min_length=1, max_length=200, examples=["上坊村 12 号停电"])
    description: str = Field("", max_length=MAX_NOTE, examples=["客户反映家中无电，邻居家有电。"])
    fields: dict[str, Any] = Field(
        default_factory=dict, description="the type's form (GET /api/v1/ticket-types lists the fields)"
    )
    customer: int | str | None = Field(
        None, examples=["3201001001"], description="customer id (number) or account number (text)"
    )
    call_id: str = Field(
        "", max_length=40, description="the call this order comes from: caller number and linked customer"
    )
    contact_name: str = Field("", max_length=200, examples=["周建国"])
    contact_phone: str = Field("", max_length=40, examples=["13912340001"])
    address: str = Field("", max_length=500, examples=["南京市江宁区东山街道上坊村 12 号"])
    area_class: AreaClass | None = Field(None, examples=["rural"], description="repair deadlines by area")
    category: str = Field("", max_length=64, examples=["outage"], description="business category (业务类别)")
    unit: int | str | None = Field(
        None, examples=["js.nj.jn.ds"], description="responsible unit (code or id); default: dispatch rules"
    )
    dispatch: bool = Field(True, description="dispatch at once when a responsible unit was found")
    attachments: list[str] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    note: str = Field("", max_length=MAX_NOTE)

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [CREATE_EXAMPLE]}
    )


class TicketPatch(Strict):
    """Fields to change (only those sent); ``version`` is the one read (409 when it moved on)."""

    version: int = Field(ge=1, examples=[3])
    subject: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = Field(None, max_length=MAX_NOTE)
    fields: dict[str, Any] | None = Field(None, description="form fields to change (merged into the form)")
    urgency: str | None = Field(None, max_length=32)
    contact_name: str | None = Field(None, max_length=200)
    contact_phone: str | None = Field(None, max_length=40)
    address: str | None = Field(None, max_length=500)
    area_class: AreaClass | None = None
    category: str | None = Field(None, max_length=64)

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"version": 3, "urgency": "critical", "contact_phone": "13912340009"}]
        },
    )


class ActionIn(Strict):
    action: ActionName = Field(examples=["reply"])
    version: int = Field(ge=1, examples=[4], description="the version read (409 when it moved on)")
    note: str = Field("", max_length=MAX_NOTE, examples=["已更换熔断器，恢复供电。"])
    attachments: list[str] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    call_id: str = Field("", max_length=40, description="urge / revisit: the call it was made on")
    payload: dict[str, Any] = Field(
        default_factory=dict,
        description="dispatch/forward: unit (code or id), handler; acknowledge: handler; hold: "
        "waiting_for (customer, third_party, other); reply: substantiated; revisit: satisfaction "
        "(satisfied, basically_satisfied, dissatisfied), comment, method; merge: into (id or number)",
    )

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"action": "dispatch", "version": 1, "payload": {"unit": "js.nj.jn.ds"}},
                {"action": "reply", "version": 4, "note": "已更换熔断器，恢复供电。",
                 "payload": {"substantiated": True}},
                {"action": "revisit", "version": 6, "payload": {"satisfaction": "satisfied"}},
            ]
        },
    )  # fmt: skip


# -- answers ---------------------------------------------------------------------------------------


class HistoryOut(BaseModel):
    id: int
    at: datetime
    user_id: int | None
    actor: str = Field(examples=["li.na"])
    action: str = Field(examples=["dispatch"])
    from_state: str | None
    to_state: str
    note: str
    attachments: list[Any]
    data: dict[str, Any]
    version: int


class AttachmentOut(BaseModel):
    id: str
    ticket_id: int | None
    filename: str = Field(examples=["meter.jpg"])
    content_type: str = Field(examples=["image/jpeg"])
    size: int
    sha256: str
    uploaded_by: int | None
    created_at: datetime
    url: str | None = Field(None, description="download link once bound to an order")


class DeadlineOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    step: str = Field(examples=["arrive"])
    started_at: datetime | None = None
    due_at: datetime | None = None
    warn_at: datetime | None = None
    done_at: datetime | None = None
    overdue_seconds: float = 0.0
    paused: bool = False


class TicketOut(BaseModel):
    id: int
    number: str = Field(examples=["GD20261123-0000042"])
    type: str = Field(examples=["fault_repair"])
    type_label: str = Field(examples=["故障报修"])
    subtype: str
    urgency: str
    state: str = Field(examples=["dispatched"])
    state_label: str = Field(examples=["派发"])
    version: int
    changed_at: datetime
    channel: str
    unit_id: int
    unit: str = Field(examples=["js.nj.jn.ds"], description="responsible unit's code")
    unit_name: str
    handler_id: int | None
    handler: str | None = Field(None, description="the handler's user name")
    intake_unit_id: int | None
    created_by: int | None
    customer_id: int | None
    account_no: str
    call_id: str
    caller_number: str
    contact_name: str
    contact_phone: str
    address: str
    area_class: str
    category: str
    subject: str
    description: str
    fields: dict[str, Any] = Field(description="the type's form values")
    held_from: str | None
    held_since: datetime | None
    held_seconds: float
    replied_at: datetime | None
    substantiated: bool | None
    returns: int
    reopens: int
    satisfaction: str | None
    urges: int
    merged_into: int | None
    closed_at: datetime | None
    due_at: datetime | None
    overdue: bool
    overdue_seconds: float
    escalations: int
    repeat_of: int | None
    repeat_count: int
    outage_id: int | None
    created_at: datetime
    allowed: list[str] = Field(
        description="actions the workflow allows now AND the reader's permissions allow", examples=[["urge"]]
    )
    history: list[HistoryOut] | None = Field(None, description="single reads: every transition, oldest first")
    deadlines: list[DeadlineOut] | None = Field(None, description="single reads: the SLA steps")
    attachments: list[AttachmentOut] | None = Field(None, description="single reads")


class TicketPage(BaseModel):
    items: list[TicketOut]
    limit: int
    next: str | None = Field(None, description="pass as `after` for the next (older) page; null at the end")


# -- helpers ----------------------------------------------------------------------------------------


def resource_of(row: Ticket, path: str) -> Resource:
    return Resource("ticket", row.tenant_id, path, row.handler_id, str(row.id))


def permitted_actions(principal: Principal, res: Resource, possible: Iterable[str]) -> list[str]:
    """The actions of ``possible`` the principal's permissions allow over the ticket."""
    return [a for a in possible if any(allows(principal, p, res) for p in ACTION_PERMS.get(a, ()))]


def read_scope(principal: Principal, perm: Perm = Perm.TICKET_READ) -> DataScope | None:
    """What the reader may see of tickets (None: the whole tenant), as ``Grant.covers`` decides:
    ``unit`` grants their unit exactly, ``subtree`` the unit and below, ``own`` the tickets the
    reader handles."""
    scope = data_scope(principal, perm)
    return None if scope.everything else scope


def _key(key: str) -> int | str:
    return int(key) if key.isdecimal() else key


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value


#: unit code, name and path by (database, id) (:mod:`hotline.store.cache`)
_UNIT_NAMES: Cache[tuple[str, int], tuple[str, str, str]] = Cache(("units",), maxsize=100_000)
_USER_NAMES: Cache[tuple[str, int], str] = Cache(("users",), maxsize=100_000)


class _Names:
    """Unit codes/names/paths and user names of a batch of tickets, in two queries."""

    def __init__(self) -> None:
        self.units: dict[int, tuple[str, str, str]] = {}
        self.users: dict[int, str] = {}

    @classmethod
    async def load(cls, s: AsyncSession, rows: Sequence[Ticket]) -> _Names:
        n = cls()
        db = db_key(s)
        tenants: set[int] = set()
        for r in rows:
            hit = _UNIT_NAMES.get((db, r.unit_id))
            if hit is not None:
                n.units[r.unit_id] = hit
            else:
                tenants.add(r.tenant_id)
        if tenants:
            # every unit of those tenants at once: the next orders, in other units, find theirs
            # (one query per tenant every few seconds, not one per unit)
            mark = _UNIT_NAMES.mark()
            for uid, code, name, path in await s.execute(
                select(Unit.id, Unit.code, Unit.name, Unit.path).where(Unit.tenant_id.in_(tenants))
            ):
                n.units[uid] = _UNIT_NAMES.put((db, uid), (code, name, path), mark)
        user_ids: set[int] = set()
        for r in rows:
            if r.handler_id is not None:
                known = _USER_NAMES.get((db, r.handler_id))
                if known is not None:
                    n.users[r.handler_id] = known
                else:
                    user_ids.add(r.handler_id)
        if user_ids:
            mark = _USER_NAMES.mark()
            for uid, username in await s.execute(select(User.id, User.username).where(User.id.in_(user_ids))):
                n.users[uid] = _USER_NAMES.put((db, uid), username, mark)
        return n

    def path(self, row: Ticket) -> str:
        return self.units.get(row.unit_id, ("", "", ""))[2]


def ticket_out(row: Ticket, names: _Names, types: dict[str, TicketType], principal: Principal) -> TicketOut:
    t = types.get(row.type_code)
    wf = t.workflow if t is not None else DEFAULT_WORKFLOW
    code, uname, path = names.units.get(row.unit_id, ("", "", ""))
    possible = allowed_actions(svc.state_of(row), workflow=wf)
    return TicketOut(
        id=row.id,
        number=row.number,
        type=row.type_code,
        type_label=t.label if t is not None else row.type_code,
        subtype=row.subtype,
        urgency=row.urgency,
        state=row.state,
        state_label=wf.labels.get(row.state, row.state),
        version=row.version,
        changed_at=row.changed_at,
        channel=row.channel,
        unit_id=row.unit_id,
        unit=code,
        unit_name=uname,
        handler_id=row.handler_id,
        handler=names.users.get(row.handler_id) if row.handler_id is not None else None,
        intake_unit_id=row.intake_unit_id,
        created_by=row.created_by,
        customer_id=row.customer_id,
        account_no=row.account_no,
        call_id=row.call_id,
        caller_number=row.caller_number,
        contact_name=row.contact_name,
        contact_phone=row.contact_phone,
        address=row.address,
        area_class=row.area_class,
        category=row.category,
        subject=row.subject,
        description=row.description,
        fields=dict(row.form or {}),
        held_from=row.held_from,
        held_since=row.held_since,
        held_seconds=row.held_seconds,
        replied_at=row.replied_at,
        substantiated=row.substantiated,
        returns=row.returns,
        reopens=row.reopens,
        satisfaction=row.satisfaction,
        urges=row.urges,
        merged_into=row.merged_into,
        closed_at=row.closed_at,
        due_at=row.due_at,
        overdue=row.overdue,
        overdue_seconds=row.overdue_seconds,
        escalations=row.escalations,
        repeat_of=row.repeat_of,
        repeat_count=row.repeat_count,
        outage_id=row.outage_id,
        created_at=row.created_at,
        allowed=permitted_actions(principal, resource_of(row, path), possible),
    )


def history_out(h: TicketHistory) -> HistoryOut:
    return HistoryOut(
        id=h.id,
        at=h.at,
        user_id=h.user_id,
        actor=h.actor,
        action=h.action,
        from_state=h.from_state,
        to_state=h.to_state,
        note=h.note,
        attachments=list(h.attachments or []),
        data=dict(h.data or {}),
        version=h.version,
    )


def attachment_out(a: TicketAttachment, ticket: Ticket | None = None) -> AttachmentOut:
    url = f"{PREFIX}/{ticket.id}/attachments/{a.id}" if ticket is not None else None
    return AttachmentOut(
        id=a.id,
        ticket_id=a.ticket_id,
        filename=a.filename,
        content_type=a.content_type,
        size=a.size,
        sha256=a.sha256,
        uploaded_by=a.uploaded_by,
        created_at=a.created_at,
        url=url,
    )


async def _full(ctx: Ctx, s: AsyncSession, row: Ticket, *, created: svc.Change | None = None) -> TicketOut:
    """The whole ticket for the reader: fields, allowed actions, history, deadlines, attachments
    (``created``: the change that just made it — its entries are the whole history)."""
    types = await svc.types_for(s, ctx.tenant_id)
    out = ticket_out(row, await _Names.load(s, [row]), types, ctx.principal)
    entries = list(created.entries) if created is not None else await svc.history(s, ctx.tenant_id, row.id)
    out.history = [history_out(h) for h in entries]
    steps = (
        created.deadlines
        if created is not None and created.deadlines is not None
        else await sla.deadlines(s, row, utcnow())
    )
    out.deadlines = [DeadlineOut.model_validate(d) for d in steps]
    named = any(h.attachments for h in entries)
    atts = await files.list_for_ticket(s, ctx.tenant_id, row.id) if created is None or named else []
    out.attachments = [attachment_out(a, row) for a in atts]
    return out


async def _load(ctx: Ctx, s: AsyncSession, key: str) -> tuple[Ticket, Resource]:
    row = await svc.get_ticket(s, ctx.tenant_id, _key(key))
    return row, resource_of(row, await unit_path(s, row.unit_id))


def _actor(ctx: Ctx) -> svc.Actor:
    p = ctx.principal
    return svc.Actor(user_id=p.user_id, name=p.username, unit_id=p.unit_id)


def _publish(ctx: Ctx, change: svc.Change) -> None:
    center = ctx.state.center
    if center is None:
        return
    ticket_events.publish(center.hub, ctx.tenant_id, change)
    scheduler = getattr(center, "deadlines", None)
    wake = getattr(scheduler, "wake", None)
    if callable(wake) and change.next_timer is not None:
        wake(change.next_timer)


async def _conflict(ctx: Ctx, exc: HotlineError, key: int | str) -> HotlineError:
    """Add what a client needs to recover to a 409: the state and allowed actions of a refused
    action, the current version of a ticket that changed meanwhile."""
    if isinstance(exc, Refused):
        exc.problem_extra = {"state": exc.state, "allowed": list(exc.allowed)}  # type: ignore[attr-defined]
    elif isinstance(exc, StaleVersion):
        async with ctx.db() as s:
            try:
                row = await svc.get_ticket(s, ctx.tenant_id, key)
            except NotFound:
                return exc
            exc.problem_extra = {"version": row.version, "state": row.state}  # type: ignore[attr-defined]
    return exc


def _in_form(exc: Invalid, names: set[str]) -> Invalid:
    """Name the problems of the type's form by their body path (``fields.<name>``)."""

    def path(name: str | None) -> str | None:
        if name and name.startswith("form."):
            return "fields." + name.removeprefix("form.")
        return f"fields.{name}" if name in names else name

    out = Invalid(exc.detail.replace("form.", "fields.", 1) if exc.detail.startswith("form.") else exc.detail,
                  field=path(exc.field))  # fmt: skip
    errors = getattr(exc, "errors", None)
    if errors:
        out.errors = [{**e, "field": path(e.get("field"))} for e in errors]  # type: ignore[attr-defined]
    if out.field and out.field.startswith("fields.") and not out.detail.startswith("fields."):
        out.detail = f"fields.{out.detail}"
    return out


_CUSTOMER_LOADERS: weakref.WeakKeyDictionary[Any, dict[int, KeyLoader[int, CustomerRow]]] = (
    weakref.WeakKeyDictionary()
)


def _customer_loader(ctx: Ctx) -> KeyLoader[int, CustomerRow]:
    """Customers by id, the reads of concurrent create requests coalesced into one query (rows
    without the ORM: :mod:`hotline.crm.facts`)."""
    per_tenant = _CUSTOMER_LOADERS.setdefault(ctx.db, {})
    loader = per_tenant.get(ctx.tenant_id)
    if loader is None:
        factory, tenant_id = ctx.db, ctx.tenant_id

        async def load(ids: Sequence[int]) -> dict[int, CustomerRow]:
            async with reads(factory) as s:
                return await customer_rows(s, tenant_id, ids)

        loader = per_tenant[ctx.tenant_id] = KeyLoader(load)
    return loader


async def _customer(ctx: Ctx, s: AsyncSession, ref: int | str) -> CustomerFacts:
    c: CustomerFacts
    if isinstance(ref, int):
        found = await _customer_loader(ctx).get(ref) if valid_id(ref) else None
        if found is None:
            raise NotFound(f"no customer {ref}", field="customer")
        c = found
    else:
        by_account = await s.scalar(
            select(Customer).where(Customer.tenant_id == ctx.tenant_id, Customer.account_no == ref)
        )
        if by_account is None:
            raise NotFound(f"no customer with account number {ref!r}", field="customer")
        c = by_account
    path = await unit_path(s, c.unit_id)
    await ctx.authorize(
        Perm.CUSTOMER_READ, Resource("customer", c.tenant_id, path, c.dedicated_agent_id, str(c.id))
    )
    return c


async def _plan(
    ctx: Ctx,
    s: AsyncSession,
    body: TicketIn,
    customer: CustomerFacts | None,
    caller: str,
    unit: svc.UnitInfo | None,
) -> svc.Draft:
    cfg = ctx.state.settings.tickets
    return await svc.plan_ticket(
        s,
        ctx.tenant_id,
        type_code=body.type,
        actor=_actor(ctx),
        fields=body.fields,
        subject=body.subject,
        description=body.description,
        subtype=body.subtype,
        urgency=body.urgency,
        channel=body.channel,
        customer_id=customer.id if customer is not None else None,
        customer=customer,
        call_id=body.call_id,
        caller_number=caller,
        contact_name=body.contact_name,
        contact_phone=body.contact_phone,
        address=body.address,
        area_class=body.area_class,
        category=body.category,
        unit_id=unit.id if unit is not None else None,
        dispatch=body.dispatch,
        attachments=tuple(body.attachments),
        note=body.note,
        repeat_days=cfg.repeat_days,
        repeat_types=tuple(cfg.repeat_types),
    )


# -- routes ------------------------------------------------------------------------------------------


@router.post(
    PREFIX + "/attachments",
    response_model=AttachmentOut,
    status_code=201,
    summary="Upload an attachment (then name its id in a create or action body)",
    description="Multipart field `file`. The declared type and the file's magic bytes must both be an "
    "accepted type (`[tickets] attachment_types`: 415 otherwise; a file whose content is not what "
    "its type says is 422 naming the detected type); larger than `[tickets] max_attachment_bytes` "
    "is 413. Needs ticket.write or ticket.handle.",
)
async def upload_attachment(
    ctx: CtxDep, file: Annotated[UploadFile, File(description="photo, scan, PDF, recording extract")]
) -> AttachmentOut:
    p = ctx.principal
    if not (can_at_all(p, Perm.TICKET_WRITE) or can_at_all(p, Perm.TICKET_HANDLE)):
        await ctx.deny(Perm.TICKET_HANDLE, "ticket_attachment", "")
    cfg = ctx.state.settings.tickets

    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await file.read(files.CHUNK):
            yield chunk

    async with transaction(ctx.db) as s:
        row = await files.store_upload(
            s,
            ctx.tenant_id,
            root=ctx.state.settings.data_dir,
            filename=file.filename or "upload",
            content_type=file.content_type,
            data=chunks(),
            max_bytes=cfg.max_attachment_bytes,
            allowed_types=cfg.attachment_types,
            user_id=p.user_id,
        )
        audit.record(
            s,
            "ticket.attachment",
            principal=p,
            resource_type="ticket_attachment",
            resource_id=row.id,
            detail={"filename": row.filename, "size": row.size, "content_type": row.content_type},
        )
    return attachment_out(row)


@collection.post(
    PREFIX,
    response_model=TicketOut,
    status_code=201,
    summary="Create a work order (from a call, the desk or an integration; audited)",
    description="ticket.write over the responsible unit named, else over the creator's unit. With "
    "`call_id` the caller number and the customer linked on the call are filled in. Without `unit` "
    "the dispatch rules (then the customer's supply unit) decide; `dispatch: true` dispatches at once.",
)
async def create_ticket(body: TicketIn, ctx: CtxDep) -> TicketOut:
    p = ctx.principal
    caller = ""
    # one session for the request's reads (who may, the call, the customer, the order worked out,
    # the answer); it connects only for what the caches do not hold
    async with reads(ctx.db) as s:
        # the unit named, else the creator's own (cached)
        unit = await svc.unit_by_key(s, ctx.tenant_id, body.unit if body.unit is not None else p.unit_id)
        await ctx.authorize(Perm.TICKET_WRITE, Resource("ticket", ctx.tenant_id, unit.path))
        customer_ref = body.customer
        if body.call_id:
            call = await _call(ctx, s, body.call_id)
            await _may_read_call(ctx, call)
            caller = call.row.caller
            if customer_ref is None:
                customer_ref = await _chosen(s, ctx.tenant_id, call.data())
        customer = await _customer(ctx, s, customer_ref) if customer_ref is not None else None
        try:
            draft = await _plan(ctx, s, body, customer, caller, unit if body.unit is not None else None)
        except Invalid as exc:
            t = (await svc.types_for(s, ctx.tenant_id)).get(body.type)
            names = {f.name for f in t.fields} if t is not None else set()
            raise _in_form(exc, names | set(body.fields)) from None

        def audited(change: svc.Change) -> list[AuditEntry]:
            row = change.ticket
            return [
                audit.entry(
                    "ticket.create",
                    principal=p,
                    resource_type="ticket",
                    resource_id=row.id,
                    detail={
                        "number": row.number,
                        "type": row.type_code,
                        "customer_id": row.customer_id,
                        "call_id": row.call_id or None,
                        "unit_id": row.unit_id,
                        "state": row.state,
                    },
                )
            ]

        if s.in_transaction():  # a connection taken for a cache miss goes back to the pool first
            await s.close()
        # written with the orders of other requests arriving meanwhile, in one transaction (group
        # commit); answered once committed
        try:
            change = await writer_for(ctx.db).submit(draft, audited)
        except Invalid as exc:  # an attachment taken meanwhile
            raise _in_form(exc, set(body.fields)) from None
        out = await _full(ctx, s, change.ticket, created=change)
    _publish(ctx, change)
    return out


@collection.get(
    PREFIX,
    response_model=TicketPage,
    summary="Work orders the reader may see, newest first (filters, full-text, keyset paging)",
)
async def list_tickets(
    ctx: CtxDep,
    type: str | None = Query(None, max_length=64, examples=["complaint"]),
    state: list[str] | None = Query(
        None, examples=[["dispatched", "acknowledged"]], description="repeatable"
    ),
    unit: str | None = Query(None, max_length=64, examples=["js.nj.jn"], description="unit code or id"),
    subtree: bool = Query(True, description="with `unit`: its sub-units' orders too"),
    handler: str | None = Query(None, max_length=20, examples=["me"], description='user id or "me"'),
    overdue: bool | None = Query(None),
    customer: int | None = Query(None, ge=1, le=MAX_ID, description="customer id"),
    account_no: str | None = Query(None, max_length=32, examples=["3201001001"]),
    created_from: datetime | None = Query(None, description="without an offset: the tenant's local time"),
    created_to: datetime | None = Query(None, description="exclusive"),
    q: str | None = Query(
        None, max_length=200, examples=["停电"], description="words of subject/description"
    ),
    open: bool = Query(False, description="only orders not closed (archived, cancelled, merged)"),
    outage_id: int | None = Query(None, ge=1, le=MAX_ID),
    call_id: str | None = Query(None, max_length=40),
    due_before: datetime | None = Query(
        None, description="only orders whose earliest running deadline is before this time (overdue board)"
    ),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    after: str | None = Query(None, max_length=200, description="the `next` cursor of the previous page"),
) -> TicketPage:
    await ctx.require_any(Perm.TICKET_READ, "ticket")
    handler_id: int | None = None
    if handler == "me":
        handler_id = ctx.principal.user_id
    elif handler:
        if not handler.isdecimal():
            raise Invalid('handler must be a user id or "me"', field="handler")
        handler_id = int(handler)
    cursor = svc.parse_cursor(after) if after else None
    async with reads(ctx.db) as s:
        unit_id = None
        if unit:
            try:
                unit_id = (await svc.unit_by_key(s, ctx.tenant_id, _key(unit))).id
            except NotFound:
                raise Invalid(f"unknown unit {unit!r}", field="unit") from None
        zone = await svc.zone_of(s, ctx.tenant_id)
        f = svc.TicketFilter(
            type=type,
            state=tuple(state or ()),
            unit_id=unit_id,
            subtree=subtree,
            handler_id=handler_id,
            overdue=overdue,
            customer_id=customer,
            account_no=account_no,
            created_from=_local(created_from, zone),
            created_to=_local(created_to, zone),
            q=q,
            open_only=open,
            outage_id=outage_id,
            call_id=call_id,
            due_before=_local(due_before, zone),
            limit=limit,
            after=cursor,
        )
        rows, nxt = await svc.list_tickets(s, ctx.tenant_id, f, scope=read_scope(ctx.principal))
        types = await svc.types_for(s, ctx.tenant_id)
        names = await _Names.load(s, rows)
    items = [ticket_out(r, names, types, ctx.principal) for r in rows]
    return TicketPage(items=items, limit=limit, next=svc.cursor_text(nxt) if nxt else None)


@router.get(
    "/api/v1/customers/{account_no}/tickets",
    response_model=TicketPage,
    summary="A customer's work orders, newest first (open ones for repeats and urges)",
)
async def customer_tickets(
    account_no: str,
    ctx: CtxDep,
    open: bool = Query(True, description="only orders not closed"),
    limit: int = Query(50, ge=1, le=MAX_LIMIT),
    after: str | None = Query(None, max_length=200),
) -> TicketPage:
    await ctx.require_any(Perm.TICKET_READ, "ticket")
    cursor = svc.parse_cursor(after) if after else None
    async with transaction(ctx.db) as s:
        c = await s.scalar(
            select(Customer).where(Customer.tenant_id == ctx.tenant_id, Customer.account_no == account_no)
        )
        if c is None:
            raise NotFound(f"no customer with account number {account_no!r}", field="account_no")
        f = svc.TicketFilter(customer_id=c.id, open_only=open, limit=limit, after=cursor)
        rows, nxt = await svc.list_tickets(s, ctx.tenant_id, f, scope=read_scope(ctx.principal))
        types = await svc.types_for(s, ctx.tenant_id)
        names = await _Names.load(s, rows)
        audit.record(
            s,
            "customer.tickets",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=c.id,
            detail={"open": open, "returned": len(rows)},
        )
    items = [ticket_out(r, names, types, ctx.principal) for r in rows]
    return TicketPage(items=items, limit=limit, next=svc.cursor_text(nxt) if nxt else None)


@router.get(
    PREFIX + "/{key}",
    response_model=TicketOut,
    summary="One work order by id or number, with history, deadlines, attachments (audited)",
)
async def read_ticket(key: str, ctx: CtxDep) -> TicketOut:
    async with transaction(ctx.db) as s:
        row, res = await _load(ctx, s, key)
        await ctx.authorize(Perm.TICKET_READ, res)
        if row.customer_id is not None:
            audit.record(
                s,
                "ticket.read",
                principal=ctx.principal,
                resource_type="ticket",
                resource_id=row.id,
                detail={"customer_id": row.customer_id, "number": row.number},
            )
        return await _full(ctx, s, row)


@router.get(
    PREFIX + "/{key}/history",
    response_model=list[HistoryOut],
    summary="Every transition of a work order, oldest first (who, when, note, attachments)",
)
async def ticket_history(key: str, ctx: CtxDep) -> list[HistoryOut]:
    async with transaction(ctx.db) as s:
        row, res = await _load(ctx, s, key)
        await ctx.authorize(Perm.TICKET_READ, res)
        return [history_out(h) for h in await svc.history(s, ctx.tenant_id, row.id)]


@router.patch(
    PREFIX + "/{key}",
    response_model=TicketOut,
    summary="Change a work order's fields (optimistic: send the version read; audited)",
    description="A new `urgency` or `area_class` re-plans the running deadlines: each running step "
    "is measured again from its start under the rules of the new urgency and the new area's limits "
    "(deadline events follow when the new plan is already past a warning or the deadline).",
)
async def patch_ticket(key: str, body: TicketPatch, ctx: CtxDep) -> TicketOut:
    changes = body.model_dump(exclude_unset=True, exclude={"version"})
    if "fields" in changes:
        changes["form"] = changes.pop("fields")
    if not changes:
        raise Invalid("nothing to change: name at least one field besides version", field="body")
    try:
        async with transaction(ctx.db) as s:
            row, res = await _load(ctx, s, key)
            if not (allows(ctx.principal, W, res) or allows(ctx.principal, R, res)):
                await ctx.deny(W, "ticket", res.id)
            change = await svc.update_fields(
                s, ctx.tenant_id, row.id, version=body.version, actor=_actor(ctx), changes=changes
            )
            audit.record(
                s,
                "ticket.update",
                principal=ctx.principal,
                resource_type="ticket",
                resource_id=row.id,
                detail={"fields": sorted(changes), "version": change.ticket.version},
            )
            out = await _full(ctx, s, change.ticket)
    except (Refused, StaleVersion) as exc:
        raise await _conflict(ctx, exc, _key(key)) from None
    _publish(ctx, change)
    return out


@router.post(
    PREFIX + "/{key}/actions",
    response_model=TicketOut,
    summary="Move a work order on: dispatch, acknowledge, start, hold, resume, reply, review, …",
    description="Permissions by action over the ticket's unit: ticket.write (or ticket.review) for "
    "dispatch, urge, revisit, reopen; ticket.handle for acknowledge, start, hold, resume, reply, "
    "forward; ticket.review for review, return, cancel, merge, archive. An action the workflow "
    "does not allow now is 409 with `state` and `allowed`; a stale `version` is 409 with the "
    "current `version`.",
)
async def act(key: str, body: ActionIn, ctx: CtxDep) -> TicketOut:
    try:
        async with transaction(ctx.db) as s:
            row, res = await _load(ctx, s, key)
            perms = ACTION_PERMS[body.action]
            if not any(allows(ctx.principal, p, res) for p in perms):
                await ctx.deny(perms[0], "ticket", res.id)
            before = row.state
            command = Command(
                action=body.action,
                actor=ctx.principal.username,
                note=body.note,
                attachments=tuple(body.attachments),
                payload=body.payload,
                expected_version=body.version,
            )
            change = await svc.act(s, ctx.tenant_id, row.id, command, actor=_actor(ctx), call_id=body.call_id)
            audit.record(
                s,
                f"ticket.{body.action}",
                principal=ctx.principal,
                resource_type="ticket",
                resource_id=row.id,
                detail={"from": before, "to": change.ticket.state, "version": change.ticket.version},
            )
            out = await _full(ctx, s, change.ticket)
    except (Refused, StaleVersion) as exc:
        raise await _conflict(ctx, exc, _key(key)) from None
    _publish(ctx, change)
    return out


@router.get(
    PREFIX + "/{key}/attachments/{attachment_id}",
    response_class=FileResponse,
    summary="Download an attachment of a work order",
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the file"}},
)
async def download_attachment(key: str, attachment_id: str, ctx: CtxDep) -> FileResponse:
    async with transaction(ctx.db) as s:
        row, res = await _load(ctx, s, key)
        await ctx.authorize(Perm.TICKET_READ, res)
        a, path = await files.open_attachment(
            s, ctx.tenant_id, attachment_id, root=ctx.state.settings.data_dir
        )
        if a.ticket_id != row.id:
            raise NotFound(f"no attachment {attachment_id!r} on ticket {row.number}", field="attachment_id")
    return FileResponse(path, media_type=a.content_type, filename=a.filename)
