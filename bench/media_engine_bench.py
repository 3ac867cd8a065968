"""Built-in media engine benchmark on loopback; prints one JSON object.

For each N (default 50, 100, 200, 300) N endpoint pairs are created on one
:class:`BuiltinMediaEngine`.  Each pair is a call: a prompt (WAV file, looped)
is played into leg A, legs A and B are bridged, and a stereo recording of
both legs is written.  The "phones" run in a second process (this script with
``--role phones``): pure-Python RTP senders (G.711, 20 ms, absolute-deadline
clock) on 2N UDP sockets, which also time-stamp every packet they receive
from the engine.

Reported per N:

* ``tick_cpu_ms_p50/p99``: thread CPU time of one engine media-clock tick
  (all endpoints: jitter buffers, mixing, encoding, sending, recording);
* ``tick_wall_ms_p50/p99`` and ``tick_late_ms_p99`` (tick start vs deadline);
* ``engine_cpu_pct``: whole engine process CPU (clock + receive path) in % of one core;
* ``jitter_p99_ms``: p99 of |inter-arrival - 20 ms| of the engine's packets at the
  phones' sockets (kernel receive timestamps, SO_TIMESTAMPNS; consecutive sequence
  numbers only; the first second is warm-up and not measured); ``grid_dev_p99_ms``:
  p99 deviation of arrivals from the packets' RTP timestamps (per stream, median removed);
* ``loss_engine_to_phone_pct`` (sequence gaps) and ``loss_phone_to_engine_pct``;
* ``concealed_frames_pct``: jitter-buffer concealment (lost + underrun frames) in the engine
  during the measured window, relative to packets received (late *phone* packets count here);

and ``jitter_p99_exceeds_5ms_at``: the smallest N whose jitter p99 is above 5 ms
(null if none).  Loopback only, bounded in time; stops by itself.

Usage: .venv/bin/python bench/media_engine_bench.py [--sizes 50,100,200,300] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from hotline.media.builtin import BuiltinConfig, BuiltinMediaEngine
from hotline.media.engine import MediaDescription, PayloadFormat, PlayFile
from hotline.media.g711 import PCMU
from hotline.media.tones import tone

HOST = "127.0.0.1"


# -- phones process --------------------------------------------------------------------------------------------


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux
_TIMESPEC = struct.Struct("@ll")


class _PhoneSock:
    """One phone socket; arrival times are kernel receive timestamps (SO_TIMESTAMPNS), so the
    phones' own scheduling delays do not pollute the engine's send-timing measurement."""

    __slots__ = ("arrivals", "seqs", "sock", "timestamps")

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self.sock.bind((HOST, 0))
        self.arrivals: list[float] = []
        self.seqs: list[int] = []
        self.timestamps: list[int] = []

    def readable(self) -> None:
        while True:
            try:
                data, anc, _flags, _addr = self.sock.recvmsg(2048, 64)
            except (BlockingIOError, InterruptedError):
                return
            if len(data) < 12 or 192 <= data[1] <= 223:  # not RTP (RTCP)
                continue
            ts = time.time()
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                    sec, nsec = _TIMESPEC.unpack_from(raw)
                    ts = sec + nsec * 1e-9
            self.arrivals.append(ts)
            self.seqs.append((data[2] << 8) | data[3])
            self.timestamps.append(int.from_bytes(data[4:8], "big"))


async def phones_main(n_sockets: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    socks = [_PhoneSock() for _ in range(n_sockets)]
    for ps in socks:
        loop.add_reader(ps.sock.fileno(), ps.readable)
    ports = [ps.sock.getsockname()[1] for ps in socks]
    print(json.dumps(ports), flush=True)
    line = await loop.run_in_executor(None, sys.stdin.readline)
    targets: list[int] = json.loads(line)
    # a caller/agent "voice": 440 Hz, pre-encoded frames
    voice = tone([440.0], 1000, amplitude=3000)
    payloads = [PCMU.encode(voice[i : i + 160]) for i in range(0, len(voice), 160)]
    hdr = struct.Struct("!BBHII")
    seq = [0] * n_sockets
    sent = send_failed = 0
    t0 = loop.time()
    # measured window (kernel receive timestamps are CLOCK_REALTIME): skip the engine's warm-up
    window = (time.time() + 1.0, time.time() + seconds - 0.2)
    k = 0
    while True:
        now = loop.time()
        if now - t0 >= seconds:
            break
        payload = payloads[k % len(payloads)]
        for i, ps in enumerate(socks):
            pkt = hdr.pack(0x80, 0, seq[i], (k * 160) & 0xFFFFFFFF, 0x1000 + i) + payload
            try:
                ps.sock.sendto(pkt, (HOST, targets[i]))
                sent += 1
            except BlockingIOError:
                send_failed += 1
            seq[i] = (seq[i] + 1) & 0xFFFF
        k += 1
        deadline = t0 + k * 0.02
        await asyncio.sleep(max(0.0, deadline - loop.time()))
    await asyncio.sleep(0.3)  # drain
    inter: list[float] = []
    grid: list[float] = []
    received = expected = 0
    for proto in socks:
        arr = np.array(proto.arrivals)
        keep = (arr >= window[0]) & (arr <= window[1])
        if int(keep.sum()) < 10:
            continue
        arr = arr[keep]
        seqs = np.array(proto.seqs, dtype=np.int64)[keep]
        rtp_ts = np.array(proto.timestamps, dtype=np.int64)[keep]
        ext = seqs[0] + np.concatenate([[0], np.cumsum((np.diff(seqs) + 0x8000) % 0x10000 - 0x8000)])
        received += len(np.unique(ext))
        expected += int(ext.max() - ext.min() + 1)
        consecutive = np.diff(ext) == 1
        inter.extend(np.abs(np.diff(arr)[consecutive] - 0.02).tolist())
        # against the RTP clock (not sequence numbers: skipped ticks advance the timestamp)
        media_t = ((rtp_ts - rtp_ts[0]) % (1 << 32)) / 8000.0
        dev = arr - (arr[0] + media_t)
        grid.extend(np.abs(dev - np.median(dev)).tolist())
    result = {
        "sent": sent,
        "send_failed": send_failed,
        "received": received,
        "expected": expected,
        "jitter_p50_ms": float(np.percentile(inter, 50) * 1000) if inter else None,
        "jitter_p99_ms": float(np.percentile(inter, 99) * 1000) if inter else None,
        "grid_dev_p99_ms": float(np.percentile(grid, 99) * 1000) if grid else None,
    }
    print(json.dumps(result), flush=True)


# -- engine side ----------------------------------------------------------------------------------------------


async def run_size(n_pairs: int, seconds: float, workdir: Path, prompt: Path) -> dict[str, Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--role",
        "phones",
        "--sockets",
        str(2 * n_pairs),
        "--seconds",
        str(seconds),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    phone_ports: list[int] = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
    engine = BuiltinMediaEngine(BuiltinConfig(port_min=30000, port_max=39999, media_timeout_s=None))
    fmt = (PayloadFormat(0, "PCMU"), PayloadFormat(101, "telephone-event", fmtp="0-16"))
    eps = [
        await engine.create_endpoint(f"call-{i // 2}", "ab"[i % 2], MediaDescription(HOST, port, fmt))
        for i, port in enumerate(phone_ports)
    ]
    for i in range(n_pairs):
        a, b = eps[2 * i], eps[2 * i + 1]
        await engine.play(a.id, PlayFile(prompt), loop=True)
        await engine.bridge(a.id, b.id)
        await engine.record_start(workdir / f"rec-{n_pairs}-{i}.wav", a.id, b.id)
    proc.stdin.write((json.dumps([e.local.port for e in eps]) + "\n").encode())
    await proc.stdin.drain()
    await asyncio.sleep(0.5)  # warm-up: latching, jitter buffers
    engine.clock.reset()
    before = [await engine.stats(e.id) for e in eps]
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    await asyncio.sleep(seconds - 1.0)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - t0
    clock = engine.clock_stats()
    during = [await engine.stats(e.id) for e in eps]
    concealed = sum(d.concealed_frames - b.concealed_frames for b, d in zip(before, during, strict=True))
    played = sum(d.packets_received - b.packets_received for b, d in zip(before, during, strict=True))
    out_line = await asyncio.wait_for(proc.stdout.readline(), seconds + 30)  # phones done sending
    stats = [await engine.stats(e.id) for e in eps]
    await proc.wait()
    await engine.close()
    await asyncio.to_thread(_remove_recordings, workdir, n_pairs)
    phones = json.loads(out_line)
    sent_by_phones = phones["sent"]
    received_by_engine = sum(s.packets_received for s in stats)
    return {
        "pairs": n_pairs,
        "endpoints": 2 * n_pairs,
        "tick_cpu_ms_p50": round(clock["cpu_ms_p50"], 3),
        "tick_cpu_ms_p99": round(clock["cpu_ms_p99"], 3),
        "tick_wall_ms_p50": round(clock["wall_ms_p50"], 3),
        "tick_wall_ms_p99": round(clock["wall_ms_p99"], 3),
        "tick_late_ms_p99": round(clock["late_ms_p99"], 3),
        "skipped_ticks": int(clock["skipped_ticks"]),
        "engine_cpu_pct": round(100 * cpu / wall, 1),
        "jitter_p50_ms": _r(phones["jitter_p50_ms"]),
        "jitter_p99_ms": _r(phones["jitter_p99_ms"]),
        "grid_dev_p99_ms": _r(phones["grid_dev_p99_ms"]),
        "loss_engine_to_phone_pct": round(100 * (1 - phones["received"] / max(1, phones["expected"])), 3),
        "loss_phone_to_engine_pct": round(100 * max(0, 1 - received_by_engine / max(1, sent_by_phones)), 3),
        "phone_send_failed": phones["send_failed"],
        "concealed_frames_pct": round(100 * concealed / max(1, played), 3),
    }


def _remove_recordings(workdir: Path, n_pairs: int) -> None:
    for f in workdir.glob(f"rec-{n_pairs}-*.wav"):
        f.unlink()


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


async def engine_main(sizes: list[int], seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="hotline-media-bench-") as tmp:
        workdir = Path(tmp)
        prompt = workdir / "prompt.wav"
        pcm = np.concatenate([tone([600.0, 900.0], 1500, amplitude=4000), np.zeros(4000, dtype=np.int16)])
        with wave.open(str(prompt), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(pcm.astype("<i2").tobytes())
        load_before = os.getloadavg()[0]
        results = [await run_size(n, seconds, workdir, prompt) for n in sizes]
    exceeds = next((r["pairs"] for r in results if (r["jitter_p99_ms"] or 0) > 5.0), None)
    return {
        "benchmark": "media_engine",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_1min_before": round(load_before, 2),  # other work on the machine skews timing
        "seconds_per_size": seconds,
        "phones": "second process, pure-Python RTP senders",
        "results": results,
        "jitter_p99_exceeds_5ms_at": exceeds,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", default="50,100,200,300")
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--role", choices=["engine", "phones"], default="engine")
    p.add_argument("--sockets", type=int, default=0)
    a = p.parse_args()
    if a.role == "phones":
        asyncio.run(phones_main(a.sockets, a.seconds))
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    sizes = [int(x) for x in a.sizes.split(",")]
    print(json.dumps(asyncio.run(engine_main(sizes, a.seconds))))


if __name__ == "__main__":
    main()
