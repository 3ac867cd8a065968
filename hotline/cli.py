"""The `hotline` command: run the server and operate an installation.

Every command takes ``--config``, ``--data-dir`` and ``--database-url`` so it can be pointed at a
running installation's data. Exit codes: 0 success; 1 the request was refused (not found,
already exists, invalid data); 2 bad usage or configuration.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from hotline.config import ConfigError, Settings, load_settings
from hotline.errors import HotlineError

T = TypeVar("T")

app = typer.Typer(
    no_args_is_help=True, help="Hotline customer service center.", pretty_exceptions_enable=False
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
tenant_app = typer.Typer(no_args_is_help=True, help="Tenants (virtual call centers).")
unit_app = typer.Typer(no_args_is_help=True, help="Organisation units.")
calendar_app = typer.Typer(no_args_is_help=True, help="Business calendars.")
user_app = typer.Typer(no_args_is_help=True, help="Users and roles.")
seed_app = typer.Typer(no_args_is_help=True, help="Demo and test data.")
audit_app = typer.Typer(no_args_is_help=True, help="The audit log.")
extension_app = typer.Typer(no_args_is_help=True, help="Phone extensions (SIP accounts).")
for _name, _sub in (
    ("db", db_app),
    ("tenant", tenant_app),
    ("unit", unit_app),
    ("calendar", calendar_app),
    ("user", user_app),
    ("seed", seed_app),
    ("audit", audit_app),
    ("extension", extension_app),
):
    app.add_typer(_sub, name=_name)


def _bench_script(name: str) -> Callable[[typer.Context], None]:
    """A command running bench/<name>.py of this source checkout with the given options."""

    def command(ctx: typer.Context) -> None:
        import subprocess

        script = Path(__file__).resolve().parents[1] / "bench" / f"{name}.py"
        if not script.exists():
            fail(f"{script} is missing: the benchmark runs from a source checkout")
        raise typer.Exit(subprocess.run([sys.executable, str(script), *ctx.args], check=False).returncode)

    return command


_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def _mount_engines() -> None:
    from hotline.acd.cli import app as acd_bench_app
    from hotline.crm.cli import import_app
    from hotline.cti.cli import agent_app
    from hotline.ivr.cli import ivr_app
    from hotline.sim.cli import simulate
    from hotline.tickets.cli import seed_tickets_cmd, tickets_app
    from hotline.utility.cli import billing_app
    from hotline.utility.seedcli import seed_utility_cmd
    from hotline.wfm.cli import app as wfm_app

    app.command("simulate", help="Simulate a contact center day on the real ACD engine (scenario TOML).")(
        simulate
    )

    app.add_typer(wfm_app, name="wfm", help="Staffing mathematics: Erlang B, C and A.")
    app.add_typer(ivr_app, name="ivr", help="IVR flows: validate, simulate, demo flows.")
    app.add_typer(agent_app, name="agent", help="Agents on phones (acts on a running server).")
    bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks of the engines (print JSON with --json).")
    bench_app.add_typer(acd_bench_app, name="acd")
    bench_app.command(
        "events",
        context_settings=_PASS_THROUGH,
        help="Live event fan-out: 2,000 WebSocket desktops, 200 events/s, server on one core "
        "(bench/events_bench.py; its options, e.g. --quick, --json; --help for all).",
    )(_bench_script("events_bench"))
    bench_app.command(
        "screenpop",
        context_settings=_PASS_THROUGH,
        help="Screen-pop lookup by caller number over 1,000,000 customers on SQLite and PostgreSQL "
        "(bench/screenpop_bench.py; --help for its options).",
    )(_bench_script("screenpop_bench"))
    bench_app.command(
        "billrun",
        context_settings=_PASS_THROUGH,
        help="Monthly bill run for 1,000,000 accounts on PostgreSQL "
        "(bench/billrun_bench.py; --help for its options).",
    )(_bench_script("billrun_bench"))
    bench_app.command(
        "tickets",
        context_settings=_PASS_THROUGH,
        help="Work orders on PostgreSQL with 10,000,000 orders: create rate through the API, "
        "filtered list p99 (bench/tickets_bench.py; --help for its options).",
    )(_bench_script("tickets_bench"))
    bench_app.command(
        "ticket-scheduler",
        context_settings=_PASS_THROUGH,
        help="Deadline scheduler with 1,000,000 open orders: due → escalation lag "
        "(bench/ticket_scheduler_bench.py; --help for its options).",
    )(_bench_script("ticket_scheduler_bench"))
    app.add_typer(bench_app, name="bench")
    app.add_typer(tickets_app, name="tickets")
    app.add_typer(billing_app, name="billing")
    app.add_typer(import_app, name="import")
    seed_app.command("utility", help="Utility demo data: customers, readings, bills, payments, outages.")(
        seed_utility_cmd
    )
    seed_app.command("tickets", help="Work-order demo data: orders in every state over the demo customers.")(
        seed_tickets_cmd
    )


_mount_engines()

out = Console(soft_wrap=True)
err = Console(stderr=True)

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


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def settings_from(
    config: Path | None, data_dir: Path | None, database_url: str | None, **flags: Any
) -> Settings:
    try:
        return load_settings(config, overrides={"data_dir": data_dir, "database_url": database_url, **flags})
    except ConfigError as exc:
        fail(str(exc), 2)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; turn expected errors into a message and an exit code."""
    try:
        return asyncio.run(coro)
    except HotlineError as exc:
        field = f" ({exc.field})" if exc.field else ""
        fail(f"{exc.detail}{field}", 1)
    except OSError as exc:
        fail(f"cannot reach the database or data directory: {exc}", 2)


async def with_db(
    settings: Settings, work: Callable[[Any], Awaitable[T]], *, migrate_first: bool = True
) -> T:
    """Run ``work(session)`` in one transaction (all or nothing) after bringing the schema up to date."""
    from hotline.store import migrate
    from hotline.store.db import create_engine, session_factory, transaction

    engine = create_engine(settings.database_url, echo=settings.database.echo)
    try:
        if migrate_first:
            await migrate.upgrade(engine)
        async with transaction(session_factory(engine)) as s:
            return await work(s)
    finally:
        await engine.dispose()


async def with_factory(settings: Settings, tenant: str | None, work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run ``work(session_factory, tenant)`` after bringing the schema up to date: for work that
    spans many transactions (imports, bill runs, generators), unlike :func:`with_db`."""
    from hotline.org.service import resolve_tenant
    from hotline.store import migrate
    from hotline.store.db import create_engine, session_factory

    engine = create_engine(settings.database_url, echo=settings.database.echo)
    try:
        await migrate.upgrade(engine)
        factory = session_factory(engine)
        async with factory() as s:
            t = await resolve_tenant(s, tenant)
        return await work(factory, t)
    finally:
        await engine.dispose()


def progress_bar(label_width: int = 0, *, transient: bool = False) -> Any:
    """A Rich progress bar (label, bar, done/total, elapsed) for long CLI work; ``transient``
    removes it when done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    label = f"{{task.description:<{label_width}}}" if label_width else "{task.description}"
    return Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=out,
        transient=transient,
    )


def stage_progress(bar: Any, labels: dict[str, str] | None = None) -> Callable[[str, int, int | None], None]:
    """A ``progress(stage, done, total)`` callback showing one task of ``bar`` per stage (``labels``
    renames stages); a no-op without a bar."""
    tasks: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int | None) -> None:
        if bar is None:
            return
        if stage not in tasks:
            tasks[stage] = bar.add_task((labels or {}).get(stage, stage), total=total)
        bar.update(tasks[stage], completed=done, total=total)

    return progress


def in_tenant(settings: Settings, tenant: str | None, work: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run ``work(session, tenant)`` in one transaction, with the named (or only) tenant."""

    async def go(s: Any) -> T:
        from hotline.org.service import resolve_tenant

        return await work(s, await resolve_tenant(s, tenant))

    return run(with_db(settings, go))


def read_password_stdin() -> str:
    data = sys.stdin.readline()
    password = data.rstrip("\r\n")
    if not password:
        fail("no password on standard input", 2)
    return password


# -- serve ------------------------------------------------------------------------------------


@app.command()
def serve(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
    http_host: Annotated[str | None, typer.Option("--http-host", help="HTTP bind address.")] = None,
    http_port: Annotated[int | None, typer.Option("--http-port", help="HTTP port.")] = None,
    sip_host: Annotated[str | None, typer.Option("--sip-host", help="SIP bind address.")] = None,
    sip_port: Annotated[int | None, typer.Option("--sip-port", help="SIP port.")] = None,
    demo: Annotated[
        bool, typer.Option("--demo", help="Create the demo tenant and print its logins.")
    ] = False,
) -> None:
    """Run Hotline (HTTP API and pages). Migrations run first. SIGTERM or Ctrl-C stops it cleanly."""
    import uvicorn

    from hotline import logs
    from hotline.web.app import create_app
    from hotline.web.server import GracefulServer

    settings = settings_from(
        config,
        data_dir,
        database_url,
        http_host=http_host,
        http_port=http_port,
        sip_host=sip_host,
        sip_port=sip_port,
    )
    logs.configure(settings.log.level, settings.log.json_format)
    problem = ports_in_use(settings)
    if problem:
        fail(problem, 2)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if demo:
        from hotline.seed import seed_demo

        info = run(with_db(settings, seed_demo))
        print_banner(settings, info)
    else:
        print_banner(settings, None)
    loop = "uvloop" if sys.platform != "win32" else "asyncio"
    server = GracefulServer(
        uvicorn.Config(
            create_app(settings),
            host=settings.http.host,
            port=settings.http.port,
            loop=loop,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=10,
            # the event stream sends small JSON frames to thousands of desktops: compressing
            # every frame for every client would cost more CPU than the bandwidth it saves
            ws_per_message_deflate=False,
        )
    )
    server.run()
    if not server.started:
        fail(f"could not start the HTTP server on {settings.http.host}:{settings.http.port}", 2)


def ports_in_use(settings: Settings) -> str | None:
    """Say which configured port another process holds (checked before anything starts)."""
    import socket

    wanted = [("HTTP", socket.SOCK_STREAM, settings.http.host, settings.http.port, "--http-port")]
    if settings.sip.enabled:
        wanted += [
            ("SIP (UDP)", socket.SOCK_DGRAM, settings.sip.host, settings.sip.port, "--sip-port"),
            ("SIP (TCP)", socket.SOCK_STREAM, settings.sip.host, settings.sip.port, "--sip-port"),
        ]
    for what, kind, host, port, flag in wanted:
        if port == 0:
            continue
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, kind) as sock:
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError as exc:
                return f"{what} port {host}:{port} is not available ({exc.strerror}); stop the other program or choose another with {flag}"
    return None


def print_banner(settings: Settings, info: Any) -> None:
    base = settings.base_url
    out.print(f"[bold]Hotline[/] — data in {settings.data_dir.resolve()}")
    out.print(f"  Web:      {base}/  (sign in)")
    out.print(f"  Apps:     agent desk {base}/desk    wallboard {base}/wallboard    admin {base}/admin")
    out.print(f"  API docs: {base}/api/docs    health: {base}/api/v1/health    metrics: {base}/metrics")
    if settings.sip.enabled:
        out.print(
            f"  SIP:      sip:{settings.sip.host}:{settings.sip.port} (UDP and TCP)  "
            "echo test: dial *43, record test: *44"
        )
    else:
        out.print("  SIP:      disabled ([sip] enabled = false)")
    if info is not None:
        out.print(
            f"  Demo tenant [bold]{info.tenant}[/] — every demo user's password: [bold]{info.password}[/]"
        )
        for username, display, role in info.users:
            out.print(f"    {username:<10} {display:<6} {role}")
        numbers = ", ".join(f"{n} ({owner})" for n, owner in info.extensions)
        out.print(f"  Demo phone extensions {numbers}; SIP password: [bold]{info.sip_password}[/]")
        if settings.sip.enabled:
            out.print(
                "  Service line: dial [bold]95598[/] (zh-CN IVR; 955981 English) — 1 bill, 2 fault, "
                "3 complaint, 4 consultation, 0 agent"
            )
            out.print(
                f"  Take calls: hotline agent login --server {base} -u li.na -e 1001 --ready "
                "(agents: li.na, zhang.wei, wang.fang)"
            )


# -- db ---------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbUrlOpt = None) -> None:
    """Bring the database schema up to the newest version."""
    from hotline.store import migrate
    from hotline.store.db import create_engine

    settings = settings_from(config, data_dir, database_url)

    async def go() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            await migrate.upgrade(engine)
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    out.print(f"database at revision {run(go())}")


@db_app.command("current")
def db_current(config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbUrlOpt = None) -> None:
    """Print the schema revision of the database (empty database: none)."""
    from hotline.store import migrate
    from hotline.store.db import create_engine

    settings = settings_from(config, data_dir, database_url)

    async def go() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            return await migrate.current_revision(engine)
        finally:
            await engine.dispose()

    out.print(f"{run(go())} (newest: {migrate.head_revision()})")


# -- tenants ----------------------------------------------------------------------------------


@tenant_app.command("add")
def tenant_add(
    slug: Annotated[str, typer.Argument(help="Short name, e.g. js95598.")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Create a tenant."""
    from hotline.org.service import add_tenant

    settings = settings_from(config, data_dir, database_url)
    tenant = run(with_db(settings, lambda s: add_tenant(s, slug, name)))
    out.print(f"tenant {tenant.slug} created (id {tenant.id})")


@tenant_app.command("list")
def tenant_list(config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbUrlOpt = None) -> None:
    """List tenants."""
    from hotline.org.service import list_tenants

    settings = settings_from(config, data_dir, database_url)
    rows = run(with_db(settings, list_tenants))
    table = Table("id", "slug", "name", "active")
    for t in rows:
        table.add_row(str(t.id), t.slug, t.name, "yes" if t.active else "no")
    out.print(table)


# -- units ------------------------------------------------------------------------------------


@unit_app.command("add")
def unit_add(
    code: Annotated[str, typer.Argument(help="Unit code, unique in the tenant, e.g. js.nj.")],
    name: Annotated[str, typer.Option("--name", help="Display name.")],
    parent: Annotated[str | None, typer.Option("--parent", help="Parent unit code (none: the root).")] = None,
    kind: Annotated[str, typer.Option("--kind", help="center, province, city, county, station, …")] = "unit",
    calendar: Annotated[str | None, typer.Option("--calendar", help="Calendar name (none: inherit).")] = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Create an organisation unit under a parent."""
    from hotline.org import service as org

    settings = settings_from(config, data_dir, database_url)

    async def work(s: Any, t: Any) -> Any:
        p = await org.get_unit(s, t.id, parent) if parent else None
        cal = await org.get_calendar(s, t.id, calendar) if calendar else None
        return await org.add_unit(s, t.id, code, name, parent=p, kind=kind, calendar=cal)

    unit = in_tenant(settings, tenant, work)
    out.print(f"unit {unit.code} created (id {unit.id}, path {unit.path})")


@unit_app.command("list")
def unit_list(
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Show the unit tree."""
    from hotline.org import service as org

    settings = settings_from(config, data_dir, database_url)

    async def work(s: Any, t: Any) -> Any:
        return await org.list_units(s, t.id)

    table = Table("id", "code", "name", "kind", "calendar id")
    for u in in_tenant(settings, tenant, work):
        table.add_row(str(u.id), "  " * u.depth + u.code, u.name, u.kind, str(u.calendar_id or "inherit"))
    out.print(table)


# -- calendars --------------------------------------------------------------------------------


@calendar_app.command("add")
def calendar_add(
    name: Annotated[str, typer.Argument(help="Calendar name.")],
    file: Annotated[
        Path, typer.Option("--file", "-f", help="TOML file with timezone, [week], holidays, workdays.")
    ],
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Create a business calendar from a TOML file (see docs/operations.md for the format)."""
    import tomllib

    from hotline.org import service as org

    settings = settings_from(config, data_dir, database_url)
    try:
        spec = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        fail(f"{file}: {exc}", 2)
    unknown = set(spec) - {"timezone", "week", "holidays", "workdays"}
    if unknown:
        fail(f"{file}: unknown keys: {', '.join(sorted(unknown))}", 2)

    async def work(s: Any, t: Any) -> Any:
        return await org.add_calendar(
            s,
            t.id,
            name,
            timezone=spec.get("timezone", "Asia/Shanghai"),
            week=spec.get("week", {}),
            holidays=spec.get("holidays", []),
            workdays=spec.get("workdays", []),
        )

    cal = in_tenant(settings, tenant, work)
    out.print(f"calendar {cal.name} created (id {cal.id})")


@calendar_app.command("list")
def calendar_list(
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """List calendars."""
    from hotline.org import service as org

    settings = settings_from(config, data_dir, database_url)

    async def work(s: Any, t: Any) -> Any:
        return await org.list_calendars(s, t.id)

    table = Table("id", "name", "timezone", "working weekdays", "holidays", "make-up days")
    for c in in_tenant(settings, tenant, work):
        table.add_row(
            str(c.id), c.name, c.timezone, " ".join(c.week), str(len(c.holidays)), str(len(c.workdays))
        )
    out.print(table)


# -- users ------------------------------------------------------------------------------------


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Login name, unique in the tenant.")],
    role: Annotated[
        list[str],
        typer.Option("--role", "-r", help="role[:scope[@unit]], repeatable; e.g. supervisor:subtree."),
    ],
    unit: Annotated[str, typer.Option("--unit", "-u", help="Unit code the user belongs to.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    display_name: Annotated[str, typer.Option("--display-name", help="Full name, e.g. 张伟.")] = "",
    email: Annotated[str, typer.Option("--email")] = "",
    phone: Annotated[str, typer.Option("--phone")] = "",
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Create a user with one or more roles."""
    from hotline.auth.users import GrantSpec, add_user
    from hotline.org import service as org

    settings = settings_from(config, data_dir, database_url)
    if not password_stdin:
        fail("give the password on standard input with --password-stdin (never on the command line)", 2)
    try:
        grants = [GrantSpec.parse(r) for r in role]
    except HotlineError as exc:
        fail(exc.detail, 2)
    password = read_password_stdin()

    async def work(s: Any, t: Any) -> Any:
        u = await org.get_unit(s, t.id, unit)
        return await add_user(
            s,
            t.id,
            username,
            unit=u,
            password=password,
            grants=grants,
            display_name=display_name,
            email=email,
            phone=phone,
            password_min_length=settings.security.password_min_length,
        )

    user = in_tenant(settings, tenant, work)
    out.print(f"user {user.username} created (id {user.id}; roles {', '.join(g.role for g in user.grants)})")


@user_app.command("list")
def user_list(
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """List users with their roles and scopes."""
    from hotline.auth.users import list_users
    from hotline.org import service as org

    settings = settings_from(config, data_dir, database_url)

    async def work(s: Any, t: Any) -> Any:
        units = {u.id: u.code for u in await org.list_units(s, t.id)}
        return units, await list_users(s, t.id)

    units, users = in_tenant(settings, tenant, work)
    table = Table("id", "user", "name", "unit", "roles", "status")
    for u in users:
        roles = ", ".join(f"{g.role}:{g.scope}@{units.get(g.unit_id, g.unit_id)}" for g in u.grants)
        status = "disabled" if not u.active else ("locked" if u.locked_until else "active")
        table.add_row(str(u.id), u.username, u.display_name, units.get(u.unit_id, "?"), roles, status)
    out.print(table)


@user_app.command("passwd")
def user_passwd(
    username: Annotated[str, typer.Argument()],
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Set a user's password (read from standard input) and lift any lockout."""
    from hotline.auth.users import get_user, set_password

    settings = settings_from(config, data_dir, database_url)
    password = read_password_stdin()

    async def work(s: Any, t: Any) -> None:
        user = await get_user(s, t.id, username)
        await set_password(s, user, password, min_length=settings.security.password_min_length)

    in_tenant(settings, tenant, work)
    out.print(f"password of {username} changed")


# -- extensions -------------------------------------------------------------------------------


@extension_app.command("add")
def extension_add(
    number: Annotated[str, typer.Argument(help="Extension number, e.g. 1001.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the SIP password from standard input.")
    ] = False,
    unit: Annotated[
        str | None, typer.Option("--unit", "-u", help="Unit code (default: the root unit).")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Display name, e.g. 南京 1 号席.")] = "",
    user: Annotated[str | None, typer.Option("--user", help="User name of the person at this phone.")] = None,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Create a phone extension that SIP phones register as (digest realm: the tenant slug)."""
    from hotline.auth.users import get_user
    from hotline.org import service as org
    from hotline.sip.extensions import add_extension

    settings = settings_from(config, data_dir, database_url)
    if not password_stdin:
        fail("give the SIP password on standard input with --password-stdin (never on the command line)", 2)
    password = read_password_stdin()

    async def work(s: Any, t: Any) -> Any:
        if unit:
            u = await org.get_unit(s, t.id, unit)
        else:
            units = await org.list_units(s, t.id)
            if not units:
                fail("the tenant has no units yet; create one with `hotline unit add`", 1)
            u = units[0]
        owner = (await get_user(s, t.id, user)).id if user else None
        ext = await add_extension(s, t, number, password, unit=u, display_name=name, user_id=owner)
        return t, ext

    t, ext = in_tenant(settings, tenant, work)
    out.print(
        f"extension {ext.number} created (register as sip:{ext.number}@{settings.sip.host}, realm {t.slug})"
    )


@extension_app.command("list")
def extension_list(
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """List extensions."""
    from hotline.sip.extensions import list_extensions

    settings = settings_from(config, data_dir, database_url)

    async def work(s: Any, t: Any) -> Any:
        return await list_extensions(s, t.id)

    table = Table("id", "number", "name", "unit id", "user id", "enabled")
    for e in in_tenant(settings, tenant, work):
        table.add_row(
            str(e.id),
            e.number,
            e.display_name,
            str(e.unit_id),
            str(e.user_id or ""),
            "yes" if e.enabled else "no",
        )
    out.print(table)


@extension_app.command("passwd")
def extension_passwd(
    number: Annotated[str, typer.Argument()],
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Set an extension's SIP password (read from standard input)."""
    from hotline.sip.extensions import get_extension, set_extension_password

    settings = settings_from(config, data_dir, database_url)
    password = read_password_stdin()

    async def work(s: Any, t: Any) -> None:
        await set_extension_password(s, t, await get_extension(s, t.id, number), password)

    in_tenant(settings, tenant, work)
    out.print(f"SIP password of extension {number} changed")


# -- seed -------------------------------------------------------------------------------------


@seed_app.command("demo")
def seed_demo_cmd(
    config: ConfigOpt = None, data_dir: DataDirOpt = None, database_url: DbUrlOpt = None
) -> None:
    """Create the "95598 demo" tenant: unit tree, calendars, a user per role, customers."""
    from hotline.seed import seed_demo

    settings = settings_from(config, data_dir, database_url)
    info = run(with_db(settings, seed_demo))
    verb = "created" if info.created else "already present"
    out.print(f"demo tenant {info.tenant} {verb}; password of every demo user: {info.password}")
    for username, display, role in info.users:
        out.print(f"  {username:<10} {display:<6} {role}")


# -- audit ------------------------------------------------------------------------------------


@audit_app.command("list")
def audit_list(
    action: Annotated[str | None, typer.Option("--action", help="e.g. customer.read")] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="user name")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
    tenant: TenantOpt = None,
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: DbUrlOpt = None,
) -> None:
    """Show the newest audit entries of a tenant."""
    from hotline import audit
    from hotline.auth.policy import DataScope

    settings = settings_from(config, data_dir, database_url)
    everything = DataScope(True, frozenset(), frozenset(), None)

    async def work(s: Any, t: Any) -> Any:
        return await audit.query(s, t.id, everything, action=action, actor=actor, limit=limit)

    table = Table("id", "time (UTC)", "actor", "ip", "action", "resource", "outcome")
    for e in in_tenant(settings, tenant, work):
        table.add_row(
            str(e.id),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.ip,
            e.action,
            f"{e.resource_type} {e.resource_id}".strip(),
            e.outcome,
        )
    out.print(table)


@app.command()
def version() -> None:
    """Print the version."""
    from hotline import __version__

    out.print(__version__)


def main() -> None:
    app()
