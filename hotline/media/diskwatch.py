"""Free-disk alarm for the recordings directory.

:func:`classify` is the policy, a pure function from a disk usage (total/free bytes), the
:class:`DiskThresholds` and the previous state to a :data:`DiskState`:

* ``critical`` when free space is below ``critical_bytes`` **or** below ``critical_percent``
  of the filesystem; ``low`` likewise with ``low_bytes`` / ``low_percent``; else ``ok``.
  Both limits are minimums -- whichever is violated first counts; a limit of 0 disables it.
  (On a very large disk the percentage triggers first; set it to 0 to alarm on bytes only.)
* Hysteresis: leaving a worse state needs ``hysteresis`` (default 5 %) more free space than
  the threshold that caused it, so a disk hovering around a limit does not flap.

:class:`DiskWatch` measures a directory with ``shutil.disk_usage`` (injectable as
``disk_usage=`` -- a seam for tests and other filesystems) every ``interval_s`` seconds in
an asyncio task (the call runs in a thread: a slow NFS mount never blocks the event loop),
keeps :attr:`DiskWatch.state` and the last usage, logs every transition (``low``:
warning, ``critical``: error, back to ``ok``: info) and calls ``on_change``.  A failing
measurement (e.g. the directory vanished) is logged as an error and keeps the previous state.

Engine hook: ``BuiltinMediaEngine(config, disk_watch=watch)`` (or
:meth:`~hotline.media.builtin.BuiltinMediaEngine.set_disk_watch`) makes ``record_start``
raise :class:`~hotline.media.engine.RecordingRefused` while the watch is ``critical``.
Calls continue unrecorded; recordings already running are not stopped (if the disk
really fills up they end with a ``RecordingFailed`` event).  The engine does not start or
stop the watch: the application does (``watch.start()`` / ``await watch.stop()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

__all__ = ["DiskState", "DiskThresholds", "DiskUsage", "DiskWatch", "GiB", "MiB", "UsageLike", "classify"]

log = logging.getLogger(__name__)

DiskState = Literal["ok", "low", "critical"]
_RANK: dict[DiskState, int] = {"ok": 0, "low": 1, "critical": 2}
GiB = 1 << 30
MiB = 1 << 20


class UsageLike(Protocol):
    """What ``shutil.disk_usage`` returns (total/used/free bytes)."""

    @property
    def total(self) -> int: ...

    @property
    def free(self) -> int: ...


@dataclass(frozen=True, slots=True)
class DiskUsage:
    total: int
    used: int
    free: int

    @property
    def free_percent(self) -> float:
        return 100.0 * self.free / self.total if self.total > 0 else 0.0


@dataclass(frozen=True, slots=True)
class DiskThresholds:
    low_bytes: int = 2 * GiB
    low_percent: float = 5.0
    critical_bytes: int = 500 * MiB
    critical_percent: float = 1.0
    hysteresis: float = 0.05  # fraction above a threshold needed to leave the worse state

    def __post_init__(self) -> None:
        if min(self.low_bytes, self.critical_bytes) < 0 or min(self.low_percent, self.critical_percent) < 0:
            raise ValueError("thresholds must not be negative")
        if self.critical_bytes > self.low_bytes or self.critical_percent > self.low_percent:
            raise ValueError("critical thresholds must not exceed the low thresholds")
        if self.low_percent > 100 or not 0 <= self.hysteresis < 1:
            raise ValueError("low_percent must be <= 100 and hysteresis in [0, 1)")


def _level(free: int, free_percent: float, th: DiskThresholds, factor: float) -> DiskState:
    if free < th.critical_bytes * factor or free_percent < th.critical_percent * factor:
        return "critical"
    if free < th.low_bytes * factor or free_percent < th.low_percent * factor:
        return "low"
    return "ok"


def classify(usage: UsageLike, thresholds: DiskThresholds, previous: DiskState | None = None) -> DiskState:
    """The disk state for ``usage`` (pure; ``previous`` enables the hysteresis)."""
    total, free = int(usage.total), int(usage.free)
    pct = 100.0 * free / total if total > 0 else 0.0
    raw = _level(free, pct, thresholds, 1.0)
    if previous is None or _RANK[raw] >= _RANK[previous]:
        return raw
    # getting better: only as far as the thresholds raised by the hysteresis allow
    held = _level(free, pct, thresholds, 1.0 + thresholds.hysteresis)
    best = held if _RANK[held] < _RANK[previous] else previous
    return best if _RANK[best] > _RANK[raw] else raw


class DiskWatch:
    """Periodic free-space check of one directory (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        thresholds: DiskThresholds | None = None,
        *,
        interval_s: float = 30.0,
        disk_usage: Callable[[Path], UsageLike] = shutil.disk_usage,
        on_change: Callable[[DiskState, DiskState, DiskUsage], None] | None = None,
    ) -> None:
        if interval_s <= 0:
            raise ValueError("interval_s must be positive")
        self.path = Path(path)
        self.thresholds = thresholds or DiskThresholds()
        self.interval_s = interval_s
        self._disk_usage = disk_usage
        self.on_change = on_change
        self.state: DiskState = "ok"  # until the first measurement
        self.usage: DiskUsage | None = None
        self.last_error: str | None = None
        self.checks = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def recording_allowed(self) -> bool:
        return self.state != "critical"

    def check(self) -> DiskState:
        """Measure now (blocking call to ``disk_usage``) and update the state."""
        self.checks += 1
        try:
            u = self._disk_usage(self.path)
            usage = DiskUsage(int(u.total), int(u.total) - int(u.free), int(u.free))
        except OSError as exc:
            if self.last_error is None:
                log.error("cannot measure free space of %s: %s (state stays %s)", self.path, exc, self.state)
            self.last_error = str(exc)
            return self.state
        if self.last_error is not None:
            log.info("free space of %s measurable again", self.path)
        self.last_error = None
        self.usage = usage
        old = self.state
        new = classify(usage, self.thresholds, old)
        self.state = new
        if new != old:
            self._report(old, new, usage)
        return new

    def _report(self, old: DiskState, new: DiskState, usage: DiskUsage) -> None:
        msg = "recordings disk %s: %s -> %s (%.1f MiB free, %.2f %% of %.1f GiB)"
        args = (self.path, old, new, usage.free / MiB, usage.free_percent, usage.total / GiB)
        if new == "critical":
            log.error(msg + "; new recordings are refused", *args)
        elif new == "low":
            log.warning(msg, *args)
        else:
            log.info(msg, *args)
        if self.on_change is not None:
            try:
                self.on_change(old, new, usage)
            except Exception:
                log.exception("disk watch on_change handler failed")

    async def check_async(self) -> DiskState:
        """:meth:`check` in a worker thread (the event loop never blocks on the filesystem)."""
        return await asyncio.to_thread(self.check)

    def start(self) -> None:
        """Start the periodic check (idempotent; the first check runs immediately)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"diskwatch {self.path}")

    async def _run(self) -> None:
        while True:
            try:
                await self.check_async()
            except Exception:  # a bug in a handler must not end the watch
                log.exception("disk watch check failed")
            await asyncio.sleep(self.interval_s)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()
