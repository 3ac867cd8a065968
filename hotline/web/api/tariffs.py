"""Tariffs and bill runs of the built-in utility back-end.

Tariffs are tenant-wide: reading them needs ``billing.read`` in any scope, changing them
``tariff.write`` at tenant scope. A tariff code has versions by ``effective_from``; a version
used by bills cannot change (409: save a later version instead).

Bill runs (``POST /api/v1/billing/runs``) need ``tariff.write`` at tenant scope. A tenant with
at most :data:`INLINE_LIMIT` active customers is billed inside the request (200 with the
report); a larger one in a background task of the server (202; follow it with
``GET /api/v1/billing/runs/{period}``). The last run's status and report per period are kept in
the tenant setting ``billing.run.<period>``. A run interrupted by a restart is simply started
again: it bills only the customers not billed yet.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline import audit
from hotline.auth.policy import TENANT_PATH, Perm, Resource
from hotline.errors import Conflict, NotFound
from hotline.store.db import transaction
from hotline.store.models import Bill, Customer, Tariff, TenantSetting
from hotline.store.types import utcnow
from hotline.utility import billrun
from hotline.utility import tariffs as T
from hotline.web.api.schemas import Strict
from hotline.web.context import CtxDep

log = logging.getLogger("hotline.billing")
router = APIRouter(prefix="/api/v1", tags=["tariffs and billing"])

#: tenants with at most this many active customers are billed inside the request
INLINE_LIMIT = 20000
_running: dict[tuple[int, str], asyncio.Task[dict[str, Any]]] = {}

EXAMPLE = {
    "code": "res-tiered",
    "name": "城镇居民生活用电（年阶梯）",
    "kind": "tiered",
    "customer_class": "urban_resident",
    "voltage": "*",
    "effective_from": "2027-01-01",
    "tier_period": "annual",
    "tiers": [
        {"upto": "2760", "price": "0.5283"},
        {"upto": "4800", "price": "0.5783"},
        {"price": "0.8283"},
    ],
}


class TariffVersionOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    customer_class: str
    voltage: str
    effective_from: date
    by_default: bool
    in_force: bool = Field(description="the version in force today")
    bills: int = Field(description="bills issued with this version (it can no longer change)")
    created_at: datetime
    spec: dict[str, Any]


class TariffSummary(BaseModel):
    code: str
    name: str
    kind: str
    customer_class: str
    voltage: str
    by_default: bool
    current: TariffVersionOut | None = Field(
        description="the version in force today (None: only future ones)"
    )
    versions: list[date]


class ValidationOut(BaseModel):
    valid: bool
    errors: list[dict[str, str]] = Field(
        examples=[[{"field": "tiers[1].upto", "reason": "must be greater…"}]]
    )
    spec: dict[str, Any] | None = Field(None, description="the canonical document when valid")


class RunIn(Strict):
    period: str = Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2026-10"])
    due_days: int = Field(24, ge=0, le=365, description="days from issue to the due date")
    issued_on: date | None = Field(None, description="default: the 1st of the following month")


class RunOut(BaseModel):
    period: str
    status: str = Field(description="done | running | failed | none")
    started_at: str | None = None
    finished_at: str | None = None
    report: dict[str, Any] | None = None
    error: str | None = None
    summary: dict[str, Any] | None = Field(None, description="bills, kWh and amount in the database now")


def _out(row: Tariff, *, in_force: bool, bills: int) -> TariffVersionOut:
    return TariffVersionOut(
        id=row.id,
        code=row.code,
        name=row.name,
        kind=row.kind,
        customer_class=row.customer_class,
        voltage=row.voltage,
        effective_from=row.effective_from,
        by_default=bool(row.spec.get("by_default", True)),
        in_force=in_force,
        bills=bills,
        created_at=row.created_at,
        spec=row.spec,
    )


async def _rows(
    s: AsyncSession, tenant_id: int, code: str | None = None
) -> tuple[list[Tariff], dict[int, int]]:
    q = select(Tariff).where(Tariff.tenant_id == tenant_id)
    if code is not None:
        q = q.where(Tariff.code == code)
    rows = list((await s.scalars(q.order_by(Tariff.code, Tariff.effective_from))).all())
    ids = [r.id for r in rows]
    used: dict[int, int] = {}
    if ids:
        used = {
            tid: n
            for tid, n in (
                await s.execute(
                    select(Bill.tariff_id, func.count())
                    .where(Bill.tenant_id == tenant_id, Bill.tariff_id.in_(ids))
                    .group_by(Bill.tariff_id)
                )
            ).all()
            if tid is not None
        }
    return rows, used


def _in_force(rows: list[Tariff], today: date) -> set[int]:
    current: dict[str, Tariff] = {}
    for r in rows:
        if r.effective_from <= today and (
            r.code not in current or r.effective_from > current[r.code].effective_from
        ):
            current[r.code] = r
    return {r.id for r in current.values()}


@router.get(
    "/tariffs", response_model=list[TariffSummary], summary="Every tariff with the version in force today"
)
async def list_tariffs(ctx: CtxDep) -> list[TariffSummary]:
    await ctx.require_any(Perm.BILLING_READ, "tariff")
    async with ctx.db() as s:
        rows, used = await _rows(s, ctx.tenant_id)
    live = _in_force(rows, date.today())
    by_code: dict[str, list[Tariff]] = {}
    for r in rows:
        by_code.setdefault(r.code, []).append(r)
    out = []
    for code, versions in by_code.items():
        cur = next((v for v in versions if v.id in live), None)
        shown = cur or versions[-1]
        out.append(
            TariffSummary(
                code=code,
                name=shown.name,
                kind=shown.kind,
                customer_class=shown.customer_class,
                voltage=shown.voltage,
                by_default=bool(shown.spec.get("by_default", True)),
                current=None if cur is None else _out(cur, in_force=True, bills=used.get(cur.id, 0)),
                versions=[v.effective_from for v in versions],
            )
        )
    return out


@router.get(
    "/tariffs/{code}",
    response_model=list[TariffVersionOut],
    summary="Every version of a tariff, oldest first",
)
async def get_tariff(code: str, ctx: CtxDep) -> list[TariffVersionOut]:
    await ctx.require_any(Perm.BILLING_READ, "tariff")
    async with ctx.db() as s:
        rows, used = await _rows(s, ctx.tenant_id, code)
    if not rows:
        raise NotFound(f"no tariff {code!r}")
    live = _in_force(rows, date.today())
    return [_out(r, in_force=r.id in live, bills=used.get(r.id, 0)) for r in rows]


@router.put(
    "/tariffs/{code}",
    response_model=TariffVersionOut,
    summary="Create a tariff version (or change one no bill uses yet)",
    description="The body is the tariff document (see `hotline/utility/tariffs.py`), with "
    "`effective_from`; `code` may be left out (it is taken from the path). Invalid documents are "
    "answered 422 with every error and its path (`errors[].field`, e.g. `tiers[1].upto`). A "
    "version that bills already use cannot change: 409 (save a later version). Needs "
    "tariff.write at tenant scope.",
)
async def put_tariff(
    code: str, ctx: CtxDep, response: Response, doc: dict[str, Any] = Body(examples=[EXAMPLE])
) -> TariffVersionOut:
    await ctx.authorize(Perm.TARIFF_WRITE, Resource("tariff", ctx.tenant_id, TENANT_PATH, id=code))
    body = {**doc}
    if body.setdefault("code", code) != code:
        from hotline.errors import Invalid

        raise Invalid(f"code {body['code']!r} differs from the path's {code!r}", field="code")
    spec = T.parse_tariff(body)
    async with transaction(ctx.db) as s:
        before = await s.scalar(
            select(Tariff.id).where(
                Tariff.tenant_id == ctx.tenant_id,
                Tariff.code == code,
                Tariff.effective_from == spec.effective_from,
            )
        )
        row = await T.save_tariff(s, ctx.tenant_id, body, user_id=ctx.principal.user_id)
        audit.record(
            s,
            "tariff.create" if before is None else "tariff.update",
            principal=ctx.principal,
            resource_type="tariff",
            resource_id=f"{code}@{spec.effective_from}",
            detail={"spec": row.spec},
        )
        rows, used = await _rows(s, ctx.tenant_id, code)
    if before is None:
        response.status_code = 201
    return _out(row, in_force=row.id in _in_force(rows, date.today()), bills=used.get(row.id, 0))


@router.post(
    "/tariffs/validate",
    response_model=ValidationOut,
    summary="Check a tariff document without saving it",
    description="Always 200: `valid` with the canonical document, or every error with its path.",
)
async def validate_tariff(ctx: CtxDep, doc: dict[str, Any] = Body(examples=[EXAMPLE])) -> ValidationOut:
    await ctx.require_any(Perm.BILLING_READ, "tariff")
    spec, issues = T.check(doc)
    return ValidationOut(
        valid=spec is not None,
        errors=[{"field": i.path or "body", "reason": i.reason} for i in issues],
        spec=None if spec is None else T.dump(spec),
    )


# -- bill runs ----------------------------------------------------------------------------------


def _key(period: str) -> str:
    return f"billing.run.{period}"


async def _store_run(
    factory: async_sessionmaker[AsyncSession], tenant_id: int, period: str, value: dict[str, Any]
) -> None:
    async with transaction(factory) as s:
        row = await s.scalar(
            select(TenantSetting).where(
                TenantSetting.tenant_id == tenant_id, TenantSetting.key == _key(period)
            )
        )
        if row is None:
            row = TenantSetting(tenant_id=tenant_id, key=_key(period))
            s.add(row)
        row.value = value
        row.updated_at = utcnow()


async def _run(
    factory: async_sessionmaker[AsyncSession],
    tenant_id: int,
    body: RunIn,
    started: dict[str, Any],
    actor: Any,
) -> dict[str, Any]:
    try:
        report = await billrun.run_bills(
            factory, tenant_id, body.period, issued_on=body.issued_on, due_days=body.due_days
        )
    except Exception as exc:
        log.exception("bill run %s of tenant %s failed", body.period, tenant_id)
        doc = {**started, "status": "failed", "finished_at": utcnow().isoformat(), "error": str(exc)}
    else:
        doc = {**started, "status": "done", "finished_at": utcnow().isoformat(), "report": report.to_json()}
    await _store_run(factory, tenant_id, body.period, doc)
    async with transaction(factory) as s:
        audit.record(
            s,
            "billing.run.finish",
            principal=actor,
            resource_type="bill_run",
            resource_id=body.period,
            outcome="ok" if doc["status"] == "done" else "failed",
            detail={k: v for k, v in doc.items() if k in ("status", "error", "report")},
        )
    return doc


@router.post(
    "/billing/runs",
    response_model=RunOut,
    summary="Issue the bills of a month",
    description=f"Bills every active customer with a reading for `period` and no bill yet (running "
    f"it again bills only the rest). Up to {INLINE_LIMIT:,} active customers the run happens in the "
    "request (200, `status: done` with the report); larger tenants get 202 `status: running` and "
    "follow `GET /api/v1/billing/runs/{period}`. 409 while a run of the period is under way. "
    "Needs tariff.write at tenant scope.",
    responses={202: {"description": "started in the background"}},
)
async def start_run(body: RunIn, ctx: CtxDep, response: Response) -> RunOut:
    await ctx.authorize(Perm.TARIFF_WRITE, Resource("bill_run", ctx.tenant_id, TENANT_PATH, id=body.period))
    key = (ctx.tenant_id, body.period)
    task = _running.get(key)
    if task is not None and not task.done():
        raise Conflict(f"the bill run of {body.period} is under way")
    async with transaction(ctx.db) as s:
        active = await s.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.tenant_id == ctx.tenant_id, Customer.status == "active")
        )
        audit.record(
            s,
            "billing.run",
            principal=ctx.principal,
            resource_type="bill_run",
            resource_id=body.period,
            detail={"due_days": body.due_days, "issued_on": body.issued_on and body.issued_on.isoformat()},
        )
    started = {"period": body.period, "status": "running", "started_at": utcnow().isoformat()}
    await _store_run(ctx.db, ctx.tenant_id, body.period, started)
    if (active or 0) <= INLINE_LIMIT:
        doc = await _run(ctx.db, ctx.tenant_id, body, started, ctx.principal)
        return RunOut(**doc)
    t = asyncio.get_running_loop().create_task(_run(ctx.db, ctx.tenant_id, body, started, ctx.principal))
    _running[key] = t
    t.add_done_callback(lambda _t: _running.pop(key, None))
    response.status_code = 202
    return RunOut(**started)


@router.get(
    "/billing/runs/{period}",
    response_model=RunOut,
    summary="The last bill run of a month and what the database holds for it",
)
async def get_run(period: str, ctx: CtxDep) -> RunOut:
    await ctx.require_any(Perm.BILLING_READ, "bill_run")
    async with ctx.db() as s:
        summary = await billrun.period_summary(s, ctx.tenant_id, period)
        row = await s.scalar(
            select(TenantSetting).where(
                TenantSetting.tenant_id == ctx.tenant_id, TenantSetting.key == _key(period)
            )
        )
    doc: dict[str, Any] = dict(row.value) if row is not None else {"period": period, "status": "none"}
    if row is not None and doc.get("status") == "running" and (ctx.tenant_id, period) not in _running:
        doc["status"] = "interrupted"  # the server stopped during the run: start it again
    return RunOut(**doc, summary=summary)
