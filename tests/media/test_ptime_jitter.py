"""Jitter buffer re-framing: packets of any length placed by RTP timestamp into 20 ms frames."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from hotline.media.g711 import PCMU
from hotline.media.jitter import JitterBuffer, PlayoutFrame
from hotline.media.rtp import RtpPacket

Pcm = npt.NDArray[np.int16]
TS0 = 1_000_000


def raw_decode(payload: bytes) -> Pcm:
    """Test codec: the payload is raw int16 samples, so the output can be compared exactly."""
    return np.frombuffer(payload, dtype=np.int16).copy()


def signal(n: int) -> Pcm:
    return (np.arange(n) % 20000 + 1).astype(np.int16)  # never 0: silence is recognisable


def packetize(pcm: Pcm, sizes: list[int], ts0: int = TS0, seq0: int = 100) -> list[RtpPacket]:
    out: list[RtpPacket] = []
    pos = 0
    for i, n in enumerate(sizes):
        out.append(
            RtpPacket(0, (seq0 + i) & 0xFFFF, (ts0 + pos) & 0xFFFFFFFF, 9, pcm[pos : pos + n].tobytes())
        )
        pos += n
    return out


def drain(jb: JitterBuffer, ticks: int) -> list[PlayoutFrame]:
    return [jb.get() for _ in range(ticks)]


def audio(frames: list[PlayoutFrame]) -> Pcm:
    return np.concatenate([f.pcm for f in frames if f.kind == "audio"])


def test_mixed_packet_sizes_are_reframed_exactly() -> None:
    sizes = [80, 160, 240, 480, 37, 123, 80, 400, 240, 240, 320, 160, 81]  # 10..60 ms and odd lengths
    total = sum(sizes)
    pcm = signal(total + (-total) % 160)
    jb = JitterBuffer(raw_decode, depth=2, max_depth=40)  # everything is put before playing
    for p in packetize(pcm, sizes):
        assert jb.put(p)
    frames = drain(jb, total // 160 + 4)
    played = audio(frames)
    assert all(len(f.pcm) == 160 for f in frames)
    assert np.array_equal(played[:total], pcm[:total])  # every sample, in place
    assert not np.any(played[total:])  # the last frame's tail (never sent) is silence
    assert jb.stats.lost == 0 and jb.stats.received == len(sizes)
    ts = [f.timestamp for f in frames if f.kind == "audio"]
    assert ts == [TS0 + 160 * i for i in range(len(ts))]


def test_30ms_reordered_and_duplicated_is_exact() -> None:
    pcm = signal(240 * 40)
    pkts = packetize(pcm, [240] * 40)
    order = []
    for i in range(0, 40, 2):
        order += [pkts[i + 1], pkts[i], pkts[i + 1]]  # swapped pairs, every second one twice
    jb = JitterBuffer(raw_decode, depth=3)
    frames: list[PlayoutFrame] = []
    for k in range(0, len(order), 3):
        for p in order[k : k + 3]:
            jb.put(p)
        frames += drain(jb, 3)  # two 30 ms packets = three 20 ms ticks
    frames += drain(jb, 10)
    played = audio(frames)
    # frames are aligned to the first packet received (the second one sent), so the frame
    # before it starts with 10 ms that no packet covers (silence)
    assert not np.any(played[:80])
    assert np.array_equal(played[80 : 80 + len(pcm)], pcm)
    st = jb.stats
    assert st.duplicates == 20 and st.lost == 0 and st.late == 0 and st.received == 40


def test_lost_30ms_packet_is_concealed_and_later_audio_stays_in_place() -> None:
    pcm = signal(240 * 20)
    pkts = packetize(pcm, [240] * 20)
    del pkts[5]  # samples 1200..1440: half of frame 7 and all of frame 8
    jb = JitterBuffer(raw_decode, depth=2, max_depth=40)
    for p in pkts:
        jb.put(p)
    frames = drain(jb, 30)
    kinds = [f.kind for f in frames[:30]]
    assert kinds[7] == "audio" and kinds[8] == "concealed"
    assert jb.stats.lost == 1
    assert np.array_equal(frames[7].pcm[:80], pcm[1120:1200]) and not np.any(frames[7].pcm[80:])
    assert frames[8].pcm[0] == frames[7].pcm[0]  # concealment repeats the last frame, fading
    # everything after the gap is at its timestamp position, sample for sample
    after = np.concatenate([f.pcm for f in frames[9:30]])
    assert np.array_equal(after, pcm[1440:4800])


def test_partly_late_packet_contributes_its_future_samples() -> None:
    pcm = signal(160 * 10)
    jb = JitterBuffer(raw_decode, depth=1)
    jb.put(packetize(pcm[:160], [160])[0])
    assert jb.get().kind == "audio"
    # a 60 ms packet starting at the frame just played: its first 20 ms are late
    late = RtpPacket(0, 2, TS0, 9, pcm[:480].tobytes())
    assert jb.put(late)
    assert jb.stats.late == 0
    assert not jb.put(RtpPacket(0, 3, TS0 + 160, 9, pcm[160:400].tobytes()))  # nothing new: duplicate
    f1, f2 = jb.get(), jb.get()
    assert np.array_equal(np.concatenate([f1.pcm, f2.pcm]), pcm[160:480])
    assert not jb.put(RtpPacket(0, 1, TS0 + 80, 9, pcm[80:400].tobytes()))  # entirely in the past
    assert jb.stats.late == 1 and jb.stats.duplicates == 1


def test_60ms_stream_prebuffers_a_packet_plus_a_frame_and_never_underruns() -> None:
    pcm = signal(480 * 30)
    pkts = packetize(pcm, [480] * 30)
    jb = JitterBuffer(raw_decode, depth=2)
    frames: list[PlayoutFrame] = []
    for tick in range(30 * 3):
        if tick % 3 == 0:
            jb.put(pkts[tick // 3])
        frames.append(jb.get())
    assert jb.stats.underruns == 0 and jb.stats.lost == 0
    frames += drain(jb, 10)
    assert frames[0].kind == "silence" and frames[3].kind == "audio"  # waited for 4 frames
    assert np.array_equal(audio(frames), pcm)


def test_timestamp_wraparound_with_30ms_packets() -> None:
    pcm = signal(240 * 12)
    pkts = packetize(pcm, [240] * 12, ts0=0xFFFFFFFF - 1000, seq0=65530)
    jb = JitterBuffer(raw_decode, depth=2, max_depth=40)
    for p in pkts:
        jb.put(p)
    assert np.array_equal(audio(drain(jb, 20)), pcm)
    assert jb.stats.resyncs == 0


def test_partial_last_frame_is_played_after_waiting() -> None:
    pcm = signal(240 * 3)  # 90 ms: frames 0-4, the last one half filled
    jb = JitterBuffer(raw_decode, depth=2)
    for p in packetize(pcm, [240] * 3):
        jb.put(p)
    frames = drain(jb, 8)
    kinds = [f.kind for f in frames]
    # the half frame waits two ticks for the rest (underruns), then is played
    assert kinds[:7] == ["audio"] * 4 + ["concealed"] * 2 + ["audio"]
    assert np.array_equal(audio(frames)[:720], pcm) and not np.any(frames[6].pcm[80:])


def test_resume_after_pause_with_timestamp_jump_adds_no_delay() -> None:
    """Silence suppression: the sender stops, then continues with the next sequence number
    and a later timestamp -- the gap is skipped, not concealed as loss."""
    pcm = signal(160 * 40)
    jb = JitterBuffer(raw_decode, depth=2, rebuffer_after=10)
    pkts = packetize(pcm, [160] * 40)
    for p in pkts[:4]:
        jb.put(p)
    drain(jb, 4)
    assert [f.kind for f in drain(jb, 3)] == ["concealed"] * 3  # pause: underruns
    resumed = [RtpPacket(0, 104 + i, p.timestamp, 9, p.payload) for i, p in enumerate(pkts[10:14])]
    for p in resumed:  # 6 frames of timestamp skipped, no sequence number skipped
        jb.put(p)
    f = jb.get()
    assert f.kind == "audio" and f.timestamp == pkts[10].timestamp and f.sequence == 104
    assert jb.stats.lost == 0


def test_timestamp_jump_without_underrun_and_30ms() -> None:
    """The same with 30 ms packets and no underrun (the gap is already buffered)."""
    pcm = signal(240 * 20)
    pkts = packetize(pcm, [240] * 20)
    jumped = pkts[:5] + [RtpPacket(0, p.sequence - 6, p.timestamp, 9, p.payload) for p in pkts[11:]]
    jb = JitterBuffer(raw_decode, depth=2, max_depth=40)
    for p in jumped:
        jb.put(p)
    frames = drain(jb, 8 + 14)  # frames 0-7, then 16-29
    assert jb.stats.lost == 0 and jb.stats.underruns == 0
    played = audio(frames)
    assert len(played) == 22 * 160
    # 5 packets = 7.5 frames: the last frame before the gap has a silent tail; packet 11
    # starts mid-frame (sample 2640), so its first frame starts with 80 samples of silence
    assert np.array_equal(played[:1200], pcm[:1200]) and not np.any(played[1200:1280])
    rest = played[1280:]
    assert not np.any(rest[:80]) and np.array_equal(rest[80:], pcm[2640:])


def test_missing_packet_is_still_lost_not_skipped() -> None:
    """A sequence gap means loss: concealed, and the playout point keeps its timing."""
    pcm = signal(160 * 20)
    pkts = packetize(pcm, [160] * 20)
    del pkts[6]
    jb = JitterBuffer(raw_decode, depth=2, max_depth=40)
    for p in pkts:
        jb.put(p)
    kinds = [f.kind for f in drain(jb, 20)]
    assert kinds[6] == "concealed" and kinds.count("audio") == 19 and jb.stats.lost == 1


def test_real_g711_30ms_with_jitter_and_loss() -> None:
    rng = np.random.default_rng(7)
    tone = (np.sin(2 * np.pi * 400 * np.arange(240 * 200) / 8000) * 8000).astype(np.int16)
    pkts = [
        RtpPacket(
            8,
            (65500 + i) & 0xFFFF,
            (0xFFFFF000 + i * 240) & 0xFFFFFFFF,
            3,
            PCMU.encode(tone[i * 240 : (i + 1) * 240]),
        )
        for i in range(200)
    ]
    arrivals = [(i * 1.5 + rng.uniform(0, 2), p) for i, p in enumerate(pkts) if rng.random() >= 0.03]
    arrivals.sort(key=lambda a: a[0])
    jb = JitterBuffer(PCMU.decode, depth=3)
    out: list[PlayoutFrame] = []
    k = 0
    for tick in range(320):
        while k < len(arrivals) and arrivals[k][0] <= tick:
            jb.put(arrivals[k][1])
            k += 1
        out.append(jb.get())
    st = jb.stats
    assert st.late == 0 and st.resyncs == 0
    assert st.played + st.lost + len(jb) >= 295  # 200 x 30 ms = 300 frames
    assert 0 < st.lost <= 20
    ts = [f.timestamp for f in out if f.kind == "audio"]
    assert len(set(ts)) == len(ts)
