"""RFC 3261 §12 dialogs."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.sip.dialog import (
    Dialog,
    DialogError,
    DialogState,
    uac_dialog_id,
    uas_dialog_id,
)
from hotline.sip.headers import Headers, parse_name_addr
from hotline.sip.message import Request, Response, make_response, parse_message
from hotline.sip.uri import SipURI, parse_uri


def invite() -> Request:
    h = Headers()
    h.add("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKinv1;rport")
    h.add("Max-Forwards", "70")
    h.add("From", '"Alice" <sip:alice@example.com>;tag=alicetag')
    h.add("To", "<sip:bob@example.com>")
    h.add("Call-ID", "dlg-1@10.0.0.1")
    h.add("CSeq", "100 INVITE")
    h.add("Contact", "<sip:alice@10.0.0.1:5060>")
    return Request("INVITE", parse_uri("sip:bob@example.com"), h)


def answer(req: Request, code: int, rr: list[str], contact: str = "<sip:bob@192.0.2.7:5070>") -> Response:
    r = make_response(req, code, to_tag="bobtag")
    for value in rr:
        r.headers.add("Record-Route", value)
    r.headers.add("Contact", contact)
    return r


def roundtrip(m: Request) -> Request:
    out = parse_message(m.to_bytes())
    assert isinstance(out, Request)
    return out


def test_uac_early_then_confirmed_and_in_dialog_requests() -> None:
    req = invite()
    rr = ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    d = Dialog.from_uac_response(req, answer(req, 180, rr))
    assert d.state is DialogState.EARLY
    assert d.id == uac_dialog_id(answer(req, 180, rr))
    assert (d.call_id, d.local_tag, d.remote_tag) == ("dlg-1@10.0.0.1", "alicetag", "bobtag")
    assert [str(r.uri) for r in d.route_set] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert str(d.remote_target) == "sip:bob@192.0.2.7:5070"
    ok = answer(req, 200, rr, "<sip:bob@192.0.2.8>")
    d.update_from_response(req, ok)
    assert d.state is DialogState.CONFIRMED and str(d.remote_target) == "sip:bob@192.0.2.8"

    rng = random.Random(3)
    ack = roundtrip(d.create_ack(100, rng=rng))
    assert ack.method == "ACK" and ack.cseq.seq == 100 and ack.cseq.method == "ACK"
    assert str(ack.uri) == "sip:bob@192.0.2.8"
    assert ack.headers.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert ack.top_via.branch != "z9hG4bKinv1" and ack.top_via.rfc3261_branch
    assert ack.from_tag == "alicetag" and ack.to_tag == "bobtag" and ack.call_id == d.call_id
    assert ack.from_addr.display_name == "Alice"

    bye = roundtrip(d.create_request("BYE", rng=rng))
    assert bye.cseq.seq == 101 and bye.cseq.method == "BYE" and bye.headers.get("Contact") is None
    info = roundtrip(d.create_request("INFO", body=b"Signal=5\r\n", content_type="application/dtmf-relay"))
    assert info.cseq.seq == 102 and info.body == b"Signal=5\r\n"
    d.local_contact = parse_name_addr("<sip:alice@10.0.0.1:5060>")
    reinv = roundtrip(d.create_request("INVITE", body=b"v=0\r\n", content_type="application/sdp"))
    assert reinv.cseq.seq == 103 and reinv.contacts[0].sip_uri.host == "10.0.0.1"
    refer = roundtrip(d.create_request("REFER", extra_headers=[("Refer-To", "<sip:carol@example.com>")]))
    assert refer.headers.get("Refer-To") == "<sip:carol@example.com>"


def test_dialog_from_1xx_requires_to_tag() -> None:
    req = invite()
    r = make_response(req, 100)
    with pytest.raises(DialogError):
        Dialog.from_uac_response(req, r)
    assert uac_dialog_id(r) is None


def test_strict_route_set() -> None:
    req = invite()
    d = Dialog.from_uac_response(
        req, answer(req, 200, ["<sip:strict2.example.com>", "<sip:strict1.example.com>"])
    )
    bye = roundtrip(d.create_request("BYE"))
    assert isinstance(bye.uri, SipURI) and bye.uri.host == "strict1.example.com"
    assert bye.headers.get_all("Route") == ["<sip:strict2.example.com>", "<sip:bob@192.0.2.7:5070>"]


def test_no_route_set() -> None:
    req = invite()
    d = Dialog.from_uac_response(req, answer(req, 200, []))
    bye = d.create_request("BYE")
    assert str(bye.uri) == "sip:bob@192.0.2.7:5070" and "Route" not in bye.headers


def test_uas_dialog_and_cseq_ordering() -> None:
    req = invite()
    req.headers.add("Record-Route", "<sip:p1.example.com;lr>, <sip:p2.example.com;lr>")
    uas = Dialog.from_uas_request(req, "bobtag", local_contact=parse_name_addr("<sip:bob@192.0.2.7>"))
    assert uas.remote_seq == 100 and uas.state is DialogState.EARLY and not uas.is_uac
    assert [str(r.uri) for r in uas.route_set] == ["sip:p1.example.com;lr", "sip:p2.example.com;lr"]
    assert (uas.local_tag, uas.remote_tag) == ("bobtag", "alicetag")
    # the UAC's view of the same dialog builds requests the UAS can match
    uac = Dialog.from_uac_response(
        req, answer(req, 200, ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"])
    )
    ack = roundtrip(uac.create_ack(100))
    assert uas_dialog_id(ack) == uas.id
    uas.receive_request(ack)
    assert uas.state is DialogState.CONFIRMED
    uac.local_contact = parse_name_addr("<sip:alice@10.9.9.9>")
    reinv = roundtrip(uac.create_request("INVITE"))
    uas.receive_request(reinv)
    assert uas.remote_seq == 101 and str(uas.remote_target) == "sip:alice@10.9.9.9"
    old = roundtrip(uac.create_request("INFO", cseq=50))
    with pytest.raises(DialogError) as info:
        uas.receive_request(old)
    assert info.value.status == 500
    other = roundtrip(uac.create_request("INFO"))
    other.headers.set("Call-ID", "other")
    with pytest.raises(DialogError) as info:
        uas.receive_request(other)
    assert info.value.status == 481
    # UAS-originated BYE goes to the UAC's contact via the same routes (UAS order)
    bye = uas.create_request("BYE", rng=random.Random(1))
    assert str(bye.uri) == "sip:alice@10.9.9.9"
    assert bye.headers.get_all("Route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert bye.from_tag == "bobtag" and bye.to_tag == "alicetag"
    uac.receive_request(roundtrip(bye))
    assert uac.state is DialogState.TERMINATED
    with pytest.raises(DialogError):
        uac.create_request("INFO")


def test_uas_requires_contact() -> None:
    req = invite()
    req.headers.remove("Contact")
    with pytest.raises(DialogError):
        Dialog.from_uas_request(req, "t")


def test_481_terminates() -> None:
    req = invite()
    d = Dialog.from_uac_response(req, answer(req, 200, []))
    bye = d.create_request("INFO")
    d.update_from_response(bye, make_response(bye, 481, to_tag="bobtag"))
    assert d.state is DialogState.TERMINATED


@given(st.lists(st.integers(0, 2**20), min_size=1, max_size=20))
def test_remote_cseq_monotonic(seqs: list[int]) -> None:
    req = invite()
    uas = Dialog.from_uas_request(req, "bobtag")
    uac = Dialog.from_uac_response(req, answer(req, 200, []))
    highest = 100
    for s in seqs:
        r = uac.create_request("INFO", cseq=s)
        if s < highest:
            with pytest.raises(DialogError):
                uas.receive_request(r)
        else:
            uas.receive_request(r)
            highest = s
        assert uas.remote_seq == highest


@given(st.integers(1, 30))
def test_local_cseq_strictly_increasing(n: int) -> None:
    req = invite()
    d = Dialog.from_uac_response(req, answer(req, 200, []))
    seqs = [d.create_request("INFO").cseq.seq for _ in range(n)]
    assert seqs == list(range(101, 101 + n))


def test_uas_via_defaults_to_local_contact_or_explicit() -> None:
    req = invite()
    d = Dialog.from_uas_request(req, "t", local_contact=parse_name_addr("<sip:bob@192.0.2.7:5070>"))
    assert d.create_request("BYE").top_via.sent_by == ("192.0.2.7", 5070)
    d2 = Dialog.from_uas_request(req, "t", via_host="198.51.100.9", via_port=5080)
    assert d2.create_request("BYE").top_via.sent_by == ("198.51.100.9", 5080)
