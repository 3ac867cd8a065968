"""IVR action plugin ``ticket.survey``: the automatic revisit (满意度回访) with the keypad.

A survey flow calls it twice: first without ``satisfaction`` — it finds the caller's latest order
awaiting its revisit (:mod:`hotline.tickets.revisit`) and answers the question to ask (``say``);
then with the digit the caller pressed — ``1`` satisfied, ``2`` basically satisfied, ``3``
dissatisfied — which is recorded as the order's revisit (method ``ivr``, actor ``ivr``) and
answered with a closing sentence.

Arguments: ``caller`` / ``phone`` (default: the call's caller number), optional ``ticket`` (a
keyed order number: ``GD20261123-0000042``, its 15 digits ``202611230000042``, or the order id),
``satisfaction`` / ``digit``, ``comment`` (default for a dissatisfied answer: a note that it came
from the IVR survey), ``lang`` (else the variable ``lang``, default Chinese).

Which orders a caller may rate: those of the customers having the caller's number (any of their
phones), or whose contact or calling number is the caller's. A keyed number must be one of those
(knowing someone's order number is not enough to rate it).

Answers ``found``, ``ticket_id``, ``number``, ``recorded``, ``satisfaction``, ``invalid`` (a digit
other than 1–3), ``reopenable`` (dissatisfied: an agent may reopen the order), ``say``. The live
events of a recorded revisit are published when the services carry the event hub (``hub``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.crm import customers as crm
from hotline.crm.phones import lookup_forms
from hotline.ivr.actions import ActionContext
from hotline.store.db import transaction
from hotline.store.models import Ticket
from hotline.store.types import utcnow, valid_id
from hotline.tickets import revisit
from hotline.utility import speech
from hotline.utility.backend import BackendUnavailable

DIGITS = {"1": "satisfied", "2": "basically_satisfied", "3": "dissatisfied"}
ACTOR = "ivr"
_NUMBER = re.compile(r"^GD(\d{8})-(\d{7})$")


# -- pure ----------------------------------------------------------------------------------------


def parse_keyed(text: str) -> tuple[str, str | int] | None:
    """("number", "GD…") or ("id", n) for a keyed order reference; None when it is none."""
    t = text.strip().upper().replace(" ", "")
    if not t:
        return None
    if _NUMBER.match(t):
        return "number", t
    if t.isdecimal():
        if len(t) == 15:
            return "number", f"GD{t[:8]}-{t[8:]}"
        n = int(t)
        return ("id", n) if valid_id(n) and n > 0 else None
    return None


def _tail(number: str, zh: bool) -> str:
    digits = [c for c in number if c.isdecimal()][-4:]
    return "".join(speech.DIGITS[int(c)] for c in digits) if zh else " ".join(digits)


def say_question(number: str, lang: str) -> str:
    if speech.is_chinese(lang):
        return (
            f"您反映的问题，工单尾号{_tail(number, True)}，已处理完毕。请对我们的服务进行评价："
            "满意请按1，基本满意请按2，不满意请按3。"
        )
    return (
        f"Your request, order number ending {_tail(number, False)}, has been handled. "
        "Please rate our service: press 1 if satisfied, 2 if basically satisfied, 3 if dissatisfied."
    )


def say_recorded(satisfaction: str, lang: str) -> str:
    zh = speech.is_chinese(lang)
    if satisfaction == "dissatisfied":
        return (
            "很抱歉没能让您满意，我们会尽快安排工作人员与您联系。"
            if zh
            else "We are sorry we did not satisfy you. A member of staff will contact you soon."
        )
    if satisfaction == "basically_satisfied":
        return (
            "感谢您的评价，我们会继续改进。" if zh else "Thank you for your rating. We will keep improving."
        )
    return "感谢您的评价，祝您生活愉快。" if zh else "Thank you for your rating. Have a nice day."


def say_none(lang: str) -> str:
    return (
        "目前没有需要您评价的工单。"
        if speech.is_chinese(lang)
        else "There is no order waiting for your rating."
    )


def say_invalid(number: str, lang: str) -> str:
    head = "您的输入有误。" if speech.is_chinese(lang) else "Sorry, that is not a valid choice. "
    return head + say_question(number, lang)


def default_comment(lang: str) -> str:
    return (
        "IVR 满意度回访：客户按键表示不满意。"
        if speech.is_chinese(lang)
        else "IVR survey: the customer pressed 3 (dissatisfied)."
    )


# -- the shell -----------------------------------------------------------------------------------


def _lang(args: Mapping[str, Any], ctx: ActionContext) -> str:
    raw = args.get("lang") or args.get("language") or ctx.variables.get("lang") or "zh"
    return "zh" if speech.is_chinese(str(raw)) else "en"


def _arg(args: Mapping[str, Any], *names: str) -> str:
    for name in names:
        v = args.get(name)
        if v is not None and str(v).strip():
            return str(v).strip()
    return ""


async def awaiting_for_caller(s: AsyncSession, tenant_id: int, caller: str, keyed: str = "") -> Ticket | None:
    """The caller's latest order awaiting its revisit (the keyed one, if given and theirs)."""
    from hotline.tickets import service as svc

    if not caller.strip():
        return None
    forms = [f for f in lookup_forms(caller) if f]
    if not forms:
        return None
    customer_ids = [c.id for c in await crm.find_by_phone(s, tenant_id, caller)]
    who = [Ticket.contact_phone.in_(forms), Ticket.caller_number.in_(forms)]
    if customer_ids:
        who.append(Ticket.customer_id.in_(customer_ids))
    types = await svc.types_for(s, tenant_id)
    q = select(Ticket).where(Ticket.tenant_id == tenant_id, revisit.awaiting_condition(types), or_(*who))
    if keyed:
        ref = parse_keyed(keyed)
        if ref is None:
            return None
        q = q.where(Ticket.number == ref[1]) if ref[0] == "number" else q.where(Ticket.id == ref[1])
    return await s.scalar(q.order_by(Ticket.changed_at.desc(), Ticket.id.desc()).limit(1))


async def ticket_survey(args: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
    """See the module docstring."""
    from hotline.tickets import service as svc

    lang = _lang(args, ctx)
    db = ctx.services.get("db")
    tenant_id = ctx.tenant_id
    if db is None or tenant_id is None:
        raise BackendUnavailable("no work-order database in this context")
    caller = _arg(args, "caller", "phone") or ctx.caller
    digit = _arg(args, "satisfaction", "digit")
    out: dict[str, Any] = {
        "found": False,
        "ticket_id": None,
        "number": "",
        "recorded": False,
        "satisfaction": "",
        "invalid": False,
        "reopenable": False,
    }
    change = None
    async with transaction(db) as s:
        row = await awaiting_for_caller(s, tenant_id, caller, _arg(args, "ticket", "number"))
        if row is None:
            return {**out, "say": say_none(lang)}
        out.update(found=True, ticket_id=row.id, number=row.number)
        if not digit:
            return {**out, "say": say_question(row.number, lang)}
        satisfaction = DIGITS.get(digit)
        if satisfaction is None:
            return {**out, "invalid": True, "say": say_invalid(row.number, lang)}
        comment = _arg(args, "comment") or (default_comment(lang) if satisfaction == "dissatisfied" else "")
        change = await revisit.record(
            s,
            tenant_id,
            row.id,
            satisfaction,
            comment,
            "ivr",
            actor=svc.Actor(user_id=None, name=ACTOR),
            call_id=ctx.call_id[:40] if ctx.call_id else "",
            now=utcnow(),
        )
        reopenable = satisfaction == "dissatisfied" and await revisit.can_reopen(s, change.ticket)
    hub = ctx.services.get("hub")
    if hub is not None and change is not None:
        for ev in change.events:
            hub.publish(tenant_id, str(ev["type"]), data=dict(ev.get("data") or {}))
    return {
        **out,
        "recorded": True,
        "satisfaction": satisfaction,
        "reopenable": reopenable,
        "say": say_recorded(satisfaction, lang),
    }
