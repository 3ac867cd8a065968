"""The pure registrar bindings store (RFC 3261 §10.3), with hypothesis properties."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.sip.digest import DigestClient, compute_ha1
from hotline.sip.extensions import SipCredentials
from hotline.sip.message import Request, parse_message
from hotline.sip.registrar import Bindings, ContactSpec, RegisterUpdate, Registrar, update_from_request

AOR = (1, "1001")


def upd(
    *contacts: ContactSpec, call_id: str = "c1", cseq: int = 1, expires: int | None = None
) -> RegisterUpdate:
    return RegisterUpdate(
        contacts=contacts, call_id=call_id, cseq=cseq, expires=expires, source_host="192.0.2.9"
    )


def uris(b: Bindings, now: float, aor: tuple[int, str] = AOR) -> list[str]:
    return [c.uri for c in b.contacts_for(aor, now)]


def test_expiry_from_header_param_and_default() -> None:
    b = Bindings(min_expires=60, max_expires=3600, default_expires=1800)
    r = b.apply(AOR, upd(ContactSpec("sip:a@h")), 0)
    assert r.status == 200 and r.contacts[0].expires_in(0) == 1800
    b.apply(AOR, upd(ContactSpec("sip:b@h"), expires=300, cseq=2), 0)
    b.apply(AOR, upd(ContactSpec("sip:c@h", expires=120), expires=300, cseq=3), 0)
    assert {c.uri: c.expires_in(0) for c in b.contacts_for(AOR, 0)} == {
        "sip:a@h": 1800,
        "sip:b@h": 300,
        "sip:c@h": 120,
    }
    assert set(uris(b, 200)) == {"sip:a@h", "sip:b@h"}
    assert b.purge(1000) == 2 and len(b) == 1


def test_interval_too_brief_and_clamp() -> None:
    b = Bindings(min_expires=60, max_expires=600)
    b.apply(AOR, upd(ContactSpec("sip:a@h"), expires=100), 0)
    r = b.apply(AOR, upd(ContactSpec("sip:a@h"), ContactSpec("sip:b@h", expires=10), cseq=2, expires=100), 1)
    assert (r.status, r.min_expires) == (423, 60)
    assert uris(b, 1) == ["sip:a@h"]  # atomic: nothing changed
    assert b.contacts_for(AOR, 1)[0].cseq == 1
    r = b.apply(AOR, upd(ContactSpec("sip:b@h"), cseq=3, expires=99999), 1)
    assert r.ok and {c.uri: c.expires_in(1) for c in r.contacts}["sip:b@h"] == 600


def test_q_ordering_and_recency() -> None:
    b = Bindings()
    b.apply(AOR, upd(ContactSpec("sip:low@h", q=0.1)), 0)
    b.apply(AOR, upd(ContactSpec("sip:old@h", q=0.5), cseq=2), 1)
    b.apply(AOR, upd(ContactSpec("sip:new@h", q=0.5), cseq=3), 2)
    b.apply(AOR, upd(ContactSpec("sip:top@h"), cseq=4), 3)
    assert uris(b, 4) == ["sip:top@h", "sip:new@h", "sip:old@h", "sip:low@h"]


def test_call_id_cseq_ordering() -> None:
    b = Bindings()
    assert b.apply(AOR, upd(ContactSpec("sip:a@h"), cseq=5), 0).ok
    # same Call-ID, CSeq not higher: the request fails and nothing changes
    for cseq in (5, 4):
        r = b.apply(AOR, upd(ContactSpec("sip:a@h"), cseq=cseq, expires=0), 1)
        assert r.status == 400
        assert uris(b, 1) == ["sip:a@h"]
    # higher CSeq refreshes
    assert b.apply(AOR, upd(ContactSpec("sip:a@h"), cseq=6, expires=120), 10).ok
    assert b.contacts_for(AOR, 10)[0].expires_in(10) == 120
    # another Call-ID (the phone rebooted) replaces the binding whatever its CSeq
    assert b.apply(AOR, upd(ContactSpec("sip:a@h"), call_id="c2", cseq=1, expires=200), 11).ok
    (c,) = b.contacts_for(AOR, 11)
    assert (c.call_id, c.cseq, c.expires_in(11)) == ("c2", 1, 200)


def test_uri_equivalence_refreshes_instead_of_duplicating() -> None:
    b = Bindings()
    b.apply(AOR, upd(ContactSpec("sip:1001@PHONE.example:5060")), 0)
    b.apply(AOR, upd(ContactSpec("sip:1001@phone.example:5060"), cseq=2), 0)
    assert len(b) == 1


def test_star() -> None:
    b = Bindings()
    b.apply(AOR, upd(ContactSpec("sip:a@h"), ContactSpec("sip:b@h"), cseq=3), 0)
    bad = [
        RegisterUpdate((), "c9", 1, expires=None, star=True),
        RegisterUpdate((), "c9", 1, expires=60, star=True),
        RegisterUpdate((ContactSpec("sip:c@h"),), "c9", 1, expires=0, star=True),
        RegisterUpdate((), "c1", 3, expires=0, star=True),  # same Call-ID, stale CSeq
    ]
    for u in bad:
        assert b.apply(AOR, u, 1).status == 400
        assert len(b) == 2
    assert b.apply(AOR, RegisterUpdate((), "c1", 4, expires=0, star=True), 1).ok
    assert len(b) == 0 and b.aors() == []


def test_max_contacts_keeps_most_recent() -> None:
    b = Bindings(max_contacts=2)
    for i in range(4):
        b.apply(AOR, upd(ContactSpec(f"sip:p{i}@h"), call_id=f"c{i}"), float(i))
    assert set(uris(b, 5)) == {"sip:p2@h", "sip:p3@h"}


def test_remove_and_remove_flow() -> None:
    b = Bindings()
    flow = object()
    b.apply(AOR, replace(upd(ContactSpec("sip:a@h")), flow=flow), 0)
    b.apply((1, "1002"), upd(ContactSpec("sip:b@h")), 0)
    (a,) = b.contacts_for(AOR, 0)
    assert a.destination is None  # no source port known
    assert b.remove_flow(flow) == 1 and len(b) == 1
    (bb,) = b.contacts_for((1, "1002"), 0)
    assert b.remove(bb) and not b.remove(bb) and len(b) == 0


def test_update_from_request() -> None:
    raw = (
        b"REGISTER sip:demo SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKx;rport\r\n"
        b"From: <sip:1001@demo>;tag=1\r\nTo: <sip:1001@demo>\r\nCall-ID: abc\r\nCSeq: 7 REGISTER\r\n"
        b'Contact: <sip:1001@10.0.0.5:5062>;q=0.7;expires=90;+sip.instance="<urn:uuid:1>", '
        b"<sip:1001@10.0.0.5:5063>\r\nExpires: 300\r\nUser-Agent: Phone/1.0\r\nContent-Length: 0\r\n\r\n"
    )
    req = parse_message(raw)
    assert isinstance(req, Request)
    u = update_from_request(req, source_host="203.0.113.1", source_port=40000)
    assert u.contacts == [
        ContactSpec("sip:1001@10.0.0.5:5062", 90, 0.7, "urn:uuid:1"),
        ContactSpec("sip:1001@10.0.0.5:5063"),
    ]
    assert (u.call_id, u.cseq, u.expires, u.star, u.user_agent) == ("abc", 7, 300, False, "Phone/1.0")
    b = Bindings()
    r = b.apply(AOR, u, 0)
    assert [(c.uri, c.expires_in(0), c.destination) for c in r.contacts] == [
        ("sip:1001@10.0.0.5:5063", 300, ("203.0.113.1", 40000)),
        ("sip:1001@10.0.0.5:5062", 90, ("203.0.113.1", 40000)),
    ]


# ------------------------------------------------------------------ properties
contact_st = st.builds(
    ContactSpec,
    uri=st.sampled_from([f"sip:p{i}@h" for i in range(5)]),
    expires=st.one_of(st.none(), st.sampled_from([0, 5, 30, 60, 61, 600, 5000])),
    q=st.one_of(st.none(), st.sampled_from([0.0, 0.1, 0.5, 1.0])),
)
op_st = st.tuples(
    st.floats(min_value=0, max_value=400, allow_nan=False),  # time advance
    st.lists(contact_st, max_size=4, unique_by=lambda c: c.uri),
    st.sampled_from(["c1", "c2", "c3"]),  # Call-ID
    st.integers(min_value=1, max_value=6),  # CSeq
    st.one_of(st.none(), st.sampled_from([0, 10, 60, 300, 100000])),  # Expires header
    st.booleans(),  # Contact: *
)


def _snapshot(b: Bindings, now: float) -> list[tuple[str, float, float, str, int]]:
    return sorted((c.uri, c.expires_at, c.q, c.call_id, c.cseq) for c in b.contacts_for(AOR, now))


@settings(max_examples=200, deadline=None)
@given(st.lists(op_st, min_size=1, max_size=25))
def test_bindings_properties(ops: list[tuple[float, list[ContactSpec], str, int, int | None, bool]]) -> None:
    b = Bindings(min_expires=60, max_expires=3600, default_expires=600, max_contacts=3)
    now = 0.0
    for dt, contacts, call_id, cseq, expires, star in ops:
        now += dt
        before = _snapshot(b, now)
        stored = {c.uri: c for c in b.contacts_for(AOR, now)}
        u = RegisterUpdate(
            contacts=[] if star else contacts, call_id=call_id, cseq=cseq, expires=expires, star=star
        )
        r = b.apply(AOR, u, now)
        after = b.contacts_for(AOR, now)
        if not r.ok:
            assert _snapshot(b, now) == before, "a failed REGISTER must not change anything"
        if star:
            if expires != 0 or any(c.call_id == call_id and cseq <= c.cseq for c in stored.values()):
                assert r.status == 400
            else:
                assert r.ok and after == []
            continue
        stale = any(
            spec.uri in stored and stored[spec.uri].call_id == call_id and cseq <= stored[spec.uri].cseq
            for spec in contacts
        )
        brief = any(
            (e := spec.expires if spec.expires is not None else (expires if expires is not None else 600))
            != 0
            and e < 60
            for spec in contacts
        )
        if brief:
            assert r.status == 423 and r.min_expires == 60
        elif stale:
            assert r.status == 400
        else:
            assert r.ok
            live = {c.uri: c for c in after}
            for spec in contacts:
                e = spec.expires if spec.expires is not None else (expires if expires is not None else 600)
                if e == 0:
                    assert spec.uri not in live
                elif spec.uri in live:  # (or evicted by max_contacts: only older ones are)
                    assert live[spec.uri].expires_at == now + min(e, 3600)
                    assert live[spec.uri].q == (spec.q if spec.q is not None else 1.0)
                    assert (live[spec.uri].call_id, live[spec.uri].cseq) == (call_id, cseq)
            named = {s.uri for s in contacts}
            for uri, c in stored.items():  # contacts not named keep their binding unless evicted
                if uri not in named and uri in live:
                    assert live[uri] is c
            assert r.contacts == tuple(after)
        # invariants
        assert len(after) <= 3
        assert all(c.expires_at > now and c.expires_at - now <= 3600 + 1e-6 for c in after)
        assert [(-c.q, -c.registered_at) for c in after] == sorted((-c.q, -c.registered_at) for c in after)
        assert len({c.uri for c in after}) == len(after)


# ------------------------------------------------------------------ the shell, without a database
def _creds() -> SipCredentials:
    return SipCredentials(
        tenant_id=1,
        realm="demo",
        extension_id=1,
        number="1001",
        ha1_md5=compute_ha1("1001", "demo", "Secret-Pass-1", "MD5"),
        ha1_sha256=compute_ha1("1001", "demo", "Secret-Pass-1", "SHA-256"),
        enabled=True,
        user_id=None,
    )


def _register(uri: str, auth: str | None = None) -> Request:
    raw = (
        f"REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKq{len(auth or '')};rport\r\n"
        "From: <sip:1001@demo>;tag=1\r\nTo: <sip:1001@demo>\r\nCall-ID: shell\r\n"
        f"CSeq: {2 if auth else 1} REGISTER\r\nContact: <sip:1001@10.0.0.5:5062>\r\n"
        + (f"Authorization: {auth}\r\n" if auth else "")
        + "Content-Length: 0\r\n\r\n"
    )
    req = parse_message(raw.encode())
    assert isinstance(req, Request)
    return req


async def test_registrar_digest_uri_as_sent_by_the_phone() -> None:
    async def credentials(domain: str, number: str) -> SipCredentials | None:
        return _creds() if number == "1001" else None

    async def realm(domain: str) -> str:
        return "demo"

    registrar = Registrar(credentials, realm)
    uri = "sip:demo;Transport=udp"  # our parser lower-cases the parameter name
    first = await registrar.handle(_register(uri), 0.0, source_host="203.0.113.5", source_port=4000)
    assert first.status == 401
    challenge = first.headers.get_all("WWW-Authenticate")[0]
    client = DigestClient("1001", "Secret-Pass-1")
    for digest_uri, status in [("sip:other.example", 401), (uri, 200)]:
        auth = client.authorize(challenge, method="REGISTER", uri=digest_uri)
        resp = await registrar.handle(_register(uri, auth), 1.0, source_host="203.0.113.5", source_port=4000)
        assert resp.status == status, digest_uri
    assert registrar.counters.auth_failures == 1
    (c,) = registrar.lookup(1, "1001", 2.0)
    assert c.destination == ("203.0.113.5", 4000)
