"""`hotline wfm …` — Erlang B / C / A staffing calculators on the command line.

Mounted by the main CLI as ``hotline wfm``; usable on its own through ``app``.
Bad input exits with status 2 and a message naming the option (never a traceback).
"""

from __future__ import annotations

import json
import math
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from hotline.wfm.erlang import (
    ErlangAResult,
    ErlangCResult,
    WfmInputError,
    erlang_a,
    erlang_a_required_agents,
    erlang_b_result,
    erlang_c,
    erlang_c_required_agents,
    offered_load,
)

app = typer.Typer(
    no_args_is_help=True,
    help="Workforce management: Erlang B (trunks), Erlang C and Erlang A (agents) calculators.",
)

_OPTION_NAMES = {
    "erlangs": "--erlangs",
    "blocking": "--blocking",
    "trunks": "--trunks",
    "calls_per_hour": "--calls-per-hour",
    "aht_seconds": "--aht",
    "sl_target": "--sl-target",
    "sl_seconds": "--sl-seconds",
    "max_occupancy": "--max-occupancy",
    "shrinkage": "--shrinkage",
    "agents": "--agents",
    "patience_seconds": "--patience",
}

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]
CallsOpt = Annotated[float, typer.Option("--calls-per-hour", help="Offered calls per hour.")]
AhtOpt = Annotated[float, typer.Option("--aht", help="Average handling time in seconds.")]
SlTargetOpt = Annotated[
    float, typer.Option("--sl-target", help="Service level target, a fraction in (0, 1), e.g. 0.8.")
]
SlSecondsOpt = Annotated[float, typer.Option("--sl-seconds", help="Service level threshold T in seconds.")]
MaxOccOpt = Annotated[
    float | None, typer.Option("--max-occupancy", help="Maximum agent occupancy in (0, 1], e.g. 0.85.")
]
ShrinkOpt = Annotated[
    float | None,
    typer.Option("--shrinkage", help="Shrinkage in [0, 1); adds scheduled = ceil(agents / (1 - s))."),
]
AgentsOpt = Annotated[
    int | None, typer.Option("--agents", help="Evaluate this many agents instead of searching.")
]


def _fail(param: str, message: str) -> NoReturn:
    raise typer.BadParameter(message, param_hint=f"'{_OPTION_NAMES.get(param, param)}'")


def _emit(
    data: dict[str, float | int | bool | None], rows: list[tuple[str, str]], title: str, as_json: bool
) -> None:
    if as_json:
        typer.echo(json.dumps(data, allow_nan=False))
        return
    table = Table(title=title)
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    for label, value in rows:
        table.add_row(label, value)
    Console().print(table)


@app.command("erlang-b")
def erlang_b_command(
    erlangs: Annotated[float, typer.Option("--erlangs", help="Offered traffic in Erlangs.")],
    blocking: Annotated[
        float | None, typer.Option("--blocking", help="Target blocking probability in (0, 1), e.g. 0.01.")
    ] = None,
    trunks: Annotated[
        int | None, typer.Option("--trunks", help="Evaluate this many trunks instead of searching.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Trunk blocking (Erlang B): trunks needed for a blocking target, or blocking of N trunks."""
    try:
        if trunks is None and blocking is None:
            _fail("blocking", "give --blocking (to size the trunk group) or --trunks (to evaluate it)")
        if blocking is not None and not 0.0 < blocking < 1.0:
            _fail("blocking", f"must be strictly between 0 and 1, got {blocking}")
        res = erlang_b_result(erlangs, trunks=trunks, blocking=blocking)
    except WfmInputError as exc:
        _fail(exc.param, exc.message)
    data: dict[str, float | int | bool | None] = {
        "erlangs": res.erlangs,
        "trunks": res.trunks,
        "blocking": res.blocking,
        "target_blocking": blocking,
        "meets_target": None if blocking is None else res.blocking <= blocking,
    }
    rows = [
        ("Offered traffic (Erlangs)", f"{res.erlangs:,.3f}"),
        ("Trunks", f"{res.trunks:,}"),
        ("Blocking probability", f"{res.blocking:.4%}"),
    ]
    if blocking is not None:
        rows.append(("Target blocking", f"{blocking:.4%}"))
    _emit(data, rows, "Erlang B", as_json)


def _agent_rows(
    res: ErlangCResult | ErlangAResult, sl_seconds: float, target: float
) -> list[tuple[str, str]]:
    rows = [
        ("Offered load (Erlangs)", f"{res.offered_erlangs:,.3f}"),
        ("Agents", f"{res.agents:,}"),
    ]
    if res.scheduled_agents is not None:
        rows.append(("Scheduled agents (after shrinkage)", f"{res.scheduled_agents:,}"))
    rows += [
        (
            f"Service level (answered within {sl_seconds:g} s)",
            f"{res.service_level:.2%}  (target {target:.2%})",
        ),
        ("Probability of waiting", f"{res.wait_probability:.2%}"),
        ("Average speed of answer", f"{res.asa_seconds:,.1f} s"),
        ("Occupancy", f"{res.occupancy:.2%}"),
    ]
    if isinstance(res, ErlangAResult):
        rows += [
            ("Abandon rate", f"{res.abandon_rate:.2%}"),
            ("Mean wait, all calls", f"{res.mean_wait_seconds:,.1f} s"),
        ]
    return rows


def _agent_data(
    res: ErlangCResult | ErlangAResult, target: float, max_occupancy: float | None
) -> dict[str, float | int | bool | None]:
    data: dict[str, float | int | bool | None] = dict(res.to_dict())
    meets = res.service_level >= target and (max_occupancy is None or res.occupancy <= max_occupancy)
    data["meets_target"] = meets
    return data


def _check_common(
    calls_per_hour: float,
    aht: float,
    sl_target: float,
    sl_seconds: float,
    max_occupancy: float | None,
    shrinkage: float | None,
) -> float:
    """Validate the shared options up front (also in evaluation mode); returns the load."""
    load = offered_load(calls_per_hour, aht)
    if not 0.0 < sl_target < 1.0:
        _fail("sl_target", f"must be strictly between 0 and 1, got {sl_target}")
    if not (math.isfinite(sl_seconds) and sl_seconds >= 0.0):
        _fail("sl_seconds", f"must be a finite number >= 0, got {sl_seconds}")
    if max_occupancy is not None and not 0.0 < max_occupancy <= 1.0:
        _fail("max_occupancy", f"must be in (0, 1], got {max_occupancy}")
    if shrinkage is not None and not 0.0 <= shrinkage < 1.0:
        _fail("shrinkage", f"must be in [0, 1), got {shrinkage}")
    return load


@app.command("erlang-c")
def erlang_c_command(
    calls_per_hour: CallsOpt,
    aht: AhtOpt,
    sl_target: SlTargetOpt = 0.8,
    sl_seconds: SlSecondsOpt = 20.0,
    max_occupancy: MaxOccOpt = None,
    shrinkage: ShrinkOpt = None,
    agents: AgentsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Agents for a service level target with Erlang C (M/M/N, callers never abandon)."""
    try:
        load = _check_common(calls_per_hour, aht, sl_target, sl_seconds, max_occupancy, shrinkage)
        if agents is None:
            res = erlang_c_required_agents(
                calls_per_hour, aht, sl_target, sl_seconds, max_occupancy=max_occupancy, shrinkage=shrinkage
            )
        else:
            if agents < 0 or (load > 0 and agents <= load):
                _fail(
                    "agents",
                    f"{agents} agents cannot carry {load:.3f} Erlangs without abandonment: the Erlang C "
                    f"queue is unstable (need more than {load:.3f}); use erlang-a for overload",
                )
            res = erlang_c(agents, calls_per_hour, aht, sl_seconds, shrinkage=shrinkage)
    except WfmInputError as exc:
        _fail(exc.param, exc.message)
    _emit(
        _agent_data(res, sl_target, max_occupancy),
        _agent_rows(res, sl_seconds, sl_target),
        "Erlang C",
        as_json,
    )


@app.command("erlang-a")
def erlang_a_command(
    calls_per_hour: CallsOpt,
    aht: AhtOpt,
    patience: Annotated[
        float,
        typer.Option("--patience", help="Mean caller patience in seconds (exponential); inf = Erlang C."),
    ],
    sl_target: SlTargetOpt = 0.8,
    sl_seconds: SlSecondsOpt = 20.0,
    max_occupancy: MaxOccOpt = None,
    shrinkage: ShrinkOpt = None,
    agents: AgentsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Agents for a service level target with Erlang A (M/M/N+M, callers abandon).

    Service level = calls answered within T / calls offered; every abandoned call is a miss.
    ASA is the mean wait of answered calls.
    """
    try:
        load = _check_common(calls_per_hour, aht, sl_target, sl_seconds, max_occupancy, shrinkage)
        if agents is None:
            res = erlang_a_required_agents(
                calls_per_hour,
                aht,
                patience,
                sl_target,
                sl_seconds,
                max_occupancy=max_occupancy,
                shrinkage=shrinkage,
            )
        else:
            if math.isinf(patience) and load > 0 and agents <= load:
                _fail("agents", f"with infinite patience {agents} agents cannot carry {load:.3f} Erlangs")
            res = erlang_a(agents, calls_per_hour, aht, patience, sl_seconds, shrinkage=shrinkage)
    except WfmInputError as exc:
        _fail(exc.param, exc.message)
    _emit(
        _agent_data(res, sl_target, max_occupancy),
        _agent_rows(res, sl_seconds, sl_target),
        "Erlang A",
        as_json,
    )
