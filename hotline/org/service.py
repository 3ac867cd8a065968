"""Tenants, organisation units and business calendars (service layer; callers own the transaction)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.errors import Conflict, Invalid, NotFound
from hotline.org.calendar import BusinessCalendar, CalendarError
from hotline.store.lookup import get_in_tenant
from hotline.store.models import Calendar, Tenant, Unit

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
UNIT_KINDS = ("center", "province", "city", "county", "station", "branch", "department", "team", "unit")


def check_code(value: str, field: str) -> str:
    value = value.strip()
    if not SLUG_RE.match(value):
        raise Invalid(
            f"{field} {value!r} must be 1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a "
            "letter or digit",
            field=field,
        )
    return value


def check_name(value: str, field: str = "name", max_len: int = 200) -> str:
    value = value.strip()
    if not value:
        raise Invalid(f"{field} must not be empty", field=field)
    if len(value) > max_len:
        raise Invalid(f"{field} must be at most {max_len} characters", field=field)
    return value


# -- tenants ----------------------------------------------------------------------------------


async def add_tenant(s: AsyncSession, slug: str, name: str) -> Tenant:
    slug = check_code(slug, "slug")
    name = check_name(name)
    if await s.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(f"tenant {slug!r} already exists", field="slug")
    tenant = Tenant(slug=slug, name=name, active=True)
    s.add(tenant)
    await s.flush()
    return tenant


async def get_tenant(s: AsyncSession, slug: str) -> Tenant:
    tenant = await s.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"no tenant {slug!r}", field="tenant")
    return tenant


async def list_tenants(s: AsyncSession) -> Sequence[Tenant]:
    return (await s.scalars(select(Tenant).order_by(Tenant.id))).all()


async def resolve_tenant(s: AsyncSession, slug: str | None) -> Tenant:
    """The named tenant, or the only tenant when none is named."""
    if slug:
        return await get_tenant(s, slug)
    tenants = await list_tenants(s)
    if len(tenants) == 1:
        return tenants[0]
    if not tenants:
        raise NotFound("no tenant exists yet; create one with `hotline tenant add`", field="tenant")
    names = ", ".join(t.slug for t in tenants)
    raise Invalid(f"several tenants exist ({names}); name one with --tenant", field="tenant")


# -- calendars --------------------------------------------------------------------------------


def validate_calendar(
    timezone: str, week: dict[str, Any], holidays: list[Any], workdays: list[Any]
) -> BusinessCalendar:
    try:
        return BusinessCalendar.from_spec(timezone=timezone, week=week, holidays=holidays, workdays=workdays)
    except CalendarError as exc:
        raise Invalid(exc.reason, field=exc.key) from None


def calendar_model(c: Calendar) -> BusinessCalendar:
    return BusinessCalendar.from_spec(
        timezone=c.timezone, week=c.week, holidays=c.holidays, workdays=c.workdays
    )


async def add_calendar(
    s: AsyncSession,
    tenant_id: int,
    name: str,
    *,
    timezone: str = "Asia/Shanghai",
    week: dict[str, Any] | None = None,
    holidays: list[Any] | None = None,
    workdays: list[Any] | None = None,
) -> Calendar:
    name = check_name(name, max_len=100)
    week = week or {}
    holidays = holidays or []
    workdays = workdays or []
    validate_calendar(timezone, week, holidays, workdays)
    exists = await s.scalar(select(Calendar.id).where(Calendar.tenant_id == tenant_id, Calendar.name == name))
    if exists is not None:
        raise Conflict(f"calendar {name!r} already exists", field="name")
    cal = Calendar(
        tenant_id=tenant_id, name=name, timezone=timezone, week=week, holidays=holidays, workdays=workdays
    )
    s.add(cal)
    await s.flush()
    return cal


async def update_calendar(
    s: AsyncSession,
    cal: Calendar,
    *,
    timezone: str,
    week: dict[str, Any],
    holidays: list[Any],
    workdays: list[Any],
    expected_version: int | None = None,
) -> Calendar:
    if expected_version is not None and expected_version != cal.version:
        raise Conflict(
            f"calendar {cal.name!r} was changed by someone else (version {cal.version}, "
            f"you sent {expected_version})",
            field="version",
        )
    validate_calendar(timezone, week, holidays, workdays)
    cal.timezone, cal.week, cal.holidays, cal.workdays = timezone, week, holidays, workdays
    await s.flush()
    return cal


async def get_calendar(s: AsyncSession, tenant_id: int, key: int | str) -> Calendar:
    return await get_in_tenant(s, Calendar, tenant_id, key, Calendar.name, "calendar")


async def list_calendars(s: AsyncSession, tenant_id: int) -> Sequence[Calendar]:
    return (
        await s.scalars(select(Calendar).where(Calendar.tenant_id == tenant_id).order_by(Calendar.id))
    ).all()


# -- units ------------------------------------------------------------------------------------


async def get_unit(s: AsyncSession, tenant_id: int, key: int | str) -> Unit:
    return await get_in_tenant(s, Unit, tenant_id, key, Unit.code, "unit")


async def add_unit(
    s: AsyncSession,
    tenant_id: int,
    code: str,
    name: str,
    *,
    parent: Unit | None = None,
    kind: str = "unit",
    calendar: Calendar | None = None,
) -> Unit:
    code = check_code(code, "code")
    name = check_name(name)
    if kind not in UNIT_KINDS:
        raise Invalid(f"unknown unit kind {kind!r}; kinds are: {', '.join(UNIT_KINDS)}", field="kind")
    if parent is not None and parent.tenant_id != tenant_id:
        raise NotFound(f"no unit {parent.id}", field="parent")
    if calendar is not None and calendar.tenant_id != tenant_id:
        raise NotFound(f"no calendar {calendar.id}", field="calendar")
    if await s.scalar(select(Unit.id).where(Unit.tenant_id == tenant_id, Unit.code == code)) is not None:
        raise Conflict(f"unit {code!r} already exists", field="code")
    if parent is None:
        roots = await s.scalar(
            select(func.count())
            .select_from(Unit)
            .where(Unit.tenant_id == tenant_id, Unit.parent_id.is_(None))
        )
        if roots:
            raise Invalid("the tenant already has a root unit; name a parent", field="parent")
    unit = Unit(
        tenant_id=tenant_id,
        code=code,
        name=name,
        kind=kind,
        parent_id=parent.id if parent else None,
        calendar_id=calendar.id if calendar else None,
        depth=(parent.depth + 1) if parent else 0,
        path="",
    )
    s.add(unit)
    await s.flush()
    unit.path = f"{parent.path if parent else '/'}{unit.id}/"
    await s.flush()
    return unit


async def list_units(s: AsyncSession, tenant_id: int) -> Sequence[Unit]:
    return (await s.scalars(select(Unit).where(Unit.tenant_id == tenant_id).order_by(Unit.path))).all()


async def effective_calendar(s: AsyncSession, unit: Unit) -> tuple[Calendar | None, BusinessCalendar]:
    """The unit's own calendar, else the nearest ancestor's, else always open."""
    ids = [int(p) for p in unit.path.strip("/").split("/") if p]
    rows = {
        u.id: u.calendar_id
        for u in (
            await s.scalars(select(Unit).where(Unit.tenant_id == unit.tenant_id, Unit.id.in_(ids)))
        ).all()
    }
    for uid in reversed(ids):
        cal_id = rows.get(uid)
        if cal_id is not None:
            cal = await get_calendar(s, unit.tenant_id, cal_id)
            return cal, calendar_model(cal)
    return None, BusinessCalendar.always_open()
