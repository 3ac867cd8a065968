"""Built-in media engine over real UDP sockets on 127.0.0.1: transport, clock, playback, echo, latching."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hotline.media.builtin import BuiltinConfig, BuiltinMediaEngine
from hotline.media.engine import (
    MediaEvent,
    MediaTimeout,
    PayloadFormat,
    PlaybackFinished,
    PlayFile,
    PlaySilence,
    PlayTone,
    RemoteLatched,
)
from hotline.media.g711 import PCMA, PCMU
from hotline.media.rtp import RtpPacket, seq_diff
from hotline.media.sender import RtpSender
from hotline.media.softphone import SoftPhone, rms, tone_level
from hotline.media.tones import ToneSegment, tone
from hotline.media.wav import load_wav_8k_mono


def _free_range() -> tuple[int, int]:
    # a per-test port window so parallel runs and TIME_WAIT-free UDP reuse stay independent
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = 20000 + (s.getsockname()[1] % 40) * 1000
    return base, base + 998


@pytest.fixture
async def engine() -> AsyncIterator[BuiltinMediaEngine]:
    lo, hi = _free_range()
    eng = BuiltinMediaEngine(BuiltinConfig(port_min=lo, port_max=hi, media_timeout_s=None))
    yield eng
    await eng.close()


async def _phone() -> SoftPhone:
    return await SoftPhone.open()


def _check_continuity(packets: list[RtpPacket]) -> None:
    assert len({p.ssrc for p in packets}) == 1
    for prev, cur in itertools.pairwise(packets):
        assert seq_diff(cur.sequence, prev.sequence) == 1
        assert (cur.timestamp - prev.timestamp) & 0xFFFFFFFF == 160


async def test_play_tone_silence_play_keeps_one_stream(engine: BuiltinMediaEngine) -> None:
    phone = await _phone()
    ep = await engine.create_endpoint("call-1", "caller", phone.description())
    assert ep.local.address == "127.0.0.1" and ep.local.port % 2 == 0
    assert ep.local.rtcp_port == ep.local.port + 1
    assert ep.codec is not None and ep.codec.encoding == "PCMU" and ep.dtmf_payload_type == 101
    events: list[MediaEvent] = []
    engine.subscribe(events.append)
    phone.start((ep.local.address, ep.local.port))

    pb1 = await engine.play(ep.id, PlayTone((ToneSegment((1000.0,), 400),)))
    await asyncio.sleep(0.7)  # tone, then comfort silence
    pb2 = await engine.play(ep.id, PlayTone((ToneSegment((600.0,), 300),)))
    await asyncio.sleep(0.5)
    await phone.close()

    packets = phone.audio_packets()
    assert len(packets) >= 50
    _check_continuity(packets)
    # marker on the first packet and at every source switch (tone -> silence is not a talkspurt)
    pcm = [_decode(p) for p in packets]
    levels_1k = [tone_level(f, 1000) for f in pcm]
    levels_600 = [tone_level(f, 600) for f in pcm]
    loud_1k = [i for i, v in enumerate(levels_1k) if v > 1000]
    loud_600 = [i for i, v in enumerate(levels_600) if v > 1000]
    assert 18 <= len(loud_1k) <= 22  # 400 ms
    assert 13 <= len(loud_600) <= 17  # 300 ms
    assert max(loud_1k) < min(loud_600)
    silent_between = pcm[max(loud_1k) + 2 : min(loud_600) - 1]
    assert silent_between and all(rms(f) < 50 for f in silent_between)
    assert packets[0].marker and packets[loud_600[0]].marker
    finished = [e for e in events if isinstance(e, PlaybackFinished)]
    assert [(e.playback, e.reason) for e in finished] == [(pb1, "completed"), (pb2, "completed")]
    latched = [e for e in events if isinstance(e, RemoteLatched)]
    assert latched and latched[0].address == phone.address


def _decode(p: RtpPacket) -> np.ndarray:
    return PCMU.decode(p.payload)


async def test_engine_to_engine_and_bridge(engine: BuiltinMediaEngine) -> None:
    """E1 offers, E2 answers (each the other's remote SDP); E2 is bridged to E3, which talks to a phone."""
    e1 = await engine.create_endpoint("call-2", "a")  # offer
    assert e1.codec is None
    e2 = await engine.create_endpoint("call-2", "b", e1.local)  # answer
    e1 = await engine.update_endpoint(e1.id, e2.local)
    assert e1.codec is not None and e1.codec.encoding == "PCMU"
    phone = await _phone()
    e3 = await engine.create_endpoint("call-2", "c", phone.description())
    phone.start((e3.local.address, e3.local.port))
    await engine.bridge(e2.id, e3.id)
    await engine.play(e1.id, PlayTone((ToneSegment((700.0,), 1000),)), loop=True)
    await asyncio.sleep(1.0)
    t = asyncio.get_running_loop().time()
    await asyncio.sleep(0.5)
    heard = phone.received_audio(since=t)
    assert tone_level(heard, 700) > 3000
    # e1 <- e2: e2 hears the phone's silence, e1 receives it as valid RTP
    s1 = await engine.stats(e1.id)
    s2 = await engine.stats(e2.id)
    assert s1.packets_received > 40 and s2.packets_received > 40
    assert s2.packets_lost == 0 and s2.latched
    await engine.unbridge(e2.id, e3.id)
    await asyncio.sleep(0.3)
    t = asyncio.get_running_loop().time()
    await asyncio.sleep(0.3)
    assert rms(phone.received_audio(since=t)) < 50  # unbridged: comfort silence
    _check_continuity(phone.audio_packets())
    await phone.close()


def _write_wav(path: Path, pcm: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())


async def test_play_file_loop_stop_and_replace(engine: BuiltinMediaEngine, tmp_path: Path) -> None:
    # a 16 kHz prompt: the engine resamples it to 8 kHz
    wav = tmp_path / "prompt.wav"
    _write_wav(wav, tone([500.0], 300, amplitude=6000, sample_rate=16000), 16000)
    phone = await _phone()
    ep = await engine.create_endpoint("call-3", "caller", phone.description())
    phone.start((ep.local.address, ep.local.port))
    events: list[MediaEvent] = []
    engine.subscribe(events.append)
    pb = await engine.play(ep.id, PlayFile(wav), loop=True)
    await asyncio.sleep(0.8)  # loops past the 300 ms file
    t = asyncio.get_running_loop().time()
    await asyncio.sleep(0.2)
    assert tone_level(phone.received_audio(since=t), 500) > 3000
    await engine.stop_play(ep.id, pb)
    pb2 = await engine.play(ep.id, PlayFile(wav))  # cached
    pb3 = await engine.play(ep.id, PlaySilence(100))  # replaces pb2
    await asyncio.sleep(0.3)
    reasons = [(e.playback, e.reason) for e in events if isinstance(e, PlaybackFinished)]
    assert reasons == [(pb, "stopped"), (pb2, "stopped"), (pb3, "completed")]
    assert len(engine._file_cache) == 1
    await engine.stop_play(ep.id)  # nothing playing: no error
    await phone.close()


async def test_echo_mode_returns_callers_audio_delayed(engine: BuiltinMediaEngine, tmp_path: Path) -> None:
    phone = await _phone()
    ep = await engine.create_endpoint("call-4", "caller", phone.description())
    await engine.set_echo(ep.id, delay_ms=160)
    # the phone talks: 300 ms bursts of 900 Hz from a generated WAV, then 700 ms of silence
    wav = tmp_path / "voice.wav"
    burst = np.concatenate([tone([900.0], 300, amplitude=5000), np.zeros(5600, dtype=np.int16)])
    _write_wav(wav, burst, 8000)
    phone.play(load_wav_8k_mono(wav), loop=True)
    phone.start((ep.local.address, ep.local.port))
    await asyncio.sleep(2.1)
    await phone.close()
    got = phone.received_audio()
    assert tone_level(got, 900) > 1000  # the caller hears itself
    # delay: first loud frame back vs. first frame sent (jitter buffer 60 ms + echo 160 ms + clock)
    levels = [rms(got[i : i + 160]) for i in range(0, len(got) - 160, 160)]
    first_loud = next(i for i, v in enumerate(levels) if v > 1000)
    assert 8 <= first_loud <= 20  # 160..400 ms
    await engine.set_echo(ep.id, False)


async def test_latching_to_a_different_source_port(engine: BuiltinMediaEngine) -> None:
    """The phone's SDP names port X, but it sends (and wants to receive) on port Y (NAT)."""
    decoy = await _phone()  # owns the advertised address; must receive nothing after latching
    phone = await _phone()
    ep = await engine.create_endpoint("call-5", "caller", phone.description(address=decoy.address))
    events: list[MediaEvent] = []
    engine.subscribe(events.append)
    await engine.play(ep.id, PlayTone((ToneSegment((800.0,), 2000),)))
    await asyncio.sleep(0.2)  # before latching, the engine sends to the SDP address
    assert decoy.received_count > 0
    phone.play(tone([400.0], 1000, amplitude=5000))
    phone.start((ep.local.address, ep.local.port))
    await asyncio.sleep(0.3)
    before = decoy.received_count
    await asyncio.sleep(0.5)
    assert decoy.received_count <= before + 1  # switched away from the SDP address
    assert tone_level(phone.received_audio(), 800) > 2000  # engine -> phone flows
    s = await engine.stats(ep.id)
    assert s.latched and s.remote == phone.address and s.packets_received > 20  # phone -> engine flows
    assert [e.address for e in events if isinstance(e, RemoteLatched)] == [phone.address]
    await decoy.close()
    await phone.close()


async def test_malformed_and_foreign_packets_are_counted_not_fatal(engine: BuiltinMediaEngine) -> None:
    phone = await _phone()
    ep = await engine.create_endpoint("call-6", "caller", phone.description())
    phone.start((ep.local.address, ep.local.port))
    await asyncio.sleep(0.2)
    for junk in (b"", b"\x00", b"hello world!", b"\x80" + b"\x00" * 5, bytes([0x8F]) + b"\x00" * 11):
        phone.send_raw(junk)
    intruder = await _phone()
    intruder.start((ep.local.address, ep.local.port))
    await asyncio.sleep(0.3)
    s = await engine.stats(ep.id)
    assert s.extra["malformed"] >= 4
    assert s.extra["ignored_wrong_source"] > 5  # latched to the phone, intruder ignored
    assert s.remote == phone.address
    await intruder.close()
    await phone.close()


async def test_media_timeout_and_rtcp() -> None:
    lo, hi = _free_range()
    cfg = BuiltinConfig(port_min=lo, port_max=hi, media_timeout_s=0.4, rtcp_interval_s=0.3)
    engine = BuiltinMediaEngine(cfg)
    events: list[MediaEvent] = []
    engine.subscribe(events.append)
    try:
        a = await engine.create_endpoint("call-7", "a")
        b = await engine.create_endpoint("call-7", "b", a.local)
        await engine.update_endpoint(a.id, b.local)
        phone = await _phone()
        c = await engine.create_endpoint("call-7", "c", phone.description())
        phone.start((c.local.address, c.local.port))
        await asyncio.sleep(1.2)
        sa = await engine.stats(a.id)
        assert sa.extra["rtcp_received"] >= 1 and sa.extra["rtcp_sent"] >= 1
        assert sa.rtt_ms is not None and 0 <= sa.rtt_ms < 50
        assert sa.remote_reported_lost == 0
        assert not [e for e in events if isinstance(e, MediaTimeout)]
        await phone.stop()  # phone goes silent
        await asyncio.sleep(0.7)
        timeouts = [e for e in events if isinstance(e, MediaTimeout)]
        assert [e.endpoint for e in timeouts] == [c.id]  # once, only for the silent leg
        final = await engine.close_endpoint(c.id)
        assert final.packets_received > 40 and final.packets_sent > 80
        assert final.seconds_since_last_packet is not None and final.seconds_since_last_packet > 0.4
        await phone.close()
    finally:
        await engine.close()
    # close() released every socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", a.local.port))


async def test_send_timing_jitter_is_sane(engine: BuiltinMediaEngine) -> None:
    phone = await _phone()
    ep = await engine.create_endpoint("call-8", "caller", phone.description())
    phone.start((ep.local.address, ep.local.port))
    await engine.play(ep.id, PlayTone((ToneSegment((440.0,), 3000),)))
    await asyncio.sleep(2.2)
    await phone.close()
    arrivals = np.array([r.arrival for r in phone.received if r.packet.payload_type == 0])
    assert len(arrivals) >= 100
    # deviation of each arrival from the ideal 20 ms grid (best fit through the first packet)
    n = np.arange(len(arrivals))
    dev = arrivals - (arrivals[0] + n * 0.02)
    dev -= np.median(dev)
    assert np.percentile(np.abs(dev), 99) < 0.015
    inter = np.diff(arrivals)
    assert abs(float(np.mean(inter)) - 0.02) < 0.001  # no drift
    stats = engine.clock_stats()
    assert stats["ticks"] >= 100 and stats["cpu_ms_p50"] < 5


def test_sender_fast_path_matches_audio_packet() -> None:
    """RtpSender.encoded_audio_packet (used by the engine's batch encoder) == audio_packet."""
    a = RtpSender(PCMU, ssrc=7, initial_sequence=65534, initial_timestamp=0xFFFFFF60)
    b = RtpSender(PCMU, ssrc=7, initial_sequence=65534, initial_timestamp=0xFFFFFF60)
    frame = tone([1000.0], 20, amplitude=3000)
    plan: list[str | None] = ["prompt", "prompt", None, None, "bridge", "prompt", None, "bridge"]
    for src in plan:
        slow = a.audio_packet(None if src is None else frame, source=src or "x").build()
        fast = b.encoded_audio_packet(PCMU.silence() if src is None else PCMU.encode(frame), source=src)
        assert fast == slow
    assert (a.next_sequence, a.next_timestamp, a.packets_sent, a.octets_sent) == (
        b.next_sequence,
        b.next_timestamp,
        b.packets_sent,
        b.octets_sent,
    )


async def test_hold_resume_codec_change_and_rtcp_mux(engine: BuiltinMediaEngine) -> None:
    phone = await _phone()
    desc = phone.description()
    ep = await engine.create_endpoint("call-9", "caller", desc)
    await engine.play(ep.id, PlayTone((ToneSegment((1000.0,), 10_000),)))
    await asyncio.sleep(0.3)
    # re-INVITE: hold (RFC 2543 style 0.0.0.0) -> nothing is sent, the RTP clock keeps running
    held = await engine.update_endpoint(ep.id, replace(desc, address="0.0.0.0"))
    assert held.local.direction == "sendrecv"
    await asyncio.sleep(0.05)
    n_held = len(phone.audio_packets())
    await asyncio.sleep(0.3)
    assert len(phone.audio_packets()) == n_held
    # sendonly hold (RFC 3264): we answer recvonly and do not send either
    answer = await engine.update_endpoint(ep.id, replace(desc, direction="sendonly"))
    assert answer.local.direction == "recvonly"
    await asyncio.sleep(0.3)
    assert len(phone.audio_packets()) == n_held
    # resume with PCMA and rtcp-mux: same SSRC, sequence continues, timestamps jumped by the held time
    pcma = replace(desc, formats=(PayloadFormat(8, "PCMA"), desc.formats[1]), rtcp_mux=True)
    resumed = await engine.update_endpoint(ep.id, pcma)
    assert resumed.codec is not None and resumed.codec.encoding == "PCMA"
    assert resumed.local.rtcp_mux and resumed.local.rtcp_port == resumed.local.port
    await asyncio.sleep(0.4)
    await phone.close()
    packets = [r.packet for r in phone.received]
    before = [p for p in packets if p.payload_type == 0]
    after = [p for p in packets if p.payload_type == 8]
    assert before and len(after) >= 15
    assert {p.ssrc for p in packets} == {before[0].ssrc}
    assert seq_diff(after[0].sequence, before[-1].sequence) == 1
    gap = (after[0].timestamp - before[-1].timestamp) & 0xFFFFFFFF
    assert gap >= 0.6 * 8000  # the RTP clock ran on while held
    assert after[0].marker
    audio = np.concatenate([PCMA.decode(p.payload) for p in after])
    assert tone_level(audio, 1000) > 3000


async def test_rtcp_mux_reports_reach_the_rtp_port() -> None:
    lo, hi = _free_range()
    engine = BuiltinMediaEngine(BuiltinConfig(port_min=lo, port_max=hi, rtcp_interval_s=0.2))
    try:
        phone = await _phone()
        ep = await engine.create_endpoint("call-10", "caller", replace(phone.description(), rtcp_mux=True))
        assert ep.local.rtcp_mux
        phone.start((ep.local.address, ep.local.port))
        await asyncio.sleep(0.8)
        assert phone.rtcp_received >= 1  # SR + SDES on the RTP port
        await phone.close()
    finally:
        await engine.close()
        await engine.close()  # idempotent


async def test_clock_catches_up_short_stalls_and_skips_long_ones(engine: BuiltinMediaEngine) -> None:
    phone = await _phone()
    ep = await engine.create_endpoint("call-11", "caller", phone.description())
    await engine.play(ep.id, PlayTone((ToneSegment((440.0,), 10_000),)))
    await asyncio.sleep(0.3)
    time.sleep(0.07)  # noqa: ASYNC251 - stall the event loop for 3.5 ticks: caught up (burst), nothing skipped
    await asyncio.sleep(0.3)
    assert engine.clock.skipped_ticks == 0
    time.sleep(0.3)  # noqa: ASYNC251 - 15 ticks: beyond max_catchup_ticks (5) -> 10 ticks skipped
    await asyncio.sleep(0.3)
    await phone.close()
    assert 8 <= engine.clock.skipped_ticks <= 11
    packets = phone.audio_packets()
    assert all(seq_diff(b.sequence, a.sequence) == 1 for a, b in itertools.pairwise(packets))
    steps = [(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(packets)]
    jumps = [s for s in steps if s != 160]
    assert len(jumps) == 1 and jumps[0] == 160 * (1 + engine.clock.skipped_ticks)
    # no drift: packets sent == elapsed ticks minus skipped ones
    stats = engine.clock_stats()
    assert stats["ticks"] + stats["skipped_ticks"] == pytest.approx(
        (packets[-1].timestamp - packets[0].timestamp) / 160 + 1, abs=3
    )


async def test_errors(engine: BuiltinMediaEngine, tmp_path: Path) -> None:
    from hotline.media.engine import (
        Capability,
        CodecNegotiationError,
        EndpointId,
        MediaDescription,
        MediaEngineError,
        UnknownEndpoint,
    )

    assert Capability.WHISPER in engine.capabilities
    g722 = MediaDescription("127.0.0.1", 4000, (PayloadFormat(9, "G722"),))
    with pytest.raises(CodecNegotiationError):
        await engine.create_endpoint("call-e", "caller", g722)
    with pytest.raises(CodecNegotiationError):
        await engine.create_endpoint("call-e", "caller", codecs=("OPUS",))
    phone = await _phone()
    with pytest.raises(CodecNegotiationError):  # the phone only offers PCMU
        await engine.create_endpoint("call-e", "caller", phone.description(), codecs=("PCMA",))
    ep = await engine.create_endpoint("call-e", "caller", phone.description())
    with pytest.raises(MediaEngineError):
        await engine.play(ep.id, PlayFile(tmp_path / "missing.wav"))
    (tmp_path / "bad.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(MediaEngineError):
        await engine.play(ep.id, PlayFile(tmp_path / "bad.wav"))
    with pytest.raises(MediaEngineError):
        await engine.bridge(ep.id, ep.id)
    await engine.close_endpoint(ep.id)
    for call in (
        engine.stats(ep.id),
        engine.play(ep.id, PlaySilence(20)),
        engine.close_endpoint(ep.id),
        engine.send_dtmf(ep.id, "1"),
        engine.bridge(ep.id, EndpointId("nope")),
    ):
        with pytest.raises(UnknownEndpoint):
            await call
    await phone.close()
