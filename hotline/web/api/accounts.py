"""Utility accounts (户号): balance, bills, payments, meter readings, applications; recording
payments and readings; the tenant's late-fee rule.

An account is a customer of the archive: every endpoint needs ``billing.read`` (or
``billing.write``) over that customer (its supply unit; its dedicated agent owns it), every read
is audited as ``billing.read`` (it is private data), and accounts of other tenants are 404.
Reads go through the configured billing back-end (the built-in one, or a utility's CIS
adapter); payments and readings are recorded in the Hotline database (built-in back-end).
Money is a decimal string with two places (``"123.45"``), never a JSON number.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import audit
from hotline.auth.policy import TENANT_PATH, Perm, Resource
from hotline.errors import NotFound
from hotline.store.db import transaction
from hotline.store.models import Customer, Payment
from hotline.store.types import utcnow
from hotline.utility.backend import (
    AccountInfo,
    ApplicationInfo,
    Balance,
    BillInfo,
    BillingBackend,
    PaymentInfo,
    ReadingInfo,
)
from hotline.utility.builtin import (
    BuiltinBackend,
    NewReading,
    check_period,
    customer_by_account,
    reading_info,
    record_reading,
)
from hotline.utility.latefees import SETTING_KEY, LateFeeRule, load_rule, parse_rule, save_rule
from hotline.utility.money import parse_money, to_str
from hotline.utility.payments import CHANNELS, local_day, record_payment, tenant_zone
from hotline.web.api.customers import customer_resource
from hotline.web.api.schemas import Page, Strict
from hotline.web.context import Ctx, CtxDep

router = APIRouter(prefix="/api/v1", tags=["accounts"])

ACCOUNT = "/accounts/{account_no}"
MAX_ROWS_OFFSET = 1000


# -- response models ---------------------------------------------------------------------------


class AccountOut(BaseModel):
    account_no: str = Field(examples=["3201001002"])
    name: str = Field(examples=["吴秀英"])
    customer_class: str = Field(examples=["urban_resident"])
    voltage: str = Field(examples=["220V"])
    status: str = Field(examples=["active"])
    address: str
    tariff_code: str
    customer_id: int | None


class BalanceOut(BaseModel):
    account_no: str = Field(examples=["3201001002"])
    as_of: date
    unpaid: str = Field(examples=["180.00"], description="unpaid principal of all open bills")
    arrears: str = Field(examples=["100.00"], description="unpaid principal of bills past due")
    late_fee: str = Field(examples=["1.40"], description="late fee owed on the arrears as of `as_of`")
    credit: str = Field(examples=["0.00"], description="prepaid money not yet applied")
    amount_due: str = Field(examples=["181.40"], description="unpaid + late_fee - credit, not below 0")
    overdue_bills: int
    next_due_on: date | None
    ageing: dict[str, str] = Field(
        examples=[{"0-30": "100.00", "31-90": "0.00", "91-180": "0.00", "181-365": "0.00", "365+": "0.00"}]
    )


class BillLineOut(BaseModel):
    code: str = Field(examples=["tier1"])
    label: str = Field(examples=["第一档 Tier 1"])
    kwh: str | None = Field(examples=["180.00"])
    price: str | None = Field(examples=["0.5283"])
    amount: str = Field(examples=["95.09"])


class BillOut(BaseModel):
    id: str
    period: str = Field(examples=["2026-10"])
    kwh: str = Field(examples=["180.00"])
    amount: str = Field(examples=["95.09"])
    paid: str = Field(examples=["0.00"])
    outstanding: str = Field(examples=["95.09"])
    status: str = Field(examples=["open"])
    issued_on: date
    due_on: date
    settled_on: date | None
    lines: list[BillLineOut]


class PaymentOut(BaseModel):
    id: str
    amount: str = Field(examples=["150.00"])
    channel: str = Field(examples=["agent"])
    reference: str = Field(examples=["AG-20261123-0001"])
    paid_at: datetime
    late_fee: str = Field(examples=["1.40"])
    credit: str = Field(examples=["0.00"])


class AllocationOut(BaseModel):
    bill_id: int
    period: str
    principal: str = Field(examples=["100.00"])
    late_fee: str = Field(examples=["1.40"])


class RecordedPaymentOut(PaymentOut):
    account_no: str
    allocations: list[AllocationOut]
    credit_used: str = Field(examples=["0.00"])
    agent_id: int | None
    call_id: str


class ReadingOut(BaseModel):
    period: str = Field(examples=["2026-10"])
    read_on: date
    register_value: str = Field(examples=["10234.50"])
    kwh_total: str = Field(examples=["180.00"])
    kwh_sharp: str
    kwh_peak: str
    kwh_flat: str
    kwh_valley: str
    demand_kw: str
    source: str = Field(examples=["remote"])


class ApplicationOut(BaseModel):
    id: str
    kind: str = Field(examples=["capacity_increase"])
    status: str = Field(examples=["survey"])
    submitted_at: datetime
    steps: list[dict[str, Any]]


class PaymentIn(Strict):
    amount: str = Field(examples=["150.00"], description="yuan, a string with at most two decimals, > 0")
    channel: str = Field(examples=["agent"], description=f"one of {', '.join(CHANNELS)}")
    reference: str = Field(
        examples=["AG-20261123-0001"],
        description="the payer's or bank's reference: the same (channel, reference) again is not paid twice",
    )
    call_id: str = Field("", examples=[""], description="the call during which an agent took the payment")


class ReadingIn(Strict):
    period: str = Field(examples=["2026-10"])
    read_on: date | None = Field(None, description="default today (tenant time zone)")
    register_value: str = Field(examples=["10234.50"], description="cumulative register shown on the meter")
    kwh_total: str | None = Field(
        None, examples=["180.00"], description="default the sum of the TOU registers"
    )
    kwh_sharp: str = "0"
    kwh_peak: str = "0"
    kwh_flat: str = "0"
    kwh_valley: str = "0"
    demand_kw: str = "0"
    meter_no: str = Field("", max_length=32)
    source: str = Field("manual", examples=["manual"])


# -- conversions -------------------------------------------------------------------------------


def account_out(a: AccountInfo) -> AccountOut:
    return AccountOut(
        account_no=a.account_no,
        name=a.name,
        customer_class=a.customer_class,
        voltage=a.voltage,
        status=a.status,
        address=a.address,
        tariff_code=a.tariff_code,
        customer_id=a.customer_id,
    )


def balance_out(b: Balance) -> BalanceOut:
    return BalanceOut(
        account_no=b.account_no,
        as_of=b.as_of,
        unpaid=to_str(b.unpaid),
        arrears=to_str(b.arrears),
        late_fee=to_str(b.late_fee),
        credit=to_str(b.credit),
        amount_due=to_str(b.amount_due),
        overdue_bills=b.overdue_bills,
        next_due_on=b.next_due_on,
        ageing={k: to_str(v) for k, v in b.ageing.items()},
    )


def bill_out(b: BillInfo) -> BillOut:
    return BillOut(
        id=b.id,
        period=b.period,
        kwh=to_str(b.kwh),
        amount=to_str(b.amount),
        paid=to_str(b.paid),
        outstanding=to_str(b.outstanding),
        status=b.status,
        issued_on=b.issued_on,
        due_on=b.due_on,
        settled_on=b.settled_on,
        lines=[
            BillLineOut(
                code=ln.code,
                label=ln.label,
                kwh=to_str(ln.kwh) if ln.kwh is not None else None,
                price=str(ln.price) if ln.price is not None else None,
                amount=to_str(ln.amount),
            )
            for ln in b.lines
        ],
    )


def payment_out(p: PaymentInfo) -> PaymentOut:
    return PaymentOut(
        id=p.id,
        amount=to_str(p.amount),
        channel=p.channel,
        reference=p.reference,
        paid_at=p.paid_at,
        late_fee=to_str(p.late_fee),
        credit=to_str(p.credit),
    )


def reading_out(r: ReadingInfo) -> ReadingOut:
    return ReadingOut(
        period=r.period,
        read_on=r.read_on,
        register_value=to_str(r.register_value),
        kwh_total=to_str(r.kwh_total),
        kwh_sharp=to_str(r.kwh_sharp),
        kwh_peak=to_str(r.kwh_peak),
        kwh_flat=to_str(r.kwh_flat),
        kwh_valley=to_str(r.kwh_valley),
        demand_kw=to_str(r.demand_kw),
        source=r.source,
    )


def application_out(a: ApplicationInfo) -> ApplicationOut:
    return ApplicationOut(
        id=a.id, kind=a.kind, status=a.status, submitted_at=a.submitted_at, steps=[dict(s) for s in a.steps]
    )


def recorded_out(p: Payment, account_no: str) -> RecordedPaymentOut:
    allocations = [e for e in p.allocations or [] if isinstance(e, dict) and "bill_id" in e]
    used = [e["credit_used"] for e in p.allocations or [] if isinstance(e, dict) and "credit_used" in e]
    return RecordedPaymentOut(
        id=str(p.id),
        account_no=account_no,
        amount=to_str(p.amount),
        channel=p.channel,
        reference=p.reference,
        paid_at=p.paid_at,
        late_fee=to_str(p.late_fee),
        credit=to_str(p.credit),
        credit_used=used[0] if used else "0.00",
        allocations=[
            AllocationOut(
                bill_id=int(e["bill_id"]),
                period=str(e.get("period", "")),
                principal=str(e.get("principal", "0.00")),
                late_fee=str(e.get("late_fee", "0.00")),
            )
            for e in allocations
        ],
        agent_id=p.agent_id,
        call_id=p.call_id,
    )


# -- helpers -------------------------------------------------------------------------------------


def backend(ctx: Ctx) -> BillingBackend:
    center = ctx.state.center
    return center.billing if center is not None else BuiltinBackend(ctx.db)


async def _customer(ctx: Ctx, s: AsyncSession, account_no: str, perm: Perm) -> Customer:
    """The tenant's customer with this account number (404 otherwise), after the permission check."""
    c = await customer_by_account(s, ctx.tenant_id, account_no) if len(account_no) <= 32 else None
    if c is None:
        raise NotFound(f"no account {account_no!r}", field="account_no")
    await ctx.authorize(perm, await customer_resource(s, c))
    return c


async def _read(ctx: Ctx, account_no: str, what: str, **detail: Any) -> Customer:
    """Check billing.read over the account and audit the read (committed before answering)."""
    async with transaction(ctx.db) as s:
        c = await _customer(ctx, s, account_no, Perm.BILLING_READ)
        audit.record(
            s,
            "billing.read",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=c.id,
            detail={"account_no": c.account_no, "what": what, **detail},
        )
        return c


# -- accounts ------------------------------------------------------------------------------------


@router.get(
    ACCOUNT, response_model=AccountOut, summary="An account (billing.read over the customer; audited)"
)
async def get_account(account_no: str, ctx: CtxDep) -> AccountOut:
    await _read(ctx, account_no, "account")
    info = await backend(ctx).account(ctx.tenant_id, account_no)
    if info is None:
        raise NotFound(f"no account {account_no!r} in the billing system", field="account_no")
    return account_out(info)


@router.get(
    ACCOUNT + "/balance",
    response_model=BalanceOut,
    summary="Balance, arrears, late fee, credit and ageing of an account (audited)",
)
async def get_balance(
    account_no: str,
    ctx: CtxDep,
    on: date | None = Query(None, description="as of this day (default today, tenant time zone)"),
) -> BalanceOut:
    await _read(ctx, account_no, "balance", on=on.isoformat() if on else None)
    return balance_out(await backend(ctx).balance(ctx.tenant_id, account_no, on=on))


@router.get(
    ACCOUNT + "/bills", response_model=Page[BillOut], summary="Bills of an account, newest first (audited)"
)
async def get_bills(
    account_no: str,
    ctx: CtxDep,
    limit: int = Query(12, ge=1, le=120),
    offset: int = Query(0, ge=0, le=MAX_ROWS_OFFSET),
) -> Page[BillOut]:
    await _read(ctx, account_no, "bills")
    rows = await backend(ctx).bills(ctx.tenant_id, account_no, limit=offset + limit)
    return Page(items=[bill_out(b) for b in rows[offset:]], limit=limit, offset=offset)


@router.get(ACCOUNT + "/bills/{period}", response_model=BillOut, summary="One bill with its lines (audited)")
async def get_bill(account_no: str, period: str, ctx: CtxDep) -> BillOut:
    check_period(period)
    await _read(ctx, account_no, "bill", period=period)
    for b in await backend(ctx).bills(ctx.tenant_id, account_no, limit=MAX_ROWS_OFFSET):
        if b.period == period:
            return bill_out(b)
    raise NotFound(f"no bill for {period} on account {account_no!r}", field="period")


@router.get(
    ACCOUNT + "/payments",
    response_model=Page[PaymentOut],
    summary="Payments of an account, newest first (audited)",
)
async def get_payments(
    account_no: str,
    ctx: CtxDep,
    limit: int = Query(12, ge=1, le=120),
    offset: int = Query(0, ge=0, le=MAX_ROWS_OFFSET),
) -> Page[PaymentOut]:
    await _read(ctx, account_no, "payments")
    rows = await backend(ctx).payments(ctx.tenant_id, account_no, limit=offset + limit)
    return Page(items=[payment_out(p) for p in rows[offset:]], limit=limit, offset=offset)


@router.get(
    ACCOUNT + "/readings", response_model=Page[ReadingOut], summary="Meter readings, newest first (audited)"
)
async def get_readings(
    account_no: str,
    ctx: CtxDep,
    limit: int = Query(12, ge=1, le=120),
    offset: int = Query(0, ge=0, le=MAX_ROWS_OFFSET),
) -> Page[ReadingOut]:
    await _read(ctx, account_no, "readings")
    rows = await backend(ctx).readings(ctx.tenant_id, account_no, limit=offset + limit)
    return Page(items=[reading_out(r) for r in rows[offset:]], limit=limit, offset=offset)


@router.get(
    ACCOUNT + "/applications",
    response_model=list[ApplicationOut],
    summary="Service applications (业扩报装) and their progress (audited)",
)
async def get_applications(account_no: str, ctx: CtxDep) -> list[ApplicationOut]:
    await _read(ctx, account_no, "applications")
    return [application_out(a) for a in await backend(ctx).applications(ctx.tenant_id, account_no)]


@router.post(
    ACCOUNT + "/payments",
    response_model=RecordedPaymentOut,
    status_code=201,
    summary="Record a payment (billing.write over the customer); the same reference again answers 200",
    description=(
        "Applies the money (existing credit first) to the open bills oldest first, each bill's late "
        "fee before its principal; the rest becomes credit. The signed-in user is stored as the "
        "payment's `agent_id` (agent-assisted payments: the agent; counter staff: the clerk). "
        "The same `(channel, reference)` again returns the stored payment (200); with another "
        "amount it is a 409 naming the reference."
    ),
    responses={200: {"description": "this (channel, reference) was already recorded: the stored payment"}},
)
async def post_payment(
    account_no: str, body: PaymentIn, ctx: CtxDep, response: Response
) -> RecordedPaymentOut:
    amount = parse_money(body.amount)
    async with transaction(ctx.db) as s:
        c = await _customer(ctx, s, account_no, Perm.BILLING_WRITE)
        known = await s.scalar(
            select(Payment.id).where(
                Payment.tenant_id == ctx.tenant_id,
                Payment.channel == body.channel,
                Payment.reference == body.reference,
            )
        )
        p = await record_payment(
            s,
            ctx.tenant_id,
            c,
            amount,
            body.channel,
            body.reference,
            agent_id=ctx.principal.user_id,
            call_id=body.call_id,
        )
        if known is not None and known == p.id:
            response.status_code = 200
            return recorded_out(p, c.account_no)
        audit.record(
            s,
            "billing.payment",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=c.id,
            detail={
                "account_no": c.account_no,
                "payment_id": p.id,
                "amount": to_str(p.amount),
                "channel": p.channel,
                "reference": p.reference,
                "call_id": p.call_id,
            },
        )
        return recorded_out(p, c.account_no)


@router.post(
    ACCOUNT + "/readings",
    response_model=ReadingOut,
    status_code=201,
    summary="Enter a meter reading (billing.write over the customer)",
)
async def post_reading(account_no: str, body: ReadingIn, ctx: CtxDep) -> ReadingOut:
    values = {
        name: parse_money(getattr(body, name), field=name)
        for name in ("register_value", "kwh_sharp", "kwh_peak", "kwh_flat", "kwh_valley", "demand_kw")
    }
    tou = values["kwh_sharp"] + values["kwh_peak"] + values["kwh_flat"] + values["kwh_valley"]
    kwh_total = parse_money(body.kwh_total, field="kwh_total") if body.kwh_total is not None else tou
    async with transaction(ctx.db) as s:
        c = await _customer(ctx, s, account_no, Perm.BILLING_WRITE)
        read_on = body.read_on or local_day(utcnow(), await tenant_zone(s, ctx.tenant_id))
        row = await record_reading(
            s,
            ctx.tenant_id,
            c,
            NewReading(
                period=body.period,
                read_on=read_on,
                kwh_total=kwh_total,
                meter_no=body.meter_no,
                source=body.source,
                **values,
            ),
        )
        audit.record(
            s,
            "billing.reading",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=c.id,
            detail={"account_no": c.account_no, "period": row.period, "kwh_total": to_str(row.kwh_total)},
        )
        return reading_out(reading_info(row))


# -- the tenant's late-fee rule ------------------------------------------------------------------


@router.get(
    "/billing/late-fee-rule",
    response_model=LateFeeRule,
    tags=["billing"],
    summary="The tenant's late-fee rule (billing.read in any scope)",
)
async def get_late_fee_rule(ctx: CtxDep) -> LateFeeRule:
    await ctx.require_any(Perm.BILLING_READ, "billing")
    async with ctx.db() as s:
        return await load_rule(s, ctx.tenant_id)


@router.put(
    "/billing/late-fee-rule",
    response_model=LateFeeRule,
    tags=["billing"],
    summary="Change the tenant's late-fee rule (tariff.write, tenant scope)",
)
async def put_late_fee_rule(body: LateFeeRule, ctx: CtxDep) -> LateFeeRule:
    await ctx.authorize(
        Perm.TARIFF_WRITE, Resource("late_fee_rule", ctx.tenant_id, TENANT_PATH, None, SETTING_KEY)
    )
    rule = parse_rule(body.to_doc())
    async with transaction(ctx.db) as s:
        await save_rule(s, ctx.tenant_id, rule)
        audit.record(
            s,
            "billing.late_fee_rule",
            principal=ctx.principal,
            resource_type="late_fee_rule",
            resource_id=SETTING_KEY,
            detail=rule.to_doc(),
        )
    return rule
