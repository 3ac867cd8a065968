"""``hotline serve`` for bench/call_bench.py, plus one hook: SIGUSR1 writes the media engine's own
clock health (:meth:`BuiltinMediaEngine.clock_stats`), the call manager's counters, the number of
asyncio tasks and the garbage collector's pauses to the file named by ``CALL_BENCH_STATE_FILE``,
then resets the clock and GC statistics (so each dump covers the time since the previous one).
Nothing else differs from ``hotline serve``.

Usage: python bench/call_bench_serve.py serve --demo --data-dir DIR --http-port P --sip-port S
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import os
import signal
import sys
import time
from pathlib import Path

from hotline.cti import service

_start = service.Telephony.start
_gc_started = 0.0
_gc: dict[str, float] = {}


def _coro_name(task: asyncio.Task[object]) -> str:
    coro = task.get_coro()
    inner = getattr(coro, "cr_await", None)
    name = getattr(coro, "__qualname__", type(coro).__name__)
    # CallManager._spawn wraps coroutines in run(): name the awaited one too
    if inner is not None and hasattr(inner, "__qualname__"):
        name += " > " + inner.__qualname__
    return name


def _gc_callback(phase: str, info: dict[str, int]) -> None:
    """Pauses of the garbage collector per generation (count, total and longest, in ms)."""
    global _gc_started
    if phase == "start":
        _gc_started = time.perf_counter()
        return
    ms = (time.perf_counter() - _gc_started) * 1000
    g = info.get("generation", 0)
    _gc[f"gen{g}_count"] = _gc.get(f"gen{g}_count", 0) + 1
    _gc[f"gen{g}_total_ms"] = round(_gc.get(f"gen{g}_total_ms", 0.0) + ms, 3)
    _gc[f"gen{g}_max_ms"] = round(max(_gc.get(f"gen{g}_max_ms", 0.0), ms), 3)


async def _start_with_dump(self: service.Telephony) -> None:
    await _start(self)
    target = os.environ.get("CALL_BENCH_STATE_FILE")
    if not target:
        return

    def dump() -> None:
        media = self.media
        state = {
            "t": time.time(),
            "clock": media.clock_stats(),
            "active_calls": self.calls.active_calls,
            "endpoints_in_use": self.calls.endpoints_in_use,
            "engine_endpoints": len(media._legs),
            "asyncio_tasks": len(asyncio.all_tasks()),
            "asyncio_task_coroutines": dict(collections.Counter(_coro_name(t) for t in asyncio.all_tasks())),
            "gc_pauses": dict(_gc),
        }
        media.clock.reset()
        _gc.clear()
        tmp = Path(target + ".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(target)

    gc.callbacks.append(_gc_callback)
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump)


service.Telephony.start = _start_with_dump  # type: ignore[method-assign]

if __name__ == "__main__":
    from hotline.cli import app

    app(prog_name="hotline", args=sys.argv[1:])
