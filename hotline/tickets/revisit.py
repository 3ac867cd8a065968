"""Revisits (回访): the queue of replied orders waiting to be asked "are you satisfied?", and
recording the answer.

An order **awaits its revisit** when its type's workflow allows ``revisit`` from its state (the
default workflow: ``reviewed``; a type without a review step: ``replied``) and it was replied.
The queue lists them oldest first (by the time they reached that state), with the deadline of
the ``revisit`` step when the tenant's SLA policy tracks it (``due_at``, ``overdue``). Agents
call customers back from it (the reviewer page, ``GET /api/v1/tickets/revisits``); the IVR
survey (:mod:`hotline.tickets.ivr_actions`) asks the caller with the keypad.

:func:`record` is the ``revisit`` action (:func:`hotline.tickets.service.act`) with the
satisfaction (``satisfied`` / ``basically_satisfied`` / ``dissatisfied``), comment and method
(``call`` / ``ivr`` / ``sms``). A dissatisfied revisit needs a comment (the IVR survey writes
one) and lets the order be reopened (``reopen``, through the tickets API).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.policy import DataScope
from hotline.errors import Invalid
from hotline.store.models import Ticket, TicketStep, Unit
from hotline.store.types import utcnow
from hotline.tickets.stats import scope_condition
from hotline.tickets.workflow import SATISFACTION, Command, TicketType, allowed_actions

if TYPE_CHECKING:
    from hotline.tickets.service import Actor, Change

METHODS = ("call", "ivr", "sms")
MAX_LIMIT = 500


def revisit_states(types: Mapping[str, TicketType]) -> dict[tuple[str, ...], list[str]]:
    """For each set of states a revisit is allowed from, the type codes that share it."""
    out: dict[tuple[str, ...], list[str]] = {}
    for code, t in sorted(types.items()):
        states = tuple(s for s in t.workflow.states if t.workflow.transition(s, "revisit") is not None)
        if states:
            out.setdefault(states, []).append(code)
    return out


def awaiting_condition(types: Mapping[str, TicketType]) -> ColumnElement[bool]:
    """SQL: the order awaits its revisit (see the module docstring)."""
    parts = [
        and_(Ticket.type_code.in_(codes), Ticket.state.in_(states))
        for states, codes in revisit_states(types).items()
    ]
    if not parts:
        return false()
    return and_(Ticket.replied_at.is_not(None), or_(*parts))


@dataclass(frozen=True)
class Waiting:
    ticket: Ticket
    unit_code: str
    #: when it reached the state the revisit is made from
    since: datetime
    #: the revisit step's deadline, when tracked
    due_at: datetime | None
    overdue: bool


async def queue(
    s: AsyncSession,
    tenant_id: int,
    *,
    scope: DataScope | None = None,
    type_code: str | None = None,
    unit: Unit | None = None,
    customer_id: int | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> list[Waiting]:
    """Orders awaiting their revisit, oldest first; ``scope`` limits to what the reader may see."""
    from hotline.tickets import service as svc

    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be 1 … {MAX_LIMIT}", field="limit")
    now = now or utcnow()
    types = await svc.types_for(s, tenant_id)
    q: Any = (
        select(Ticket, Unit.code, TicketStep.due_at)
        .join(Unit, Unit.id == Ticket.unit_id)
        .outerjoin(
            TicketStep,
            and_(
                TicketStep.ticket_id == Ticket.id,
                TicketStep.step == "revisit",
                TicketStep.done_at.is_(None),
            ),
        )
        .where(Ticket.tenant_id == tenant_id, awaiting_condition(types))
    )
    if type_code:
        q = q.where(Ticket.type_code == type_code)
    if customer_id is not None:
        q = q.where(Ticket.customer_id == customer_id)
    if unit is not None:
        q = q.where(Unit.path.startswith(unit.path, autoescape=True))
    cond = scope_condition(scope)
    if cond is not None:
        q = q.where(cond)
    rows = (await s.execute(q.order_by(Ticket.changed_at, Ticket.id).limit(limit))).all()
    return [
        Waiting(
            ticket=row,
            unit_code=code,
            since=row.changed_at,
            due_at=due,
            overdue=due is not None and due < now,
        )
        for row, code, due in rows
    ]


def check_answer(satisfaction: str, comment: str, method: str) -> tuple[str, str, str]:
    if satisfaction not in SATISFACTION:
        raise Invalid(f"satisfaction must be one of: {', '.join(SATISFACTION)}", field="satisfaction")
    if method not in METHODS:
        raise Invalid(f"method must be one of: {', '.join(METHODS)}", field="method")
    comment = (comment or "").strip()
    if satisfaction == "dissatisfied" and not comment:
        raise Invalid("a dissatisfied revisit needs a comment", field="comment")
    return satisfaction, comment, method


async def record(
    s: AsyncSession,
    tenant_id: int,
    key: int | str,
    satisfaction: str,
    comment: str = "",
    method: str = "call",
    *,
    actor: Actor,
    version: int | None = None,
    call_id: str = "",
    now: datetime | None = None,
) -> Change:
    """Record the revisit (the ``revisit`` action; ``version`` checked when given) in the caller's
    transaction; the service's ``Change``."""
    from hotline.tickets import service as svc

    satisfaction, comment, method = check_answer(satisfaction, comment, method)
    return await svc.act(
        s,
        tenant_id,
        key,
        Command(
            "revisit",
            actor.name,
            note=comment,
            payload={"satisfaction": satisfaction, "comment": comment, "method": method},
            expected_version=version,
        ),
        actor=actor,
        now=now,
        call_id=call_id,
    )


async def can_reopen(s: AsyncSession, row: Ticket) -> bool:
    """Whether the order may be reopened now (a dissatisfied revisit, the workflow allows it)."""
    from hotline.tickets import service as svc

    types = await svc.types_for(s, row.tenant_id)
    t = types.get(row.type_code)
    return t is not None and "reopen" in allowed_actions(svc.state_of(row), workflow=t.workflow)
