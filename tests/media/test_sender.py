from __future__ import annotations

import itertools
import random

import numpy as np

from hotline.media.g711 import PCMA, PCMU
from hotline.media.rtp import parse_rtp, seq_diff
from hotline.media.sender import RtpSender


def frame(value: int = 1000, n: int = 160) -> np.ndarray:
    return np.full(n, value, dtype=np.int16)


def test_continuity_across_source_switches_and_wrap() -> None:
    s = RtpSender(PCMU, ssrc=0xCAFE, initial_sequence=65533, initial_timestamp=0xFFFFFF00)
    plan: list[str | None] = ["prompt"] * 3 + ["bridge"] * 3 + ["moh"] * 2 + [None] * 3 + ["bridge"] * 2
    pkts = [s.audio_packet(None if src is None else frame(), source=src or "x") for src in plan]
    assert {p.ssrc for p in pkts} == {0xCAFE}
    for a, b in itertools.pairwise(pkts):
        assert seq_diff(b.sequence, a.sequence) == 1
        assert (b.timestamp - a.timestamp) & 0xFFFFFFFF == 160
    assert pkts[3].sequence == 0  # wrapped
    markers = [i for i, p in enumerate(pkts) if p.marker]
    # first packet, prompt->bridge, bridge->moh, silence->bridge; not on silence start
    assert markers == [0, 3, 6, 11]
    assert all(p.payload_type == 0 and len(p.payload) == 160 for p in pkts)


def test_comfort_silence_is_encoded_silence_not_gap() -> None:
    for codec, byte in ((PCMU, 0xFF), (PCMA, 0xD5)):
        s = RtpSender(codec, ssrc=1)
        p = s.audio_packet(None)
        assert p.marker  # first packet of the stream
        assert p.payload == bytes([byte]) * 160
        assert p.payload_type == codec.payload_type
        assert not s.audio_packet(None).marker


def test_short_frame_is_padded_and_long_frame_rejected() -> None:
    s = RtpSender(PCMU, ssrc=1)
    p = s.audio_packet(frame(n=100))
    assert len(p.payload) == 160
    assert p.payload[100:] == b"\xff" * 60
    try:
        s.audio_packet(frame(n=161))
    except ValueError:
        pass
    else:
        raise AssertionError("expected ValueError")


def test_packets_roundtrip_through_parser() -> None:
    s = RtpSender.with_random_start(PCMU, random.Random(7))
    pcm = (np.sin(np.arange(160) / 3) * 8000).astype(np.int16)
    p = s.audio_packet(pcm, source="prompt")
    assert parse_rtp(p.build()) == p
    assert PCMU.decode(p.payload).shape == (160,)


def test_event_packets_share_sequence_space_and_skip_advances_clock() -> None:
    s = RtpSender(PCMU, ssrc=5, initial_sequence=10, initial_timestamp=1000)
    a = s.audio_packet(frame(), source="bridge")
    ev_ts = s.next_timestamp
    e1 = s.event_packet(101, b"\x01\x0a\x00\xa0", timestamp=ev_ts, marker=True)
    s.skip()
    e2 = s.event_packet(101, b"\x01\x8a\x01\x40", timestamp=ev_ts, marker=False)
    s.skip()
    b = s.audio_packet(frame(), source="bridge")
    assert [a.sequence, e1.sequence, e2.sequence, b.sequence] == [10, 11, 12, 13]
    assert e1.timestamp == e2.timestamp == 1160
    assert e1.payload_type == 101 and e1.marker
    assert b.timestamp == 1000 + 3 * 160
    assert b.marker  # talkspurt restarts after the event


def test_sender_report_counts() -> None:
    s = RtpSender(PCMU, ssrc=9, initial_timestamp=500)
    for _ in range(5):
        s.audio_packet(frame())
    sr = s.sender_report(ntp_timestamp=123 << 32)
    assert sr.ssrc == 9
    assert sr.packet_count == 5
    assert sr.octet_count == 800
    assert sr.rtp_timestamp == 500 + 5 * 160
