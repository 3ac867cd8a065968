"""Nothing accepted is lost across a crash: ``hotline serve`` (SQLite, and PostgreSQL) takes
orders from several clients at once, is killed with SIGKILL mid-load, restarts on the same
database — and every order it acknowledged (201) is there with its history, numbers are unique,
and it serves again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.pg import PgServer, free_port

pytestmark = pytest.mark.slow
PASSWORD = "Hotline-2026"  # the demo password
CLIENTS = 6


class Serve:
    """``hotline serve --demo`` as a real process (SIP off)."""

    def __init__(self, data_dir: Path, database_url: str | None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"serve-{self.port}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "HOTLINE_SIP_ENABLED": "false"}
        if database_url:
            env["HOTLINE_DATABASE_URL"] = database_url
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hotline", "serve", "--demo", "--data-dir", str(data_dir),
             "--http-port", str(self.port)],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip

    async def wait_healthy(self, within: float = 90) -> None:
        end = time.monotonic() + within
        async with httpx.AsyncClient(timeout=5) as c:
            while time.monotonic() < end:
                if self.proc.poll() is not None:
                    raise AssertionError(f"server exited: {self.log.read_text()[-3000:]}")
                try:
                    if (await c.get(f"{self.base}/api/v1/health")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"not healthy within {within}s: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no shutdown handlers run
            self.proc.wait(10)


async def _token(c: httpx.AsyncClient, base: str, username: str) -> dict[str, str]:
    r = await c.post(f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"authorization": f"Bearer {r.json()['access_token']}"}


def _order(k: int, i: int) -> dict[str, Any]:
    if i % 3 == 0:
        return {
            "type": "fault_repair",
            "subject": f"停电 {k}-{i}",
            "description": "客户反映家中停电，邻居家有电",
            "customer": "3201001001",
            "fields": {"fault_kind": "no_power_single", "area": "rural"},
        }
    return {
        "type": "consultation",
        "subject": f"电费咨询 {k}-{i}",
        "description": "客户咨询本月电费",
        "contact_phone": "13912340009",
        "contact_name": "王先生",
    }


@pytest.fixture
def servers() -> Any:
    started: list[Serve] = []
    yield started
    for s in started:
        s.kill()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest) -> Any:
    if request.param == "sqlite":
        yield None  # the server's default: <data_dir>/hotline.db
        return
    server: PgServer = request.getfixturevalue("pg_server")
    name = await server.create_database("crash_")
    yield server.url(name)


async def test_kill_9_mid_load_loses_no_acknowledged_order(
    tmp_path: Path, servers: list[Serve], database_url: str | None
) -> None:
    data = tmp_path / "data"
    srv = Serve(data, database_url)
    servers.append(srv)
    await srv.wait_healthy()
    acknowledged: list[tuple[int, str]] = []  # (id, number) of every 201
    other: dict[str, int] = {}
    stop = asyncio.Event()
    enough = asyncio.Event()

    async def client(k: int, headers: dict[str, str]) -> None:
        async with httpx.AsyncClient(timeout=10) as c:
            i = 0
            while not stop.is_set():
                i += 1
                try:
                    r = await c.post(f"{srv.base}/api/v1/tickets", json=_order(k, i), headers=headers)
                except httpx.HTTPError as exc:  # the server died under this request: fate unknown
                    other[type(exc).__name__] = other.get(type(exc).__name__, 0) + 1
                    if srv.proc.poll() is not None:
                        return
                    continue
                if r.status_code == 201:
                    body = r.json()
                    acknowledged.append((body["id"], body["number"]))
                    if len(acknowledged) >= 60:
                        enough.set()
                else:
                    other[str(r.status_code)] = other.get(str(r.status_code), 0) + 1
                    assert r.status_code < 500 or srv.proc.poll() is not None, r.text

    async with httpx.AsyncClient(timeout=10) as c:
        headers = await _token(c, srv.base, "li.na")
    tasks = [asyncio.create_task(client(k, headers)) for k in range(CLIENTS)]
    # let the load run until a good number of orders was acknowledged, then kill mid-flight
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(enough.wait(), 60)
    srv.kill()
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert len(acknowledged) >= 20, (acknowledged, other)

    srv2 = Serve(data, database_url)
    servers.append(srv2)
    await srv2.wait_healthy()
    async with httpx.AsyncClient(timeout=30) as c:
        headers = await _token(c, srv2.base, "li.na")
        numbers = [n for _, n in acknowledged]
        assert len(set(numbers)) == len(numbers)
        for tid, number in acknowledged:
            r = await c.get(f"{srv2.base}/api/v1/tickets/{tid}", headers=headers)
            assert r.status_code == 200, (tid, r.text)
            body = r.json()
            assert body["number"] == number
            actions = [h["action"] for h in body["history"]]
            assert actions and actions[0] == "accept", actions
            assert body["version"] >= len([a for a in actions if a not in ("linked",)]) >= 1
        # every order in the database has a unique number (orders in flight at the kill either
        # committed whole or not at all)
        seen: dict[str, int] = {}
        after = None
        while True:
            params: dict[str, Any] = {"limit": 200, **({"after": after} if after else {})}
            r = await c.get(f"{srv2.base}/api/v1/tickets", params=params, headers=headers)
            assert r.status_code == 200, r.text
            page = r.json()
            for item in page["items"]:
                assert item["number"] not in seen, item["number"]
                seen[item["number"]] = item["id"]
            after = page["next"]
            if not after:
                break
        assert {tid for tid, _ in acknowledged} <= set(seen.values())
        # and it serves again: a new order gets a fresh id and number
        r = await c.post(f"{srv2.base}/api/v1/tickets", json=_order(99, 1), headers=headers)
        assert r.status_code == 201, r.text
        assert r.json()["id"] > max(tid for tid, _ in acknowledged)
        assert r.json()["number"] not in seen
