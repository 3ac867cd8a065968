"""Screen pop, linking a call to a customer, and verifying the caller.

- ``GET /api/v1/screen-pop?phone=…[&call_id=…][&customer_id=…]`` — the accounts registered with
  the number (those the reader may see: ``customer.read``) and, when one is chosen (the
  ``customer_id`` given, the call's linked customer, the account the IVR identified, or the only
  candidate), its pop (:func:`hotline.crm.screenpop.pop`).
- ``GET /api/v1/calls/{call_id}/customer`` — the same for a live or past call (its caller number
  and call data).
- ``POST /api/v1/calls/{call_id}/customer`` — the agent links the call to a customer: call data
  ``customer_id`` / ``account_no`` and a contact-history entry ``kind="call"``.
- ``POST /api/v1/calls/{call_id}/verification`` — the agent verified the caller (PIN checked
  here, or security questions asked): a contact-history entry ``kind="verification"``,
  ``ref=<call id>`` that opens the private part of the pop for this call.

Private data (ID number, full address, phones, e-mail, balance) is shown when the caller was
verified for that customer on the call, or to readers holding ``customer.private`` over the
customer. Every pop is audited (``customer.pop``: the customers shown, whether private data
was); a wrong PIN is audited (``customer.verify``, outcome ``fail``), and after 5 wrong PINs for
one customer within 15 minutes PIN checks are refused (409: verify with questions). Calls and customers of
other tenants are 404. Link and verification publish ``customer_linked`` /
``customer_verified`` events about the call (docs/events.md).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select

from hotline import audit
from hotline.auth.policy import TENANT_PATH, Perm, Resource, allows
from hotline.crm import screenpop, timeline
from hotline.crm.customers import get_customer
from hotline.crm.phones import normalize_phone
from hotline.crm.protect import IdProtector, check_pin
from hotline.errors import Conflict, Invalid, NotFound
from hotline.store.db import transaction
from hotline.store.lookup import unit_path
from hotline.store.models import AuditEntry, Call, ContactEntry, Customer
from hotline.store.types import utcnow
from hotline.web.api.schemas import MAX_ID, Strict
from hotline.web.context import Ctx, CtxDep

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from hotline.cti.b2bua import Call as LiveCall

router = APIRouter(tags=["screen-pop"])

#: wrong PINs for one customer (by anybody) within the window before PIN checks are refused
MAX_PIN_FAILURES = 5
PIN_WINDOW_MINUTES = 15
#: call data keys that name the caller's customer (set by the IVR, or by a link)
CALL_KEYS = ("customer_id", "account_no", "account", "verified_account")


class CandidateOut(BaseModel):
    customer_id: int = Field(examples=[17])
    account_no: str = Field(examples=["3201001001"])
    name: str = Field(examples=["周建国"])
    customer_class: str = Field(examples=["rural_resident"])
    vip: bool
    blacklisted: bool
    masked_address: str = Field(examples=["南京市江宁区…"])
    unit_id: int
    unit_code: str = Field(examples=["js.nj.jn.ds"])
    unit_name: str
    dedicated_agent_id: int | None
    status: str = Field(examples=["active"])


class ScreenPopOut(BaseModel):
    phone: str = Field(examples=["+8613912340001"], description="the number looked up (normalised)")
    call_id: str | None = None
    candidates: list[CandidateOut] = Field(description="accounts registered with the number (by account)")
    selected: int | None = Field(None, description="the customer the pop is about (None: the agent picks)")
    pop: dict[str, Any] | None = Field(
        None,
        description="customer (identity, class, voltage, unit, VIP, blacklist, dedicated agent, tags, "
        "masked_address), verified (ivr | agent | null), private_shown, private (ID number, address, "
        "phones, e-mail; null unless verified or customer.private), balance (null, the balance, or "
        '{"error": …} when the billing system failed), outages (+ outages_error), open_orders '
        "(+ open_orders_source: null while no work-order module provides them), last_contacts, "
        "last_agent",
    )


class LinkIn(Strict):
    customer_id: int = Field(ge=1, le=MAX_ID, examples=[17])


class VerificationIn(Strict):
    customer_id: int = Field(ge=1, le=MAX_ID, examples=[17])
    method: Literal["pin", "questions"] = Field(
        examples=["pin"],
        description="pin: the caller's authorisation PIN (checked here); questions: "
        "the agent asked the security questions",
    )
    pin: str | None = Field(None, max_length=32, examples=["123456"])
    note: str = Field("", max_length=1000, examples=["asked the date of the last payment"])


# -- calls ------------------------------------------------------------------------------------------


class CallRef:
    """A call as far as the screen pop needs it: the CDR row and, while it lasts, the live call."""

    def __init__(self, row: Call, live: LiveCall | None, resource: Resource, on_it: bool) -> None:
        self.row = row
        self.live = live
        self.resource = resource
        #: the user is the call's agent (or their phone rings for it)
        self.on_it = on_it

    def data(self) -> dict[str, Any]:
        """Call data: the record's, with the live call's fresher values on top."""
        out = dict(self.row.data or {})
        if self.live is not None:
            out.update({k: v for k, v in self.live.data.items() if k in CALL_KEYS})
            st = self.live.service
            variables = getattr(st, "variables", None)
            if isinstance(variables, dict):
                for k in CALL_KEYS:
                    if variables.get(k) not in (None, "") and k not in out:
                        out[k] = variables[k]
        return out


async def _call(ctx: Ctx, s: AsyncSession, call_id: str) -> CallRef:
    row = await s.scalar(select(Call).where(Call.tenant_id == ctx.tenant_id, Call.id == call_id))
    if row is None:
        raise NotFound(f"no call {call_id!r}", field="call_id")
    tele = ctx.state.telephony
    control = tele.control if tele is not None else None
    live = control.find(ctx.tenant_id, call_id) if control is not None else None
    me = ctx.principal.user_id
    if live is not None and control is not None:
        from hotline.web.api.control import call_resource

        res = await call_resource(ctx, control, live)
        on_it = res.owner_id == me or me in control.ringing_agents(live)
    else:
        path = await unit_path(s, row.unit_id) if row.unit_id else ""
        res = Resource("call", ctx.tenant_id, path or TENANT_PATH, row.agent_id, row.id)
        on_it = row.agent_id == me
    return CallRef(row, live, res, on_it)


async def _may_read_call(ctx: Ctx, call: CallRef) -> None:
    if not call.on_it:
        await ctx.authorize(Perm.CALL_READ, call.resource)


async def _may_act_on_call(ctx: Ctx, call: CallRef) -> None:
    """The agent on the call, or call.control over it."""
    if not call.on_it:
        await ctx.authorize(Perm.CALL_CONTROL, call.resource)


def _customer_resource(c: Customer, path: str) -> Resource:
    return Resource("customer", c.tenant_id, path or TENANT_PATH, c.dedicated_agent_id, str(c.id))


async def _customer(ctx: Ctx, s: AsyncSession, customer_id: int) -> tuple[Customer, Resource]:
    c = await get_customer(s, ctx.tenant_id, customer_id)
    res = _customer_resource(c, await unit_path(s, c.unit_id))
    await ctx.authorize(Perm.CUSTOMER_READ, res)
    return c, res


# -- the pop ----------------------------------------------------------------------------------------


async def _chosen(s: AsyncSession, tenant_id: int, data: dict[str, Any]) -> int | None:
    """The customer the call data names (linked id, else the account the IVR identified)."""
    raw = data.get("customer_id")
    if isinstance(raw, int) or (isinstance(raw, str) and raw.isdecimal()):
        return int(raw)
    for key in ("account_no", "verified_account", "account"):
        acct = data.get(key)
        if isinstance(acct, str | int) and str(acct).strip():
            cid = await s.scalar(
                select(Customer.id).where(
                    Customer.tenant_id == tenant_id, Customer.account_no == str(acct).strip()
                )
            )
            if cid is not None:
                return int(cid)
    return None


async def build(ctx: Ctx, *, phone: str | None, call_id: str | None, customer_id: int | None) -> ScreenPopOut:
    await ctx.require_any(Perm.CUSTOMER_READ, "customer")
    if not (phone or call_id or customer_id):
        raise Invalid("give phone, call_id or customer_id", field="phone")
    state = ctx.state
    billing = state.center.billing if state.center is not None else None
    timeout = state.settings.utility.timeout_seconds
    async with transaction(ctx.db) as s:
        call: CallRef | None = None
        data: dict[str, Any] = {}
        if call_id:
            call = await _call(ctx, s, call_id)
            await _may_read_call(ctx, call)
            data = call.data()
            if not phone:
                phone = call.row.caller
        number = ""
        found: list[screenpop.Candidate] = []
        if phone:
            number = normalize_phone(phone) if call is None else phone
            found = [
                c
                for c in await screenpop.candidates(s, ctx.tenant_id, number)
                if allows(
                    ctx.principal,
                    Perm.CUSTOMER_READ,
                    Resource(
                        "customer", ctx.tenant_id, c.unit_path, c.dedicated_agent_id, str(c.customer_id)
                    ),
                )
            ]
        selected = customer_id
        if selected is None and data:
            selected = await _chosen(s, ctx.tenant_id, data)
        if selected is None and len(found) == 1:
            selected = found[0].customer_id
        doc = None
        private = False
        if selected is not None:
            c, res = await _customer(ctx, s, selected)
            verified = await screenpop.verification(s, ctx.tenant_id, c, call.row if call else None)
            if call is not None and verified is None and data.get("verified_account") == c.account_no:
                verified = "ivr"  # the live call's data (not yet on the record)
            holds_private = allows(ctx.principal, Perm.CUSTOMER_PRIVATE, res)
            private = verified is not None or holds_private
            doc = await screenpop.pop(
                s,
                ctx.tenant_id,
                c,
                private=private,
                full_id_number=holds_private,
                billing=billing,
                billing_allowed=allows(ctx.principal, Perm.BILLING_READ, res),
                billing_timeout=timeout,
                verified=verified,
                decrypt_id=IdProtector.for_settings(state.settings).decrypt if holds_private else None,
            )
        shown = [x.customer_id for x in found]
        if selected is not None and selected not in shown:
            shown.append(selected)
        audit.record(
            s,
            "customer.pop",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=selected if selected is not None else ",".join(str(i) for i in shown[:10]),
            detail={
                "ids": shown,
                "selected": selected,
                "private": private,
                "call_id": call_id,
                "phone": number,
            },
        )
        if private and selected is not None:
            audit.record(
                s,
                "customer.private.read",
                principal=ctx.principal,
                resource_type="customer",
                resource_id=selected,
                detail={
                    "call_id": call_id,
                    "via": "screen-pop",
                    "verified": doc["verified"] if doc else None,
                },
            )
    return ScreenPopOut(
        phone=number,
        call_id=call_id,
        candidates=[CandidateOut(**x.doc()) for x in found],
        selected=selected,
        pop=doc,
    )


@router.get(
    "/api/v1/screen-pop",
    response_model=ScreenPopOut,
    summary="Who is calling: the accounts of a number and the pop of the chosen one (audited)",
)
async def screen_pop(
    ctx: CtxDep,
    phone: str | None = Query(None, max_length=64, examples=["13912340001"]),
    call_id: str | None = Query(None, max_length=40),
    customer_id: int | None = Query(None, ge=1, le=MAX_ID),
) -> ScreenPopOut:
    return await build(ctx, phone=phone, call_id=call_id, customer_id=customer_id)


@router.get(
    "/api/v1/calls/{call_id}/customer",
    response_model=ScreenPopOut,
    summary="The screen pop of a live or past call: its caller's accounts and the linked one (audited)",
)
async def call_customer(
    call_id: str, ctx: CtxDep, customer_id: int | None = Query(None, ge=1, le=MAX_ID)
) -> ScreenPopOut:
    return await build(ctx, phone=None, call_id=call_id, customer_id=customer_id)


# -- link and verify --------------------------------------------------------------------------------


async def _set_call_data(ctx: Ctx, s: AsyncSession, call: CallRef, values: dict[str, Any]) -> None:
    """Call data of a live call goes through the telephony layer's CDR writer (and the live
    call's own data, which is written again when the call ends); of an ended call, directly."""
    tele = ctx.state.telephony
    if call.live is not None and tele is not None:
        call.live.data.update(values)
        await tele.calls.cdr.merge_data(call.row.id, values)
    else:
        call.row.data = {**(call.row.data or {}), **values}


async def _link(ctx: Ctx, s: AsyncSession, call: CallRef, c: Customer) -> bool:
    """Link ``call`` to ``c`` (idempotent); True when it changed something."""
    data = call.data()
    entry = await s.scalar(
        select(ContactEntry.id).where(
            ContactEntry.tenant_id == ctx.tenant_id,
            ContactEntry.customer_id == c.id,
            ContactEntry.kind == "call",
            ContactEntry.ref == call.row.id,
        )
    )
    if str(data.get("customer_id", "")) == str(c.id) and entry is not None:
        return False
    await _set_call_data(ctx, s, call, {"customer_id": c.id, "account_no": c.account_no})
    # a link made by mistake to another account of the same caller moves, it does not stay behind
    await s.execute(
        delete(ContactEntry).where(
            ContactEntry.tenant_id == ctx.tenant_id,
            ContactEntry.kind == "call",
            ContactEntry.ref == call.row.id,
            ContactEntry.customer_id != c.id,
        )
    )
    if entry is None:
        await timeline.add_entry(
            s,
            ctx.tenant_id,
            c.id,
            kind="call",
            ref=call.row.id,
            summary=call.row.direction,
            agent_id=call.row.agent_id or ctx.principal.user_id,
            detail={"caller": call.row.caller, "linked_by": ctx.principal.user_id},
            at=call.row.started_at,
        )
    return True


def _publish(ctx: Ctx, call: CallRef, type_: str, data: dict[str, Any]) -> None:
    center = ctx.state.center
    if center is None:
        return
    queue = call.row.queue
    agent_id = call.row.agent_id
    if call.live is not None and ctx.state.telephony is not None:
        control = ctx.state.telephony.control
        queue = control.queue_of(call.live) or queue
        agent_id = control.agent_of(call.live)[0] or agent_id
    center.hub.publish(ctx.tenant_id, type_, call_id=call.row.id, queue=queue, agent_id=agent_id, data=data)


@router.post(
    "/api/v1/calls/{call_id}/customer",
    response_model=ScreenPopOut,
    summary="Link the call to a customer (call data + contact history); answers the pop",
    description="For the agent on the call, or anybody with call.control over it. Writes call data "
    "`customer_id` and `account_no` and a contact-history entry (kind call, ref the call id); a "
    "previous link of the call to another customer is replaced. Publishes `customer_linked`.",
)
async def link(call_id: str, body: LinkIn, ctx: CtxDep) -> ScreenPopOut:
    async with transaction(ctx.db) as s:
        call = await _call(ctx, s, call_id)
        await _may_act_on_call(ctx, call)
        c, _res = await _customer(ctx, s, body.customer_id)
        changed = await _link(ctx, s, call, c)
        audit.record(
            s,
            "call.customer_link",
            principal=ctx.principal,
            resource_type="call",
            resource_id=call_id,
            detail={"customer_id": c.id, "account_no": c.account_no, "changed": changed},
        )
    if changed:
        _publish(
            ctx,
            call,
            "customer_linked",
            {"customer_id": c.id, "account_no": c.account_no, "name": c.name, "by": ctx.principal.user_id},
        )
    return await build(ctx, phone=None, call_id=call_id, customer_id=c.id)


@router.post(
    "/api/v1/calls/{call_id}/verification",
    response_model=ScreenPopOut,
    summary="Record that the caller was verified for a customer (PIN checked here); answers the pop",
    description="method `pin`: the PIN the caller told is checked against the customer's (422 "
    "'PIN does not match', audited); method `questions`: the agent asked the security questions "
    "(the note says which). Writes a contact-history entry (kind verification, ref the call id) "
    "that opens the private part of the pop for this call; links the call to the customer if it "
    "was not linked yet. Publishes `customer_verified`.",
    responses={
        422: {"description": "PIN missing or does not match, or the customer has no PIN"},
        409: {"description": "too many wrong PINs for the customer lately: use security questions"},
    },
)
async def verify(call_id: str, body: VerificationIn, ctx: CtxDep) -> ScreenPopOut:
    async with transaction(ctx.db) as s:
        call = await _call(ctx, s, call_id)
        await _may_act_on_call(ctx, call)
        c, _res = await _customer(ctx, s, body.customer_id)
        pin_hash = c.pin_hash
    if body.method == "pin":
        if not body.pin:
            raise Invalid("give the PIN the caller told you", field="pin")
        if not pin_hash:
            raise Invalid("the customer has no PIN set: verify with questions", field="pin")
        since = utcnow() - timedelta(minutes=PIN_WINDOW_MINUTES)
        async with ctx.db() as s:
            failures = await s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(
                    AuditEntry.resource_type == "customer",
                    AuditEntry.resource_id == str(c.id),
                    AuditEntry.action == "customer.verify",
                    AuditEntry.outcome == "fail",
                    AuditEntry.tenant_id == ctx.tenant_id,
                    AuditEntry.at >= since,
                )
            )
        if (failures or 0) >= MAX_PIN_FAILURES:
            raise Conflict(
                f"{MAX_PIN_FAILURES} wrong PINs for this customer in the last {PIN_WINDOW_MINUTES} "
                "minutes: verify with security questions",
                field="pin",
            )
        # argon2 takes tens of milliseconds: off the event loop (it also carries the media)
        if not await asyncio.to_thread(check_pin, pin_hash, body.pin):
            async with transaction(ctx.db) as s:
                audit.record(
                    s,
                    "customer.verify",
                    principal=ctx.principal,
                    resource_type="customer",
                    resource_id=c.id,
                    outcome="fail",
                    detail={"call_id": call_id, "method": "pin", "reason": "PIN does not match"},
                )
            raise Invalid("PIN does not match", field="pin")
    async with transaction(ctx.db) as s:
        call = await _call(ctx, s, call_id)
        c, _res = await _customer(ctx, s, body.customer_id)
        linked = False
        if not str(call.data().get("customer_id", "")).strip():
            linked = await _link(ctx, s, call, c)
        await timeline.add_entry(
            s,
            ctx.tenant_id,
            c.id,
            kind="verification",
            ref=call_id,
            summary=body.note.strip() or body.method,
            agent_id=ctx.principal.user_id,
            detail={"method": body.method, "note": body.note.strip()},
        )
        audit.record(
            s,
            "customer.verify",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=c.id,
            detail={"call_id": call_id, "method": body.method},
        )
    if linked:
        _publish(
            ctx,
            call,
            "customer_linked",
            {"customer_id": c.id, "account_no": c.account_no, "name": c.name, "by": ctx.principal.user_id},
        )
    _publish(
        ctx,
        call,
        "customer_verified",
        {"customer_id": c.id, "account_no": c.account_no, "method": body.method, "by": ctx.principal.user_id},
    )
    return await build(ctx, phone=None, call_id=call_id, customer_id=c.id)
