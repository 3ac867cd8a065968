"""Screen pop: who is calling, and what the agent needs to know about them.

Two steps, kept apart because the first one is on the hot path of every ringing call:

- :func:`candidates` — the caller's number → the accounts registered with it: one indexed query
  on ``customer_phones (tenant_id, phone)`` joined to ``customers`` and ``units``. Several
  accounts per phone is normal (a family, a landlord, a factory with several meters): the agent
  picks. Timed by ``bench/screenpop_bench.py`` (target p99 ≤ 5 ms with 1,000,000 customers).
- :func:`pop` — the document for one chosen customer: identity, class, voltage, supply unit, VIP
  and blacklist flags, dedicated agent, tags, the district part of the address, open work
  orders (from :data:`OPEN_ORDER_PROVIDERS`), last contacts, last agent and outages affecting
  them (from the billing back-end); and only when ``private`` is true (the caller was verified,
  or the reader holds ``customer.private``) the private part: ID number, full addresses, all
  phones, e-mail and the balance / arrears from the billing back-end. A back-end that fails or
  does not answer within ``billing_timeout`` seconds gives ``{"error": …}`` for its part only; the rest
  of the pop is still shown.

Who may see what (the web layer decides, with :func:`verification`): private data needs
``customer.private`` over the customer, or a verification of the caller on the call — call data
``verified_account`` equal to the account number (set by the IVR's PIN check), or a
``contact_history`` row ``kind="verification"``, ``ref=<call id>`` for that customer (recorded
by the agent, ``POST /api/v1/calls/{id}/verification``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.crm import timeline
from hotline.crm.phones import lookup_forms
from hotline.crm.protect import mask_address
from hotline.store.models import Call, ContactEntry, Customer, CustomerPhone, Unit, User
from hotline.utility.backend import BackendUnavailable, Balance, BillingBackend, OutageInfo, UnknownAccount
from hotline.utility.money import to_str

log = logging.getLogger(__name__)

#: Providers of a customer's open work orders: ``async (session, tenant_id, customer_id) ->
#: [{"id", "title", "status", "created_at", …}]``. Empty until the work-order module registers
#: one (``OPEN_ORDER_PROVIDERS.append(provider)``); the pop then says ``open_orders_source: null``.
OpenOrderProvider = Callable[[AsyncSession, int, int], Awaitable[list[dict[str, Any]]]]
OPEN_ORDER_PROVIDERS: list[OpenOrderProvider] = []

#: at most this many accounts are returned for one phone number (a landlord with hundreds of
#: meters is searched by account number instead)
MAX_CANDIDATES = 20
#: last contacts shown in the pop
LAST_CONTACTS = 5


@dataclass(frozen=True, slots=True)
class Candidate:
    """One account registered with the caller's number (no private data)."""

    customer_id: int
    account_no: str
    name: str
    customer_class: str
    vip: bool
    blacklisted: bool
    masked_address: str
    unit_id: int
    unit_code: str
    unit_name: str
    unit_path: str
    dedicated_agent_id: int | None
    status: str

    def doc(self) -> dict[str, Any]:
        d = asdict(self)
        del d["unit_path"]
        return d


# -- pure helpers -------------------------------------------------------------------------------------


def balance_doc(b: Balance) -> dict[str, Any]:
    return {
        "as_of": b.as_of.isoformat(),
        "unpaid": to_str(b.unpaid),
        "arrears": to_str(b.arrears),
        "late_fee": to_str(b.late_fee),
        "credit": to_str(b.credit),
        "amount_due": to_str(b.amount_due),
        "overdue_bills": b.overdue_bills,
        "next_due_on": b.next_due_on.isoformat() if b.next_due_on else None,
        "ageing": {k: to_str(v) for k, v in b.ageing.items()},
    }


def outage_doc(o: OutageInfo) -> dict[str, Any]:
    return {
        "id": o.id,
        "kind": o.kind,
        "status": o.status,
        "cause": o.cause,
        "start_at": o.start_at.isoformat(),
        "expected_end_at": o.expected_end_at.isoformat() if o.expected_end_at else None,
        "actual_end_at": o.actual_end_at.isoformat() if o.actual_end_at else None,
        "areas": [{"feeder": f, "transformer_area": a} for f, a in o.areas],
        "notice": dict(o.notice),
    }


def verification_from(
    call_data: Mapping[str, Any] | None, account_no: str, agent_recorded: bool
) -> str | None:
    """How the caller was verified for ``account_no``: "ivr" (call data ``verified_account``),
    "agent" (a verification entry for the call), or None."""
    if call_data and str(call_data.get("verified_account") or "") == account_no and account_no:
        return "ivr"
    if agent_recorded:
        return "agent"
    return None


def backend_error(exc: BaseException, timeout: float) -> str:
    """What the agent reads when the billing system did not answer."""
    if isinstance(exc, TimeoutError):
        return f"billing system did not answer within {timeout:g} s"
    if isinstance(exc, UnknownAccount):
        return "account not found in the billing system"
    if isinstance(exc, BackendUnavailable):
        return f"billing system unavailable: {exc.detail}"
    return f"billing system error: {type(exc).__name__}"


# -- the timed lookup ---------------------------------------------------------------------------------


def _candidates_statement(forms: int) -> Any:
    """The lookup for 1 or 2 written forms of a number, built once (bound parameters only, so
    the compiled form is cached and PostgreSQL reuses its prepared statement)."""
    phone = CustomerPhone.phone
    match = phone == bindparam("p0") if forms == 1 else phone.in_([bindparam("p0"), bindparam("p1")])
    return (
        select(
            Customer.id,
            Customer.account_no,
            Customer.name,
            Customer.customer_class,
            Customer.vip,
            Customer.blacklisted,
            Customer.address,
            Customer.unit_id,
            Unit.code,
            Unit.name,
            Unit.path,
            Customer.dedicated_agent_id,
            Customer.status,
        )
        .select_from(CustomerPhone)
        .join(Customer, Customer.id == CustomerPhone.customer_id)
        .join(Unit, Unit.id == Customer.unit_id)
        .where(CustomerPhone.tenant_id == bindparam("tenant_id"), match)
        .order_by(Customer.account_no)
        .limit(MAX_CANDIDATES)
    )


_CANDIDATES = {1: _candidates_statement(1), 2: _candidates_statement(2)}


async def candidates(s: AsyncSession, tenant_id: int, phone: str) -> list[Candidate]:
    """The accounts registered with ``phone`` (any written form of it), by account number."""
    forms = [f for f in lookup_forms(phone) if f][:2]
    if not forms:
        return []
    params: dict[str, Any] = {"tenant_id": tenant_id, **{f"p{i}": f for i, f in enumerate(forms)}}
    conn = await s.connection()  # Core execution: no ORM overhead on the hot path
    rows = (await conn.execute(_CANDIDATES[len(forms)], params)).all()
    seen: set[int] = set()
    out = []
    for r in rows:
        if r[0] in seen:  # the same customer under two written forms of the number
            continue
        seen.add(r[0])
        out.append(
            Candidate(
                customer_id=r[0],
                account_no=r[1],
                name=r[2],
                customer_class=r[3],
                vip=bool(r[4]),
                blacklisted=bool(r[5]),
                masked_address=mask_address(r[6] or ""),
                unit_id=r[7],
                unit_code=r[8],
                unit_name=r[9],
                unit_path=r[10],
                dedicated_agent_id=r[11],
                status=r[12],
            )
        )
    return out


# -- the document -------------------------------------------------------------------------------------


async def verification(s: AsyncSession, tenant_id: int, customer: Customer, call: Call | None) -> str | None:
    """ "ivr" / "agent" when the caller on ``call`` was verified for ``customer``, else None."""
    if call is None:
        return None
    if verification_from(call.data, customer.account_no, False):
        return "ivr"
    recorded = await s.scalar(
        select(ContactEntry.id)
        .where(
            ContactEntry.tenant_id == tenant_id,
            ContactEntry.ref == call.id,
            ContactEntry.customer_id == customer.id,
            ContactEntry.kind == "verification",
        )
        .limit(1)
    )
    return verification_from(None, customer.account_no, recorded is not None)


async def _guarded(coro: Awaitable[Any], seconds: float) -> tuple[Any, str | None]:
    try:
        return await asyncio.wait_for(coro, seconds), None
    except Exception as exc:  # a failing back-end must never break the pop
        if not isinstance(exc, BackendUnavailable | TimeoutError | UnknownAccount):
            log.exception("billing back-end failed in the screen pop")
        return None, backend_error(exc, seconds)


async def _open_orders(
    s: AsyncSession, tenant_id: int, customer_id: int
) -> tuple[list[dict[str, Any]], str | None]:
    if not OPEN_ORDER_PROVIDERS:
        return [], None
    orders: list[dict[str, Any]] = []
    sources = []
    for provider in OPEN_ORDER_PROVIDERS:
        try:
            orders.extend(await provider(s, tenant_id, customer_id))
            sources.append(getattr(provider, "__module__", "") or "provider")
        except Exception:
            log.exception("open work orders provider %r failed", provider)
    return orders, ",".join(sources) or None


async def last_contacts(
    s: AsyncSession, tenant_id: int, customer: Customer, phones: Sequence[str], limit: int = LAST_CONTACTS
) -> list[dict[str, Any]]:
    """The customer's latest contacts: their contact history, plus calls from their numbers that
    are not linked to them yet (``kind="call"``, ``linked: false``), newest first."""
    entries, _next = await timeline.entries(s, tenant_id, customer.id, limit)
    out: list[dict[str, Any]] = []
    for e in entries:
        call = e.call or {}
        out.append(
            {
                "at": e.at,
                "kind": e.kind,
                "channel": e.channel,
                "ref": e.ref,
                "summary": e.summary or str(call.get("disposition") or ""),
                "agent_id": e.agent_id or call.get("agent_id"),
                "linked": True,
            }
        )
    linked_calls = {e.ref for e in entries if e.kind in ("call", "verification") and e.ref}
    if phones:
        calls = (
            await s.execute(
                select(Call.id, Call.started_at, Call.agent_id, Call.disposition, Call.direction)
                .where(Call.tenant_id == tenant_id, Call.caller.in_(list(phones)))
                .order_by(Call.started_at.desc())
                .limit(limit)
            )
        ).all()
        for cid, at, agent_id, disposition, direction in calls:
            if cid in linked_calls:
                continue
            out.append(
                {
                    "at": at,
                    "kind": "call",
                    "channel": "voice",
                    "ref": cid,
                    "summary": disposition or direction,
                    "agent_id": agent_id,
                    "linked": False,
                }
            )
    out.sort(key=lambda d: d["at"] or datetime.min.replace(tzinfo=UTC), reverse=True)
    out = out[:limit]
    names = await _user_names(s, tenant_id, {d["agent_id"] for d in out if d["agent_id"]})
    for d in out:
        d["agent_name"] = names.get(d["agent_id"], "") if d["agent_id"] else ""
        d["at"] = d["at"].isoformat() if d["at"] else None
    return out


async def _user_names(s: AsyncSession, tenant_id: int, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = (
        await s.execute(
            select(User.id, User.display_name, User.username).where(
                User.tenant_id == tenant_id, User.id.in_(ids)
            )
        )
    ).all()
    return {uid: display or username for uid, display, username in rows}


async def pop(
    s: AsyncSession,
    tenant_id: int,
    customer: Customer,
    *,
    private: bool,
    full_id_number: bool = False,
    billing: BillingBackend | None = None,
    billing_allowed: bool = True,
    billing_timeout: float = 3.0,
    verified: str | None = None,
    decrypt_id: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The screen-pop document of ``customer`` (see the module docstring).

    ``private``: include the private part (the caller decides: verification or
    ``customer.private``); ``full_id_number``: the ID number in full (``customer.private`` only,
    with ``decrypt_id`` turning the stored ciphertext into it); ``billing_allowed``: the reader
    holds ``billing.read`` over the customer (else no balance, even when verified).
    """
    unit = await s.get(Unit, customer.unit_id)
    phones = list(
        (
            await s.scalars(
                select(CustomerPhone.phone)
                .where(CustomerPhone.customer_id == customer.id)
                .order_by(CustomerPhone.id)
            )
        ).all()
    )
    if customer.phone and customer.phone not in phones:
        phones.insert(0, customer.phone)
    names = await _user_names(
        s, tenant_id, {customer.dedicated_agent_id} if customer.dedicated_agent_id else set()
    )

    # the billing back-end: balance (private) and outages (not private), side by side
    async def nothing() -> None:
        return None

    want_balance = private and billing_allowed and billing is not None
    balance_task = (
        _guarded(billing.balance(tenant_id, customer.account_no), billing_timeout)
        if want_balance and billing is not None
        else _guarded(nothing(), billing_timeout)
    )
    outage_task = (
        _guarded(billing.outages(tenant_id, customer.account_no), billing_timeout)
        if billing is not None
        else _guarded(nothing(), billing_timeout)
    )
    (balance, balance_err), (outages, outages_err) = await asyncio.gather(balance_task, outage_task)

    orders, orders_source = await _open_orders(s, tenant_id, customer.id)
    contacts = await last_contacts(s, tenant_id, customer, phones)
    last_agent = next(
        ({"id": c["agent_id"], "name": c["agent_name"], "at": c["at"]} for c in contacts if c["agent_id"]),
        None,
    )
    doc: dict[str, Any] = {
        "customer": {
            "id": customer.id,
            "account_no": customer.account_no,
            "name": customer.name,
            "customer_class": customer.customer_class,
            "voltage": customer.voltage,
            "status": customer.status,
            "unit": {
                "id": customer.unit_id,
                "code": unit.code if unit else "",
                "name": unit.name if unit else "",
            },
            "vip": bool(customer.vip),
            "blacklisted": bool(customer.blacklisted),
            "blacklist_reason": customer.blacklist_reason if customer.blacklisted else "",
            "dedicated_agent": (
                {"id": customer.dedicated_agent_id, "name": names.get(customer.dedicated_agent_id, "")}
                if customer.dedicated_agent_id
                else None
            ),
            "tags": list(customer.tags or []),
            "masked_address": mask_address(customer.address),
            "has_pin": bool(customer.pin_hash),
        },
        "verified": verified,
        "private_shown": private,
        "private": None,
        "balance": None,
        "outages": [outage_doc(o) for o in outages or []],
        "outages_error": outages_err,
        "open_orders": orders,
        "open_orders_source": orders_source,
        "last_contacts": contacts,
        "last_agent": last_agent,
    }
    if private:
        id_number = customer.id_number_mask
        if full_id_number and decrypt_id is not None and customer.id_number_enc:
            try:
                id_number = decrypt_id(customer.id_number_enc)
            except Exception:
                log.exception("customer %s: the ID number cannot be decrypted", customer.id)
        doc["private"] = {
            "id_number": id_number,
            "id_number_full": bool(full_id_number and id_number and id_number != customer.id_number_mask),
            "address": customer.address,
            "addresses": list(customer.addresses or []),
            "phones": phones,
            "email": customer.email,
            "preferred_channel": customer.preferred_channel,
        }
        if want_balance:
            doc["balance"] = (
                balance_doc(balance)
                if balance_err is None and balance is not None
                else {"error": balance_err or "billing system gave no answer"}
            )
    return doc
