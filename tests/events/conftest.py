"""Fixtures for the live event stream: the real app under uvicorn on a free loopback port (SIP
off), clients signing in over HTTP, WebSocket connections with the ``websockets`` library."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from hotline.web.app import create_app
from tests.conftest import make_settings
from tests.liveserver import running

PASSWORD = "Hotline-2026"


@dataclass
class Live:
    url: str
    app: Any

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/v1/events"

    @property
    def center(self) -> Any:
        return self.app.state.hotline.center

    @property
    def db(self) -> Any:
        return self.app.state.hotline.db

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=20)

    async def token(self, username: str, password: str = PASSWORD) -> str:
        async with self.http() as c:
            r = await c.post("/api/v1/auth/token", json={"username": username, "password": password})
            assert r.status_code == 200, r.text
            token: str = r.json()["access_token"]
            return token

    async def headers(self, username: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {await self.token(username)}"}


@pytest.fixture
async def live(tmp_path: Path, demo_db_template: Path) -> AsyncIterator[Live]:
    db = tmp_path / "demo.db"
    shutil.copyfile(demo_db_template, db)
    app = create_app(make_settings(tmp_path, f"sqlite+aiosqlite:///{db}"))
    async with running(app) as url:
        yield Live(url, app)


async def recv(ws: ClientConnection, wait: float = 5.0) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), wait))
    return frame


async def recv_until(
    ws: ClientConnection,
    pred: Any,
    wait: float = 5.0,
    *,
    skip: tuple[str, ...] = ("keepalive",),
) -> dict[str, Any]:
    """The first frame satisfying ``pred`` (others are dropped)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + wait
    while True:
        left = end - loop.time()
        if left <= 0:
            raise TimeoutError("no matching frame")
        frame = await recv(ws, left)
        if frame.get("type") in skip:
            continue
        if pred(frame):
            return frame


async def open_ws(live: Live, *, query: str = "", **kw: Any) -> ClientConnection:
    url = live.ws_url + (f"?{query}" if query else "")
    return await connect(url, open_timeout=10, **kw)
