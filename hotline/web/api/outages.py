"""Outages (停电): list, create, change, activate / restore / cancel.

Reading needs ``billing.read`` over the outage's unit (lists are filtered to the units the
caller may read); changes need ``outage.write`` over the unit (both the old and the new one when
an outage moves). Every change is audited and published live as an ``outage`` event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, overload
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import audit
from hotline.auth.policy import Perm, Resource, data_scope
from hotline.errors import Invalid, NotFound
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import Outage, OutageArea, Unit
from hotline.store.types import utcnow
from hotline.tickets import incidents
from hotline.utility import outages as store
from hotline.utility.payments import tenant_zone
from hotline.web.api.org import scope_filter
from hotline.web.api.schemas import MAX_OFFSET, Page, Strict
from hotline.web.context import Ctx, CtxDep

router = APIRouter(tags=["outages"])
PREFIX = "/api/v1/outages"

Kind = Literal["planned", "unplanned"]
Status = Literal["scheduled", "active", "restored", "cancelled"]
AUDIT_ACTIONS = {"active": "outage.activate", "restored": "outage.restore", "cancelled": "outage.cancel"}


class AreaIn(Strict):
    feeder: str = Field(min_length=1, max_length=64, examples=["10kV 东山 112 线"])
    transformer_area: str = Field(
        "", max_length=64, examples=["上坊村 2 号台区"], description='"" = the whole feeder'
    )


class OutageIn(Strict):
    unit: str | int = Field(examples=["js.nj.jn.ds"], description="the managing supply unit (code or id)")
    kind: Kind = Field(examples=["planned"])
    cause: str = Field("", max_length=500, examples=["10kV 线路检修"])
    start_at: datetime = Field(
        examples=["2026-11-25T08:00:00+08:00"],
        description="without an offset: the tenant's local time (its root unit's calendar zone)",
    )
    expected_end_at: datetime | None = Field(None, examples=["2026-11-25T17:00:00+08:00"])
    status: Literal["scheduled", "active"] = Field(
        "scheduled", description="active for an outage already under way (usually unplanned)"
    )
    areas: list[AreaIn] = Field(min_length=1, max_length=store.MAX_AREAS)
    notice: dict[str, str] = Field(
        default_factory=dict,
        description='optional announcement replacing the generated one: {"zh": "…", "en": "…"}',
    )

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "unit": "js.nj.jn.ds",
                    "kind": "planned",
                    "cause": "10kV 线路检修",
                    "start_at": "2026-11-25T08:00:00+08:00",
                    "expected_end_at": "2026-11-25T17:00:00+08:00",
                    "areas": [{"feeder": "10kV 东山 112 线", "transformer_area": ""}],
                }
            ]
        },
    )


class OutagePatch(Strict):
    unit: str | int | None = None
    kind: Kind | None = None
    cause: str | None = Field(None, max_length=500)
    start_at: datetime | None = None
    expected_end_at: datetime | None = Field(
        None, description="send null with clear_expected_end to clear it"
    )
    clear_expected_end: bool = False
    areas: list[AreaIn] | None = Field(None, min_length=1, max_length=store.MAX_AREAS)
    notice: dict[str, str] | None = None


class AreaOut(BaseModel):
    feeder: str
    transformer_area: str


class OutageOut(BaseModel):
    id: int
    unit_id: int
    unit: str
    kind: str
    status: str
    cause: str
    start_at: datetime
    expected_end_at: datetime | None
    actual_end_at: datetime | None
    areas: list[AreaOut]
    notice: dict[str, Any]
    created_at: datetime
    created_by: int | None
    updated_at: datetime
    allowed: list[str] = Field(description="states this outage may move to")
    affected_customers: int | None = Field(None, description="customers in the areas (single reads)")
    announcement: dict[str, str] | None = Field(
        None, description="what the IVR says, zh and en (single reads)"
    )


@overload
def _utc(value: datetime) -> datetime: ...
@overload
def _utc(value: None) -> None: ...
def _utc(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


def _out(o: Outage, unit: str, areas: list[store.Area]) -> OutageOut:
    return OutageOut(
        id=o.id,
        unit_id=o.unit_id,
        unit=unit,
        kind=o.kind,
        status=o.status,
        cause=o.cause,
        start_at=_utc(o.start_at),
        expected_end_at=_utc(o.expected_end_at),
        actual_end_at=_utc(o.actual_end_at),
        areas=[AreaOut(feeder=a.feeder, transformer_area=a.transformer_area) for a in areas],
        notice=dict(o.notice or {}),
        created_at=o.created_at,
        created_by=o.created_by,
        updated_at=o.updated_at,
        allowed=list(store.TRANSITIONS.get(o.status, ())),
    )


async def _resource(s: AsyncSession, o: Outage) -> tuple[Resource, Unit]:
    unit = await s.get(Unit, o.unit_id)
    assert unit is not None
    return Resource("outage", o.tenant_id, unit.path, None, str(o.id)), unit


async def _full(s: AsyncSession, o: Outage, unit: Unit) -> OutageOut:
    areas = (await store.areas_of(s, [o.id]))[o.id]
    out = _out(o, unit.code, areas)
    out.affected_customers = await store.affected_customers_count(s, o.tenant_id, areas)
    info = store.to_info(o, areas, now=utcnow(), tz=str(await tenant_zone(s, o.tenant_id)))
    out.announcement = dict(info.notice)
    return out


def _publish(ctx: Ctx, action: str, out: OutageOut) -> None:
    center = getattr(ctx.state, "center", None)
    if center is None:
        return
    center.hub.publish(
        ctx.tenant_id,
        "outage",
        data={
            "action": action,
            "id": out.id,
            "unit": out.unit,
            "kind": out.kind,
            "status": out.status,
            "cause": out.cause,
            "start_at": out.start_at.isoformat(),
            "expected_end_at": out.expected_end_at.isoformat() if out.expected_end_at else None,
            "actual_end_at": out.actual_end_at.isoformat() if out.actual_end_at else None,
            "areas": [a.model_dump() for a in out.areas],
            "affected_customers": out.affected_customers,
        },
    )


async def _unit(s: AsyncSession, tenant_id: int, key: str | int) -> Unit:
    try:
        return await org.get_unit(s, tenant_id, key)
    except NotFound:
        raise Invalid(f"unknown unit {key!r}", field="unit") from None


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    """A time without an offset is the tenant's local time (its root unit's calendar zone)."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=zone)
    return value


@router.get(PREFIX, response_model=Page[OutageOut], summary="Outages you may see, newest start first")
async def list_outages(
    ctx: CtxDep,
    status: Status | None = None,
    kind: Kind | None = None,
    unit: str | None = Query(None, description="unit code or id: its outages and its sub-units'"),
    at: datetime | None = Query(
        None, description="only outages in effect at this time or starting within 7 days after it"
    ),
    feeder: str | None = Query(None, max_length=64, description="only outages with an area on this feeder"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> Page[OutageOut]:
    await ctx.require_any(Perm.BILLING_READ, "outage")
    q: Any = (
        select(Outage, Unit.code)
        .join(Unit, Unit.id == Outage.unit_id)
        .where(Outage.tenant_id == ctx.tenant_id)
    )
    if status:
        q = q.where(Outage.status == status)
    if kind:
        q = q.where(Outage.kind == kind)
    if feeder:
        q = q.where(
            Outage.id.in_(
                select(OutageArea.outage_id).where(
                    OutageArea.tenant_id == ctx.tenant_id, OutageArea.feeder == feeder
                )
            )
        )
    async with transaction(ctx.db) as s:
        if at is not None:
            q = q.where(store.in_effect(_local(at, await tenant_zone(s, ctx.tenant_id)) or at))
        if unit:
            u = await org.get_unit(s, ctx.tenant_id, int(unit) if unit.isdecimal() else unit)
            q = q.where(Unit.path.startswith(u.path, autoescape=True))  # the unit and its subtree
        scoped = scope_filter(q, data_scope(ctx.principal, Perm.BILLING_READ), Unit.path)
        rows = (
            []
            if scoped is None
            else (
                await s.execute(
                    scoped.order_by(Outage.start_at.desc(), Outage.id.desc()).limit(limit).offset(offset)
                )
            ).all()
        )
        areas = await store.areas_of(s, [o.id for o, _ in rows])
    return Page(items=[_out(o, code, areas[o.id]) for o, code in rows], limit=limit, offset=offset)


@router.post(PREFIX, response_model=OutageOut, status_code=201, summary="Announce an outage (audited)")
async def create_outage(body: OutageIn, ctx: CtxDep) -> OutageOut:
    async with transaction(ctx.db) as s:
        zone = await tenant_zone(s, ctx.tenant_id)
        start_at = _local(body.start_at, zone)
        assert start_at is not None
        unit = await _unit(s, ctx.tenant_id, body.unit)
        await ctx.authorize(Perm.OUTAGE_WRITE, Resource("outage", ctx.tenant_id, unit.path))
        o = await store.create_outage(
            s,
            ctx.tenant_id,
            unit=unit,
            kind=body.kind,
            cause=body.cause,
            start_at=start_at,
            expected_end_at=_local(body.expected_end_at, zone),
            status=body.status,
            areas=[a.model_dump() for a in body.areas],
            notice=body.notice,
            user_id=ctx.principal.user_id,
        )
        out = await _full(s, o, unit)
        audit.record(
            s,
            "outage.create",
            principal=ctx.principal,
            resource_type="outage",
            resource_id=o.id,
            detail={"kind": o.kind, "status": o.status, "areas": len(out.areas)},
        )
    _publish(ctx, "created", out)
    return out


@router.get(
    PREFIX + "/{outage_id}", response_model=OutageOut, summary="One outage with the customers it affects"
)
async def read_outage(outage_id: int, ctx: CtxDep) -> OutageOut:
    async with transaction(ctx.db) as s:
        o = await store.get_outage(s, ctx.tenant_id, outage_id)
        res, unit = await _resource(s, o)
        await ctx.authorize(Perm.BILLING_READ, res)
        return await _full(s, o, unit)


@router.patch(
    PREFIX + "/{outage_id}", response_model=OutageOut, summary="Change an outage that is not over (audited)"
)
async def patch_outage(outage_id: int, body: OutagePatch, ctx: CtxDep) -> OutageOut:
    async with transaction(ctx.db) as s:
        zone = await tenant_zone(s, ctx.tenant_id)
        o = await store.get_outage(s, ctx.tenant_id, outage_id)
        res, unit = await _resource(s, o)
        await ctx.authorize(Perm.OUTAGE_WRITE, res)
        if body.unit is not None:
            unit = await _unit(s, ctx.tenant_id, body.unit)
            await ctx.authorize(
                Perm.OUTAGE_WRITE, Resource("outage", ctx.tenant_id, unit.path, None, str(o.id))
            )
        o = await store.update_outage(
            s,
            ctx.tenant_id,
            outage_id,
            unit=unit if body.unit is not None else None,
            kind=body.kind,
            cause=body.cause,
            start_at=_local(body.start_at, zone),
            expected_end_at=_local(body.expected_end_at, zone),
            clear_expected_end=body.clear_expected_end,
            areas=[a.model_dump() for a in body.areas] if body.areas is not None else None,
            notice=body.notice,
        )
        out = await _full(s, o, unit)
        audit.record(
            s,
            "outage.update",
            principal=ctx.principal,
            resource_type="outage",
            resource_id=o.id,
            detail={"fields": sorted(body.model_dump(exclude_unset=True))},
        )
    _publish(ctx, "updated", out)
    return out


async def _move(outage_id: int, target: str, ctx: Ctx) -> OutageOut:
    async with transaction(ctx.db) as s:
        o = await store.get_outage(s, ctx.tenant_id, outage_id)
        res, unit = await _resource(s, o)
        await ctx.authorize(Perm.OUTAGE_WRITE, res)
        before = o.status
        now = utcnow()
        o = await store.transition(s, ctx.tenant_id, outage_id, target, at=now)
        out = await _full(s, o, unit)
        # restoration replies the fault orders linked to the outage (mass event), same transaction
        linked = (
            await incidents.on_outage_restored(s, ctx.tenant_id, o.id, now) if target == "restored" else []
        )
        audit.record(
            s,
            AUDIT_ACTIONS[target],
            principal=ctx.principal,
            resource_type="outage",
            resource_id=o.id,
            detail={"from": before, "to": target}
            | ({"tickets_replied": len(linked[-1]["data"]["tickets"])} if linked else {}),
        )
    _publish(ctx, target, out)
    if linked and (center := getattr(ctx.state, "center", None)) is not None:
        for ev in linked:
            center.hub.publish(ctx.tenant_id, ev["type"], data=ev["data"])
        wake = getattr(getattr(center, "deadlines", None), "wake", None)
        if callable(wake):
            wake()
    return out


@router.post(
    PREFIX + "/{outage_id}/activate", response_model=OutageOut, summary="The outage has begun (audited)"
)
async def activate_outage(outage_id: int, ctx: CtxDep) -> OutageOut:
    return await _move(outage_id, "active", ctx)


@router.post(PREFIX + "/{outage_id}/restore", response_model=OutageOut, summary="Power is back (audited)")
async def restore_outage(outage_id: int, ctx: CtxDep) -> OutageOut:
    return await _move(outage_id, "restored", ctx)


@router.post(
    PREFIX + "/{outage_id}/cancel",
    response_model=OutageOut,
    summary="A scheduled outage will not happen (audited)",
)
async def cancel_outage(outage_id: int, ctx: CtxDep) -> OutageOut:
    return await _move(outage_id, "cancelled", ctx)
