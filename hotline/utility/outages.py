"""Outages (停电): planned and unplanned, over grid areas, and who they affect.

An outage belongs to a supply unit (``unit``: who manages it; ``outage.write`` is checked over
that unit) and covers one or more **areas**: a whole feeder (``transformer_area`` = "") or one
transformer area (台区) of a feeder. A customer is affected when their ``feeder`` matches a
whole-feeder area, or their ``(feeder, transformer_area)`` matches an area.

States and the only transitions allowed (anything else is a 409 naming the state and the
allowed moves)::

    scheduled ──activate──▶ active ──restore──▶ restored
        └──────cancel──────▶ cancelled

An unplanned outage is usually created ``active`` directly; a planned one ``scheduled``.

:func:`outages_for_customer` answers "what should this caller hear": outages covering the
customer's area that are in effect at ``at`` (active, or scheduled whose start has come and
whose expected end has not; or already restored after ``at`` — for questions about the past)
or that are planned to start within :data:`LOOKAHEAD` (7 days) after ``at``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.crm.facts import CustomerFacts
from hotline.errors import Conflict, Invalid, NotFound
from hotline.org import service as org
from hotline.store.models import Customer, Outage, OutageArea, Unit
from hotline.store.types import utcnow, valid_id
from hotline.utility import speech
from hotline.utility.backend import OutageInfo

KINDS = ("planned", "unplanned")
STATES = ("scheduled", "active", "restored", "cancelled")
TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "scheduled": ("active", "cancelled"),
    "active": ("restored",),
    "restored": (),
    "cancelled": (),
}
LOOKAHEAD = timedelta(days=7)
MAX_AREAS = 500
MAX_CAUSE = 500
AREA_FIELD_MAX = 64


@dataclass(frozen=True)
class Area:
    feeder: str
    transformer_area: str = ""


# -- pure checks -------------------------------------------------------------------------------


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise Invalid(f"unknown outage kind {kind!r}; kinds are: {', '.join(KINDS)}", field="kind")
    return kind


def check_transition(current: str, target: str) -> None:
    """Raise :class:`Conflict` unless ``current`` → ``target`` is allowed."""
    allowed = TRANSITIONS.get(current, ())
    if target not in allowed:
        moves = ", ".join(allowed) if allowed else "none (it is final)"
        raise Conflict(
            f"the outage is {current}: it cannot become {target}; allowed: {moves}", field="status"
        )


def check_window(start_at: datetime, expected_end_at: datetime | None) -> None:
    for name, value in (("start_at", start_at), ("expected_end_at", expected_end_at)):
        if value is not None and value.tzinfo is None:
            raise Invalid(f"{name}: give a time zone (e.g. 2026-11-23T09:00:00+08:00)", field=name)
    if expected_end_at is not None and expected_end_at <= start_at:
        raise Invalid("expected_end_at must be after start_at", field="expected_end_at")


def check_areas(areas: Iterable[Area | Mapping[str, Any] | Sequence[str]]) -> list[Area]:
    """Normalised, de-duplicated areas; at least one; each needs a feeder."""
    out: list[Area] = []
    seen: set[tuple[str, str]] = set()
    for i, raw in enumerate(areas):
        if isinstance(raw, Area):
            feeder, ta = raw.feeder, raw.transformer_area
        elif isinstance(raw, Mapping):
            feeder, ta = str(raw.get("feeder") or ""), str(raw.get("transformer_area") or "")
        else:
            items = list(raw)
            feeder, ta = (str(items[0]) if items else ""), (str(items[1]) if len(items) > 1 else "")
        feeder, ta = feeder.strip(), ta.strip()
        if not feeder:
            raise Invalid(f"areas[{i}].feeder: every area needs a feeder", field=f"areas[{i}].feeder")
        for name, value in (("feeder", feeder), ("transformer_area", ta)):
            if len(value) > AREA_FIELD_MAX:
                raise Invalid(
                    f"areas[{i}].{name}: at most {AREA_FIELD_MAX} characters", field=f"areas[{i}].{name}"
                )
        if (feeder, ta) not in seen:
            seen.add((feeder, ta))
            out.append(Area(feeder, ta))
    if not out:
        raise Invalid("an outage needs at least one area", field="areas")
    if len(out) > MAX_AREAS:
        raise Invalid(f"at most {MAX_AREAS} areas per outage", field="areas")
    return out


def notice_text(
    kind: str,
    cause: str,
    start_at: datetime,
    expected_end_at: datetime | None,
    status: str,
    lang: str,
    *,
    now: datetime,
    tz: str = "Asia/Shanghai",
    custom: Mapping[str, Any] | None = None,
) -> str:
    """What the IVR says about one outage (the outage's own ``notice`` text wins if it has one)."""
    zh = speech.is_chinese(lang)
    if custom:
        own = custom.get("zh" if zh else "en") or custom.get("zh-CN" if zh else "en-US")
        if isinstance(own, str) and own.strip():
            return own.strip()
    started = status == "active" or start_at <= now
    if zh:
        what = "计划停电" if kind == "planned" else "故障停电"
        if started:
            text = f"您所在的区域正在{what}"
        else:
            text = f"您所在的区域将于{speech.datetime_(start_at, lang, tz)}{what}"
        if cause:
            text += f"，原因：{cause}"
        if expected_end_at is not None:
            text += f"，预计{speech.datetime_(expected_end_at, lang, tz)}恢复供电"
        return text + "。"
    what = "a planned outage" if kind == "planned" else "an unplanned outage"
    if started:
        text = f"There is {what} in your area"
    else:
        text = f"There will be {what} in your area from {speech.datetime_(start_at, lang, tz)}"
    if cause:
        text += f", cause: {cause}"
    if expected_end_at is not None:
        text += f". Power is expected back on {speech.datetime_(expected_end_at, lang, tz)}"
    return text + "."


# -- storage -----------------------------------------------------------------------------------


async def _unit(s: AsyncSession, tenant_id: int, unit: int | str | Unit) -> Unit:
    if isinstance(unit, Unit):
        if unit.tenant_id != tenant_id:
            raise Invalid(f"unknown unit {unit.id}", field="unit")
        return unit
    try:
        return await org.get_unit(s, tenant_id, unit)
    except NotFound:
        raise Invalid(f"unknown unit {unit!r}", field="unit") from None


async def get_outage(s: AsyncSession, tenant_id: int, outage_id: int) -> Outage:
    o = None
    if valid_id(outage_id):
        o = await s.scalar(select(Outage).where(Outage.id == outage_id, Outage.tenant_id == tenant_id))
    if o is None:
        raise NotFound(f"no outage {outage_id}", field="outage")
    return o


async def areas_of(s: AsyncSession, outage_ids: Iterable[int]) -> dict[int, list[Area]]:
    ids = sorted(set(outage_ids))
    out: dict[int, list[Area]] = {i: [] for i in ids}
    if not ids:
        return out
    rows = await s.execute(
        select(OutageArea.outage_id, OutageArea.feeder, OutageArea.transformer_area)
        .where(OutageArea.outage_id.in_(ids))
        .order_by(OutageArea.id)
    )
    for oid, feeder, ta in rows:
        out[oid].append(Area(feeder, ta))
    return out


async def _set_areas(s: AsyncSession, o: Outage, areas: list[Area]) -> None:
    await s.execute(delete(OutageArea).where(OutageArea.outage_id == o.id))
    s.add_all(
        OutageArea(
            tenant_id=o.tenant_id, outage_id=o.id, feeder=a.feeder, transformer_area=a.transformer_area
        )
        for a in areas
    )
    await s.flush()


def _cause(cause: str) -> str:
    cause = cause.strip()
    if len(cause) > MAX_CAUSE:
        raise Invalid(f"cause: at most {MAX_CAUSE} characters", field="cause")
    return cause


def _notice(notice: Mapping[str, Any] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in (notice or {}).items():
        if k not in ("zh", "en"):
            raise Invalid(f"notice: languages are zh and en, not {k!r}", field="notice")
        if not isinstance(v, str) or len(v) > 1000:
            raise Invalid(f"notice.{k}: a text of at most 1000 characters", field=f"notice.{k}")
        if v.strip():
            out[k] = v.strip()
    return out


async def create_outage(
    s: AsyncSession,
    tenant_id: int,
    *,
    unit: int | str | Unit,
    kind: str,
    start_at: datetime,
    areas: Iterable[Area | Mapping[str, Any] | Sequence[str]],
    cause: str = "",
    expected_end_at: datetime | None = None,
    status: str = "scheduled",
    notice: Mapping[str, Any] | None = None,
    user_id: int | None = None,
) -> Outage:
    """A new outage (``status`` scheduled, or active for an outage already under way)."""
    check_kind(kind)
    if status not in ("scheduled", "active"):
        raise Invalid("a new outage is scheduled or active", field="status")
    check_window(start_at, expected_end_at)
    clean = check_areas(areas)
    u = await _unit(s, tenant_id, unit)
    o = Outage(
        tenant_id=tenant_id,
        unit_id=u.id,
        kind=kind,
        status=status,
        cause=_cause(cause),
        start_at=start_at,
        expected_end_at=expected_end_at,
        notice=_notice(notice),
        created_by=user_id,
    )
    s.add(o)
    await s.flush()
    await _set_areas(s, o, clean)
    return o


async def update_outage(
    s: AsyncSession,
    tenant_id: int,
    outage_id: int,
    *,
    unit: int | str | Unit | None = None,
    kind: str | None = None,
    cause: str | None = None,
    start_at: datetime | None = None,
    expected_end_at: datetime | None = None,
    clear_expected_end: bool = False,
    areas: Iterable[Area | Mapping[str, Any] | Sequence[str]] | None = None,
    notice: Mapping[str, Any] | None = None,
) -> Outage:
    """Change an outage that is not over (restored and cancelled ones are final: 409)."""
    o = await get_outage(s, tenant_id, outage_id)
    if o.status in ("restored", "cancelled"):
        raise Conflict(f"the outage is {o.status}: it can no longer be changed", field="status")
    new_start = start_at or o.start_at
    new_end = None if clear_expected_end else (expected_end_at or o.expected_end_at)
    check_window(new_start, new_end)
    if kind is not None:
        o.kind = check_kind(kind)
    if unit is not None:
        o.unit_id = (await _unit(s, tenant_id, unit)).id
    if cause is not None:
        o.cause = _cause(cause)
    if notice is not None:
        o.notice = _notice(notice)
    o.start_at, o.expected_end_at = new_start, new_end
    if areas is not None:
        await _set_areas(s, o, check_areas(areas))
    await s.flush()
    return o


async def transition(
    s: AsyncSession, tenant_id: int, outage_id: int, target: str, *, at: datetime | None = None
) -> Outage:
    """Move an outage to ``target`` (active, restored, cancelled); :class:`Conflict` if not allowed."""
    o = await get_outage(s, tenant_id, outage_id)
    check_transition(o.status, target)
    at = at or utcnow()
    if target == "active" and o.start_at > at:
        o.start_at = at  # it started earlier than planned
    if target == "restored":
        o.actual_end_at = max(at, o.start_at)
    o.status = target
    await s.flush()
    return o


async def activate(s: AsyncSession, tenant_id: int, outage_id: int, *, at: datetime | None = None) -> Outage:
    return await transition(s, tenant_id, outage_id, "active", at=at)


async def restore(s: AsyncSession, tenant_id: int, outage_id: int, *, at: datetime | None = None) -> Outage:
    return await transition(s, tenant_id, outage_id, "restored", at=at)


async def cancel(s: AsyncSession, tenant_id: int, outage_id: int) -> Outage:
    return await transition(s, tenant_id, outage_id, "cancelled")


# -- who is affected ---------------------------------------------------------------------------


def in_effect(at: datetime) -> ColumnElement[bool]:
    """SQL: the outage is in effect at ``at`` or planned to start within :data:`LOOKAHEAD`."""
    soon = at + LOOKAHEAD
    return or_(
        and_(Outage.status == "active", Outage.start_at <= soon),
        and_(
            Outage.status == "scheduled",
            Outage.start_at <= soon,
            or_(Outage.expected_end_at.is_(None), Outage.expected_end_at > at),
        ),
        and_(Outage.status == "restored", Outage.start_at <= at, Outage.actual_end_at > at),
    )


async def outages_for_area(
    s: AsyncSession, tenant_id: int, feeder: str, transformer_area: str, at: datetime | None = None
) -> list[Outage]:
    """Outages covering a grid place that are in effect at ``at`` (default now) or start within 7 days."""
    if not feeder:
        return []
    at = at or utcnow()
    area_match = and_(
        OutageArea.tenant_id == tenant_id,
        OutageArea.feeder == feeder,
        or_(OutageArea.transformer_area == "", OutageArea.transformer_area == transformer_area)
        if transformer_area
        else OutageArea.transformer_area == "",
    )
    ids = select(OutageArea.outage_id).where(area_match)
    q = (
        select(Outage)
        .where(Outage.tenant_id == tenant_id, Outage.id.in_(ids), in_effect(at))
        .order_by(Outage.start_at, Outage.id)
    )
    return list((await s.scalars(q)).all())


async def outages_for_customer(
    s: AsyncSession, tenant_id: int, customer: CustomerFacts, at: datetime | None = None
) -> list[Outage]:
    """Outages affecting the customer (their feeder / transformer area), see :func:`outages_for_area`."""
    return await outages_for_area(s, tenant_id, customer.feeder, customer.transformer_area, at)


def _customers_in(areas: Sequence[Area]) -> ColumnElement[bool]:
    whole = sorted({a.feeder for a in areas if not a.transformer_area})
    parts: list[ColumnElement[bool]] = []
    if whole:
        parts.append(Customer.feeder.in_(whole))
    for a in areas:
        if a.transformer_area and a.feeder not in whole:
            parts.append(and_(Customer.feeder == a.feeder, Customer.transformer_area == a.transformer_area))
    return or_(*parts) if parts else Customer.id.is_(None)


async def affected_customers_count(
    s: AsyncSession, tenant_id: int, outage: Outage | int | Sequence[Area]
) -> int:
    """How many customers the outage's areas (or the given areas) cover."""
    if isinstance(outage, Outage | int):
        oid = outage.id if isinstance(outage, Outage) else outage
        areas = (await areas_of(s, [oid]))[oid]
    else:
        areas = list(outage)
    if not areas:
        return 0
    q = (
        select(func.count())
        .select_from(Customer)
        .where(Customer.tenant_id == tenant_id, _customers_in(areas))
    )
    return int(await s.scalar(q) or 0)


def to_info(
    o: Outage, areas: Sequence[Area], *, now: datetime | None = None, tz: str = "Asia/Shanghai"
) -> OutageInfo:
    """The back-end form of an outage, with the announcement in both languages."""
    now = now or utcnow()
    notice = {
        lang: notice_text(
            o.kind, o.cause, o.start_at, o.expected_end_at, o.status, lang, now=now, tz=tz, custom=o.notice
        )
        for lang in ("zh", "en")
    }
    return OutageInfo(
        id=str(o.id),
        kind=o.kind,
        status=o.status,
        cause=o.cause,
        start_at=o.start_at,
        expected_end_at=o.expected_end_at,
        actual_end_at=o.actual_end_at,
        areas=tuple((a.feeder, a.transformer_area) for a in areas),
        notice=notice,
    )


async def infos_for_customer(
    s: AsyncSession,
    tenant_id: int,
    customer: Customer,
    at: datetime | None = None,
    *,
    tz: str = "Asia/Shanghai",
) -> list[OutageInfo]:
    """:func:`outages_for_customer` as :class:`OutageInfo` (for back-ends and the screen pop)."""
    rows = await outages_for_customer(s, tenant_id, customer, at)
    areas = await areas_of(s, [o.id for o in rows])
    return [to_info(o, areas[o.id], now=at, tz=tz) for o in rows]
