"""SIP REGISTER load: SIPp against the Hotline SIP server with digest auth; prints one JSON object.

A temporary SQLite database gets ``--users`` extensions (password ``Sip-Demo-2026``);
the :class:`~hotline.sip.server.SipServer` runs in this process on a free 127.0.0.1 port
and SIPp (``tests/sip/scenarios/register.xml``: REGISTER → 401 → REGISTER with MD5
digest → 200) is started with ``-r RATE -m CALLS`` over UDP, cycling through the users.

Reported: ``registrations_per_s`` (successful REGISTER flows per second while the
server was registering, sampled every 50 ms; ``registrations_per_s_wall`` divides by the
whole SIPp run including its start and exit), ``successful``/``failed`` (SIPp's counts), the server's
response counts, its CPU time per registration, and whether every user ended up with a
binding.  Loopback only; bounded in time (SIPp ``-timeout``).

Usage: .venv/bin/python bench/sip_register_bench.py [--rate 500] [--calls 5000] [--users 200]
       [--transport u1|t1] [--cache-ttl 5]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import resource
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hotline.org.service import add_tenant, add_unit
from hotline.sip.extensions import add_extension
from hotline.sip.server import SipServer, SipSettings
from hotline.store import migrate
from hotline.store.db import create_engine, session_factory, transaction

HOST = "127.0.0.1"
PASSWORD = "Sip-Demo-2026"
SCENARIO = Path(__file__).resolve().parent.parent / "tests" / "sip" / "scenarios" / "register.xml"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _last_stat_row(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    if len(rows) < 2:
        return {}
    return dict(zip(rows[0], rows[-1], strict=False))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sipp = shutil.which("sipp")
    if sipp is None:
        return {"error": "sipp not installed (apt-get install sip-tester)"}
    work = Path(tempfile.mkdtemp(prefix="sip_bench_"))
    engine = create_engine(f"sqlite+aiosqlite:///{work / 'bench.db'}")
    await migrate.upgrade(engine)
    factory = session_factory(engine)
    numbers = [str(30000 + i) for i in range(args.users)]
    async with transaction(factory) as s:
        tenant = await add_tenant(s, "demo", "Bench")
        unit = await add_unit(s, tenant.id, "hq", "Head office")
        for n in numbers:
            await add_extension(s, tenant, n, PASSWORD, unit=unit)
        tenant_id = tenant.id
    inf = work / "users.csv"
    inf.write_text(
        "SEQUENTIAL\n"
        + "".join(
            f"{n};demo;[authentication username={n} password={PASSWORD}];{args.expires}\n" for n in numbers
        )
    )
    settings = SipSettings(keepalive_interval=0, credentials_cache_ttl=args.cache_ttl)
    server = SipServer(HOST, 0, factory, settings)
    await server.start()
    assert server.udp_address is not None
    port = server.udp_address[1]
    stat_file = work / "stat.csv"
    bound = int(args.calls / args.rate) + 30
    cmd = [
        sipp, f"{HOST}:{port}", "-sf", str(SCENARIO), "-inf", str(inf),
        "-r", str(args.rate), "-m", str(args.calls), "-l", str(args.limit),
        "-t", args.transport, "-i", HOST, "-bind_local", "-p", str(_free_port()),
        "-timeout", f"{bound}s", "-timeout_error", "-nostdin", "-nd",
        "-trace_stat", "-stf", str(stat_file), "-fd", "1",
        "-trace_err", "-error_file", str(work / "errors.log"),
    ]  # fmt: skip
    samples: list[tuple[float, int]] = []

    async def sample() -> None:
        while True:
            samples.append((time.monotonic(), server.registrar.counters.registrations))
            await asyncio.sleep(0.05)

    cpu0, t0 = _cpu(), time.monotonic()
    sampler = asyncio.create_task(sample())
    proc = await asyncio.create_subprocess_exec(
        *cmd, cwd=work, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    try:
        _out, err = await asyncio.wait_for(proc.communicate(), bound + 15)
    except TimeoutError:
        proc.kill()
        _out, err = await proc.communicate()
    elapsed = time.monotonic() - t0
    sampler.cancel()
    # the server-side active window: from the first to the last sample where the count moved
    moving = [i for i in range(1, len(samples)) if samples[i][1] != samples[i - 1][1]]
    window = samples[moving[-1]][0] - samples[moving[0] - 1][0] if moving else 0.0
    cpu = _cpu() - cpu0
    stats = server.stats()
    registered_users = sum(1 for n in numbers if server.lookup(tenant_id, n))
    await server.stop()
    await engine.dispose()
    row = _last_stat_row(stat_file)
    ok = int(row.get("SuccessfulCall(C)", "0") or 0)
    failed = int(row.get("FailedCall(C)", "0") or 0)
    result: dict[str, Any] = {
        "bench": "sip_register",
        "transport": "udp" if args.transport.startswith("u") else "tcp",
        "offered_rate_per_s": args.rate,
        "calls": args.calls,
        "users": args.users,
        "credentials_cache_ttl_s": args.cache_ttl,
        "sipp_exit_code": proc.returncode,
        "successful": ok,
        "failed": failed,
        "elapsed_s": round(elapsed, 3),
        "registrations_per_s": round(stats["registrations"] / window, 1) if window > 0 else 0.0,
        "registrations_per_s_wall": round(ok / elapsed, 1) if elapsed > 0 else 0.0,
        "active_window_s": round(window, 3),
        "server_registrations": stats["registrations"],
        "server_responses": stats["responses_sent"],
        "server_auth_failures": stats["auth_failures"],
        "server_rate_limited": stats["rate_limited"],
        "server_internal_errors": stats["internal_errors"],
        "server_cpu_s": round(cpu, 3),
        "server_cpu_ms_per_registration": round(1000 * cpu / ok, 3) if ok else None,
        "users_with_binding": registered_users,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    if proc.returncode not in (0, 1):
        result["sipp_stderr"] = err.decode(errors="replace")[-500:]
    shutil.rmtree(work, ignore_errors=True)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rate", type=float, default=500.0, help="new REGISTER flows per second")
    p.add_argument("--calls", type=int, default=5000, help="REGISTER flows in total")
    p.add_argument("--users", type=int, default=200, help="extensions (cycled through)")
    p.add_argument("--limit", type=int, default=1000, help="max simultaneous flows (SIPp -l)")
    p.add_argument("--expires", type=int, default=600)
    p.add_argument("--transport", default="u1", choices=["u1", "un", "t1"], help="SIPp transport mode")
    p.add_argument(
        "--cache-ttl", type=float, default=5.0, help="credentials cache seconds (0: DB every time)"
    )
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args)), sort_keys=True))


if __name__ == "__main__":
    main()
