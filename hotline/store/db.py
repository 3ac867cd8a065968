"""Database engine and sessions (SQLAlchemy 2 async; SQLite by default, PostgreSQL via asyncpg)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL: readers do not block the writer. synchronous=FULL: a transaction acknowledged to a
    # client survives a power loss, not only a killed process.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """Create the async engine; for SQLite, create the file's directory and set the pragmas."""
    u = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 10}
    else:
        # enough kept connections for a busy server's concurrent requests: an overflow
        # connection is opened and closed per use, which costs far more than the query
        kwargs.update(pool_size=20, max_overflow=40)
        if u.get_backend_name() == "postgresql" and u.get_driver_name() == "asyncpg":
            # batched INSERTs (group commit: one statement per batch size and table) need more
            # than the default 100 prepared statements per connection, or they are prepared anew
            kwargs["connect_args"] = {"prepared_statement_cache_size": 1000}
    engine = create_async_engine(url, **kwargs)
    if u.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        _ping_when_idle(engine)
    return engine


#: a pooled connection unused for longer than this is pinged before it is handed out
IDLE_PING_SECONDS = 5.0


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Pessimistic disconnect handling without a round trip per checkout: a connection that sat
    in the pool for more than :data:`IDLE_PING_SECONDS` is pinged first, and replaced when the ping
    fails (a database restart, a dropped link); one in steady use is handed out at once."""
    sync = engine.sync_engine

    @event.listens_for(sync, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(sync, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since <= IDLE_PING_SECONDS:
            return
        try:
            alive = sync.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError(f"pooled connection is gone: {exc}") from exc
        if not alive:
            raise DisconnectionError("pooled connection did not answer")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commits on success, rolls back on any exception."""
    async with factory() as session, session.begin():
        yield session


_AUTOCOMMIT: dict[int, tuple[AsyncEngine, AsyncEngine]] = {}


def reads(factory: async_sessionmaker[AsyncSession]) -> AsyncSession:
    """A session for reads only, outside any transaction: each statement stands alone, so a
    request that only reads spends no round trips on BEGIN and ROLLBACK (use ``async with``).
    Writes through it are committed statement by statement: use :func:`transaction` for those."""
    engine = factory.kw["bind"]
    hit = _AUTOCOMMIT.get(id(engine))
    if hit is None or hit[0] is not engine:
        if len(_AUTOCOMMIT) > 100:
            _AUTOCOMMIT.clear()
        hit = _AUTOCOMMIT[id(engine)] = (engine, engine.execution_options(isolation_level="AUTOCOMMIT"))
    return factory(bind=hit[1])
