"""``hotline simulate``: run a scenario file through the simulator.

:func:`simulate` is a plain function whose parameters carry Typer metadata, so it is
mounted with::

    app.command("simulate")(simulate)

Exit codes: 0 success, 2 invalid scenario (every problem printed as ``item: reason``).
"""

from __future__ import annotations

import json as _json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from hotline.sim.kpi import SL_DEFINITIONS
from hotline.sim.scenario import ScenarioError, load_scenario
from hotline.sim.simulator import SimResult, Simulator

__all__ = ["simulate"]


def _fmt(v: float | None, kind: str = "") -> str:
    if v is None:
        return "-"
    if kind == "%":
        return f"{100 * v:.1f}%"
    if kind == "s":
        return f"{v:.1f}"
    return f"{v:g}"


_ROWS: tuple[tuple[str, Any], ...] = (
    ("offered", lambda k: str(k.offered)),
    ("answered", lambda k: str(k.answered)),
    ("abandoned", lambda k: str(k.abandoned)),
    ("  in queue", lambda k: str(k.abandoned - k.abandoned_ringing)),
    ("  while ringing", lambda k: str(k.abandoned_ringing)),
    ("  short abandons", lambda k: str(k.short_abandons)),
    ("exited (rules)", lambda k: str(k.exited)),
    ("unfinished", lambda k: str(k.unfinished)),
    ("overflowed out", lambda k: str(k.overflowed_out)),
    ("answered by this queue", lambda k: str(k.answered_in)),
    ("SL, abandons ignored", lambda k: _fmt(k.sl_abandons_ignored, "%")),
    ("SL, abandons = misses", lambda k: _fmt(k.sl_abandons_missed, "%")),
    ("SL, abandons < T = met", lambda k: _fmt(k.sl_abandons_within_met, "%")),
    ("P(wait)", lambda k: _fmt(k.wait_probability, "%")),
    ("abandon rate", lambda k: _fmt(k.abandon_rate, "%")),
    ("ASA (s)", lambda k: _fmt(k.asa, "s")),
    ("AHT talk+wrap (s)", lambda k: _fmt(k.aht, "s")),
    ("max wait (s)", lambda k: _fmt(k.max_wait, "s")),
)


def _print_human(console: Console, res: SimResult, show_intervals: bool) -> None:
    k = res.kpis
    sc = res.scenario
    t = Table(title=f"{sc.name}: seed {sc.seed}, {sc.horizon / 3600:g} h, warm-up {sc.warmup / 60:g} min")
    t.add_column("KPI")
    cols = [(q, k.queue_total(q)) for q in k.queues] + [("TOTAL", k.total())]
    for name, _ in cols:
        t.add_column(name, justify="right", style="bold" if name == "TOTAL" else None)
    for label, f in _ROWS:
        t.add_row(label, *(f(kk) for _, kk in cols))
    console.print(t)
    ag = k.agents_total()
    console.print(
        f"Agents: occupancy {_fmt(ag.occupancy, '%')}, utilisation {_fmt(ag.utilisation, '%')}; "
        f"{res.arrivals} arrivals, {res.commands} engine commands, {res.wall_seconds:.2f} s wall "
        f"({res.arrivals / max(res.wall_seconds, 1e-9):,.0f} calls/s)"
    )
    if show_intervals:
        it = Table(title="Per 15-minute interval (all queues)")
        for c in ("interval", "offered", "answered", "aband.", "SL miss", "ASA s", "AHT s", "occup."):
            it.add_column(c, justify="left" if c == "interval" else "right")
        for i in range(k.n_intervals):
            tot = k.interval_total(i)
            at = k.interval_agents(i)
            if tot.offered == 0 and not at.seconds:
                continue
            day, s = divmod(int(i * k.interval), 86400)
            it.add_row(
                f"d{day + 1} {s // 3600:02d}:{s % 3600 // 60:02d}",
                str(tot.offered),
                str(tot.answered),
                str(tot.abandoned),
                _fmt(tot.sl_abandons_missed, "%"),
                _fmt(tot.asa, "s"),
                _fmt(tot.aht, "s"),
                _fmt(at.occupancy, "%"),
            )
        console.print(it)
    console.print("SL definitions (T = arrival queue's sl_threshold; unfinished tasks excluded):")
    for name, d in SL_DEFINITIONS.items():
        console.print(f"  {name}: {d}")


def simulate(
    scenario: Annotated[
        Path, typer.Argument(help="Scenario TOML file (see hotline/sim/examples/).", show_default=False)
    ],
    json: Annotated[bool, typer.Option("--json", help="Print one JSON object (no progress bar).")] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Override the scenario's seed.")] = None,
    days: Annotated[
        int | None, typer.Option("--days", min=1, help="Simulate this many 24-hour days instead.")
    ] = None,
    intervals: Annotated[
        bool, typer.Option("--intervals", help="Also print the per-15-minute table (human output).")
    ] = False,
) -> None:
    """Simulate a contact centre scenario through the real ACD engine and report KPIs."""
    try:
        sc = load_scenario(scenario)
    except ScenarioError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    for w in sc.warnings:
        typer.echo(f"warning: {w}", err=True)
    if seed is not None:
        sc = sc.with_seed(seed)
    if days is not None:
        sc = sc.with_days(days)
    if json:
        res = Simulator(sc).run()
        out: dict[str, Any] = res.to_dict()
        typer.echo(_json.dumps(out, sort_keys=False))
        return
    console = Console()
    with Progress(
        TextColumn("[bold]simulating[/bold] {task.description}"),
        BarColumn(),
        TextColumn("{task.fields[clock]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(sc.name, total=sc.horizon, clock="")

        def report(t: float) -> None:
            day, s = divmod(int(t), 86400)
            progress.update(task, completed=t, clock=f"day {day + 1} {s // 3600:02d}:{s % 3600 // 60:02d}")

        res = Simulator(sc, progress=report).run()
    _print_human(console, res, intervals)
