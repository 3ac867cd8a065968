"""RTP peers for bench/call_bench.py: N UDP sockets on 127.0.0.1 that stand in for the media of N
SIPp calls (SIPp only signals; its SDP names these ports).

Each socket waits for the first RTP packet from the server (the engine sends to the SDP address
as soon as it answers), then sends 20 ms PCMA packets back to that packet's source address
(symmetric RTP) until the server stops sending.  Every received packet is timestamped by the
kernel (``SO_TIMESTAMPNS``), so the receive-side timing does not depend on how promptly this
process reads its sockets.

Per stream: received packets, lost packets (extended-sequence gaps), and the send-time offset
of every packet against its RTP timestamp: ``D = arrival - ts/8000``, relative to the stream's
minimum ``D`` (0 for a packet sent exactly on the clock; skipped engine ticks advance the RTP
timestamp, so they do not count as jitter).  Also the inter-arrival deviation
``|arrival[i] - arrival[i-1] - 20 ms|``.  Results are pooled over all streams.

Timing is reported for whole calls and, if ``<out>.window`` holds ``{"start": t0, "end": t1}``
(Unix times) when the fleet stops, for packets that arrived within that steady-state window.

Usage: python bench/call_bench_fleet.py --n N --ports-file F --out F [--max-seconds S]
       (writes the ports as a SIPp injection file, runs until SIGTERM or --max-seconds, writes JSON)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import selectors
import signal
import socket
import struct
import time
from pathlib import Path

import numpy as np

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
PTIME = 0.020
SKIP_FIRST = 5  # packets per stream ignored for timing (call set-up)
PAYLOAD = bytes([0xD5]) * 160  # PCMA digital silence


class Stream:
    __slots__ = ("arr", "last_rx", "remote", "rtp_ts", "sent", "seq", "seqs", "sock", "ts")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.remote: tuple[str, int] | None = None
        self.seq = 1000
        self.ts = 0
        self.arr: list[float] = []
        self.rtp_ts: list[int] = []
        self.seqs: list[int] = []
        self.sent = 0
        self.last_rx = 0.0


def _pct(values: np.ndarray, q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else 0.0


def _timing(streams: list[Stream], window: tuple[float, float] | None) -> dict[str, object]:
    """Send-time offsets and inter-arrival deviations, pooled over streams (arrivals in ``window``)."""
    offsets: list[np.ndarray] = []
    deltas: list[np.ndarray] = []
    for st in streams:
        arr = np.array(st.arr, dtype=np.float64)[SKIP_FIRST:]
        rts = np.array(st.rtp_ts, dtype=np.int64)[SKIP_FIRST:]
        if window is not None:
            keep = (arr >= window[0]) & (arr <= window[1])
            arr, rts = arr[keep], rts[keep]
        if len(arr) < 2:
            continue
        ets = np.concatenate([[0], np.cumsum(((np.diff(rts) + 2**31) % 2**32) - 2**31)])
        d = (arr - arr[0]) - ets / 8000.0
        offsets.append(d - d.min())
        deltas.append(np.abs(np.diff(arr) - PTIME))
    off = np.concatenate(offsets) if offsets else np.zeros(0)
    dev = np.concatenate(deltas) if deltas else np.zeros(0)
    out: dict[str, object] = {"packets": len(off)}
    if window is not None:
        out["seconds"] = round(window[1] - window[0], 1)
    out["send_offset_ms"] = {
        "p50": round(_pct(off, 50) * 1000, 3),
        "p99": round(_pct(off, 99) * 1000, 3),
        "p999": round(_pct(off, 99.9) * 1000, 3),
        "max": round(float(off.max()) * 1000, 3) if len(off) else 0.0,
    }
    out["interarrival_deviation_ms"] = {
        "p50": round(_pct(dev, 50) * 1000, 3),
        "p99": round(_pct(dev, 99) * 1000, 3),
        "max": round(float(dev.max()) * 1000, 3) if len(dev) else 0.0,
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--ports-file", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-seconds", type=float, default=600.0)
    args = ap.parse_args()
    streams: list[Stream] = []
    sel = selectors.DefaultSelector()
    for _ in range(args.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 18)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        st = Stream(s)
        streams.append(st)
        sel.register(s, selectors.EVENT_READ, st)
    tmp = args.ports_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("SEQUENTIAL\n" + "".join(f"{st.sock.getsockname()[1]}\n" for st in streams))
    os.replace(tmp, args.ports_file)

    stop = False

    def on_term(_sig: int, _frm: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    hdr = struct.Struct("!BBHII")
    ssrc = 0x5EED0000
    t_end = time.monotonic() + args.max_seconds
    next_send = time.monotonic() + PTIME
    send_late: list[float] = []
    cmsg_space = socket.CMSG_SPACE(16)
    while not stop and time.monotonic() < t_end:
        timeout = max(0.0, next_send - time.monotonic())
        for key, _ev in sel.select(timeout):
            st: Stream = key.data
            for _ in range(64):
                try:
                    data, anc, _flags, addr = st.sock.recvmsg(2048, cmsg_space)
                except (BlockingIOError, InterruptedError):
                    break
                if len(data) < 12 or (data[1] & 0x7F) >= 72:  # RTCP (or garbage): not timed
                    continue
                arrival = 0.0
                for level, typ, cdata in anc:
                    if level == socket.SOL_SOCKET and typ == SCM_TIMESTAMPNS:
                        sec, nsec = struct.unpack("qq", cdata[:16])
                        arrival = sec + nsec * 1e-9
                if not arrival:
                    arrival = time.time()
                _b0, _pt, seq, ts, _ssrc = hdr.unpack_from(data)
                if st.remote is None:
                    st.remote = (str(addr[0]), int(addr[1]))
                st.arr.append(arrival)
                st.rtp_ts.append(ts)
                st.seqs.append(seq)
                st.last_rx = time.monotonic()
        now = time.monotonic()
        if now >= next_send:
            send_late.append(now - next_send)
            next_send += PTIME
            if now - next_send > 5 * PTIME:  # far behind: do not burst
                next_send = now + PTIME
            for i, st in enumerate(streams):
                if st.remote is None or now - st.last_rx > 1.0:
                    continue
                pkt = hdr.pack(0x80, 8, st.seq & 0xFFFF, st.ts & 0xFFFFFFFF, ssrc + i) + PAYLOAD
                st.seq += 1
                st.ts += 160
                try:
                    st.sock.sendto(pkt, st.remote)
                    st.sent += 1
                except OSError:
                    pass

    window = None
    with contextlib.suppress(OSError, ValueError):
        w = json.loads(Path(args.out + ".window").read_text())
        window = (float(w["start"]), float(w["end"]))
    received = lost = answered = 0
    per_stream_loss: list[int] = []
    for st in streams:
        if not st.seqs:
            continue
        answered += 1
        seq = np.array(st.seqs, dtype=np.int64)
        ext = np.concatenate([[seq[0]], seq[0] + np.cumsum(((np.diff(seq) + 32768) % 65536) - 32768)])
        expected = int(ext.max() - ext.min() + 1)
        got = len(set(ext.tolist()))
        received += len(seq)
        per_stream_loss.append(max(0, expected - got))
        lost += max(0, expected - got)
    timing = {"whole_calls": _timing(streams, None)}
    if window is not None:
        timing["steady_window"] = _timing(streams, window)
    late = np.array(send_late)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "streams": args.n,
        "streams_with_audio": answered,
        "packets_received": received,
        "packets_lost": lost,
        "loss_pct": round(100.0 * lost / max(1, received + lost), 4),
        "streams_with_loss": sum(1 for x in per_stream_loss if x),
        "packets_sent_by_fleet": sum(st.sent for st in streams),
        **timing,
        "fleet_send_late_ms_p99": round(_pct(late, 99) * 1000, 3),
        "fleet_cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
    }
    with open(args.out, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
