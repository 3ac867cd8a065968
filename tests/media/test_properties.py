"""Property-based tests (hypothesis) for the packet formats and stream invariants."""

from __future__ import annotations

import contextlib
import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.media import rtcp
from hotline.media.jitter import JitterBuffer
from hotline.media.mixer import MixMatrix
from hotline.media.rtp import RtpError, RtpExtension, RtpPacket, parse_rtp, seq_diff

u32 = st.integers(0, 0xFFFFFFFF)

rtp_packets = st.builds(
    RtpPacket,
    payload_type=st.integers(0, 127),
    sequence=st.integers(0, 0xFFFF),
    timestamp=u32,
    ssrc=u32,
    payload=st.binary(max_size=64),
    marker=st.booleans(),
    csrcs=st.lists(u32, max_size=15).map(tuple),
    extension=st.none()
    | st.builds(
        RtpExtension, st.integers(0, 0xFFFF), st.binary(max_size=12).map(lambda b: b[: len(b) // 4 * 4])
    ),
    padding=st.integers(0, 255),
)


@given(rtp_packets)
def test_rtp_roundtrip(pkt: RtpPacket) -> None:
    assert parse_rtp(pkt.build()) == pkt


@given(st.binary(max_size=80))
def test_rtp_parser_never_crashes(data: bytes) -> None:
    with contextlib.suppress(RtpError):
        parse_rtp(data)


@given(st.binary(max_size=120))
def test_rtcp_parser_never_crashes(data: bytes) -> None:
    with contextlib.suppress(rtcp.RtcpError):
        rtcp.parse_rtcp(data)


blocks = st.builds(
    rtcp.ReportBlock,
    u32,
    st.integers(0, 255),
    st.integers(-0x800000, 0x7FFFFF),
    u32,
    u32,
    u32,
    u32,
)
rtcp_packets = st.one_of(
    st.builds(
        rtcp.SenderReport,
        u32,
        st.integers(0, 2**64 - 1),
        u32,
        u32,
        u32,
        st.lists(blocks, max_size=3).map(tuple),
    ),
    st.builds(rtcp.ReceiverReport, u32, st.lists(blocks, max_size=3).map(tuple)),
    st.builds(
        rtcp.SourceDescription,
        st.lists(
            st.builds(
                rtcp.SdesChunk,
                u32,
                st.lists(st.tuples(st.integers(1, 8), st.binary(max_size=20)), max_size=3).map(tuple),
            ),
            max_size=3,
        ).map(tuple),
    ),
    st.builds(rtcp.Bye, st.lists(u32, max_size=4).map(tuple), st.binary(max_size=30)),
)


@given(st.lists(rtcp_packets, min_size=1, max_size=4))
def test_rtcp_roundtrip(packets: list[rtcp.RtcpPacket]) -> None:
    assert rtcp.parse_rtcp(rtcp.build_rtcp(packets)) == packets


def _decode(payload: bytes) -> np.ndarray:
    return np.full(160, int.from_bytes(payload, "big") % 30000, dtype=np.int16)


@settings(max_examples=60, deadline=None)
@given(
    start=st.integers(0, 0xFFFF),
    count=st.integers(1, 120),
    ops=st.lists(st.sampled_from(["ok", "drop", "dup", "swap", "late"]), min_size=120, max_size=120),
    depth=st.integers(1, 4),
    adaptive=st.booleans(),
)
def test_jitter_buffer_invariants(start: int, count: int, ops: list[str], depth: int, adaptive: bool) -> None:
    """Whatever the network does: each packet is played at most once, in increasing order."""
    seqs = [(start + i) & 0xFFFF for i in range(count)]
    arrival: list[int] = []
    for i, s in enumerate(seqs):
        op = ops[i]
        if op == "drop":
            continue
        arrival.append(s)
        if op == "dup":
            arrival.append(s)
        elif op == "swap" and len(arrival) >= 2:
            arrival[-1], arrival[-2] = arrival[-2], arrival[-1]
        elif op == "late" and len(arrival) >= 4:
            arrival.insert(len(arrival) - 4, arrival.pop())
    jb = JitterBuffer(_decode, depth=depth, max_depth=max(depth, 6), adaptive=adaptive)
    played: list[int] = []
    for s in arrival:
        jb.put(RtpPacket(0, s, s * 160 & 0xFFFFFFFF, 1, s.to_bytes(2, "big")))
        f = jb.get()
        assert len(f.pcm) == 160
        if f.sequence is not None:
            played.append(f.sequence)
    for _ in range(20):
        f = jb.get()
        if f.sequence is not None:
            played.append(f.sequence)
    assert len(set(played)) == len(played)
    assert all(seq_diff(b, a) > 0 for a, b in itertools.pairwise(played))
    st_ = jb.stats
    assert st_.played == len(played)
    assert st_.received + st_.duplicates + st_.late == len(arrival)


@given(
    st.lists(st.integers(-32768, 32767), min_size=3, max_size=3),
    st.sampled_from(["listen", "whisper", "barge"]),
)
def test_supervisor_mix_matches_reference(values: list[int], mode: str) -> None:
    m = MixMatrix.supervised(["caller", "agent"], "agent", "sup", mode)  # type: ignore[arg-type]
    names = ["caller", "agent", "sup"]
    out = m.mix({n: np.full(160, v, dtype=np.int16) for n, v in zip(names, values, strict=True)})
    for listener in names:
        expected = sum(v for n, v in zip(names, values, strict=True) if m.hears(listener, n))
        assert int(out[listener][0]) == max(-32768, min(32767, expected))
        assert listener not in m.audible_to(listener)
