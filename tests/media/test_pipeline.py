"""The pure pieces composed the way the asyncio engine will use them (no sockets)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from hotline.media.g711 import PCMU
from hotline.media.jitter import JitterBuffer
from hotline.media.latching import RtpLatch
from hotline.media.mixer import MixMatrix
from hotline.media.rtcp import ReceiverStats
from hotline.media.rtp import RtpError, parse_rtp
from hotline.media.sender import RtpSender
from hotline.media.tones import ToneGenerator, ToneSegment
from hotline.media.wav import StreamingWavWriter, read_wav


def test_caller_to_agent_bridge_with_recording(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    caller_phone = RtpSender(PCMU, ssrc=111, initial_sequence=65500)
    agent_phone = RtpSender(PCMU, ssrc=222, initial_sequence=10)
    caller_voice = ToneGenerator([ToneSegment((300.0,), 1000)], amplitude=4000)
    agent_voice = ToneGenerator([ToneSegment((1100.0,), 1000)], amplitude=4000)

    latch = {"caller": RtpLatch(("10.0.0.5", 4000), {0}), "agent": RtpLatch(("10.0.0.9", 4002), {0})}
    nat = {"caller": ("198.51.100.1", 30000), "agent": ("198.51.100.2", 30002)}
    jb = {leg: JitterBuffer(PCMU.decode, depth=3) for leg in ("caller", "agent")}
    stats = {"caller": ReceiverStats(111), "agent": ReceiverStats(222)}
    to_phone = {"caller": RtpSender(PCMU, ssrc=333), "agent": RtpSender(PCMU, ssrc=444)}
    bridge = MixMatrix.bridge("caller", "agent")
    heard: dict[str, list[np.ndarray]] = {"caller": [], "agent": []}

    in_flight: list[tuple[float, str, bytes]] = []
    with StreamingWavWriter(tmp_path / "call.wav") as rec:
        for tick in range(150):  # 3 s
            now = tick * 0.02
            for leg, phone, voice in (
                ("caller", caller_phone, caller_voice),
                ("agent", agent_phone, agent_voice),
            ):
                if rng.random() < 0.03:  # 3 % loss
                    phone.audio_packet(voice.read())
                    continue
                wire = phone.audio_packet(voice.read()).build()
                in_flight.append((now + rng.uniform(0, 0.03), leg, wire))
            in_flight.append((now, "caller", b"garbage"))  # junk from the caller's side
            arrived = sorted(x for x in in_flight if x[0] <= now)
            in_flight = [x for x in in_flight if x[0] > now]
            for t, leg, wire in arrived:
                try:
                    pkt = parse_rtp(wire)
                except RtpError:
                    assert not latch[leg].on_packet(nat[leg], None, None, t)
                    continue
                if latch[leg].on_packet(nat[leg], pkt.payload_type, pkt.ssrc, t):
                    stats[leg].update(pkt.sequence, pkt.timestamp, t)
                    jb[leg].put(pkt)
            decoded = {leg: jb[leg].get().pcm for leg in ("caller", "agent")}
            rec.write_stereo(decoded["caller"], decoded["agent"])
            for leg, pcm in bridge.mix(decoded).items():
                heard[leg].append(pcm)
                out = to_phone[leg].audio_packet(pcm, source="bridge")
                assert out.ssrc == to_phone[leg].ssrc

    for leg in ("caller", "agent"):
        assert latch[leg].remote == nat[leg]  # we answer to the NAT address: no one-way audio
        assert jb[leg].stats.played > 130
        assert stats[leg].cumulative_lost > 0

    # each side hears the other's tone, not its own
    def dominant(frames: list[np.ndarray]) -> float:
        x = np.concatenate(frames[20:]).astype(np.float64)
        return float(np.argmax(np.abs(np.fft.rfft(x))) * 8000 / len(x))

    assert abs(dominant(heard["caller"]) - 1100) < 5
    assert abs(dominant(heard["agent"]) - 300) < 5
    frames, rate = read_wav(tmp_path / "call.wav")
    assert rate == 8000 and frames.shape == (150 * 160, 2)
    with wave.open(str(tmp_path / "call.wav")) as w:
        assert w.getnframes() == 150 * 160
