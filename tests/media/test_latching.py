from __future__ import annotations

import pytest

from hotline.media.latching import RtpLatch

SDP = ("192.168.1.20", 4000)  # private address in SDP
NAT = ("203.0.113.7", 31000)  # where the packets really come from
EVIL = ("198.51.100.66", 5555)
NEW = ("203.0.113.99", 42000)


def test_sends_to_sdp_then_latches_to_source() -> None:
    latch = RtpLatch(SDP, {0, 101})
    assert latch.remote == SDP and not latch.latched
    assert latch.on_packet(NAT, 0, 1234, now=0.0)
    assert latch.latched and latch.remote == NAT
    assert latch.stats.latches == 1


def test_invalid_or_unexpected_payload_type_never_latches() -> None:
    latch = RtpLatch(SDP, {0})
    assert not latch.on_packet(EVIL, None, None, 0.0)  # did not parse
    assert not latch.on_packet(EVIL, 8, 1, 0.0)  # PCMA not negotiated
    assert not latch.latched and latch.remote == SDP
    assert latch.stats.ignored_invalid == 2


def test_requires_consecutive_packets_from_same_source() -> None:
    latch = RtpLatch(SDP, {0}, latch_packets=3)
    assert latch.on_packet(NAT, 0, 1, 0.00)
    assert latch.on_packet(EVIL, 0, 2, 0.01)  # interleaved source resets the count
    assert latch.on_packet(NAT, 0, 1, 0.02)
    assert latch.on_packet(NAT, 0, 1, 0.04)
    assert not latch.latched
    assert latch.on_packet(NAT, 0, 1, 0.06)
    assert latch.remote == NAT


def test_ignores_other_sources_after_latching() -> None:
    latch = RtpLatch(SDP, {0})
    latch.on_packet(NAT, 0, 1, 0.0)
    for i in range(20):
        assert not latch.on_packet(EVIL, 0, 666, 0.02 * i)  # RTP-bleed style injection
        assert latch.on_packet(NAT, 0, 1, 0.02 * i)
    assert latch.remote == NAT
    assert latch.stats.ignored_wrong_source == 20


def test_relatch_after_silence_nat_rebinding() -> None:
    latch = RtpLatch(SDP, {0}, relatch_packets=3, relatch_after=1.0)
    latch.on_packet(NAT, 0, 1, 0.0)
    latch.on_packet(NAT, 0, 1, 0.5)
    # new mapping starts while the old one is still fresh: ignored
    assert not latch.on_packet(NEW, 0, 1, 0.6)
    # old source silent for >= 1 s: three consecutive packets from the new source re-latch
    assert not latch.on_packet(NEW, 0, 1, 1.6)
    assert not latch.on_packet(NEW, 0, 1, 1.62)
    assert latch.on_packet(NEW, 0, 1, 1.64)
    assert latch.remote == NEW and latch.stats.latches == 2
    assert not latch.on_packet(NAT, 0, 1, 1.66)  # the old address is now foreign


def test_relatch_needs_single_ssrc_and_can_be_disabled() -> None:
    latch = RtpLatch(SDP, {0}, relatch_packets=2, relatch_after=1.0)
    latch.on_packet(NAT, 0, 1, 0.0)
    assert not latch.on_packet(NEW, 0, 5, 2.0)
    assert not latch.on_packet(NEW, 0, 6, 2.02)  # SSRC changed: count restarts
    assert latch.on_packet(NEW, 0, 6, 2.04)
    fixed = RtpLatch(SDP, {0}, relatch_after=None)
    fixed.on_packet(NAT, 0, 1, 0.0)
    assert not any(fixed.on_packet(NEW, 0, 1, 10.0 + i) for i in range(10))
    assert fixed.remote == NAT


def test_reinvite_resets_latch() -> None:
    latch = RtpLatch(SDP, {0})
    latch.on_packet(NAT, 0, 1, 0.0)
    latch.update_sdp(("192.168.1.20", 4002))
    assert not latch.latched and latch.remote == ("192.168.1.20", 4002)
    assert latch.on_packet(NEW, 0, 9, 1.0)
    assert latch.remote == NEW


def test_hold_address_means_no_sending_until_latched() -> None:
    assert RtpLatch(("0.0.0.0", 4000), {0}).remote is None
    assert RtpLatch(None, {0}).remote is None
    latch = RtpLatch(("0.0.0.0", 0), {0})
    latch.on_packet(NAT, 0, 1, 0.0)
    assert latch.remote == NAT


def test_require_sdp_host_for_trunks_and_rtcp_any_pt() -> None:
    latch = RtpLatch(("203.0.113.7", 4000), {0}, require_sdp_host=True)
    assert not latch.on_packet(EVIL, 0, 1, 0.0)
    assert latch.on_packet(NAT, 0, 1, 0.0)  # same host, other port (port-restricted NAT/SBC)
    assert latch.remote == NAT
    rtcp = RtpLatch(SDP, None)
    assert rtcp.on_packet(NAT, 200, None, 0.0)
    assert rtcp.remote == NAT


def test_validation() -> None:
    with pytest.raises(ValueError):
        RtpLatch(SDP, {0}, latch_packets=0)
