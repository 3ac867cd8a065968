"""Mass events: fault orders linked to outages (H-stats replaces these placeholders)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hotline.store.models import Ticket


async def link(s: AsyncSession, row: Ticket, now: datetime) -> list[dict[str, Any]]:
    return []


async def on_outage_restored(
    s: AsyncSession, tenant_id: int, outage_id: int, now: datetime
) -> list[dict[str, Any]]:
    return []
