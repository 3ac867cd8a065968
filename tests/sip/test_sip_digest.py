"""Digest authentication: RFC test vectors and server/client behaviour."""

from __future__ import annotations

import contextlib
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.sip.digest import (
    AuthStatus,
    Challenge,
    DigestClient,
    DigestServer,
    build_authorization,
    compute_ha1,
    compute_response,
    parse_challenge,
    parse_credentials,
)


def test_rfc2617_section_3_5() -> None:
    ha1 = compute_ha1("Mufasa", "testrealm@host.com", "Circle Of Life")
    resp = compute_response(
        ha1=ha1,
        method="GET",
        uri="/dir/index.html",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert resp == "6629fae49393a05397450978507c4ef1"


RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def test_rfc7616_section_3_9_1_sha256_and_md5() -> None:
    for alg, expected in [
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
    ]:
        ch = Challenge("http-auth@example.org", RFC7616_NONCE, alg, ["auth", "auth-int"])
        value = build_authorization(
            ch,
            method="GET",
            uri="/dir/index.html",
            username="Mufasa",
            password="Circle of Life",
            cnonce=RFC7616_CNONCE,
        )
        creds = parse_credentials(value)
        assert creds.response == expected
        assert (creds.qop, creds.nc, creds.cnonce) == ("auth", "00000001", RFC7616_CNONCE)


def test_parse_rfc7616_challenge_header() -> None:
    value = (
        'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, '
        'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
        'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
    )
    ch = parse_challenge(value)
    assert ch.algorithm == "SHA-256" and ch.qop == ["auth", "auth-int"]
    assert ch.opaque == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS" and not ch.stale
    assert parse_challenge(str(ch)) == ch


USERS = {"1001": "s3cret", "1002": 'pa ss"word'}


def make_server(**kw: object) -> DigestServer:
    def lookup(user: str, realm: str, alg: str) -> str | None:
        pw = USERS.get(user)
        return compute_ha1(user, realm, pw, alg) if pw is not None else None

    return DigestServer("hotline", b"k" * 32, lookup, rng=random.Random(7), **kw)  # type: ignore[arg-type]


def test_server_challenge_then_verify_all_algorithms() -> None:
    srv = make_server(algorithms=("SHA-256", "MD5", "SHA-512-256"))
    headers = srv.challenge_headers(now=100.0, proxy=True)
    assert [h[0] for h in headers] == ["Proxy-Authenticate"] * 3
    for _, value in headers:
        ch = parse_challenge(value)
        assert ch.qop == ["auth"] and ch.opaque == srv.opaque
        client = DigestClient("1002", USERS["1002"], rng=random.Random(1))
        auth = client.authorize(value, method="REGISTER", uri="sip:hotline")
        assert srv.verify(auth, "REGISTER", now=101.0).status is AuthStatus.OK
        # same nc again -> replay
        assert srv.verify(auth, "REGISTER", now=102.0).status is AuthStatus.REPLAY
        # client increments nc -> accepted
        auth2 = client.authorize(value, method="INVITE", uri="sip:hotline")
        assert parse_credentials(auth2).nc == "00000002"
        assert srv.verify(auth2, "INVITE", now=103.0).ok
        # wrong method (response bound to method)
        auth3 = client.authorize(value, method="INVITE", uri="sip:hotline")
        assert srv.verify(auth3, "BYE", now=104.0).status is AuthStatus.INVALID


def test_server_failures() -> None:
    srv = make_server()
    (value, _) = srv.challenges(now=0.0)
    good = DigestClient("1001", "s3cret").authorize(value, method="REGISTER", uri="sip:h")
    assert srv.verify(good, "REGISTER", now=301.0).status is AuthStatus.STALE
    stale = parse_challenge(srv.challenges(now=400.0, stale=True)[0])
    assert stale.stale
    bad_pw = DigestClient("1001", "nope").authorize(value, method="REGISTER", uri="sip:h")
    assert srv.verify(bad_pw, "REGISTER", now=1.0).status is AuthStatus.INVALID
    unknown = DigestClient("9999", "x").authorize(value, method="REGISTER", uri="sip:h")
    assert srv.verify(unknown, "REGISTER", now=1.0).status is AuthStatus.UNKNOWN_USER
    forged = Challenge("hotline", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "SHA-256")
    f = build_authorization(forged, method="REGISTER", uri="sip:h", username="1001", password="s3cret")
    assert srv.verify(f, "REGISTER", now=1.0).status is AuthStatus.BAD_NONCE
    other_realm = Challenge("elsewhere", parse_challenge(value).nonce, "SHA-256")
    o = build_authorization(other_realm, method="REGISTER", uri="sip:h", username="1001", password="s3cret")
    assert srv.verify(o, "REGISTER", now=1.0).status is AuthStatus.WRONG_REALM
    assert srv.verify("Basic Zm9vOmJhcg==", "REGISTER", now=1.0).status is AuthStatus.MALFORMED
    assert srv.verify("Digest username=", "REGISTER", now=1.0).status is AuthStatus.MALFORMED
    # RFC 2069 style (no qop) refused unless allowed
    no_qop = Challenge("hotline", parse_challenge(value).nonce, "SHA-256", [])
    n = build_authorization(no_qop, method="REGISTER", uri="sip:h", username="1001", password="s3cret")
    assert srv.verify(n, "REGISTER", now=1.0).status is AuthStatus.MALFORMED
    lenient = make_server(allow_no_qop=True)
    assert lenient.verify(n, "REGISTER", now=1.0).ok
    # MD5 response accepted when MD5 offered
    md5 = Challenge("hotline", parse_challenge(value).nonce, "MD5")
    m = build_authorization(md5, method="REGISTER", uri="sip:h", username="1001", password="s3cret")
    assert srv.verify(m, "REGISTER", now=2.0).ok
    sha_only = make_server(algorithms=("SHA-256",))
    assert sha_only.verify(m, "REGISTER", now=2.0).status is AuthStatus.MALFORMED


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_verify_never_raises(value: str) -> None:
    make_server().verify(value, "INVITE", now=0.0)


@settings(max_examples=50)
@given(st.integers(1, 50), st.randoms())
def test_nonce_counts_must_increase(n: int, rnd: random.Random) -> None:
    srv = make_server()
    value = srv.challenges(now=0.0)[0]
    ch = parse_challenge(value)
    seen = 0
    for _ in range(n):
        nc = rnd.randint(1, 20)
        auth = build_authorization(
            ch, method="OPTIONS", uri="sip:h", username="1001", password="s3cret", nc=nc, cnonce="c"
        )
        result = srv.verify(auth, "OPTIONS", now=1.0)
        assert result.ok == (nc > seen)
        seen = max(seen, nc)


@settings(max_examples=300)
@given(st.text(alphabet='Digest usernamrlmcoqp=",\\ \t-0123456789abcdef', max_size=120))
def test_header_parsers_only_raise_sip_parse_error(value: str) -> None:
    from hotline.sip.errors import SipParseError

    for parser in (parse_challenge, parse_credentials):
        with contextlib.suppress(SipParseError):
            parser(value)


def test_digest_uri_must_match_request_uri_when_checked() -> None:
    srv = make_server()
    value = srv.challenges(now=0.0)[0]
    auth = DigestClient("1001", "s3cret").authorize(value, method="REGISTER", uri="sip:hotline")
    assert srv.verify(auth, "REGISTER", 1.0, request_uri="sip:other").status is AuthStatus.MALFORMED
    assert srv.verify(auth, "REGISTER", 1.0, request_uri="sip:hotline").ok
