"""Benchmark function, script and CLI (small sizes: correctness, not speed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from hotline.acd import Accept, Complete, Engine, Login, NewTask, QueueConfig, TaskSpec, Tick
from hotline.acd.bench import run_bench
from hotline.acd.cli import app
from hotline.acd.model import AgentConfig

ROOT = Path(__file__).resolve().parents[2]


def test_run_bench_small() -> None:
    r = run_bench(agents=200, skills=20, queues=10, waiting=50, seed=1, operations=400)
    assert r["bench"] == "acd" and r["agents"] == 200
    assert r["busy_regime"]["offers"] > 0 and r["idle_regime"]["offers"] > 0
    assert r["busy_regime"]["waiting_at_end"] == 50
    assert r["p99_us"] >= r["p50_us"] > 0
    json.dumps(r)


SMALL = ["--agents", "100", "--skills", "10", "--queues", "5", "--waiting", "20", "--operations", "200"]


def test_cli_json_direct_and_subcommand() -> None:
    for args in ([*SMALL, "--json"], ["bench", *SMALL, "--json"]):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
        data = json.loads(res.output)
        assert data["agents"] == 100 and data["queues"] == 5


def test_cli_mounted_as_hotline_bench_acd() -> None:
    import typer

    root = typer.Typer()
    bench_app = typer.Typer()
    root.add_typer(bench_app, name="bench")
    bench_app.add_typer(app, name="acd")
    res = CliRunner().invoke(root, ["bench", "acd", *SMALL, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["bench"] == "acd"
    res = CliRunner().invoke(root, ["bench", "acd", *SMALL])
    assert res.exit_code == 0 and "decisions/s" in res.output


def test_bench_script_prints_one_json_object() -> None:
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "acd_bench.py"),
            "--agents",
            "100",
            "--skills",
            "10",
            "--queues",
            "5",
            "--waiting",
            "20",
            "--operations",
            "200",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert json.loads(out.stdout)["operations"] > 0


def test_command_dataclasses_replay_identically() -> None:
    cmds = [
        Login(0, "a1", ready=True),
        NewTask(1, TaskSpec("t1", "q1")),
        Accept(2, "a1", "t1"),
        NewTask(3, TaskSpec("t2", "q1")),
        Complete(4, "a1", "t1"),
        Tick(100),
    ]

    def run() -> list[object]:
        eng = Engine(queues=[QueueConfig("q1")])
        eng.add_agent(AgentConfig("a1", queues=("q1",)))
        out: list[object] = []
        for c in cmds:
            out += eng.handle(c)
        return out + list(eng.pop_events())

    first = run()
    assert first == run()
    assert [type(d).__name__ for d in first[:2]] == ["Offer", "Offer"]
