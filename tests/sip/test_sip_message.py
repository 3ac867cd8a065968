"""Unit and property tests for the SIP message parser/serializer."""

from __future__ import annotations

import contextlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.sip.errors import SipParseError
from hotline.sip.headers import (
    Headers,
    NameAddr,
    Via,
    parse_name_addr,
    parse_via,
    split_commas,
)
from hotline.sip.helpers import generate_branch, generate_call_id, generate_tag
from hotline.sip.message import (
    Request,
    Response,
    StreamFramer,
    error_response,
    make_response,
    parse_message,
)
from hotline.sip.uri import SipURI, parse_uri
from tests.sip import sip_torture_vectors as v

INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport\r\n"
    b"Via: SIP/2.0/TCP proxy.example.com;branch=z9hG4bKdef, SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKx\r\n"
    b'f: "Alice A." <sip:alice@example.com>;tag=a1\r\n'
    b"t: <sip:bob@example.com>\r\n"
    b"i: call-1@10.0.0.1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Max-Forwards: 70\r\n"
    b"m: <sip:alice@10.0.0.1:5060;transport=udp>;expires=60, <sips:alice@[2001:db8::1]>\r\n"
    b"Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"v=0\r\nEXTRA"
)


def test_basic_accessors_and_compact_forms() -> None:
    m = parse_message(INVITE)
    assert isinstance(m, Request)
    assert m.call_id == "call-1@10.0.0.1"
    assert m.body == b"v=0\r"  # truncated to Content-Length (UDP)
    assert [x.transport for x in m.vias] == ["UDP", "TCP", "UDP"]
    assert m.vias[2].host == "[2001:db8::1]" and m.vias[2].port == 5062
    assert m.top_via.sent_by == ("10.0.0.1", 5060) and m.top_via.has_rport
    assert m.from_addr.display_name == "Alice A." and m.from_tag == "a1"
    assert m.to_tag is None
    assert [c.sip_uri.transport for c in m.contacts] == ["udp", None]
    assert m.contacts[0].params["expires"] == "60"
    assert m.contacts[1].sip_uri.secure
    assert [str(r.uri) for r in m.record_route] == ["sip:p2.example.com;lr", "sip:p1.example.com;lr"]
    assert "content-type" in m.headers and "c" in m.headers
    assert m.headers.get("CONTENT-TYPE") == "application/sdp"


def test_serialize_expands_compact_and_fixes_length() -> None:
    m = parse_message(INVITE)
    m.body = b"hello"
    data = m.to_bytes()
    assert b"\r\nCall-ID: call-1@10.0.0.1\r\n" in data
    assert data.endswith(b"Content-Length: 5\r\n\r\nhello")
    again = parse_message(data)
    assert again.body == b"hello"


def test_no_body_separator_on_udp_is_tolerated_but_not_on_stream() -> None:
    data = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\n"
    data += b"To: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n"
    assert isinstance(parse_message(data), Request)
    with pytest.raises(SipParseError):
        parse_message(data, stream=True)


def test_leading_crlf_ignored_and_bare_lf_accepted() -> None:
    m = parse_message(b"\r\n\r\n" + INVITE.replace(b"\r\n", b"\n"))
    assert isinstance(m, Request) and m.call_id == "call-1@10.0.0.1"


def test_size_limits() -> None:
    big = INVITE.replace(b"l: 4", b"l: 3000") + b"x" * 3000
    with pytest.raises(SipParseError) as info:
        parse_message(big, max_size=2000)
    assert info.value.status == 513 and info.value.answerable
    with pytest.raises(SipParseError) as info:
        parse_message(big, max_body=1000)
    assert info.value.status == 413


def test_ack_errors_are_never_answered() -> None:
    data = v.MISMATCH01.replace(b"OPTIONS sip:", b"ACK sip:").replace(b"CSeq: 8 INVITE", b"CSeq: 8 X")
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert not info.value.answerable and error_response(info.value) is None


def test_response_parse() -> None:
    data = (
        b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKabc;received=1.2.3.4;rport=5070\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n"
    )
    r = parse_message(data)
    assert isinstance(r, Response) and r.status == 180 and r.reason == "Ringing" and r.provisional
    assert r.top_via.received == "1.2.3.4" and r.top_via.rport == 5070


def test_make_response_copies_and_tags() -> None:
    m = parse_message(INVITE)
    assert isinstance(m, Request)
    r = make_response(m, 180, to_tag="t1")
    assert r.reason == "Ringing"
    assert r.headers.get_lines("Via") == m.headers.get_lines("Via")
    assert r.to_tag == "t1" and r.from_tag == "a1" and r.call_id == m.call_id and r.cseq == m.cseq
    trying = make_response(m, 100)
    assert trying.to_tag is None
    auto = make_response(m, 486, rng=random.Random(1))
    assert auto.to_tag == make_response(m, 486, rng=random.Random(1)).to_tag
    parsed = parse_message(r.to_bytes())
    assert isinstance(parsed, Response) and parsed.status == 180


def test_identifier_helpers_deterministic_with_rng() -> None:
    assert generate_branch(random.Random(5)) == generate_branch(random.Random(5))
    assert generate_branch().startswith("z9hG4bK") and len(generate_branch()) == 27
    assert generate_tag() != generate_tag()
    assert generate_call_id("h.example", random.Random(1)).endswith("@h.example")


def test_uri_parsing_and_serialization() -> None:
    u = parse_uri("sips:al%40ice:pw@[2001:db8::1]:5061;transport=tcp;lr?subject=hi%20there&x=1")
    assert isinstance(u, SipURI)
    assert (u.scheme, u.user, u.password, u.host, u.port) == ("sips", "al@ice", "pw", "[2001:db8::1]", 5061)
    assert u.params == {"transport": "tcp", "lr": None} and u.lr
    assert u.headers == {"subject": "hi there", "x": "1"}
    assert parse_uri(str(u)) == u
    for bad in ["sip:", "sip:a@", "sip:a@b:99999", "sip:a@[::1", "sip:a b@c", "sip:a@b;;x", "sip:%zz@b"]:
        with pytest.raises(SipParseError):
            parse_uri(bad)
    tel = parse_uri("tel:+8613800138000;phone-context=x")
    assert tel.scheme == "tel" and tel.user == "+8613800138000"  # type: ignore[union-attr]


def test_split_commas_respects_quotes_and_brackets() -> None:
    value = '"Doe, John" <sip:j@x;a=b,c>;q=0.5, <sip:k@y>, sip:z@w'
    assert split_commas(value) == ['"Doe, John" <sip:j@x;a=b,c>;q=0.5', "<sip:k@y>", "sip:z@w"]


def test_name_addr_and_via_roundtrip() -> None:
    na = parse_name_addr('"A \\"q\\" B" <sip:a@b;lr>;tag=x;foo="bar baz"')
    assert na.display_name == 'A "q" B' and na.params == {"tag": "x", "foo": "bar baz"}
    assert parse_name_addr(str(na)) == na
    via = parse_via("SIP/2.0/UDP 1.2.3.4:5060;branch=z9hG4bK1;rport=1;received=5.6.7.8")
    assert parse_via(str(via)) == via
    for bad in [
        "SIP/2.0/UDP",
        "SIP/2.0 1.2.3.4",
        "SIP/2.0/UDP 1.2.3.4;received=host",
        "SIP/2.0/UDP h;rport=x",
    ]:
        with pytest.raises(SipParseError):
            parse_via(bad)


def test_headers_container() -> None:
    h = Headers([("v", "a"), ("Foo", "1"), ("Via", "b, c")])
    assert h.get_all("via") == ["a", "b", "c"]
    assert h.remove_first_value("Via") == "a"
    assert h.get_all("Via") == ["b", "c"]
    assert h.remove_first_value("Via") == "b"
    assert h.get_lines("Via") == ["c"]
    h.prepend("Via", "z")
    assert h.get_all("Via") == ["z", "c"]
    h.set("foo", "2")
    assert h.get("FOO") == "2"
    h.remove("via")
    assert "Via" not in h and len(h) == 1


# ------------------------------------------------------------------ stream framer
def test_stream_framer_splits_by_content_length() -> None:
    one = parse_message(INVITE).to_bytes()
    stream = b"\r\n\r\n" + one + one + b"\r\n"
    fr = StreamFramer()
    out: list[bytes] = []
    for i in range(0, len(stream), 7):
        out.extend(fr.feed(stream[i : i + 7]))
    assert out == [StreamFramer.KEEPALIVE_PING, one, one]
    assert parse_message(out[1], stream=True).body == b"v=0\r"
    assert fr.buffered <= 2


def test_stream_framer_rejects_missing_and_bad_length() -> None:
    no_cl = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nCSeq: 1 OPTIONS\r\n\r\n"
    fr = StreamFramer()
    with pytest.raises(SipParseError) as info:
        fr.feed(no_cl)
    assert info.value.answerable and "Content-Length" in info.value.reason
    with pytest.raises(SipParseError):
        fr.feed(b"more")  # broken for good
    with pytest.raises(SipParseError):
        StreamFramer().feed(no_cl.replace(b"\r\n\r\n", b"\r\nContent-Length: -1\r\n\r\n"))
    with pytest.raises(SipParseError) as info:
        StreamFramer(max_size=100).feed(b"X" * 200)
    assert info.value.status == 513


# ----------------------------------------------------------------- properties
TOKEN = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~", min_size=1
)
HOST = st.one_of(
    st.from_regex(r"\A[a-z]([a-z0-9-]{0,8}[a-z0-9])?(\.[a-z]([a-z0-9-]{0,8}[a-z0-9])?){0,3}\Z"),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: f"[{a}]"),
)
SAFE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n\x00"), max_size=20
)
PARAM_NAME = st.from_regex(r"\A[a-z][a-z0-9-]{0,8}\Z")
URI_PARAMS = st.dictionaries(PARAM_NAME, st.one_of(st.none(), st.text(min_size=1, max_size=8)), max_size=3)


@st.composite
def sip_uris(draw: st.DrawFn) -> SipURI:
    return SipURI(
        host=draw(HOST),
        user=draw(st.one_of(st.none(), st.text(min_size=1, max_size=12))),
        password=None,
        port=draw(st.one_of(st.none(), st.integers(0, 65535))),
        scheme=draw(st.sampled_from(["sip", "sips"])),
        params=draw(URI_PARAMS),
    )


@st.composite
def requests(draw: st.DrawFn) -> Request:
    method = draw(st.one_of(st.sampled_from(["INVITE", "BYE", "OPTIONS", "REGISTER"]), TOKEN))
    h = Headers()
    for _ in range(draw(st.integers(1, 3))):
        via = Via(
            draw(st.sampled_from(["UDP", "TCP", "TLS"])),
            draw(HOST),
            draw(st.one_of(st.none(), st.integers(1, 65535))),
            {"branch": "z9hG4bK" + draw(TOKEN)},
        )
        h.add("Via", str(via))
    frm = NameAddr(draw(sip_uris()), draw(st.one_of(st.none(), SAFE_TEXT)), {"tag": draw(TOKEN)})
    to = NameAddr(draw(sip_uris()), draw(st.one_of(st.none(), SAFE_TEXT)))
    h.add("From", str(frm))
    h.add("To", str(to))
    h.add("Call-ID", draw(TOKEN) + "@" + draw(HOST))
    h.add("CSeq", f"{draw(st.integers(0, 2**31 - 1))} {method}")
    h.add("Max-Forwards", str(draw(st.integers(0, 255))))
    for name, value in draw(
        st.lists(st.tuples(st.sampled_from(["X-Foo", "Subject", "User-Agent"]), SAFE_TEXT))
    ):
        h.add(name, value.strip(" \t"))
    body = draw(st.binary(max_size=64))
    return Request(method, draw(sip_uris()), h, body)


def _same(a: Request | Response, b: Request | Response) -> None:
    assert type(a) is type(b)
    strip = [(k, val) for k, val in a.headers if k != "Content-Length"]
    assert strip == [(k, val) for k, val in b.headers if k != "Content-Length"]
    assert a.body == b.body
    if isinstance(a, Request) and isinstance(b, Request):
        assert (a.method, str(a.uri)) == (b.method, str(b.uri))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_roundtrip_serialize_parse(r: Request) -> None:
    parsed = parse_message(r.to_bytes())
    assert isinstance(parsed, Request)
    _same(r, parsed)
    assert parsed.uri == r.uri
    assert parsed.from_addr == parse_name_addr(r.headers.get("From") or "")
    assert parsed.to_addr.display_name == parse_name_addr(r.headers.get("To") or "").display_name
    assert str(parsed.cseq) == r.headers.get("CSeq")
    # and via the stream framer
    frames = StreamFramer().feed(r.to_bytes())
    assert frames == [r.to_bytes()]
    _same(r, parse_message(frames[0], stream=True))


@settings(max_examples=500)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_only_raise_sip_parse_error(data: bytes) -> None:
    with contextlib.suppress(SipParseError):
        parse_message(data)
    with contextlib.suppress(SipParseError):
        StreamFramer(max_size=300).feed(data)


@settings(max_examples=300)
@given(st.lists(st.sampled_from([b"INVITE ", b"sip:a@b ", b"SIP/2.0", b"\r\n", b"Via: ", b"SIP/2.0/UDP h",
                                 b";branch=z9hG4bK1", b"Content-Length: ", b"5", b"\r\n\r\n", b"<", b">",
                                 b'"', b",", b";", b"From: ", b"To: ", b"CSeq: 1 INVITE", b"Call-ID: x",
                                 b"l: 0", b"\xff", b" ", b":"]), max_size=40))  # fmt: skip
def test_sip_like_token_soup(parts: list[bytes]) -> None:
    data = b"".join(parts)
    try:
        m = parse_message(data)
    except SipParseError:
        return
    _same(m, parse_message(m.to_bytes()))


VALID_VECTORS = [
    v.WSINV, v.INTMETH, v.ESC01, v.ESCNULL, v.ESC02, v.LWSDISP, v.LONGREQ, v.DBLREQ, v.SEMIURI,
    v.TRANSPORTS, v.MPART01, v.UNREASON, v.NOREASON, v.BADBRANCH, v.UNKSM2, v.BEXT01, v.INVUT,
    v.REGAUT01, v.BCAST, v.ZEROMF, v.CPARAM01, v.CPARAM02, v.REGESCRT, v.SDP01, v.INV2543, INVITE,
]  # fmt: skip


@pytest.mark.parametrize("data", VALID_VECTORS)
def test_valid_vectors_reserialize_stably(data: bytes) -> None:
    m = parse_message(data)
    _same(m, parse_message(m.to_bytes()))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(VALID_VECTORS),
    st.lists(
        st.tuples(
            st.sampled_from(["del", "ins", "flip", "dup", "trunc"]),
            st.integers(0, 10**6),
            st.binary(max_size=4),
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_mutated_valid_messages(data: bytes, mutations: list[tuple[str, int, bytes]]) -> None:
    buf = bytearray(data)
    for op, pos, extra in mutations:
        if not buf:
            break
        i = pos % len(buf)
        if op == "del":
            del buf[i : i + 1 + len(extra)]
        elif op == "ins":
            buf[i:i] = extra or b"\r\n"
        elif op == "flip":
            buf[i] ^= 1 << (pos % 8)
        elif op == "dup":
            buf[i:i] = buf[i : i + 20]
        else:
            del buf[i:]
    try:
        m = parse_message(bytes(buf))
    except SipParseError:
        return
    # whatever parses must serialize into something that parses to the same thing
    _same(m, parse_message(m.to_bytes()))


def test_stamp_via_and_response_destination() -> None:
    from hotline.sip.message import response_destination, stamp_via

    m = parse_message(INVITE)
    assert isinstance(m, Request)
    stamp_via(m, "203.0.113.5", 40000)
    top = m.top_via
    assert top.received == "203.0.113.5" and top.rport == 40000
    assert len(m.vias) == 3 and m.vias[1].host == "proxy.example.com"
    r = make_response(m, 200, to_tag="x")
    assert response_destination(r) == ("203.0.113.5", 40000)
    # no rport requested, same host: untouched
    m2 = parse_message(INVITE.replace(b";rport", b""))
    assert isinstance(m2, Request)
    stamp_via(m2, "10.0.0.1", 5999)
    assert m2.top_via.received is None and m2.top_via.rport is None
    assert response_destination(make_response(m2, 200)) == ("10.0.0.1", 5060)
    m3 = parse_message(INVITE.replace(b";rport", b""))
    assert isinstance(m3, Request)
    stamp_via(m3, "192.0.2.1", 5999)
    assert response_destination(make_response(m3, 200)) == ("192.0.2.1", 5060)


def test_make_request_out_of_dialog() -> None:
    from hotline.sip.message import make_request

    rng = random.Random(9)
    r = make_request(
        "INVITE",
        "sip:+8613800138000@trunk.example.net;user=phone",
        from_addr=f"<sip:4001@hotline.example>;tag={generate_tag(rng)}",
        to_addr="<sip:+8613800138000@trunk.example.net;user=phone>",
        call_id=generate_call_id("hotline.example", rng),
        cseq=1,
        via_host="198.51.100.1",
        via_port=5060,
        contact="<sip:4001@198.51.100.1:5060>",
        body=b"v=0\r\n",
        content_type="application/sdp",
        extra_headers=[("User-Agent", "Hotline")],
        rng=rng,
    )
    parsed = parse_message(r.to_bytes())
    assert isinstance(parsed, Request) and parsed.method == "INVITE"
    assert parsed.top_via.rfc3261_branch and parsed.top_via.has_rport
    assert parsed.sip_uri.params == {"user": "phone"} and parsed.max_forwards == 70
    assert parsed.cseq.seq == 1 and parsed.body == b"v=0\r\n" and parsed.content_type == "application/sdp"
    assert parsed.headers.get("User-Agent") == "Hotline"
