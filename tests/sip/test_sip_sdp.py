"""SDP parsing/serialization and RFC 3264 offer/answer."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.sip.sdp import (
    DIRECTIONS,
    Connection,
    MediaDescription,
    OfferAnswerError,
    SdpParseError,
    SessionDescription,
    answer,
    is_hold,
    make_offer,
    negotiated_codec,
    parse_sdp,
    telephone_event_pt,
)

BARESIP_OFFER = (
    "v=0\r\n"
    "o=- 1933428813 1517735432 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "a=tool:baresip\r\n"
    "m=audio 10000 RTP/AVP 9 0 8 96 101\r\n"
    "b=AS:64\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:96 opus/48000/2\r\n"
    "a=fmtp:96 stereo=1;sprop-stereo=1\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\n"
    "a=ptime:20\r\n"
    "a=sendrecv\r\n"
    "m=video 10002 RTP/AVP 97\r\n"
    "a=rtpmap:97 H264/90000\r\n"
)


def test_parse_values() -> None:
    sdp = parse_sdp(BARESIP_OFFER.encode())
    assert sdp.origin.session_id == "1933428813" and sdp.connection == Connection("192.0.2.10")
    assert sdp.attributes == [("tool", "baresip")]
    audio = sdp.audio
    assert audio is not None and audio.port == 10000 and audio.bandwidths == ["AS:64"]
    assert [(c.payload_type, c.name, c.clock_rate, c.channels) for c in audio.codecs] == [
        (9, "G722", 8000, 1),
        (0, "PCMU", 8000, 1),
        (8, "PCMA", 8000, 1),
        (96, "opus", 48000, 2),
        (101, "telephone-event", 8000, 1),
    ]
    assert audio.codecs[3].fmtp == "stereo=1;sprop-stereo=1"
    assert audio.ptime == 20 and audio.direction == "sendrecv"
    assert sdp.media[1].media == "video"
    assert telephone_event_pt(sdp) == 101


def test_roundtrip_exact() -> None:
    assert str(parse_sdp(BARESIP_OFFER)) == BARESIP_OFFER
    lf = BARESIP_OFFER.replace("\r\n", "\n")
    assert str(parse_sdp(lf)) == BARESIP_OFFER


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n",
        "v=0\r\ns=-\r\n",
        "v=0\r\no=- 1 1 IN IP4\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio x RTP/AVP 0\r\nc=IN IP4 1.2.3.4\r\n",
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nm=audio 4000 RTP/AVP 0\r\n",  # no c=
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\ngarbage\r\n",
    ],
)
def test_parse_errors(bad: str) -> None:
    with pytest.raises(SdpParseError):
        parse_sdp(bad)


def test_answer_picks_offerer_preference_and_keeps_dtmf_pt() -> None:
    offer = parse_sdp(BARESIP_OFFER)
    ans = answer(offer, ["PCMA", "PCMU"], "198.51.100.1", 20000, session_id="5", session_version="6")
    assert len(ans.media) == 2
    audio, video = ans.media
    assert audio.port == 20000 and audio.formats == ["0", "101"]
    assert audio.attrs("rtpmap") == ["0 PCMU/8000", "101 telephone-event/8000"]
    assert audio.attrs("fmtp") == ["101 0-16"]
    assert audio.ptime == 20 and audio.direction == "sendrecv"
    assert video.port == 0 and video.formats == ["97"]
    assert ans.connection == Connection("198.51.100.1")
    assert str(ans.origin) == "hotline 5 6 IN IP4 198.51.100.1"
    assert negotiated_codec(ans) is not None and negotiated_codec(ans).name == "PCMU"  # type: ignore[union-attr]
    again = parse_sdp(ans.to_bytes())
    assert str(again) == str(ans)


def test_answer_dynamic_dtmf_pt_other_than_101() -> None:
    offer = parse_sdp(BARESIP_OFFER.replace("101", "126"))
    ans = answer(offer, ["PCMA"], "10.0.0.1", 4000)
    assert ans.media[0].formats == ["8", "126"]
    assert telephone_event_pt(ans) == 126


def test_answer_without_dtmf_in_offer() -> None:
    offer = make_offer(["PCMU"], "10.0.0.2", 5000, telephone_event_pt=None)
    ans = answer(offer, ["PCMU"], "10.0.0.1", 4000)
    assert ans.media[0].formats == ["0"]


def test_answer_rejects_with_488() -> None:
    offer = make_offer(["G729"], "10.0.0.2", 5000)
    with pytest.raises(OfferAnswerError) as info:
        answer(offer, ["PCMU", "PCMA"], "10.0.0.1", 4000)
    assert info.value.status == 488
    video_only = parse_sdp(
        "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=video 5000 RTP/AVP 97\r\n"
    )
    with pytest.raises(OfferAnswerError):
        answer(video_only, ["PCMU"], "10.0.0.1", 4000)
    srtp = make_offer(["PCMU"], "10.0.0.2", 5000)
    srtp.media[0].proto = "RTP/SAVP"
    with pytest.raises(OfferAnswerError):
        answer(srtp, ["PCMU"], "10.0.0.1", 4000)


@pytest.mark.parametrize(
    ("offered", "session_level", "expected"),
    [
        ("sendrecv", False, "sendrecv"),
        ("sendonly", False, "recvonly"),
        ("recvonly", False, "sendonly"),
        ("inactive", False, "inactive"),
        ("sendonly", True, "recvonly"),
        ("inactive", True, "inactive"),
    ],
)
def test_direction_mirroring(offered: str, session_level: bool, expected: str) -> None:
    offer = make_offer(["PCMU"], "10.0.0.2", 5000, offered)
    if session_level:
        offer.media[0].attributes = [a for a in offer.media[0].attributes if a[0] not in DIRECTIONS]
        offer.attributes.append((offered, None))
    assert offer.media_direction(offer.media[0]) == offered
    ans = answer(parse_sdp(offer.to_bytes()), ["PCMU"], "10.0.0.1", 4000)
    assert ans.media[0].direction == expected


@given(st.sampled_from(DIRECTIONS), st.sampled_from(DIRECTIONS))
def test_direction_answer_is_compatible(offered: str, local: str) -> None:
    offer = make_offer(["PCMU"], "10.0.0.2", 5000, offered)
    d = answer(offer, ["PCMU"], "10.0.0.1", 4000, local).media[0].direction
    assert d is not None
    we_send = d in ("sendrecv", "sendonly")
    we_recv = d in ("sendrecv", "recvonly")
    # we only send if the offerer receives, only receive if the offerer sends
    assert not we_send or offered in ("sendrecv", "recvonly")
    assert not we_recv or offered in ("sendrecv", "sendonly")
    assert not we_send or local in ("sendrecv", "sendonly")
    assert not we_recv or local in ("sendrecv", "recvonly")
    # maximal: both sides willing -> that direction is used
    assert we_send == (offered in ("sendrecv", "recvonly") and local in ("sendrecv", "sendonly"))


def test_hold_detection() -> None:
    assert not is_hold(make_offer(["PCMU"], "10.0.0.2", 5000))
    assert is_hold(make_offer(["PCMU"], "10.0.0.2", 5000, "sendonly"))
    assert is_hold(make_offer(["PCMU"], "10.0.0.2", 5000, "inactive"))
    assert not is_hold(make_offer(["PCMU"], "10.0.0.2", 5000, "recvonly"))
    legacy = make_offer(["PCMU"], "0.0.0.0", 5000)
    assert is_hold(legacy)
    media_level = make_offer(["PCMU"], "10.0.0.2", 5000)
    media_level.media[0].connection = Connection("0.0.0.0")
    assert is_hold(media_level)
    assert not is_hold(SessionDescription())


def test_media_level_connection_and_ipv6() -> None:
    text = (
        "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nt=0 0\r\n"
        "m=audio 5000 RTP/AVP 8\r\nc=IN IP6 2001:db8::2\r\n"
    )
    sdp = parse_sdp(text)
    assert sdp.connection is None and sdp.media_connection(sdp.media[0]) == Connection(
        "2001:db8::2", "IN", "IP6"
    )
    ans = answer(sdp, ["PCMA"], "2001:db8::9", 6000)
    assert ans.connection == Connection("2001:db8::9", "IN", "IP6")
    assert str(parse_sdp(text)) == text


def _media(draw: st.DrawFn) -> MediaDescription:
    return MediaDescription(
        draw(st.sampled_from(["audio", "video"])),
        draw(st.integers(0, 65535)),
        "RTP/AVP",
        [str(x) for x in draw(st.lists(st.integers(0, 127), min_size=1, max_size=5))],
        attributes=draw(
            st.lists(
                st.tuples(
                    st.from_regex(r"\A[a-z][a-z-]{0,8}\Z"),
                    st.one_of(st.none(), st.from_regex(r"\A[ -~]{0,12}\Z").map(str.strip)),
                ),
                max_size=4,
            )
        ),
    )


@given(st.data())
def test_generated_sdp_roundtrip(data: st.DataObject) -> None:
    sdp = SessionDescription(connection=Connection("192.0.2.1"))
    sdp.media = [_media(data.draw) for _ in range(data.draw(st.integers(0, 3)))]
    text = str(sdp)
    assert str(parse_sdp(text)) == text


SDP_LINES = st.sampled_from(
    [
        "v=0", "v=1", "o=- 1 1 IN IP4 1.2.3.4", "o=x", "s=-", "c=IN IP4 1.2.3.4", "c=IN IP4 0.0.0.0",
        "c=IN IP6 ::", "c=bad", "t=0 0", "m=audio 4000 RTP/AVP 0 8 101", "m=audio 0 RTP/AVP 0",
        "m=audio x RTP/AVP", "m=video 5000 RTP/AVP 97", "m=audio 4000/2 RTP/AVP 8", "a=rtpmap:101 telephone-event/8000",
        "a=rtpmap:0 PCMU", "a=rtpmap:x", "a=fmtp:101 0-15", "a=sendonly", "a=inactive", "a=recvonly",
        "a=ptime:abc", "a=ptime:30", "b=AS:64", "i=info", "k=clear:x", "z=junk", "x=unknown", "garbage", "",
    ]
)  # fmt: skip


@given(st.lists(SDP_LINES, max_size=14), st.sampled_from(DIRECTIONS))
def test_sdp_soup_only_raises_sdp_errors(lines: list[str], local: str) -> None:
    text = "\r\n".join(lines)
    try:
        sdp = parse_sdp(text)
    except SdpParseError:
        return
    assert str(parse_sdp(str(sdp))) == str(sdp)
    is_hold(sdp)
    try:
        ans = answer(sdp, ["PCMU", "PCMA"], "10.0.0.1", 4000, local)
    except OfferAnswerError:
        return
    assert len(ans.media) == len(sdp.media)
    assert sum(1 for m in ans.media if m.port != 0) == 1
    assert str(parse_sdp(ans.to_bytes())) == str(ans)


@given(st.binary(max_size=300))
def test_sdp_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(SdpParseError):
        parse_sdp(data)
