"""Inbound service-number benchmark (issue): SIPp callers through the demo flow into queues
answered by SIPp agent phones; calls per second sustained and last-DTMF-digit -> agent-ringing
delay (target: p99 < 100 ms at 20 new calls/s on one core).

What it does (everything in a temporary directory on loopback; it stops everything it started):

1. A fresh SQLite database: the demo tenant (``hotline.seed``) plus ``--agents`` bench agents
   (users ``bench0000``.., an ``agents`` profile with queues ``general``+``fault`` and skills
   ``{"fault": 3}``, auto-ready; extensions ``70000``..).  The demo queues are unchanged: ``fault``
   has a 15 s wrap-up, so each agent is busy ~talk + 15 s per call and the default pool is
   ``rate * (talk + 20 s) * 1.1`` agents.
2. ``hotline serve --demo`` through ``bench/inbound_bench_serve.py`` (SIGUSR1: media clock, calls,
   asyncio tasks, GC pauses; SIGUSR2: ``ServiceCalls.digit_to_ringing``, agent states, SIP
   counters), pinned with ``taskset`` to one core (``--server-cpu``, default 0; SIPp and this
   script go to the other cores).  Config: ``[media] media_timeout`` raised above the call
   length (callers send RTP only for the digit, see *Media*); everything else default
   (recording of bridged calls on unless ``--no-record``, OPTIONS keep-alive every 30 s).
3. Trust: a digest REGISTER of demo extension 1001 from 127.0.0.1 (as bench/call_bench.py), so
   the SIP server's unauthenticated per-IP rate limit (50 requests/s) does not drop callers.
4. Agent farms: ``--farms`` SIPp processes; each REGISTERs its share of the extensions (digest)
   (100 REGISTER flows/s in all) from one socket and answers any number of concurrent INVITEs with an out-of-call scenario
   (``-oocsf``): 180 at once, 200 with SDP ``--ring-ms`` later, BYE after ``--talk`` s; answers
   the server's OPTIONS keep-alives, a CANCEL while ringing and a BYE while talking.  Then every
   agent is logged in ready through the API (``POST /api/v1/agents/{id}/login``, admin token).
5. A warm-up call (TTS prompts rendered and cached), then the callers: one SIPp UAC at
   ``--rate`` calls/s (``-rp 1000``) for ``--duration`` s, calling ``95598`` from distinct
   mobile numbers; ``--dtmf-after-ms`` after the IVR's 200 it sends digit ``--digit`` (``2``:
   menu -> queue ``fault``, requirement ``fault>=2``; ``0``: queue ``general``) as RFC 4733
   (a generated pcap: start packet, then end packets 200 ms later; the welcome prompt is
   barge-in, the key is typed ahead into the menu), then waits for the server's BYE (the agent
   phone hangs up after the talk time).

Measured:

* ``calls``: placed / successful / failed by SIPp, answered by the agent phones, CDRs (with an
  agent, end causes, queues), queue event counts; ``answered_calls_per_s``: agent answers per
  second between the first and last answer (2 % trimmed at each end); ``sustained``: every
  placed call answered by an agent, none failed, answered rate >= 95 % of the offered rate.
* ``digit_to_ringing_ms`` (server): ``ServiceCalls.digit_to_ringing`` -- the caller's last
  digit as the media engine delivered it -> the agent phone's 180 arriving at the server.
  ``client_digit_to_agent_invite_ms``: end-to-end from outside -- the caller's end-of-key-press
  packet (pcap play start, wall clock, + 200 ms) -> the agent phone receiving the INVITE (wall
  clock, same machine; the phone sends its 180 right away), matched by caller number
  (``X-Hotline-Caller``); it also includes SIPp's pcap thread start and RTP delivery.  Both
  p50/p95/p99/max, and the client one per 10 s of the run (where it degrades).
* ``caller_invite_to_200_ms`` (IVR answer; SIPp ``-trace_rtt``, ms resolution).
* Server CPU (``/proc``): mean and busiest 1 s while calls are placed and over the whole run;
  GC pauses; afterwards what is left (active calls, endpoints, service calls, asyncio tasks).
* ``--profile``: py-spy (``--nonblocking``, if installed in the venv) samples the server for
  ``--profile-seconds`` in the middle of the placing window; main-thread time by area and top
  functions (as bench/call_bench.py).

Media: callers send RTP only for the DTMF digit; agent phones send none (``[media_port]`` in
their SDP, nothing played).  The server still plays prompts / music on hold / the whisper to
the legs and records every bridged call (silence).  That keeps the measurement on signalling
+ call control; it is not a media-load test (see bench/call_bench.py ``concurrent``).

``--quick``: 10 calls/s for 30 s, 10 s talk (~2 minutes); default (full): 20 calls/s for 60 s,
30 s talk (~4-5 minutes including ~1100 agent registrations and logins).

Usage: .venv/bin/python bench/inbound_bench.py [--quick] [--rate 20] [--duration 60] [--talk 30]
       [--agents N] [--farms K] [--digit 2] [--dtmf-after-ms 1000] [--ring-ms 100]
       [--server-cpu 0 | --no-pin] [--no-record] [--profile] [--profile-seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import json
import math
import os
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from call_bench import (
    HOST,
    PY,
    ROOT,
    CpuSampler,
    Server,
    _free_port,
    _kill,
    _pct,
    _proc_cpu,
    _r,
    _sipp_rtt,
    machine_info,
    profile_summary,
    register_trust,
)

sys.path.insert(0, str(ROOT))  # the SIPp scenario helpers of the test peers
from tests.peers.sipp import _global_recv, _send, document, recv_invite

BENCH = Path(__file__).resolve().parent
SIP_PASSWORD = "Bench-Sip-2026"
AGENT_PASSWORD = "Bench-Agent-2026"
EXT_BASE = 70000
DIGIT_END_MS = 200  # the generated pcap: start packet at 0, end packets (E bit) at 200 ms
CALLER_PREFIX = "139"  # caller numbers: 139 + 8 digits (a mobile number)
WARMUP_NUMBER = "13700000001"  # the warm-up call (key: last 8 digits, unlike any caller's)


# ----------------------------------------------------------------------------- SIPp scenarios
def _doc(name: str, body: str) -> str:
    return document(name, body)


def farm_register_scenario(hold_ms: int) -> str:
    """Main scenario of an agent farm: per injection row REGISTER ``[field0]`` with digest, then
    keep the call open ``hold_ms`` (the farm is stopped before)."""

    def register(cseq: int, auth: bool) -> str:
        return _send(
            f"""REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
Max-Forwards: 70
From: <sip:[field0]@[field1]>;tag=[pid]SIPpTagR[call_number]
To: <sip:[field0]@[field1]>
Call-ID: [call_id]
CSeq: {cseq} REGISTER
Contact: <sip:[field0]@[local_ip]:[local_port];transport=[transport]>
{"[field2]" + chr(10) if auth else ""}Expires: 3600
User-Agent: SIPp hotline agent farm
Content-Length: 0""",
            retrans=True,
        )

    body = register(1, False) + '  <recv response="401" auth="true"/>\n'
    body += register(2, True) + '  <recv response="200"/>\n'
    body += '  <nop><action><log message="REGISTERED [field0]"/></action></nop>\n'
    body += f'  <pause milliseconds="{hold_ms}"/>\n'
    return _doc("hotline bench agent farm", body)


def farm_answer_scenario(ring_ms: int, talk_ms: int) -> str:
    """Out-of-call scenario of an agent farm: any number of concurrent calls (one SIPp call each).

    OPTIONS -> 200 (kept 32 s to answer retransmissions).  INVITE -> 180 at once (logged: ``INVITE <X-Hotline-Caller> <s> <us>``, wall
    clock), 200 with SDP ``ring_ms`` later, ACK (``ANSWERED ...``), BYE after ``talk_ms``.  A
    CANCEL while ringing gets 200 + 487; a BYE while talking gets 200."""
    local = "[$local_to];tag=[pid]SIPpTagP[$tagn]"
    contact = "Contact: <sip:[local_ip]:[local_port];transport=[transport]>"
    sdp = """v=0
o=sipp [pid] 1 IN IP4 [local_ip]
s=-
c=IN IP4 [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=sendrecv"""
    b = '  <recv request="OPTIONS" optional="true" next="options"/>\n'
    # out-of-call calls share one [call_number]: SIPp's [branch] is the same for all of them,
    # so the BYE's branch (and the To tag) are made unique from the server's Call-ID
    b += recv_invite(
        {"hcaller": "X-Hotline-Caller:"},
        '      <ereg regexp="[A-Za-z0-9]+" search_in="hdr" header="Call-ID:" assign_to="cidtok"/>\n'
        '      <assignstr assign_to="tagn" value="[clock_tick]x[$cidtok]"/>\n'
        '      <gettimeofday assign_to="is,ius"/>\n'
        '      <log message="INVITE [$hcaller] [$is] [$ius]"/>\n',
    )
    b += _send(
        f"""SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
To: {local}
[last_Call-ID:]
[last_CSeq:]
{contact}
Content-Length: 0"""
    )
    b += _global_recv("CANCEL", "cancelled")
    b += f'  <pause milliseconds="{ring_ms}"/>\n'
    b += _send(
        f"""SIP/2.0 200 OK
Via: [$inv_via]
From: [$remote_from]
To: {local}
Call-ID: [call_id]
CSeq: [$inv_cseq] INVITE
{contact}
Content-Type: application/sdp
Content-Length: [len]

{sdp}""",
        retrans=True,
    )
    b += '  <recv request="ACK">\n    <action>\n'
    b += '      <gettimeofday assign_to="as,aus"/>\n'
    b += '      <log message="ANSWERED [$hcaller] [$as] [$aus]"/>\n'
    b += "    </action>\n  </recv>\n"
    b += _global_recv("BYE", "remote_bye")
    b += f'  <pause milliseconds="{talk_ms}"/>\n'
    b += _send(
        f"""BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=z9hG4bK-bye-[$tagn]
From: {local}
To: [$remote_from]
[routes]
Call-ID: [call_id]
CSeq: 101 BYE
Max-Forwards: 70
Content-Length: 0""",
        retrans=True,
    )
    b += '  <recv response="200" crlf="true" next="end"/>\n'
    ok = "SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0"
    b += '  <label id="remote_bye"/>\n' + _send(ok)
    b += '  <nop><action><log message="REMOTE_BYE [$hcaller]"/></action></nop>\n'
    b += '  <nop next="end"/>\n'
    b += '  <label id="cancelled"/>\n' + _send(ok)
    b += _send(
        f"""SIP/2.0 487 Request Terminated
Via: [$inv_via]
From: [$remote_from]
To: {local}
Call-ID: [call_id]
CSeq: [$inv_cseq] INVITE
Content-Length: 0""",
        retrans=True,
    )
    b += '  <recv request="ACK"/>\n'
    b += '  <nop><action><log message="CANCELLED [$hcaller]"/></action></nop>\n'
    b += '  <nop next="end"/>\n'
    # stay 32 s (timer F): SIPp re-sends the 200 for a retransmitted OPTIONS only while the call
    # lives, and the server drops a contact after one unanswered keep-alive
    b += '  <label id="options"/>\n' + _send(ok) + '  <pause milliseconds="32000"/>\n'
    b += '  <label id="end"/>\n'
    return _doc("hotline bench agent farm calls", b)


def caller_xml(dtmf_pcap: Path, dtmf_after_ms: int, bye_timeout_s: float) -> str:
    """tests/peers/sipp.py's caller (outside number ``[field0]`` calls ``[field1]``, pause, play
    the DTMF pcap, wait for the server's BYE) with the wall-clock time of the digit logged."""
    from tests.peers.sipp import Pause, Play, caller_scenario

    xml = caller_scenario(
        [Pause(dtmf_after_ms), Play(dtmf_pcap)],
        expect_bye=True,
        bye_timeout=bye_timeout_s,
        name="hotline bench caller",
    )
    play = f'<nop><action><exec play_pcap_audio="{dtmf_pcap}"/></action></nop>'
    if play not in xml:
        raise RuntimeError("caller scenario layout changed: cannot find the DTMF play")
    timed = (
        '<nop><action><gettimeofday assign_to="ds,dus"/><log message="DTMF [field0] [$ds] [$dus]"/>'
        f'<exec play_pcap_audio="{dtmf_pcap}"/></action></nop>'
    )
    return xml.replace(play, timed)


# ----------------------------------------------------------------------------- database
def seed(data_dir: Path, config: Path, n_agents: int) -> list[tuple[int, str]]:
    """Demo tenant + ``n_agents`` agents with extensions; returns (user id, extension) pairs."""
    from sqlalchemy import select

    import hotline.auth.users as users_mod
    from hotline.auth.passwords import hash_password
    from hotline.auth.policy import Role, Scope
    from hotline.cli import with_db
    from hotline.config import load_settings
    from hotline.org.service import get_unit
    from hotline.seed import DEMO_TENANT, seed_demo
    from hotline.sip.extensions import add_extension
    from hotline.store.models import AgentProfile, Tenant

    settings = load_settings(config, environ={}, overrides={"data_dir": data_dir})

    async def work(s: Any) -> list[tuple[int, str]]:
        await seed_demo(s)
        one_hash = hash_password(AGENT_PASSWORD)
        users_mod.hash_password = lambda _p: one_hash  # type: ignore[assignment] # hash once, not N times
        tenant = await s.scalar(select(Tenant).where(Tenant.slug == DEMO_TENANT))
        unit = await get_unit(s, tenant.id, "js.nj")
        out = []
        for i in range(n_agents):
            user = await users_mod.add_user(
                s,
                tenant.id,
                f"bench{i:04d}",
                unit=unit,
                password=AGENT_PASSWORD,
                grants=[users_mod.GrantSpec(Role.AGENT, Scope.UNIT)],
                display_name=f"Bench agent {i}",
            )
            number = str(EXT_BASE + i)
            await add_extension(s, tenant, number, SIP_PASSWORD, unit=unit, user_id=user.id)
            s.add(
                AgentProfile(
                    tenant_id=tenant.id,
                    user_id=user.id,
                    agent_no=f"9{i:04d}",
                    skills={"fault": 3},
                    queues=["general", "fault"],
                    auto_ready=True,
                )
            )
            out.append((user.id, number))
        await s.flush()
        return out

    return asyncio.run(with_db(settings, work))


# ----------------------------------------------------------------------------- processes
class InboundServer(Server):
    """bench/call_bench.py's server, started through bench/inbound_bench_serve.py with a config
    file, pinned to ``cpu`` (taskset: all its threads) unless ``None``."""

    def __init__(self, work: Path, config: Path, cpu: int | None) -> None:
        super().__init__(work)
        self.config = config
        self.cpu = cpu
        self.inbound_file = work / "inbound_state.json"

    def start(self) -> None:
        env = dict(os.environ, CALL_BENCH_STATE_FILE=str(self.state_file))
        env["INBOUND_BENCH_STATE_FILE"] = str(self.inbound_file)
        env = {k: v for k, v in env.items() if not k.startswith("HOTLINE_")}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(BENCH)])
        cmd = [
            PY, str(BENCH / "inbound_bench_serve.py"), "serve", "--demo", "--config", str(self.config),
            "--data-dir", str(self.work / "data"),
            "--http-port", str(self.http_port), "--sip-port", str(self.sip_port),
        ]  # fmt: skip
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=self.work, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError, ValueError):
                if self.health()["status"] == "ok":
                    return
            time.sleep(0.2)
        raise RuntimeError("server did not become healthy in 90 s")

    def inbound(self) -> dict[str, Any]:
        before = self.inbound_file.stat().st_mtime_ns if self.inbound_file.exists() else 0
        os.kill(self.pid, signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.inbound_file.exists() and self.inbound_file.stat().st_mtime_ns != before:
                with contextlib.suppress(ValueError):
                    data: dict[str, Any] = json.loads(self.inbound_file.read_text())
                    return data
            time.sleep(0.02)
        return {}

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        req = urllib.request.Request(
            f"http://{HOST}:{self.http_port}{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json"}
            | ({"Authorization": f"Bearer {token}"} if token else {}),
        )
        with urllib.request.urlopen(req, timeout=30) as r:  # noqa: S310 - http://127.0.0.1 only
            return json.loads(r.read() or b"null")


def _sipp_cmd(server: Server, scenario: Path, *extra: str) -> list[str]:
    return [
        "sipp", f"{HOST}:{server.sip_port}", "-sf", str(scenario), "-t", "u1",
        "-i", HOST, "-p", str(_free_port()), "-mi", HOST,
        "-nostdin", "-nd", "-max_socket", "60000", "-trace_stat", "-fd", "1",
        "-trace_logs", "-trace_err", *extra,
    ]  # fmt: skip


def _pin(cmd: list[str], cpus: str | None) -> list[str]:
    return ["taskset", "-c", cpus, *cmd] if cpus else cmd


def _stop_sipp(proc: subprocess.Popen[Any] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGUSR1, 0.5), (signal.SIGTERM, 3.0)):
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
            return
    _kill(proc)


def _log_lines(path: Path, tag: str) -> list[list[str]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        i = line.find(tag + " ")
        if i >= 0:
            out.append(line[i:].split())
        elif line.strip() == tag:
            out.append([tag])
    return out


def _wall(parts: list[str], i: int) -> float | None:
    try:
        return float(parts[i]) + float(parts[i + 1]) / 1e6
    except (IndexError, ValueError):
        return None


def _key(number: str) -> str:
    digits = "".join(ch for ch in number if ch.isdigit())
    return digits[-8:]


def _dist(values_s: list[float]) -> dict[str, Any]:
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50": _r(_pct(ms, 50), 1),
        "p95": _r(_pct(ms, 95), 1),
        "p99": _r(_pct(ms, 99), 1),
        "max": _r(max(ms, default=0.0), 1) if ms else None,
        "mean": _r(statistics.fmean(ms), 1) if ms else None,
    }


class AgentFarm:
    def __init__(self, index: int, work: Path, rows: list[str], server: Server, cpus: str | None) -> None:
        self.dir = work / f"farm{index}"
        self.dir.mkdir()
        self.rows = rows
        self.server = server
        self.cpus = cpus
        self.media_port = 50000 + 10 * index
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.dir / "farm.log"

    def start(self, hold_ms: int, ring_ms: int, talk_ms: int, reg_rate: int) -> None:
        (self.dir / "register.xml").write_text(farm_register_scenario(hold_ms))
        (self.dir / "answer.xml").write_text(farm_answer_scenario(ring_ms, talk_ms))
        (self.dir / "rows.csv").write_text("SEQUENTIAL\n" + "".join(r + "\n" for r in self.rows))
        n = len(self.rows)
        cmd = _sipp_cmd(
            self.server, self.dir / "register.xml",
            "-oocsf", str(self.dir / "answer.xml"), "-inf", str(self.dir / "rows.csv"),
            "-m", str(n), "-r", str(reg_rate), "-l", str(n + 5000), "-mp", str(self.media_port),
            "-stf", str(self.dir / "stats.csv"), "-log_file", str(self.log),
            "-error_file", str(self.dir / "errors.log"),
        )  # fmt: skip
        with open(self.dir / "stderr.log", "wb") as err:
            self.proc = subprocess.Popen(
                _pin(cmd, self.cpus), cwd=self.dir, stdout=subprocess.DEVNULL, stderr=err
            )

    def registered(self) -> int:
        return len(_log_lines(self.log, "REGISTERED"))

    def stop(self) -> None:
        _stop_sipp(self.proc)

    def events(self) -> dict[str, list[list[str]]]:
        return {tag: _log_lines(self.log, tag) for tag in ("INVITE", "ANSWERED", "CANCELLED", "REMOTE_BYE")}


def login_agents(server: InboundServer, agents: list[tuple[int, str]]) -> dict[str, Any]:
    from hotline.seed import DEMO_PASSWORD, DEMO_TENANT

    token = server.api(
        "POST",
        "/api/v1/auth/token",
        {"username": "admin", "password": DEMO_PASSWORD, "tenant": DEMO_TENANT},
    )["access_token"]
    errors: list[str] = []

    def one(pair: tuple[int, str]) -> None:
        uid, ext = pair
        try:
            server.api("POST", f"/api/v1/agents/{uid}/login", {"extension": ext, "ready": True}, token)
        except Exception as exc:
            errors.append(f"{uid}: {exc}")

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, agents))
    return {
        "logged_in": len(agents) - len(errors),
        "errors": errors[:5],
        "seconds": _r(time.monotonic() - t0),
    }


def _cdr(db: Path) -> dict[str, Any]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute(
            "SELECT caller, queue, agent_id IS NOT NULL, end_cause || '/' || ended_by, ended_at IS NULL, "
            "offers FROM calls WHERE direction = 'inbound'"
        ).fetchall()
        events = dict(con.execute("SELECT event, count(*) FROM queue_events GROUP BY event").fetchall())
    finally:
        con.close()
    rows = [r for r in rows if _key(r[0]) != _key(WARMUP_NUMBER)]
    offers: collections.Counter[str] = collections.Counter()
    per_call: collections.Counter[int] = collections.Counter()
    for r in rows:
        with contextlib.suppress(ValueError, TypeError):
            lst = json.loads(r[5]) if isinstance(r[5], str) else (r[5] or [])
            per_call[len(lst)] += 1
            for o in lst:
                offers[o.get("outcome", "?")] += 1
    return {
        "calls": len(rows),
        "with_agent": sum(1 for r in rows if r[2]),
        "not_ended": sum(1 for r in rows if r[4]),
        "queues": dict(collections.Counter(r[1] for r in rows)),
        "end_causes": dict(collections.Counter(r[3] for r in rows)),
        "offer_outcomes": dict(offers),
        "offers_per_call": {str(k): v for k, v in sorted(per_call.items())},
        "queue_events_all_calls": events,
    }


def _profile(pyspy: str, pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [pyspy, "record", "--pid", str(pid), "--rate", "100", "--format", "raw", "--threads",
         "--nonblocking", "--duration", str(int(seconds)), "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def _profile_summary(out: Path) -> dict[str, Any]:
    if not out.exists():
        return {"error": "py-spy produced nothing"}
    note = "py-spy --rate 100 --threads --nonblocking (idle samples excluded); % of main-thread samples"
    return {"note": note, **profile_summary(out)}


def run(args: argparse.Namespace, result: dict[str, Any], work: Path) -> None:
    from tests.peers.pcapgen import rfc4733_pcap

    rate, duration, talk = args.rate, args.duration, args.talk
    calls = max(1, round(rate * duration))
    n_agents = args.agents or min(calls + 10, math.ceil(rate * (talk + 20) * 1.1))
    farms_n = args.farms or max(1, math.ceil(n_agents / 300))
    ncpu = os.cpu_count() or 1
    server_cpu = None if args.no_pin or ncpu < 2 else args.server_cpu
    others = ",".join(str(c) for c in range(ncpu) if c != server_cpu) if server_cpu is not None else None
    result["inputs"].update(
        {"calls": calls, "agents": n_agents, "farms": farms_n, "server_cpu": server_cpu, "sipp_cpus": others}
    )
    if others:
        os.sched_setaffinity(0, {int(c) for c in others.split(",")})

    config = work / "hotline.toml"
    media_timeout = max(30.0, talk + args.duration + 120)
    config.write_text(
        f"[media]\nmedia_timeout = {media_timeout}\nrecord_calls = {'false' if args.no_record else 'true'}\n"
        '[log]\nlevel = "warning"\n'
    )
    result["inputs"]["server_config"] = config.read_text()

    t = time.monotonic()
    agents = seed(work / "data", config, n_agents)
    result["setup"] = {"seed_s": _r(time.monotonic() - t)}

    server = InboundServer(work, config, server_cpu)
    farms: list[AgentFarm] = []
    callers: subprocess.Popen[bytes] | None = None
    warm: subprocess.Popen[bytes] | None = None
    spy: subprocess.Popen[bytes] | None = None
    try:
        server.start()
        result["server"] = {"pid": server.pid, "sip_port": server.sip_port}
        result["trust"] = register_trust(server, work)

        # agent farms: register, then log every agent in ready
        t = time.monotonic()
        hold_ms = int((duration + talk + 600) * 1000)
        per = math.ceil(len(agents) / farms_n)
        for k in range(farms_n):
            chunk = agents[k * per : (k + 1) * per]
            rows = [
                f"{ext};demo;[authentication username={ext} password={SIP_PASSWORD}]" for _u, ext in chunk
            ]
            farm = AgentFarm(k, work, rows, server, others)
            farm.start(hold_ms, args.ring_ms, int(talk * 1000), reg_rate=max(5, 100 // farms_n))
            farms.append(farm)
        # 100 REGISTER flows/s in all: faster floods answer 503 (Retry-After) on one core
        deadline = time.monotonic() + 30 + len(agents) / 50
        while time.monotonic() < deadline and sum(f.registered() for f in farms) < len(agents):
            time.sleep(0.2)
        registered = sum(f.registered() for f in farms)
        result["setup"]["registered"] = registered
        result["setup"]["register_s"] = _r(time.monotonic() - t)
        if registered < len(agents):
            raise RuntimeError(f"only {registered} of {len(agents)} agent phones registered")
        result["setup"]["login"] = login_agents(server, agents)
        result["setup"]["agents_after_login"] = server.inbound().get("agents")

        # pcap + caller scenario
        pcap = rfc4733_pcap(work / "dtmf.pcap", args.digit, lead_ms=0, event_ms=DIGIT_END_MS)
        scen = work / "caller.xml"
        bye_timeout = talk + 120
        scen.write_text(caller_xml(pcap, args.dtmf_after_ms, bye_timeout))

        # warm-up: one call (TTS prompts rendered and cached), measured separately
        wdir = work / "warmup"
        wdir.mkdir()
        (wdir / "rows.csv").write_text(f"SEQUENTIAL\n{WARMUP_NUMBER};95598;x\n")
        wcmd = _sipp_cmd(
            server, scen, "-inf", str(wdir / "rows.csv"), "-m", "1", "-mp", "39000",
            "-stf", str(wdir / "stats.csv"), "-log_file", str(wdir / "caller.log"),
            "-error_file", str(wdir / "errors.log"), "-recv_timeout", "30000",
        )  # fmt: skip
        warm = subprocess.Popen(
            _pin(wcmd, others), cwd=wdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(
            _key(e[1]) == _key(WARMUP_NUMBER) for f in farms for e in f.events()["ANSWERED"] if len(e) > 1
        ):
            time.sleep(0.2)
        time.sleep(1.0)
        warm_state = server.inbound()
        result["warmup"] = {
            "answered_by_agent": any(len(f.events()["ANSWERED"]) for f in farms),
            "digit_to_ringing_ms": [_r(v * 1000, 1) for v in warm_state.get("digit_to_ringing", [])],
        }
        skip = len(warm_state.get("digit_to_ringing", []))

        # callers
        cdir = work / "callers"
        cdir.mkdir()
        rows = "".join(f"{CALLER_PREFIX}{10_000_000 + i:08d};95598;x\n" for i in range(calls))
        (cdir / "rows.csv").write_text("SEQUENTIAL\n" + rows)
        limit = int(rate * (talk + 90)) + 100
        cmd = _sipp_cmd(
            server, scen, "-inf", str(cdir / "rows.csv"), "-m", str(calls), "-r", str(rate), "-rp", "1000",
            "-l", str(limit), "-mp", "40000", "-recv_timeout", "30000",
            "-timeout", f"{int(duration + talk + bye_timeout + 60)}s",
            "-trace_rtt", "-rtt_freq", "1",
            "-stf", str(cdir / "stats.csv"), "-log_file", str(cdir / "caller.log"),
            "-error_file", str(cdir / "errors.log"),
        )  # fmt: skip
        server.state()  # reset GC and clock statistics
        cpu_run0, wall_run0 = _proc_cpu(server.pid), time.monotonic()
        t0_wall = time.time()
        callers = subprocess.Popen(
            _pin(cmd, others), cwd=cdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        pyspy = shutil.which("py-spy", path=str(Path(PY).parent)) or shutil.which("py-spy")
        prof_out = work / "profile.txt"
        pool: list[list[Any]] = []
        with CpuSampler(server.pid) as placing:
            prof_at = time.monotonic() + max(0.0, duration / 2 - args.profile_seconds / 2)
            end = time.monotonic() + duration + 1
            next_sample = time.monotonic() + 5
            while time.monotonic() < end and callers.poll() is None:
                if args.profile and spy is None and pyspy and time.monotonic() >= prof_at:
                    spy = _profile(pyspy, server.pid, args.profile_seconds, prof_out)
                if time.monotonic() >= next_sample:  # agent pool and calls in progress, every 5 s
                    next_sample += 5
                    snap = server.inbound()
                    pool.append([_r(time.time() - t0_wall, 1), snap.get("service_calls"), snap.get("agents")])
                time.sleep(0.1)
        state_placing = server.state()
        inb_placing = server.inbound()
        with CpuSampler(server.pid) as rest:
            try:
                _o, err = callers.communicate(timeout=talk + bye_timeout + 120)
            except subprocess.TimeoutExpired:
                _stop_sipp(callers)
                _o, err = callers.communicate()
        cpu_run1, wall_run1 = _proc_cpu(server.pid), time.monotonic()
        with contextlib.suppress(subprocess.TimeoutExpired):
            if warm is not None:
                warm.wait(5)
        _stop_sipp(warm)
        if spy is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.communicate(timeout=args.profile_seconds + 30)
            _kill(spy)

        # results
        inb = server.inbound()
        stats = _sipp_stats_file(cdir / "stats.csv")
        rtt = _sipp_rtt(cdir, "caller", callers.pid)
        created = int(stats.get("TotalCallCreated", "0") or 0)
        ok = int(stats.get("SuccessfulCall(C)", "0") or 0)
        failed = int(stats.get("FailedCall(C)", "0") or 0)
        invites: dict[str, float] = {}
        answers: list[float] = []
        farm_counts: collections.Counter[str] = collections.Counter()
        for f in farms:
            ev = f.events()
            for tag, lst in ev.items():
                farm_counts[tag] += len(lst)
            for e in ev["INVITE"]:
                w = _wall(e, 2)
                if len(e) > 1 and w is not None and _key(e[1]) != _key(WARMUP_NUMBER):
                    invites.setdefault(_key(e[1]), w)
            for e in ev["ANSWERED"]:
                w = _wall(e, 2)
                if len(e) > 1 and w is not None and _key(e[1]) != _key(WARMUP_NUMBER):
                    answers.append(w)
        e2e: list[tuple[float, float]] = []  # (seconds into the run, delay)
        for e in _log_lines(cdir / "caller.log", "DTMF"):
            w = _wall(e, 2)
            if len(e) > 1 and w is not None and _key(e[1]) in invites:
                digit_end = w + DIGIT_END_MS / 1000
                e2e.append((digit_end - t0_wall, invites[_key(e[1])] - digit_end))
        answers.sort()
        # agent answers per second, the first and last 2 % left out (a few late calls do not
        # stretch the window)
        k = len(answers) // 50
        core = answers[k : len(answers) - k]
        answered_rate = (len(core) - 1) / (core[-1] - core[0]) if len(core) > 2 else None
        srv = inb.get("digit_to_ringing", [])[skip:]
        buckets: dict[int, list[float]] = collections.defaultdict(list)
        for at, d in e2e:
            buckets[int(at // 10) * 10].append(d)
        cpu_whole = 100 * (cpu_run1 - cpu_run0) / max(1e-9, wall_run1 - wall_run0)

        result["calls"] = {
            "offered_calls_per_s": rate,
            "placed": created,
            "successful": ok,
            "failed": failed,
            "failed_detail": {
                k: int(v)
                for k, v in stats.items()
                if k.startswith("Failed") and k.endswith("(C)") and v not in ("0", "")
            },
            "retransmissions": int(stats.get("Retransmissions(C)", "0") or 0),
            "sipp_placing_rate_calls_per_s": _r(created / max(1e-9, float(duration)), 1),
            "agent_phone_invites": len(invites),
            "answered_by_agent": len(answers),
            "answered_calls_per_s": _r(answered_rate, 2),
            "farm_events": dict(farm_counts),
            "sipp_rc": callers.returncode,
            "sipp_stderr": err.decode(errors="replace")[-300:] if callers.returncode else "",
        }
        result["digit_to_ringing_ms"] = _dist(srv)
        result["client_digit_to_agent_invite_ms"] = _dist([d for _a, d in e2e])
        result["client_digit_to_agent_invite_ms"]["per_10s_of_run"] = [
            [b, len(v), _r(_pct([x * 1000 for x in v], 50), 1), _r(_pct([x * 1000 for x in v], 99), 1)]
            for b, v in sorted(buckets.items())
        ]
        result["client_digit_to_agent_invite_ms"]["per_10s_columns"] = "run second, n, p50 ms, p99 ms"
        rts = [ms for _t, ms in rtt]
        result["caller_invite_to_200_ms"] = {
            "n": len(rts),
            "p50": _pct(rts, 50),
            "p99": _pct(rts, 99),
            "max": max(rts, default=None),
        }
        result["server_cpu"] = {
            "while_placing": placing.summary(),
            "after_placing_until_last_bye": rest.summary(),
            "whole_run_mean_pct": _r(cpu_whole, 1),
            "cpu_ms_per_call": _r(1000 * (cpu_run1 - cpu_run0) / max(1, created), 2),
        }
        result["server_gc_pauses"] = {
            "while_placing": state_placing.get("gc_pauses"),
            "after_placing": server.state().get("gc_pauses"),
        }
        result["while_placing_end"] = {
            "active_calls": state_placing.get("active_calls"),
            "service_calls": inb_placing.get("service_calls"),
            "agents": inb_placing.get("agents"),
            "every_5s": pool,
            "every_5s_columns": "run second, calls in the service path, agents by state",
        }
        result["sip_server"] = {
            k: v
            for k, v in (inb.get("sip") or {}).items()
            if isinstance(v, int | float) and v and k != "uptime"
        }
        if args.profile:
            result["profile"] = (
                _profile_summary(prof_out)
                if pyspy
                else {"error": "py-spy not installed (.venv/bin/pip install py-spy)"}
            )

        # leftovers: every caller has hung up (or failed): nothing should be left; then the
        # phones are stopped (after this, in-flight OPTIONS pings to them would show as tasks)
        result["server_idle_after"] = server.wait_idle(40)
        after = server.state()
        inb_after = server.inbound()
        result["leftovers_after"] = {
            **{
                k: after.get(k)
                for k in ("active_calls", "endpoints_in_use", "engine_endpoints", "asyncio_tasks")
            },
            "asyncio_task_coroutines": after.get("asyncio_task_coroutines"),
            "service_calls": inb_after.get("service_calls"),
        }
        for f in farms:
            f.stop()
        result["cdr"] = _cdr(server.db)
        result["summary"] = _summary(result, rate)
    finally:
        _stop_sipp(callers)
        _stop_sipp(warm)
        _kill(spy)
        for f in farms:
            f.stop()
        rc = server.stop()
        result["server_exit_code"] = rc
        log = server.log.read_text(errors="replace") if server.log.exists() else ""
        kinds: collections.Counter[str] = collections.Counter()
        for line in log.splitlines():
            if " WARNING " in line or " ERROR " in line or "Traceback" in line:
                # one entry per kind of message (timestamps, call ids and numbers masked)
                kinds[re.sub(r"[0-9a-f]{16,}|\d+(\.\d+)?", "#", line.split(" ", 2)[-1])[:200]] += 1
        result["server_log_warnings"] = [[k, n] for k, n in kinds.most_common(15)]


def _sipp_stats_file(path: Path) -> dict[str, str]:
    import csv

    if not path.exists():
        return {}
    rows = list(csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) >= 2 else {}


def _summary(result: dict[str, Any], rate: float) -> dict[str, Any]:
    c = result["calls"]
    d = result["digit_to_ringing_ms"]
    e = result["client_digit_to_agent_invite_ms"]
    sustained = bool(
        c["failed"] == 0
        and c["placed"] > 0
        and c["answered_by_agent"] >= c["placed"]
        and (c["answered_calls_per_s"] or 0) >= 0.95 * rate
    )
    return {
        "sustained_criteria": "0 failed, every placed call answered by an agent phone, agent answers/s >= 95 % "
        "of the offered rate",
        "offered_calls_per_s": rate,
        "answered_calls_per_s": c["answered_calls_per_s"],
        "sustained": sustained,
        "digit_to_ringing_p99_ms": d["p99"],
        "client_digit_to_agent_invite_p99_ms": e["p99"],
        "target_p99_below_100_ms_met": bool(sustained and d["p99"] is not None and d["p99"] < 100),
        "server_cpu_pct_while_placing": result["server_cpu"]["while_placing"]["mean_pct"],
        "server_cpu_peak_1s_pct": result["server_cpu"]["while_placing"]["peak_1s_pct"],
        "one_core": result["inputs"]["server_cpu"] is not None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 calls/s for 30 s, 10 s talk (~2 minutes)")
    ap.add_argument("--rate", type=float, default=None, help="new calls per second (default 20; quick 10)")
    ap.add_argument(
        "--duration", type=float, default=None, help="seconds of new calls (default 60; quick 30)"
    )
    ap.add_argument("--talk", type=float, default=None, help="agent talk time, s (default 30; quick 10)")
    ap.add_argument("--agents", type=int, default=0, help="agents (default rate * (talk + 20) * 1.1)")
    ap.add_argument("--farms", type=int, default=0, help="SIPp agent-farm processes (default agents / 300)")
    ap.add_argument(
        "--digit", default="2", choices=list("0123456789"), help="menu key (2: fault, 0: general)"
    )
    ap.add_argument("--dtmf-after-ms", type=int, default=1000, help="digit this long after the IVR answers")
    ap.add_argument("--ring-ms", type=int, default=100, help="agent phone: 180 -> 200 delay")
    ap.add_argument("--server-cpu", type=int, default=0, help="core the server is pinned to (taskset)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the server (or SIPp)")
    ap.add_argument("--no-record", action="store_true", help="[media] record_calls = false")
    ap.add_argument("--profile", action="store_true", help="py-spy the server in the middle of the run")
    ap.add_argument("--profile-seconds", type=float, default=10.0)
    args = ap.parse_args()
    args.rate = args.rate or (10.0 if args.quick else 20.0)
    args.duration = args.duration or (30.0 if args.quick else 60.0)
    args.talk = args.talk or (10.0 if args.quick else 30.0)
    if shutil.which("sipp") is None or shutil.which("taskset") is None:
        print(json.dumps({"error": "needs sipp (Debian sip-tester) and taskset (util-linux)"}))
        sys.exit(1)
    sys.path.insert(0, str(ROOT))
    started = time.monotonic()
    result: dict[str, Any] = {
        "bench": "inbound_bench",
        "what": "SIPp callers -> 95598 demo flow (digit) -> queue -> SIPp agent phones (auto answer); loopback",
        "inputs": {
            "rate_calls_per_s": args.rate,
            "duration_s": args.duration,
            "talk_s": args.talk,
            "digit": args.digit,
            "dtmf_after_ms": args.dtmf_after_ms,
            "ring_ms": args.ring_ms,
            "record_calls": not args.no_record,
            "media": "callers: RFC 4733 digit only; agent phones: no RTP",
            "quick": args.quick,
        },
        "machine": machine_info(),
    }
    work = Path(tempfile.mkdtemp(prefix="inbound_bench_"))
    try:
        run(args, result, work)
    except Exception as exc:  # report what was measured so far
        result["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        result["elapsed_s"] = round(time.monotonic() - started, 1)
        if os.environ.get("INBOUND_BENCH_KEEP"):
            result["work_dir"] = str(work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
