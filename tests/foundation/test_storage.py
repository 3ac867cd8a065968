"""Storage on both backends: migrations from empty, models match migrations, constraints, audit."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import audit
from hotline.auth.policy import Role, Scope
from hotline.auth.users import GrantSpec, add_user, get_user, principal_for
from hotline.errors import Conflict, Invalid, NotFound
from hotline.org import service as org
from hotline.store import migrate
from hotline.store.db import create_engine, session_factory, transaction
from hotline.store.models import AuditEntry, Base, Calendar, Unit

PW = "Str0ng-pass!"


async def test_migrations_up_from_empty_down_and_up_again(db_url: str) -> None:
    eng = create_engine(db_url)
    try:
        assert await migrate.current_revision(eng) is None
        await migrate.upgrade(eng)
        assert await migrate.current_revision(eng) == migrate.head_revision()
        await migrate.upgrade(eng)  # idempotent
        await migrate.downgrade(eng, "base")
        assert await migrate.current_revision(eng) is None
        await migrate.upgrade(eng)
        assert await migrate.current_revision(eng) == migrate.head_revision()
    finally:
        await eng.dispose()


async def test_models_match_migrations(engine: AsyncEngine) -> None:
    def diff(conn: Any) -> list[Any]:
        def on_this_dialect(obj: Any, name: Any, kind: str, reflected: bool, other: Any) -> bool:
            # objects declared with .ddl_if(dialect=…) (PostgreSQL-only indexes) exist elsewhere
            cond = getattr(obj, "_ddl_if", None)
            return cond is None or cond.dialect in (None, conn.dialect.name)

        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": on_this_dialect})
        return compare_metadata(ctx, Base.metadata)

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_sqlite_runs_in_wal_mode(sqlite_url: str) -> None:
    eng = create_engine(sqlite_url)
    try:
        async with eng.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == 2  # FULL
    finally:
        await eng.dispose()


async def _tree(s: Any) -> tuple[Any, dict[str, Unit]]:
    t = await org.add_tenant(s, "acme", "Acme 95598")
    root = await org.add_unit(s, t.id, "hq", "总部", kind="center")
    prov = await org.add_unit(s, t.id, "p1", "省公司", parent=root, kind="province")
    city = await org.add_unit(s, t.id, "p1.c1", "市公司", parent=prov, kind="city")
    return t, {"hq": root, "p1": prov, "p1.c1": city}


async def test_unit_tree_paths_and_constraints(factory: Any) -> None:
    async with transaction(factory) as s:
        t, units = await _tree(s)
    assert units["p1.c1"].path == f"/{units['hq'].id}/{units['p1'].id}/{units['p1.c1'].id}/"
    assert units["p1.c1"].depth == 2
    async with transaction(factory) as s:
        with pytest.raises(Conflict, match="already exists"):
            await org.add_unit(s, t.id, "p1", "again", parent=units["hq"])
    async with transaction(factory) as s:
        with pytest.raises(Invalid, match="root unit"):
            await org.add_unit(s, t.id, "other-root", "second root")
    async with transaction(factory) as s:
        with pytest.raises(Invalid, match="kind"):
            await org.add_unit(s, t.id, "x", "x", parent=units["hq"], kind="planet")
    async with transaction(factory) as s:
        with pytest.raises(NotFound):
            await org.get_unit(s, t.id, "nope")


async def test_database_enforces_unique_codes_too(factory: Any) -> None:
    async with transaction(factory) as s:
        t, _units = await _tree(s)
    with pytest.raises(IntegrityError):
        async with transaction(factory) as s:
            s.add(Unit(tenant_id=t.id, code="p1", name="dup", kind="unit", path="/x/", depth=1))


async def test_users_roles_and_principal(factory: Any) -> None:
    async with transaction(factory) as s:
        t, units = await _tree(s)
        u = await add_user(
            s,
            t.id,
            "zhang.wei",
            unit=units["p1.c1"],
            password=PW,
            grants=[GrantSpec(Role.AGENT), GrantSpec(Role.SUPERVISOR, Scope.UNIT, "p1")],
            display_name="张伟",
        )
    async with factory() as s:
        user = await get_user(s, t.id, "zhang.wei")
        p = await principal_for(s, user)
    assert user.display_name == "张伟"
    assert user.password_hash.startswith("$argon2id$")
    assert {(g.role, g.scope, g.unit_path) for g in p.grants} == {
        (Role.AGENT, Scope.SUBTREE, units["p1.c1"].path),
        (Role.SUPERVISOR, Scope.UNIT, units["p1"].path),
    }
    async with transaction(factory) as s:
        with pytest.raises(Conflict):
            await add_user(
                s, t.id, "zhang.wei", unit=units["hq"], password=PW, grants=[GrantSpec(Role.AGENT)]
            )
    async with transaction(factory) as s:
        with pytest.raises(Invalid, match="at least"):
            await add_user(
                s, t.id, "weak", unit=units["hq"], password="short", grants=[GrantSpec(Role.AGENT)]
            )
    async with transaction(factory) as s:
        with pytest.raises(Invalid, match="twice"):
            await add_user(
                s,
                t.id,
                "dup",
                unit=units["hq"],
                password=PW,
                grants=[GrantSpec(Role.AGENT), GrantSpec(Role.AGENT)],
            )
    assert u.id == user.id


async def test_failed_command_writes_nothing(factory: Any) -> None:
    """One transaction per command: an error half-way leaves no trace."""
    async with transaction(factory) as s:
        t, units = await _tree(s)
    with pytest.raises(NotFound):
        async with transaction(factory) as s:
            await org.add_unit(s, t.id, "p1.c2", "half", parent=units["p1"])
            await add_user(
                s,
                t.id,
                "ghost",
                unit=units["p1"],
                password=PW,
                grants=[GrantSpec(Role.AGENT, unit="missing-unit")],
            )
    async with factory() as s:
        assert await s.scalar(select(Unit).where(Unit.code == "p1.c2")) is None


async def test_audit_log_is_append_only(factory: Any, engine: AsyncEngine) -> None:
    async with transaction(factory) as s:
        audit.record(s, "customer.read", actor="x", resource_type="customer", resource_id=1)
    for stmt in ("UPDATE audit_log SET actor = 'forged'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"):
            async with engine.begin() as conn:
                await conn.execute(text(stmt))
    async with factory() as s:
        rows = (await s.scalars(select(AuditEntry))).all()
    assert [(r.action, r.actor) for r in rows] == [("customer.read", "x")]


async def test_calendar_optimistic_locking_and_inheritance(factory: Any) -> None:
    week = {"mon": [["08:30", "17:30"]]}
    async with transaction(factory) as s:
        t, units = await _tree(s)
        cal = await org.add_calendar(s, t.id, "office", week=week, holidays=["2026-10-01"])
        units["p1"].calendar_id = cal.id
    async with factory() as s:
        city = await org.get_unit(s, t.id, "p1.c1")
        eff, _model = await org.effective_calendar(s, city)
        assert eff is not None and eff.name == "office"
        root = await org.get_unit(s, t.id, "hq")
        none, always = await org.effective_calendar(s, root)
        assert none is None and always.week[6] == ((0, 1440),)
    async with transaction(factory) as s:
        c = await org.get_calendar(s, t.id, "office")
        await org.update_calendar(
            s, c, timezone="Asia/Shanghai", week=week, holidays=[], workdays=[], expected_version=1
        )
    async with transaction(factory) as s:
        c = await s.get_one(Calendar, cal.id)
        assert c.version == 2
        with pytest.raises(Conflict, match="changed by someone else"):
            await org.update_calendar(
                s, c, timezone="Asia/Shanghai", week=week, holidays=[], workdays=[], expected_version=1
            )
    async with transaction(factory) as s:
        with pytest.raises(Invalid) as info:
            await org.add_calendar(s, t.id, "bad", week={"mon": [["09:00", "08:00"]]})
    assert info.value.field == "week.mon[0]"


async def test_session_factory_isolated_engines(db_url: str) -> None:
    """Two engines on one database see each other's committed writes (no cached state)."""
    a, b = create_engine(db_url), create_engine(db_url)
    try:
        await migrate.upgrade(a)
        async with transaction(session_factory(a)) as s:
            await org.add_tenant(s, "t1", "Tenant one")
        async with session_factory(b)() as s:
            assert (await org.get_tenant(s, "t1")).name == "Tenant one"
    finally:
        await a.dispose()
        await b.dispose()


async def test_a_pooled_connection_gone_while_idle_is_replaced(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a connection that sat idle is pinged before use and replaced when the server
    dropped it (a restart, a dropped link); one in steady use is not pinged."""
    if db_url.startswith("sqlite"):
        pytest.skip("PostgreSQL pool")
    from hotline.store import db as dbmod

    eng = create_engine(db_url)
    pings: list[int] = []
    real = eng.sync_engine.dialect.do_ping
    monkeypatch.setattr(eng.sync_engine.dialect, "do_ping", lambda c: pings.append(1) or real(c))
    try:
        async with eng.connect() as conn:
            pid = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
        async with eng.connect() as conn:  # just used: handed out without a ping
            assert (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar() == pid
        assert pings == []
        # the server drops it while it sits in the pool
        killer = create_engine(db_url)
        async with killer.connect() as k:
            await k.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
        await killer.dispose()
        monkeypatch.setattr(dbmod, "IDLE_PING_SECONDS", 0.0)
        async with eng.connect() as conn:  # idle now: pinged, found dead, replaced
            other = (await conn.exec_driver_sql("SELECT pg_backend_pid()")).scalar()
        assert other != pid and pings
    finally:
        await eng.dispose()
