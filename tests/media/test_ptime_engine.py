"""Built-in engine receiving packet times other than 20 ms (10/30/60 ms, SIPp's 30 ms pcap).

Real sockets on 127.0.0.1: a :class:`SoftPhone` sends a tone with the given packet time; the
engine's stereo recording (caller channel) and its echo (what the caller hears back) must contain
the whole tone -- before re-framing by RTP timestamp, 30 ms packets lost a third of the audio.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from hotline.media.builtin import BuiltinConfig, BuiltinMediaEngine
from hotline.media.engine import MediaDescription, PayloadFormat
from hotline.media.g711 import PCMA
from hotline.media.softphone import SoftPhone
from hotline.media.tones import tone
from hotline.media.wav import read_wav

TONE_HZ = 400.0
AMPLITUDE = 5000
TONE_MS = 1000
PCAP = Path("/usr/share/sip-tester/g711a.pcap")


@pytest.fixture
async def engine() -> AsyncIterator[BuiltinMediaEngine]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = 20000 + (s.getsockname()[1] % 40) * 1000
    eng = BuiltinMediaEngine(BuiltinConfig(port_min=base, port_max=base + 998, media_timeout_s=None))
    yield eng
    await eng.close()


def tone_duration_s(pcm: npt.NDArray[np.int16], block: int = 40) -> float:
    """Seconds of 5 ms blocks whose RMS is above half the tone's RMS."""
    n = len(pcm) // block * block
    blocks = pcm[:n].astype(np.float64).reshape(-1, block)
    level = np.sqrt((blocks**2).mean(axis=1))
    return float(np.count_nonzero(level > AMPLITUDE / np.sqrt(2) / 2)) * block / 8000


def energy(pcm: npt.NDArray[np.int16]) -> float:
    return float(np.sum(pcm.astype(np.float64) ** 2))


@pytest.mark.parametrize("ptime_ms", [10, 20, 30, 60])
async def test_any_ptime_recorded_and_echoed_in_full(
    engine: BuiltinMediaEngine, tmp_path: Path, ptime_ms: int
) -> None:
    caller = await SoftPhone.open(ptime_ms=ptime_ms)
    agent = await SoftPhone.open()
    c = await engine.create_endpoint("pt", "caller", caller.description())
    a = await engine.create_endpoint("pt", "agent", agent.description())
    await engine.bridge(c.id, a.id)
    await engine.set_echo(c.id, delay_ms=100)  # the caller hears itself (echo beats the bridge)
    caller.play(None)
    agent.play(None)
    caller.start((c.local.address, c.local.port))
    agent.start((a.local.address, a.local.port))
    rec = await engine.record_start(tmp_path / "pt.wav", c.id, a.id)
    await asyncio.sleep(0.3)
    loop = asyncio.get_running_loop()
    since = loop.time()
    reference = tone([TONE_HZ], TONE_MS, amplitude=AMPLITUDE)
    caller.play(reference, loop=False)
    await asyncio.sleep(TONE_MS / 1000 + 0.6)
    info = await engine.record_stop(rec)
    frames, rate = read_wav(info.path)
    assert rate == 8000 and frames.shape[1] == 2
    left = frames[:, 0]
    want_s = TONE_MS / 1000
    # recording: the whole tone, not 2/3 of it (30 ms) or 1/3 (60 ms)
    assert tone_duration_s(left) == pytest.approx(want_s, rel=0.03)
    assert energy(left) == pytest.approx(energy(reference), rel=0.04)
    assert energy(frames[:, 1]) == 0.0  # the agent sent digital silence
    # echo: the caller hears its whole tone back, sent by the engine in 20 ms packets
    echoed = caller.received_audio(since=since)
    assert tone_duration_s(echoed) == pytest.approx(want_s, rel=0.03)
    assert energy(echoed) == pytest.approx(energy(reference), rel=0.04)
    assert {len(p.payload) for p in caller.audio_packets()} == {160}  # we still send 20 ms
    stats = await engine.stats(c.id)
    assert stats.packets_lost == 0 and stats.concealed_frames <= 3
    await caller.close()
    await agent.close()


def pcap_rtp(path: Path) -> list[tuple[float, bytes]]:
    """(capture time, RTP datagram) of every packet of a classic Ethernet/IPv4/UDP pcap."""
    data = path.read_bytes()
    magic = struct.unpack_from("<I", data)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    nano = magic in (0xA1B23C4D, 0x4D3CB2A1)
    out: list[tuple[float, bytes]] = []
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack_from(endian + "IIII", data, off)
        off += 16
        frame = data[off : off + incl]
        off += incl
        out.append((sec + frac / (1e9 if nano else 1e6), frame[42:]))
    return out


@pytest.mark.skipif(not PCAP.exists(), reason=f"{PCAP} (package sip-tester) is not installed")
async def test_sipp_pcap_30ms_replayed_is_recorded_in_full(
    engine: BuiltinMediaEngine, tmp_path: Path
) -> None:
    packets = pcap_rtp(PCAP)
    payloads = [p[12:] for _, p in packets]
    assert {len(p) for p in payloads} == {240}  # 30 ms of PCMA per packet
    reference = np.concatenate([PCMA.decode(p) for p in payloads])
    assert len(reference) / 8000 == pytest.approx(7.08)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    host, port = sock.getsockname()
    try:
        offer = MediaDescription(host, port, (PayloadFormat(8, "PCMA"),))
        ep = await engine.create_endpoint("pcap", "caller", offer)
        rec = await engine.record_start(tmp_path / "pcap.wav", ep.id)
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.05
        first = packets[0][0]
        for when, datagram in packets:  # at the pcap's timing (absolute deadlines)
            await asyncio.sleep(max(0.0, t0 + (when - first) - loop.time()))
            sock.sendto(datagram, (ep.local.address, ep.local.port))
        await asyncio.sleep(0.3)
        info = await engine.record_stop(rec)
        stats = await engine.stats(ep.id)
    finally:
        sock.close()
    rec_pcm, _ = read_wav(info.path)
    mono = rec_pcm[:, 0] if rec_pcm.ndim == 2 else rec_pcm
    # A-law never decodes to 0: every received sample is non-zero, digital silence is 0
    audio_s = np.count_nonzero(mono) / 8000
    assert audio_s == pytest.approx(7.08, abs=0.1), f"recorded {audio_s:.2f} s of audio"
    assert energy(mono) == pytest.approx(energy(reference), rel=0.03)
    # sample-exact re-framing: the first second is the decoded pcap, sample for sample
    start = int(np.flatnonzero(mono)[0])
    assert np.array_equal(mono[start : start + 8000], reference[:8000])
    assert stats.packets_received == len(packets) and stats.packets_lost == 0
