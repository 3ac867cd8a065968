"""RFC 4475 torture tests (plus RFC 5118 IPv6 cases)."""

from __future__ import annotations

import pytest

from hotline.sip.errors import SipParseError
from hotline.sip.message import Request, Response, error_response, parse_message
from hotline.sip.uri import AbsoluteURI, SipURI
from tests.sip import sip_torture_vectors as v


def req(data: bytes) -> Request:
    m = parse_message(data)
    assert isinstance(m, Request)
    return m


def test_wsinv() -> None:
    m = req(v.WSINV)
    assert m.method == "INVITE"
    assert isinstance(m.uri, SipURI)
    assert (m.uri.user, m.uri.host, m.uri.port) == ("vivekg", "chair-dnrc.example.com", None)
    assert m.uri.params == {"unknownparam": None}
    assert m.to_addr.display_name is None
    assert m.to_addr.tag == "1918181833n"
    assert m.to_addr.sip_uri.user == "vivekg"
    assert m.from_addr.display_name == 'J Rosenberg \\"'
    assert m.from_tag == "98asjd8"
    assert m.from_addr.sip_uri.host == "example.com"
    assert m.max_forwards == 68
    assert m.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert (m.cseq.seq, m.cseq.method) == (9, "INVITE")
    vias = m.vias
    assert [(x.transport, x.host, x.port, x.branch) for x in vias] == [
        ("UDP", "192.0.2.2", None, "390skdjuw"),
        ("TCP", "spindle.example.com", None, "z9hG4bK9ikj8"),
        ("UDP", "192.168.255.111", None, "z9hG4bK30239"),
    ]
    assert not vias[0].rfc3261_branch and vias[1].rfc3261_branch
    assert m.headers.get("Subject") == ""
    assert m.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert m.headers.get("unknownheaderwithunusualvalue") == ";;,,;;,;"
    assert m.content_type == "application/sdp"
    (contact,) = m.contacts
    assert contact.display_name == 'Quoted string ""'
    assert contact.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    (route,) = m.route
    assert isinstance(route.uri, SipURI) and route.uri.lr
    assert route.uri.params == {"lr": None, "unknownwith": "value", "unknown-no-value": None}
    assert len(m.body) == 150 and m.body.startswith(b"v=0\r\n")


def test_intmeth() -> None:
    m = req(v.INTMETH)
    assert m.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert isinstance(m.uri, SipURI)
    assert m.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert m.uri.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"
    assert m.uri.host == "example.com"
    assert m.top_via.branch == "z9hG4bK-.!%66*_+`'~"
    assert m.to_addr.display_name == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert m.to_addr.sip_uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    f = m.from_addr
    assert f.display_name == "token1~` token2'+_ token3*%!.-"
    assert f.params["fromparam''~+*_!.-%"] == "работающий"
    assert f.tag == "_token~1'+`*%!-."
    assert m.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert m.cseq.method == m.method
    assert m.max_forwards == 255
    assert m.headers.get("extensionHeader-!.%*+_`'~") == "\ufeff大停電"


def test_esc01_escapes_decoded() -> None:
    m = req(v.ESC01)
    assert isinstance(m.uri, SipURI)
    assert m.uri.user == "sips:user@example.com" and m.uri.host == "example.net"
    assert m.to_addr.sip_uri.user == "user"
    assert m.from_addr.sip_uri.user == "I have spaces"
    (c,) = m.contacts
    assert c.sip_uri.user == "caller"
    assert c.sip_uri.params == {"lr": None, "name": "value%41"}
    assert m.content_type == "application/sdp"
    # equivalence with unescaped forms
    assert m.to_addr.sip_uri.equivalent(SipURI("example.com", "user"))


def test_escnull() -> None:
    m = req(v.ESCNULL)
    assert m.to_addr.sip_uri.user == "null-\x00-null"
    assert [c.sip_uri.user for c in m.contacts] == ["\x00", "\x00\x00"]


def test_esc02_percent_not_escape_in_method_and_header_names() -> None:
    m = req(v.ESC02)
    assert m.method == "RE%47IST%45R"
    assert m.to_addr.display_name == "%Z%45"
    assert [c.sip_uri.host for c in m.contacts] == ["host1.example.com", "host3.example.com"]
    assert m.headers.get("C%6Fntact") == "<sip:alias2@host2.example.com>"
    assert m.top_via.has_rport and m.top_via.rport is None


def test_lwsdisp() -> None:
    m = req(v.LWSDISP)
    assert m.from_addr.display_name == "caller"
    assert m.from_tag == "323"


def test_longreq() -> None:
    m = req(v.LONGREQ)
    assert len(m.vias) == 34
    assert m.to_addr.sip_uri.port == 6000
    assert m.to_addr.display_name is not None and len(m.to_addr.display_name) > 500
    assert m.from_addr.tag is not None and len(m.from_addr.tag) > 300
    assert len(m.body) == 150


def test_dblreq_only_first_request() -> None:
    m = req(v.DBLREQ)
    assert m.method == "REGISTER"
    assert m.body == b""


def test_semiuri() -> None:
    m = req(v.SEMIURI)
    assert isinstance(m.uri, SipURI)
    assert m.uri.user == "user;par=u@example.net"
    assert m.uri.host == "example.com" and m.uri.params == {}
    assert m.headers.get_all("Accept")[-1] == "message/sipfrag"
    assert len(m.headers.get_all("Accept")) == 6


def test_transports() -> None:
    m = req(v.TRANSPORTS)
    assert [x.transport for x in m.vias] == ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]


def test_mpart01() -> None:
    m = req(v.MPART01)
    assert m.content_type == "multipart/mixed"
    assert m.body.endswith(b"--7a9cbec02ceef655--\r\n")


def test_unreason_and_noreason() -> None:
    r = parse_message(v.UNREASON)
    assert isinstance(r, Response) and r.status == 200
    assert r.reason.startswith("= 2**3 * 5**2 но сто")
    r2 = parse_message(v.NOREASON)
    assert isinstance(r2, Response) and r2.status == 100 and r2.reason == ""


VALID_REQUESTS = [
    v.BADBRANCH, v.UNKSM2, v.BEXT01, v.INVUT, v.REGAUT01, v.ZEROMF, v.CPARAM01, v.CPARAM02,
    v.REGESCRT, v.SDP01, v.INV2543, v.IPV6_GOOD, v.IPV6_PORT, v.IPV6_RECEIVED,
]  # fmt: skip


@pytest.mark.parametrize("data", VALID_REQUESTS)
def test_semantically_odd_but_valid(data: bytes) -> None:
    req(data)


def test_application_semantics_values() -> None:
    assert req(v.BADBRANCH).top_via.rfc3261_branch is False
    m = req(v.UNKSM2)
    assert isinstance(m.to_addr.uri, AbsoluteURI) and m.to_addr.uri.scheme == "isbn"
    assert str(m.from_addr.uri) == "http://www.example.com"
    assert str(m.contacts[0].uri) == "name:John_Smith"
    assert req(v.BEXT01).headers.get_all("Proxy-Require") == ["noProxiesSupportThis", "nor-this-one"]
    assert req(v.INVUT).content_type == "application/unknownformat"
    assert req(v.ZEROMF).max_forwards == 0
    c1 = req(v.CPARAM01).contacts[0]
    assert c1.params == {"unknownparam": None} and c1.sip_uri.params == {}
    c2 = req(v.CPARAM02).contacts[0]
    assert c2.params == {} and c2.sip_uri.params == {"unknownparam": None}
    c3 = req(v.REGESCRT).contacts[0]
    assert c3.sip_uri.headers == {"Route": "<sip:sip.example.com>"}
    inv = req(v.INV2543)
    assert inv.top_via.branch is None and inv.from_tag is None and inv.max_forwards is None
    m6 = req(v.IPV6_PORT)
    assert isinstance(m6.uri, SipURI) and (m6.uri.host, m6.uri.port) == ("[2001:db8::10]", 5070)
    assert req(v.IPV6_GOOD).top_via.host == "[2001:db8::9:1]"
    assert req(v.IPV6_RECEIVED).top_via.received == "[2001:db8::9:255]"
    bcast = parse_message(v.BCAST)
    assert isinstance(bcast, Response) and bcast.vias[1].host == "255.255.255.255"


INVALID = [
    # name, data, status, answerable
    ("badinv01", v.BADINV01, 400, False),  # top Via itself is broken: cannot route a response
    ("clerr", v.CLERR, 400, True),
    ("ncl", v.NCL, 400, True),
    ("scalar02", v.SCALAR02, 400, True),
    ("scalarlg", v.SCALARLG, 400, False),  # response: dropped
    ("quotbal", v.QUOTBAL, 400, True),
    ("ltgtruri", v.LTGTRURI, 400, True),
    ("lwsruri", v.LWSRURI, 400, True),
    ("lwsstart", v.LWSSTART, 400, True),
    ("trws", v.TRWS, 400, True),
    ("escruri", v.ESCRURI, 400, True),
    ("baddate", v.BADDATE, 400, True),
    ("regbadct", v.REGBADCT, 400, True),
    ("badaspec", v.BADASPEC, 400, True),
    ("baddn", v.BADDN, 400, True),
    ("badvers", v.BADVERS, 505, True),
    ("mismatch01", v.MISMATCH01, 400, True),
    ("mismatch02", v.MISMATCH02, 400, True),  # RFC prefers 501; 400 is allowed
    ("bigcode", v.BIGCODE, 400, False),  # response: dropped
    ("insuf", v.INSUF, 400, True),
    ("unksm", v.UNKSM, 416, True),
    ("novelsc", v.NOVELSC, 416, True),
    ("multi01", v.MULTI01, 400, True),
    ("mcl01", v.MCL01, 400, True),
    ("ipv6-bad", v.IPV6_BAD, 400, True),
]


@pytest.mark.parametrize(("name", "data", "status", "answerable"), INVALID, ids=[x[0] for x in INVALID])
def test_invalid_rejected(name: str, data: bytes, status: int, answerable: bool) -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    err = info.value
    assert err.status == status, err.reason
    assert err.answerable is answerable
    resp = error_response(err)
    if answerable:
        assert resp is not None and resp.status == status
        assert resp.reason == err.reason
        # routed back by the request's Via; transaction identifiers copied
        assert resp.headers.get_lines("Via") == err.headers.get_lines("Via")  # type: ignore[union-attr]
        assert resp.headers.get("CSeq") == err.headers.get("CSeq")  # type: ignore[union-attr]
        assert resp.to_bytes().startswith(f"SIP/2.0 {status} ".encode())
    else:
        assert resp is None


def test_precise_reasons() -> None:
    def reason(data: bytes) -> str:
        with pytest.raises(SipParseError) as info:
            parse_message(data)
        return info.value.reason

    assert reason(v.CLERR) == "Content-Length larger than message body"
    assert reason(v.MISMATCH01) == "CSeq method does not match Request-Line method"
    assert reason(v.ESCRURI) == "Headers not allowed in Request-URI"
    assert reason(v.UNKSM) == "Unsupported URI Scheme"
    assert reason(v.INSUF).startswith("Missing ")
    assert reason(v.MCL01) == "Multiple Content-Length header fields"
