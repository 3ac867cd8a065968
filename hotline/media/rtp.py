"""RTP packet parsing and building (RFC 3550 section 5.1).

:func:`parse_rtp` never trusts its input: any structural problem raises
:class:`RtpError` (a :class:`ValueError`).  Sequence-number helpers for
modular arithmetic (wrap-around at 2**16) live here too.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "RTP_HEADER_SIZE",
    "RtpError",
    "RtpExtension",
    "RtpPacket",
    "is_rtcp",
    "parse_rtp",
    "seq_add",
    "seq_diff",
    "seq_lt",
]

RTP_VERSION: Final = 2
RTP_HEADER_SIZE: Final = 12
_HEADER = struct.Struct("!BBHII")


class RtpError(ValueError):
    """Malformed or unsupported RTP packet."""


@dataclass(frozen=True, slots=True)
class RtpExtension:
    """RFC 3550 header extension: 16-bit profile id + data (multiple of 4 bytes)."""

    profile: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.profile <= 0xFFFF:
            raise RtpError("extension profile out of range")
        if len(self.data) % 4:
            raise RtpError("extension data length must be a multiple of 4")
        if len(self.data) // 4 > 0xFFFF:
            raise RtpError("extension data too long")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """An RTP packet.  ``padding`` is the number of padding octets (0 = no P bit)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrcs: tuple[int, ...] = ()
    extension: RtpExtension | None = None
    padding: int = 0
    version: int = field(default=RTP_VERSION)

    def __post_init__(self) -> None:
        if self.version != RTP_VERSION:
            raise RtpError(f"unsupported RTP version {self.version}")
        if not 0 <= self.payload_type <= 127:
            raise RtpError(f"payload type out of range: {self.payload_type}")
        if not 0 <= self.sequence <= 0xFFFF:
            raise RtpError(f"sequence number out of range: {self.sequence}")
        if not 0 <= self.timestamp <= 0xFFFFFFFF:
            raise RtpError(f"timestamp out of range: {self.timestamp}")
        if not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise RtpError(f"SSRC out of range: {self.ssrc}")
        if len(self.csrcs) > 15:
            raise RtpError("at most 15 CSRCs")
        if any(not 0 <= c <= 0xFFFFFFFF for c in self.csrcs):
            raise RtpError("CSRC out of range")
        if not 0 <= self.padding <= 255:
            raise RtpError("padding must be 0..255 octets")

    def build(self) -> bytes:
        """Serialise to wire format."""
        b0 = (
            (self.version << 6)
            | (0x20 if self.padding else 0)
            | (0x10 if self.extension is not None else 0)
            | len(self.csrcs)
        )
        b1 = (0x80 if self.marker else 0) | self.payload_type
        parts = [_HEADER.pack(b0, b1, self.sequence, self.timestamp, self.ssrc)]
        if self.csrcs:
            parts.append(struct.pack(f"!{len(self.csrcs)}I", *self.csrcs))
        if self.extension is not None:
            parts.append(struct.pack("!HH", self.extension.profile, len(self.extension.data) // 4))
            parts.append(self.extension.data)
        parts.append(self.payload)
        if self.padding:
            parts.append(b"\x00" * (self.padding - 1) + bytes([self.padding]))
        return b"".join(parts)

    def __bytes__(self) -> bytes:
        return self.build()


def is_rtcp(data: bytes | bytearray | memoryview) -> bool:
    """RFC 5761 demultiplexing: second octet 192..223 means RTCP (PT 64..95 w/ marker)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def parse_rtp(data: bytes | bytearray | memoryview) -> RtpPacket:
    """Parse one RTP packet; raises :class:`RtpError` if it is not valid RTP."""
    buf = bytes(data)
    n = len(buf)
    if n < RTP_HEADER_SIZE:
        raise RtpError(f"packet too short ({n} bytes)")
    b0, b1, seq, ts, ssrc = _HEADER.unpack_from(buf)
    version = b0 >> 6
    if version != RTP_VERSION:
        raise RtpError(f"unsupported RTP version {version}")
    has_padding = bool(b0 & 0x20)
    has_ext = bool(b0 & 0x10)
    cc = b0 & 0x0F
    pos = RTP_HEADER_SIZE
    if n < pos + 4 * cc:
        raise RtpError("truncated CSRC list")
    csrcs = struct.unpack_from(f"!{cc}I", buf, pos) if cc else ()
    pos += 4 * cc
    extension = None
    if has_ext:
        if n < pos + 4:
            raise RtpError("truncated header extension")
        profile, words = struct.unpack_from("!HH", buf, pos)
        pos += 4
        if n < pos + 4 * words:
            raise RtpError("truncated header extension data")
        extension = RtpExtension(profile, buf[pos : pos + 4 * words])
        pos += 4 * words
    end = n
    padding = 0
    if has_padding:
        padding = buf[-1]
        if padding == 0:
            raise RtpError("padding bit set but padding length is zero")
        if pos + padding > n:
            raise RtpError("padding longer than packet")
        end = n - padding
    return RtpPacket(
        payload_type=b1 & 0x7F,
        sequence=seq,
        timestamp=ts,
        ssrc=ssrc,
        payload=buf[pos:end],
        marker=bool(b1 & 0x80),
        csrcs=tuple(csrcs),
        extension=extension,
        padding=padding,
    )


def seq_add(seq: int, delta: int) -> int:
    """``seq + delta`` modulo 2**16."""
    return (seq + delta) & 0xFFFF


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` between 16-bit sequence numbers, in [-32768, 32767]."""
    d = (a - b) & 0xFFFF
    return d - 0x10000 if d >= 0x8000 else d


def seq_lt(a: int, b: int) -> bool:
    """True if sequence number ``a`` precedes ``b`` (modular comparison)."""
    return seq_diff(a, b) < 0
