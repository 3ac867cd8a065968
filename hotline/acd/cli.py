"""CLI for the ACD package.

``app`` is meant to be mounted as ``hotline bench acd``::

    bench_app.add_typer(hotline.acd.cli.app, name="acd")

so that ``hotline bench acd --agents 5000 --skills 200 --queues 100 --json`` runs the
benchmark (the callback runs it when no subcommand is given); ``... acd bench ...``
is the explicit form.
"""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="ACD routing engine benchmark.")

_AGENTS = typer.Option(5000, "--agents", min=1, help="Number of agents.")
_SKILLS = typer.Option(200, "--skills", min=1, help="Number of skills.")
_QUEUES = typer.Option(100, "--queues", min=1, help="Number of queues.")
_WAITING = typer.Option(1000, "--waiting", min=0, help="Tasks waiting in line during the busy regime.")
_OPS = typer.Option(20000, "--operations", min=2, help="Timed routing commands.")
_SEED = typer.Option(0, "--seed", help="Random seed (the scenario is deterministic).")
_JSON = typer.Option(False, "--json", help="Print one JSON object.")


def _run(
    agents: int, skills: int, queues: int, waiting: int, operations: int, seed: int, as_json: bool
) -> None:
    from hotline.acd.bench import run_bench

    result = run_bench(
        agents=agents, skills=skills, queues=queues, waiting=waiting, seed=seed, operations=operations
    )
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    busy, idle = result["busy_regime"], result["idle_regime"]
    typer.echo(
        f"ACD bench: {agents} agents, {skills} skills, {queues} queues, {waiting} waiting\n"
        f"  decisions/s  {result['decisions_per_s']:>10,.0f}   (target >= 20,000)\n"
        f"  p50          {result['p50_us']:>10.1f} us\n"
        f"  p99          {result['p99_us']:>10.1f} us  (target <= 200)\n"
        f"  busy regime  {busy['decisions_per_s']:>10,.0f}/s  p99 {busy['p99_us']} us\n"
        f"  idle regime  {idle['decisions_per_s']:>10,.0f}/s  p99 {idle['p99_us']} us\n"
        f"  meets targets: {result['meets_targets']}"
    )


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    agents: int = _AGENTS,
    skills: int = _SKILLS,
    queues: int = _QUEUES,
    waiting: int = _WAITING,
    operations: int = _OPS,
    seed: int = _SEED,
    as_json: bool = _JSON,
) -> None:
    """Measure routing decisions per second and decision latency (p50/p99)."""
    if ctx.invoked_subcommand is None:
        _run(agents, skills, queues, waiting, operations, seed, as_json)


@app.command()
def bench(
    agents: int = _AGENTS,
    skills: int = _SKILLS,
    queues: int = _QUEUES,
    waiting: int = _WAITING,
    operations: int = _OPS,
    seed: int = _SEED,
    as_json: bool = _JSON,
) -> None:
    """Measure routing decisions per second and decision latency (p50/p99)."""
    _run(agents, skills, queues, waiting, operations, seed, as_json)


if __name__ == "__main__":  # pragma: no cover
    app()
