"""Mass events (事件): fault-repair orders in an outage area linked to the outage, and closed
together when power is restored.

* :func:`link` — called by :func:`hotline.tickets.service.create_ticket` inside its
  transaction for a new ``fault_repair`` order: when the order names an outage of the tenant on
  its form (``outage_id``) that is in effect, or its customer's feeder / transformer area
  (:func:`hotline.utility.outages.outages_for_customer`) is covered by an outage in effect, the
  order gets ``outage_id`` (the earliest-started such outage), a history entry ``linked``
  (actor ``system``, state and version unchanged) and two live events: ``ticket`` (action
  ``linked``) and ``incident`` (action ``linked``, with the number of orders now on the outage).
  *In effect* = ``active``, or ``scheduled`` whose start has come and whose expected end has not
  (a planned outage nobody marked active); restored, cancelled and future outages never link.
* :func:`on_outage_restored` — called by the outage API inside the restore transaction: every
  linked order that has not been replied yet is replied at once, through whatever workflow
  actions lead there from its state (:func:`plan_to_reply`: e.g. dispatch → acknowledge →
  start → reply, resume first when on hold), each carried out by
  :func:`hotline.tickets.service.act` with the actor ``incident`` (versions, history, deadline
  steps and the contact history stay consistent), the reply's note saying when power came back
  (``已于… 恢复供电`` / ``Power restored at …``). Each affected customer gets one contact-history
  entry of kind ``notification`` (the restoration notice; sending it by SMS / voice is for
  whoever listens to the ``incident`` event, e.g. a webhook). Returns the events to publish
  after the commit: the orders' ``ticket`` / ``ticket_deadline`` events and one ``incident``
  event (action ``restored``, ``tickets``: the ids replied).

An order that cannot be replied by these actions (a workflow without such a path, or a
concurrent change three times in a row) is left as it is and listed in the incident event's
``skipped``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.crm import timeline
from hotline.crm.facts import CustomerFacts
from hotline.errors import HotlineError
from hotline.store.models import Customer, Outage, Ticket, TicketHistory
from hotline.tickets.workflow import Command, StaleVersion, TicketState, Workflow
from hotline.utility import outages as outage_store

#: the actions an incident restoration may take on its way to the reply
AUTO_ACTIONS = ("resume", "dispatch", "acknowledge", "start", "reply")
FAULT_TYPE = "fault_repair"
ACTOR = "incident"
RETRIES = 3

log = logging.getLogger(__name__)


# -- pure --------------------------------------------------------------------------------------


def in_effect_now(o: Outage, now: datetime) -> bool:
    """Active, or scheduled with its start come and its expected end not yet passed."""
    if o.status == "active":
        return True
    return (
        o.status == "scheduled"
        and o.start_at <= now
        and (o.expected_end_at is None or o.expected_end_at > now)
    )


def plan_to_reply(wf: Workflow, ticket: TicketState) -> list[str] | None:
    """The shortest list of :data:`AUTO_ACTIONS` that ends with ``reply`` from the ticket's state
    (``[]`` never: a ticket that needs nothing is not open); None when there is no such path."""
    start = (ticket.state, ticket.held_from)
    seen = {start}
    todo: deque[tuple[tuple[str, str | None], list[str]]] = deque([(start, [])])
    while todo:
        (state, held_from), path = todo.popleft()
        for action in AUTO_ACTIONS:
            t = wf.transition(state, action)
            if t is None:
                continue
            if action == "reply":
                return [*path, action]
            if action == "resume":
                if held_from is None:
                    continue
                nxt: tuple[str, str | None] = (held_from, None)
            else:
                assert t.target is not None
                nxt = (t.target, held_from)
            if nxt not in seen:
                seen.add(nxt)
                todo.append((nxt, [*path, action]))
    return None


def restored_note(restored_at: datetime, tz: ZoneInfo, outage_id: int) -> str:
    """The reply of an order closed by restoration (Chinese and English)."""
    local = restored_at.astimezone(tz)
    return (
        f"已于{local:%Y-%m-%d %H:%M}恢复供电（停电事件 {outage_id}）。"
        f" Power restored at {local:%Y-%m-%d %H:%M} (outage {outage_id})."
    )


def notice_summary(restored_at: datetime, tz: ZoneInfo, numbers: Sequence[str]) -> str:
    local = restored_at.astimezone(tz)
    return f"恢复供电通知：您所在区域已于{local:%Y-%m-%d %H:%M}恢复供电（工单 {', '.join(numbers)}）。"


def incident_event(outage_id: int, action: str, tickets: Sequence[int], **more: Any) -> dict[str, Any]:
    return {
        "type": "incident",
        "data": {"outage_id": outage_id, "action": action, "tickets": list(tickets), **more},
    }


# -- linking -----------------------------------------------------------------------------------


async def _named_outage(s: AsyncSession, row: Ticket, now: datetime) -> Outage | None:
    raw = (row.form or {}).get("outage_id")
    if raw is None or not str(raw).strip().isdigit():
        return None
    o = await s.scalar(select(Outage).where(Outage.tenant_id == row.tenant_id, Outage.id == int(str(raw))))
    return o if o is not None and in_effect_now(o, now) else None


async def outage_for(
    s: AsyncSession, row: Ticket, now: datetime, *, customer: CustomerFacts | None = None
) -> Outage | None:
    """The outage a fault order belongs to now (see the module docstring), or None
    (``customer``: the order's customer when the caller has it loaded)."""
    named = await _named_outage(s, row, now)
    if named is not None:
        return named
    if row.customer_id is None:
        return None
    if customer is None or customer.id != row.customer_id:
        customer = await s.scalar(
            select(Customer).where(Customer.tenant_id == row.tenant_id, Customer.id == row.customer_id)
        )
    if customer is None or not customer.feeder:
        return None
    found = await outage_store.outages_for_customer(s, row.tenant_id, customer, now)
    return next((o for o in found if in_effect_now(o, now)), None)


def linked_entry(row: Ticket, o: Outage, now: datetime, *, state: str, version: int) -> TicketHistory:
    """The ``linked`` history entry of a new fault order joined to outage ``o``."""
    return TicketHistory(
        tenant_id=row.tenant_id,
        ticket_id=row.id,
        at=now,
        user_id=None,
        actor="system",
        action="linked",
        from_state=state,
        to_state=state,
        note=f"关联停电事件 {o.id} / linked to outage {o.id}",
        attachments=[],
        data={"outage_id": o.id, "kind": o.kind, "cause": o.cause},
        version=version,
    )


async def linked_events(s: AsyncSession, row: Ticket, o: Outage) -> list[dict[str, Any]]:
    """The events of ``row`` (flushed, with its ``outage_id``) joining outage ``o``."""
    from hotline.tickets.events import ticket_event
    from hotline.tickets.service import unit_code

    linked = int(
        await s.scalar(
            select(func.count())
            .select_from(Ticket)
            .where(Ticket.tenant_id == row.tenant_id, Ticket.outage_id == o.id)
        )
        or 0
    )
    return [
        ticket_event(row, "link", from_state=row.state, unit_code=await unit_code(s, row.unit_id)),
        incident_event(o.id, "linked", [row.id], numbers=[row.number], linked=linked),
    ]


# -- restoration -------------------------------------------------------------------------------


async def _close_one(
    s: AsyncSession, tenant_id: int, ticket_id: int, note: str, now: datetime
) -> tuple[list[dict[str, Any]], Ticket | None, bool]:
    """Reply one order through the actions it needs: (events, the row when replied, whether it
    was open — False when no path leads to a reply, i.e. it is answered already)."""
    from hotline.tickets import service as svc

    actor = svc.Actor(user_id=None, name=ACTOR)
    events: list[dict[str, Any]] = []
    for _ in range(RETRIES):
        row = await svc.get_ticket(s, tenant_id, ticket_id, fresh=True)
        types = await svc.types_for(s, tenant_id)
        t = types.get(row.type_code)
        plan = plan_to_reply(t.workflow, svc.state_of(row)) if t is not None else None
        if plan is None:
            return events, None, bool(events)
        try:
            for action in plan:
                payload = {"unit": str(row.unit_id)} if action == "dispatch" else {}
                change = await svc.act(
                    s,
                    tenant_id,
                    row.id,
                    Command(action, ACTOR, note=note if action == "reply" else "", payload=payload),
                    actor=actor,
                    now=now,
                )
                row = change.ticket
                events.extend(change.events)
            return events, row, True
        except StaleVersion:
            continue  # someone acted on it meanwhile: plan again from its new state
        except HotlineError as exc:
            log.warning("incident: ticket %s not replied: %s", ticket_id, exc.detail)
            return events, None, True
    return events, None, True


async def on_outage_restored(
    s: AsyncSession, tenant_id: int, outage_id: int, now: datetime
) -> list[dict[str, Any]]:
    """Reply every open order linked to the outage and note the restoration notice for each of
    their customers (in the caller's transaction); the events to publish after the commit."""
    from hotline.utility.payments import tenant_zone

    rows = (
        await s.execute(
            select(Ticket.id)
            .where(
                Ticket.tenant_id == tenant_id,
                Ticket.outage_id == outage_id,
                Ticket.closed_at.is_(None),
            )
            .order_by(Ticket.id)
        )
    ).all()
    if not rows:
        return []
    tz = await tenant_zone(s, tenant_id)
    note = restored_note(now, tz, outage_id)
    events: list[dict[str, Any]] = []
    replied: list[Ticket] = []
    skipped: list[int] = []
    for (tid,) in rows:
        more, row, was_open = await _close_one(s, tenant_id, tid, note, now)
        events.extend(more)
        if row is not None:
            replied.append(row)
        elif was_open:
            skipped.append(tid)
    by_customer: dict[int, list[Ticket]] = {}
    for row in replied:
        if row.customer_id is not None:
            by_customer.setdefault(row.customer_id, []).append(row)
    for customer_id, tickets in by_customer.items():
        await timeline.add_entry(
            s,
            tenant_id,
            customer_id,
            kind="notification",
            channel="system",
            ref=str(tickets[0].id),
            summary=notice_summary(now, tz, [t.number for t in tickets]),
            detail={
                "outage_id": outage_id,
                "tickets": [t.id for t in tickets],
                "numbers": [t.number for t in tickets],
                "reason": "restoration",
            },
            at=now,
        )
    events.append(
        incident_event(
            outage_id,
            "restored",
            [t.id for t in replied],
            numbers=[t.number for t in replied],
            customers=len(by_customer),
            skipped=skipped,
            restored_at=now.isoformat(),
        )
    )
    return events
