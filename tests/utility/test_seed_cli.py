"""``hotline seed utility``: progress, summary, idempotent re-run, bad options."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hotline.cli import app


def test_seed_utility_command(tmp_path: Path) -> None:
    common = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}", "--data-dir", str(tmp_path)]
    runner = CliRunner()
    r = runner.invoke(app, ["tenant", "add", "t1", "--name", "T1", *common])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["unit", "add", "nj", "--name", "国网南京供电公司", "--kind", "city", *common])
    assert r.exit_code == 0, r.output
    args = [
        "seed",
        "utility",
        "--customers",
        "300",
        "--months",
        "3",
        "--seed",
        "5",
        "--end-period",
        "2026-09",
    ]
    r = runner.invoke(app, [*args, *common])
    assert r.exit_code == 0, r.output
    assert "customers" in r.output and "meter_readings" in r.output and "900" in r.output, r.output
    assert "elapsed" in r.output and "2026-07 … 2026-09" in r.output
    assert "default tariff versions loaded" in r.output
    r = runner.invoke(app, [*args, *common])
    assert r.exit_code == 0 and "nothing added" in r.output, r.output
    r = runner.invoke(app, [*args, "--start-account", "301", "--customers", "20", "--no-bills", *common])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["seed", "utility", "--end-period", "2026-13", *common])
    assert r.exit_code != 0 and "YYYY-MM" in r.output
    r = runner.invoke(app, ["seed", "utility", "--unit", "nope", "--customers", "1", *common])
    assert r.exit_code != 0 and "nope" in r.output
