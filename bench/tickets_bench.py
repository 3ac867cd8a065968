"""Work-order benchmark (issue 8): PostgreSQL with 10,000,000 orders — create rate through the
API on one core (target ≥ 500 orders/s) and filtered list queries (target p99 ≤ 50 ms).

What it does (a PostgreSQL server of Debian's binaries on loopback, with its durable defaults
unless ``--no-durable``; everything in a temporary directory unless ``--keep-db``):

1. **Load.** A fresh database, migrated, with the demo tenant (:func:`hotline.seed.seed_demo`:
   units, users, customers, the demo orders) plus 60 more supply stations under Nanjing and
   Suzhou (one handler each), ``orders / 50`` customers (bulk) and ``--orders`` generated orders
   (:func:`hotline.tickets.seed.generate`: COPY through :func:`hotline.store.bulk.bulk_insert`,
   two years of orders, states by age, history rows for the last ``--history-days`` days and
   every open order). The secondary indexes and foreign keys of ``tickets`` and
   ``ticket_history`` are dropped before the load and rebuilt after it (much faster than
   maintaining them row by row); then ``ANALYZE``. Reported: rows, rows/s, seconds per stage.
   With ``--keep-db`` the last order id of the load is kept (table ``bench_loaded``), and every
   later run first removes the orders earlier runs created through the API (with their history,
   steps, timers and timeline rows), so that each run measures the database as loaded.
2. **List.** ``tickets`` and its indexes are read into PostgreSQL's buffer cache first
   (``pg_prewarm``; ``--shared-buffers``, default 60 % of the machine's memory; ``--no-prewarm`` to
   measure the disk instead). ``--requests`` GET ``/api/v1/tickets`` per
   filter, one at a time (latency, not throughput): state + unit, type + a month's date range,
   overdue, one customer, full-text ``q`` (a Chinese word), ``handler=me`` (the handler
   ``liu.yang``), a deep keyset page (a cursor a year back), the subtree view of the
   supervisor ``wang.fang``, and the overdue board's "due soon" (open, not overdue, due within
   10-120 min). p50/p95/p99/max per filter; the plans of statements slower than
   ``--explain-ms`` (``auto_explain``).
3. **Create.** Deadline timers that come due within the hour are removed first (the server
   would fire that backlog while it is measured). ``hotline serve`` as ONE process (one uvicorn
   worker; SIP off) on that database, pinned to CPU 0 with ``taskset`` when available; a separate
   client process (pinned to CPU 1) logs in as the agent ``li.na`` and POSTs
   ``/api/v1/tickets`` with ``--concurrency`` connections for ``--seconds``: orders/s, latency
   p50/p95/p99, status counts, the server's CPU per order. PostgreSQL runs unpinned (it is
   another process on the same machine).

Output is JSON (progress on stderr).

Usage: python bench/tickets_bench.py [--orders N] [--quick] [--keep-db DIR] [--seconds S]
       [--concurrency C] [--requests N] [--history-days D] [--seed S]
(also ``hotline bench tickets …``). ``--quick`` = 200,000 orders. ``--keep-db DIR`` keeps the
PostgreSQL data directory in DIR (and reuses it on the next run: the load is skipped when the
database already holds the orders).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

PASSWORD = "Hotline-2026"
DB_NAME = "tickets_bench"
WORDS = ("停电", "抢修", "电费", "跳闸", "电压", "投诉", "过户", "光伏", "变压器", "窃电")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- PostgreSQL ---------------------------------------------------------------------------------


def memory_mb() -> int:
    """This machine's memory in MB (0 if unknown)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20)
    except (ValueError, OSError):
        return 0


def start_pg(keep: Path | None, durable: bool = True, shared_buffers_mb: int = 0) -> Any:
    """A PostgreSQL server (Debian's binaries, as ``tests/pg.py`` finds them) whose data lives in
    ``keep``, or in a temporary directory removed at :func:`stop_pg`.

    ``durable``: PostgreSQL's defaults (``fsync``, ``synchronous_commit``, ``full_page_writes``
    on), so that a created order is on disk when it is answered, as in production. Without it
    the three are off (as in the tests' throwaway servers): faster loads, nothing measured of the
    disk.

    ``shared_buffers_mb``: PostgreSQL's own buffer cache (0: its default, 128 MB). A database
    server for ten million orders holds them in memory; on this kind of machine the operating
    system's page cache is not a stand-in for that, as pages nobody has read for a minute are
    handed back to the host (a DAMON ``pageout`` scheme, see ``docs/operations.md``)."""
    from tests import pg

    if keep is None:
        keep = Path(tempfile.mkdtemp(prefix="hotline-tickets-pg-"))
    keep.mkdir(parents=True, exist_ok=True)
    datadir = keep / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(keep, "postgres", "postgres")
        os.chmod(keep, 0o700)
    server = pg.PgServer(pg._bindir(), str(datadir), pg.free_port(), as_user)
    if not datadir.exists():
        r = server._run(
            os.path.join(server.bindir, "initdb"), "-D", str(datadir), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        if r.returncode:
            raise RuntimeError(r.stderr)
    opts = f"-p {server.port} -k {keep} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if shared_buffers_mb > 0:
        opts += f" -c shared_buffers={shared_buffers_mb}MB"
    r = server._run(
        os.path.join(server.bindir, "pg_ctl"), "-D", str(datadir), "-o", opts, "-l", str(keep / "log"),
        "-w", "-t", "120", "start",
    )  # fmt: skip
    if r.returncode:
        raise RuntimeError(r.stderr + (keep / "log").read_text()[-800:])
    return server


def add_durable_option(p: argparse.ArgumentParser) -> None:
    """``--no-durable`` (``args.durable``), for the benchmarks that start :func:`start_pg`."""
    p.add_argument(
        "--no-durable",
        dest="durable",
        action="store_false",
        help="PostgreSQL with fsync, synchronous_commit and full_page_writes off (as in the tests)",
    )


def add_shared_buffers_option(p: argparse.ArgumentParser) -> None:
    """``--shared-buffers MB`` (``args.shared_buffers``; see :func:`shared_buffers`)."""
    p.add_argument(
        "--shared-buffers",
        type=int,
        default=None,
        metavar="MB",
        help="PostgreSQL's buffer cache (default: 60 %% of this machine's memory; 0: PostgreSQL's 128 MB)",
    )


def shared_buffers(mb: int | None) -> int:
    """The buffer cache for :func:`start_pg`: as given, or 60 % of this machine's memory, as a
    database server sized for its data would have."""
    return memory_mb() * 6 // 10 if mb is None else mb


def durability(durable: bool) -> str:
    """How :func:`start_pg` ran PostgreSQL, for a report."""
    return "durable (fsync, synchronous_commit on)" if durable else "fsync off"


def stop_pg(server: Any, keep: Path | None) -> None:
    if keep is None:
        server.stop()  # and removes its temporary directory
    else:
        server._run(os.path.join(server.bindir, "pg_ctl"), "-D", server.datadir, "-m", "fast", "-w", "stop")


async def ensure_database(server: Any) -> str:
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = create_async_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        have = await conn.exec_driver_sql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}'")  # noqa: S608
        if have.first() is None:
            await conn.exec_driver_sql(f'CREATE DATABASE "{DB_NAME}"')
    await admin.dispose()
    return str(server.url(DB_NAME))


# -- loading ------------------------------------------------------------------------------------


async def _constraints(conn: Any, table: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(foreign key and unique constraints as (name, definition), other indexes as (name, ddl))."""
    from sqlalchemy import text

    cons = (
        await conn.execute(
            text(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE "
                "conrelid = CAST(:t AS regclass) AND contype IN ('f', 'u') ORDER BY contype DESC, conname"
            ),
            {"t": table},
        )
    ).all()
    names = {c for c, _ in cons}
    idx = (
        await conn.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = :t AND indexname NOT IN "
                "(SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)) ORDER BY indexname"
            ),
            {"t": table},
        )
    ).all()
    return [(c, d) for c, d in cons], [(n, d) for n, d in idx if n not in names]


async def drop_indexes(engine: Any) -> dict[str, Any]:
    saved: dict[str, Any] = {}
    async with engine.begin() as conn:
        for table in ("ticket_history", "tickets"):
            cons, idx = await _constraints(conn, table)
            saved[table] = (cons, idx)
            for name, _ in cons:
                await conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
            for name, _ in idx:
                await conn.exec_driver_sql(f'DROP INDEX "{name}"')
    return saved


async def rebuild_indexes(engine: Any, saved: dict[str, Any]) -> dict[str, float]:
    took: dict[str, float] = {}
    async with engine.connect() as conn:
        await conn.exec_driver_sql("SET maintenance_work_mem = '1GB'")
        for table in ("tickets", "ticket_history"):
            cons, idx = saved[table]
            for name, ddl in idx:
                t = time.perf_counter()
                await conn.exec_driver_sql(ddl)
                await conn.commit()
                took[name] = round(time.perf_counter() - t, 1)
                log(f"index {name}: {took[name]} s")
            for name, definition in cons:
                t = time.perf_counter()
                await conn.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                await conn.commit()
                took[name] = round(time.perf_counter() - t, 1)
                log(f"constraint {name}: {took[name]} s")
    return took


async def add_bench_units(factory: Any, tid: int) -> list[str]:
    """60 more supply stations (one handler each, ``h.<code>``) under Nanjing and Suzhou."""
    from sqlalchemy import select

    from hotline.auth.passwords import hash_password
    from hotline.auth.policy import Role, Scope
    from hotline.org import service as org
    from hotline.store.db import transaction
    from hotline.store.models import RoleGrant, Unit, User

    pw_hash = hash_password(PASSWORD)

    codes = []
    async with transaction(factory) as s:
        units = {u.code: u for u in await s.scalars(select(Unit).where(Unit.tenant_id == tid))}
        plan = [("js.nj", f"js.nj.x{c}", 6) for c in range(8)] + [
            ("js.sz", f"js.sz.x{c}", 3) for c in range(4)
        ]
        for parent, county, stations in plan:
            if county in units:
                codes += [f"{county}.s{k}" for k in range(stations)]
                continue
            cu = await org.add_unit(s, tid, county, f"区县 {county}", kind="county", parent=units[parent])
            for k in range(stations):
                code = f"{county}.s{k}"
                st = await org.add_unit(s, tid, code, f"供电所 {code}", kind="station", parent=cu)
                # one password hash for all (hashing 60 passwords would take a minute)
                user = User(
                    tenant_id=tid, unit_id=st.id, username=f"h.{code}", display_name=f"处理人 {code}",
                    password_hash=pw_hash,
                )  # fmt: skip
                s.add(user)
                await s.flush()
                s.add(
                    RoleGrant(user_id=user.id, role=Role.HANDLER.value, scope=Scope.UNIT.value, unit_id=st.id)
                )
                codes.append(code)
    return codes


async def add_customers(engine: Any, factory: Any, tid: int, count: int) -> int:
    """``count`` synthetic customers (with their phones) spread over the leaf units."""
    from sqlalchemy import func, select

    from hotline.store.bulk import bulk_insert
    from hotline.store.models import Customer, CustomerPhone
    from hotline.tickets.seed import load_context

    async with factory() as s:
        ctx = await load_context(s, tid, max_customers=0)
        first = int(await s.scalar(select(func.max(Customer.id))) or 0) + 1
    rng = random.Random(7)
    for start in range(0, count, 20_000):
        crow, prow = [], []
        for i in range(start, min(start + 20_000, count)):
            cid = first + i
            phone = f"+8613{cid:09d}"
            crow.append(
                {
                    "id": cid, "tenant_id": tid, "unit_id": ctx.units[i % len(ctx.units)],
                    "account_no": f"33{cid:08d}", "name": "王李张刘陈杨"[i % 6] + "伟芳娜敏静丽"[rng.randrange(6)],
                    "customer_class": "urban_resident", "phone": phone,
                    "address": f"南京市某区某路 {i % 500 + 1} 号 {i % 30 + 1} 栋",
                }
            )  # fmt: skip
            prow.append({"tenant_id": tid, "customer_id": cid, "phone": phone, "kind": "mobile"})
        async with engine.begin() as conn:
            await bulk_insert(conn, Customer.__table__, crow)  # type: ignore[arg-type]
            await bulk_insert(conn, CustomerPhone.__table__, prow)  # type: ignore[arg-type]
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('customers', 'id'), (SELECT max(id) FROM customers))"
        )
    return count


async def load(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from sqlalchemy import func, select

    from hotline.seed import seed_demo
    from hotline.store import migrate
    from hotline.store.db import create_engine, session_factory, transaction
    from hotline.store.models import Tenant, Ticket, TicketHistory
    from hotline.tickets import seed as gen

    engine = create_engine(url)
    factory = session_factory(engine)
    out: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        await migrate.upgrade(engine)
        async with transaction(factory) as s:
            await seed_demo(s)
        async with factory() as s:
            tid = int(await s.scalar(select(Tenant.id).where(Tenant.slug == "demo")) or 0)
            have = int(await s.scalar(select(func.count()).select_from(Ticket)) or 0)
        async with engine.connect() as conn:
            loaded = (await conn.exec_driver_sql("SELECT to_regclass('bench_loaded') IS NOT NULL")).scalar()
        out["tenant_id"] = tid
        if loaded or have >= args.orders:
            # a loaded database (from which earlier runs' orders were removed), or one loaded
            # before the mark existed
            log(f"database already holds {have:,} orders: load skipped")
            out["skipped"] = True
            out["orders_in_db"] = have
            return out
        await add_bench_units(factory, tid)
        out["setup_seconds"] = round(time.perf_counter() - t0, 1)
        t = time.perf_counter()
        n_customers = max(1000, args.orders // 50)
        await add_customers(engine, factory, tid, n_customers)
        out["customers"] = n_customers
        out["customers_seconds"] = round(time.perf_counter() - t, 1)
        log(f"{n_customers:,} customers in {out['customers_seconds']} s")
        saved = await drop_indexes(engine)
        async with factory() as s:
            ctx = await gen.load_context(s, tid)
        t = time.perf_counter()
        last = [0.0]

        def progress(stage: str, done: int, total: int | None) -> None:
            if time.perf_counter() - last[0] > 15 or done == total:
                last[0] = time.perf_counter()
                el = last[0] - t
                log(f"orders {done:,}/{total:,} ({done / el if el else 0:,.0f}/s)")

        rep = await gen.generate(
            factory, tid, count=args.orders, seed=args.seed, history_days=args.history_days,
            batch=10_000, progress=progress, ctx=ctx,
        )  # fmt: skip
        copy_s = time.perf_counter() - t
        out["orders"] = rep.orders
        out["history_rows"] = rep.history
        out["history_days"] = args.history_days
        out["states"] = dict(sorted(rep.states.items(), key=lambda kv: -kv[1]))
        out["copy_seconds"] = round(copy_s, 1)
        out["orders_per_second"] = round(rep.orders / copy_s)
        out["rows_per_second"] = round((rep.orders + rep.history) / copy_s)
        t = time.perf_counter()
        out["index_seconds"] = await rebuild_indexes(engine, saved)
        out["index_total_seconds"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("VACUUM ANALYZE tickets")
            await conn.exec_driver_sql("VACUUM ANALYZE ticket_history")
            await conn.exec_driver_sql("ANALYZE")
        out["analyze_seconds"] = round(time.perf_counter() - t, 1)
        async with engine.connect() as conn:
            size = await conn.exec_driver_sql(
                "SELECT pg_total_relation_size('tickets'), pg_total_relation_size('ticket_history')"
            )
            a, b = size.one()
            out["tickets_mb"] = round(a / 1e6)
            out["history_mb"] = round(b / 1e6)
        async with factory() as s:
            out["orders_in_db"] = int(await s.scalar(select(func.count()).select_from(Ticket)) or 0)
            out["history_in_db"] = int(await s.scalar(select(func.count()).select_from(TicketHistory)) or 0)
        async with engine.begin() as conn:
            await conn.exec_driver_sql("DROP TABLE IF EXISTS bench_loaded")
            await conn.exec_driver_sql(
                "CREATE TABLE bench_loaded AS SELECT max(id) AS max_ticket_id FROM tickets"
            )
        out["load_total_seconds"] = round(time.perf_counter() - t0, 1)
        return out
    finally:
        await engine.dispose()


# -- the server ---------------------------------------------------------------------------------


def pinned(cpu: int) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > cpu:
        return ["taskset", "-c", str(cpu)]
    return []


class Serve:
    """``hotline serve`` as one process on the benchmark's database."""

    def __init__(self, url: str, data_dir: Path) -> None:
        from tests.pg import free_port

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "serve.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "HOTLINE_DATABASE_URL": url,
            "HOTLINE_SIP_ENABLED": "false",
            "HOTLINE_DATA_DIR": str(data_dir),
            "HOTLINE_HTTP_PORT": str(self.port),
            "HOTLINE_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
        }
        self.pin = pinned(0)
        self.proc = subprocess.Popen(
            [*self.pin, sys.executable, "-m", "hotline", "serve"],
            stdout=self.log_path.open("w"),
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(ROOT),
        )

    def wait(self, timeout: float = 120) -> None:
        import httpx

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/api/v1/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"server not healthy: {self.log_path.read_text()[-2000:]}")

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_profile(serve: Serve, tmp: Path, seconds: float) -> tuple[Any, Path] | None:
    """py-spy (if installed in the venv) sampling the server while it creates orders."""
    pyspy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if pyspy is None:
        return None
    out = tmp / "profile.txt"
    spy = subprocess.Popen(
        [pyspy, "record", "--pid", str(serve.proc.pid), "--rate", "100", "--format", "raw", "--threads",
         "--nonblocking", "--duration", str(int(seconds)), "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return spy, out


def finish_profile(spy: Any, out: Path) -> dict[str, Any]:
    from call_bench import profile_summary

    try:
        spy.wait(60)
    except subprocess.TimeoutExpired:
        spy.kill()
    if not out.exists():
        return {"error": "py-spy produced nothing"}
    summary: dict[str, Any] = profile_summary(out)
    return summary


def run_client(spec: dict[str, Any]) -> dict[str, Any]:
    """This script as the client process (pinned to CPU 1) running ``spec``; its JSON result."""
    r = subprocess.run(
        [*pinned(1), sys.executable, __file__, "--client", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if r.returncode:
        raise RuntimeError(f"client failed: {r.stderr[-3000:]}")
    sys.stderr.write(r.stderr)
    result: dict[str, Any] = json.loads(r.stdout)
    return result


# -- the client process -------------------------------------------------------------------------


def percentiles(samples: list[float]) -> dict[str, float]:
    xs = sorted(samples)
    n = len(xs)
    if not n:
        return {"n": 0}

    def at(q: float) -> float:
        return round(xs[min(n - 1, int(q * n))] * 1000, 2)

    return {
        "p50_ms": at(0.5),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(xs[-1] * 1000, 2),
        "n": n,
    }


async def login(client: Any, base: str, username: str) -> str:
    r = await client.post(f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


def create_body(rng: random.Random, i: int, customer_ids: list[int]) -> dict[str, Any]:
    """A realistic create request: a fault repair or a consultation about a known customer."""
    cid = customer_ids[rng.randrange(len(customer_ids))] if customer_ids else None
    phone = f"+86139{rng.randrange(10**8):08d}"
    if rng.random() < 0.6:
        return {
            "type": "fault_repair",
            "subject": "家中停电",
            "description": f"客户反映家中停电，邻居家有电，请尽快抢修 ({i})",
            "customer": cid,
            "channel": "phone",
            "contact_phone": phone,
            "fields": {
                "contact_phone": phone,
                "address": "南京市江宁区东山街道上坊村 12 号",
                "fault_kind": "no_power_single",
                "area": "urban",
                "description": "家中停电",
            },
        }
    return {
        "type": "consultation",
        "subject": "电费咨询",
        "description": f"客户咨询本月电费为何偏高 ({i})",
        "customer": cid,
        "channel": "phone",
        "contact_phone": phone,
        "fields": {"contact_phone": phone},
    }


class RawHTTP:
    """A minimal HTTP/1.1 keep-alive connection for the create load: the request is written as
    bytes and the response read by its Content-Length. httpx spends about 2.5 ms of CPU per
    request, which on this 2-core machine put the client (sharing a core with PostgreSQL) in the
    way of the server being measured; this costs a small fraction of that."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port = host, port
        self.head = (
            f"POST /api/v1/tickets HTTP/1.1\r\nhost: {host}:{port}\r\nauthorization: Bearer {token}\r\n"
            "content-type: application/json\r\n"
        ).encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: dict[str, Any]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        data = json.dumps(body, ensure_ascii=False).encode()
        self.writer.write(self.head + b"content-length: %d\r\n\r\n" % len(data) + data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
        payload = await self.reader.readexactly(length)
        if close:
            await self.close()
        return status, payload

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def client_create(spec: dict[str, Any]) -> dict[str, Any]:
    from urllib.parse import urlsplit

    import httpx

    base = spec["base"]
    async with httpx.AsyncClient(timeout=60) as client:
        token = await login(client, base, "li.na")
    url = urlsplit(base)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    rng = random.Random(spec["seed"])
    customer_ids: list[int] = spec["customer_ids"]
    statuses: dict[str, int] = {}
    times: list[float] = []
    errors: list[str] = []
    counter = [0]
    conns = [RawHTTP(host, port, token) for _ in range(spec["concurrency"])]
    # warm-up (connections, the server's caches): not counted
    for c in conns:
        code, text = await c.post(create_body(rng, 0, customer_ids))
        if code != 201:
            raise RuntimeError(f"create refused: {code} {text[:1000]!r}")
    end = time.perf_counter() + spec["seconds"]
    cpu0 = time.process_time()

    async def worker(conn: RawHTTP) -> None:
        while time.perf_counter() < end:
            counter[0] += 1
            body = create_body(rng, counter[0], customer_ids)
            t = time.perf_counter()
            try:
                status, text = await asyncio.wait_for(conn.post(body), 60)
                code = str(status)
                if status != 201 and len(errors) < 5:
                    errors.append(text[:300].decode(errors="replace"))
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                code = type(exc).__name__
                await conn.close()
            times.append(time.perf_counter() - t)
            statuses[code] = statuses.get(code, 0) + 1

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    wall = time.perf_counter() - t0
    client_cpu = time.process_time() - cpu0
    for c in conns:
        await c.close()
    ok = statuses.get("201", 0)
    return {
        "seconds": round(wall, 1),
        "concurrency": spec["concurrency"],
        "created": ok,
        "orders_per_second": round(ok / wall, 1),
        "statuses": statuses,
        "errors": errors,
        "client_cpu_ms_per_request": round(1000 * client_cpu / max(1, len(times)), 3),
        **percentiles(times),
    }


def list_params(name: str, rng: random.Random, spec: dict[str, Any]) -> dict[str, Any]:
    now = datetime.fromisoformat(spec["now"])
    if name == "state_unit":
        return {
            "state": rng.choice(["in_progress", "archived", "dispatched"]),
            "unit": rng.choice(spec["units"]),
        }
    if name == "type_month":
        start = now - timedelta(days=rng.randint(30, 700))
        return {
            "type": rng.choice(["complaint", "fault_repair", "consultation"]),
            "created_from": start.isoformat(),
            "created_to": (start + timedelta(days=30)).isoformat(),
        }
    if name == "overdue":
        return {"overdue": "true", "open": "true"}
    if name == "customer":
        return {"customer": rng.choice(spec["customer_ids"])}
    if name == "q":
        return {"q": rng.choice(WORDS)}
    if name == "handler_me":
        return {"handler": "me"}
    if name == "deep_page":
        before = now - timedelta(days=rng.randint(300, 700), seconds=rng.randint(0, 86400))
        return {"after": f"{before.isoformat()}_{rng.randint(1, 10**9)}"}
    if name == "supervisor_open":
        return {"open": "true", "state": "in_progress"}
    if name == "due_soon":  # the overdue board's second list: open orders due within the hour or so
        soon = datetime.now(UTC) + timedelta(minutes=rng.randint(10, 120))
        return {"open": "true", "overdue": "false", "due_before": soon.isoformat()}
    raise ValueError(name)


LIST_USERS = {"handler_me": "liu.yang", "supervisor_open": "wang.fang"}
FILTERS = (
    "state_unit",
    "type_month",
    "overdue",
    "customer",
    "q",
    "handler_me",
    "deep_page",
    "supervisor_open",
    "due_soon",
)


async def client_list(spec: dict[str, Any]) -> dict[str, Any]:
    import httpx

    base = spec["base"]
    out: dict[str, Any] = {}
    async with httpx.AsyncClient(timeout=60) as client:
        tokens = {u: await login(client, base, u) for u in {"admin", *LIST_USERS.values()}}
        for name in spec["filters"]:
            rng = random.Random(f"{spec['seed']}-{name}")
            headers = {"authorization": f"Bearer {tokens[LIST_USERS.get(name, 'admin')]}"}
            times: list[float] = []
            statuses: dict[str, int] = {}
            found = 0
            sample: dict[str, Any] = {}
            for k in range(spec["requests"] + 20):
                params = {**list_params(name, rng, spec), "limit": 50}
                t = time.perf_counter()
                r = await client.get(f"{base}/api/v1/tickets", params=params, headers=headers)
                dt = time.perf_counter() - t
                if k < 20:
                    continue  # warm-up
                times.append(dt)
                statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
                if r.status_code == 200:
                    found += len(r.json().get("items", []))
                elif not sample:
                    sample = {"params": params, "status": r.status_code, "body": r.text[:300]}
                if not sample.get("params"):
                    sample = {"params": params}
            out[name] = {
                **percentiles(times),
                "statuses": statuses,
                "avg_items": round(found / max(1, len(times)), 1),
                "example": sample,
                "target_met": bool(times) and percentiles(times)["p99_ms"] <= 50.0,
            }
            print(f"list {name}: {json.dumps(out[name], ensure_ascii=False)}", file=sys.stderr, flush=True)
    return out


# -- main ---------------------------------------------------------------------------------------


async def auto_explain(url: str, ms: int) -> None:
    """PostgreSQL logs the plan (EXPLAIN ANALYZE) of every statement slower than ``ms`` in new
    sessions of the benchmark database (the server's connections are opened after this)."""
    from sqlalchemy.ext.asyncio import create_async_engine

    eng = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with eng.connect() as conn:
        for setting, value in (
            ("session_preload_libraries", "auto_explain"),
            ("auto_explain.log_min_duration", f"{int(ms)}ms"),
            ("auto_explain.log_analyze", "on"),
            ("auto_explain.log_buffers", "on"),
        ):
            await conn.exec_driver_sql(f"ALTER DATABASE {DB_NAME} SET {setting} = '{value}'")
    await eng.dispose()


def slow_plans(pg_log: Path, mark: int, ms: int, keep: int = 2) -> dict[str, Any]:
    """Plans PostgreSQL logged after byte ``mark`` of its log: how many, and the slowest few."""
    if not pg_log.exists():
        return {"count": 0}
    with pg_log.open("rb") as fh:
        fh.seek(mark)
        text = fh.read().decode(errors="replace")
    plans: list[tuple[float, str]] = []
    for chunk in text.split("LOG:  duration: ")[1:]:
        head, _, rest = chunk.partition(" ms")
        try:
            took = float(head)
        except ValueError:
            continue
        if "plan:" not in rest[:40]:
            continue
        lines = [ln for ln in rest.splitlines()[1:] if ln.strip() and "LOG:" not in ln][:40]
        plans.append((took, "\n".join(lines)))
    plans.sort(key=lambda p: -p[0])
    return {
        "count": len(plans),
        "over_ms": ms,
        "slowest": [{"ms": round(t, 1), "plan": p} for t, p in plans[:keep]],
    }


async def forget_earlier_runs(url: str) -> dict[str, Any]:
    """With ``--keep-db``: remove the orders earlier runs created through the API, and what the
    create path wrote for them (history, steps, timers, attachments, the customer-timeline rows;
    the audit log is append-only and keeps its rows), so that every run lists and creates on the
    database as it was loaded.

    Left in place they skew the list measurements: hundreds of thousands of the newest orders,
    all open, all of two types and with the same two subjects (a full-text word they lack makes
    the newest-first scan step over all of them)."""
    from sqlalchemy import text

    from hotline.store.db import create_engine

    engine = create_engine(url)
    out: dict[str, Any] = {}
    try:
        async with engine.begin() as conn:
            have = await conn.exec_driver_sql("SELECT to_regclass('bench_loaded') IS NOT NULL")
            if not have.scalar():
                return {"note": "no bench_loaded table (a database loaded before it existed): kept"}
            last = int((await conn.exec_driver_sql("SELECT max_ticket_id FROM bench_loaded")).scalar() or 0)
            t = time.perf_counter()
            # Without the foreign keys' triggers (superuser): the orders' own references
            # (repeat_of, merged_into) have no index, since nothing looks orders up by them, and
            # checking them would scan the table once per removed order. The rows that reference
            # the orders are removed here instead, each table by one range of ticket ids; no order
            # of the load can reference a later one.
            await conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for key, sql in (
                ("history", "DELETE FROM ticket_history WHERE ticket_id > :last"),
                ("steps", "DELETE FROM ticket_steps WHERE ticket_id > :last"),
                ("timers", "DELETE FROM ticket_timers WHERE ticket_id > :last"),
                ("attachments", "DELETE FROM ticket_attachments WHERE ticket_id > :last"),
                (
                    "timeline",
                    "DELETE FROM contact_history WHERE kind = 'ticket' AND ref ~ '^[0-9]{1,18}$' "
                    "AND ref::bigint > :last",
                ),
                ("orders", "DELETE FROM tickets WHERE id > :last"),
            ):
                out[key] = (await conn.execute(text(sql), {"last": last})).rowcount
            out["seconds"] = round(time.perf_counter() - t, 1)
        if out["orders"]:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                for table in ("tickets", "ticket_history", "ticket_steps", "contact_history"):
                    await conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
            out["seconds_with_vacuum"] = round(time.perf_counter() - t, 1)
            log(f"removed {out['orders']:,} orders earlier runs created (above id {last:,})")
        out["loaded_max_id"] = last
    finally:
        await engine.dispose()
    return out


async def prewarm(url: str) -> dict[str, Any]:
    """Reads ``tickets`` and its indexes into PostgreSQL's buffer cache (``pg_prewarm``), so that
    the list latencies are those of a running server that holds its orders in memory, not of
    this machine's disk. (With ``--shared-buffers`` too small for them, part of what is read is
    evicted again: the report gives the buffer cache's size next to what was read.)"""
    from hotline.store.db import create_engine

    engine = create_engine(url)
    t = time.perf_counter()
    try:
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
            res = await conn.exec_driver_sql(
                "SELECT sum(pg_prewarm(c.oid::regclass, 'buffer')) FROM pg_class c WHERE c.oid = "
                "'tickets'::regclass OR c.oid IN (SELECT indexrelid FROM pg_index "
                "WHERE indrelid = 'tickets'::regclass)"
            )
            blocks = int(res.scalar() or 0)
    finally:
        await engine.dispose()
    out = {"mb": round(blocks * 8192 / 1e6), "seconds": round(time.perf_counter() - t, 1)}
    log(f"prewarm: read {out['mb']:,} MB of tickets and its indexes in {out['seconds']} s")
    return out


async def drop_stale_timers(url: str) -> int:
    """Deadline timers of orders an earlier run created (``--keep-db``) that come due within the
    hour: the server would fire that backlog while its create rate is measured. Removed."""
    from sqlalchemy import text

    from hotline.store.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            n = (
                await conn.execute(
                    text("DELETE FROM ticket_timers WHERE fire_at < now() + interval '1 hour'")
                )
            ).rowcount
    finally:
        await engine.dispose()
    if n:
        log(f"removed {n:,} deadline timers of earlier runs' orders coming due within the hour")
    return int(n or 0)


async def bench_inputs(url: str) -> dict[str, Any]:
    """Customers and unit codes for the requests."""
    from sqlalchemy import select

    from hotline.store.db import create_engine, session_factory
    from hotline.store.models import Customer, Tenant, Unit

    engine = create_engine(url)
    try:
        async with session_factory(engine)() as s:
            tid = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
            # customers the agent li.na (js.nj and below) may read
            nj = await s.scalar(select(Unit.path).where(Unit.tenant_id == tid, Unit.code == "js.nj"))
            cids = list(
                await s.scalars(
                    select(Customer.id)
                    .join(Unit, Unit.id == Customer.unit_id)
                    .where(Customer.tenant_id == tid, Unit.path.like(f"{nj}%"))
                    .order_by(Customer.id)
                    .limit(5000)
                )
            )
            units = list(
                await s.scalars(select(Unit.code).where(Unit.tenant_id == tid, Unit.kind == "station"))
            )
    finally:
        await engine.dispose()
    return {"customer_ids": cids, "units": units}


async def main() -> None:
    from call_bench import machine_info

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--orders", type=int, default=None, help="orders to load (default 10,000,000)")
    p.add_argument("--quick", action="store_true", help="200,000 orders")
    p.add_argument("--keep-db", type=Path, default=None, help="keep (and reuse) the PostgreSQL data here")
    p.add_argument("--seconds", type=float, default=30.0, help="how long to create orders")
    p.add_argument("--concurrency", type=int, default=24, help="concurrent create requests")
    p.add_argument("--requests", type=int, default=1000, help="list requests per filter")
    p.add_argument(
        "--history-days",
        type=float,
        default=30.0,
        help="history rows for orders of the last D days and open ones (-1: all)",
    )
    p.add_argument("--filters", default=",".join(FILTERS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-create", action="store_true")
    p.add_argument("--skip-list", action="store_true")
    p.add_argument("--profile", action="store_true", help="py-spy the server while it creates orders")
    p.add_argument(
        "--profile-out", type=Path, default=None, help="with --profile: keep py-spy's raw stacks here"
    )
    p.add_argument(
        "--explain-ms",
        type=int,
        default=40,
        help="log the plans of list statements slower than this (auto_explain; -1: off)",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        help="run this process, the server, the client and PostgreSQL at nice N (negative: ahead "
        "of other work on a shared machine; needs root)",
    )
    add_durable_option(p)
    add_shared_buffers_option(p)
    p.add_argument(
        "--no-prewarm",
        dest="prewarm",
        action="store_false",
        help="list on whatever of the database the page cache holds (the disk's latency)",
    )
    p.add_argument("--json", action="store_true", help="(output is always JSON)")
    args = p.parse_args()
    if args.orders is None:
        args.orders = 200_000 if args.quick else 10_000_000
    if args.history_days is not None and args.history_days < 0:
        args.history_days = None
    report: dict[str, Any] = {
        "benchmark": "tickets",
        "targets": {"create_orders_per_second": 500, "list_p99_ms": 50},
        "orders": args.orders,
        "machine": machine_info(sipp=False),
    }
    tmp = Path(tempfile.mkdtemp(prefix="hotline-tickets-bench-"))
    args.shared_buffers = shared_buffers(args.shared_buffers)
    server = start_pg(args.keep_db, durable=args.durable, shared_buffers_mb=args.shared_buffers)
    report["shared_buffers_mb"] = args.shared_buffers or 128
    report["postgresql"] = durability(args.durable)
    serve: Serve | None = None
    if args.nice:
        from screenpop_bench import boost

        boost(args.nice, server)  # this process (its children inherit it) and PostgreSQL
        report["nice"] = args.nice
    try:
        url = await ensure_database(server)
        if args.keep_db is not None:
            report["earlier_runs_removed"] = await forget_earlier_runs(url)
        log(f"PostgreSQL on port {server.port}; loading {args.orders:,} orders")
        report["load"] = await load(url, args)
        log(f"load: {json.dumps(report['load'], ensure_ascii=False)}")
        inputs = await bench_inputs(url)
        report["stale_timers_removed"] = await drop_stale_timers(url)
        serve = Serve(url, tmp / "serve")
        serve.wait()
        report["server"] = {"processes": 1, "pinned": " ".join(serve.pin) or "no (taskset missing)"}
        spec = {"base": serve.base, "seed": args.seed, "now": datetime.now(UTC).isoformat(), **inputs}
        if not args.skip_list:
            if args.prewarm:
                report["prewarm"] = await prewarm(url)
            log("list queries")
            if args.explain_ms >= 0:
                await auto_explain(url, args.explain_ms)
            report["list"] = {}
            pg_log = Path(server.datadir).parent / "log"
            for name in args.filters.split(","):
                mark = pg_log.stat().st_size if pg_log.exists() else 0
                res = run_client({**spec, "mode": "list", "requests": args.requests, "filters": [name]})
                report["list"].update(res)
                if args.explain_ms >= 0:
                    res[name]["slow_plans"] = slow_plans(pg_log, mark, args.explain_ms)
            report["list_loadavg_after"] = list(os.getloadavg())
        if not args.skip_create:
            log(f"creating orders for {args.seconds:.0f} s with {args.concurrency} connections")
            spy = start_profile(serve, tmp, args.seconds + 3) if args.profile else None
            cpu0 = serve.cpu_seconds()
            res = run_client(
                {**spec, "mode": "create", "seconds": args.seconds, "concurrency": args.concurrency}
            )
            res["server_cpu_seconds"] = round(serve.cpu_seconds() - cpu0, 1)
            res["server_cpu_ms_per_order"] = round(
                1000 * res["server_cpu_seconds"] / max(1, res["created"]), 2
            )
            if spy is not None:
                report["create_profile"] = finish_profile(*spy)
                if args.profile_out is not None and spy[1].exists():
                    shutil.copyfile(spy[1], args.profile_out)
            res["target_met"] = res["orders_per_second"] >= 500
            report["create"] = res
            log(f"create: {json.dumps(res, ensure_ascii=False)}")
    finally:
        if serve is not None:
            serve.stop()
            report["server_log_tail"] = (
                serve.log_path.read_text(errors="replace")[-1500:] if serve.log_path.exists() else ""
            )
        stop_pg(server, args.keep_db)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, ensure_ascii=False, indent=2))


def client_main(raw: str) -> None:
    spec = json.loads(raw)
    with contextlib.suppress(ImportError):  # the client's own cost, kept small
        import uvloop

        uvloop.install()
    result = asyncio.run(client_create(spec) if spec["mode"] == "create" else client_list(spec))
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--client":
        client_main(sys.argv[2])
    else:
        asyncio.run(main())
