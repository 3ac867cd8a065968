"""CLI for the ACD package; the lead mounts ``app`` as ``hotline bench acd``."""

from __future__ import annotations

import json

import typer

app = typer.Typer(no_args_is_help=True, help="ACD routing engine tools.")


@app.command()
def bench(
    agents: int = typer.Option(5000, "--agents", min=1, help="Number of agents."),
    skills: int = typer.Option(200, "--skills", min=1, help="Number of skills."),
    queues: int = typer.Option(100, "--queues", min=1, help="Number of queues."),
    waiting: int = typer.Option(
        1000, "--waiting", min=0, help="Tasks waiting in line during the busy regime."
    ),
    operations: int = typer.Option(20000, "--operations", min=2, help="Timed routing commands."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the run is deterministic)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Measure routing decisions per second and decision latency (p50/p99)."""
    from hotline.acd.bench import run_bench

    result = run_bench(
        agents=agents, skills=skills, queues=queues, waiting=waiting, seed=seed, operations=operations
    )
    if as_json:
        typer.echo(json.dumps(result, sort_keys=True))
        return
    typer.echo(
        f"ACD bench: {agents} agents, {skills} skills, {queues} queues, {waiting} waiting\n"
        f"  decisions/s  {result['decisions_per_s']:>10,.0f}   (target >= 20,000)\n"
        f"  p50          {result['p50_us']:>10.1f} us\n"
        f"  p99          {result['p99_us']:>10.1f} us  (target <= 200)\n"
        f"  busy regime  {result['busy_regime']['decisions_per_s']:>10,.0f}/s  p99 {result['busy_regime']['p99_us']} us\n"
        f"  idle regime  {result['idle_regime']['decisions_per_s']:>10,.0f}/s  p99 {result['idle_regime']['p99_us']} us\n"
        f"  meets targets: {result['meets_targets']}"
    )


if __name__ == "__main__":  # pragma: no cover
    app()
