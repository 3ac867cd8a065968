"""``hotline serve`` for bench/events_bench.py, plus a bench publisher inside the server process.

The publisher polls the JSON file named by ``EVENTS_BENCH_CONTROL`` (every 50 ms). A new
``run`` id starts a run: for ``duration`` seconds it publishes ``rate`` events/s, each carrying
its publish time (``data.t``, ``time.time()``):

* ``mode = "agents"`` (realistic scope): each event is an ``agent_state`` of one bench agent,
  appended to the queue event log like the ACD's (durable, then published to the hub: the
  agent's own desktop gets it); plus, every ``stats_every`` seconds, a ``stats`` event with one
  row per bench agent and the demo queues (each desktop gets its own row);
* ``mode = "broadcast"``: each event goes to every bench agent (``users=`` all of them — one
  frame, encoded once, to every connection).

When the run is over it writes ``{"run", "published", "stats", "late_ms"}`` to
``EVENTS_BENCH_DONE`` (``late_ms``: how far the publisher fell behind its schedule at most).
Nothing else differs from ``hotline serve``.

Usage: python bench/events_bench_serve.py serve --config FILE --data-dir DIR --http-port P
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

from starlette.websockets import WebSocket

from hotline.cti import center as center_mod

_start = center_mod.ContactCenter.start
_send_text = WebSocket.send_text
_T = re.compile(r'"t":([0-9.]+)')
#: server side: publish -> the frame handed to the socket (seconds), while a run is measured
SENT: list[float] = []
MEASURING = [False]


async def _send_text_timed(self: WebSocket, data: str) -> None:
    await _send_text(self, data)
    if MEASURING[0] and data.startswith('{"seq"'):
        m = _T.search(data)
        if m is not None:
            SENT.append(time.time() - float(m.group(1)))


_GC: dict[str, float] = {}
_gc_started = [0.0]


def _gc_callback(phase: str, info: dict[str, int]) -> None:
    """Garbage collector pauses while a run is measured (count, total and longest per generation)."""
    if phase == "start":
        _gc_started[0] = time.perf_counter()
        return
    if not MEASURING[0]:
        return
    ms = (time.perf_counter() - _gc_started[0]) * 1000
    g = info.get("generation", 0)
    _GC[f"gen{g}_count"] = _GC.get(f"gen{g}_count", 0) + 1
    _GC[f"gen{g}_total_ms"] = round(_GC.get(f"gen{g}_total_ms", 0.0) + ms, 1)
    _GC[f"gen{g}_max_ms"] = round(max(_GC.get(f"gen{g}_max_ms", 0.0), ms), 1)


gc.callbacks.append(_gc_callback)
WebSocket.send_text = _send_text_timed  # type: ignore[method-assign,assignment]


def _dist(values: list[float]) -> dict[str, Any]:
    if not values:
        return {}
    v = sorted(values)

    def pick(q: float) -> float:
        return round(v[min(len(v) - 1, int(len(v) * q))] * 1000, 1)

    return {
        "n": len(v),
        "p50": pick(0.5),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": round(v[-1] * 1000, 1),
    }


async def _publisher(center: Any, control: Path, done: Path) -> None:
    seen_run = None
    while True:
        await asyncio.sleep(0.05)
        try:
            spec = json.loads(control.read_text())  # noqa: ASYNC240 (a tiny local file)
        except (OSError, ValueError):
            continue
        if spec.get("run") == seen_run:
            continue
        seen_run = spec["run"]
        result = await _run(center, spec)
        tmp = done.with_suffix(".tmp")
        tmp.write_text(json.dumps({"run": seen_run, **result}))
        tmp.replace(done)


async def _run(center: Any, spec: dict[str, Any]) -> dict[str, Any]:
    tid = next(iter(center.acd.tenants))
    acd = center.acd.tenants[tid]
    agents = sorted(uid for uid, s in acd.agents.items() if s.username.startswith("bench"))
    everyone = frozenset(agents)
    queues = [{"queue": name, "unit_id": q.unit_id, "waiting": 0} for name, q in acd.queues.items()]
    mode, rate, duration = spec["mode"], float(spec["rate"]), float(spec["duration"])
    stats_every = float(spec.get("stats_every", 2.0))
    hub, log = center.hub, center.events
    start = time.monotonic()
    published = stats = 0
    late = 0.0
    next_stats = start + stats_every
    i = 0
    lags: list[float] = []
    sampler = asyncio.ensure_future(_lag_sampler(lags))
    SENT.clear()
    _GC.clear()
    MEASURING[0] = True
    while True:
        now = time.monotonic()
        if now - start >= duration:
            break
        due = int((now - start) * rate) + 1
        if due - published > 1:
            late = max(late, (due - published - 1) / rate)
        while published < due:
            t = time.time()
            if mode == "agents":
                aid = agents[i % len(agents)]
                log.append(tid, "agent_state", agent_id=aid, t=t, old="available", new="busy", reason=None)
            else:
                hub.publish(tid, "bench", users=everyone, data={"t": t, "i": i})
            i += 1
            published += 1
        if mode == "agents" and now >= next_stats:
            next_stats += stats_every
            t = time.time()
            rows = [{"agent_id": a, "state": "busy", "handled": 3} for a in agents]
            hub.publish(tid, "stats", data={"t": t, "queues": queues, "agents": rows})
            stats += 1
        await asyncio.sleep(max(0.0, start + published / rate - time.monotonic()))
    sampler.cancel()
    await asyncio.sleep(2.0)  # frames still queued when publishing stopped
    MEASURING[0] = False
    lags.sort()
    return {
        "published": published,
        "stats": stats,
        "late_ms": round(late * 1000, 1),
        "agents": len(agents),
        "server_publish_to_send_ms": _dist(SENT),
        "gc_pauses": dict(_GC),
        # how late a 10 ms timer fired: the event loop busy (or the process waiting for the CPU)
        "loop_lag_ms": {
            "p50": round(lags[len(lags) // 2] * 1000, 1) if lags else None,
            "p99": round(lags[int(len(lags) * 0.99)] * 1000, 1) if lags else None,
            "max": round(lags[-1] * 1000, 1) if lags else None,
        },
    }


async def _lag_sampler(lags: list[float]) -> None:
    while True:
        t = time.monotonic()
        await asyncio.sleep(0.01)
        lags.append(max(0.0, time.monotonic() - t - 0.01))


async def _start_with_publisher(self: Any) -> None:
    await _start(self)
    control, done = os.environ.get("EVENTS_BENCH_CONTROL"), os.environ.get("EVENTS_BENCH_DONE")
    if control and done:
        self._bench_publisher = asyncio.ensure_future(_publisher(self, Path(control), Path(done)))


center_mod.ContactCenter.start = _start_with_publisher  # type: ignore[method-assign]

if __name__ == "__main__":
    from hotline.cli import app

    app(prog_name="hotline", args=sys.argv[1:])
