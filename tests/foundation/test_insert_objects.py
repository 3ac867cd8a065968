"""hotline.store.bulk.insert_objects / attach: new ORM objects written with one Core INSERT."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from hotline.store.bulk import attach, insert_objects, new_object
from hotline.store.db import transaction
from hotline.store.models import AuditEntry


def _entries(n: int) -> list[AuditEntry]:
    return [AuditEntry(action=f"test.{i}", detail={"i": i}) for i in range(n)]


async def test_ids_in_order_defaults_filled_one_statement(engine: Any, factory: Any) -> None:
    statements: list[str] = []

    def count(_c: Any, _cur: Any, stmt: str, *_a: Any) -> None:
        statements.append(stmt)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with transaction(factory) as s:
            objs = _entries(7)
            await insert_objects(s, objs)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    inserts = [x for x in statements if x.lstrip().upper().startswith("INSERT")]
    # one multi-row statement on PostgreSQL; SQLite returns ids in order only row by row
    assert len(inserts) == (1 if engine.dialect.name == "postgresql" else 7), statements
    ids = [o.id for o in objs]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids) and len(set(ids)) == 7
    # the model's defaults are on the objects, as after an ORM flush
    assert all(o.outcome == "ok" and o.actor == "" and o.at is not None for o in objs)
    async with factory() as s:
        stored = {a.id: a for a in await s.scalars(select(AuditEntry).where(AuditEntry.id.in_(ids)))}
    assert [stored[i].action for i in ids] == [f"test.{k}" for k in range(7)]
    assert [stored[i].detail for i in ids] == [{"i": k} for k in range(7)]
    assert all(stored[i].outcome == "ok" for i in ids)


async def test_without_ids_and_with_given_ids(factory: Any) -> None:
    async with transaction(factory) as s:
        anon = _entries(3)
        await insert_objects(s, anon, ids=False)
        assert all(o.id is None for o in anon)
        given = _entries(2)
        given[0].id, given[1].id = 900_001, 900_002
        await insert_objects(s, given)
    async with factory() as s:
        actions = list(await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
        got = await s.get(AuditEntry, 900_002)
    assert actions.count("test.0") == 2 and actions.count("test.2") == 1
    assert got is not None and got.action == "test.1"


async def test_attached_objects_are_persistent_and_not_written_twice(engine: Any, factory: Any) -> None:
    statements: list[str] = []

    def count(_c: Any, _cur: Any, stmt: str, *_a: Any) -> None:
        statements.append(stmt)

    async with transaction(factory) as s:
        objs = _entries(2)
        await insert_objects(s, objs)
        attach(s, objs)
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            # the identity map has them: no SELECT; the flush writes nothing
            assert await s.get(AuditEntry, objs[0].id) is objs[0]
            await s.flush()
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert statements == []
    async with factory() as s:
        assert await s.scalar(select(AuditEntry.action).where(AuditEntry.id == objs[1].id)) == "test.1"


async def test_some_with_ids_some_without_is_refused(factory: Any) -> None:
    async with transaction(factory) as s:
        objs = _entries(2)
        objs[0].id = 900_010
        with pytest.raises(ValueError, match="every object has its primary key or none"):
            await insert_objects(s, objs)
        await insert_objects(s, [])  # nothing to do


async def test_attached_objects_have_every_column_loaded(factory: Any) -> None:
    """A column never set (no default) reads as None after attach, without a refresh."""
    async with transaction(factory) as s:
        objs = _entries(1)
        await insert_objects(s, objs)
        attach(s, objs)
    # the session is closed now: a column left unloaded would raise DetachedInstanceError
    assert objs[0].tenant_id is None and objs[0].actor_id is None


async def test_new_object_reads_like_a_constructed_one_and_flushes_with_defaults(factory: Any) -> None:
    """new_object fills the instance without attribute events; the columns not given read None,
    and the object can still be added to a session and flushed (the model's defaults apply)."""
    a = new_object(AuditEntry, {"action": "test.fast", "detail": {"k": 1}})
    assert (a.action, a.detail, a.outcome, a.id, a.tenant_id) == ("test.fast", {"k": 1}, None, None, None)
    b = new_object(AuditEntry, {"action": "test.orm"})
    async with transaction(factory) as s:
        await insert_objects(s, [a])
        s.add(b)
        await s.flush()
    assert a.outcome == "ok" and isinstance(a.id, int)
    async with factory() as s:
        stored = await s.get(AuditEntry, b.id)
        assert stored is not None and stored.outcome == "ok" and stored.detail == {} and stored.at is not None
