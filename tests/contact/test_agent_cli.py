"""``hotline agent …`` against a real server process (the agent's session lives in the server)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.foundation.test_process import HOTLINE, Server


def agent(srv: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*HOTLINE, "agent", *args, "--server", srv.base, "-u", "li.na", "-p", "Hotline-2026"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_agent_session_from_the_command_line(tmp_path: Path) -> None:
    srv = Server(tmp_path / "data")
    try:
        srv.wait_healthy(60)
        r = agent(srv, "login", "-e", "1001", "--ready")
        assert r.returncode == 0, r.stderr
        assert "li.na: available at 1001" in r.stdout
        r = agent(srv, "not-ready", "-r", "nap")
        assert r.returncode == 1 and "unknown not-ready code 'nap'" in r.stderr and "(reason)" in r.stderr
        r = agent(srv, "not-ready", "-r", "lunch")
        assert r.returncode == 0 and "not_ready (lunch)" in r.stdout
        r = agent(srv, "wrap-up", "-d", "resolved")
        assert r.returncode == 1 and "no call to wrap up" in r.stderr
        r = agent(srv, "list")
        assert r.returncode == 0 and "li.na" in r.stdout and "zhang.wei" in r.stdout
        r = agent(srv, "logout")
        assert r.returncode == 0 and "logged_out" in r.stdout
        # flows go to the running server as new versions
        from hotline.seed import DEMO_FLOWS

        good = tmp_path / "line.yaml"
        good.write_text(
            (DEMO_FLOWS / "95598-en.yaml").read_text(encoding="utf-8").replace("Welcome", "Hello")
        )
        bad = tmp_path / "bad.yaml"
        bad.write_text(good.read_text(encoding="utf-8").replace("queue: english", "queue: nowhere"))
        push = [*HOTLINE, "ivr", "push", "--server", srv.base, "-u", "admin", "-p", "Hotline-2026"]
        r = subprocess.run([*push, str(good)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and "95598-en version 2 active" in r.stdout, (r.stdout, r.stderr)
        r = subprocess.run([*push, str(bad)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 1 and "refused" in r.stderr and "unknown queue 'nowhere'" in r.stderr
    finally:
        srv.stop()
    r = subprocess.run(
        [*HOTLINE, "agent", "ready", "--server", "http://127.0.0.1:9", "-u", "li.na", "-p", "x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 2 and "cannot reach" in r.stderr
