"""Finding one tenant-owned row by id or by its name-like key (one rule for every kind of record)."""

from __future__ import annotations

import math
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from hotline.errors import NotFound
from hotline.store.cache import Cache, db_key
from hotline.store.models import Unit
from hotline.store.types import valid_id

M = TypeVar("M")


async def get_in_tenant(
    s: AsyncSession,
    model: type[M],
    tenant_id: int,
    key: int | str,
    by_name: InstrumentedAttribute[Any],
    what: str,
) -> M:
    """The row of ``model`` in the tenant whose id (int key) or ``by_name`` column (str key) matches.

    Rows of other tenants and ids no database could hold are "not found", like missing ones.
    """
    if isinstance(key, int) and not valid_id(key):
        raise NotFound(f"no {what} {key!r}", field=what)
    q = select(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]
    q = q.where(model.id == key) if isinstance(key, int) else q.where(by_name == key)  # type: ignore[attr-defined]
    row = await s.scalar(q)
    if row is None:
        raise NotFound(f"no {what} {key!r}", field=what)
    return row


#: a unit's path never changes (units are neither moved nor deleted): kept until this process
#: writes the units table, with no expiry
_PATHS: Cache[tuple[str, int], str] = Cache(("units",), ttl=math.inf, maxsize=100_000)


async def unit_path(s: AsyncSession, unit_id: int | None) -> str:
    """The materialised path of a unit ("" when there is none): where a record lies for the policy
    (cached: see :mod:`hotline.store.cache`)."""
    if unit_id is None:
        return ""

    async def load() -> str:
        return await s.scalar(select(Unit.path).where(Unit.id == unit_id)) or ""

    return await _PATHS.fetch((db_key(s), unit_id), load)
