from __future__ import annotations

import struct

import pytest

from hotline.media import rtcp
from hotline.media.rtp import (
    RtpError,
    RtpExtension,
    RtpPacket,
    is_rtcp,
    parse_rtp,
    seq_add,
    seq_diff,
    seq_lt,
)

# -- RTP ---------------------------------------------------------------------


def test_minimal_packet_wire_format() -> None:
    pkt = RtpPacket(
        payload_type=0, sequence=0x1234, timestamp=0xDEADBEEF, ssrc=0x01020304, payload=b"\xff" * 4
    )
    wire = pkt.build()
    assert wire == bytes.fromhex("80001234deadbeef01020304ffffffff")
    assert parse_rtp(wire) == pkt
    assert bytes(pkt) == wire


def test_full_featured_roundtrip() -> None:
    pkt = RtpPacket(
        payload_type=101,
        sequence=65535,
        timestamp=4294967295,
        ssrc=7,
        payload=b"abc",
        marker=True,
        csrcs=(1, 2, 3),
        extension=RtpExtension(0xBEDE, b"\x10\x01\x00\x00"),
        padding=5,
    )
    wire = pkt.build()
    assert wire[0] == 0x80 | 0x20 | 0x10 | 3
    assert wire[1] == 0x80 | 101
    assert len(wire) == 12 + 12 + 4 + 4 + 3 + 5
    assert wire[-1] == 5
    assert parse_rtp(wire) == pkt


@pytest.mark.parametrize(
    ("wire", "msg"),
    [
        (b"\x80\x00\x00", "too short"),
        (bytes.fromhex("40001234deadbeef01020304"), "version"),
        (bytes.fromhex("82001234deadbeef01020304") + b"\x00" * 4, "CSRC"),
        (bytes.fromhex("90001234deadbeef01020304") + b"\x00\x00", "extension"),
        (bytes.fromhex("90001234deadbeef01020304") + b"\xbe\xde\x00\x02" + b"\x00" * 4, "extension data"),
        (bytes.fromhex("a0001234deadbeef01020304") + b"\x00\x00", "zero"),
        (bytes.fromhex("a0001234deadbeef01020304") + b"\x00\x09", "longer"),
    ],
)
def test_parse_errors(wire: bytes, msg: str) -> None:
    with pytest.raises(RtpError, match=msg):
        parse_rtp(wire)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"payload_type": 128},
        {"sequence": 65536},
        {"timestamp": -1},
        {"ssrc": 1 << 32},
        {"csrcs": tuple(range(16))},
        {"padding": 256},
    ],
)
def test_build_validation(kwargs: dict[str, int]) -> None:
    base: dict[str, object] = {"payload_type": 0, "sequence": 0, "timestamp": 0, "ssrc": 0}
    base.update(kwargs)
    with pytest.raises(RtpError):
        RtpPacket(**base)  # type: ignore[arg-type]


def test_extension_validation() -> None:
    with pytest.raises(RtpError):
        RtpExtension(1, b"abc")


def test_rtcp_demux() -> None:
    assert is_rtcp(bytes([0x80, 200]))
    assert is_rtcp(bytes([0x81, 201]))
    assert not is_rtcp(bytes([0x80, 0]))
    assert not is_rtcp(bytes([0x80, 0x80 | 101]))  # marker + PT 101


def test_sequence_helpers() -> None:
    assert seq_add(65535, 1) == 0
    assert seq_add(0, -1) == 65535
    assert seq_diff(0, 65535) == 1
    assert seq_diff(65535, 0) == -1
    assert seq_diff(100, 50) == 50
    assert seq_lt(65530, 3)
    assert not seq_lt(3, 65530)


# -- RTCP --------------------------------------------------------------------


def _block(ssrc: int = 9) -> rtcp.ReportBlock:
    return rtcp.ReportBlock(ssrc, 64, -3, 70000, 123, 0x11112222, 0x00010000)


def test_compound_roundtrip() -> None:
    packets: list[rtcp.RtcpPacket] = [
        rtcp.SenderReport(1, rtcp.unix_to_ntp(1_700_000_000.25), 160_000, 50, 8000, (_block(), _block(10))),
        rtcp.SourceDescription((rtcp.SdesChunk(1, ((rtcp.SDES_CNAME, b"hotline@host"), (6, b"tool"))),)),
        rtcp.Bye((1, 2), b"hangup"),
    ]
    wire = rtcp.build_rtcp(packets)
    assert len(wire) % 4 == 0
    parsed = rtcp.parse_rtcp(wire)
    assert parsed == packets
    sdes = parsed[1]
    assert isinstance(sdes, rtcp.SourceDescription)
    assert sdes.chunks[0].cname == b"hotline@host"


def test_rr_and_unknown_roundtrip() -> None:
    rr = rtcp.ReceiverReport(5, (_block(),))
    app = rtcp.RtcpUnknown(204, 1, b"nameABCD")
    bye = rtcp.Bye((5,))
    parsed = rtcp.parse_rtcp(rtcp.build_rtcp([rr, app, bye]))
    assert parsed == [rr, app, bye]
    rb = parsed[0]
    assert isinstance(rb, rtcp.ReceiverReport)
    assert rb.reports[0].cumulative_lost == -3


def test_sr_wire_layout() -> None:
    sr = rtcp.SenderReport(0xAABBCCDD, 0x0102030405060708, 9, 10, 11)
    wire = rtcp.build_rtcp([sr])
    assert wire[:4] == bytes([0x80, 200, 0, 6])
    assert struct.unpack("!IQIII", wire[4:]) == (0xAABBCCDD, 0x0102030405060708, 9, 10, 11)


def test_padding_on_last_packet() -> None:
    rr = rtcp.build_rtcp([rtcp.ReceiverReport(1)])
    padded = bytes([rr[0] | 0x20, rr[1], 0, 2]) + rr[4:] + b"\x00\x00\x00\x04"
    assert rtcp.parse_rtcp(padded) == [rtcp.ReceiverReport(1)]


@pytest.mark.parametrize(
    "wire",
    [
        b"\x80\xc8",
        bytes([0x40, 201, 0, 1, 0, 0, 0, 1]),
        bytes([0x80, 201, 0, 5, 0, 0, 0, 1]),
        bytes([0x81, 201, 0, 1, 0, 0, 0, 1]),  # claims a block that is missing
        bytes([0x81, 202, 0, 2, 0, 0, 0, 1, 1, 9, 0, 0]),  # truncated SDES item
        bytes([0x80, 201, 0, 1, 0, 0, 0, 1, 0xAA]),  # trailing garbage
    ],
)
def test_rtcp_parse_errors(wire: bytes) -> None:
    with pytest.raises(rtcp.RtcpError):
        rtcp.parse_rtcp(wire)


def test_ntp_conversions() -> None:
    t = 1_700_000_000.5
    ntp = rtcp.unix_to_ntp(t)
    assert ntp >> 32 == 1_700_000_000 + rtcp.NTP_EPOCH_OFFSET
    assert ntp & 0xFFFFFFFF == 1 << 31
    assert rtcp.ntp_to_unix(ntp) == pytest.approx(t)
    assert rtcp.ntp_middle32(ntp) == ((ntp >> 16) & 0xFFFFFFFF)


def test_round_trip_time() -> None:
    sent = rtcp.unix_to_ntp(1000.0)
    block = rtcp.ReportBlock(1, 0, 0, 0, 0, lsr=rtcp.ntp_middle32(sent), dlsr=int(0.5 * 65536))
    rtt = rtcp.round_trip_time(block, rtcp.unix_to_ntp(1000.6))
    assert rtt == pytest.approx(0.1, abs=1e-4)
    assert rtcp.round_trip_time(rtcp.ReportBlock(1, 0, 0, 0, 0), sent) is None


# -- receiver statistics ------------------------------------------------------


def feed(stats: rtcp.ReceiverStats, seqs: list[int], start_ts: int = 0) -> None:
    for i, s in enumerate(seqs):
        stats.update(s, start_ts + 160 * i, i * 0.02)


def test_probation_then_clean_stream() -> None:
    st = rtcp.ReceiverStats(1)
    assert not st.update(100, 0, 0.0)  # first packet: probation
    assert not st.valid
    feed(st, list(range(101, 151)), 160)
    assert st.valid
    assert st.received == 50
    assert st.expected == 50
    assert st.cumulative_lost == 0
    assert st.fraction_lost() == 0
    assert st.jitter == 0


def test_wraparound_extended_sequence_and_loss() -> None:
    st = rtcp.ReceiverStats(1, min_sequential=0)
    seqs = [(65500 + i) & 0xFFFF for i in range(100) if i not in (10, 50, 51)]
    feed(st, seqs)
    assert st.cycles == 65536
    assert st.extended_max == 65536 + ((65500 + 99) & 0xFFFF)
    assert st.expected == 100
    assert st.cumulative_lost == 3
    block = st.report_block(now=2.0)
    assert block.cumulative_lost == 3
    assert block.fraction_lost == (3 << 8) // 100
    assert block.highest_seq == st.extended_max
    # next interval without loss -> fraction 0, cumulative unchanged
    for i in range(100, 110):
        st.update((65500 + i) & 0xFFFF, 160 * i, i * 0.02)
    assert st.fraction_lost() == 0
    assert st.cumulative_lost == 3


def test_duplicates_make_loss_negative_and_reordering_is_tolerated() -> None:
    st = rtcp.ReceiverStats(1, min_sequential=0)
    feed(st, [1, 2, 3, 3, 3, 5, 4, 6])
    assert st.max_seq == 6
    assert st.cycles == 0
    assert st.cumulative_lost == 6 - 8
    assert st.report_block(0.0).cumulative_lost == -2


def test_large_jump_needs_two_sequential_packets() -> None:
    st = rtcp.ReceiverStats(1, min_sequential=0)
    feed(st, [10, 11, 12])
    assert not st.update(20000, 0, 1.0)  # wild jump: discarded
    assert st.max_seq == 12
    assert st.update(20001, 160, 1.02)  # sequential after jump: resync
    assert st.base_seq == 20001
    assert st.max_seq == 20001


def test_jitter_estimator_matches_rfc_formula() -> None:
    st = rtcp.ReceiverStats(1, min_sequential=0)
    delays = [0.0, 0.010, 0.0, 0.030, 0.005, 0.0, 0.020]
    expected = 0.0
    prev_transit = None
    for i, d in enumerate(delays):
        arrival = i * 0.02 + d
        st.update(i, 160 * i, arrival)
        transit = arrival * 8000 - 160 * i
        if prev_transit is not None:
            expected += (abs(transit - prev_transit) - expected) / 16
        prev_transit = transit
    assert st.jitter == int(expected)
    assert st.jitter_seconds == pytest.approx(expected / 8000)
    assert st.jitter > 0


def test_lsr_dlsr() -> None:
    st = rtcp.ReceiverStats(1, min_sequential=0)
    feed(st, [1, 2])
    ntp = rtcp.unix_to_ntp(5000.0)
    st.on_sender_report(ntp, arrival=10.0)
    block = st.report_block(now=10.25)
    assert block.lsr == rtcp.ntp_middle32(ntp)
    assert block.dlsr == 16384


def test_jitter_unaffected_by_timestamp_wraparound() -> None:
    st = rtcp.ReceiverStats(1, min_sequential=0)
    start = 0xFFFFFFFF - 160 * 5
    for i in range(20):
        st.update(i, (start + 160 * i) & 0xFFFFFFFF, 100.0 + i * 0.02)
    assert st.jitter == 0
