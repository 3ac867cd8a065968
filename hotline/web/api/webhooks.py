"""Webhooks: integrations subscribe to live events (signed HTTP POSTs with retries; docs/events.md)."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import delete, select

from hotline import audit
from hotline.auth.policy import TENANT_PATH, Perm, Resource
from hotline.errors import Conflict, NotFound
from hotline.store.db import transaction
from hotline.store.models import Webhook, WebhookDelivery
from hotline.store.types import valid_id
from hotline.web.api.schemas import Strict
from hotline.web.context import Ctx, CtxDep

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])

PATTERN = re.compile(r"^[a-z0-9_*?\[\]!.-]{1,64}$")
EXAMPLE_EVENTS = ["agent_state", "call_*", "connect", "complete"]


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("no user name or password in the URL (the signature authenticates)")
    return url


class WebhookIn(Strict):
    name: str = Field(min_length=1, max_length=64, examples=["crm"])
    url: str = Field(max_length=1000, examples=["https://crm.example.com/hooks/hotline"])
    events: list[str] = Field(
        default_factory=list,
        max_length=50,
        examples=[EXAMPLE_EVENTS],
        description="event types as fnmatch patterns; empty: every event except the 2-second `stats` ticks",
    )
    active: bool = True
    secret: str | None = Field(
        None,
        min_length=16,
        max_length=200,
        description="HMAC key; left out on creation: one is generated and shown once. Never returned later.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        return _check_url(v)

    @field_validator("events")
    @classmethod
    def _events(cls, v: list[str]) -> list[str]:
        for p in v:
            if not PATTERN.match(p):
                raise ValueError(f"{p!r}: event types are lower-case words; patterns may use * ? [ ]")
        return v


class WebhookOut(BaseModel):
    id: int
    name: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime
    pending: int = Field(description="deliveries waiting to be (re)tried")
    failed: int = Field(description="deliveries given up")
    secret: str | None = Field(None, description="only in the answer that created or replaced it")


class DeliveryOut(BaseModel):
    id: int
    event: str
    status: str = Field(description="pending, done or failed")
    attempts: int
    next_at: datetime
    last_error: str
    created_at: datetime
    done_at: datetime | None
    payload: dict[str, Any]


def _resource(ctx: Ctx, webhook_id: int | str = "") -> Resource:
    return Resource("webhook", ctx.tenant_id, TENANT_PATH, None, str(webhook_id))


async def _counts(ctx: Ctx, ids: list[int]) -> dict[tuple[int, str], int]:
    from sqlalchemy import func

    if not ids:
        return {}
    async with ctx.db() as s:
        rows = (
            await s.execute(
                select(WebhookDelivery.webhook_id, WebhookDelivery.status, func.count())
                .where(WebhookDelivery.webhook_id.in_(ids), WebhookDelivery.status != "done")
                .group_by(WebhookDelivery.webhook_id, WebhookDelivery.status)
            )
        ).all()
    return {(wid, status): n for wid, status, n in rows}


def _out(w: Webhook, counts: dict[tuple[int, str], int], secret: str | None = None) -> WebhookOut:
    return WebhookOut(
        id=w.id,
        name=w.name,
        url=w.url,
        events=list(w.events or []),
        active=w.active,
        created_at=w.created_at,
        pending=counts.get((w.id, "pending"), 0),
        failed=counts.get((w.id, "failed"), 0),
        secret=secret,
    )


async def _get(ctx: Ctx, s: Any, webhook_id: int) -> Webhook:
    if not valid_id(webhook_id):
        raise NotFound(f"no webhook {webhook_id}", field="webhook_id")
    w: Webhook | None = await s.scalar(
        select(Webhook).where(Webhook.tenant_id == ctx.tenant_id, Webhook.id == webhook_id)
    )
    if w is None:
        raise NotFound(f"no webhook {webhook_id}", field="webhook_id")
    return w


async def _reload(ctx: Ctx) -> None:
    center = ctx.state.center
    if center is not None:
        await center.webhooks.reload(ctx.tenant_id)


@router.get("", response_model=list[WebhookOut], summary="Webhooks of the tenant")
async def list_webhooks(ctx: CtxDep) -> list[WebhookOut]:
    await ctx.authorize(Perm.WEBHOOK_WRITE, _resource(ctx))
    async with ctx.db() as s:
        rows = list(
            await s.scalars(select(Webhook).where(Webhook.tenant_id == ctx.tenant_id).order_by(Webhook.id))
        )
    counts = await _counts(ctx, [w.id for w in rows])
    return [_out(w, counts) for w in rows]


@router.post(
    "",
    response_model=WebhookOut,
    status_code=201,
    summary="Subscribe a URL to live events (the answer shows the signing secret, once)",
)
async def create_webhook(body: WebhookIn, ctx: CtxDep) -> WebhookOut:
    await ctx.authorize(Perm.WEBHOOK_WRITE, _resource(ctx))
    secret = body.secret or "whsec_" + secrets.token_urlsafe(32)
    async with transaction(ctx.db) as s:
        if await s.scalar(
            select(Webhook.id).where(Webhook.tenant_id == ctx.tenant_id, Webhook.name == body.name)
        ):
            raise Conflict(f"a webhook named {body.name!r} exists", field="name")
        w = Webhook(
            tenant_id=ctx.tenant_id,
            name=body.name,
            url=body.url,
            secret=secret,
            events=list(body.events),
            active=body.active,
        )
        s.add(w)
        await s.flush()
        audit.record(
            s,
            "webhook.create",
            principal=ctx.principal,
            resource_type="webhook",
            resource_id=w.id,
            detail={"name": body.name, "url": body.url, "events": body.events, "active": body.active},
        )
        out = _out(w, {}, secret)
    await _reload(ctx)
    return out


@router.get("/{webhook_id}", response_model=WebhookOut, summary="One webhook (without its secret)")
async def get_webhook(webhook_id: int, ctx: CtxDep) -> WebhookOut:
    async with ctx.db() as s:
        w = await _get(ctx, s, webhook_id)
    await ctx.authorize(Perm.WEBHOOK_WRITE, _resource(ctx, webhook_id))
    return _out(w, await _counts(ctx, [w.id]))


@router.put(
    "/{webhook_id}",
    response_model=WebhookOut,
    summary="Change a webhook (a new secret, if sent, is shown in this answer only)",
)
async def put_webhook(webhook_id: int, body: WebhookIn, ctx: CtxDep) -> WebhookOut:
    async with transaction(ctx.db) as s:
        w = await _get(ctx, s, webhook_id)
        await ctx.authorize(Perm.WEBHOOK_WRITE, _resource(ctx, webhook_id))
        clash = await s.scalar(
            select(Webhook.id).where(
                Webhook.tenant_id == ctx.tenant_id, Webhook.name == body.name, Webhook.id != w.id
            )
        )
        if clash:
            raise Conflict(f"a webhook named {body.name!r} exists", field="name")
        w.name, w.url, w.events, w.active = body.name, body.url, list(body.events), body.active
        if body.secret:
            w.secret = body.secret
        audit.record(
            s,
            "webhook.update",
            principal=ctx.principal,
            resource_type="webhook",
            resource_id=w.id,
            detail={
                "name": body.name,
                "url": body.url,
                "events": body.events,
                "active": body.active,
                "secret_changed": bool(body.secret),
            },
        )
        out = _out(w, {}, body.secret or None)
    await _reload(ctx)
    counts = await _counts(ctx, [webhook_id])
    out.pending, out.failed = counts.get((webhook_id, "pending"), 0), counts.get((webhook_id, "failed"), 0)
    return out


@router.delete("/{webhook_id}", status_code=204, summary="Delete a webhook and its deliveries")
async def delete_webhook(webhook_id: int, ctx: CtxDep) -> None:
    async with transaction(ctx.db) as s:
        w = await _get(ctx, s, webhook_id)
        await ctx.authorize(Perm.WEBHOOK_WRITE, _resource(ctx, webhook_id))
        await s.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == w.id))
        await s.delete(w)
        audit.record(
            s,
            "webhook.delete",
            principal=ctx.principal,
            resource_type="webhook",
            resource_id=webhook_id,
            detail={"name": w.name, "url": w.url},
        )
    await _reload(ctx)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[DeliveryOut],
    summary="Recent deliveries of a webhook (newest first) with their attempts and last error",
)
async def deliveries(
    webhook_id: int,
    ctx: CtxDep,
    status: str | None = Query(None, pattern="^(pending|done|failed)$"),
    limit: int = Query(100, ge=1, le=1000),
) -> list[DeliveryOut]:
    async with ctx.db() as s:
        w = await _get(ctx, s, webhook_id)
    await ctx.authorize(Perm.WEBHOOK_WRITE, _resource(ctx, webhook_id))
    q = select(WebhookDelivery).where(WebhookDelivery.webhook_id == w.id)
    if status:
        q = q.where(WebhookDelivery.status == status)
    async with ctx.db() as s:
        rows = (await s.scalars(q.order_by(WebhookDelivery.id.desc()).limit(limit))).all()
    return [
        DeliveryOut(
            id=d.id,
            event=d.event,
            status=d.status,
            attempts=d.attempts,
            next_at=d.next_at,
            last_error=d.last_error,
            created_at=d.created_at,
            done_at=d.done_at,
            payload=d.payload,
        )
        for d in rows
    ]
