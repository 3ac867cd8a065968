"""The real server process: start-up time, graceful SIGTERM, and no acknowledged write lost on kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.pg import free_port

pytestmark = pytest.mark.slow
HOTLINE = [sys.executable, "-m", "hotline"]


def _req(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"server-{self.port}.log"
        self.proc = subprocess.Popen(
            [
                *HOTLINE,
                "serve",
                "--demo",
                "--data-dir",
                str(data_dir),
                "--http-port",
                str(self.port),
                "--sip-port",
                "0",
            ],
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def wait_healthy(self, timeout: float = 30) -> float:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log.read_text()}")
            try:
                if _req(f"{self.base}/api/v1/health")[0] == 200:
                    return time.monotonic() - start
            except OSError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"not healthy within {timeout}s: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def servers() -> Any:
    started: list[Server] = []
    yield started
    for s in started:
        s.stop()


def test_demo_serves_health_quickly_and_stops_gracefully(tmp_path: Path, servers: list[Server]) -> None:
    srv = Server(tmp_path / "data")
    servers.append(srv)
    took = srv.wait_healthy(30)
    assert took < 30
    out = srv.log.read_text()
    assert "Hotline-2026" in out and "wang.fang" in out and f"http://127.0.0.1:{srv.port}/" in out
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(15) == 0
    assert "hotline stopped" in srv.log.read_text()


def test_kill_9_loses_nothing_acknowledged(tmp_path: Path, servers: list[Server]) -> None:
    data = tmp_path / "data"
    srv = Server(data)
    servers.append(srv)
    srv.wait_healthy()
    _, tok = _req(f"{srv.base}/api/v1/auth/token", {"username": "admin", "password": "Hotline-2026"})
    token = tok["access_token"]
    acknowledged = []
    for i in range(40):
        status, body = _req(
            f"{srv.base}/api/v1/customers",
            {"account_no": f"K9-{i:04d}", "name": f"客户 {i}", "unit": "js.nj"},
            token,
        )
        assert status == 201, body
        acknowledged.append(body["id"])
    srv.proc.kill()  # SIGKILL: no shutdown handlers run
    srv.proc.wait(10)
    srv2 = Server(data)
    servers.append(srv2)
    srv2.wait_healthy()
    _, tok = _req(f"{srv2.base}/api/v1/auth/token", {"username": "admin", "password": "Hotline-2026"})
    status, page = _req(f"{srv2.base}/api/v1/customers?limit=500", token=tok["access_token"])
    ids = {c["id"] for c in page["items"]}
    assert set(acknowledged) <= ids
