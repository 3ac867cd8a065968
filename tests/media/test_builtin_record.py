"""Built-in engine: two phones bridged and recorded (stereo channels, pause, crash safety)."""

from __future__ import annotations

import asyncio
import socket
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from hotline.media.builtin import BuiltinConfig, BuiltinMediaEngine
from hotline.media.engine import EndpointId, PlayTone, UnknownEndpoint
from hotline.media.softphone import SoftPhone, rms, tone_level
from hotline.media.tones import ToneSegment, tone
from hotline.media.wav import read_wav, repair_wav

CALLER_HZ = 300.0
AGENT_HZ = 1100.0


@pytest.fixture
async def engine() -> AsyncIterator[BuiltinMediaEngine]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = 20000 + (s.getsockname()[1] % 40) * 1000
    eng = BuiltinMediaEngine(BuiltinConfig(port_min=base, port_max=base + 998, media_timeout_s=None))
    yield eng
    await eng.close()


async def _call(engine: BuiltinMediaEngine) -> tuple[SoftPhone, SoftPhone, EndpointId, EndpointId]:
    caller = await SoftPhone.open()
    agent = await SoftPhone.open()
    c = await engine.create_endpoint("rec", "caller", caller.description())
    a = await engine.create_endpoint("rec", "agent", agent.description())
    caller.play(tone([CALLER_HZ], 1000, amplitude=5000))
    agent.play(tone([AGENT_HZ], 1000, amplitude=5000))
    caller.start((c.local.address, c.local.port))
    agent.start((a.local.address, a.local.port))
    await engine.bridge(c.id, a.id)
    return caller, agent, c.id, a.id


async def test_stereo_recording_caller_left_agent_right(engine: BuiltinMediaEngine, tmp_path: Path) -> None:
    caller, agent, c, a = await _call(engine)
    await asyncio.sleep(0.2)
    rec = await engine.record_start(tmp_path / "call.wav", c, a)
    await asyncio.sleep(1.5)
    info = await engine.record_stop(rec)
    assert info.channels == 2 and 1.3 <= info.duration_s <= 1.7
    frames, rate = read_wav(info.path)
    assert rate == 8000 and frames.shape[1] == 2
    left, right = frames[800:, 0], frames[800:, 1]
    assert tone_level(left, CALLER_HZ) > 3000 and tone_level(left, AGENT_HZ) < 100
    assert tone_level(right, AGENT_HZ) > 3000 and tone_level(right, CALLER_HZ) < 100
    # and the bridge works both ways on the wire
    t = asyncio.get_running_loop().time() - 0.5
    assert tone_level(caller.received_audio(since=t), AGENT_HZ) > 3000
    assert tone_level(agent.received_audio(since=t), CALLER_HZ) > 3000
    assert tone_level(caller.received_audio(since=t), CALLER_HZ) < 100  # no own echo
    await caller.close()
    await agent.close()


async def test_pause_inserts_silence_and_skip_mode_cuts(engine: BuiltinMediaEngine, tmp_path: Path) -> None:
    caller, agent, c, a = await _call(engine)
    await asyncio.sleep(0.2)
    rec = await engine.record_start(tmp_path / "silence.wav", c, a)
    skip = await engine.record_start(tmp_path / "skip.wav", c, a, pause_mode="skip")
    await asyncio.sleep(0.6)
    await engine.record_pause(rec)
    await engine.record_pause(skip)
    await asyncio.sleep(0.6)
    await engine.record_resume(rec)
    await engine.record_resume(skip)
    await asyncio.sleep(0.6)
    info = await engine.record_stop(rec)
    info_skip = await engine.record_stop(skip)
    assert 1.6 <= info.duration_s <= 2.0 and info.paused_s == pytest.approx(0.6, abs=0.08)
    assert info_skip.duration_s == pytest.approx(info.duration_s - info_skip.paused_s, abs=0.03)
    frames, _ = read_wav(info.path)
    per_frame = [rms(frames[i : i + 160].reshape(-1)) for i in range(0, len(frames) - 160, 160)]
    silent = [i for i, v in enumerate(per_frame) if v < 10]
    assert 27 <= len(silent) <= 33  # 0.6 s of 20 ms frames, contiguous
    assert silent == list(range(silent[0], silent[0] + len(silent)))
    assert 25 <= silent[0] <= 35
    skipped, _ = read_wav(info_skip.path)
    assert max(rms(skipped[i : i + 160].reshape(-1)) for i in range(0, len(skipped) - 160, 160)) > 1000
    assert min(rms(skipped[i : i + 160].reshape(-1)) for i in range(160, len(skipped) - 320, 160)) > 1000
    await caller.close()
    await agent.close()


async def test_recording_survives_a_crash_up_to_the_last_sync(
    engine: BuiltinMediaEngine, tmp_path: Path
) -> None:
    caller, agent, c, a = await _call(engine)
    path = tmp_path / "crash.wav"
    await engine.record_start(path, c, a)
    await asyncio.sleep(2.5)
    # "crash": nobody calls record_stop; read the file as another process would
    with wave.open(str(path), "rb") as w:  # strict header parser
        assert w.getnchannels() == 2 and w.getframerate() == 8000
        synced = w.getnframes()
        data = w.readframes(synced)
    assert synced >= 8000  # at least the first full second is in the header
    assert len(data) == synced * 4
    pcm = np.frombuffer(data, dtype="<i2").reshape(-1, 2)
    assert tone_level(pcm[800:, 0], CALLER_HZ) > 3000
    assert tone_level(pcm[800:, 1], AGENT_HZ) > 3000
    size_on_disk = path.stat().st_size
    assert size_on_disk >= 44 + synced * 4
    # the tail written after the last sync is recoverable too
    copy = tmp_path / "copy.wav"
    copy.write_bytes(path.read_bytes())
    recovered = repair_wav(copy)
    assert recovered >= synced and recovered >= 2.0 * 8000
    await caller.close()
    await agent.close()


async def test_mono_recording_and_close_finalises(engine: BuiltinMediaEngine, tmp_path: Path) -> None:
    caller = await SoftPhone.open()
    ep = await engine.create_endpoint("mono", "caller", caller.description())
    caller.play(tone([CALLER_HZ], 1000, amplitude=5000))
    caller.start((ep.local.address, ep.local.port))
    path = tmp_path / "mono.wav"
    rec = await engine.record_start(path, ep.id)
    await engine.play(ep.id, PlayTone((ToneSegment((AGENT_HZ,), 3000),)))  # e.g. an IVR prompt
    await asyncio.sleep(1.0)
    await engine.close_endpoint(ep.id)  # the only leg: the recording is finalised
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1
        n = w.getnframes()
        pcm = np.frombuffer(w.readframes(n), dtype="<i2")
    assert path.stat().st_size == 44 + n * 2  # header covers the whole file
    assert tone_level(pcm[1600:], CALLER_HZ) > 2000 and tone_level(pcm[1600:], AGENT_HZ) > 2000
    # record_stop after the automatic finalisation (and again) returns the final info
    info = await engine.record_stop(rec)
    assert info == await engine.record_stop(rec)
    assert info.channels == 1 and info.duration_s == pytest.approx(n / 8000)
    with pytest.raises(UnknownEndpoint):
        await engine.record_pause(rec)
    await caller.close()
