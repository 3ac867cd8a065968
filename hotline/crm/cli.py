"""``hotline import …``: bulk imports (customers from CSV or XLSX), with a dry run.

``hotline import customers FILE.csv|FILE.xlsx [--dry-run] [--strict/--lenient] [--tenant SLUG]
[--unit-default CODE]``: see :mod:`hotline.crm.importer` for the columns and the rules. Exit code
1 when rows were rejected in strict mode (nothing imported), 0 otherwise (a lenient run reports
the rejected rows and imports the rest).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

import_app = typer.Typer(no_args_is_help=True, help="Bulk imports (customers …), with a dry run.")

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

#: errors printed in the table (all are counted; --errors-csv writes every one)
SHOW_ERRORS = 50


@import_app.command("customers")
def import_customers_cmd(
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8 or GBK) or XLSX file, first row = header.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check and report; write nothing.")] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict/--lenient", help="Strict: any bad row → nothing imported. Lenient: import good rows."
        ),
    ] = True,
    unit_default: Annotated[
        str | None, typer.Option("--unit-default", help="Supply unit code for rows without one.")
    ] = None,
    errors_csv: Annotated[
        Path | None, typer.Option("--errors-csv", help="Write every row error to this CSV file.")
    ] = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Import customers: upsert by account number (户号), per-row errors, dry run."""
    from rich.table import Table
    from sqlalchemy.exc import IntegrityError

    from hotline.cli import fail, out, progress_bar, run, settings_from, stage_progress, with_factory

    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(f"cannot read {file}: {exc.strerror}", 2)
    settings = settings_from(config, data_dir, database_url)

    async def work(factory: Any, t: Any) -> Any:
        from hotline.crm.importer import import_customers
        from hotline.crm.protect import IdProtector

        return await import_customers(
            factory,
            t.id,
            data,
            file.name,
            protector=IdProtector.for_settings(settings),
            dry_run=dry_run,
            strict=strict,
            default_unit=unit_default,
            actor="cli",
            progress=progress,
        )

    with progress_bar(transient=True) as bar:
        progress = stage_progress(bar, {"check": "checking", "write": "writing"})
        try:
            report = run(with_factory(settings, tenant, work))
        except IntegrityError as exc:  # another writer added the same account meanwhile
            fail(f"the database refused the import (nothing written): {exc.orig}", 1)

    summary = Table(title=f"{report.file}{' (dry run)' if dry_run else ''}", show_header=False)
    summary.add_column("what")
    summary.add_column("rows", justify="right")
    would = "would be " if dry_run or (strict and report.errors) else ""
    summary.add_row("rows in the file", str(report.total))
    summary.add_row(f"{would}created", str(report.created))
    summary.add_row(f"{would}updated", str(report.updated))
    summary.add_row("unchanged", str(report.unchanged))
    summary.add_row("rejected", str(report.rejected))
    summary.add_row("seconds", f"{report.seconds:.2f} ({report.rows_per_second:,.0f} rows/s)")
    out.print(summary)
    if report.ignored_columns:
        out.print(f"ignored columns: {', '.join(report.ignored_columns)}", highlight=False)
    if report.errors:
        errs = Table(title=f"row errors ({len(report.errors)})")
        for col in ("line", "account", "field", "reason"):
            errs.add_column(col)
        for e in report.errors[:SHOW_ERRORS]:
            errs.add_row(str(e.line), e.account_no, e.field, e.reason)
        out.print(errs)
        if len(report.errors) > SHOW_ERRORS:
            out.print(f"… and {len(report.errors) - SHOW_ERRORS} more (--errors-csv FILE lists all)")
    if errors_csv is not None:
        import csv

        with errors_csv.open("w", newline="", encoding="utf-8-sig") as f:
            w = csv.writer(f)
            w.writerow(["line", "account_no", "field", "reason"])
            w.writerows([e.line, e.account_no, e.field, e.reason] for e in report.errors)
    if strict and report.errors:
        out.print("[bold red]nothing imported[/]: fix the rows above or use --lenient")
        raise typer.Exit(1)
    if dry_run:
        out.print("dry run: nothing written")
