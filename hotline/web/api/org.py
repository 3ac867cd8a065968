"""Tenant, organisation units and business calendars."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import Select, or_, select

from hotline import audit
from hotline.auth.policy import TENANT_PATH, DataScope, Perm, Resource, data_scope
from hotline.errors import Invalid
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import Calendar, Tenant, Unit
from hotline.store.types import utcnow
from hotline.web.api.schemas import MAX_OFFSET, Page, Strict
from hotline.web.context import CtxDep

router = APIRouter(prefix="/api/v1", tags=["organisation"])


def unit_resource(unit: Unit) -> Resource:
    return Resource("unit", unit.tenant_id, unit.path, None, str(unit.id))


def calendar_resource(tenant_id: int, cal_id: int | str = "") -> Resource:
    return Resource("calendar", tenant_id, TENANT_PATH, None, str(cal_id))


def scope_filter(
    q: Select[Any], scope: DataScope, path_col: Any, owner_col: Any = None
) -> Select[Any] | None:
    """Restrict a query to a data scope; None when the scope is empty (nothing visible)."""
    if scope.everything:
        return q
    conds = []
    if scope.unit_paths:
        conds.append(path_col.in_(scope.unit_paths))
    conds.extend(path_col.startswith(p, autoescape=True) for p in scope.unit_prefixes)
    if scope.owner_id is not None and owner_col is not None:
        conds.append(owner_col == scope.owner_id)
    if not conds:
        return None
    return q.where(or_(*conds))


class TenantOut(BaseModel):
    id: int
    slug: str
    name: str


class UnitIn(Strict):
    code: str = Field(examples=["js.nj"])
    name: str = Field(examples=["国网南京供电公司"])
    parent: str | int | None = Field(None, description="parent unit code or id; none for the root")
    kind: str = Field("unit", examples=["city"])
    calendar: str | int | None = Field(None, description="calendar name or id; none to inherit")


class UnitPatch(Strict):
    name: str | None = None
    kind: str | None = None
    calendar: str | int | None = Field(None, description="calendar name or id; empty string to inherit")


class UnitOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    parent_id: int | None
    calendar_id: int | None
    path: str
    depth: int


class CalendarIn(Strict):
    name: str = Field(examples=["Jiangsu office hours"])
    timezone: str = Field("Asia/Shanghai", examples=["Asia/Shanghai"])
    week: dict[str, list[list[str]]] = Field(
        default_factory=dict, examples=[{"mon": [["08:30", "12:00"], ["13:30", "17:30"]]}]
    )
    holidays: list[Any] = Field(default_factory=list, examples=[[{"date": "2026-10-01", "name": "国庆节"}]])
    workdays: list[Any] = Field(default_factory=list, examples=[[{"date": "2026-10-10", "as": "fri"}]])
    version: int | None = Field(None, description="on update: the version you read (optimistic locking)")


class CalendarOut(BaseModel):
    id: int
    name: str
    timezone: str
    week: dict[str, Any]
    holidays: list[Any]
    workdays: list[Any]
    version: int


class EffectiveCalendar(BaseModel):
    unit_id: int
    calendar: CalendarOut | None
    open_now: bool
    next_open: datetime | None


def unit_out(u: Unit) -> UnitOut:
    return UnitOut(
        id=u.id,
        code=u.code,
        name=u.name,
        kind=u.kind,
        parent_id=u.parent_id,
        calendar_id=u.calendar_id,
        path=u.path,
        depth=u.depth,
    )


def calendar_out(c: Calendar) -> CalendarOut:
    return CalendarOut(
        id=c.id,
        name=c.name,
        timezone=c.timezone,
        week=c.week,
        holidays=c.holidays,
        workdays=c.workdays,
        version=c.version,
    )


@router.get("/tenant", response_model=TenantOut, tags=["organisation"], summary="Your tenant")
async def get_tenant(ctx: CtxDep) -> TenantOut:
    async with ctx.db() as s:
        t = await s.get_one(Tenant, ctx.tenant_id)
        return TenantOut(id=t.id, slug=t.slug, name=t.name)


# -- units ------------------------------------------------------------------------------------


@router.get("/units", response_model=Page[UnitOut], summary="Units you may see, in tree order")
async def list_units(
    ctx: CtxDep, limit: int = Query(200, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET)
) -> Page[UnitOut]:
    await ctx.require_any(Perm.UNIT_READ, "unit")
    q = scope_filter(
        select(Unit).where(Unit.tenant_id == ctx.tenant_id),
        data_scope(ctx.principal, Perm.UNIT_READ),
        Unit.path,
    )
    if q is None:
        return Page(items=[], limit=limit, offset=offset)
    async with ctx.db() as s:
        rows = (await s.scalars(q.order_by(Unit.path).limit(limit).offset(offset))).all()
    return Page(items=[unit_out(u) for u in rows], limit=limit, offset=offset)


@router.post("/units", response_model=UnitOut, status_code=201, summary="Create a unit")
async def create_unit(body: UnitIn, ctx: CtxDep) -> UnitOut:
    async with transaction(ctx.db) as s:
        parent = await org.get_unit(s, ctx.tenant_id, body.parent) if body.parent is not None else None
        target_path = f"{parent.path}new/" if parent else TENANT_PATH
        await ctx.authorize(Perm.UNIT_WRITE, Resource("unit", ctx.tenant_id, target_path))
        cal = (
            await org.get_calendar(s, ctx.tenant_id, body.calendar)
            if body.calendar not in (None, "")
            else None
        )
        unit = await org.add_unit(
            s, ctx.tenant_id, body.code, body.name, parent=parent, kind=body.kind, calendar=cal
        )
        audit.record(
            s,
            "unit.create",
            principal=ctx.principal,
            resource_type="unit",
            resource_id=unit.id,
            detail={"code": unit.code},
        )
        return unit_out(unit)


@router.get("/units/{unit_id}", response_model=UnitOut, summary="One unit")
async def get_unit(unit_id: int, ctx: CtxDep) -> UnitOut:
    async with ctx.db() as s:
        unit = await org.get_unit(s, ctx.tenant_id, unit_id)
    await ctx.authorize(Perm.UNIT_READ, unit_resource(unit))
    return unit_out(unit)


@router.patch("/units/{unit_id}", response_model=UnitOut, summary="Rename a unit or change its calendar")
async def patch_unit(unit_id: int, body: UnitPatch, ctx: CtxDep) -> UnitOut:
    async with transaction(ctx.db) as s:
        unit = await org.get_unit(s, ctx.tenant_id, unit_id)
        await ctx.authorize(Perm.UNIT_WRITE, unit_resource(unit))
        changes: dict[str, Any] = {}
        if body.name is not None:
            unit.name = changes["name"] = org.check_name(body.name)
        if body.kind is not None:
            if body.kind not in org.UNIT_KINDS:
                raise Invalid(f"unknown unit kind {body.kind!r}", field="kind")
            unit.kind = changes["kind"] = body.kind
        if "calendar" in body.model_fields_set:
            if body.calendar in (None, ""):
                unit.calendar_id = None
            else:
                assert body.calendar is not None
                unit.calendar_id = (await org.get_calendar(s, ctx.tenant_id, body.calendar)).id
            changes["calendar_id"] = unit.calendar_id
        audit.record(
            s,
            "unit.update",
            principal=ctx.principal,
            resource_type="unit",
            resource_id=unit.id,
            detail=changes,
        )
        return unit_out(unit)


@router.get(
    "/units/{unit_id}/calendar",
    response_model=EffectiveCalendar,
    summary="The calendar in force for a unit (own or inherited) and whether it is open now",
)
async def unit_calendar(unit_id: int, ctx: CtxDep) -> EffectiveCalendar:
    async with ctx.db() as s:
        unit = await org.get_unit(s, ctx.tenant_id, unit_id)
        await ctx.authorize(Perm.UNIT_READ, unit_resource(unit))
        cal, model = await org.effective_calendar(s, unit)
    now = utcnow()
    return EffectiveCalendar(
        unit_id=unit.id,
        calendar=calendar_out(cal) if cal else None,
        open_now=model.is_open(now),
        next_open=model.next_open(now),
    )


# -- calendars --------------------------------------------------------------------------------


@router.get("/calendars", response_model=list[CalendarOut], summary="Business calendars of the tenant")
async def list_calendars(ctx: CtxDep) -> list[CalendarOut]:
    await ctx.require_any(Perm.UNIT_READ, "calendar")
    async with ctx.db() as s:
        return [calendar_out(c) for c in await org.list_calendars(s, ctx.tenant_id)]


@router.post("/calendars", response_model=CalendarOut, status_code=201, summary="Create a calendar")
async def create_calendar(body: CalendarIn, ctx: CtxDep) -> CalendarOut:
    await ctx.authorize(Perm.UNIT_WRITE, calendar_resource(ctx.tenant_id))
    async with transaction(ctx.db) as s:
        cal = await org.add_calendar(
            s,
            ctx.tenant_id,
            body.name,
            timezone=body.timezone,
            week=body.week,
            holidays=body.holidays,
            workdays=body.workdays,
        )
        audit.record(
            s, "calendar.create", principal=ctx.principal, resource_type="calendar", resource_id=cal.id
        )
        return calendar_out(cal)


@router.get("/calendars/{cal_id}", response_model=CalendarOut, summary="One calendar")
async def get_calendar(cal_id: int, ctx: CtxDep) -> CalendarOut:
    await ctx.require_any(Perm.UNIT_READ, "calendar")
    async with ctx.db() as s:
        return calendar_out(await org.get_calendar(s, ctx.tenant_id, cal_id))


@router.put("/calendars/{cal_id}", response_model=CalendarOut, summary="Replace a calendar's hours and days")
async def put_calendar(cal_id: int, body: CalendarIn, ctx: CtxDep) -> CalendarOut:
    await ctx.authorize(Perm.UNIT_WRITE, calendar_resource(ctx.tenant_id, cal_id))
    async with transaction(ctx.db) as s:
        cal = await org.get_calendar(s, ctx.tenant_id, cal_id)
        if body.name != cal.name:
            raise Invalid("a calendar cannot be renamed through PUT; send its current name", field="name")
        await org.update_calendar(
            s,
            cal,
            timezone=body.timezone,
            week=body.week,
            holidays=body.holidays,
            workdays=body.workdays,
            expected_version=body.version,
        )
        audit.record(
            s, "calendar.update", principal=ctx.principal, resource_type="calendar", resource_id=cal.id
        )
    return calendar_out(cal)
