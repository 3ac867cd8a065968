"""Symmetric RTP latching (a.k.a. "comedia" / NAT traversal by learning the source).

Phones behind NAT advertise private addresses in SDP; sending there produces
one-way audio.  The fix is to send media to wherever the peer's media comes
*from*.  :class:`RtpLatch` is the pure decision logic; the engine asks it, for
every received datagram, whether to accept it and where to send.

Rules:

1. Initially the remote address is the SDP address (``None`` or a 0.0.0.0
   address means "do not send until latched").
2. A packet is *valid* for latching if it parsed as RTP and its payload type
   is one of ``expected_payload_types`` (RTCP latches pass ``None`` = any).
   Invalid packets are never accepted and never move the latch.
3. Unlatched: after ``latch_packets`` consecutive valid packets from the same
   source address (and, if ``require_sdp_host``, from the SDP's IP), latch to
   that address.  Valid packets are accepted while unlatched.
4. Latched: packets from the latched address are accepted; packets from any
   other address are ignored -- except that if the latched source has been
   silent for ``relatch_after`` seconds, a new source sending
   ``relatch_packets`` consecutive valid packets with one SSRC takes over
   (NAT rebinding, Wi-Fi -> LTE handover).  ``relatch_after=None`` disables it.
5. :meth:`update_sdp` (re-INVITE / UPDATE with a new connection address)
   drops the latch and starts over with the new SDP address.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["Address", "LatchStats", "RtpLatch"]

Address = tuple[str, int]


@dataclass(slots=True)
class LatchStats:
    accepted: int = 0
    ignored_wrong_source: int = 0
    ignored_invalid: int = 0
    latches: int = 0  # initial latches + re-latches


def _sendable(addr: Address | None) -> Address | None:
    if addr is None or addr[0] in ("0.0.0.0", "::") or addr[1] == 0:  # noqa: S104 - SDP hold address
        return None
    return addr


class RtpLatch:
    def __init__(
        self,
        sdp_address: Address | None,
        expected_payload_types: Collection[int] | None,
        *,
        latch_packets: int = 1,
        relatch_packets: int = 5,
        relatch_after: float | None = 2.0,
        require_sdp_host: bool = False,
    ) -> None:
        if latch_packets < 1 or relatch_packets < 1:
            raise ValueError("packet counts must be >= 1")
        self.expected = None if expected_payload_types is None else frozenset(expected_payload_types)
        self.latch_packets = latch_packets
        self.relatch_packets = relatch_packets
        self.relatch_after = relatch_after
        self.require_sdp_host = require_sdp_host
        self.stats = LatchStats()
        self.sdp_address: Address | None = None
        self.latched_address: Address | None = None
        self._last_seen = 0.0
        self._candidate: Address | None = None
        self._candidate_ssrc: int | None = None
        self._candidate_count = 0
        self.update_sdp(sdp_address)

    @property
    def latched(self) -> bool:
        return self.latched_address is not None

    @property
    def remote(self) -> Address | None:
        """Where to send media now (``None``: nowhere yet)."""
        return self.latched_address if self.latched_address is not None else _sendable(self.sdp_address)

    def update_sdp(self, address: Address | None) -> None:
        """New remote SDP: forget the latch and learn again."""
        self.sdp_address = address
        self.latched_address = None
        self._reset_candidate()

    def _reset_candidate(self) -> None:
        self._candidate = None
        self._candidate_ssrc = None
        self._candidate_count = 0

    def _count(self, source: Address, ssrc: int | None) -> int:
        if source == self._candidate and (self._candidate_ssrc is None or ssrc == self._candidate_ssrc):
            self._candidate_count += 1
        else:
            self._candidate = source
            self._candidate_ssrc = ssrc
            self._candidate_count = 1
        return self._candidate_count

    def on_packet(self, source: Address, payload_type: int | None, ssrc: int | None, now: float) -> bool:
        """Decide on one received datagram; ``payload_type=None`` means it did not parse.

        Returns True if the packet should be processed, False to drop it.
        """
        if payload_type is None or (self.expected is not None and payload_type not in self.expected):
            self.stats.ignored_invalid += 1
            return False
        if self.latched_address is None:
            sdp = self.sdp_address
            if self.require_sdp_host and (sdp is None or source[0] != sdp[0]):
                self.stats.ignored_wrong_source += 1
                return False
            if self._count(source, ssrc) >= self.latch_packets:
                self.latched_address = source
                self.stats.latches += 1
                self._reset_candidate()
            self._last_seen = now
            self.stats.accepted += 1
            return True
        if source == self.latched_address:
            self._last_seen = now
            self._reset_candidate()
            self.stats.accepted += 1
            return True
        if (
            self.relatch_after is not None
            and now - self._last_seen >= self.relatch_after
            and self._count(source, ssrc) >= self.relatch_packets
        ):
            self.latched_address = source
            self._last_seen = now
            self.stats.latches += 1
            self._reset_candidate()
            self.stats.accepted += 1
            return True
        self.stats.ignored_wrong_source += 1
        return False
