"""Fixtures for the live event stream: the real app under uvicorn on a free loopback port (SIP
off), clients signing in over HTTP, WebSocket connections with the ``websockets`` library."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect

from hotline.web.app import create_app
from tests.conftest import make_settings

PASSWORD = "Hotline-2026"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


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


async def serve(app: Any) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.ensure_future(server.serve())
    for _ in range(400):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    if task.done():
        task.result()
    assert server.started, "uvicorn did not start"
    return server, task, port


@pytest.fixture
async def live(tmp_path: Path, demo_db_template: Path) -> AsyncIterator[Live]:
    db = tmp_path / "demo.db"
    shutil.copyfile(demo_db_template, db)
    app = create_app(make_settings(tmp_path, f"sqlite+aiosqlite:///{db}"))
    server, task, port = await serve(app)
    try:
        yield Live(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


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
