"""Bill-run benchmark (issue 7): bills for 1,000,000 accounts for one month on PostgreSQL
(target: ≤ 5 minutes on one core).

What it does (everything in a temporary directory; it stops what it started):

1. A throwaway PostgreSQL server as in ``tests/pg.py`` (Debian's binaries, loopback, fsync off)
   and a fresh database, migrated; one tenant with a unit tree (province → 10 cities → 6
   supply stations each). ``--databases sqlite`` (or ``sqlite,postgresql``) also runs on a
   SQLite file.
2. ``--customers`` customers (default 1,000,000; ``--quick`` 20,000) with one month of readings
   from the demo generator :func:`hotline.utility.seed.generate` (``months=1, bills=False,
   payments=False, outages=False``): realistic class shares, TOU registers for TOU meters,
   maximum demand for large industry; the default tariffs
   (:func:`hotline.utility.tariffs.load_default_tariffs`); ``ANALYZE``. Load time reported.
3. :func:`hotline.utility.billrun.run_bills` for that month, timed, this process pinned to one
   core (``--client-cpu``, default 0). Reported: bills, seconds, bills/s, the client's CPU
   seconds (this process) and the server's (every PostgreSQL process: postmaster children,
   utime+stime from /proc over the run), the run's report (skipped, no tariff, amounts), and
   ``machine`` as the other benchmarks.
4. ``--rerun``: the run again on the billed month (every customer skipped: the cost of an
   idempotent restart).

Usage: python bench/billrun_bench.py [--quick] [--customers N] [--databases postgresql]
       [--batch N] [--seed S] [--json]
(also ``hotline bench billrun …``). Output is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from call_bench import machine_info  # noqa: E402

from hotline.org import service as org  # noqa: E402
from hotline.store import migrate  # noqa: E402
from hotline.store.db import create_engine, session_factory, transaction  # noqa: E402
from hotline.utility import billrun  # noqa: E402
from hotline.utility import tariffs as T  # noqa: E402
from hotline.utility.seed import generate  # noqa: E402

PERIOD = "2026-10"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _server_cpu(postmaster: int | None) -> float:
    """utime+stime of the postmaster and all its children (the backends, writer, WAL, …)."""
    if postmaster is None:
        return 0.0
    total = _cpu_of(postmaster)
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == postmaster:
            total += (int(stat[11]) + int(stat[12])) / CLK_TCK
    return total


def _client_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def setup(url: str, customers: int, seed: int, batch: int) -> tuple[Any, int, dict[str, Any]]:
    engine = create_engine(url)
    await migrate.upgrade(engine)
    factory = session_factory(engine)
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "bench", "Bill-run bench")
        root = await org.add_unit(s, t.id, "js", "江苏省电力公司", kind="province")
        for c in range(10):
            city = await org.add_unit(s, t.id, f"js.c{c}", f"城市{c}供电公司", parent=root, kind="city")
            for k in range(6):
                await org.add_unit(s, t.id, f"js.c{c}.s{k}", f"供电所{c}-{k}", parent=city, kind="station")
        await T.load_default_tariffs(s, t.id)
        tenant_id = t.id
    started = time.perf_counter()
    last = [0.0]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if now - last[0] > 15:
            last[0] = now
            print(f"  load {stage} {done:,}/{total:,} ({now - started:.0f} s)", file=sys.stderr, flush=True)

    rep = await generate(
        factory,
        tenant_id,
        customers=customers,
        months=1,
        seed=seed,
        end_period=PERIOD,
        bills=False,
        payments=False,
        outages=False,
        batch=batch,
        progress=progress,
    )
    load_seconds = time.perf_counter() - started
    t0 = time.perf_counter()
    async with engine.connect() as conn:
        await conn.exec_driver_sql("ANALYZE")
        await conn.commit()
    info = {
        "customers": rep.customers,
        "readings": rep.readings,
        "load_seconds": round(load_seconds, 1),
        "analyze_seconds": round(time.perf_counter() - t0, 1),
    }
    return engine, tenant_id, info


async def run_db(kind: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    server = None
    postmaster = None
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'billrun.db'}"
    else:
        from tests import pg

        server = pg.start()
        postmaster = int(Path(server.datadir, "postmaster.pid").read_text().split()[0])  # noqa: ASYNC240
        name = await server.create_database("billrun_")
        url = server.url(name)
    try:
        engine, tenant_id, info = await setup(url, args.customers, args.seed, args.load_batch)
        try:
            factory = session_factory(engine)
            print(f"{kind}: loaded {info}", file=sys.stderr, flush=True)
            c0, s0, w0 = _client_cpu(), _server_cpu(postmaster), time.perf_counter()
            report = await billrun.run_bills(factory, tenant_id, PERIOD, batch=args.batch)
            wall = time.perf_counter() - w0
            client, srv = _client_cpu() - c0, _server_cpu(postmaster) - s0
            out: dict[str, Any] = {
                **info,
                "bills": report.billed,
                "seconds": round(wall, 1),
                "bills_per_second": round(report.billed / wall) if wall else None,
                "client_cpu_seconds": round(client, 1),
                "server_cpu_seconds": round(srv, 1) if postmaster else None,
                "target_met": wall <= 300 and report.billed > 0,
                "report": {
                    k: v
                    for k, v in report.to_json().items()
                    if k
                    in ("billed", "already_billed", "no_reading", "no_tariff", "bad_reading", "kwh", "amount")
                },
            }
            if args.rerun:
                w1 = time.perf_counter()
                again = await billrun.run_bills(factory, tenant_id, PERIOD, batch=args.batch)
                out["rerun"] = {
                    "seconds": round(time.perf_counter() - w1, 1),
                    "billed": again.billed,
                    "already_billed": again.already_billed,
                }
        finally:
            await engine.dispose()
        if kind == "sqlite":
            out["file_mb"] = round((tmp / "billrun.db").stat().st_size / 1e6, 1)
        return out
    finally:
        if server is not None:
            server.stop()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--quick", action="store_true", help="20,000 customers")
    p.add_argument("--customers", type=int, default=None)
    p.add_argument("--databases", default="postgresql", help="postgresql, sqlite or both (comma-separated)")
    p.add_argument("--batch", type=int, default=5000, help="customers per bill-run transaction")
    p.add_argument("--load-batch", type=int, default=10000, help="customers per generator batch")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--client-cpu", type=int, default=0, help="core this process is pinned to (-1: none)")
    p.add_argument("--rerun", action="store_true", help="also time a second run (everything skipped)")
    p.add_argument("--json", action="store_true", help="(output is always JSON)")
    args = p.parse_args()
    if args.customers is None:
        args.customers = 20_000 if args.quick else 1_000_000
    if args.client_cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.client_cpu})
    report: dict[str, Any] = {
        "benchmark": "billrun",
        "target": "1,000,000 bills for one month in <= 300 s on one core (PostgreSQL)",
        "customers": args.customers,
        "period": PERIOD,
        "batch": args.batch,
        "client_cpu": args.client_cpu,
        "machine": machine_info(sipp=False),
        "results": {},
    }
    tmp = Path(tempfile.mkdtemp(prefix="hotline-billrun-"))
    try:
        for kind in [d.strip() for d in args.databases.split(",") if d.strip()]:
            t = time.perf_counter()
            res = await run_db(kind, args, tmp)
            res["total_seconds"] = round(time.perf_counter() - t, 1)
            report["results"][kind] = res
            print(f"{kind}: {json.dumps(res, ensure_ascii=False)}", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
