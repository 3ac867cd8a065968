from __future__ import annotations

import numpy as np
import pytest

from hotline.media.g711 import PCMU
from hotline.media.jitter import JitterBuffer
from hotline.media.rtp import RtpPacket


def decode(payload: bytes) -> np.ndarray:
    """Test codec: the payload is a 16-bit number; the frame is filled with it."""
    return np.full(160, int.from_bytes(payload, "big") % 30000 + 1, dtype=np.int16)


def pkt(seq: int, ssrc: int = 1, value: int | None = None) -> RtpPacket:
    v = seq if value is None else value
    return RtpPacket(0, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrc, v.to_bytes(2, "big"))


def value(seq: int) -> int:
    return seq % 30000 + 1


def test_prebuffer_then_in_order_playout() -> None:
    jb = JitterBuffer(decode, depth=3)
    jb.put(pkt(10))
    jb.put(pkt(11))
    assert jb.get().kind == "silence"
    jb.put(pkt(12))
    frames = [jb.get() for _ in range(3)]
    assert [f.sequence for f in frames] == [10, 11, 12]
    assert [f.kind for f in frames] == ["audio"] * 3
    assert jb.stats.played == 3


def test_reordering_within_depth_is_repaired() -> None:
    jb = JitterBuffer(decode, depth=3)
    arrival = [100, 102, 101, 104, 103, 105, 107, 106, 108, 109]
    played = []
    for s in arrival:
        jb.put(pkt(s))
        f = jb.get()
        if f.kind == "audio":
            played.append(f.sequence)
    while len(jb):
        played.append(jb.get().sequence)
    assert played == list(range(100, 110))
    assert jb.stats.lost == 0 and jb.stats.late == 0


def test_duplicates_dropped() -> None:
    jb = JitterBuffer(decode, depth=2)
    for s in [1, 1, 2, 2, 2, 3]:
        jb.put(pkt(s))
    assert jb.stats.duplicates == 3
    assert [jb.get().sequence for _ in range(3)] == [1, 2, 3]


def test_loss_is_concealed_with_fade_then_silence() -> None:
    jb = JitterBuffer(decode, depth=1, max_conceal_frames=3)
    jb.put(pkt(0, value=5000))
    assert jb.get().sequence == 0
    for s in range(6, 8):  # 1..5 lost
        jb.put(pkt(s))
    frames = [jb.get() for _ in range(7)]
    kinds = [f.kind for f in frames]
    assert kinds == ["concealed"] * 5 + ["audio"] * 2
    levels = [int(np.abs(f.pcm.astype(np.int32)).max()) for f in frames[:5]]
    assert levels[0] == value(5000)  # starts at full level and fades
    assert levels[0] >= levels[1] >= levels[2] > 0
    assert levels[3] == 0 and levels[4] == 0  # then silence
    assert jb.stats.lost == 5
    assert [f.sequence for f in frames[5:]] == [6, 7]


def test_too_late_packet_is_dropped() -> None:
    jb = JitterBuffer(decode, depth=1)
    jb.put(pkt(0))
    jb.put(pkt(2))
    assert [jb.get().kind for _ in range(3)] == ["audio", "concealed", "audio"]
    assert not jb.put(pkt(1))  # arrives after its playout time
    assert jb.stats.late == 1 and jb.stats.lost == 1


def test_sequence_wraparound() -> None:
    jb = JitterBuffer(decode, depth=3)
    # extended numbers: pkt() masks the sequence to 16 bits, the timestamp keeps counting
    # (re-framing is by RTP timestamp, so the timestamps must be continuous as on the wire)
    seqs = [65533, 65535, 65534, 65536, 65538, 65537, 65539, 65540, 65541]
    played = []
    for s in seqs:
        jb.put(pkt(s, value=s & 0xFFFF))
        f = jb.get()
        if f.kind == "audio":
            played.append(f.sequence)
    while len(jb):
        played.append(jb.get().sequence)
    assert played == [65533, 65534, 65535, 0, 1, 2, 3, 4, 5]
    assert jb.stats.lost == 0 and jb.stats.late == 0


def test_underrun_does_not_skip_ahead_then_rebuffers() -> None:
    jb = JitterBuffer(decode, depth=2, rebuffer_after=3)
    jb.put(pkt(1))
    jb.put(pkt(2))
    assert [jb.get().sequence for _ in range(2)] == [1, 2]
    # sender pauses for a while (e.g. hold), then continues with the next sequence number
    assert [jb.get().kind for _ in range(5)] == ["concealed"] * 3 + ["silence"] * 2
    assert jb.stats.underruns == 3
    jb.put(pkt(3))
    assert jb.get().kind == "silence"  # pre-buffering again
    jb.put(pkt(4))
    assert [jb.get().sequence for _ in range(2)] == [3, 4]
    assert jb.stats.late == 0


def test_ssrc_change_and_sequence_jump_resync() -> None:
    jb = JitterBuffer(decode, depth=1)
    jb.put(pkt(10))
    assert jb.get().sequence == 10
    jb.put(pkt(5000, ssrc=2))  # new source (e.g. far end switched to MOH server)
    assert jb.get().sequence == 5000
    jb.put(pkt(40000, ssrc=2))  # wild jump
    assert jb.get().sequence == 40000
    assert jb.stats.resyncs == 2


def test_overflow_bounds_delay() -> None:
    jb = JitterBuffer(decode, depth=2, max_depth=4)
    for s in range(10):
        jb.put(pkt(s))
    f = jb.get()
    assert f.sequence == 0
    assert len(jb) <= 4
    assert jb.stats.overflow_dropped == 5
    assert jb.get().sequence == 6


def test_adaptive_grows_on_late_and_shrinks_when_quiet() -> None:
    jb = JitterBuffer(decode, depth=2, min_depth=1, max_depth=6, adaptive=True, shrink_after=20)
    jb.put(pkt(0))
    jb.put(pkt(1))
    jb.get()
    jb.get()
    jb.get()  # underrun -> grow
    assert jb.target_depth == 3
    seq = 2
    # steady stream with a comfortable cushion
    for _ in range(5):
        jb.put(pkt(seq))
        seq += 1
    for _ in range(60):
        jb.put(pkt(seq))
        seq += 1
        jb.get()
    assert jb.target_depth < 3
    assert jb.stats.overflow_dropped >= 1


def test_with_real_g711_and_random_network_is_deterministic() -> None:
    rng = np.random.default_rng(3)
    tone = (np.sin(2 * np.pi * 400 * np.arange(160 * 200) / 8000) * 8000).astype(np.int16)
    packets = [
        RtpPacket(0, (65000 + i) & 0xFFFF, i * 160, 7, PCMU.encode(tone[i * 160 : (i + 1) * 160]))
        for i in range(200)
    ]
    # network: 5 % loss, 3 % duplicates, jitter up to 2 frames
    arrivals: list[tuple[float, RtpPacket]] = []
    for i, p in enumerate(packets):
        if rng.random() < 0.05:
            continue
        arrivals.append((i + rng.uniform(0, 2), p))
        if rng.random() < 0.03:
            arrivals.append((i + rng.uniform(0, 2), p))
    arrivals.sort(key=lambda a: a[0])
    jb = JitterBuffer(PCMU.decode, depth=3)
    out = []
    k = 0
    for tick in range(210):
        while k < len(arrivals) and arrivals[k][0] <= tick:
            jb.put(arrivals[k][1])
            k += 1
        out.append(jb.get())
    audio = [f for f in out if f.kind == "audio"]
    seqs = [f.sequence for f in audio]
    assert len(set(seqs)) == len(seqs)  # each packet played at most once
    st = jb.stats
    assert st.late == 0
    assert st.played + st.lost + len(jb) >= 195
    assert st.duplicates >= 1
    assert 0 < st.lost <= 20


@pytest.mark.parametrize("kwargs", [{"depth": 0}, {"depth": 5, "max_depth": 4}, {"min_depth": 3, "depth": 2}])
def test_bad_configuration(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        JitterBuffer(decode, **kwargs)  # type: ignore[arg-type]


def test_adaptive_late_packet_stretches_playout() -> None:
    jb = JitterBuffer(decode, depth=1, max_depth=5, adaptive=True)
    jb.put(pkt(0))
    assert jb.get().sequence == 0
    jb.put(pkt(2))
    assert jb.get().kind == "concealed"  # 1 missing -> lost
    assert not jb.put(pkt(1))  # ...it was only late: grow the delay
    assert jb.target_depth == 2
    jb.put(pkt(3))
    f = jb.get()
    assert f.kind == "concealed" and jb.stats.stretched == 1  # inserted frame, playout point kept
    assert [jb.get().sequence for _ in range(2)] == [2, 3]
    # a reordered pair is still played in order
    jb.put(pkt(5))
    jb.put(pkt(4))
    assert [jb.get().sequence for _ in range(2)] == [4, 5]
    assert jb.stats.late == 1
