"""RTCP packets (RFC 3550 section 6) and receiver statistics (appendix A.1, A.3, A.8).

Supported packet types: SR (200), RR (201), SDES (202), BYE (203); anything else
in a compound packet is returned as :class:`RtcpUnknown`.  Time is always
passed in by the caller (seconds as float, or NTP 64-bit fixed point).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "NTP_EPOCH_OFFSET",
    "RTCP_BYE",
    "RTCP_RR",
    "RTCP_SDES",
    "RTCP_SR",
    "SDES_CNAME",
    "Bye",
    "ReceiverReport",
    "ReceiverStats",
    "ReportBlock",
    "RtcpError",
    "RtcpPacket",
    "RtcpUnknown",
    "SdesChunk",
    "SenderReport",
    "SourceDescription",
    "build_rtcp",
    "ntp_middle32",
    "ntp_to_unix",
    "parse_rtcp",
    "round_trip_time",
    "unix_to_ntp",
]

RTCP_SR: Final = 200
RTCP_RR: Final = 201
RTCP_SDES: Final = 202
RTCP_BYE: Final = 203

SDES_END: Final = 0
SDES_CNAME: Final = 1

NTP_EPOCH_OFFSET: Final = 2_208_988_800
"""Seconds from 1900-01-01 (NTP epoch) to 1970-01-01 (Unix epoch)."""

RTP_SEQ_MOD: Final = 1 << 16
MAX_DROPOUT: Final = 3000
MAX_MISORDER: Final = 100
MIN_SEQUENTIAL: Final = 2


class RtcpError(ValueError):
    """Malformed RTCP packet."""


def unix_to_ntp(t: float) -> int:
    """Unix time in seconds -> 64-bit NTP timestamp (32.32 fixed point)."""
    secs = int(t) + NTP_EPOCH_OFFSET
    frac = int((t - int(t)) * (1 << 32)) & 0xFFFFFFFF
    return ((secs & 0xFFFFFFFF) << 32) | frac


def ntp_to_unix(ntp: int) -> float:
    return (ntp >> 32) - NTP_EPOCH_OFFSET + (ntp & 0xFFFFFFFF) / (1 << 32)


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp (used for LSR / DLSR)."""
    return (ntp >> 16) & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class ReportBlock:
    ssrc: int
    fraction_lost: int  # 8-bit fixed point, lost/expected * 256
    cumulative_lost: int  # signed 24-bit (duplicates can make it negative)
    highest_seq: int  # extended highest sequence number received
    jitter: int  # interarrival jitter, RTP timestamp units
    lsr: int = 0  # middle 32 bits of last SR NTP timestamp
    dlsr: int = 0  # delay since last SR, units of 1/65536 s

    def build(self) -> bytes:
        lost = max(-0x800000, min(0x7FFFFF, self.cumulative_lost)) & 0xFFFFFF
        return struct.pack(
            "!IIIIII",
            self.ssrc,
            ((self.fraction_lost & 0xFF) << 24) | lost,
            self.highest_seq & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.lsr & 0xFFFFFFFF,
            self.dlsr & 0xFFFFFFFF,
        )

    @classmethod
    def parse(cls, buf: bytes, pos: int) -> ReportBlock:
        ssrc, fl, ext, jitter, lsr, dlsr = struct.unpack_from("!IIIIII", buf, pos)
        lost = fl & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, fl >> 24, lost, ext, jitter, lsr, dlsr)


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()
    packet_type: int = field(default=RTCP_SR, init=False)


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()
    packet_type: int = field(default=RTCP_RR, init=False)


@dataclass(frozen=True, slots=True)
class SdesChunk:
    ssrc: int
    items: tuple[tuple[int, bytes], ...] = ()

    @property
    def cname(self) -> bytes | None:
        for item_type, value in self.items:
            if item_type == SDES_CNAME:
                return value
        return None


@dataclass(frozen=True, slots=True)
class SourceDescription:
    chunks: tuple[SdesChunk, ...] = ()
    packet_type: int = field(default=RTCP_SDES, init=False)


@dataclass(frozen=True, slots=True)
class Bye:
    ssrcs: tuple[int, ...] = ()
    reason: bytes = b""
    packet_type: int = field(default=RTCP_BYE, init=False)


@dataclass(frozen=True, slots=True)
class RtcpUnknown:
    packet_type: int
    count: int
    body: bytes


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | RtcpUnknown


def _header(count: int, packet_type: int, body: bytes) -> bytes:
    if len(body) % 4:
        raise RtcpError("RTCP body must be 32-bit aligned")
    if count > 31:
        raise RtcpError("RTCP count field overflow (max 31)")
    return struct.pack("!BBH", 0x80 | count, packet_type, len(body) // 4) + body


def _build_one(pkt: RtcpPacket) -> bytes:
    if isinstance(pkt, SenderReport):
        body = struct.pack(
            "!IQIII",
            pkt.ssrc,
            pkt.ntp_timestamp & 0xFFFFFFFFFFFFFFFF,
            pkt.rtp_timestamp & 0xFFFFFFFF,
            pkt.packet_count & 0xFFFFFFFF,
            pkt.octet_count & 0xFFFFFFFF,
        ) + b"".join(r.build() for r in pkt.reports)
        return _header(len(pkt.reports), RTCP_SR, body)
    if isinstance(pkt, ReceiverReport):
        body = struct.pack("!I", pkt.ssrc) + b"".join(r.build() for r in pkt.reports)
        return _header(len(pkt.reports), RTCP_RR, body)
    if isinstance(pkt, SourceDescription):
        chunks = []
        for chunk in pkt.chunks:
            data = bytearray(struct.pack("!I", chunk.ssrc))
            for item_type, value in chunk.items:
                if not 1 <= item_type <= 255 or len(value) > 255:
                    raise RtcpError("invalid SDES item")
                data += bytes([item_type, len(value)]) + value
            data += b"\x00"  # END item
            data += b"\x00" * (-len(data) % 4)
            chunks.append(bytes(data))
        return _header(len(pkt.chunks), RTCP_SDES, b"".join(chunks))
    if isinstance(pkt, Bye):
        body = b"".join(struct.pack("!I", s) for s in pkt.ssrcs)
        if pkt.reason:
            if len(pkt.reason) > 255:
                raise RtcpError("BYE reason too long")
            reason = bytes([len(pkt.reason)]) + pkt.reason
            body += reason + b"\x00" * (-len(reason) % 4)
        return _header(len(pkt.ssrcs), RTCP_BYE, body)
    return _header(pkt.count, pkt.packet_type, pkt.body)


def build_rtcp(packets: Iterable[RtcpPacket]) -> bytes:
    """Build a compound RTCP packet (the caller is responsible for SR/RR first)."""
    return b"".join(_build_one(p) for p in packets)


def _parse_one(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == RTCP_SR:
        if len(body) < 24 + 24 * count:
            raise RtcpError("truncated SR")
        ssrc, ntp, rtp_ts, pc, oc = struct.unpack_from("!IQIII", body)
        blocks = tuple(ReportBlock.parse(body, 24 + 24 * i) for i in range(count))
        return SenderReport(ssrc, ntp, rtp_ts, pc, oc, blocks)
    if packet_type == RTCP_RR:
        if len(body) < 4 + 24 * count:
            raise RtcpError("truncated RR")
        (ssrc,) = struct.unpack_from("!I", body)
        return ReceiverReport(ssrc, tuple(ReportBlock.parse(body, 4 + 24 * i) for i in range(count)))
    if packet_type == RTCP_SDES:
        chunks = []
        pos = 0
        for _ in range(count):
            if pos + 4 > len(body):
                raise RtcpError("truncated SDES chunk")
            (ssrc,) = struct.unpack_from("!I", body, pos)
            pos += 4
            items = []
            while True:
                if pos >= len(body):
                    raise RtcpError("unterminated SDES chunk")
                item_type = body[pos]
                if item_type == SDES_END:
                    pos += 1
                    pos += -pos % 4
                    break
                if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
                    raise RtcpError("truncated SDES item")
                length = body[pos + 1]
                items.append((item_type, body[pos + 2 : pos + 2 + length]))
                pos += 2 + length
            chunks.append(SdesChunk(ssrc, tuple(items)))
        return SourceDescription(tuple(chunks))
    if packet_type == RTCP_BYE:
        if len(body) < 4 * count:
            raise RtcpError("truncated BYE")
        ssrcs = struct.unpack_from(f"!{count}I", body) if count else ()
        reason = b""
        pos = 4 * count
        if pos < len(body):
            length = body[pos]
            if pos + 1 + length > len(body):
                raise RtcpError("truncated BYE reason")
            reason = body[pos + 1 : pos + 1 + length]
        return Bye(tuple(ssrcs), reason)
    return RtcpUnknown(packet_type, count, body)


def parse_rtcp(data: bytes | bytearray | memoryview) -> list[RtcpPacket]:
    """Parse a (compound) RTCP packet.  Raises :class:`RtcpError` when malformed."""
    buf = bytes(data)
    if len(buf) < 4:
        raise RtcpError("RTCP packet too short")
    out: list[RtcpPacket] = []
    pos = 0
    while pos < len(buf):
        if pos + 4 > len(buf):
            raise RtcpError("trailing garbage after RTCP packet")
        b0, packet_type, length = struct.unpack_from("!BBH", buf, pos)
        if b0 >> 6 != 2:
            raise RtcpError(f"unsupported RTCP version {b0 >> 6}")
        end = pos + 4 + 4 * length
        if end > len(buf):
            raise RtcpError("RTCP length field exceeds datagram")
        body = buf[pos + 4 : end]
        if b0 & 0x20:  # padding (only legal in the last packet)
            if end != len(buf) or not body or body[-1] == 0 or body[-1] > len(body):
                raise RtcpError("invalid RTCP padding")
            body = body[: -body[-1]]
        out.append(_parse_one(packet_type, b0 & 0x1F, body))
        pos = end
    if not out:
        raise RtcpError("empty RTCP packet")
    return out


class ReceiverStats:
    """Per-source reception statistics, RFC 3550 appendix A.1, A.3 and A.8.

    Call :meth:`update` for every received RTP packet of the source, passing
    its arrival time in seconds (any monotonic clock).  A source is *valid*
    after ``MIN_SEQUENTIAL`` in-order packets (probation).  :meth:`report_block`
    returns the RR/SR report block and resets the per-interval counters.
    """

    def __init__(self, ssrc: int, clock_rate: int = 8000, *, min_sequential: int = MIN_SEQUENTIAL) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.max_seq = 0
        self.cycles = 0
        self.base_seq = 0
        self.bad_seq = RTP_SEQ_MOD + 1
        self.probation = min_sequential
        self._min_sequential = min_sequential
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0
        self.duplicates_or_misordered = 0
        self._transit: float | None = None
        self._jitter = 0.0  # in timestamp units, as a float (A.8 keeps it scaled)
        self._initialised = False
        self.last_sr_ntp: int | None = None
        self.last_sr_arrival: float | None = None

    # -- A.1 -----------------------------------------------------------------
    def _init_seq(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = RTP_SEQ_MOD + 1
        self.cycles = 0
        self.received = 0
        self.received_prior = 0
        self.expected_prior = 0

    def update_seq(self, seq: int) -> bool:
        """RFC 3550 A.1 ``update_seq``.  Returns False if the packet should be discarded."""
        if not self._initialised:
            self._initialised = True
            self._init_seq(seq)
            self.max_seq = (seq - 1) & 0xFFFF
            self.probation = self._min_sequential
            if self.probation == 0:
                self.max_seq = seq
                self.received = 1
                return True
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init_seq(seq)
                    self.received += 1
                    return True
            else:
                self.probation = self._min_sequential - 1
                self.max_seq = seq
            return False
        if udelta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += RTP_SEQ_MOD
            self.max_seq = seq
        elif udelta <= RTP_SEQ_MOD - MAX_MISORDER:
            if seq == self.bad_seq:
                # two sequential packets: assume the other side restarted
                self._init_seq(seq)
            else:
                self.bad_seq = (seq + 1) & (RTP_SEQ_MOD - 1)
                return False
        else:
            self.duplicates_or_misordered += 1  # duplicate or reordered
        self.received += 1
        return True

    def update(self, seq: int, rtp_timestamp: int, arrival: float) -> bool:
        """Account one packet: sequence (A.1) and jitter (A.8).  Returns validity."""
        valid = self.update_seq(seq)
        if valid:
            arrival_ts = arrival * self.clock_rate
            transit = arrival_ts - rtp_timestamp
            if self._transit is not None:
                # difference taken modulo 2**32 so that RTP timestamp wrap-around is harmless
                d = abs((transit - self._transit + 2**31) % 2**32 - 2**31)
                self._jitter += (d - self._jitter) / 16.0
            self._transit = transit
        return valid

    # -- A.3 -----------------------------------------------------------------
    @property
    def valid(self) -> bool:
        return self._initialised and self.probation == 0

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1 if self.valid else 0

    @property
    def cumulative_lost(self) -> int:
        return self.expected - self.received

    @property
    def jitter(self) -> int:
        """Interarrival jitter in timestamp units (RFC 3550 A.8)."""
        return int(self._jitter)

    @property
    def jitter_seconds(self) -> float:
        return self._jitter / self.clock_rate

    def on_sender_report(self, ntp_timestamp: int, arrival: float) -> None:
        """Remember the last SR from this source (for LSR/DLSR)."""
        self.last_sr_ntp = ntp_timestamp
        self.last_sr_arrival = arrival

    def fraction_lost(self) -> int:
        """Fraction lost since the previous call (8-bit fixed point); resets the interval."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        self.expected_prior = expected
        received_interval = self.received - self.received_prior
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval == 0 or lost_interval <= 0:
            return 0
        return (lost_interval << 8) // expected_interval

    def report_block(self, now: float) -> ReportBlock:
        """Build a report block for an RR/SR sent at ``now`` (same clock as arrivals)."""
        lsr = dlsr = 0
        if self.last_sr_ntp is not None and self.last_sr_arrival is not None:
            lsr = ntp_middle32(self.last_sr_ntp)
            dlsr = max(0, int((now - self.last_sr_arrival) * 65536)) & 0xFFFFFFFF
        return ReportBlock(
            ssrc=self.ssrc,
            fraction_lost=self.fraction_lost(),
            cumulative_lost=self.cumulative_lost,
            highest_seq=self.extended_max & 0xFFFFFFFF,
            jitter=self.jitter,
            lsr=lsr,
            dlsr=dlsr,
        )


def round_trip_time(block: ReportBlock, arrival_ntp: int) -> float | None:
    """RTT in seconds from a received report block (RFC 3550 6.4.1), or None if no LSR."""
    if block.lsr == 0:
        return None
    a = ntp_middle32(arrival_ntp)
    rtt = (a - block.lsr - block.dlsr) & 0xFFFFFFFF
    if rtt & 0x80000000:
        return None
    return rtt / 65536.0
