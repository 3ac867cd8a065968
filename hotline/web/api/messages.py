"""Messages from supervisors (and agents) to agents: normal, urgent, emergency."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from hotline import audit
from hotline.auth.policy import Perm, Resource
from hotline.cti import messages
from hotline.errors import Invalid
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import Unit, User
from hotline.web.api.ivr import center_of
from hotline.web.api.schemas import MAX_ID, Strict
from hotline.web.context import CtxDep

router = APIRouter(prefix="/api/v1", tags=["messages"])


class MessageIn(Strict):
    to_users: list[int] = Field(
        default_factory=list, max_length=messages.MAX_RECIPIENTS, examples=[[12, 13]], description="user ids"
    )
    to_unit: int | str | None = Field(
        None, examples=["js.nj"], description="a unit (id or code): every active user in it and below it"
    )
    priority: Literal["normal", "urgent", "emergency"] = "normal"
    text: str = Field(
        min_length=1, max_length=messages.MAX_TEXT, examples=["Storm warning: expect fault calls"]
    )


class MessageOut(BaseModel):
    id: int
    sender_id: int
    sender: str
    priority: str
    text: str
    created_at: str
    read_at: str | None = None
    recipients: list[int] | None = Field(None, description="only in the answer to the sender")


@router.post(
    "/messages",
    response_model=MessageOut,
    status_code=201,
    summary="Send a message to users and/or everyone in a unit subtree (message.send over each)",
    description="Recipients get a `message` event on the event stream at once and find it in "
    "`GET /api/v1/messages?unread=true`. The sender is never a recipient.",
)
async def send(body: MessageIn, ctx: CtxDep) -> dict[str, Any]:
    await ctx.require_any(Perm.MESSAGE_SEND, "message")
    if not body.to_users and body.to_unit is None:
        raise Invalid("name the recipients: to_users and/or to_unit", field="to_users")
    me = ctx.principal.user_id
    recipients: set[int] = set()
    async with ctx.db() as s:
        if body.to_users:
            wanted = [u for u in set(body.to_users) if 0 < u <= MAX_ID]
            rows = (
                await s.execute(
                    select(User.id, User.active, Unit.path)
                    .join(Unit, Unit.id == User.unit_id)
                    .where(User.tenant_id == ctx.tenant_id, User.id.in_(wanted))
                )
            ).all()
            found = {uid: (active, path) for uid, active, path in rows}
            for uid in body.to_users:
                if uid not in found:
                    raise Invalid(f"no user {uid}", field="to_users")
            for uid, (active, path) in sorted(found.items()):
                await ctx.authorize(Perm.MESSAGE_SEND, Resource("user", ctx.tenant_id, path, uid, str(uid)))
                if active:
                    recipients.add(uid)
        if body.to_unit is not None:
            unit = await org.get_unit(s, ctx.tenant_id, body.to_unit)
            await ctx.authorize(
                Perm.MESSAGE_SEND, Resource("unit", ctx.tenant_id, unit.path, None, str(unit.id))
            )
            recipients |= set(
                await s.scalars(
                    select(User.id)
                    .join(Unit, Unit.id == User.unit_id)
                    .where(User.tenant_id == ctx.tenant_id, User.active, Unit.path.startswith(unit.path))
                    .limit(messages.MAX_RECIPIENTS + 1)
                )
            )
    recipients.discard(me)
    if not recipients:
        raise Invalid("nobody to send to (the sender is never a recipient)", field="to_unit")
    if len(recipients) > messages.MAX_RECIPIENTS:
        raise Invalid(f"at most {messages.MAX_RECIPIENTS} recipients", field="to_unit")
    async with transaction(ctx.db) as s:
        sender = await s.get_one(User, me)
        msg = await messages.store(s, ctx.tenant_id, me, recipients, body.priority, body.text)
        audit.record(
            s,
            "message.send",
            principal=ctx.principal,
            resource_type="message",
            resource_id=msg.id,
            detail={"priority": body.priority, "recipients": len(recipients), "to_unit": body.to_unit},
        )
        out = messages.doc(msg, sender.display_name or sender.username, recipients=recipients)
    messages.publish(center_of(ctx).hub, ctx.tenant_id, out, recipients)
    return out


@router.get("/messages", response_model=list[MessageOut], summary="My messages, newest first")
async def inbox(
    ctx: CtxDep,
    unread: bool = Query(False, description="only those not marked read"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    async with ctx.db() as s:
        return await messages.inbox(s, ctx.tenant_id, ctx.principal.user_id, unread=unread, limit=limit)


@router.post("/messages/{message_id}/read", response_model=MessageOut, summary="Mark one of my messages read")
async def mark_read(message_id: int, ctx: CtxDep) -> dict[str, Any]:
    async with transaction(ctx.db) as s:
        out = await messages.mark_read(s, ctx.tenant_id, message_id, ctx.principal.user_id)
        audit.record(
            s, "message.read", principal=ctx.principal, resource_type="message", resource_id=message_id
        )
    return out
