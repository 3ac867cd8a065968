"""The Typer-ready ``simulate`` command, mounted on a throw-away app."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from hotline.sim import EXAMPLES
from hotline.sim.cli import simulate

app = typer.Typer()
app.command("simulate")(simulate)


@app.command("noop")
def _noop() -> None:  # a second command keeps "simulate" a sub-command, as in hotline.cli
    """Nothing."""


runner = CliRunner()

SMALL = """
name = "tiny"
skills = ["s"]
[simulation]
duration_hours = 1
seed = 4
[[queues]]
id = "q"
requirements = "s"
handle_time = {dist = "exponential", mean = 100}
[[agents]]
id = "a"
count = 3
skills = {s = 5}
queues = ["q"]
[[arrivals]]
queue = "q"
calls_per_interval = 20
patience = {dist = "exponential", mean = 60}
"""


def _tiny(tmp_path: Path) -> Path:
    p = tmp_path / "tiny.toml"
    p.write_text(SMALL, encoding="utf-8")
    return p


def test_json_output(tmp_path: Path) -> None:
    res = runner.invoke(app, ["simulate", str(_tiny(tmp_path)), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.stdout)
    assert d["scenario"] == "tiny" and d["seed"] == 4 and d["horizon_seconds"] == 3600
    t = d["total"]
    assert t["offered"] == t["answered"] + t["abandoned"] + t["exited"] + t["unfinished"] > 40
    assert {"sl_abandons_ignored", "sl_abandons_missed", "sl_abandons_within_met", "aht"} <= set(
        d["definitions"]
    )
    assert d["queues"]["q"]["offered"] == t["offered"] and len(d["intervals"]) == 4
    assert 0 < d["agents"]["occupancy"] <= 1


def test_seed_and_days_override(tmp_path: Path) -> None:
    p = _tiny(tmp_path)
    a = json.loads(runner.invoke(app, ["simulate", str(p), "--json", "--seed", "9"]).stdout)
    b = json.loads(runner.invoke(app, ["simulate", str(p), "--json", "--seed", "9"]).stdout)
    a.pop("wall_seconds")
    b.pop("wall_seconds")
    assert a == b and a["seed"] == 9
    c = json.loads(runner.invoke(app, ["simulate", str(p), "--json", "--days", "1"]).stdout)
    assert c["horizon_seconds"] == 86400 and c["total"]["offered"] > 1500


def test_human_output(tmp_path: Path) -> None:
    res = runner.invoke(app, ["simulate", str(_tiny(tmp_path)), "--intervals"])
    assert res.exit_code == 0, res.output
    for text in ("SL, abandons = misses", "occupancy", "sl_abandons_within_met", "d1 00:45", "TOTAL"):
        assert text in res.output


def test_invalid_scenario_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.replace("calls_per_interval = 20", "calls_per_interval = -2"), encoding="utf-8")
    res = runner.invoke(app, ["simulate", str(bad)])
    assert res.exit_code == 2
    assert "arrivals[0] 'q'.calls_per_interval: must be >= 0" in res.output
    res = runner.invoke(app, ["simulate", str(tmp_path / "missing.toml"), "--json"])
    assert res.exit_code == 2 and "cannot read" in res.output


def test_example_runs_via_cli() -> None:
    res = runner.invoke(app, ["simulate", str(EXAMPLES / "multiskill_95598.toml"), "--json"])
    assert res.exit_code == 0
    d = json.loads(res.stdout)
    assert d["queues"]["outage"]["overflowed_out"] > 0 and d["queues"]["general"]["answered_in"] > 0


def test_same_output_under_different_hash_seeds(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    p = _tiny(tmp_path)
    code = (
        "import json, sys, typer\n"
        "from hotline.sim.cli import simulate\n"
        "app = typer.Typer()\n"
        "app.command('simulate')(simulate)\n"
        "app.command('noop')(lambda: None)\n"
        "app()\n"
    )
    outs = []
    for h in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": h}
        res = subprocess.run(
            [sys.executable, "-c", code, "simulate", str(p), "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        d = json.loads(res.stdout)
        d.pop("wall_seconds")
        outs.append(d)
    assert outs[0] == outs[1]
