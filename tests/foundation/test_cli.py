"""The operator CLI: commands, clear errors and exit codes, one transaction per command."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from hotline.cli import app

runner = CliRunner()


@pytest.fixture
def dd(tmp_path: Path) -> list[str]:
    return ["--data-dir", str(tmp_path / "data")]


def ok(args: list[str], stdin: str | None = None) -> str:
    r = runner.invoke(app, args, input=stdin)
    assert r.exit_code == 0, (args, r.output)
    return r.output


def test_operator_workflow(dd: list[str]) -> None:
    from hotline.store.migrate import head_revision

    assert f"revision {head_revision()}" in ok(["db", "upgrade", *dd])
    ok(["tenant", "add", "js95598", "--name", "江苏 95598", *dd])
    ok(["unit", "add", "js", "--name", "江苏省电力", "--kind", "province", *dd])
    ok(["unit", "add", "js.nj", "--name", "南京", "--kind", "city", "--parent", "js", *dd])
    out = ok(
        [
            "user",
            "add",
            "wang",
            "--role",
            "supervisor",
            "--role",
            "agent:own",
            "--unit",
            "js.nj",
            "--display-name",
            "王芳",
            "--password-stdin",
            *dd,
        ],
        stdin="Str0ng-pass!\n",
    )
    assert "roles supervisor, agent" in out
    listing = ok(["user", "list", *dd])
    assert "wang" in listing and "supervisor:subtree@js.nj" in listing and "agent:own@js.nj" in listing
    assert "js.nj" in ok(["unit", "list", *dd])
    assert "js95598" in ok(["tenant", "list", *dd])
    ok(["user", "passwd", "wang", *dd], stdin="An0ther-pass!\n")


def test_seed_demo_is_idempotent(dd: list[str]) -> None:
    assert "created" in ok(["seed", "demo", *dd])
    out = ok(["seed", "demo", *dd])
    assert "already present" in out and "wang.fang" in out


@pytest.mark.parametrize(
    ("args", "stdin", "code", "message"),
    [
        (["tenant", "add", "demo", "--name", "again"], None, 1, "tenant 'demo' already exists"),
        (["unit", "add", "x", "--name", "X", "--parent", "nowhere"], None, 1, "no unit 'nowhere'"),
        (
            ["unit", "add", "x", "--name", "X", "--parent", "js", "--kind", "planet"],
            None,
            1,
            "unknown unit kind",
        ),
        (
            ["user", "add", "bob", "--role", "boss", "--unit", "js", "--password-stdin"],
            "Str0ng-pass!\n",
            2,
            "unknown role 'boss'",
        ),
        (
            ["user", "add", "bob", "--role", "agent:galaxy", "--unit", "js", "--password-stdin"],
            "Str0ng-pass!\n",
            2,
            "unknown scope",
        ),
        (
            ["user", "add", "bob", "--role", "agent", "--unit", "js", "--password-stdin"],
            "weak\n",
            1,
            "at least 10 characters",
        ),
        (
            ["user", "add", "bob", "--role", "agent", "--unit", "nowhere", "--password-stdin"],
            "Str0ng-pass!\n",
            1,
            "no unit 'nowhere'",
        ),
        (["user", "add", "bob", "--role", "agent", "--unit", "js"], None, 2, "--password-stdin"),
        (["user", "add", "bob", "--role", "agent", "--unit", "js", "--password-stdin"], "", 2, "no password"),
        (
            ["user", "add", "li.na", "--role", "agent", "--unit", "js", "--password-stdin"],
            "Str0ng-pass!\n",
            1,
            "already exists",
        ),
        (["unit", "list", "--tenant", "nope"], None, 1, "no tenant 'nope'"),
    ],
)
def test_errors_are_clear(dd: list[str], args: list[str], stdin: str | None, code: int, message: str) -> None:
    ok(["seed", "demo", *dd])
    r = runner.invoke(app, [*args, *dd], input=stdin)
    assert r.exit_code == code, r.output
    assert message in " ".join(r.output.split()), r.output
    assert "Traceback" not in r.output
    assert "bob" not in ok(["user", "list", *dd])


def test_ambiguous_tenant(dd: list[str]) -> None:
    ok(["seed", "demo", *dd])
    ok(["tenant", "add", "second", "--name", "Second", *dd])
    r = runner.invoke(app, ["unit", "list", *dd])
    assert r.exit_code == 1 and "several tenants" in r.output
    ok(["unit", "list", "--tenant", "second", *dd])


def test_bad_config_file_stops_with_file_key_reason(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text("[http]\nport = 'eighty'\n")
    for cmd in (["serve"], ["db", "upgrade"], ["user", "list"]):
        r = runner.invoke(app, [*cmd, "--config", str(cfg)])
        assert r.exit_code == 2, r.output
        assert f"{cfg}: http.port:" in " ".join(r.output.split())


def test_config_file_points_commands_at_the_data(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text(f'data_dir = "{tmp_path / "elsewhere"}"\n')
    ok(["seed", "demo", "--config", str(cfg)])
    assert (tmp_path / "elsewhere" / "hotline.db").exists()
    assert "wang.fang" in ok(["user", "list", "--config", str(cfg)])


def test_calendar_from_file(dd: list[str], tmp_path: Path) -> None:
    ok(["seed", "demo", *dd])
    f = tmp_path / "cal.toml"
    f.write_text(
        'timezone = "Asia/Shanghai"\nholidays = ["2026-12-25"]\n[week]\nmon = [["09:00", "17:00"]]\n'
    )
    ok(["calendar", "add", "Branch hours", "--file", str(f), *dd])
    assert "Branch hours" in ok(["calendar", "list", *dd])
    f.write_text('[week]\nmon = [["17:00", "09:00"]]\n')
    r = runner.invoke(app, ["calendar", "add", "Broken", "--file", str(f), *dd])
    assert r.exit_code == 1 and "week.mon[0]" in r.output


def test_extensions(dd: list[str]) -> None:
    ok(["seed", "demo", *dd])
    out = ok(
        [
            "extension",
            "add",
            "2001",
            "--unit",
            "js.nj",
            "--user",
            "li.na",
            "--name",
            "Seat 9",
            "--password-stdin",
            *dd,
        ],
        stdin="Phone-secret-9\n",
    )
    assert "realm demo" in out
    listing = ok(["extension", "list", *dd])
    assert "2001" in listing and "1001" in listing
    r = runner.invoke(app, ["extension", "add", "2001", "--password-stdin", *dd], input="Phone-secret-9\n")
    assert r.exit_code == 1 and "already exists" in r.output
    r = runner.invoke(app, ["extension", "add", "2002", "--password-stdin", *dd], input="2002abcd\n")
    assert r.exit_code == 1 and "must not contain the extension number" in r.output
    r = runner.invoke(app, ["extension", "add", "12ab", "--password-stdin", *dd], input="Phone-secret-9\n")
    assert r.exit_code == 1 and "2-16 digits" in r.output
    ok(["extension", "passwd", "2001", *dd], stdin="Other-secret-7\n")


def test_audit_list(dd: list[str]) -> None:
    ok(["seed", "demo", *dd])
    assert "action" in ok(["audit", "list", *dd])


def test_serve_refuses_a_taken_port_clearly(tmp_path: Path) -> None:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        r = runner.invoke(
            app, ["serve", "--data-dir", str(tmp_path), "--http-port", "0", "--sip-port", str(port)]
        )
    assert r.exit_code == 2
    assert f"SIP (UDP) port 127.0.0.1:{port} is not available" in " ".join(r.output.split())
