"""``hotline tickets …`` (statistics export, one order with its history) and
``hotline seed tickets`` (the demo orders, or many generated ones)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

tickets_app = typer.Typer(no_args_is_help=True, help="Work orders: statistics export, maintenance.")

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


def seed_tickets_cmd(
    count: Annotated[
        int,
        typer.Option(
            "--count",
            min=0,
            help="Generate this many orders (bulk; 0: the demo orders in every state, made through "
            "the service, only when the tenant has none).",
        ),
    ] = 0,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed: the same seed gives the same orders.")
    ] = 0,
    span_days: Annotated[
        float,
        typer.Option("--span-days", min=1, help="Generated orders spread over this many days up to now."),
    ] = 730.0,
    history_days: Annotated[
        float | None,
        typer.Option(
            "--history-days",
            min=0,
            help="History rows only for orders of the last N days and open ones (default: all).",
        ),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=100, help="Orders per transaction.")] = 10_000,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Work-order data: the demo orders, or --count generated ones (deterministic with --seed)."""
    from hotline.cli import out, progress_bar, run, settings_from, stage_progress, with_factory

    settings = settings_from(config, data_dir, database_url)

    if count == 0:

        async def demo(factory: Any, t: Any) -> int:
            from hotline.store.db import transaction
            from hotline.tickets.seed import seed_demo_tickets

            async with transaction(factory) as s:
                return await seed_demo_tickets(s, t.id)

        made = run(with_factory(settings, tenant, demo))
        out.print(f"{made} demo orders created" if made else "the tenant already has orders: nothing added")
        return

    async def work(factory: Any, t: Any) -> Any:
        from hotline.tickets.seed import generate

        return await generate(
            factory,
            t.id,
            count=count,
            seed=seed,
            span_days=span_days,
            history_days=history_days,
            batch=batch,
            progress=progress,
        )

    with progress_bar(8) as bar:
        progress = stage_progress(bar)
        progress("orders", 0, count)
        report = run(with_factory(settings, tenant, work))
    from rich.table import Table

    table = Table(title="hotline seed tickets", show_header=True)
    table.add_column("state")
    table.add_column("orders", justify="right")
    for state, n in sorted(report.states.items(), key=lambda kv: -kv[1]):
        table.add_row(state, f"{n:,}")
    out.print(table)
    rate = report.orders / report.seconds if report.seconds else 0.0
    out.print(
        f"{report.orders:,} orders (ids from {report.first_id:,}), {report.history:,} history rows, "
        f"{report.seconds:.1f} s ({rate:,.0f} orders/s)"
    )


@tickets_app.command("export")
def export_cmd(
    start: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD.")],
    end: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (inclusive).")],
    output: Annotated[Path, typer.Option("--out", "-o", help="File to write (.csv or .xlsx).")],
    group_by: Annotated[
        str, typer.Option("--group-by", help="Comma-separated: unit, type, period (day/week/month).")
    ] = "unit,type",
    unit: Annotated[str | None, typer.Option("--unit", "-u", help="Only this unit (code) and below.")] = None,
    type_code: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
    lang: Annotated[str, typer.Option("--lang", help="Headers: zh or en.")] = "zh",
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Statistics per period, unit and type (accepted, handled, overdue, on-time, satisfaction …)
    as CSV or XLSX (by the file's extension)."""
    from hotline.cli import fail, out, run, settings_from, with_factory

    try:
        d0, d1 = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        fail("--from and --to: use YYYY-MM-DD", 2)
    fmt = output.suffix.lower().lstrip(".")
    if fmt not in ("csv", "xlsx"):
        fail("--out must end in .csv or .xlsx", 2)
    if lang not in ("zh", "en"):
        fail("--lang: zh or en", 2)
    settings = settings_from(config, data_dir, database_url)
    groups = [g.strip() for g in group_by.split(",") if g.strip()]

    async def work(factory: Any, t: Any) -> Any:
        from hotline.tickets.export import export_stats

        return await export_stats(
            factory, t.id, start=d0, end=d1, out=output, fmt=fmt, group_by=groups, unit=unit,
            type_code=type_code, lang=lang,
        )  # fmt: skip

    report = run(with_factory(settings, tenant, work))
    rows = len(getattr(report, "rows", []) or [])
    out.print(f"wrote {output} ({rows} rows)")


@tickets_app.command("show")
def show_cmd(
    key: Annotated[str, typer.Argument(help="Order id or number (GD…).")],
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """One order and its history."""
    from rich.table import Table

    from hotline.cli import out, run, settings_from, with_factory

    settings = settings_from(config, data_dir, database_url)

    async def work(factory: Any, t: Any) -> Any:
        from hotline.tickets import service

        async with factory() as s:
            row = await service.get_ticket(s, t.id, int(key) if key.isdecimal() else key)
            return row, await service.history(s, t.id, row.id)

    row, hist = run(with_factory(settings, tenant, work))
    out.print(f"[bold]{row.number}[/] {row.type_code} · {row.state} · v{row.version} · {row.subject}")
    out.print(
        f"created {row.created_at:%Y-%m-%d %H:%M} UTC · due {row.due_at or '-'} · overdue {row.overdue}"
    )
    table = Table(show_header=True)
    for col in ("at (UTC)", "actor", "action", "from", "to", "note"):
        table.add_column(col)
    for h in hist:
        table.add_row(
            f"{h.at:%Y-%m-%d %H:%M:%S}", h.actor, h.action, h.from_state or "", h.to_state, h.note[:60]
        )
    out.print(table)
