"""hotline.store.bulk.insert_objects / attach: new ORM objects written with one Core INSERT."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from hotline.store.bulk import (
    NotOneStatement,
    attach,
    flush_inserts,
    insert_objects,
    insert_rows,
    new_object,
    one_statement,
    single_statement,
    update_rows,
)
from hotline.store.db import transaction
from hotline.store.models import AuditEntry, Calendar, Tenant
from hotline.store.types import utcnow


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


def _count_statements(engine: Any) -> tuple[list[str], Any]:
    statements: list[str] = []

    def count(_c: Any, _cur: Any, stmt: str, *_a: Any) -> None:
        statements.append(stmt)

    return statements, count


async def test_one_statement_writes_parents_children_and_ids_together(engine: Any, factory: Any) -> None:
    statements, count = _count_statements(engine)
    pg = engine.dialect.name == "postgresql"
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with transaction(factory) as s, one_statement(s):
            tenant = Tenant(id=990_001, slug="bulk-one", name="One statement")
            await insert_objects(s, [tenant])
            # the child names its parent, written in the same statement (foreign keys are checked
            # at the end of it)
            cals = [Calendar(tenant_id=990_001, name=f"cal {i}") for i in range(3)]
            await insert_objects(s, cals)
            entries = _entries(4)
            await insert_objects(s, entries)
            if pg:  # queued: the ids come when the block ends
                assert all(c.id is None for c in cals) and not any(
                    x.lstrip().upper().startswith(("INSERT", "WITH")) for x in statements
                )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    writes = [x for x in statements if x.lstrip().upper().startswith(("INSERT", "WITH"))]
    if pg:
        assert len(writes) == 1 and writes[0].startswith("WITH"), writes
    ids = [c.id for c in cals]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids) and len(set(ids)) == 3
    assert all(isinstance(e.id, int) for e in entries) and [e.id for e in entries] == sorted(
        e.id for e in entries
    )
    async with factory() as s:
        names = {c.id: c.name for c in await s.scalars(select(Calendar).where(Calendar.tenant_id == 990_001))}
        actions = {
            a.id: a.action
            for a in await s.scalars(select(AuditEntry).where(AuditEntry.id.in_([e.id for e in entries])))
        }
    assert names == {i: f"cal {k}" for k, i in enumerate(ids)}
    assert actions == {e.id: f"test.{k}" for k, e in enumerate(entries)}


async def test_one_statement_flush_and_failure(factory: Any) -> None:
    async with transaction(factory) as s, one_statement(s):
        await insert_objects(s, [Tenant(id=990_002, slug="bulk-flush", name="Flush")])
        await flush_inserts(s)  # a statement after it sees the row
        assert await s.scalar(select(Tenant.name).where(Tenant.id == 990_002)) == "Flush"
        await insert_rows(
            s,
            Calendar.__table__,
            [
                {
                    "tenant_id": 990_002,
                    "name": "c",
                    "timezone": "UTC",
                    "week": {},
                    "holidays": [],
                    "workdays": [],
                    "version": 1,
                    "created_at": utcnow(),
                    "updated_at": utcnow(),
                }
            ],
        )
    # a bad row (its tenant does not exist) fails the whole statement: nothing of it is kept
    with pytest.raises(IntegrityError):
        async with transaction(factory) as s, one_statement(s):
            await insert_objects(s, [Tenant(id=990_003, slug="bulk-bad", name="Bad")])
            await insert_objects(s, [Calendar(tenant_id=990_404, name="orphan")])
    async with factory() as s:
        assert await s.scalar(select(Tenant.id).where(Tenant.id == 990_003)) is None
        assert await s.scalar(select(Calendar.name).where(Calendar.tenant_id == 990_002)) == "c"


async def test_single_statement_writes_one_statement_and_no_transaction(
    engine: Any, factory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: the block's INSERTs go as one statement, with no BEGIN or COMMIT around it."""
    if engine.dialect.name != "postgresql":
        with pytest.raises(NotOneStatement, match="PostgreSQL only"):
            async with single_statement(factory):
                pass
        return
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection as Adapted

    began: list[Any] = []
    start = Adapted._start_transaction

    async def spy(self: Any) -> None:
        if self.isolation_level != "autocommit":  # (else the adapter sends no BEGIN)
            began.append(self)
        await start(self)

    monkeypatch.setattr(Adapted, "_start_transaction", spy)
    statements, count = _count_statements(engine)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with single_statement(factory) as s:
            await flush_inserts(s)  # with nothing queued, nothing to send: not refused
            await insert_objects(s, [Tenant(id=990_011, slug="bulk-single", name="Single")])
            entries = _entries(3)
            await insert_objects(s, entries)
            await insert_objects(s, [Calendar(tenant_id=990_011, name="c")], ids=False)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == 1 and statements[0].startswith("WITH"), statements
    assert began == []  # no BEGIN (so no COMMIT)
    assert all(isinstance(e.id, int) for e in entries)
    async with factory() as s:
        assert await s.scalar(select(Calendar.name).where(Calendar.tenant_id == 990_011)) == "c"
        assert await s.scalar(select(AuditEntry.action).where(AuditEntry.id == entries[2].id)) == "test.2"


async def test_single_statement_refuses_any_other_statement_before_it_is_sent(
    engine: Any, factory: Any
) -> None:
    """A read, an early flush or an INSERT whose ids are wanted at once, in the block, raises
    before anything is sent; nothing queued is written, and the pooled connections work as usual
    afterwards. (SQLite: refused at once.)"""
    if engine.dialect.name != "postgresql":
        with pytest.raises(NotOneStatement):
            async with single_statement(factory) as s:
                await insert_objects(s, [Tenant(id=990_020, slug="bulk-refused", name="R")])
        async with factory() as s:
            assert await s.scalar(select(Tenant.id).where(Tenant.id == 990_020)) is None
        return

    async def read(s: Any) -> None:
        await s.execute(select(Tenant.id).limit(1))

    async def early_flush(s: Any) -> None:
        await flush_inserts(s)

    async def ids_now(s: Any) -> None:
        await insert_rows(s, AuditEntry.__table__, [{"action": "x", "detail": {}, "outcome": "ok", "actor": "",
                                                     "ip": "", "resource_type": "", "resource_id": "",
                                                     "at": utcnow()}], returning="id")  # fmt: skip

    for n, other in enumerate((read, early_flush, ids_now)):
        statements, count = _count_statements(engine)
        event.listen(engine.sync_engine, "before_cursor_execute", count)
        try:
            with pytest.raises(NotOneStatement):
                async with single_statement(factory) as s:
                    await insert_objects(s, [Tenant(id=990_020 + n, slug=f"bulk-refused-{n}", name="R")])
                    await other(s)
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert not any(x.lstrip().upper().startswith(("INSERT", "WITH", "UPDATE")) for x in statements)
        async with factory() as s:
            assert await s.scalar(select(Tenant.id).where(Tenant.id == 990_020 + n)) is None
    # every pooled connection answers reads and writes as usual after the refusals
    for _ in range(3):
        async with transaction(factory) as s:
            assert await s.scalar(select(Tenant.id).where(Tenant.id == 990_011)) is None


async def test_update_rows_sets_adds_and_ors_by_key_in_one_statement(engine: Any, factory: Any) -> None:
    pg = engine.dialect.name == "postgresql"
    async with transaction(factory) as s:
        tenants = [Tenant(id=990_100 + i, slug=f"upd-{i}", name=f"T{i}", active=i % 2 == 0) for i in range(4)]
        await insert_objects(s, tenants)
        cals = [Calendar(id=990_200 + i, tenant_id=990_100, name=f"cal {i}", version=3) for i in range(3)]
        await insert_objects(s, cals)
    when = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    statements, count = _count_statements(engine)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with transaction(factory) as s:
            # tenant 990_103 is not named: it keeps what it had
            await update_rows(
                s,
                Tenant.__table__,
                [
                    {"id": 990_100, "name": "renamed 0", "active": False, "created_at": when},
                    {"id": 990_101, "name": "renamed 1", "active": True, "created_at": when},
                    {"id": 990_102, "name": "renamed 2", "active": False, "created_at": when},
                ],
                either=("active",),
            )
            await update_rows(
                s,
                Calendar.__table__,
                [
                    {"id": 990_200, "version": 1, "week": {"mon": ["09:00-17:00"]}},
                    {"id": 990_202, "version": 5, "week": {}},
                ],
                add=("version",),
            )
            await update_rows(s, Calendar.__table__, [])
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    updates = [x for x in statements if x.lstrip().upper().startswith("UPDATE")]
    if pg:  # one statement per table, whatever the number of rows
        assert len(updates) == 2 and all("unnest" in u for u in updates), updates
    async with factory() as s:
        got = {t.id: t for t in await s.scalars(select(Tenant).where(Tenant.id >= 990_100))}
        cal = {c.id: c for c in await s.scalars(select(Calendar).where(Calendar.tenant_id == 990_100))}
    # set; or-ed with what was there (0 was active, 1 was not); untouched
    assert [got[990_100 + i].name for i in range(4)] == ["renamed 0", "renamed 1", "renamed 2", "T3"]
    assert [got[990_100 + i].active for i in range(4)] == [True, True, True, False]
    assert got[990_101].created_at == when and got[990_103].created_at != when
    # added to what was there; JSON converted as an INSERT would
    assert [cal[990_200 + i].version for i in range(3)] == [4, 3, 8]
    assert cal[990_200].week == {"mon": ["09:00-17:00"]} and cal[990_202].week == {}
    assert cal[990_201].week == {} and cal[990_201].name == "cal 1"
