from __future__ import annotations

import numpy as np
import pytest

from hotline.media.dtmf import (
    DTMF_EVENTS,
    InbandDtmfDetector,
    Rfc4733Receiver,
    TelephoneEvent,
    digit_to_event,
    event_to_digit,
    rfc4733_send_schedule,
)
from hotline.media.rtp import RtpPacket
from hotline.media.tones import DTMF_FREQUENCIES, dbm0_to_amplitude, dtmf_tone, tone

# -- RFC 4733 payload ------------------------------------------------------------


def test_payload_encode_decode() -> None:
    ev = TelephoneEvent(event=11, end=True, volume=10, duration=800)
    wire = ev.encode()
    assert wire == bytes([11, 0x80 | 10, 0x03, 0x20])
    assert TelephoneEvent.decode(wire) == ev
    assert TelephoneEvent.decode(bytes([5, 0x0A, 0, 160])) == TelephoneEvent(5, False, 10, 160)
    with pytest.raises(ValueError):
        TelephoneEvent.decode(b"\x01\x02")
    with pytest.raises(ValueError):
        TelephoneEvent(1, volume=64)


def test_digit_event_mapping() -> None:
    assert [digit_to_event(d) for d in "0123456789*#ABCD"] == list(range(16))
    assert digit_to_event("a") == 12
    assert event_to_digit(10) == "*"
    assert event_to_digit(16) is None
    with pytest.raises(ValueError):
        digit_to_event("E")


def test_send_schedule() -> None:
    steps = rfc4733_send_schedule("5", 200, volume=8)
    assert [s.at_ms for s in steps] == [0, 50, 100, 150, 200, 200, 200]
    assert [s.marker for s in steps] == [True] + [False] * 6
    assert [s.event.duration for s in steps] == [160, 560, 960, 1360, 1600, 1600, 1600]
    assert [s.event.end for s in steps] == [False] * 4 + [True] * 3
    assert {s.event.event for s in steps} == {5}
    assert {s.event.volume for s in steps} == {8}
    with pytest.raises(ValueError):
        rfc4733_send_schedule("1", 9000)


def packets_for(digit: str, ts: int, duration_ms: int = 200, seq0: int = 0) -> list[RtpPacket]:
    return [
        RtpPacket(101, (seq0 + i) & 0xFFFF, ts, 1, s.event.encode(), marker=s.marker)
        for i, s in enumerate(rfc4733_send_schedule(digit, duration_ms))
    ]


def test_receiver_emits_once_despite_three_end_packets() -> None:
    rx = Rfc4733Receiver()
    out = [d for p in packets_for("7", 1000) for d in rx.on_packet(p)]
    assert [(d.digit, d.duration_ms, d.timestamp, d.source) for d in out] == [("7", 200.0, 1000, "rfc4733")]


def test_receiver_ignores_retransmitted_event_but_accepts_same_digit_again() -> None:
    rx = Rfc4733Receiver()
    first = packets_for("1", 1000)
    again = packets_for("1", 1000 + 8000)  # same digit pressed again later: new timestamp
    stream = first + first[2:] + again + again[-1:]
    digits = [d.digit for p in stream for d in rx.on_packet(p)]
    assert digits == ["1", "1"]


def test_receiver_lost_end_packets() -> None:
    rx = Rfc4733Receiver(timeout=0.5)
    a = [p for p in packets_for("4", 100) if not TelephoneEvent.decode(p.payload).end]
    b = packets_for("#", 5000)
    out = [d for p in a for d in rx.on_packet(p, now=0.0)]
    assert out == []
    out = [d for p in b for d in rx.on_packet(p, now=1.0)]
    assert [(d.digit, d.duration_ms) for d in out] == [("4", 170.0), ("#", 200.0)]
    # only start packets, then silence -> emitted by poll after timeout
    rx.on_packet(packets_for("9", 9000)[0], now=2.0)
    assert rx.poll(2.2) == []
    assert [d.digit for d in rx.poll(2.6)] == ["9"]
    assert rx.poll(3.0) == []


def test_receiver_reordered_end_and_garbage() -> None:
    rx = Rfc4733Receiver()
    pk = packets_for("0", 42)
    order = [pk[0], pk[2], pk[1], pk[4], pk[3], pk[5], pk[6]]
    out = [d for p in order for d in rx.on_packet(p)]
    assert [(d.digit, d.duration_ms) for d in out] == [("0", 200.0)]
    assert rx.on_packet(RtpPacket(101, 99, 7, 1, b"\x00")) == []


# -- in-band detection -------------------------------------------------------------


def feed_frames(det: InbandDtmfDetector, pcm: np.ndarray, frame: int = 160) -> list[str]:
    out = []
    for i in range(0, len(pcm), frame):
        out += [d.digit for d in det.process(pcm[i : i + frame])]
    out += [d.digit for d in det.flush()]
    return out


def silence(ms: int) -> np.ndarray:
    return np.zeros(ms * 8, dtype=np.int16)


def test_all_16_digits_detected_once_each() -> None:
    rng = np.random.default_rng(1)
    parts = []
    for d in DTMF_EVENTS:
        parts += [dtmf_tone(d, 80, amplitude=dbm0_to_amplitude(-10)), silence(60)]
    pcm = np.concatenate(parts).astype(np.float64) + rng.normal(0, 60, sum(len(p) for p in parts))
    det = InbandDtmfDetector()
    assert feed_frames(det, np.clip(pcm, -32768, 32767).astype(np.int16)) == list(DTMF_EVENTS)


def test_duration_and_one_digit_per_long_press() -> None:
    det = InbandDtmfDetector()
    pcm = np.concatenate([silence(30), dtmf_tone("5", 1000), silence(100)])
    digits = []
    for i in range(0, len(pcm), 160):
        digits += det.process(pcm[i : i + 160])
    assert [d.digit for d in digits] == ["5"]
    assert 970 <= digits[0].duration_ms <= 1010
    assert abs(digits[0].timestamp - 240) <= 102


def test_repeated_same_digit_with_gap_counts_twice() -> None:
    pcm = np.concatenate([dtmf_tone("3", 60), silence(50), dtmf_tone("3", 60), silence(50)])
    assert feed_frames(InbandDtmfDetector(), pcm) == ["3", "3"]


def test_too_short_tone_rejected() -> None:
    pcm = np.concatenate([silence(20), dtmf_tone("8", 20), silence(100)])
    assert feed_frames(InbandDtmfDetector(), pcm) == []


def test_level_threshold() -> None:
    weak = np.concatenate([dtmf_tone("1", 100, amplitude=dbm0_to_amplitude(-40)), silence(50)])
    assert feed_frames(InbandDtmfDetector(), weak) == []
    ok = np.concatenate([dtmf_tone("1", 100, amplitude=dbm0_to_amplitude(-25)), silence(50)])
    assert feed_frames(InbandDtmfDetector(), ok) == ["1"]


def test_twist_limits() -> None:
    row, col = DTMF_FREQUENCIES["6"]

    def pair(row_db: float, col_db: float) -> np.ndarray:
        a = tone([row], 100, amplitude=dbm0_to_amplitude(row_db)).astype(np.int32)
        b = tone([col], 100, amplitude=dbm0_to_amplitude(col_db)).astype(np.int32)
        return np.concatenate([(a + b).astype(np.int16), silence(50)])

    assert feed_frames(InbandDtmfDetector(), pair(-10, -16)) == ["6"]  # 6 dB normal twist ok
    assert feed_frames(InbandDtmfDetector(), pair(-10, -22)) == []  # 12 dB: rejected
    assert feed_frames(InbandDtmfDetector(), pair(-13, -10)) == ["6"]  # 3 dB reverse ok
    assert feed_frames(InbandDtmfDetector(), pair(-18, -10)) == []  # 8 dB reverse: rejected


def test_single_tone_and_off_frequency_rejected() -> None:
    assert feed_frames(InbandDtmfDetector(), tone([697.0], 200, amplitude=8000)) == []
    # 1.5 % off nominal must still be accepted, ~6 % off rejected
    near = tone([697 * 1.015, 1209 * 0.985], 100, amplitude=6000)
    assert feed_frames(InbandDtmfDetector(), near) == ["1"]
    far = tone([697 * 1.06, 1209 * 1.06], 100, amplitude=6000)
    assert feed_frames(InbandDtmfDetector(), far) == []


def speech_like(seconds: float, seed: int) -> np.ndarray:
    """Voiced, vowel-like signal: gliding f0 with formant-weighted harmonics, plus noise bursts."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 8000)
    t = np.arange(n) / 8000
    f0 = 120 + 60 * np.sin(2 * np.pi * 0.7 * t) + 20 * np.sin(2 * np.pi * 3.1 * t)
    phase = 2 * np.pi * np.cumsum(f0) / 8000
    formants = [(700, 120), (1220, 150), (2600, 250)]
    sig = np.zeros(n)
    for k in range(1, 30):
        fk = k * f0
        weight = sum(np.exp(-(((fk - fc) / bw) ** 2)) for fc, bw in formants) + 0.05
        sig += weight / k**0.5 * np.sin(k * phase)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 2.3 * t) ** 2
    sig = sig * envelope + 0.3 * rng.normal(size=n) * (np.sin(2 * np.pi * 1.3 * t) > 0.6)
    sig *= 12000 / np.max(np.abs(sig))
    out: np.ndarray = sig.astype(np.int16)
    return out


def test_no_talk_off_on_noise_and_speech_like_signals() -> None:
    rng = np.random.default_rng(5)
    white = np.clip(rng.normal(0, 4000, 8000 * 5), -32768, 32767).astype(np.int16)
    assert feed_frames(InbandDtmfDetector(), white) == []
    for seed in range(3):
        assert feed_frames(InbandDtmfDetector(), speech_like(6.0, seed)) == []
    # music-on-hold-like chords (three tones) are rejected too
    chord = tone([440.0, 554.37, 659.25], 2000, amplitude=5000)
    assert feed_frames(InbandDtmfDetector(), chord) == []


def test_digits_survive_g711_and_speech_in_between() -> None:
    from hotline.media.g711 import PCMU

    parts = []
    for i, d in enumerate("159#"):
        parts += [speech_like(0.3, i), dtmf_tone(d, 70, amplitude=dbm0_to_amplitude(-12)), silence(40)]
    pcm = PCMU.decode(PCMU.encode(np.concatenate(parts)))
    assert feed_frames(InbandDtmfDetector(), pcm) == list("159#")


def test_sender_schedule_through_rtp_sender_is_received_once() -> None:
    from hotline.media.g711 import PCMU
    from hotline.media.rtp import parse_rtp
    from hotline.media.sender import RtpSender

    tx = RtpSender(PCMU, ssrc=3, initial_sequence=65534, initial_timestamp=8000)
    tx.audio_packet(np.zeros(160, dtype=np.int16), source="prompt")
    ev_ts = tx.next_timestamp
    wire = []
    for step in rfc4733_send_schedule("#", 120):
        wire.append(tx.event_packet(101, step.event.encode(), timestamp=ev_ts, marker=step.marker).build())
    pkts = [parse_rtp(w) for w in wire]
    assert [p.sequence for p in pkts] == [65535, 0, 1, 2, 3, 4]
    assert {p.timestamp for p in pkts} == {ev_ts}
    assert [p.marker for p in pkts] == [True] + [False] * 5
    rx = Rfc4733Receiver()
    digits = [d for p in pkts + pkts[-2:] for d in rx.on_packet(p)]
    assert [(d.digit, d.duration_ms, d.timestamp) for d in digits] == [("#", 120.0, ev_ts)]


def goertzel_reference(block: np.ndarray, freq: float, rate: int = 8000) -> float:
    """Textbook Goertzel recurrence (per-sample loop), normalised to A^2/2."""
    w = 2 * np.pi * freq / rate
    coeff = 2 * np.cos(w)
    s1 = s2 = 0.0
    for x in block:
        s0 = float(x) + coeff * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return float(2 * power / len(block) ** 2)


def test_tone_powers_equal_goertzel_recurrence() -> None:
    from hotline.media.tones import DTMF_COLS, DTMF_ROWS

    det = InbandDtmfDetector()
    rng = np.random.default_rng(2)
    blocks = np.stack([dtmf_tone("9", 13)[:102], rng.normal(0, 3000, 102), speech_like(0.02, 1)[:102]])
    got = det.tone_powers(blocks.astype(np.float64))
    for b in range(3):
        for k, f in enumerate(DTMF_ROWS + DTMF_COLS):
            assert got[b, k] == pytest.approx(goertzel_reference(blocks[b], f), rel=1e-9, abs=1e-6)
