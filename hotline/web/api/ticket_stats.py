"""Work-order statistics and the revisit queue: ``GET /api/v1/tickets/stats`` (JSON, CSV, XLSX)
and ``GET /api/v1/tickets/revisits``.

Registered before the tickets router, so these fixed paths win over ``/api/v1/tickets/{key}``.

* Statistics need ``stats.read`` or ``ticket.read``; they count only the orders the reader may see
  with either (responsible unit within a granted unit / subtree, or handled by the reader for
  ``own`` grants). Definitions: :mod:`hotline.tickets.stats`. Exports (CSV / XLSX) are audited
  (``ticket.stats.export``).
* The revisit queue needs ``ticket.read`` and lists the orders of the reader's scope awaiting
  their revisit (:mod:`hotline.tickets.revisit`), oldest first, with the contact to call back and
  the reply given; the read is audited (``ticket.revisits``). Recording the answer is the
  ``revisit`` action of ``POST /api/v1/tickets/{id}/actions``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from hotline import audit
from hotline.auth.policy import DataScope, Perm, can_at_all, data_scope
from hotline.errors import Invalid, NotFound
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import TicketHistory, Unit
from hotline.tickets import export, revisit, stats
from hotline.utility.payments import tenant_zone
from hotline.web.context import Ctx, CtxDep

router = APIRouter(tags=["tickets"])
PREFIX = "/api/v1/tickets"


# -- models --------------------------------------------------------------------------------------


class StatsRowOut(BaseModel):
    period: str | None = Field(None, examples=["2026-11-23"], description="day or month (when grouped so)")
    unit_id: int | None = None
    unit: str | None = Field(None, examples=["js.nj.jn.ds"], description="responsible unit's code")
    unit_name: str | None = None
    type: str | None = Field(None, examples=["complaint"])
    type_label: str | None = Field(None, examples=["投诉"])
    accepted: int = Field(description="orders created in the period")
    withdrawn: int = Field(description="of those, cancelled or merged")
    handled: int = Field(description="replied at least once")
    pending: int = Field(description="neither handled nor withdrawn")
    overdue: int = Field(description="a deadline step ran past due, or a running one is past due now")
    overdue_seconds: float = Field(description="finished overdue time + running overdue, summed")
    on_time: int = Field(description="handled and not overdue")
    substantiated: int
    repeat: int = Field(description="linked to an earlier order of the same customer and type")
    revisited: int
    satisfied: int
    basically_satisfied: int
    dissatisfied: int
    urges: int
    escalations: int
    reply_rate: float | None = Field(None, examples=[0.95], description="handled ÷ (accepted − withdrawn)")
    on_time_rate: float | None = Field(None, description="on_time ÷ handled")
    satisfaction_rate: float | None = Field(None, description="(satisfied + basically_satisfied) ÷ revisited")
    substantiated_rate: float | None = Field(None, description="substantiated ÷ handled")
    overdue_avg_seconds: float | None = Field(None, description="overdue_seconds ÷ overdue")


class StatsOut(BaseModel):
    from_: date = Field(alias="from", examples=["2026-11-01"])
    to: date = Field(examples=["2026-11-30"])
    timezone: str = Field(examples=["Asia/Shanghai"], description="the days are local days of this zone")
    group_by: list[str] = Field(examples=[["unit", "type"]])
    filters: dict[str, Any]
    generated_at: datetime
    rows: list[StatsRowOut]
    total: StatsRowOut

    model_config = {"populate_by_name": True}


class RevisitOut(BaseModel):
    id: int
    number: str = Field(examples=["GD20261123-0000042"])
    type: str
    type_label: str
    state: str = Field(examples=["reviewed"])
    version: int = Field(description="pass it with the revisit action")
    subject: str
    unit_id: int
    unit: str
    customer_id: int | None
    account_no: str
    contact_name: str
    contact_phone: str
    channel: str
    replied_at: datetime | None
    reply: str = Field(description="the last reply's note (the result to tell the customer)")
    substantiated: bool | None
    since: datetime = Field(description="when it reached the state the revisit is made from")
    due_at: datetime | None = Field(None, description="the revisit step's deadline, when the SLA tracks it")
    overdue: bool
    urges: int


class RevisitPage(BaseModel):
    items: list[RevisitOut]
    limit: int


# -- helpers -------------------------------------------------------------------------------------


def union(a: DataScope, b: DataScope) -> DataScope:
    return DataScope(
        a.everything or b.everything,
        a.unit_paths | b.unit_paths,
        a.unit_prefixes | b.unit_prefixes,
        a.owner_id if a.owner_id is not None else b.owner_id,
    )


def stats_scope(ctx: Ctx) -> DataScope | None:
    """What the reader's statistics count (None: the whole tenant)."""
    p = ctx.principal
    scope = union(data_scope(p, Perm.STATS_READ), data_scope(p, Perm.TICKET_READ))
    return None if scope.everything else scope


async def _unit(ctx: Ctx, s: Any, key: str) -> Unit:
    try:
        return await org.get_unit(s, ctx.tenant_id, int(key) if key.isdecimal() else key)
    except NotFound:
        raise Invalid(f"unknown unit {key!r}", field="unit") from None


def _groups(text: list[str] | None) -> tuple[str, ...]:
    parts: list[str] = []
    for item in text or []:
        parts.extend(item.split(","))
    return stats.check_groups(parts)


def _row_out(r: stats.Row) -> StatsRowOut:
    return StatsRowOut.model_validate(r.as_dict())


def report_out(rep: stats.Report) -> StatsOut:
    return StatsOut(
        from_=rep.start,
        to=rep.end,
        timezone=rep.timezone,
        group_by=list(rep.group_by),
        filters=rep.filters,
        generated_at=rep.generated_at,
        rows=[_row_out(r) for r in rep.rows],
        total=_row_out(rep.total),
    )


# -- endpoints -----------------------------------------------------------------------------------


@router.get(
    PREFIX + "/stats",
    response_model=StatsOut,
    response_model_by_alias=True,
    summary="Work-order statistics per period, unit and type (JSON, CSV or XLSX)",
    responses={
        200: {
            "content": {
                "text/csv": {"example": "\ufeff单位编码,单位,类型编码,类型,受理量,…"},
                export.XLSX_TYPE: {},
            },
            "description": "JSON, or the file (Content-Disposition: attachment) for format=csv|xlsx",
        }
    },
)
async def ticket_stats(
    ctx: CtxDep,
    from_: date = Query(alias="from", examples=["2026-11-01"], description="first local day"),
    to: date = Query(examples=["2026-11-30"], description="last local day (inclusive)"),
    group_by: list[str] | None = Query(
        None,
        examples=["unit,type"],
        description="comma-separated or repeated: unit, type, day, month (day and month exclude each other)",
    ),
    unit: str | None = Query(None, max_length=64, description="only this unit's subtree (code or id)"),
    type: str | None = Query(None, max_length=64, examples=["complaint"]),
    unit_depth: int | None = Query(
        None,
        ge=0,
        le=20,
        examples=[2],
        description="with group_by unit: roll units up to their ancestors at this depth (0 = the root)",
    ),
    format: Literal["json", "csv", "xlsx"] = Query("json"),
    lang: Literal["zh", "en"] = Query("zh", description="headers and type names of the files"),
) -> Any:
    p = ctx.principal
    if not (can_at_all(p, Perm.STATS_READ) or can_at_all(p, Perm.TICKET_READ)):
        await ctx.deny(Perm.TICKET_READ, "ticket", "")
    groups = _groups(group_by)
    async with transaction(ctx.db) as s:
        tz = await tenant_zone(s, ctx.tenant_id)
        u = await _unit(ctx, s, unit) if unit else None
        rep = await stats.compute(
            s,
            ctx.tenant_id,
            start=from_,
            end=to,
            tz=tz,
            group_by=groups,
            unit=u,
            type_code=type,
            scope=stats_scope(ctx),
            unit_depth=unit_depth,
        )
        if format != "json":
            audit.record(
                s,
                "ticket.stats.export",
                principal=p,
                resource_type="ticket",
                detail={
                    "from": from_.isoformat(),
                    "to": to.isoformat(),
                    "group_by": list(groups),
                    "format": format,
                    "rows": len(rep.rows),
                    **rep.filters,
                },
            )
    if format == "json":
        return report_out(rep)
    data, media = export.render(rep, format, lang=lang)
    return Response(
        content=data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{export.filename(rep, format)}"'},
    )


@router.get(
    PREFIX + "/revisits",
    response_model=RevisitPage,
    summary="Orders awaiting their revisit (call-back), oldest first (audited)",
)
async def revisit_queue(
    ctx: CtxDep,
    type: str | None = Query(None, max_length=64, examples=["complaint"]),
    unit: str | None = Query(None, max_length=64, description="only this unit's subtree (code or id)"),
    customer: int | None = Query(None, ge=1, description="customer id"),
    limit: int = Query(50, ge=1, le=revisit.MAX_LIMIT),
) -> RevisitPage:
    await ctx.require_any(Perm.TICKET_READ, "ticket")
    scope = data_scope(ctx.principal, Perm.TICKET_READ)
    from hotline.tickets import service as svc

    async with transaction(ctx.db) as s:
        u = await _unit(ctx, s, unit) if unit else None
        waiting = await revisit.queue(
            s,
            ctx.tenant_id,
            scope=None if scope.everything else scope,
            type_code=type,
            unit=u,
            customer_id=customer,
            limit=limit,
        )
        ids = [w.ticket.id for w in waiting]
        replies: dict[int, str] = {}
        if ids:
            for tid, note in await s.execute(
                select(TicketHistory.ticket_id, TicketHistory.note)
                .where(TicketHistory.ticket_id.in_(ids), TicketHistory.action == "reply")
                .order_by(TicketHistory.version, TicketHistory.id)
            ):
                replies[tid] = note
        types = await svc.types_for(s, ctx.tenant_id)
        audit.record(
            s,
            "ticket.revisits",
            principal=ctx.principal,
            resource_type="ticket",
            detail={"count": len(ids), "tickets": ids[:50]},
        )
    items = []
    for w in waiting:
        t = w.ticket
        tt = types.get(t.type_code)
        items.append(
            RevisitOut(
                id=t.id,
                number=t.number,
                type=t.type_code,
                type_label=tt.label if tt is not None else t.type_code,
                state=t.state,
                version=t.version,
                subject=t.subject,
                unit_id=t.unit_id,
                unit=w.unit_code,
                customer_id=t.customer_id,
                account_no=t.account_no,
                contact_name=t.contact_name,
                contact_phone=t.contact_phone,
                channel=t.channel,
                replied_at=t.replied_at,
                reply=replies.get(t.id, ""),
                substantiated=t.substantiated,
                since=w.since,
                due_at=w.due_at,
                overdue=w.overdue,
                urges=t.urges,
            )
        )
    return RevisitPage(items=items, limit=limit)
