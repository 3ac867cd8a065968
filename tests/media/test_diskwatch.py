"""Free-disk alarm: the pure policy, the watcher (with an injected disk_usage) and the engine hook."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
from pathlib import Path

import pytest

from hotline.media.builtin import BuiltinConfig, BuiltinMediaEngine
from hotline.media.diskwatch import DiskState, DiskThresholds, DiskUsage, DiskWatch, GiB, MiB, classify
from hotline.media.engine import MediaEngineError, RecordingRefused
from hotline.media.softphone import SoftPhone, rms
from hotline.media.tones import tone

TH = DiskThresholds(low_bytes=10 * GiB, low_percent=10.0, critical_bytes=1 * GiB, critical_percent=2.0)
TB = 1 << 40


def usage(free: int, total: int = TB) -> DiskUsage:
    return DiskUsage(total, total - free, free)


# -- policy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("free", "total", "state"),
    [
        (500 * GiB, TB, "ok"),
        (100 * GiB, TB, "low"),  # 9.8 % < 10 %
        (20 * GiB, TB, "critical"),  # 1.95 % < 2 %
        (30 * GiB, 40 * GiB, "ok"),
        (9 * GiB, 40 * GiB, "low"),  # bytes below 10 GiB although 22 % free
        (900 * MiB, 40 * GiB, "critical"),  # bytes below 1 GiB
        (0, 0, "critical"),  # nothing measurable: no space
    ],
)
def test_classify(free: int, total: int, state: DiskState) -> None:
    assert classify(usage(free, total), TH) == state


def test_classify_zero_disables_a_limit() -> None:
    bytes_only = DiskThresholds(low_bytes=10 * GiB, low_percent=0, critical_bytes=GiB, critical_percent=0)
    assert classify(usage(50 * GiB), bytes_only) == "ok"  # 4.9 % of a TB: fine by bytes
    assert classify(usage(5 * GiB), bytes_only) == "low"


def test_classify_hysteresis() -> None:
    just_above_critical = usage(int(2.02 * TB / 100))  # 2.02 % > 2 %, but < 2 % * 1.05
    assert classify(just_above_critical, TH) == "low"
    assert classify(just_above_critical, TH, previous="critical") == "critical"  # stays
    assert classify(usage(int(2.2 * TB / 100)), TH, previous="critical") == "low"
    assert classify(usage(int(10.2 * TB / 100)), TH, previous="low") == "low"
    assert classify(usage(int(10.6 * TB / 100)), TH, previous="low") == "ok"
    assert classify(usage(500 * GiB), TH, previous="critical") == "ok"  # straight back
    assert classify(usage(10 * GiB), TH, previous="ok") == "critical"  # worse: no delay


@pytest.mark.parametrize(
    "kwargs",
    [
        {"critical_bytes": 11 * GiB, "low_bytes": 10 * GiB},
        {"critical_percent": 20.0, "low_percent": 10.0},
        {"low_bytes": -1},
        {"hysteresis": 1.0},
    ],
)
def test_bad_thresholds(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        DiskThresholds(**kwargs)  # type: ignore[arg-type]


# -- watcher --------------------------------------------------------------------------------------


class FakeDisk:
    """An injected disk_usage: returns whatever the test sets."""

    def __init__(self, free: int, total: int = TB) -> None:
        self.free = free
        self.total = total
        self.error: OSError | None = None
        self.calls: list[Path] = []

    def __call__(self, path: Path) -> DiskUsage:
        self.calls.append(path)
        if self.error is not None:
            raise self.error
        return usage(self.free, self.total)


def test_watch_transitions_logs_and_callback(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    disk = FakeDisk(500 * GiB)
    changes: list[tuple[str, str]] = []
    watch = DiskWatch(tmp_path, TH, disk_usage=disk, on_change=lambda old, new, u: changes.append((old, new)))
    caplog.set_level(logging.INFO, logger="hotline.media.diskwatch")
    assert watch.check() == "ok" and watch.recording_allowed and not caplog.records
    disk.free = 50 * GiB
    assert watch.check() == "low"
    disk.free = 5 * GiB
    assert watch.check() == "critical" and not watch.recording_allowed
    assert watch.check() == "critical"  # no new transition, no new log
    disk.free = 600 * GiB
    assert watch.check() == "ok"
    assert changes == [("ok", "low"), ("low", "critical"), ("critical", "ok")]
    levels = [(r.levelname, "refused" in r.getMessage()) for r in caplog.records]
    assert levels == [("WARNING", False), ("ERROR", True), ("INFO", False)]
    assert watch.usage == usage(600 * GiB) and disk.calls == [tmp_path] * 5


def test_watch_measurement_error_keeps_state(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    disk = FakeDisk(5 * GiB)
    watch = DiskWatch(tmp_path, TH, disk_usage=disk)
    assert watch.check() == "critical"
    disk.error = FileNotFoundError(2, "No such file or directory")
    with caplog.at_level(logging.ERROR, logger="hotline.media.diskwatch"):
        assert watch.check() == "critical"
        assert watch.check() == "critical"
    assert watch.last_error is not None
    assert len([r for r in caplog.records if "cannot measure" in r.getMessage()]) == 1  # logged once
    disk.error = None
    disk.free = 500 * GiB
    assert watch.check() == "ok" and watch.last_error is None


async def test_watch_runs_periodically(tmp_path: Path) -> None:
    disk = FakeDisk(500 * GiB)
    watch = DiskWatch(tmp_path, TH, interval_s=0.02, disk_usage=disk)
    watch.start()
    watch.start()  # idempotent
    try:
        await asyncio.sleep(0.05)
        assert watch.running and watch.state == "ok" and len(disk.calls) >= 2
        disk.free = 5 * GiB
        await asyncio.sleep(0.1)
        assert not watch.recording_allowed  # critical
    finally:
        await watch.stop()
    assert not watch.running
    calls = len(disk.calls)
    await asyncio.sleep(0.05)
    assert len(disk.calls) == calls  # stopped


async def test_watch_with_the_real_disk_usage(tmp_path: Path) -> None:
    watch = DiskWatch(
        tmp_path, DiskThresholds(low_bytes=0, low_percent=0, critical_bytes=0, critical_percent=0)
    )
    assert await watch.check_async() == "ok"
    real = shutil.disk_usage(tmp_path)
    assert watch.usage is not None and watch.usage.total == real.total
    impossible = DiskThresholds(low_bytes=1 << 62, critical_bytes=1 << 61)  # more than any disk
    assert await DiskWatch(tmp_path, impossible).check_async() == "critical"


# -- engine hook ----------------------------------------------------------------------------------


async def test_engine_refuses_recordings_while_critical_and_the_call_continues(tmp_path: Path) -> None:
    disk = FakeDisk(500 * GiB)
    watch = DiskWatch(tmp_path, TH, disk_usage=disk)
    watch.check()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = 20000 + (s.getsockname()[1] % 40) * 1000
    engine = BuiltinMediaEngine(
        BuiltinConfig(port_min=base, port_max=base + 998, media_timeout_s=None), disk_watch=watch
    )
    caller, agent = await SoftPhone.open(), await SoftPhone.open()
    try:
        c = await engine.create_endpoint("dw", "caller", caller.description())
        a = await engine.create_endpoint("dw", "agent", agent.description())
        caller.play(tone([500.0], 1000, amplitude=5000))
        agent.play(None)
        caller.start((c.local.address, c.local.port))
        agent.start((a.local.address, a.local.port))
        await engine.bridge(c.id, a.id)
        running = await engine.record_start(tmp_path / "before.wav", c.id, a.id)  # disk ok
        disk.free = 5 * GiB
        watch.check()
        with pytest.raises(RecordingRefused, match="critical") as refused:
            await engine.record_start(tmp_path / "refused.wav", c.id, a.id)
        assert isinstance(refused.value, MediaEngineError)
        assert not (tmp_path / "refused.wav").exists()
        # the call goes on, unrecorded; the recording started before keeps running
        t = asyncio.get_running_loop().time()
        await asyncio.sleep(0.4)
        assert rms(agent.received_audio(since=t)) > 1000
        info = await engine.record_stop(running)
        assert info.duration_s > 0.3
        # recovered: recording works again; without a watch nothing is refused
        disk.free = 500 * GiB
        watch.check()
        ok = await engine.record_start(tmp_path / "after.wav", c.id)
        await engine.record_stop(ok)
        disk.free = 5 * GiB
        watch.check()
        engine.set_disk_watch(None)
        await engine.record_stop(await engine.record_start(tmp_path / "nowatch.wav", c.id))
    finally:
        await caller.close()
        await agent.close()
        await engine.close()
