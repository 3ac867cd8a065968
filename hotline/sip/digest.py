"""HTTP Digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760, RFC 3261 §22).

Server side: :class:`DigestServer` issues challenges (``WWW-Authenticate`` /
``Proxy-Authenticate``) with self-validating HMAC nonces and verifies
``Authorization`` / ``Proxy-Authorization`` with nonce expiry and nonce-count replay
protection.  Client side: :func:`build_authorization` / :class:`DigestClient`.
Time is always passed in (``now``, seconds, any monotonic origin).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from hotline.sip.errors import SipParseError
from hotline.sip.headers import TOKEN_CHARS, quote, read_quoted

ALGORITHMS: dict[str, str] = {"MD5": "md5", "SHA-256": "sha256", "SHA-512-256": "sha512_256"}


def _hash(algorithm: str, data: str | bytes) -> str:
    base = algorithm.upper().removesuffix("-SESS")
    name = ALGORITHMS.get(base)
    if name is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.new(name, raw).hexdigest()


def compute_ha1(
    username: str,
    realm: str,
    password: str,
    algorithm: str = "MD5",
    *,
    nonce: str = "",
    cnonce: str = "",
) -> str:
    """H(username:realm:password), or the ``-sess`` variant when ``algorithm`` ends so."""
    ha1 = _hash(algorithm, f"{username}:{realm}:{password}")
    if algorithm.upper().endswith("-SESS"):
        ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce}")
    return ha1


def compute_response(
    *,
    ha1: str,
    method: str,
    uri: str,
    nonce: str,
    algorithm: str = "MD5",
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """request-digest from a precomputed HA1 (RFC 7616 §3.4.1, RFC 2069 when qop is None)."""
    if qop == "auth-int":
        ha2 = _hash(algorithm, f"{method}:{uri}:{_hash(algorithm, body)}")
    else:
        ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop:
        return _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")


def parse_auth_params(value: str) -> tuple[str, dict[str, str]]:
    """Parse ``Scheme k=v, k="v", ...``; returns (scheme, params with lower-cased keys)."""
    text = value.strip()
    i = 0
    n = len(text)
    while i < n and text[i] in TOKEN_CHARS:
        i += 1
    scheme = text[:i]
    if not scheme:
        raise SipParseError("Malformed authentication header")
    params: dict[str, str] = {}
    while i < n:
        while i < n and text[i] in " \t,":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] in TOKEN_CHARS:
            i += 1
        name = text[start:i].lower()
        while i < n and text[i] in " \t":
            i += 1
        if not name or i >= n or text[i] != "=":
            raise SipParseError("Malformed authentication parameter")
        i += 1
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == '"':
            val, i = read_quoted(text, i)
        else:
            start = i
            while i < n and text[i] not in " \t,":
                i += 1
            val = text[start:i]
        params[name] = val
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] != ",":
            raise SipParseError("Malformed authentication parameter list")
    return scheme, params


@dataclass
class Challenge:
    """A Digest challenge (WWW-Authenticate / Proxy-Authenticate value)."""

    realm: str
    nonce: str
    algorithm: str = "MD5"
    qop: list[str] = field(default_factory=lambda: ["auth"])
    opaque: str | None = None
    stale: bool = False
    domain: str | None = None

    def __str__(self) -> str:
        parts = [f"realm={quote(self.realm)}"]
        if self.domain is not None:
            parts.append(f"domain={quote(self.domain)}")
        parts.append(f"nonce={quote(self.nonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.stale:
            parts.append("stale=true")
        parts.append(f"algorithm={self.algorithm}")
        if self.qop:
            parts.append(f"qop={quote(','.join(self.qop))}")
        return "Digest " + ", ".join(parts)


def parse_challenge(value: str) -> Challenge:
    scheme, p = parse_auth_params(value)
    if scheme.lower() != "digest" or "realm" not in p or "nonce" not in p:
        raise SipParseError("Not a Digest challenge")
    qop = [q.strip() for q in p["qop"].split(",") if q.strip()] if "qop" in p else []
    return Challenge(
        realm=p["realm"],
        nonce=p["nonce"],
        algorithm=p.get("algorithm", "MD5"),
        qop=qop,
        opaque=p.get("opaque"),
        stale=p.get("stale", "").lower() == "true",
        domain=p.get("domain"),
    )


@dataclass
class Credentials:
    """Parsed Authorization / Proxy-Authorization (Digest) value."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    algorithm: str = "MD5"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    opaque: str | None = None

    def __str__(self) -> str:
        parts = [
            f"username={quote(self.username)}",
            f"realm={quote(self.realm)}",
            f"nonce={quote(self.nonce)}",
            f"uri={quote(self.uri)}",
            f"response={quote(self.response)}",
            f"algorithm={self.algorithm}",
        ]
        if self.cnonce is not None:
            parts.append(f"cnonce={quote(self.cnonce)}")
        if self.opaque is not None:
            parts.append(f"opaque={quote(self.opaque)}")
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        if self.nc is not None:
            parts.append(f"nc={self.nc}")
        return "Digest " + ", ".join(parts)


def parse_credentials(value: str) -> Credentials:
    scheme, p = parse_auth_params(value)
    if scheme.lower() != "digest":
        raise SipParseError(f"Unsupported authentication scheme {scheme!r}")
    try:
        creds = Credentials(
            username=p["username"],
            realm=p["realm"],
            nonce=p["nonce"],
            uri=p["uri"],
            response=p["response"].lower(),
            algorithm=p.get("algorithm", "MD5"),
            qop=p.get("qop"),
            nc=p.get("nc"),
            cnonce=p.get("cnonce"),
            opaque=p.get("opaque"),
        )
    except KeyError as exc:
        raise SipParseError(f"Missing digest parameter {exc.args[0]}") from None
    if creds.qop is not None and (creds.nc is None or creds.cnonce is None):
        raise SipParseError("qop without nc/cnonce")
    if creds.nc is not None and (
        len(creds.nc) != 8 or any(c not in "0123456789abcdefABCDEF" for c in creds.nc)
    ):
        raise SipParseError("Malformed nc")
    return creds


def build_authorization(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    nc: int = 1,
    cnonce: str | None = None,
    body: bytes = b"",
    rng: random.Random | None = None,
) -> str:
    """Client side: the Authorization header value answering ``challenge``."""
    qop: str | None = None
    if "auth" in challenge.qop:
        qop = "auth"
    elif "auth-int" in challenge.qop:
        qop = "auth-int"
    if qop and cnonce is None:
        r = rng if rng is not None else secrets.SystemRandom()
        cnonce = f"{r.getrandbits(64):016x}"
    nc_s = f"{nc:08x}" if qop else None
    ha1 = compute_ha1(
        username, challenge.realm, password, challenge.algorithm, nonce=challenge.nonce, cnonce=cnonce or ""
    )
    response = compute_response(
        ha1=ha1,
        method=method,
        uri=uri,
        nonce=challenge.nonce,
        algorithm=challenge.algorithm,
        qop=qop,
        nc=nc_s,
        cnonce=cnonce if qop else None,
        body=body,
    )
    creds = Credentials(
        username, challenge.realm, challenge.nonce, uri, response, challenge.algorithm,
        qop, nc_s, cnonce if qop else None, challenge.opaque,
    )  # fmt: skip
    return str(creds)


class DigestClient:
    """Keeps nonce counts per nonce so repeated requests reuse a challenge correctly."""

    def __init__(self, username: str, password: str, rng: random.Random | None = None) -> None:
        self.username = username
        self.password = password
        self._rng = rng
        self._nc: dict[str, int] = {}

    def authorize(self, challenge_value: str, *, method: str, uri: str, body: bytes = b"") -> str:
        """Answer a WWW-Authenticate / Proxy-Authenticate value."""
        ch = parse_challenge(challenge_value)
        if ch.algorithm.upper().removesuffix("-SESS") not in ALGORITHMS:
            raise SipParseError(f"Unsupported digest algorithm {ch.algorithm}")
        nc = self._nc.get(ch.nonce, 0) + 1
        self._nc[ch.nonce] = nc
        return build_authorization(
            ch, method=method, uri=uri, username=self.username, password=self.password,
            nc=nc, body=body, rng=self._rng,
        )  # fmt: skip


class AuthStatus(Enum):
    OK = "ok"
    STALE = "stale"  # correct credentials on an expired nonce: re-challenge with stale=true
    INVALID = "invalid"  # wrong password / response
    UNKNOWN_USER = "unknown_user"
    REPLAY = "replay"  # nonce count did not increase
    MALFORMED = "malformed"
    WRONG_REALM = "wrong_realm"
    BAD_NONCE = "bad_nonce"  # not issued by us (fails HMAC)


@dataclass(frozen=True)
class AuthResult:
    status: AuthStatus
    username: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is AuthStatus.OK


#: ``lookup(username, realm, algorithm) -> HA1 hex or None``
HA1Lookup = Callable[[str, str, str], str | None]


class DigestServer:
    """Server (UAS / registrar / proxy) side of Digest.

    Nonces are ``base64(issued_at || random || HMAC(secret, issued_at || random))`` so
    they can be checked without state; nonce-counts are tracked per nonce (pruned once
    the nonce expires) for replay protection.  ``lookup`` returns the HA1 for a user (so
    plain passwords need not be stored); use :func:`compute_ha1` to derive it.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        lookup: HA1Lookup,
        *,
        nonce_ttl: float = 300.0,
        algorithms: tuple[str, ...] = ("SHA-256", "MD5"),
        qop: str = "auth",
        allow_no_qop: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        for alg in algorithms:
            if alg.upper() not in ALGORITHMS:
                raise ValueError(f"unsupported digest algorithm {alg!r}")
        self.realm = realm
        self._secret = secret
        self._lookup = lookup
        self.nonce_ttl = nonce_ttl
        self.algorithms = algorithms
        self.qop = qop
        self.allow_no_qop = allow_no_qop
        self._rng = rng if rng is not None else secrets.SystemRandom()
        self.opaque = base64.b64encode(
            hmac.new(secret, b"opaque:" + realm.encode(), "sha256").digest()[:12]
        ).decode()
        self._nc_seen: dict[str, tuple[float, int]] = {}
        self._prune_at = 1024
        self._pruned_at = 0.0

    # -- nonces ---------------------------------------------------------------
    def make_nonce(self, now: float) -> str:
        payload = struct.pack(">d", now) + self._rng.getrandbits(64).to_bytes(8, "big")
        mac = hmac.new(self._secret, payload, "sha256").digest()[:16]
        return base64.b64encode(payload + mac).decode()

    def _nonce_issued_at(self, nonce: str) -> float | None:
        try:
            raw = base64.b64decode(nonce.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            return None
        if len(raw) != 32:
            return None
        payload, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, hmac.new(self._secret, payload, "sha256").digest()[:16]):
            return None
        issued: float = struct.unpack(">d", payload[:8])[0]
        return issued

    # -- challenge ------------------------------------------------------------
    def challenges(self, now: float, *, stale: bool = False) -> list[str]:
        """Challenge values, one per algorithm (each its own nonce), most preferred first (RFC 8760)."""
        return [
            str(Challenge(self.realm, self.make_nonce(now), alg, [self.qop], self.opaque, stale))
            for alg in self.algorithms
        ]

    def challenge_headers(
        self, now: float, *, proxy: bool = False, stale: bool = False
    ) -> list[tuple[str, str]]:
        """``(name, value)`` pairs to add to a 401 (or 407 when ``proxy``)."""
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        return [(name, value) for value in self.challenges(now, stale=stale)]

    # -- verification ---------------------------------------------------------
    def _prune(self, now: float) -> None:
        # Amortised O(1): rebuild only when the table doubled since the last prune or a
        # quarter TTL passed (pruning at every call above a fixed size was O(n) per
        # request once more than 1024 nonces were live, i.e. under registration load).
        if len(self._nc_seen) > self._prune_at or now - self._pruned_at > self.nonce_ttl / 4:
            limit = now - self.nonce_ttl
            self._nc_seen = {k: v for k, v in self._nc_seen.items() if v[0] >= limit}
            self._prune_at = max(1024, 2 * len(self._nc_seen))
            self._pruned_at = now

    def verify(
        self,
        header_value: str,
        method: str,
        now: float,
        *,
        body: bytes = b"",
        request_uri: str | None = None,
    ) -> AuthResult:
        """Check an Authorization / Proxy-Authorization value for a request ``method``.

        If ``request_uri`` is given, the digest ``uri`` must equal it (RFC 7616 §3.4.6;
        compared as strings, so pass the Request-URI exactly as received).
        """
        try:
            creds = parse_credentials(header_value)
        except SipParseError:
            return AuthResult(AuthStatus.MALFORMED)
        user = creds.username
        if request_uri is not None and creds.uri != request_uri:
            return AuthResult(AuthStatus.MALFORMED, user)
        if creds.realm != self.realm:
            return AuthResult(AuthStatus.WRONG_REALM, user)
        alg = creds.algorithm.upper()
        if alg not in (a.upper() for a in self.algorithms):
            return AuthResult(AuthStatus.MALFORMED, user)
        if creds.qop is None and not self.allow_no_qop:
            return AuthResult(AuthStatus.MALFORMED, user)
        if creds.qop is not None and creds.qop != self.qop:
            return AuthResult(AuthStatus.MALFORMED, user)
        issued = self._nonce_issued_at(creds.nonce)
        if issued is None:
            return AuthResult(AuthStatus.BAD_NONCE, user)
        ha1 = self._lookup(user, self.realm, alg)
        if ha1 is None:
            return AuthResult(AuthStatus.UNKNOWN_USER, user)
        expected = compute_response(
            ha1=ha1, method=method, uri=creds.uri, nonce=creds.nonce, algorithm=alg,
            qop=creds.qop, nc=creds.nc, cnonce=creds.cnonce, body=body,
        )  # fmt: skip
        if not hmac.compare_digest(expected, creds.response):
            return AuthResult(AuthStatus.INVALID, user)
        if now - issued > self.nonce_ttl or now < issued - 1.0:
            return AuthResult(AuthStatus.STALE, user)
        if creds.nc is not None:
            nc = int(creds.nc, 16)
            key = creds.nonce
            seen = self._nc_seen.get(key)
            if seen is not None and nc <= seen[1]:
                return AuthResult(AuthStatus.REPLAY, user)
            self._prune(now)
            self._nc_seen[key] = (issued, nc)
        return AuthResult(AuthStatus.OK, user)
