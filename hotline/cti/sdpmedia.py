"""Glue between SIP's SDP and the media engine's stream descriptions (pure).

The B2BUA anchors media: each leg's SDP describes the engine's endpoint for that leg, never the
other phone. The caller's offer is answered with the endpoint's address, the negotiated codec
and the offerer's telephone-event payload type; offers to callees list every codec we support.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from hotline.media.engine import Endpoint, MediaDescription, PayloadFormat
from hotline.sip.sdp import Attribute, Connection, Origin, SessionDescription
from hotline.sip.sdp import MediaDescription as SdpMedia

_MIRROR = {"sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive", "sendrecv": "sendrecv"}
DIRECTIONS = frozenset(_MIRROR)


def remote_media(sdp: SessionDescription) -> MediaDescription | None:
    """The first usable audio stream of a peer's SDP, as the media engine wants it."""
    m = sdp.audio
    if m is None:
        return None
    conn = sdp.media_connection(m)
    if conn is None:
        return None
    formats = tuple(PayloadFormat(c.payload_type, c.name, c.clock_rate, c.channels, c.fmtp) for c in m.codecs)
    direction = sdp.media_direction(m)
    rtcp_port: int | None = None
    rtcp = m.attr("rtcp")
    if rtcp:
        head = rtcp.split()[0]
        if head.isdigit():
            rtcp_port = int(head)
    return MediaDescription(
        address=conn.host,
        port=m.port,
        formats=formats,
        direction=direction if direction in DIRECTIONS else "sendrecv",  # type: ignore[arg-type]
        ptime_ms=m.ptime or 20,
        rtcp_port=rtcp_port,
        rtcp_mux=m.attr("rtcp-mux") is not None,
    )


def mirror(direction: str) -> str:
    """The answer's direction for an offered one (RFC 3264 §6.1)."""
    return _MIRROR.get(direction, "sendrecv")


@dataclass
class SdpSession:
    """Our side of one leg's SDP: origin id and a version that grows with every change."""

    session_id: str = field(default_factory=lambda: str(secrets.randbelow(10**12) + 1))
    version: int = 0
    username: str = "hotline"

    def build(self, ep: Endpoint, *, direction: str = "sendrecv", answer: bool = False) -> bytes:
        """SDP for ``ep``: an answer lists only the negotiated codec (+ telephone-event)."""
        self.version += 1
        local = ep.local
        formats: list[PayloadFormat]
        if answer and ep.codec is not None:
            formats = [ep.codec]
            if ep.dtmf_payload_type is not None:
                formats.append(PayloadFormat(ep.dtmf_payload_type, "telephone-event", fmtp="0-16"))
        else:
            formats = list(local.formats)
        attrs: list[Attribute] = []
        for f in formats:
            enc = f"{f.encoding}/{f.clock_rate}" + (f"/{f.channels}" if f.channels != 1 else "")
            attrs.append(("rtpmap", f"{f.payload_type} {enc}"))
            if f.fmtp:
                attrs.append(("fmtp", f"{f.payload_type} {f.fmtp}"))
        attrs.append(("ptime", str(local.ptime_ms or 20)))
        if local.rtcp_mux:
            attrs.append(("rtcp-mux", None))
        attrs.append((direction, None))
        media = SdpMedia(
            media="audio",
            port=local.port,
            proto="RTP/AVP",
            formats=[str(f.payload_type) for f in formats],
            attributes=attrs,
        )
        sdp = SessionDescription(
            origin=Origin(
                username=self.username,
                session_id=self.session_id,
                session_version=str(self.version),
                addrtype="IP6" if ":" in local.address else "IP4",
                address=local.address,
            ),
            session_name="Hotline",
            connection=Connection.for_address(local.address),
            media=[media],
        )
        return sdp.to_bytes()
