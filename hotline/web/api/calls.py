"""Call detail records."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import select

from hotline.auth.policy import Perm, Resource, data_scope
from hotline.cti import cdr
from hotline.errors import Invalid
from hotline.store.lookup import unit_path
from hotline.store.models import Call, Unit
from hotline.web.api.control import CallLive, live_calls
from hotline.web.api.org import scope_filter
from hotline.web.api.schemas import MAX_ID, MAX_OFFSET, Page
from hotline.web.context import CtxDep

router = APIRouter(prefix="/api/v1/calls", tags=["calls"])


class LegOut(BaseModel):
    id: int
    role: str
    sip_call_id: str
    remote_uri: str
    remote_addr: str
    extension_id: int | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    end_reason: str
    sip_code: int | None
    codec: str
    packets_sent: int
    packets_received: int
    packets_lost: int
    jitter_ms: float


class CallOut(BaseModel):
    id: str
    direction: str
    caller: str
    caller_raw: str
    caller_name: str
    dialed: str
    dialed_raw: str
    unit_id: int | None
    agent_id: int | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    end_cause: str
    ended_by: str
    sip_code: int | None
    recording_path: str
    data: dict[str, object]
    flow: str = ""
    flow_version: int | None = None
    ivr_path: list[Any] = []
    queue: str = ""
    queue_entered_at: datetime | None = None
    queue_left_at: datetime | None = None
    queue_position: int | None = None
    offers: list[Any] = []
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    hold_seconds: float | None = None
    wrap_up_seconds: float | None = None
    disposition: str = ""
    disposition_notes: str = ""
    abandon_point: str = ""
    legs: list[LegOut]


def call_out(c: Call) -> CallOut:
    return CallOut(
        id=c.id,
        direction=c.direction,
        caller=c.caller,
        caller_raw=c.caller_raw,
        caller_name=c.caller_name,
        dialed=c.dialed,
        dialed_raw=c.dialed_raw,
        unit_id=c.unit_id,
        agent_id=c.agent_id,
        started_at=c.started_at,
        answered_at=c.answered_at,
        ended_at=c.ended_at,
        end_cause=c.end_cause,
        ended_by=c.ended_by,
        sip_code=c.sip_code,
        recording_path=c.recording_path,
        data=c.data,
        flow=c.flow,
        flow_version=c.flow_version,
        ivr_path=c.ivr_path,
        queue=c.queue,
        queue_entered_at=c.queue_entered_at,
        queue_left_at=c.queue_left_at,
        queue_position=c.queue_position,
        offers=c.offers,
        wait_seconds=c.wait_seconds,
        talk_seconds=c.talk_seconds,
        hold_seconds=c.hold_seconds,
        wrap_up_seconds=c.wrap_up_seconds,
        disposition=c.disposition,
        disposition_notes=c.disposition_notes,
        abandon_point=c.abandon_point,
        legs=[LegOut.model_validate(leg, from_attributes=True) for leg in c.legs],
    )


@router.get("", response_model=Page[CallOut], summary="Calls you may see, newest first")
async def list_calls(
    ctx: CtxDep,
    caller: str | None = Query(None, examples=["+8613912340001"]),
    dialed: str | None = Query(None, examples=["95598"]),
    direction: str | None = Query(None, examples=["inbound"]),
    end_cause: str | None = Query(None, examples=["normal"]),
    agent_id: int | None = Query(None, ge=1, le=MAX_ID),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> Page[CallOut]:
    await ctx.require_any(Perm.CALL_READ, "call")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise Invalid("give a time zone, e.g. 2026-11-22T08:00:00+08:00", field=name)
    q = select(Call).outerjoin(Unit, Unit.id == Call.unit_id).where(Call.tenant_id == ctx.tenant_id)
    q = cdr.apply_filter(q, cdr.CallFilter(caller, dialed, direction, end_cause, agent_id, since, until))
    scoped = scope_filter(q, data_scope(ctx.principal, Perm.CALL_READ), Unit.path, Call.agent_id)
    if scoped is None:
        return Page(items=[], limit=limit, offset=offset)
    async with ctx.db() as s:
        rows = await cdr.calls_of(s, scoped, limit, offset)
        return Page(items=[call_out(c) for c in rows], limit=limit, offset=offset)


@router.get(
    "/live",
    response_model=list[CallLive],
    summary="Calls in progress you may see (IVR, queued, ringing, connected …)",
    description="The same documents the call-control actions answer and the event stream's "
    "snapshot carries (`calls`). Scoped by call.read over the unit of the call's queue; an "
    "agent always sees the calls they are on.",
)
async def calls_live(ctx: CtxDep) -> list[CallLive]:
    await ctx.require_any(Perm.CALL_READ, "call")
    return await live_calls(ctx)


@router.get("/{call_id}", response_model=CallOut, summary="One call with its legs and media statistics")
async def get_call(call_id: str, ctx: CtxDep) -> CallOut:
    async with ctx.db() as s:
        call = await cdr.get_call(s, ctx.tenant_id, call_id)
        path = await unit_path(s, call.unit_id)
        await ctx.authorize(
            Perm.CALL_READ, Resource("call", call.tenant_id, path or "/", call.agent_id, call.id)
        )
        return call_out(call)
