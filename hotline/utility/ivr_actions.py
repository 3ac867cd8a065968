"""IVR action plugins of the utility self-service (entry points in pyproject, group
``hotline.ivr.actions``): ``customer.identify``, ``customer.verify_pin``, ``billing.balance``,
``billing.last_bill``, ``billing.last_payment``, ``outage.for_caller``.

Each is ``async (args, ctx) -> Mapping`` and answers plain values plus ``say``: a ready-to-speak
text in the call's language (``args.lang`` / ``args.language``, else the variable ``lang``,
default Chinese; wording in the pure ``say_*`` functions below, numbers through
:mod:`hotline.utility.speech`).

* The customer archive (phones, PIN) is Hotline's own: identification and PIN checks read the
  database (``ctx.services["db"]``). Outages are Hotline's own records too (the outage admin
  page), so ``outage.for_caller`` also reads the database: the announcement works while the
  billing system is down.
* Balances, bills and payments come from the billing back-end (``ctx.services["billing"]``).
  Its :class:`~hotline.utility.backend.BackendUnavailable` (and a timeout) is **not** caught:
  the IVR runtime takes the node's ``on_error`` / the flow's error path (the demo flows
  apologise and queue the caller for an agent).
* Results that identify the caller set the variables ``customer_id``, ``account_no`` and
  (after a correct PIN) ``verified_account``; the IVR copies variables into the call's data,
  which is how the screen pop knows the caller was verified.
* Identification by the caller's number (the phone on file) is enough for the IVR to read a
  balance aloud; only a PIN sets ``verified_account`` (which opens private data to the agent).
* PIN attempts: every PIN check answers ``attempts`` = the variable named by ``args.counter``
  (default ``pin_attempts``) plus one; the flow stores it and decides when to give up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.crm import customers as crm
from hotline.ivr.actions import ActionContext
from hotline.store.models import Customer
from hotline.store.types import utcnow
from hotline.utility import outages as outage_store
from hotline.utility import speech
from hotline.utility.backend import BackendUnavailable, Balance, BillInfo, BillingBackend, PaymentInfo
from hotline.utility.money import to_str
from hotline.utility.payments import tenant_zone

MAX_ACCOUNTS = 20
"""At most this many accounts per caller number are considered."""
CHANNELS_ZH = {"counter": "营业厅柜台", "bank": "银行", "online": "网上缴费", "agent": "客服代缴"}
CHANNELS_EN = {
    "counter": "at a service counter",
    "bank": "by bank",
    "online": "online",
    "agent": "through an agent",
}
STATUS_ZH = {"paid": "已缴清", "open": "未缴", "partial": "部分已缴", "cancelled": "已作废"}


# -- context -----------------------------------------------------------------------------------


def lang_of(args: Mapping[str, Any], ctx: ActionContext) -> str:
    raw = args.get("lang") or args.get("language") or ctx.variables.get("lang") or "zh"
    return "zh" if speech.is_chinese(str(raw)) else "en"


def _db(ctx: ActionContext) -> async_sessionmaker[AsyncSession]:
    db = ctx.services.get("db")
    if db is None or ctx.tenant_id is None:
        raise BackendUnavailable("no customer database in this context")
    return db  # type: ignore[no-any-return]


def _billing(ctx: ActionContext) -> BillingBackend:
    backend = ctx.services.get("billing")
    if backend is None or ctx.tenant_id is None:
        raise BackendUnavailable("no billing back-end in this context")
    return backend  # type: ignore[no-any-return]


def _text(args: Mapping[str, Any], *names: str) -> str:
    for name in names:
        value = args.get(name)
        if value is not None and str(value).strip():
            return str(value).strip()
    return ""


def _account_arg(args: Mapping[str, Any], ctx: ActionContext) -> str:
    return _text(args, "account_no", "account") or _text(ctx.variables, "account_no")


def _attempts(args: Mapping[str, Any], ctx: ActionContext) -> int:
    counter = str(args.get("counter") or "pin_attempts")
    try:
        return int(ctx.variables.get(counter) or 0) + 1
    except (TypeError, ValueError):
        return 1


# -- lookups (the CRM's, hotline.crm.customers) --------------------------------------------------


async def customers_by_phone(s: AsyncSession, tenant_id: int, phone: str) -> list[Customer]:
    """Customers with this phone (any stored form of the number), at most :data:`MAX_ACCOUNTS`."""
    if not phone.strip():
        return []
    return (await crm.find_by_phone(s, tenant_id, phone))[:MAX_ACCOUNTS]


async def customer_by_account(s: AsyncSession, tenant_id: int, account_no: str) -> Customer | None:
    return await crm.get_by_account(s, tenant_id, account_no)


async def pin_ok(c: Customer | None, pin: str) -> bool:
    """The PIN check (argon2, tens of milliseconds) off the event loop that carries the media."""
    if c is None or not c.pin_hash or not pin:
        return False
    return await asyncio.to_thread(crm.check_pin, c, pin)


# -- wording (pure) ----------------------------------------------------------------------------


def _tail(account_no: str) -> str:
    return " ".join(account_no[-4:])


def say_identified(count: int, account_no: str, lang: str) -> str:
    zh = speech.is_chinese(lang)
    if count == 1:
        return (
            f"您的户号尾号是{_tail(account_no)}。"
            if zh
            else f"Your account number ends in {_tail(account_no)}."
        )
    if count == 0:
        return (
            "没有查到与您来电号码关联的户号。"
            if zh
            else "We found no account for the number you are calling from."
        )
    return (
        f"您的来电号码关联了{speech.count_zh(count)}个户号。"
        if zh
        else f"The number you are calling from has {count} accounts."
    )


def say_verified(ok: bool, lang: str, *, has_pin: bool = True) -> str:
    zh = speech.is_chinese(lang)
    if ok:
        return "验证成功。" if zh else "Thank you, your account is verified."
    if not has_pin:
        return "该户号没有设置服务密码。" if zh else "This account has no PIN set."
    return "户号或密码不正确。" if zh else "The account number or PIN is not correct."


def say_balance(b: Balance, lang: str) -> str:
    if speech.is_chinese(lang):
        head = f"截至{speech.date(b.as_of, lang)}，"
        if b.amount_due <= 0:
            text = head + "您没有待缴电费"
            if b.credit > 0:
                text += f"，预存余额{speech.money(b.credit, lang)}"
            return text + "。"
        text = head + f"您应缴电费{speech.money(b.amount_due, lang)}"
        if b.arrears > 0:
            text += f"，其中欠费{speech.money(b.arrears, lang)}"
        if b.late_fee > 0:
            text += f"，违约金{speech.money(b.late_fee, lang)}"
        if b.next_due_on is not None:
            text += f"，缴费截止日期{speech.date(b.next_due_on, lang)}"
        return text + "。"
    head = f"As of {speech.date(b.as_of, lang)}, "
    if b.amount_due <= 0:
        text = head + "you have nothing to pay"
        if b.credit > 0:
            text += f", and a credit of {speech.money(b.credit, lang)}"
        return text + "."
    text = head + f"the amount due is {speech.money(b.amount_due, lang)}"
    if b.arrears > 0:
        text += f", of which {speech.money(b.arrears, lang)} is overdue"
    if b.late_fee > 0:
        text += f", plus a late fee of {speech.money(b.late_fee, lang)}"
    if b.next_due_on is not None:
        text += f". Please pay by {speech.date(b.next_due_on, lang)}"
    return text + "."


def _period(period: str, lang: str) -> str:
    year, _, month = period.partition("-")
    if not (year.isdecimal() and month.isdecimal()):
        return period
    if speech.is_chinese(lang):
        return f"{''.join(speech.DIGITS[int(c)] for c in year)}年{speech.chinese_number(int(month))}月"
    return f"{speech.MONTHS[int(month) - 1]} {year}" if 1 <= int(month) <= 12 else period


def say_last_bill(bill: BillInfo | None, lang: str) -> str:
    zh = speech.is_chinese(lang)
    if bill is None:
        return "暂无电费账单。" if zh else "There is no bill yet."
    period = _period(bill.period, lang)
    if zh:
        text = (
            f"您{period}的电费账单：用电{speech.kwh(bill.kwh, lang)}，电费{speech.money(bill.amount, lang)}"
        )
        if bill.status == "paid":
            text += "，已缴清"
        elif bill.status != "cancelled":
            text += (
                f"，未缴{speech.money(bill.outstanding, lang)}，缴费截止日期{speech.date(bill.due_on, lang)}"
            )
        else:
            text += "，已作废"
        return text + "。"
    text = f"Your bill for {period}: {speech.kwh(bill.kwh, lang)}, {speech.money(bill.amount, lang)}"
    if bill.status == "paid":
        text += ", paid"
    elif bill.status != "cancelled":
        text += f", {speech.money(bill.outstanding, lang)} still to pay by {speech.date(bill.due_on, lang)}"
    else:
        text += ", cancelled"
    return text + "."


def say_last_payment(p: PaymentInfo | None, lang: str, tz: str = "Asia/Shanghai") -> str:
    zh = speech.is_chinese(lang)
    if p is None:
        return "暂无缴费记录。" if zh else "There is no payment on record."
    from zoneinfo import ZoneInfo

    day = p.paid_at.astimezone(ZoneInfo(tz)).date() if p.paid_at.tzinfo else p.paid_at.date()
    if zh:
        channel = CHANNELS_ZH.get(p.channel, "")
        via = f"，缴费方式：{channel}" if channel else ""
        return f"您最近一次缴费是{speech.date(day, lang)}，金额{speech.money(p.amount, lang)}{via}。"
    channel = CHANNELS_EN.get(p.channel, "")
    return f"Your last payment was {speech.money(p.amount, lang)} on {speech.date(day, lang)}{' ' + channel if channel else ''}."


def say_outages(notices: Sequence[str], lang: str) -> str:
    return " ".join(notices) if not speech.is_chinese(lang) else "".join(notices)


def _iso(d: date | datetime | None) -> str:
    return d.isoformat() if d is not None else ""


# -- plugins -----------------------------------------------------------------------------------


async def customer_identify(args: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
    """By a keyed ``account_no`` (+ optional ``pin``: then ``verified``), else by the caller's number.

    Answers ``found``, ``count`` (accounts for the number; 1 for a keyed account), ``customer_id``,
    ``account_no``, ``verified``, ``verified_account`` (the account when the PIN was right, else
    ""), ``attempts`` (when a PIN was checked) and ``say``.
    """
    lang = lang_of(args, ctx)
    db = _db(ctx)
    tenant_id = ctx.tenant_id
    assert tenant_id is not None
    account = _text(args, "account_no", "account")
    pin = _text(args, "pin")
    async with db() as s:
        if account:
            c = await customer_by_account(s, tenant_id, account)
            out: dict[str, Any] = {
                "found": c is not None,
                "count": 1 if c is not None else 0,
                "customer_id": c.id if c is not None else None,
                "account_no": c.account_no if c is not None else "",
                "verified": False,
                "verified_account": "",
            }
            if pin:
                ok = await pin_ok(c, pin)
                out["verified"] = ok
                out["verified_account"] = c.account_no if ok and c is not None else ""
                out["attempts"] = _attempts(args, ctx)
                out["say"] = say_verified(ok, lang)
            else:
                out["say"] = (
                    say_identified(1, account, lang)
                    if c is not None
                    else ("没有查到这个户号。" if lang == "zh" else "We could not find that account.")
                )
            return out
        found = await customers_by_phone(s, tenant_id, _text(args, "caller", "phone") or ctx.caller)
    one = found[0] if len(found) == 1 else None
    return {
        "found": bool(found),
        "count": len(found),
        "customer_id": one.id if one else None,
        "account_no": one.account_no if one else "",
        "verified": False,
        "say": say_identified(len(found), one.account_no if one else "", lang),
    }


async def customer_verify_pin(args: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
    """``pin`` for the account in ``account_no`` (argument or variable), else the caller's only account.

    Answers ``verified``, ``verified_account``, ``customer_id``, ``account_no``, ``attempts``, ``say``.
    """
    lang = lang_of(args, ctx)
    db = _db(ctx)
    tenant_id = ctx.tenant_id
    assert tenant_id is not None
    account = _account_arg(args, ctx)
    pin = _text(args, "pin")
    async with db() as s:
        if account:
            c = await customer_by_account(s, tenant_id, account)
        else:
            found = await customers_by_phone(s, tenant_id, _text(args, "caller") or ctx.caller)
            c = found[0] if len(found) == 1 else None
    has_pin = c is not None and bool(c.pin_hash)
    ok = await pin_ok(c, pin)
    return {
        "verified": ok,
        "verified_account": c.account_no if ok and c is not None else "",
        "customer_id": c.id if c is not None else None,
        "account_no": c.account_no if c is not None else account,
        "attempts": _attempts(args, ctx),
        "say": say_verified(ok, lang, has_pin=has_pin or c is None),
    }


def _need_account(args: Mapping[str, Any], ctx: ActionContext) -> str:
    account = _account_arg(args, ctx)
    if not account:
        raise ValueError("no account: identify the caller first (variable account_no)")
    return account


async def billing_balance(args: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
    """The account's balance: ``amount_due``, ``arrears``, ``late_fee``, ``credit`` (decimal
    strings), ``overdue_bills``, ``next_due_on``, ``say``."""
    lang = lang_of(args, ctx)
    backend = _billing(ctx)
    assert ctx.tenant_id is not None
    b = await backend.balance(ctx.tenant_id, _need_account(args, ctx))
    return {
        "account_no": b.account_no,
        "amount_due": to_str(b.amount_due),
        "arrears": to_str(b.arrears),
        "late_fee": to_str(b.late_fee),
        "credit": to_str(b.credit),
        "overdue_bills": b.overdue_bills,
        "next_due_on": _iso(b.next_due_on),
        "in_arrears": b.arrears > 0,
        "say": say_balance(b, lang),
    }


async def billing_last_bill(args: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
    """The newest bill: ``period``, ``kwh``, ``amount``, ``outstanding``, ``status``, ``due_on``, ``say``."""
    lang = lang_of(args, ctx)
    backend = _billing(ctx)
    assert ctx.tenant_id is not None
    bills = await backend.bills(ctx.tenant_id, _need_account(args, ctx), limit=1)
    bill = bills[0] if bills else None
    return {
        "found": bill is not None,
        "period": bill.period if bill else "",
        "kwh": to_str(bill.kwh) if bill else "",
        "amount": to_str(bill.amount) if bill else "",
        "outstanding": to_str(bill.outstanding) if bill else "",
        "status": bill.status if bill else "",
        "due_on": _iso(bill.due_on) if bill else "",
        "say": say_last_bill(bill, lang),
    }


async def billing_last_payment(args: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
    """The newest payment: ``amount``, ``paid_at``, ``channel``, ``say``."""
    lang = lang_of(args, ctx)
    backend = _billing(ctx)
    assert ctx.tenant_id is not None
    payments = await backend.payments(ctx.tenant_id, _need_account(args, ctx), limit=1)
    p = payments[0] if payments else None
    return {
        "found": p is not None,
        "amount": to_str(p.amount) if p else "",
        "paid_at": _iso(p.paid_at) if p else "",
        "channel": p.channel if p else "",
        "say": say_last_payment(p, lang, str(args.get("tz") or "Asia/Shanghai")),
    }


async def outage_for_caller(args: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
    """Outages affecting the caller's area (every account of the caller's number, or the
    ``account_no`` given): ``count``, ``outage_id`` (the first), ``notice`` (what to announce,
    "" when nothing), ``say`` (the same)."""
    lang = lang_of(args, ctx)
    db = _db(ctx)
    tenant_id = ctx.tenant_id
    assert tenant_id is not None
    now = utcnow()
    account = _text(args, "account_no", "account")
    async with db() as s:
        tz = str(args.get("tz") or await tenant_zone(s, tenant_id))
        if account:
            c = await customer_by_account(s, tenant_id, account)
            customers = [c] if c is not None else []
        else:
            customers = await customers_by_phone(s, tenant_id, _text(args, "caller") or ctx.caller)
        places = sorted({(c.feeder, c.transformer_area) for c in customers if c.feeder})
        seen: dict[int, Any] = {}
        for feeder, area in places:
            for o in await outage_store.outages_for_area(s, tenant_id, feeder, area, now):
                seen.setdefault(o.id, o)
    rows = sorted(seen.values(), key=lambda o: (o.start_at, o.id))[:3]
    notices = [
        outage_store.notice_text(
            o.kind, o.cause, o.start_at, o.expected_end_at, o.status, lang, now=now, tz=tz, custom=o.notice
        )
        for o in rows
    ]
    text = say_outages(notices, lang)
    return {
        "count": len(seen),
        "outage_id": rows[0].id if rows else None,
        "active": any(o.status == "active" or o.start_at <= now for o in rows),
        "notice": text,
        "say": text,
    }
