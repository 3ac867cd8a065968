"""Real-time and interval statistics of queues and agents (the wallboard), and its thresholds.

Definitions (SL, ASA, AHT, intervals) are those of :mod:`hotline.cti.stats`. Every list is
scoped: a queue row needs ``stats.read`` over the queue's unit, an agent row over the agent's
unit (or being that agent).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from hotline import audit
from hotline.auth.policy import TENANT_PATH, Perm, Resource, allows
from hotline.cti.stats import check_thresholds
from hotline.cti.statsservice import WALLBOARD_KEY, StatsService
from hotline.errors import Invalid, NotFound
from hotline.store.db import transaction
from hotline.store.models import TenantSetting, Unit
from hotline.store.types import utcnow
from hotline.web.api.ivr import center_of
from hotline.web.api.schemas import Strict
from hotline.web.context import Ctx, CtxDep

router = APIRouter(prefix="/api/v1", tags=["statistics"])


class AgentCounts(BaseModel):
    logged_in: int
    ready: int
    ringing: int
    busy: int = Field(description="busy, hold or outbound")
    wrap_up: int
    not_ready: int


class Levels(BaseModel):
    waiting: str = Field(examples=["ok"], description="ok, warn or alarm")
    longest_wait: str = Field(examples=["warn"])
    sl: str = Field(examples=["alarm"])


class QueueStatsOut(BaseModel):
    queue: str = Field(examples=["general"])
    display_name: str
    unit_id: int
    waiting: int = Field(description="calls waiting now (queued or ringing at an agent)")
    longest_wait: float = Field(description="seconds the oldest waiting call has waited")
    offered: int = Field(description="calls that entered the queue today (local midnight)")
    answered: int
    answered_within: int = Field(description="answered within sl_seconds")
    abandoned: int
    short_abandoned: int = Field(description="abandoned within 5 s (left out of the SL)")
    exited: int = Field(description="left by a queue rule: max wait, closed, no agents")
    overflowed: int = Field(description="moved to another queue")
    sl: float | None = Field(
        examples=[0.85],
        description="answered within sl_seconds ÷ (answered + abandoned − short abandons + exited + "
        "waiting longer than sl_seconds), a fraction 0..1; null before any decided call",
    )
    sl_interval: float | None = Field(description="the same over the current 15-minute interval")
    interval_start: str | None
    interval_offered: int
    interval_answered: int
    interval_abandoned: int
    asa: float | None = Field(description="mean wait of the answered calls (s)")
    aht: float | None = Field(description="(talk + hold + wrap-up) ÷ handled, calls completed today (s)")
    handled: int
    sl_seconds: float
    agents: AgentCounts
    levels: Levels


class AgentStatsOut(BaseModel):
    agent_id: int
    name: str
    unit_id: int
    state: str = Field(
        examples=["busy"], description="logged_out, available, reserved, busy, hold, wrap_up, …"
    )
    since: str | None
    reason: str | None
    call_id: str | None
    caller: str | None
    queue: str | None
    handled: int = Field(description="calls completed today")
    aht: float | None
    extension: str | None
    logout_pending: bool = False


class IntervalOut(BaseModel):
    start: str | None = Field(examples=["2026-11-23T02:00:00+00:00"])
    offered: int
    answered: int
    abandoned: int
    sl: float | None
    asa: float | None


class WallboardSettings(Strict):
    """Threshold colours: ``[warn, alarm]``. waiting (calls) and longest_wait (s): at or above
    is bad, warn ≤ alarm; sl (fraction 0..1): below is bad, warn ≥ alarm."""

    waiting: list[float] = Field([5, 10], examples=[[5, 10]])
    longest_wait: list[float] = Field([60, 120], examples=[[60, 120]])
    sl: list[float] = Field([0.8, 0.6], examples=[[0.8, 0.6]])


def service(ctx: Ctx) -> StatsService:
    svc: StatsService = center_of(ctx).stats
    return svc


async def unit_paths(ctx: Ctx) -> dict[int, str]:
    async with ctx.db() as s:
        rows = (await s.execute(select(Unit.id, Unit.path).where(Unit.tenant_id == ctx.tenant_id))).all()
    return {uid: path for uid, path in rows}


def _queue_visible(ctx: Ctx, paths: dict[int, str], doc: dict[str, Any]) -> bool:
    res = Resource("queue", ctx.tenant_id, paths.get(doc["unit_id"], TENANT_PATH), None, doc["queue"])
    return allows(ctx.principal, Perm.STATS_READ, res)


def _agent_visible(ctx: Ctx, paths: dict[int, str], doc: dict[str, Any]) -> bool:
    aid = doc["agent_id"]
    res = Resource("agent", ctx.tenant_id, paths.get(doc["unit_id"], TENANT_PATH), aid, str(aid))
    return allows(ctx.principal, Perm.STATS_READ, res)


@router.get(
    "/stats/queues",
    response_model=list[QueueStatsOut],
    summary="Live queue statistics of today (waiting, SL, ASA, AHT, agents by state) with threshold levels",
)
async def queue_stats(ctx: CtxDep) -> list[dict[str, Any]]:
    await ctx.require_any(Perm.STATS_READ, "queue")
    paths = await unit_paths(ctx)
    return [d for d in service(ctx).queue_docs(ctx.tenant_id) if _queue_visible(ctx, paths, d)]


@router.get(
    "/stats/agents",
    response_model=list[AgentStatsOut],
    summary="Live agent statistics: state and time in it, current call, calls handled today, AHT",
)
async def agent_stats(ctx: CtxDep) -> list[dict[str, Any]]:
    await ctx.require_any(Perm.STATS_READ, "agent")
    paths = await unit_paths(ctx)
    return [d for d in service(ctx).agent_docs(ctx.tenant_id) if _agent_visible(ctx, paths, d)]


@router.get(
    "/stats/intervals",
    response_model=list[IntervalOut],
    summary="15-minute intervals of the last hours (offered, answered, abandoned, SL, ASA)",
    description="One queue (`queue=`), or the sum over every queue you may see. Buckets start at "
    "local :00, :15, :30 and :45; a call counts in the interval it entered the queue.",
)
async def intervals(
    ctx: CtxDep,
    hours: int = Query(8, ge=1, le=24, description="how far back"),
    queue: str | None = Query(None, max_length=64, description="one queue; default all you may see"),
) -> list[dict[str, Any]]:
    await ctx.require_any(Perm.STATS_READ, "queue")
    svc = service(ctx)
    acd = center_of(ctx).acd.tenants.get(ctx.tenant_id)
    queues = acd.queues if acd is not None else {}
    paths = await unit_paths(ctx)
    if queue:
        info = queues.get(queue)
        if info is None:
            raise NotFound(f"no queue {queue!r}", field="queue")
        res = Resource("queue", ctx.tenant_id, paths.get(info.unit_id, TENANT_PATH), None, queue)
        await ctx.authorize(Perm.STATS_READ, res)
        names = [queue]
    else:
        names = [
            n
            for n, info in queues.items()
            if _queue_visible(ctx, paths, {"queue": n, "unit_id": info.unit_id})
        ]
    return svc.intervals(ctx.tenant_id, hours, names)


@router.get(
    "/wallboard/settings",
    response_model=WallboardSettings,
    summary="The wallboard's threshold colours",
)
async def get_wallboard(ctx: CtxDep) -> dict[str, list[float]]:
    await ctx.require_any(Perm.STATS_READ, "wallboard")
    return service(ctx).thresholds(ctx.tenant_id)


@router.put(
    "/wallboard/settings",
    response_model=WallboardSettings,
    summary="Change the wallboard's threshold colours (queue.write, tenant-wide)",
)
async def put_wallboard(body: WallboardSettings, ctx: CtxDep) -> dict[str, list[float]]:
    await ctx.authorize(
        Perm.QUEUE_WRITE, Resource("wallboard", ctx.tenant_id, TENANT_PATH, None, WALLBOARD_KEY)
    )
    try:
        value = check_thresholds(body.model_dump())
    except ValueError as exc:
        field, _, _ = str(exc).partition(":")
        raise Invalid(str(exc), field=field) from None
    async with transaction(ctx.db) as s:
        row = await s.scalar(
            select(TenantSetting).where(
                TenantSetting.tenant_id == ctx.tenant_id, TenantSetting.key == WALLBOARD_KEY
            )
        )
        if row is None:
            row = TenantSetting(tenant_id=ctx.tenant_id, key=WALLBOARD_KEY)
            s.add(row)
        row.value = value
        row.updated_at = utcnow()
        audit.record(
            s,
            "wallboard.settings",
            principal=ctx.principal,
            resource_type="wallboard",
            resource_id=WALLBOARD_KEY,
            detail=value,
        )
    service(ctx).set_thresholds(ctx.tenant_id, value)
    return value
