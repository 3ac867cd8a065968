"""``hotline seed utility``: realistic utility demo data (see :mod:`hotline.utility.seed`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

# the option aliases of hotline.cli, redeclared: hotline.cli imports this module while it loads
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file.", envvar=None, show_default=False),
]
DataDirOpt = Annotated[Path | None, typer.Option("--data-dir", help="Data directory (default ./var).")]
DbUrlOpt = Annotated[
    str | None,
    typer.Option("--database-url", help="sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST/DB."),
]
TenantOpt = Annotated[
    str | None, typer.Option("--tenant", "-t", help="Tenant slug (default: the only tenant).")
]


def seed_utility_cmd(
    customers: Annotated[
        int, typer.Option("--customers", min=0, help="How many customers to create.")
    ] = 1000,
    months: Annotated[
        int, typer.Option("--months", min=0, max=120, help="Months of readings (and bills).")
    ] = 12,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same data.")] = 0,
    start_account: Annotated[
        int,
        typer.Option(
            "--start-account",
            min=1,
            help="Number of the first customer; a run with the same seed and start adds nothing new.",
        ),
    ] = 1,
    unit: Annotated[
        list[str] | None,
        typer.Option("--unit", "-u", help="Supply unit code (repeatable; default: every leaf unit)."),
    ] = None,
    end_period: Annotated[
        str | None,
        typer.Option("--end-period", help="Last month of readings, YYYY-MM (default: last month)."),
    ] = None,
    no_bills: Annotated[bool, typer.Option("--no-bills", help="Readings only, no bills.")] = False,
    no_payments: Annotated[bool, typer.Option("--no-payments", help="Bills stay unpaid.")] = False,
    no_outages: Annotated[bool, typer.Option("--no-outages", help="No outages.")] = False,
    batch: Annotated[int, typer.Option("--batch", min=100, help="Customers per transaction.")] = 5000,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Generate customers, readings, bills, payments and outages (deterministic with --seed)."""
    import re

    from rich.table import Table

    from hotline.cli import fail, out, progress_bar, run, settings_from, stage_progress, with_factory

    if end_period is not None and not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", end_period):
        fail(f"--end-period {end_period!r}: use YYYY-MM")
    settings = settings_from(config, data_dir, database_url)

    async def work(factory: Any, t: Any) -> Any:
        from hotline.utility.seed import generate

        return await generate(
            factory,
            t.id,
            customers=customers,
            months=months,
            seed=seed,
            start_account=start_account,
            units=unit or None,
            end_period=end_period,
            bills=not no_bills,
            payments=not no_payments,
            outages=not no_outages,
            batch=batch,
            progress=progress,
        )

    with progress_bar(10) as bar:
        progress = stage_progress(bar)
        progress("customers", 0, customers)
        report = run(with_factory(settings, tenant, work))
    table = Table(title="hotline seed utility", show_header=True)
    table.add_column("table")
    table.add_column("rows added", justify="right")
    for name, count in report.rows().items():
        table.add_row(name, f"{count:,}")
    out.print(table)
    if report.periods:
        out.print(f"periods {report.periods[0]} … {report.periods[-1]} ({len(report.periods)} months)")
    for note in report.notes:
        out.print(f"note: {note}")
    rate = report.customers / report.elapsed if report.elapsed else 0.0
    out.print(f"elapsed {report.elapsed:.1f} s ({rate:,.0f} customers/s)")
