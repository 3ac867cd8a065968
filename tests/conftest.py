"""Shared fixtures: databases (SQLite and a real PostgreSQL server), the app, an HTTP client."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hotline.config import DatabaseSettings, Settings
from hotline.store import migrate
from hotline.store.db import create_engine, session_factory
from hotline.web.app import create_app
from tests import pg

_PG_PROBLEM: list[str] = []


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pg.PgServer]:
    try:
        server = pg.start()
    except pg.PostgresUnavailable as exc:
        _PG_PROBLEM.append(str(exc))
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but unavailable: {exc}")
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield server
    server.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _PG_PROBLEM:
        terminalreporter.write_sep("!", "POSTGRESQL TESTS SKIPPED", red=True, bold=True)
        terminalreporter.write_line(f"  {_PG_PROBLEM[0]}", red=True)
        terminalreporter.write_line("  Run `make test` as root on Debian to install it.", red=True)


async def _drop_pg_db(server: pg.PgServer, name: str) -> None:
    admin = create_async_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each backend (parametrised: the test runs on both)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    server: pg.PgServer = request.getfixturevalue("pg_server")
    name = await server.create_database()
    yield server.url(name)
    await _drop_pg_db(server, name)


@pytest.fixture
async def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated database on each backend."""
    eng = create_engine(db_url)
    await migrate.upgrade(eng)
    yield eng
    await eng.dispose()


@pytest.fixture
def factory(engine: AsyncEngine) -> Any:
    return session_factory(engine)


def make_settings(tmp_path: Path, url: str, *, sip: bool = False, **security: Any) -> Settings:
    """App settings for tests: SIP off unless asked for, and then on free loopback ports."""
    s = Settings(data_dir=tmp_path / "data", database=DatabaseSettings(url=url))
    s.sip.enabled = sip
    s.sip.port = 0
    for k, v in security.items():
        setattr(s.security, k, v)
    return s


@pytest.fixture(scope="session")
def demo_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite database with the demo tenant, made once (argon2 hashing is slow on purpose)."""
    import asyncio

    from hotline.seed import seed_demo
    from hotline.store.db import transaction

    path = tmp_path_factory.mktemp("template") / "demo.db"

    async def build() -> None:
        eng = create_engine(f"sqlite+aiosqlite:///{path}")
        await migrate.upgrade(eng)
        async with transaction(session_factory(eng)) as s:
            await seed_demo(s)
        await eng.dispose()

    asyncio.run(build())
    return path


@pytest.fixture
async def app_client(tmp_path: Path, demo_db_template: Path) -> AsyncIterator[AsyncClient]:
    """The whole app on SQLite, with the demo tenant, behind an in-process HTTP client."""
    import shutil

    db = tmp_path / "demo.db"
    shutil.copyfile(demo_db_template, db)
    async for c in _client(make_settings(tmp_path, f"sqlite+aiosqlite:///{db}"), seed=False):
        yield c


@pytest.fixture
async def telephony_client(tmp_path: Path, demo_db_template: Path) -> AsyncIterator[AsyncClient]:
    """The whole app with the demo tenant and telephony (SIP and media) on free loopback ports.

    ``client.app.state.hotline.telephony`` is the running :class:`hotline.cti.service.Telephony`.
    """
    import shutil

    db = tmp_path / "demo.db"
    shutil.copyfile(demo_db_template, db)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{db}", sip=True)
    settings.sip.keepalive_interval = 0
    async for c in _client(settings, seed=False):
        yield c


async def _client(settings: Settings, *, seed: bool) -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    async with LifespanManager(app, shutdown_timeout=20):
        if seed:
            from hotline.seed import seed_demo
            from hotline.store.db import transaction

            async with transaction(app.state.hotline.db) as s:
                await seed_demo(s)
            await app.state.hotline.center.acd.load()  # the ACD learns the new tenant's queues
        transport = ASGITransport(app=app, client=("203.0.113.7", 40000))
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


@pytest.fixture
async def client_on(tmp_path: Path, db_url: str) -> AsyncIterator[AsyncClient]:
    """The whole app with the demo tenant, on each database backend."""
    async for c in _client(make_settings(tmp_path, db_url), seed=True):
        yield c


async def token_for(
    client: AsyncClient, username: str, password: str = "Hotline-2026", tenant: str | None = None
) -> dict[str, str]:
    body: dict[str, Any] = {"username": username, "password": password}
    if tenant:
        body["tenant"] = tenant
    r = await client.post("/api/v1/auth/token", json=body)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
