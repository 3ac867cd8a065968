"""Deadlines of stored tickets (H-sla replaces these placeholders; signatures are the contract)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.store.models import Ticket
from hotline.tickets.workflow import Outcome, TicketState


async def on_created(s: AsyncSession, row: Ticket, now: datetime) -> list[dict[str, Any]]:
    return []


async def on_outcome(
    s: AsyncSession, row: Ticket, before: TicketState, outcome: Outcome, now: datetime
) -> list[dict[str, Any]]:
    return []


async def on_urge(s: AsyncSession, row: Ticket, now: datetime, *, by: str, note: str) -> list[dict[str, Any]]:
    return []


async def deadlines(s: AsyncSession, row: Ticket, now: datetime) -> list[dict[str, Any]]:
    return []
