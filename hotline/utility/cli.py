"""``hotline billing …``: tariffs and bill runs.

``hotline billing run --period 2026-10`` bills every active customer with a reading for the month
(restartable: run it again after an interruption); ``hotline billing tariffs validate FILE``
checks a tariff file (every error with its path); ``hotline billing tariffs load [FILE]`` stores
the tariffs of FILE (default: the built-in illustrative set), idempotently.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

billing_app = typer.Typer(no_args_is_help=True, help="Utility billing: tariffs, bill runs.")
tariffs_app = typer.Typer(no_args_is_help=True, help="Tariffs: validate and load tariff files.")
billing_app.add_typer(tariffs_app, name="tariffs")

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


@billing_app.command("run")
def run_cmd(
    period: Annotated[str, typer.Option("--period", "-p", help="Billing month, YYYY-MM.")],
    due_days: Annotated[
        int, typer.Option("--due-days", min=0, max=365, help="Days from issue to the due date.")
    ] = 24,
    issued_on: Annotated[
        str | None,
        typer.Option("--issued-on", help="Issue date YYYY-MM-DD (default: the 1st of the next month)."),
    ] = None,
    batch: Annotated[int, typer.Option("--batch", min=10, help="Customers per transaction.")] = 5000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Issue the bills of a month: every active customer with a reading and no bill yet."""
    from rich.table import Table

    from hotline.cli import fail, out, progress_bar, run, settings_from, stage_progress, with_factory
    from hotline.utility.billrun import BillRunReport, parse_period, run_bills

    try:
        parse_period(period)
        issued = date.fromisoformat(issued_on) if issued_on else None
    except Exception as exc:
        fail(str(getattr(exc, "detail", exc)), 2)
    settings = settings_from(config, data_dir, database_url)

    def go(bar: Any) -> BillRunReport:
        label = f"bills {period}"
        staged = stage_progress(bar)
        if bar is not None:
            staged(label, 0, None)  # shown at once, its size known with the first page

        async def work(factory: Any, t: Any) -> BillRunReport:
            return await run_bills(
                factory,
                t.id,
                period,
                issued_on=issued,
                due_days=due_days,
                batch=batch,
                progress=lambda done, total: staged(label, done, total),
            )

        return run(with_factory(settings, tenant, work))

    if as_json:
        report = go(None)
        out.print_json(json.dumps(report.to_json(), ensure_ascii=False))
        return
    with progress_bar(14) as bar:
        report = go(bar)
    table = Table(title=f"bill run {period}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("bills issued", f"{report.billed:,}")
    table.add_row("already billed (skipped)", f"{report.already_billed:,}")
    table.add_row("no reading", f"{report.no_reading:,}")
    table.add_row("no tariff", f"{report.no_tariff:,}")
    table.add_row("bad reading", f"{report.bad_reading:,}")
    table.add_row("kWh", f"{report.kwh:,}")
    table.add_row("amount (yuan)", f"{report.amount:,}")
    table.add_row("issued on / due on", f"{report.issued_on} / {report.due_on}")
    rate = report.billed / report.seconds if report.seconds else 0.0
    table.add_row("elapsed", f"{report.seconds:.1f} s ({rate:,.0f} bills/s)")
    out.print(table)
    if report.no_tariff_accounts:
        out.print(
            "no tariff applies to: "
            + ", ".join(report.no_tariff_accounts)
            + (" …" if report.no_tariff > 20 else "")
        )
    for reason in report.bad_reading_reasons:
        out.print(f"bad reading: {reason}")
    if report.no_tariff or report.bad_reading:
        raise typer.Exit(1)


@tariffs_app.command("validate")
def validate_cmd(
    file: Annotated[
        Path, typer.Argument(help="Tariff file (YAML or JSON; one document, a list or {tariffs: [...]}).")
    ],
) -> None:
    """Check a tariff file without touching the database; errors name the document and path."""
    from hotline.cli import fail, out
    from hotline.errors import HotlineError
    from hotline.utility import tariffs as T

    try:
        docs = T.read_documents(file.read_text("utf-8"), source=str(file))
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}", 2)
    except HotlineError as exc:
        fail(exc.detail)
    bad = 0
    for i, doc in enumerate(docs):
        spec, issues = T.check(doc)
        name = f"{file}: tariffs[{i}] ({doc.get('code', '?')})"
        if spec is None:
            bad += 1
            for issue in issues:
                out.print(f"[red]{name}[/] {issue}", highlight=False)
        else:
            out.print(
                f"{name}: ok ({spec.kind}, {spec.customer_class}, from {spec.effective_from})",
                highlight=False,
            )
    if bad:
        raise typer.Exit(1)


@tariffs_app.command("load")
def load_cmd(
    file: Annotated[
        Path | None, typer.Argument(help="Tariff file (default: the built-in illustrative set).")
    ] = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Store the tariffs of FILE (all or nothing; a version already stored and unchanged is kept;
    a changed version used by bills is refused)."""
    from hotline.cli import fail, in_tenant, out, settings_from
    from hotline.errors import HotlineError
    from hotline.utility import tariffs as T

    try:
        docs = T.read_documents(file.read_text("utf-8"), source=str(file)) if file else T.default_documents()
    except OSError as exc:
        fail(f"{file}: {exc.strerror or exc}", 2)
    except HotlineError as exc:
        fail(exc.detail)
    settings = settings_from(config, data_dir, database_url)

    async def work(s: Any, t: Any) -> int:
        from hotline import audit

        n = await T.load_default_tariffs(s, t.id, docs)
        audit.record(
            s,
            "tariff.load",
            tenant_id=t.id,
            actor="cli",
            resource_type="tariff",
            detail={"file": str(file) if file else T.DEFAULT_FILE, "documents": len(docs), "changed": n},
        )
        return n

    n = in_tenant(settings, tenant, work)
    out.print(f"{len(docs)} tariff version(s) in the file, {n} new or changed")
