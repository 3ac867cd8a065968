"""Read caches kept honest (hotline.store.cache): writes through this process invalidate at once,
other processes' writes within the ttl, and a write racing a read is never cached as fresh."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import update

from hotline.org import service as org
from hotline.store import cache
from hotline.store.cache import Cache, db_key
from hotline.store.db import transaction
from hotline.store.models import Unit


async def test_orm_writes_invalidate_and_ttl_expires(factory: Any) -> None:
    units: Cache[str, str] = Cache(("units",), ttl=60)
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "acme", "Acme")
        root = await org.add_unit(s, t.id, "hq", "总部")
        key = db_key(s)
    units.put(key, "v1", units.mark())
    assert units.get(key) == "v1"
    async with transaction(factory) as s:  # an ORM change of a unit
        u = await s.get_one(Unit, root.id)
        u.name = "总部 2"
    assert units.get(key) is None
    units.put(key, "v2", units.mark())
    async with transaction(factory) as s:  # a bulk UPDATE
        await s.execute(update(Unit).where(Unit.id == root.id).values(name="总部 3"))
    assert units.get(key) is None
    # a change elsewhere is seen within the ttl
    short: Cache[str, str] = Cache(("units",), ttl=0.05)
    short.put(key, "v", short.mark())
    assert short.get(key) == "v"
    await asyncio.sleep(0.06)
    assert short.get(key) is None


def test_a_write_racing_the_read_is_not_cached_as_fresh() -> None:
    c: Cache[int, str] = Cache(("units",))
    mark = c.mark()  # the reader takes its mark, then reads...
    cache.bump("units")  # ...while a writer commits
    c.put(1, "read before the write", mark)
    assert c.get(1) is None
    # other tables do not matter; a new database (its tenant written) drops everything
    c.put(1, "fresh", c.mark())
    cache.bump("customers")
    assert c.get(1) == "fresh"
    cache.bump("tenants")
    assert c.get(1) is None
