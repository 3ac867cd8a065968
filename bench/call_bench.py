"""Telephony benchmarks (issue 4): call setup rate and concurrent calls through ``hotline serve``.

Starts its own server (``bench/call_bench_serve.py``: ``hotline serve --demo`` plus a SIGUSR1
hook that dumps the media engine's own clock statistics) in a temporary directory on loopback
(SQLite in the data directory unless ``--database-url``),
drives it with SIPp, prints one JSON object and stops everything it started.

Phase 1, ``setup_rate``: for each offered rate, SIPp (``bench/call_bench_setup.xml``) places
``rate * --rate-seconds`` calls to ``*43`` (answer, ~1 s of 20 ms PCMA from a pcap, BYE).
Per rate: SIPp's successful/failed calls and retransmissions, the INVITE->200 response time
(``-trace_rtt``, ms resolution) p50/p99/max, the rate at which 200 OKs arrived, the server's
CPU (``/proc/<pid>/stat``: mean over the step and the busiest 1 s), and the CDRs read from the
SQLite file: one ``calls`` row per SIPp call, each with an end cause, every leg ended.

Phase 2, ``concurrent``: for each N, N SIPp calls (``bench/call_bench_hold.xml``) to ``*43``
held ``--hold-seconds``; SIPp only signals, the media is ``bench/call_bench_fleet.py``
(N sockets sending 20 ms PCMA to the engine and timestamping the echo in the kernel).
Measured while all N calls are up: server CPU %, the engine's clock (tick lateness, skipped
ticks, CPU per tick), the send-time offset of the engine's packets at the receiver (jitter
against the RTP clock) and loss in both directions (fleet: server->fleet; CDR legs:
fleet->server as counted by the engine).  Echo only: recorded calls need two extensions and
are not measured here (``*44`` records only 5 s).

Every step also reports the server's garbage-collector pauses and, after the step, what is left:
active calls, media endpoints and asyncio tasks (by coroutine) -- nothing should be.

Phase 3, ``profile``: py-spy (if installed in the venv: ``.venv/bin/pip install py-spy``; not a
project dependency) samples the server during one more setup-rate step at ``--profile-rate``;
main-thread time by area (database, event loop, media, SIP, call manager) and the top
functions by own and by inclusive time.

Phase 0, ``setup_rate_untrusted_source``: one rate step before 127.0.0.1 has authenticated.  The
SIP server rate-limits unauthenticated sources (50 requests/s per IP, burst 200, excess dropped
silently), so all other phases run after a digest-authenticated REGISTER of demo extension 1001
from 127.0.0.1, which makes the server trust the address for an hour.

A full run takes ~8 minutes; ``--quick`` ~1.5 minutes (no phase 0, rates 25,50, N = 50,100
held 10 s, a 3 s profile).

Usage: .venv/bin/python bench/call_bench.py [--quick] [--rates 25,50,100,200,300] [--rate-seconds 4]
       [--concurrency 50,100,200,300] [--hold-seconds 60] [--untrusted-rate 50] [--no-profile]
       [--profile-rate 100] [--database-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import json
import os
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
PY = sys.executable
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _free_sip_port() -> int:
    for _ in range(50):
        port = _free_port()
        with socket.socket() as t:
            try:
                t.bind((HOST, port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port")


def _proc_cpu(pid: int) -> float:
    """utime + stime of a process (all threads), seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))
    return s[k]


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


class CpuSampler:
    """Samples a process's CPU time every 0.25 s (for the busiest second of a step)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                self.samples.append((time.monotonic(), _proc_cpu(self.pid)))
            self._stop.wait(0.25)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float | None]:
        s = self.samples
        if len(s) < 2:
            return {"mean_pct": None, "peak_1s_pct": None, "cpu_s": None, "wall_s": None}
        peak = 0.0
        j = 0
        for i in range(len(s)):
            while j < i and s[i][0] - s[j][0] > 1.3:
                j += 1
            if s[i][0] - s[j][0] >= 0.9:
                peak = max(peak, (s[i][1] - s[j][1]) / (s[i][0] - s[j][0]))
        wall = s[-1][0] - s[0][0]
        cpu = s[-1][1] - s[0][1]
        return {
            "mean_pct": _r(100 * cpu / wall, 1),
            "peak_1s_pct": _r(100 * peak, 1),
            "cpu_s": _r(cpu, 3),
            "wall_s": _r(wall, 2),
        }


class Server:
    """``hotline serve --demo`` (with the clock-dump hook) in ``work``; stopped by :meth:`stop`."""

    def __init__(self, work: Path, database_url: str | None = None) -> None:
        self.work = work
        self.http_port = _free_port(socket.SOCK_STREAM)
        self.sip_port = _free_sip_port()
        self.state_file = work / "server_state.json"
        self.log = work / "server.log"
        self.db = work / "data" / "hotline.db"
        self.database_url = database_url
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, CALL_BENCH_STATE_FILE=str(self.state_file))
        env = {k: v for k, v in env.items() if not k.startswith("HOTLINE_")}
        cmd = [
            PY, str(BENCH / "call_bench_serve.py"), "serve", "--demo",
            "--data-dir", str(self.work / "data"),
            "--http-port", str(self.http_port), "--sip-port", str(self.sip_port),
        ]  # fmt: skip
        if self.database_url:
            cmd += ["--database-url", self.database_url]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.work, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError, ValueError):
                if self.health()["status"] == "ok":
                    return
            time.sleep(0.2)
        raise RuntimeError("server did not become healthy in 60 s")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def health(self) -> dict[str, Any]:
        url = f"http://{HOST}:{self.http_port}/api/v1/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body: dict[str, Any] = json.loads(r.read())
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read())
        return body

    def active_calls(self) -> int:
        return int(self.health()["components"]["media"]["active_calls"])

    def wait_idle(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                if self.active_calls() == 0:
                    return True
            time.sleep(0.25)
        return False

    def state(self) -> dict[str, Any]:
        """The engine's clock since the previous call (SIGUSR1 dump, then reset) and call counters."""
        before = self.state_file.stat().st_mtime_ns if self.state_file.exists() else 0
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.state_file.exists() and self.state_file.stat().st_mtime_ns != before:
                with contextlib.suppress(ValueError):
                    data: dict[str, Any] = json.loads(self.state_file.read_text())
                    return data
            time.sleep(0.02)
        return {}

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            return -9


def _kill(proc: subprocess.Popen[Any] | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _sipp_stats(workdir: Path, scenario: str, pid: int) -> dict[str, str]:
    path = workdir / f"{scenario}_{pid}_.csv"
    if not path.exists():
        return {}
    rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) >= 2 else {}


def _sipp_rtt(workdir: Path, scenario: str, pid: int) -> list[tuple[float, float]]:
    path = workdir / f"{scenario}_{pid}_rtt.csv"
    out = []
    if path.exists():
        for line in path.read_text(errors="replace").splitlines()[1:]:
            parts = line.split(";")
            with contextlib.suppress(ValueError, IndexError):
                out.append((float(parts[0]), float(parts[1])))
    return out


def _run_sipp(
    server: Server, workdir: Path, scenario: str, *, calls: int, rate: float, hold_ms: int, limit: int,
    timeout_s: float, inf: Path | None = None, recv_timeout_ms: int = 10000,
) -> tuple[subprocess.Popen[bytes], list[str]]:  # fmt: skip
    cmd = [
        "sipp", f"{HOST}:{server.sip_port}", "-sf", str(BENCH / f"{scenario}.xml"),
        "-s", "*43", "-m", str(calls), "-r", str(rate), "-l", str(limit), "-d", str(hold_ms),
        "-i", HOST, "-mi", HOST, "-t", "u1", "-p", str(_free_port()),
        "-recv_timeout", str(recv_timeout_ms), "-timeout", f"{int(timeout_s)}s",
        "-trace_stat", "-fd", "1", "-trace_rtt", "-rtt_freq", "1", "-trace_err",
        "-nostdin", "-nd", "-max_socket", "60000",
    ]  # fmt: skip
    if inf is not None:
        cmd += ["-inf", str(inf)]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return proc, cmd


def _cdr(db: Path, since_ms: int) -> dict[str, Any]:
    """Calls and legs with ids at or after ``since_ms`` (call ids start with 12 hex digits of ms)."""
    prefix = f"{since_ms:012x}"
    if not db.exists():
        return {"calls": None, "note": "CDRs not checked (not SQLite)"}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        calls = con.execute(
            "SELECT count(*), sum(end_cause = '' OR ended_at IS NULL), sum(answered_at IS NOT NULL) "
            "FROM calls WHERE id >= ?",
            (prefix,),
        ).fetchone()
        causes = dict(
            con.execute(
                "SELECT end_cause || '/' || ended_by, count(*) FROM calls WHERE id >= ? GROUP BY 1",
                (prefix,),
            ).fetchall()
        )
        legs = con.execute(
            "SELECT l.packets_sent, l.packets_received, l.packets_lost, l.jitter_ms, l.ended_at IS NULL "
            "FROM call_legs l JOIN calls c ON c.id = l.call_id WHERE c.id >= ?",
            (prefix,),
        ).fetchall()
    finally:
        con.close()
    recv = sum(r[1] for r in legs)
    lost = sum(r[2] for r in legs)
    jit = [float(r[3]) for r in legs]
    return {
        "calls": calls[0],
        "calls_without_end_cause": calls[1] or 0,
        "calls_answered": calls[2] or 0,
        "end_causes": causes,
        "legs": len(legs),
        "legs_not_ended": sum(r[4] for r in legs),
        "legs_packets_sent": sum(r[0] for r in legs),
        "legs_packets_received": recv,
        "legs_packets_lost": lost,
        "legs_loss_pct": _r(100 * lost / max(1, recv + lost), 4),
        "legs_with_loss": sum(1 for r in legs if r[2]),
        "legs_jitter_ms_p50": _r(_pct(jit, 50), 3),
        "legs_jitter_ms_p99": _r(_pct(jit, 99), 3),
        "legs_jitter_ms_max": _r(max(jit, default=0.0), 3),
    }


def _clock(state: dict[str, Any]) -> dict[str, Any]:
    c = state.get("clock") or {}
    return {k: (_r(v, 3) if isinstance(v, float) else v) for k, v in c.items()}


def setup_step(
    server: Server, work: Path, rate: int, seconds: float, hold_ms: int, idle_wait: float = 40
) -> dict[str, Any]:
    calls = max(1, int(rate * seconds))
    step = work / f"rate_{rate}_{time.monotonic_ns()}"
    step.mkdir()
    shutil.copy(work / "call_bench_tone.pcap", step / "call_bench_tone.pcap")
    server.state()  # reset the clock statistics
    since_ms = int(time.time() * 1000) - 1
    children0 = _children_cpu()
    proc = None
    with CpuSampler(server.pid) as cpu:
        try:
            proc, _cmd = _run_sipp(
                server, step, "call_bench_setup", calls=calls, rate=rate, hold_ms=hold_ms,
                limit=max(1000, rate * 20), timeout_s=seconds * 4 + 40,
            )  # fmt: skip
            _out, err = proc.communicate(timeout=seconds * 4 + 60)
        finally:
            _kill(proc)
        # a call answered after SIPp gave up (-recv_timeout) ends when our 200 OK is never ACKed
        # (64 * T1 = 32 s) or, if it had media, 30 s after its last RTP: wait up to 40 s
        idle = server.wait_idle(idle_wait)
    clock = server.state()
    assert proc is not None
    stats = _sipp_stats(step, "call_bench_setup", proc.pid)
    rtt = _sipp_rtt(step, "call_bench_setup", proc.pid)
    times = [t for t, _ in rtt]
    rts = [ms for _, ms in rtt]
    answered_rate = (len(times) - 1) / ((max(times) - min(times)) / 1000) if len(times) > 2 else None
    created = int(stats.get("TotalCallCreated", "0") or 0)
    ok = int(stats.get("SuccessfulCall(C)", "0") or 0)
    failed = int(stats.get("FailedCall(C)", "0") or 0)
    cdr = _cdr(server.db, since_ms)
    return {
        "offered_calls_per_s": rate,
        "calls": calls,
        "sipp_rc": proc.returncode,
        "sipp_created": created,
        "successful": ok,
        "failed": failed,
        "failed_detail": {
            k: int(v)
            for k, v in stats.items()
            if k.startswith("Failed") and k.endswith("(C)") and v not in ("0", "")
        },
        "retransmissions": int(stats.get("Retransmissions(C)", "0") or 0),
        "sipp_elapsed": stats.get("ElapsedTime(C)"),
        "answered_calls_per_s": _r(answered_rate, 1),
        "invite_200_ms": {
            "n": len(rts),
            "p50": _pct(rts, 50),
            "p99": _pct(rts, 99),
            "max": max(rts, default=None),
            "mean": _r(statistics.fmean(rts), 1) if rts else None,
        },
        "server_cpu": cpu.summary(),
        "server_cpu_ms_per_call": _r(1000 * (cpu.summary()["cpu_s"] or 0) / max(1, created), 2),
        "sipp_cpu_s": _r(_children_cpu() - children0, 2),
        "server_idle_after": idle,
        "engine_clock": _clock(clock),
        "server_gc_pauses": clock.get("gc_pauses"),
        "leaks_after": {
            k: clock.get(k) for k in ("active_calls", "endpoints_in_use", "engine_endpoints", "asyncio_tasks")
        },
        "cdr": cdr,
        "every_call_has_cdr_with_end_cause": None
        if cdr["calls"] is None
        else cdr["calls"] == created and cdr["calls_without_end_cause"] == 0,
        "sipp_stderr": err.decode(errors="replace")[-300:] if proc.returncode else "",
    }


def hold_step(server: Server, work: Path, n: int, hold_s: float, setup_rate: int) -> dict[str, Any]:
    step = work / f"hold_{n}_{time.monotonic_ns()}"
    step.mkdir()
    ports = step / "ports.csv"
    fleet_out = step / "fleet.json"
    ramp_s = n / setup_rate
    since_ms = int(time.time() * 1000) - 1
    fleet = sipp = None
    result: dict[str, Any] = {"calls": n, "hold_s": hold_s, "setup_calls_per_s": setup_rate}
    try:
        fleet = subprocess.Popen(
            [PY, str(BENCH / "call_bench_fleet.py"), "--n", str(n), "--ports-file", str(ports),
             "--out", str(fleet_out), "--max-seconds", str(hold_s + ramp_s + 60)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not ports.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        t0 = time.monotonic()
        sipp, _cmd = _run_sipp(
            server, step, "call_bench_hold", calls=n, rate=setup_rate, hold_ms=int(hold_s * 1000),
            limit=n, timeout_s=hold_s + ramp_s + 45, inf=ports, recv_timeout_ms=int(hold_s * 1000) + 20000,
        )  # fmt: skip
        # all calls up?
        up_deadline = t0 + ramp_s + 15
        peak = 0
        while time.monotonic() < up_deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                peak = max(peak, server.active_calls())
            if peak >= n:
                break
            time.sleep(0.2)
        result["all_calls_up_after_s"] = _r(time.monotonic() - t0, 2) if peak >= n else None
        result["active_calls_seen"] = peak
        time.sleep(2.0)  # settle
        window_end = t0 + hold_s - 1.0  # the first call was placed at t0: it hangs up at ~t0 + hold
        server.state()  # reset the engine's clock statistics
        cpu0, w0, wall0 = _proc_cpu(server.pid), time.monotonic(), time.time()
        with CpuSampler(server.pid) as cpu:
            while time.monotonic() < window_end:
                time.sleep(0.2)
        cpu1, w1 = _proc_cpu(server.pid), time.monotonic()
        Path(str(fleet_out) + ".window").write_text(json.dumps({"start": wall0, "end": time.time()}))
        state = server.state()
        active_in_window = None
        with contextlib.suppress(OSError, ValueError, KeyError):
            active_in_window = server.active_calls()
        pct = 100 * (cpu1 - cpu0) / max(1e-9, w1 - w0)
        result["window_s"] = _r(w1 - w0, 1)
        result["active_calls_end_of_window"] = active_in_window
        result["server_cpu_pct"] = _r(pct, 1)
        result["server_cpu_pct_per_call"] = _r(pct / n, 3)
        result["server_cpu_peak_1s_pct"] = cpu.summary()["peak_1s_pct"]
        result["engine_clock"] = _clock(state)
        result["server_gc_pauses"] = state.get("gc_pauses")
        _out, _err = sipp.communicate(timeout=hold_s + ramp_s + 60)
        stats = _sipp_stats(step, "call_bench_hold", sipp.pid)
        result["sipp"] = {
            "rc": sipp.returncode,
            "created": int(stats.get("TotalCallCreated", "0") or 0),
            "successful": int(stats.get("SuccessfulCall(C)", "0") or 0),
            "failed": int(stats.get("FailedCall(C)", "0") or 0),
            "retransmissions": int(stats.get("Retransmissions(C)", "0") or 0),
        }
        time.sleep(1.5)  # the server has stopped sending; let the fleet see the end
        fleet.send_signal(signal.SIGTERM)
        fleet.wait(60)
        result["receiver"] = (
            json.loads(fleet_out.read_text()) if fleet_out.exists() else {"error": "no output"}
        )
    finally:
        _kill(sipp)
        _kill(fleet)
    result["server_idle_after"] = server.wait_idle(40)
    after = server.state()
    result["leaks_after"] = {
        k: after.get(k)
        for k in (
            "active_calls",
            "endpoints_in_use",
            "engine_endpoints",
            "asyncio_tasks",
            "asyncio_task_coroutines",
        )
    }
    result["cdr"] = _cdr(server.db, since_ms)
    rx = result.get("receiver", {})
    clock = result.get("engine_clock", {})
    result["quality_ok"] = bool(
        result["sipp"]["failed"] == 0
        and rx.get("packets_lost", 1) == 0
        and not result["cdr"].get("legs_packets_lost")
        and (rx.get("steady_window", {}).get("send_offset_ms", {}).get("p99") or 99) < 5.0
        and not clock.get("skipped_ticks")
    )
    return result


def register_trust(server: Server, work: Path) -> dict[str, Any]:
    """REGISTER demo extension 1001 from 127.0.0.1 with digest auth: the SIP server then trusts
    the address for an hour (exempt from the unauthenticated per-IP rate limit)."""
    from hotline.seed import DEMO_SIP_PASSWORD, DEMO_TENANT

    step = work / "register"
    step.mkdir()
    inf = step / "register.csv"
    inf.write_text(
        f"SEQUENTIAL\n1001;{DEMO_TENANT};[authentication username=1001 password={DEMO_SIP_PASSWORD}];60\n"
    )
    cmd = [
        "sipp", f"{HOST}:{server.sip_port}", "-sf", str(ROOT / "tests" / "sip" / "scenarios" / "register.xml"),
        "-inf", str(inf), "-m", "1", "-i", HOST, "-t", "u1", "-p", str(_free_port()),
        "-timeout", "20s", "-nostdin", "-nd",
    ]  # fmt: skip
    r = subprocess.run(cmd, cwd=step, capture_output=True, timeout=40, check=False)
    return {"extension": "1001", "sipp_rc": r.returncode}


def profile_step(server: Server, work: Path, rate: int, seconds: float, hold_ms: int) -> dict[str, Any]:
    pyspy = shutil.which("py-spy", path=str(Path(PY).parent)) or shutil.which("py-spy")
    if pyspy is None:
        return {"error": "py-spy not installed (.venv/bin/pip install py-spy)"}
    out = work / "profile.txt"
    spy = subprocess.Popen(
        [pyspy, "record", "--pid", str(server.pid), "--rate", "100", "--format", "raw", "--threads",
         "--duration", str(int(seconds) + 2), "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        time.sleep(1.0)
        step = setup_step(server, work, rate, seconds, hold_ms)
        _o, err = spy.communicate(timeout=seconds + 60)
    finally:
        _kill(spy)
    if not out.exists():
        return {"error": "py-spy produced nothing: " + err.decode(errors="replace")[-300:]}
    return {
        "offered_calls_per_s": rate,
        "note": "py-spy --rate 100 --threads (idle samples excluded); percentages of the main thread's "
        "samples unless named otherwise; the main thread runs the event loop (SIP, call manager, "
        "media clock and RTP, SQLAlchemy); aiosqlite runs each connection's SQLite calls in a thread",
        "step": {
            k: step[k]
            for k in ("successful", "failed", "answered_calls_per_s", "invite_200_ms", "server_cpu")
        },
        **profile_summary(out),
    }


def machine_info(*, sipp: bool = True) -> dict[str, Any]:
    """Where a benchmark ran: cores, load at the start, platform, Python (and SIPp) versions."""
    info: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "loadavg_at_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    if sipp:
        out = subprocess.run(["sipp", "-v"], capture_output=True, text=True, check=False).stdout
        info["sipp"] = out.strip()[:60]
    info["cpu_probe_ms"] = cpu_probe()
    return info


def cpu_probe(rounds: int = 7) -> float:
    """CPU milliseconds of a fixed pure-Python workload (dicts, strings, JSON, sorting: what a
    request handler does), the median of ``rounds``, on CPU 0 where the benchmarks pin their
    server. The same machine has been seen to run the same code at clearly different speeds
    from one hour to the next (a shared host); this number lets two reports be compared."""
    import json
    import statistics

    def work() -> None:
        rows = [{"id": i, "name": f"order-{i}", "tags": [str(i % 7), "x"], "v": i * 0.5} for i in range(4000)]
        text = json.dumps(rows)
        back = json.loads(text)
        back.sort(key=lambda r: (r["tags"][0], -r["id"]))
        {r["name"]: r for r in back}

    old = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    try:
        if old is not None and 0 in old:
            os.sched_setaffinity(0, {0})
        work()  # warm-up
        times = []
        for _ in range(rounds):
            t = time.process_time()
            work()
            times.append(time.process_time() - t)
    finally:
        if old is not None:
            os.sched_setaffinity(0, old)
    return round(1000 * statistics.median(times), 2)


def profile_summary(out: Path) -> dict[str, Any]:
    """py-spy raw output → samples, threads, main-thread time by area, top own/inclusive frames."""
    own: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    category: collections.Counter[str] = collections.Counter()
    total = main_total = 0
    for line in out.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        total += n
        thread = frames[0].split(": ", 1)[-1]
        threads["main (event loop)" if "MainThread" in thread else thread.split(" ", 1)[-1]] += n
        if "MainThread" not in thread:
            continue
        main_total += n
        fr = [_short(f) for f in frames[1:] if f]
        if fr:
            own[fr[-1]] += n
        for f in set(fr):
            if _is_ours(f):
                incl[f] += n
        category[_category(fr)] += n

    def top(c: collections.Counter[str], k: int, of: int) -> list[list[Any]]:
        return [[name, round(100 * v / max(1, of), 1)] for name, v in c.most_common(k)]

    return {
        "samples": total,
        "threads_pct_of_all_samples": top(threads, 6, total),
        "main_thread_by_area_pct": top(category, 10, main_total),
        "main_thread_top_own_pct": top(own, 15, main_total),
        "main_thread_top_inclusive_pct": top(incl, 25, main_total),
    }


def _category(frames: list[str]) -> str:
    text = " ".join(frames)
    if "sqlalchemy" in text or "aiosqlite" in text:
        return "database (SQLAlchemy/aiosqlite, main thread side)"
    for f in reversed(frames):
        for area in ("hotline/media", "hotline/sip", "hotline/cti", "hotline/web", "starlette"):
            if area in f:
                return area
    return "event loop itself (uvloop C code: polling, socket I/O, callback dispatch) / other"


def _short(frame: str) -> str:
    # py-spy raw frames: "function (path/to/file.py:line)"
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, _line = where.rpartition(":")
    for marker in ("site-packages/", "/hotline/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker == "/hotline/":
                path = "hotline/" + path
            break
    return f"{name} ({path})"


def _is_ours(name: str) -> bool:
    skip = ("_run_once", "run_forever", "_run (asyncio/events", "run (", "<module>", "main (", "serve (")
    return not any(s in name for s in skip) and (
        "hotline/" in name
        or "sqlalchemy" in name
        or "aiosqlite" in name
        or "uvicorn" in name
        or "sqlite3" in name
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="~1 minute: fewer steps, shorter holds")
    ap.add_argument("--rates", default=None, help="offered call rates, calls/s (default 25,50,100,200,300)")
    ap.add_argument("--rate-seconds", type=float, default=None, help="seconds of calls per rate (default 4)")
    ap.add_argument("--call-ms", type=int, default=1000, help="ms from ACK to BYE in the rate phase")
    ap.add_argument("--concurrency", default=None, help="simultaneous calls (default 50,100,200,300)")
    ap.add_argument("--hold-seconds", type=float, default=None, help="call hold time (default 60)")
    ap.add_argument("--hold-setup-rate", type=int, default=25, help="calls/s while ramping up N calls")
    ap.add_argument(
        "--untrusted-rate",
        type=int,
        default=50,
        help="first, one step at this rate before 127.0.0.1 has authenticated (0: skip)",
    )
    ap.add_argument("--no-profile", action="store_true", help="skip the py-spy step")
    ap.add_argument("--profile-seconds", type=float, default=None)
    ap.add_argument("--profile-rate", type=int, default=100, help="offered calls/s while profiling")
    ap.add_argument("--database-url", default=None, help="e.g. postgresql+asyncpg://... (default SQLite)")
    args = ap.parse_args()
    rates = [
        int(x)
        for x in (args.rates or ("25,50" if args.quick else "25,50,100,200,300")).split(",")
        if x and int(x) > 0
    ]
    conc = [
        int(x)
        for x in (args.concurrency or ("50,100" if args.quick else "50,100,200,300")).split(",")
        if x and int(x) > 0
    ]
    rate_s = args.rate_seconds or 4.0
    hold_s = args.hold_seconds or (10.0 if args.quick else 60.0)
    prof_s = args.profile_seconds or (3.0 if args.quick else 6.0)
    if args.quick and args.untrusted_rate == 50:
        args.untrusted_rate = 0
    if args.quick and args.profile_rate == 100:
        args.profile_rate = 50
    if shutil.which("sipp") is None:
        print(json.dumps({"error": "sipp not installed (Debian package sip-tester)"}))
        sys.exit(1)
    started = time.monotonic()
    result: dict[str, Any] = {
        "bench": "call_bench",
        "what": "SIPp against `hotline serve` (*43 echo): call setup rate, concurrent calls; loopback",
        "inputs": {
            "rates_calls_per_s": rates,
            "rate_seconds": rate_s,
            "call_ms": args.call_ms,
            "concurrency": conc,
            "hold_seconds": hold_s,
            "hold_setup_rate": args.hold_setup_rate,
            "untrusted_rate": args.untrusted_rate,
            "source_trust": "all phases except setup_rate_untrusted_source run after a digest-authenticated "
            "REGISTER from 127.0.0.1 (the SIP server then exempts the address from its per-IP "
            "unauthenticated rate limit, 50 requests/s, burst 200, excess dropped silently)",
            "profile": not args.no_profile,
            "profile_seconds": prof_s,
            "profile_rate": args.profile_rate,
            "database": "postgresql" if args.database_url else "sqlite (data dir)",
            "quick": args.quick,
        },
        "machine": machine_info(),
    }
    work = Path(tempfile.mkdtemp(prefix="call_bench_"))
    server = Server(work, args.database_url)
    try:
        sys.path.insert(0, str(ROOT))
        from tests.peers.pcapgen import tone_pcap

        tone_pcap(work / "call_bench_tone.pcap", 440.0, args.call_ms / 1000)
        server.start()
        idle_state = server.state()
        result["server"] = {
            "pid": server.pid,
            "sip_port": server.sip_port,
            "asyncio_tasks_idle_before_calls": idle_state.get("asyncio_tasks"),
        }
        if args.untrusted_rate:
            result["setup_rate_untrusted_source"] = setup_step(
                server, work, args.untrusted_rate, rate_s, args.call_ms, idle_wait=40
            )
        result["trust"] = register_trust(server, work)
        result["setup_rate"] = [setup_step(server, work, r, rate_s, args.call_ms) for r in rates]
        result["concurrent"] = [hold_step(server, work, n, hold_s, args.hold_setup_rate) for n in conc]
        if not args.no_profile:
            result["profile"] = profile_step(server, work, args.profile_rate, prof_s, args.call_ms)
        result["summary"] = _summary(result)
    except Exception as exc:  # report what was measured so far
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        rc = server.stop()
        result["server_exit_code"] = rc
        log = server.log.read_text(errors="replace") if server.log.exists() else ""
        result["server_log_warnings"] = [
            line[:240]
            for line in log.splitlines()
            if " WARNING " in line or " ERROR " in line or "Traceback" in line
        ][:20]
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))


def _summary(result: dict[str, Any]) -> dict[str, Any]:
    steps = result.get("setup_rate", [])
    sustained = [
        s["offered_calls_per_s"]
        for s in steps
        if s["failed"] == 0
        and s["every_call_has_cdr_with_end_cause"] is not False
        and (s["answered_calls_per_s"] or 0) >= 0.95 * s["offered_calls_per_s"]
        and (s["invite_200_ms"]["p99"] or 1e9) < 1000
    ]
    conc = result.get("concurrent", [])
    good_n = [c["calls"] for c in conc if c.get("quality_ok")]
    bad_n = [c["calls"] for c in conc if not c.get("quality_ok")]
    return {
        "setup_rate_criteria": "sustained: 0 failed, every call has a CDR with an end cause, answered "
        ">= 95 % of offered calls/s, INVITE->200 p99 < 1 s",
        "highest_sustained_rate": max(sustained, default=None),
        "max_answered_calls_per_s": max((s["answered_calls_per_s"] or 0 for s in steps), default=None),
        "lowest_rate_with_failed_calls": min(
            (s["offered_calls_per_s"] for s in steps if s["failed"]), default=None
        ),
        "target_200_calls_per_s_met": any(r >= 200 for r in sustained),
        "per_rate": [
            [
                s["offered_calls_per_s"],
                s["answered_calls_per_s"],
                s["failed"],
                s["invite_200_ms"]["p50"],
                s["invite_200_ms"]["p99"],
                s["server_cpu"]["peak_1s_pct"],
            ]
            for s in steps
        ],
        "per_rate_columns": "offered/s, answered/s, failed, INVITE->200 p50 ms, p99 ms, server CPU % (busiest 1 s)",
        "concurrency_criteria": "quality ok: 0 failed, 0 loss both ways, steady-state send offset p99 < 5 ms, "
        "no skipped engine ticks",
        "highest_concurrency_with_quality": max(good_n, default=None),
        "lowest_concurrency_where_quality_drops": min(bad_n, default=None),
        "target_200_concurrent_met": any(n >= 200 for n in good_n),
        "per_concurrency": [
            [
                c["calls"],
                c.get("server_cpu_pct"),
                (c.get("receiver", {}).get("steady_window") or {}).get("send_offset_ms", {}).get("p99"),
                c.get("receiver", {}).get("packets_lost"),
                c.get("cdr", {}).get("legs_packets_lost"),
                c.get("engine_clock", {}).get("late_ms_p99"),
                c.get("engine_clock", {}).get("skipped_ticks"),
                (c.get("server_gc_pauses") or {}).get("gen2_max_ms"),
            ]
            for c in conc
        ],
        "per_concurrency_columns": "N, server CPU %, send offset p99 ms (steady), lost server->fleet, "
        "lost fleet->server, engine tick lateness p99 ms, skipped ticks, longest gen-2 GC pause ms",
    }


if __name__ == "__main__":
    main()
