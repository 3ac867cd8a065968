"""A customer's contact history (timeline): calls, chats, e-mails, SMS, work orders, notes,
verifications and payments on one list, newest first.

Entries point at their source with ``ref`` (a call id for kind ``call`` / ``verification``, a
work-order id, …). Call entries are written when an agent links a call to the customer (the
screen pop, ``POST /api/v1/calls/{id}/customer``); when listed they show the call's start,
duration, talk time, disposition and agent from the ``calls`` table (joined on ``ref``), so the
timeline never copies what the CDR already holds.

Paging is by keyset on (at, id): pass the ``next`` cursor of a page as ``before`` to get the
following (older) page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.errors import Invalid
from hotline.store.bulk import new_object
from hotline.store.models import Call, ContactEntry, User
from hotline.store.types import utcnow

KINDS = ("call", "note", "ticket", "verification", "payment", "notification", "chat", "email", "sms")
CHANNELS = ("voice", "chat", "email", "sms", "web", "counter", "system", "wechat")
MAX_SUMMARY = 4000


@dataclass(frozen=True)
class Entry:
    id: int
    at: datetime
    kind: str
    channel: str
    ref: str
    summary: str
    agent_id: int | None
    agent_name: str
    detail: dict[str, Any]
    #: for kind "call": the call from the CDR (None if the call is not in ``calls``)
    call: dict[str, Any] | None = field(default=None)


def cursor_of(at: datetime, entry_id: int) -> str:
    """The paging cursor after an entry (opaque to clients: ``<iso time>_<id>``)."""
    return f"{at.isoformat()}_{entry_id}"


def parse_cursor(text: str) -> tuple[datetime, int]:
    when, _, ident = text.rpartition("_")
    try:
        at = datetime.fromisoformat(when)
        if at.tzinfo is None:
            raise ValueError("naive")
        return at, int(ident)
    except ValueError:
        raise Invalid(f"bad cursor {text!r}", field="before") from None


def check_entry(kind: str, channel: str, summary: str) -> str:
    if kind not in KINDS:
        raise Invalid(f"unknown entry kind {kind!r}; kinds are: {', '.join(KINDS)}", field="kind")
    if channel not in CHANNELS:
        raise Invalid(f"unknown channel {channel!r}; channels are: {', '.join(CHANNELS)}", field="channel")
    summary = summary.strip()
    if len(summary) > MAX_SUMMARY:
        raise Invalid(f"summary must be at most {MAX_SUMMARY} characters", field="summary")
    return summary


async def add_entry(
    s: AsyncSession,
    tenant_id: int,
    customer_id: int,
    *,
    kind: str,
    channel: str = "voice",
    ref: str = "",
    summary: str = "",
    agent_id: int | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> ContactEntry:
    """Add one entry (in the caller's transaction). A second ``call`` entry for the same call
    and customer is not added: the existing one is returned."""
    summary = check_entry(kind, channel, summary)
    if kind == "call" and ref:
        existing = await s.scalar(
            select(ContactEntry).where(
                ContactEntry.tenant_id == tenant_id,
                ContactEntry.customer_id == customer_id,
                ContactEntry.kind == "call",
                ContactEntry.ref == ref,
            )
        )
        if existing is not None:
            return existing
    e = new_entry(
        tenant_id,
        customer_id,
        kind=kind,
        channel=channel,
        ref=ref,
        summary=summary,
        agent_id=agent_id,
        detail=detail,
        at=at,
    )
    s.add(e)
    await s.flush()
    return e


def new_entry(
    tenant_id: int,
    customer_id: int,
    *,
    kind: str,
    channel: str = "voice",
    ref: str = "",
    summary: str = "",
    agent_id: int | None = None,
    detail: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> ContactEntry:
    """A checked entry for the caller to add (no duplicate check: see :func:`add_entry`)."""
    return new_object(
        ContactEntry,
        {
            "tenant_id": tenant_id,
            "customer_id": customer_id,
            "at": at or utcnow(),
            "kind": kind,
            "channel": channel,
            "ref": ref[:64],
            "summary": check_entry(kind, channel, summary),
            "agent_id": agent_id,
            "detail": detail or {},
        },
    )


def _call_doc(c: Call) -> dict[str, Any]:
    duration = (c.ended_at - c.started_at).total_seconds() if c.ended_at and c.started_at else None
    return {
        "id": c.id,
        "direction": c.direction,
        "caller": c.caller,
        "started_at": c.started_at,
        "ended_at": c.ended_at,
        "duration_seconds": round(duration, 1) if duration is not None else None,
        "talk_seconds": c.talk_seconds,
        "queue": c.queue,
        "disposition": c.disposition,
        "agent_id": c.agent_id,
    }


async def entries(
    s: AsyncSession,
    tenant_id: int,
    customer_id: int,
    limit: int = 50,
    before: tuple[datetime, int] | str | None = None,
    *,
    kinds: tuple[str, ...] | None = None,
) -> tuple[list[Entry], str | None]:
    """One page of the timeline, newest first, and the cursor of the next page (None at the end)."""
    if isinstance(before, str):
        before = parse_cursor(before)
    q = (
        select(ContactEntry, Call, User.display_name, User.username)
        .outerjoin(
            Call,
            and_(ContactEntry.kind == "call", Call.tenant_id == tenant_id, Call.id == ContactEntry.ref),
        )
        .outerjoin(User, User.id == ContactEntry.agent_id)
        .where(ContactEntry.tenant_id == tenant_id, ContactEntry.customer_id == customer_id)
    )
    if kinds:
        q = q.where(ContactEntry.kind.in_(kinds))
    if before is not None:
        at, ident = before
        q = q.where(or_(ContactEntry.at < at, and_(ContactEntry.at == at, ContactEntry.id < ident)))
    q = q.order_by(ContactEntry.at.desc(), ContactEntry.id.desc()).limit(limit + 1)
    rows = (await s.execute(q)).all()
    out = [
        Entry(
            id=e.id,
            at=e.at,
            kind=e.kind,
            channel=e.channel,
            ref=e.ref,
            summary=e.summary,
            agent_id=e.agent_id,
            agent_name=(display or username or ""),
            detail=dict(e.detail or {}),
            call=_call_doc(call) if call is not None else None,
        )
        for e, call, display, username in rows[:limit]
    ]
    nxt = cursor_of(out[-1].at, out[-1].id) if len(rows) > limit and out else None
    return out, nxt


async def last_agent(s: AsyncSession, tenant_id: int, customer_id: int) -> int | None:
    """The agent of the customer's most recent contact that had one (the entry's agent, or for a
    call entry without one the call's answering agent); None if no contact had an agent."""
    who = func.coalesce(ContactEntry.agent_id, Call.agent_id)
    agent: int | None = await s.scalar(
        select(who)
        .select_from(ContactEntry)
        .outerjoin(
            Call,
            and_(ContactEntry.kind == "call", Call.tenant_id == tenant_id, Call.id == ContactEntry.ref),
        )
        .where(
            ContactEntry.tenant_id == tenant_id,
            ContactEntry.customer_id == customer_id,
            who.is_not(None),
        )
        .order_by(ContactEntry.at.desc(), ContactEntry.id.desc())
        .limit(1)
    )
    return agent
