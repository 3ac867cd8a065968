"""SDP (RFC 4566) parsing/serialization and offer/answer (RFC 3264) for audio.

Scope: what a telephony B2BUA needs — one audio stream with PCMU/PCMA and
telephone-event (RFC 4733), direction attributes, c= at session or media level,
ptime, hold detection.  Other m-lines are preserved by the parser and rejected
(port 0) by :func:`answer`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from hotline.sip.errors import SipError

DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
STATIC_PAYLOADS: dict[int, tuple[str, int]] = {
    0: ("PCMU", 8000), 3: ("GSM", 8000), 4: ("G723", 8000), 8: ("PCMA", 8000),
    9: ("G722", 8000), 13: ("CN", 8000), 18: ("G729", 8000),
}  # fmt: skip
TELEPHONE_EVENT = "telephone-event"


class SdpParseError(SipError):
    """Malformed SDP (answer the INVITE with 400, or 488 when unusable)."""


class OfferAnswerError(SipError):
    """No acceptable media in an offer: answer with ``status`` (488 Not Acceptable Here)."""

    status = 488


@dataclass
class Origin:
    username: str = "-"
    session_id: str = "0"
    session_version: str = "0"
    nettype: str = "IN"
    addrtype: str = "IP4"
    address: str = "127.0.0.1"

    def __str__(self) -> str:
        return (
            f"{self.username} {self.session_id} {self.session_version} "
            f"{self.nettype} {self.addrtype} {self.address}"
        )


@dataclass
class Connection:
    address: str
    nettype: str = "IN"
    addrtype: str = "IP4"

    @classmethod
    def for_address(cls, address: str) -> Connection:
        return cls(address, "IN", "IP6" if ":" in address else "IP4")

    @property
    def host(self) -> str:
        """Address without a multicast TTL/count suffix."""
        return self.address.split("/", 1)[0]

    @property
    def is_null(self) -> bool:
        """``0.0.0.0`` / ``::`` — the RFC 2543 hold convention."""
        try:
            return ipaddress.ip_address(self.host).is_unspecified
        except ValueError:
            return False

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(frozen=True)
class Codec:
    payload_type: int
    name: str
    clock_rate: int
    channels: int = 1
    fmtp: str | None = None

    @property
    def rtpmap(self) -> str:
        ch = f"/{self.channels}" if self.channels != 1 else ""
        return f"{self.payload_type} {self.name}/{self.clock_rate}{ch}"


Attribute = tuple[str, str | None]


def _attr_str(attr: Attribute) -> str:
    name, value = attr
    return f"a={name}" if value is None else f"a={name}:{value}"


@dataclass
class MediaDescription:
    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    connection: Connection | None = None
    info: str | None = None
    bandwidths: list[str] = field(default_factory=list)
    key: str | None = None
    attributes: list[Attribute] = field(default_factory=list)

    # -- attributes ------------------------------------------------------------
    def attr(self, name: str) -> str | None:
        for n, v in self.attributes:
            if n == name:
                return v if v is not None else ""
        return None

    def attrs(self, name: str) -> list[str]:
        return [v or "" for n, v in self.attributes if n == name]

    @property
    def direction(self) -> str | None:
        """The media-level direction attribute, if any."""
        for n, _ in self.attributes:
            if n in DIRECTIONS:
                return n
        return None

    def set_direction(self, direction: str) -> None:
        self.attributes = [a for a in self.attributes if a[0] not in DIRECTIONS]
        self.attributes.append((direction, None))

    @property
    def ptime(self) -> int | None:
        v = self.attr("ptime")
        if v is None:
            return None
        try:
            return int(float(v))
        except ValueError:
            return None

    @property
    def codecs(self) -> list[Codec]:
        """Formats in offer order with rtpmap/fmtp resolved (static payloads filled in)."""
        rtpmaps: dict[str, tuple[str, int, int]] = {}
        for value in self.attrs("rtpmap"):
            pt, _, enc = value.partition(" ")
            parts = enc.strip().split("/")
            try:
                rtpmaps[pt] = (parts[0], int(parts[1]), int(parts[2]) if len(parts) > 2 else 1)
            except (IndexError, ValueError):
                continue
        fmtps: dict[str, str] = {}
        for value in self.attrs("fmtp"):
            pt, _, params = value.partition(" ")
            fmtps[pt] = params.strip()
        out: list[Codec] = []
        for fmt in self.formats:
            if not fmt.isdigit():
                continue
            pt_num = int(fmt)
            if fmt in rtpmaps:
                name, clock, ch = rtpmaps[fmt]
            elif pt_num in STATIC_PAYLOADS:
                name, clock = STATIC_PAYLOADS[pt_num]
                ch = 1
            else:
                continue
            out.append(Codec(pt_num, name, clock, ch, fmtps.get(fmt)))
        return out

    def lines(self) -> list[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        out = [f"m={self.media} {port} {self.proto} {' '.join(self.formats)}".rstrip()]
        if self.info is not None:
            out.append(f"i={self.info}")
        if self.connection is not None:
            out.append(f"c={self.connection}")
        out.extend(f"b={b}" for b in self.bandwidths)
        if self.key is not None:
            out.append(f"k={self.key}")
        out.extend(_attr_str(a) for a in self.attributes)
        return out


@dataclass
class SessionDescription:
    origin: Origin = field(default_factory=Origin)
    session_name: str = "-"
    connection: Connection | None = None
    times: list[str] = field(default_factory=lambda: ["0 0"])
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    version: int = 0
    #: other session-level lines (i, u, e, p, b, r, z, k) as (type, value), in order
    extra: list[tuple[str, str]] = field(default_factory=list)

    @property
    def direction(self) -> str | None:
        for n, _ in self.attributes:
            if n in DIRECTIONS:
                return n
        return None

    def media_direction(self, m: MediaDescription) -> str:
        """Effective direction of a stream (media level, else session level, else sendrecv)."""
        return m.direction or self.direction or "sendrecv"

    def media_connection(self, m: MediaDescription) -> Connection | None:
        return m.connection or self.connection

    @property
    def audio(self) -> MediaDescription | None:
        """First audio stream with a non-zero port."""
        for m in self.media:
            if m.media == "audio" and m.port != 0:
                return m
        return None

    def __str__(self) -> str:
        lines = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name}"]
        order = "iuep"
        lines.extend(f"{t}={v}" for t in order for (tt, v) in self.extra if tt == t)
        if self.connection is not None:
            lines.append(f"c={self.connection}")
        lines.extend(f"b={v}" for (t, v) in self.extra if t == "b")
        for t_line in self.times:
            lines.append(f"t={t_line}")
        lines.extend(f"{t}={v}" for t in "rzk" for (tt, v) in self.extra if tt == t)
        lines.extend(_attr_str(a) for a in self.attributes)
        for m in self.media:
            lines.extend(m.lines())
        return "\r\n".join(lines) + "\r\n"

    def to_bytes(self) -> bytes:
        return str(self).encode("utf-8")


def _parse_connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpParseError(f"Malformed c= line {value!r}")
    return Connection(parts[2], parts[0], parts[1])


def _parse_attr(value: str) -> Attribute:
    name, sep, val = value.partition(":")
    if not name:
        raise SdpParseError("Empty attribute")
    return (name, val if sep else None)


def parse_sdp(data: bytes | str) -> SessionDescription:
    """Parse an SDP body.  Tolerates LF line endings and trailing whitespace."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    sdp = SessionDescription(times=[])
    current: MediaDescription | None = None
    seen_v = seen_o = False
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        if len(line) < 2 or line[1] != "=":
            raise SdpParseError(f"Malformed SDP line {line[:40]!r}")
        typ, value = line[0], line[2:]
        if typ == "v":
            if value.strip() != "0":
                raise SdpParseError("Unsupported SDP version")
            seen_v = True
        elif typ == "o":
            parts = value.split()
            if len(parts) != 6:
                raise SdpParseError("Malformed o= line")
            sdp.origin = Origin(*parts)
            seen_o = True
        elif typ == "s":
            sdp.session_name = value
        elif typ == "t":
            sdp.times.append(value)
        elif typ == "m":
            parts = value.split()
            if len(parts) < 3:
                raise SdpParseError("Malformed m= line")
            port_s, _, count_s = parts[1].partition("/")
            if not port_s.isdigit() or int(port_s) > 65535 or (count_s and not count_s.isdigit()):
                raise SdpParseError("Malformed m= port")
            current = MediaDescription(
                parts[0], int(port_s), parts[2], parts[3:], int(count_s) if count_s else None
            )
            sdp.media.append(current)
        elif typ == "c":
            conn = _parse_connection(value)
            if current is None:
                sdp.connection = conn
            else:
                current.connection = conn
        elif typ == "a":
            attr = _parse_attr(value)
            (sdp.attributes if current is None else current.attributes).append(attr)
        elif current is not None:
            if typ == "b":
                current.bandwidths.append(value)
            elif typ == "i":
                current.info = value
            elif typ == "k":
                current.key = value
            else:
                raise SdpParseError(f"Unexpected {typ}= line in media section")
        elif typ in "iuepbrzk":
            sdp.extra.append((typ, value))
        else:
            raise SdpParseError(f"Unknown SDP line type {typ!r}")
    if not seen_v or not seen_o:
        raise SdpParseError("SDP without v= or o= line")
    if not sdp.times:
        sdp.times = ["0 0"]
    for m in sdp.media:
        if m.port != 0 and sdp.media_connection(m) is None:
            raise SdpParseError("No c= line for media stream")
    return sdp


def _reverse(direction: str) -> str:
    return {"sendonly": "recvonly", "recvonly": "sendonly"}.get(direction, direction)


def _combine(offered: str, local: str) -> str:
    """Answer direction = what the offer allows (reversed) intersected with what we want."""
    rev = _reverse(offered)
    send = rev in ("sendrecv", "sendonly") and local in ("sendrecv", "sendonly")
    recv = rev in ("sendrecv", "recvonly") and local in ("sendrecv", "recvonly")
    return {(True, True): "sendrecv", (True, False): "sendonly", (False, True): "recvonly"}.get(
        (send, recv), "inactive"
    )


def _codec_matches(codec: Codec, wanted: str) -> bool:
    name, _, clock = wanted.partition("/")
    return codec.name.lower() == name.lower() and codec.clock_rate == (int(clock) if clock else 8000)


def answer(
    offer: SessionDescription,
    supported_codecs: Sequence[str],
    local_addr: str,
    local_port: int,
    direction: str = "sendrecv",
    *,
    session_id: str = "0",
    session_version: str = "0",
    username: str = "hotline",
    telephone_event: bool = True,
) -> SessionDescription:
    """Build the RFC 3264 answer to ``offer``.

    ``supported_codecs`` are encoding names (``"PCMU"``, ``"PCMA"``, or ``"NAME/clock"``).
    The first offered format (offerer's preference order) that we support is chosen;
    the offerer's telephone-event payload type is kept (``fmtp 0-16``).  The first
    usable RTP/AVP(F) audio stream is accepted; all other streams are rejected with
    port 0.  The direction mirrors the offer (sendonly -> recvonly, inactive ->
    inactive), intersected with ``direction`` (our wish).  Raises
    :class:`OfferAnswerError` (488) when no stream can be accepted.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"bad direction {direction!r}")
    ans = SessionDescription(
        origin=Origin(
            username, session_id, session_version, "IN", "IP6" if ":" in local_addr else "IP4", local_addr
        ),
        connection=Connection.for_address(local_addr),
    )
    accepted = False
    for m in offer.media:
        chosen: Codec | None = None
        dtmf: Codec | None = None
        if not accepted and m.media == "audio" and m.port != 0 and m.proto.upper() in ("RTP/AVP", "RTP/AVPF"):
            for codec in m.codecs:
                if any(_codec_matches(codec, w) for w in supported_codecs):
                    chosen = codec
                    break
            for codec in m.codecs:
                if codec.name.lower() == TELEPHONE_EVENT and codec.clock_rate == 8000:
                    dtmf = codec
                    break
        if chosen is None:
            ans.media.append(MediaDescription(m.media, 0, m.proto, list(m.formats) or ["0"]))
            continue
        accepted = True
        formats = [str(chosen.payload_type)]
        attrs: list[Attribute] = [("rtpmap", chosen.rtpmap)]
        if chosen.fmtp:
            attrs.append(("fmtp", f"{chosen.payload_type} {chosen.fmtp}"))
        if telephone_event and dtmf is not None:
            formats.append(str(dtmf.payload_type))
            attrs.append(("rtpmap", dtmf.rtpmap))
            attrs.append(("fmtp", f"{dtmf.payload_type} 0-16"))
        if m.ptime is not None:
            attrs.append(("ptime", str(m.ptime)))
        attrs.append((_combine(offer.media_direction(m), direction), None))
        ans.media.append(MediaDescription("audio", local_port, m.proto, formats, attributes=attrs))
    if not accepted:
        raise OfferAnswerError("No acceptable audio stream/codec in offer")
    return ans


def make_offer(
    codecs: Sequence[str],
    local_addr: str,
    local_port: int,
    direction: str = "sendrecv",
    *,
    telephone_event_pt: int | None = 101,
    ptime: int | None = 20,
    session_id: str = "0",
    session_version: str = "0",
    username: str = "hotline",
) -> SessionDescription:
    """An audio offer listing ``codecs`` (names with static payload types) + telephone-event."""
    by_name = {name.lower(): pt for pt, (name, _) in STATIC_PAYLOADS.items()}
    formats: list[str] = []
    attrs: list[Attribute] = []
    for c in codecs:
        pt = by_name.get(c.split("/")[0].lower())
        if pt is None:
            raise ValueError(f"codec {c!r} has no static payload type")
        formats.append(str(pt))
        attrs.append(("rtpmap", f"{pt} {STATIC_PAYLOADS[pt][0]}/{STATIC_PAYLOADS[pt][1]}"))
    if telephone_event_pt is not None:
        formats.append(str(telephone_event_pt))
        attrs.append(("rtpmap", f"{telephone_event_pt} {TELEPHONE_EVENT}/8000"))
        attrs.append(("fmtp", f"{telephone_event_pt} 0-16"))
    if ptime is not None:
        attrs.append(("ptime", str(ptime)))
    attrs.append((direction, None))
    return SessionDescription(
        origin=Origin(
            username, session_id, session_version, "IN", "IP6" if ":" in local_addr else "IP4", local_addr
        ),
        connection=Connection.for_address(local_addr),
        media=[MediaDescription("audio", local_port, "RTP/AVP", formats, attributes=attrs)],
    )


def is_hold(sdp: SessionDescription) -> bool:
    """True if the (re-)offer puts us on hold: audio sendonly/inactive, or c=0.0.0.0 (RFC 2543)."""
    m = sdp.audio
    if m is None:
        return False
    if sdp.media_direction(m) in ("sendonly", "inactive"):
        return True
    conn = sdp.media_connection(m)
    return conn is not None and conn.is_null


def negotiated_codec(sdp: SessionDescription) -> Codec | None:
    """First non-telephone-event codec of the active audio stream (use on an answer)."""
    m = sdp.audio
    if m is None:
        return None
    for c in m.codecs:
        if c.name.lower() != TELEPHONE_EVENT:
            return c
    return None


def telephone_event_pt(sdp: SessionDescription) -> int | None:
    m = sdp.audio
    if m is None:
        return None
    for c in m.codecs:
        if c.name.lower() == TELEPHONE_EVENT:
            return c.payload_type
    return None
