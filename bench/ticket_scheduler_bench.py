"""Deadline scheduler benchmark (issue 8): with 1,000,000 open work orders, the time from a
timer's due instant to its escalation event (督办) must stay ≤ 1 s.

What it does (everything in a temporary directory; it stops what it started):

1. A throwaway PostgreSQL server (Debian's binaries, its durable defaults unless
   ``--no-durable``; a buffer cache of 60 % of memory, as a database server sized for its data
   has, unless ``--shared-buffers MB``) and a fresh database, migrated (or a SQLite file with
   ``--db sqlite``); one tenant with a unit tree (province → 10 cities → 6 stations) and an SLA
   policy for fault repair orders: acknowledge within 24 h, a warning 60 min before, escalation
   at due time and every 60 min after (3 in all).
2. ``--orders`` open orders (default 1,000,000; ``--quick`` 20,000), dispatched over the last 12
   hours, each with its running ``acknowledge`` step and its pending timer (the warning, due in
   11 to 23 hours), bulk-loaded with :func:`hotline.store.bulk.bulk_insert` (COPY on
   PostgreSQL); ``ANALYZE``.
3. ``--burst`` orders (default 3,000) are made due at one instant a few seconds after the
   scheduler starts and ``--spread`` more (default 3,000) at instants spread evenly over the next
   ``--spread-seconds`` (default 30): their step started 24 h before, the warning fired, the
   pending timer is the due time, whose firing gives the overdue flag and the first escalation.
4. :class:`hotline.tickets.scheduler.DeadlineScheduler` runs (default ``--poll 0.5``,
   ``--batch 200``) with a hub that notes the wall time of each ``escalated`` event. Reported:
   the lag from each timer's ``fire_at`` to its escalation event (p50, p99, max, for the burst
   and the spread separately), the burst's drain time and throughput (escalations/s), that every
   order escalated exactly once (events and history rows), and the CPU seconds of this process.

Usage: python bench/ticket_scheduler_bench.py [--orders N] [--db pg|sqlite] [--quick]
       [--burst N] [--spread N] [--spread-seconds S] [--batch N] [--poll S]
(also ``hotline bench ticket-scheduler …``). Output is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from call_bench import machine_info  # noqa: E402
from sqlalchemy import bindparam, func, select, update  # noqa: E402
from tickets_bench import (  # noqa: E402
    add_durable_option,
    add_shared_buffers_option,
    durability,
    shared_buffers,
    start_pg,
)

from hotline.org import service as org  # noqa: E402
from hotline.store import migrate  # noqa: E402
from hotline.store.bulk import bulk_insert  # noqa: E402
from hotline.store.db import create_engine, session_factory, transaction  # noqa: E402
from hotline.store.models import TenantSetting, Ticket, TicketHistory, TicketStep, TicketTimer  # noqa: E402
from hotline.tickets import sla  # noqa: E402
from hotline.tickets.scheduler import DeadlineScheduler  # noqa: E402

POLICY = {
    "rules": [
        {
            "type": "fault_repair",
            "urgency": "*",
            "steps": [
                {
                    "step": "acknowledge",
                    "minutes": 1440,
                    "warn": {"before_minutes": 60},
                    "escalate": {"after_minutes": 0, "repeat_every_minutes": 60, "max_times": 3},
                }
            ],
        }
    ]
}
DAY = timedelta(hours=24)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return round(s[min(len(s) - 1, int(p / 100 * len(s)))], 4)


class Recorder:
    """The scheduler's hub: notes when each escalation is published."""

    def __init__(self) -> None:
        self.escalated: dict[int, list[float]] = {}
        self.kinds: dict[str, int] = {}

    def publish(self, tenant_id: int, type: str, *, data: dict[str, Any] | None = None, **_: Any) -> None:
        t = time.time()
        d = data or {}
        self.kinds[d.get("kind", type)] = self.kinds.get(d.get("kind", type), 0) + 1
        if d.get("kind") == "escalated":
            self.escalated.setdefault(int(d["id"]), []).append(t)


async def load(factory: Any, engine: Any, orders: int, seed: int, chunk: int) -> tuple[int, dict[str, Any]]:
    rnd = random.Random(seed)
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "bench", "Scheduler bench")
        root = await org.add_unit(s, t.id, "js", "江苏省电力公司", kind="province")
        stations: list[int] = []
        for c in range(10):
            city = await org.add_unit(s, t.id, f"js.c{c}", f"城市{c}供电公司", parent=root, kind="city")
            for k in range(6):
                u = await org.add_unit(
                    s, t.id, f"js.c{c}.s{k}", f"供电所{c}-{k}", parent=city, kind="station"
                )
                stations.append(u.id)
        s.add(TenantSetting(tenant_id=t.id, key=sla.SETTING_KEY, value=POLICY))
        tenant_id = t.id
    now = datetime.now(UTC)
    started = time.perf_counter()
    for lo in range(1, orders + 1, chunk):
        hi = min(orders + 1, lo + chunk)
        tickets, steps, timers = [], [], []
        for i in range(lo, hi):
            begun = now - timedelta(seconds=rnd.uniform(0, 12 * 3600))
            due = begun + DAY
            tickets.append(
                {
                    "id": i,
                    "tenant_id": tenant_id,
                    "number": f"GD{begun:%Y%m%d}-{i:07d}",
                    "type_code": "fault_repair",
                    "urgency": "normal",
                    "state": "dispatched",
                    "version": 2,
                    "changed_at": begun,
                    "channel": "phone",
                    "unit_id": stations[i % len(stations)],
                    "area_class": "urban",
                    "subject": "停电报修",
                    "search": " ",
                    "due_at": due,
                    "created_at": begun - timedelta(minutes=3),
                }
            )
            steps.append(
                {
                    "tenant_id": tenant_id,
                    "ticket_id": i,
                    "step": "acknowledge",
                    "started_at": begun,
                    "due_at": due,
                    "warn_at": due - timedelta(minutes=60),
                    "fired": 0,
                    "escalations": 0,
                    "overdue_seconds": 0.0,
                }
            )
            timers.append(
                {
                    "tenant_id": tenant_id,
                    "ticket_id": i,
                    "step": "acknowledge",
                    "kind": "warn",
                    "fire_at": due - timedelta(minutes=60),
                    "generation": 1,
                    "level": 0,
                }
            )
        async with engine.begin() as conn:
            await bulk_insert(conn, Ticket.__table__, tickets)
            await bulk_insert(conn, TicketStep.__table__, steps)
            await bulk_insert(conn, TicketTimer.__table__, timers)
        if (hi - 1) % (chunk * 10) == 0 or hi > orders:
            print(
                f"  loaded {hi - 1:,}/{orders:,} ({time.perf_counter() - started:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    load_seconds = time.perf_counter() - started
    t0 = time.perf_counter()
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql(
                f"SELECT setval(pg_get_serial_sequence('tickets', 'id'), {int(orders)})"
            )
            await conn.commit()
        await conn.exec_driver_sql("ANALYZE")
        await conn.commit()
    return tenant_id, {
        "load_seconds": round(load_seconds, 1),
        "analyze_seconds": round(time.perf_counter() - t0, 1),
    }


async def make_due(factory: Any, ids: list[int], fire_at: list[datetime]) -> None:
    """Orders whose step started 24 h before ``fire_at``: warned already, due (and escalated) then."""
    st = TicketStep.__table__
    tm = TicketTimer.__table__
    tk = Ticket.__table__
    async with transaction(factory) as s:
        for lo in range(0, len(ids), 2000):
            part = list(zip(ids[lo : lo + 2000], fire_at[lo : lo + 2000], strict=True))
            await s.execute(
                update(st)
                .where(st.c.ticket_id == bindparam("b_id"))
                .values(
                    started_at=bindparam("b_start", type_=st.c.started_at.type),
                    due_at=bindparam("b_due", type_=st.c.due_at.type),
                    warn_at=bindparam("b_warn", type_=st.c.warn_at.type),
                    fired=1,
                ),
                [
                    {"b_id": i, "b_start": at - DAY, "b_due": at, "b_warn": at - timedelta(minutes=60)}
                    for i, at in part
                ],
            )
            # the order's summary as the service keeps it: due when its running step is
            await s.execute(
                update(tk)
                .where(tk.c.id == bindparam("b_id"))
                .values(due_at=bindparam("b_at", type_=tk.c.due_at.type)),
                [{"b_id": i, "b_at": at} for i, at in part],
            )
            await s.execute(
                update(tm)
                .where(tm.c.ticket_id == bindparam("b_id"))
                .values(kind="due", fire_at=bindparam("b_at", type_=tm.c.fire_at.type), generation=2),
                [{"b_id": i, "b_at": at} for i, at in part],
            )


async def run(url: str, args: argparse.Namespace) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        factory = session_factory(engine)
        tenant_id, info = await load(factory, engine, args.orders, args.seed, args.chunk)
        print(f"loaded: {info}", file=sys.stderr, flush=True)
        rnd = random.Random(args.seed + 1)
        chosen = rnd.sample(range(1, args.orders + 1), args.burst + args.spread)
        burst, spread = chosen[: args.burst], chosen[args.burst :]
        t_burst = datetime.now(UTC) + timedelta(seconds=args.lead)
        fire: dict[int, datetime] = dict.fromkeys(burst, t_burst)
        for k, i in enumerate(spread):
            fire[i] = t_burst + timedelta(seconds=args.spread_seconds * (k + 1) / max(1, len(spread)))
        t0 = time.perf_counter()
        await make_due(factory, chosen, [fire[i] for i in chosen])
        prep = time.perf_counter() - t0
        if t_burst - datetime.now(UTC) < timedelta(seconds=1):
            print("warning: preparing the due orders took longer than --lead", file=sys.stderr)
        rec = Recorder()
        sch = DeadlineScheduler(factory, rec, poll=args.poll, batch=args.batch, workers=args.workers)
        c0 = _cpu()
        await sch.start()
        deadline = time.time() + args.lead + args.spread_seconds + args.timeout
        try:
            while len(rec.escalated) < len(chosen) and time.time() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # anything fired twice would show now
        finally:
            await sch.stop()
        cpu = _cpu() - c0
        lag_b = [rec.escalated[i][0] - t_burst.timestamp() for i in burst if i in rec.escalated]
        lag_s = [rec.escalated[i][0] - fire[i].timestamp() for i in spread if i in rec.escalated]
        burst_end = max((rec.escalated[i][0] for i in burst if i in rec.escalated), default=None)
        drain = (burst_end - t_burst.timestamp()) if burst_end else None
        async with factory() as s:
            hist = await s.scalar(
                select(func.count())
                .select_from(TicketHistory)
                .where(TicketHistory.action == "escalated", TicketHistory.tenant_id == tenant_id)
            )
        twice = sum(1 for ts in rec.escalated.values() if len(ts) > 1)
        lag_all = lag_b + lag_s
        return {
            **info,
            "prepare_due_seconds": round(prep, 2),
            "due_orders": len(chosen),
            "escalated": len(rec.escalated),
            "escalated_twice": twice,
            "history_escalated_rows": hist,
            "events": rec.kinds,
            "burst": {
                "orders": len(burst),
                "lag_p50_s": _pct(lag_b, 50),
                "lag_p99_s": _pct(lag_b, 99),
                "lag_max_s": round(max(lag_b), 4) if lag_b else None,
                "drain_seconds": round(drain, 3) if drain is not None else None,
                "escalations_per_second": round(len(burst) / drain) if drain else None,
            },
            "spread": {
                "orders": len(spread),
                "over_seconds": args.spread_seconds,
                "lag_p50_s": _pct(lag_s, 50),
                "lag_p99_s": _pct(lag_s, 99),
                "lag_max_s": round(max(lag_s), 4) if lag_s else None,
            },
            "lag_p50_s": _pct(lag_all, 50),
            "lag_p99_s": _pct(lag_all, 99),
            "lag_max_s": round(max(lag_all), 4) if lag_all else None,
            "scheduler": {"rounds": sch.rounds, "fired": sch.fired, "failures": sch.failures},
            "client_cpu_seconds": round(cpu, 1),
            "target_met": bool(lag_all)
            and max(lag_all) <= 1.0
            and len(rec.escalated) == len(chosen)
            and twice == 0
            and hist == len(chosen),
        }
    finally:
        await engine.dispose()


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    p.add_argument("--orders", type=int, default=None, help="open orders (default 1,000,000; --quick 20,000)")
    p.add_argument("--db", choices=("pg", "postgresql", "sqlite"), default="pg")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--burst", type=int, default=None, help="orders due at one instant (default 3000)")
    p.add_argument("--spread", type=int, default=None, help="orders due over --spread-seconds (default 3000)")
    p.add_argument("--spread-seconds", type=float, default=30.0)
    p.add_argument("--lead", type=float, default=5.0, help="seconds from the scheduler's start to the burst")
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--poll", type=float, default=0.5)
    p.add_argument("--workers", type=int, default=3, help="concurrent rounds (PostgreSQL)")
    p.add_argument("--chunk", type=int, default=50_000, help="orders per bulk-load transaction")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--seed", type=int, default=0)
    add_durable_option(p)
    add_shared_buffers_option(p)
    p.add_argument("--json", action="store_true", help="(output is always JSON)")
    args = p.parse_args()
    if args.orders is None:
        args.orders = 20_000 if args.quick else 1_000_000
    if args.burst is None:
        args.burst = 1000 if args.quick else 3000
    if args.spread is None:
        args.spread = 1000 if args.quick else 3000
    if args.quick:
        args.spread_seconds = min(args.spread_seconds, 10.0)
    kind = "sqlite" if args.db == "sqlite" else "postgresql"
    report: dict[str, Any] = {
        "benchmark": "ticket-scheduler",
        "target": "time from due to escalation event <= 1 s with 1,000,000 open orders",
        "database": kind,
        "orders": args.orders,
        "batch": args.batch,
        "poll": args.poll,
        "workers": args.workers,
        "machine": machine_info(sipp=False),
    }
    tmp = Path(tempfile.mkdtemp(prefix="hotline-ticket-scheduler-"))
    server = None
    try:
        if kind == "sqlite":
            url = f"sqlite+aiosqlite:///{tmp / 'scheduler.db'}"
        else:
            mb = shared_buffers(args.shared_buffers)
            server = start_pg(None, durable=args.durable, shared_buffers_mb=mb)
            report["postgresql"] = durability(args.durable)
            report["shared_buffers_mb"] = mb or 128
            url = server.url(await server.create_database("sched_"))
        t = time.perf_counter()
        res = await run(url, args)
        res["total_seconds"] = round(time.perf_counter() - t, 1)
        report["result"] = res
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
