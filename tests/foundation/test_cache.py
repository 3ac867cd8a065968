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


async def test_concurrent_misses_share_one_load() -> None:
    """An entry expiring under load is read once, not once per waiting request."""
    c: Cache[str, int] = Cache(("units",), ttl=60)
    calls = 0
    gate = asyncio.Event()

    async def load() -> int:
        nonlocal calls
        calls += 1
        await gate.wait()
        return calls

    waiting = [asyncio.create_task(c.fetch("k", load)) for _ in range(24)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiting) == [1] * 24
    assert calls == 1
    assert not c._loading


async def test_a_write_during_a_load_makes_later_requests_read_again() -> None:
    c: Cache[str, str] = Cache(("units",), ttl=60)
    gate = asyncio.Event()
    reads: list[str] = []

    async def old() -> str:
        reads.append("old")
        await gate.wait()
        return "old"

    async def new() -> str:
        reads.append("new")
        return "new"

    first = asyncio.create_task(c.fetch("k", old))
    await asyncio.sleep(0)
    cache.bump("units")  # written after the first load was marked: the next request may not join
    assert await c.fetch("k", new) == "new"
    gate.set()
    assert await first == "old"
    assert reads == ["old", "new"]
    assert c.get("k") != "old"  # the older read is never served as fresh


async def test_a_failed_or_cancelled_load_lets_the_waiters_read_for_themselves() -> None:
    c: Cache[str, str] = Cache(("units",), ttl=60)
    gate = asyncio.Event()

    async def failing() -> str:
        await gate.wait()
        raise RuntimeError("database gone")

    async def good() -> str:
        return "ok"

    first = asyncio.create_task(c.fetch("k", failing))
    await asyncio.sleep(0)
    second = asyncio.create_task(c.fetch("k", good))
    await asyncio.sleep(0)
    gate.set()
    assert await second == "ok"
    try:
        await first
    except RuntimeError as exc:
        assert "database gone" in str(exc)
    else:
        raise AssertionError("the failing load's own caller sees its error")

    c.clear()
    slow = asyncio.Event()

    async def hanging() -> str:
        await slow.wait()
        return "never"

    first = asyncio.create_task(c.fetch("k", hanging))
    await asyncio.sleep(0)
    second = asyncio.create_task(c.fetch("k", good))
    await asyncio.sleep(0)
    first.cancel()  # the request that was loading goes away: its waiter is not cancelled with it
    assert await second == "ok"
    assert first.cancelled()
