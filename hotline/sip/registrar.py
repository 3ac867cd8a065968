"""Registrar (RFC 3261 §10.3): a pure bindings store and the REGISTER handler.

:class:`Bindings` is pure (time passed in): address-of-record → contacts with expiry,
``q``, and the Call-ID/CSeq ordering rules of §10.3 step 7.  :class:`Registrar` is the
shell around it: digest authentication against the extensions table (realm = tenant
slug), lockout/trust through :class:`~hotline.sip.protection.Protection`, and the
``200 OK`` listing every current contact.

Each binding remembers where the REGISTER came from (source address, transport and,
for TCP, the connection — an RFC 5626-lite "flow"), and that is where calls and
keep-alive pings are sent, so phones behind NAT stay reachable.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.sip.digest import AuthResult, AuthStatus, DigestServer, parse_credentials
from hotline.sip.errors import SipParseError
from hotline.sip.extensions import SipCredentials, find_credentials, tenant_for_domain
from hotline.sip.message import Request, Response, make_response
from hotline.sip.protection import Protection
from hotline.sip.uri import SipURI, parse_uri

log = logging.getLogger(__name__)

#: address-of-record: (tenant id, extension number)
Aor = tuple[int, str]


# ===================================================================== pure store
@dataclass(frozen=True)
class ContactSpec:
    """One Contact of a REGISTER request."""

    uri: str
    expires: int | None = None  # the ``expires`` Contact parameter
    q: float | None = None
    instance: str | None = None  # ``+sip.instance`` (RFC 5626), informational


@dataclass(frozen=True)
class RegisterUpdate:
    """What a REGISTER asks for, independent of the wire format."""

    contacts: Sequence[ContactSpec]
    call_id: str
    cseq: int
    expires: int | None = None  # the Expires header
    star: bool = False  # ``Contact: *``
    source_host: str | None = None
    source_port: int | None = None
    transport: str = "UDP"
    flow: object = None  # e.g. the TCP connection the REGISTER came on
    user_agent: str = ""


@dataclass
class Contact:
    """A registered contact (binding) of an address-of-record."""

    aor: Aor
    uri: str
    expires_at: float
    q: float
    call_id: str
    cseq: int
    registered_at: float
    source_host: str | None = None
    source_port: int | None = None
    transport: str = "UDP"
    flow: object = None
    instance: str | None = None
    user_agent: str = ""
    failed_pings: int = 0

    def expires_in(self, now: float) -> int:
        return max(0, math.ceil(self.expires_at - now - 1e-9))

    def alive(self, now: float) -> bool:
        return self.expires_at > now

    @property
    def destination(self) -> tuple[str, int] | None:
        """Where to reach the phone: the source address of its REGISTER (NAT-friendly)."""
        if self.source_host is None or self.source_port is None:
            return None
        return self.source_host, self.source_port


@dataclass(frozen=True)
class RegisterResult:
    status: int
    reason: str = ""
    contacts: tuple[Contact, ...] = ()
    min_expires: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


def _uri_equal(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        ua, ub = parse_uri(a), parse_uri(b)
    except SipParseError:
        return False
    if isinstance(ua, SipURI):
        return ua.equivalent(ub)
    return str(ua) == str(ub)


@dataclass
class Bindings:
    """In-memory location service.  All methods take ``now`` (seconds, monotonic)."""

    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    max_contacts: int = 10
    _table: dict[Aor, list[Contact]] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(v) for v in self._table.values())

    def aors(self) -> list[Aor]:
        return list(self._table)

    def apply(self, aor: Aor, update: RegisterUpdate, now: float) -> RegisterResult:
        """Process one REGISTER (RFC 3261 §10.3 steps 6-8); atomic: on failure nothing changes."""
        self._purge_aor(aor, now)
        current = self._table.get(aor, [])
        if update.star:
            if update.contacts or update.expires != 0:
                return RegisterResult(400, "Contact * requires Expires: 0 and no other Contact")
            for c in current:
                if c.call_id == update.call_id and update.cseq <= c.cseq:
                    return RegisterResult(400, "Out-of-order CSeq")
            self._table.pop(aor, None)
            return RegisterResult(200, "OK", ())
        # step 6: expiration of every contact (validate before changing anything)
        plan: list[tuple[ContactSpec, int]] = []
        for spec in update.contacts:
            exp = spec.expires if spec.expires is not None else update.expires
            if exp is None:
                exp = self.default_expires
            if exp != 0 and exp < self.min_expires:
                return RegisterResult(423, "Interval Too Brief", min_expires=self.min_expires)
            plan.append((spec, min(exp, self.max_expires)))
        # step 7: ordering rules
        for spec, _exp in plan:
            for c in current:
                if _uri_equal(c.uri, spec.uri) and c.call_id == update.call_id and update.cseq <= c.cseq:
                    return RegisterResult(400, "Out-of-order CSeq")
        new = list(current)
        for spec, exp in plan:
            existing = next((c for c in new if _uri_equal(c.uri, spec.uri)), None)
            if exp == 0:
                if existing is not None:
                    new.remove(existing)
                continue
            q = spec.q if spec.q is not None else 1.0
            contact = Contact(
                aor=aor,
                uri=spec.uri,
                expires_at=now + exp,
                q=q,
                call_id=update.call_id,
                cseq=update.cseq,
                registered_at=now,
                source_host=update.source_host,
                source_port=update.source_port,
                transport=update.transport,
                flow=update.flow,
                instance=spec.instance,
                user_agent=update.user_agent,
            )
            if existing is not None:
                new[new.index(existing)] = contact
            else:
                new.append(contact)
        if len(new) > self.max_contacts:
            # keep the most recently registered contacts
            new.sort(key=lambda c: c.registered_at)
            new = new[len(new) - self.max_contacts :]
        if new:
            self._table[aor] = new
        else:
            self._table.pop(aor, None)
        return RegisterResult(200, "OK", tuple(self.contacts_for(aor, now)))

    def contacts_for(self, aor: Aor, now: float) -> list[Contact]:
        """Live contacts of ``aor``, highest q first (then most recently registered)."""
        live = [c for c in self._table.get(aor, []) if c.expires_at > now]
        live.sort(key=lambda c: (-c.q, -c.registered_at))
        return live

    def all_contacts(self, now: float) -> list[Contact]:
        return [c for lst in self._table.values() for c in lst if c.expires_at > now]

    def remove(self, contact: Contact) -> bool:
        """Drop one binding (e.g. its phone stopped answering keep-alives)."""
        lst = self._table.get(contact.aor)
        if lst is None or contact not in lst:
            return False
        lst.remove(contact)
        if not lst:
            del self._table[contact.aor]
        return True

    def remove_flow(self, flow: object) -> int:
        """Drop every binding reached over ``flow`` (a closed TCP connection)."""
        removed = 0
        for aor in list(self._table):
            keep = [c for c in self._table[aor] if c.flow is not flow]
            removed += len(self._table[aor]) - len(keep)
            if keep:
                self._table[aor] = keep
            else:
                del self._table[aor]
        return removed

    def _purge_aor(self, aor: Aor, now: float) -> None:
        lst = self._table.get(aor)
        if lst is None:
            return
        live = [c for c in lst if c.expires_at > now]
        if live:
            self._table[aor] = live
        else:
            del self._table[aor]

    def purge(self, now: float) -> int:
        """Forget expired bindings; returns how many were removed."""
        before = len(self)
        for aor in list(self._table):
            self._purge_aor(aor, now)
        return before - len(self)


def update_from_request(
    request: Request,
    *,
    source_host: str | None = None,
    source_port: int | None = None,
    transport: str = "UDP",
    flow: object = None,
) -> RegisterUpdate:
    """Build a :class:`RegisterUpdate` from a parsed REGISTER (raises SipParseError)."""
    specs: list[ContactSpec] = []
    for na in request.contacts:
        exp = na.params.get("expires")
        q = na.params.get("q")
        instance = na.params.get("+sip.instance")
        specs.append(
            ContactSpec(
                uri=str(na.uri),
                expires=int(exp) if exp is not None else None,
                q=float(q) if q is not None else None,
                instance=instance.strip('"<>') if instance else None,
            )
        )
    return RegisterUpdate(
        contacts=specs,
        call_id=request.call_id,
        cseq=request.cseq.seq,
        expires=request.expires,
        star=request.contact_star,
        source_host=source_host,
        source_port=source_port,
        transport=transport,
        flow=flow,
        user_agent=(request.headers.get("User-Agent") or "")[:200],
    )


# ======================================================================= shell
def _same_uri(digest_uri: str, request: Request) -> bool:
    """Whether the digest ``uri`` names the Request-URI (exactly, or as an equivalent SIP URI).

    Our parser normalises parameter names, so the re-serialised Request-URI may differ in
    case from what the phone hashed; an equivalent URI is accepted.
    """
    if digest_uri == str(request.uri):
        return True
    try:
        parsed = parse_uri(digest_uri)
    except SipParseError:
        return False
    if isinstance(parsed, SipURI):
        return parsed.equivalent(request.uri)
    return str(parsed) == str(request.uri)


CredentialsLookup = Callable[[str, str], Awaitable[SipCredentials | None]]
RealmLookup = Callable[[str], Awaitable[str]]


def db_credentials(factory: async_sessionmaker[AsyncSession]) -> CredentialsLookup:
    async def lookup(domain: str, number: str) -> SipCredentials | None:
        return await find_credentials(factory, domain, number)

    return lookup


def db_realm(factory: async_sessionmaker[AsyncSession]) -> RealmLookup:
    """The realm a domain challenges with, whether or not the user exists (no enumeration)."""

    async def lookup(domain: str) -> str:
        async with factory() as s:
            tenant = await tenant_for_domain(s, domain)
        return tenant.slug if tenant is not None else domain.lower()

    return lookup


@dataclass
class RegistrarCounters:
    registrations: int = 0
    unregistrations: int = 0
    challenges: int = 0
    auth_failures: int = 0
    lockouts: int = 0
    forbidden: int = 0


class Registrar:
    """REGISTER handling with digest authentication, on top of :class:`Bindings`.

    ``credentials(domain, number)`` and ``realm(domain)`` are async lookups (the
    database by default, see :func:`db_credentials`); results are cached for
    ``cache_ttl`` seconds (negative results too) so a REGISTER and its authenticated
    retry cost one lookup, and so floods of unknown users cannot hammer the database.
    """

    _FAILURES = frozenset(
        {
            AuthStatus.INVALID,
            AuthStatus.UNKNOWN_USER,
            AuthStatus.MALFORMED,
            AuthStatus.WRONG_REALM,
            AuthStatus.REPLAY,
        }
    )

    def __init__(
        self,
        credentials: CredentialsLookup,
        realm: RealmLookup,
        *,
        bindings: Bindings | None = None,
        protection: Protection | None = None,
        secret: bytes | None = None,
        algorithms: tuple[str, ...] = ("MD5", "SHA-256"),
        nonce_ttl: float = 300.0,
        cache_ttl: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials
        self._realm = realm
        self.bindings = bindings if bindings is not None else Bindings()
        self.protection = protection if protection is not None else Protection()
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.algorithms = algorithms
        self.nonce_ttl = nonce_ttl
        self.cache_ttl = cache_ttl
        self._wall = wall_clock
        self._digest: dict[str, DigestServer] = {}
        self._verifying: SipCredentials | None = None
        self._creds_cache: dict[tuple[str, str], tuple[float, SipCredentials | None]] = {}
        self._realm_cache: dict[str, tuple[float, str]] = {}
        self.counters = RegistrarCounters()

    # -- lookups ------------------------------------------------------------------
    async def credentials(self, domain: str, number: str, now: float) -> SipCredentials | None:
        """An extension's credentials, cached for ``cache_ttl`` (REGISTER and INVITE use this)."""
        key = (domain.lower(), number)
        hit = self._creds_cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        creds = await self._credentials(domain, number)
        if len(self._creds_cache) > 10_000:
            self._creds_cache = {k: v for k, v in self._creds_cache.items() if v[0] > now}
            if len(self._creds_cache) > 10_000:
                self._creds_cache.clear()
        self._creds_cache[key] = (now + self.cache_ttl, creds)
        return creds

    async def _get_realm(self, domain: str, now: float) -> str:
        key = domain.lower()
        hit = self._realm_cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        realm = await self._realm(domain)
        if len(self._realm_cache) > 10_000:
            self._realm_cache.clear()
        self._realm_cache[key] = (now + self.cache_ttl, realm)
        return realm

    def invalidate(self) -> None:
        """Forget cached credentials (call after extensions change)."""
        self._creds_cache.clear()
        self._realm_cache.clear()

    def _digest_for(self, realm: str) -> DigestServer:
        ds = self._digest.get(realm)
        if ds is None:
            if len(self._digest) > 10_000:
                self._digest.clear()
            ds = DigestServer(
                realm, self._secret, self._lookup_ha1, nonce_ttl=self.nonce_ttl, algorithms=self.algorithms
            )
            self._digest[realm] = ds
        return ds

    def _lookup_ha1(self, username: str, realm: str, algorithm: str) -> str | None:
        creds = self._verifying
        if creds is None or creds.number != username or creds.realm != realm:
            return None
        return creds.ha1(algorithm)

    # -- digest, shared by REGISTER and the call layer's INVITE authentication -----------
    def challenge_headers(
        self, realm: str, *, proxy: bool = False, stale: bool = False
    ) -> list[tuple[str, str]]:
        """(WWW|Proxy)-Authenticate headers for ``realm``, one per configured algorithm."""
        self.counters.challenges += 1
        return self._digest_for(realm).challenge_headers(self._wall(), proxy=proxy, stale=stale)

    def verify(self, value: str, method: str, creds: SipCredentials | None, realm: str) -> AuthResult:
        """Check an (Proxy-)Authorization value against ``creds`` (None: unknown user)."""
        self._verifying = creds
        try:
            return self._digest_for(realm).verify(value, method, self._wall())
        finally:
            self._verifying = None

    # -- REGISTER -------------------------------------------------------------------
    def _challenge(self, request: Request, realm: str, *, stale: bool = False) -> Response:
        resp = make_response(request, 401)
        for name, value in self.challenge_headers(realm, stale=stale):
            resp.headers.add(name, value)
        return resp

    def _forbidden(self, request: Request, reason: str = "Forbidden") -> Response:
        self.counters.forbidden += 1
        return make_response(request, 403, reason)

    async def handle(
        self,
        request: Request,
        now: float,
        *,
        source_host: str,
        source_port: int,
        transport: str = "UDP",
        flow: object = None,
    ) -> Response:
        """Answer one REGISTER (never raises for bad input: answers 4xx)."""
        try:
            to_uri = request.to_addr.uri
        except SipParseError:
            return make_response(request, 400, "Malformed To")
        if not isinstance(to_uri, SipURI) or not to_uri.user:
            return make_response(request, 404, "Not Found")
        user, domain = to_uri.user, to_uri.host
        ip = source_host
        if self.protection.locked(ip, user, now) > 0:
            return self._forbidden(request)
        auth_values = request.headers.get_all("Authorization")
        creds = await self.credentials(domain, user, now)
        realm = creds.realm if creds is not None else await self._get_realm(domain, now)
        mine = None
        for value in auth_values:
            try:
                parsed = parse_credentials(value)
            except SipParseError:
                continue
            if parsed.realm == realm:
                mine = value
                break
        if mine is None and auth_values:
            mine = auth_values[0]
        if mine is None:
            return self._challenge(request, realm)
        try:
            parsed_creds = parse_credentials(mine)
            auth_user: str | None = parsed_creds.username
            uri_ok = _same_uri(parsed_creds.uri, request)
        except SipParseError:
            auth_user, uri_ok = None, False
        result = self.verify(mine, "REGISTER", creds, realm)
        if result.ok and not uri_ok:  # digest uri must name the Request-URI (RFC 7616 §3.4.6)
            result = replace(result, status=AuthStatus.MALFORMED)
        if result.status is AuthStatus.STALE:
            return self._challenge(request, realm, stale=True)
        if result.status is AuthStatus.BAD_NONCE:
            return self._challenge(request, realm)  # e.g. a nonce from before a restart
        if result.status in self._FAILURES or creds is None or auth_user != user:
            self.counters.auth_failures += 1
            log.info(
                "sip register auth failed: user=%r domain=%r source=%s:%s status=%s",
                user, domain, source_host, source_port, result.status.value,
            )  # fmt: skip
            if self.protection.auth_failed(ip, user, now):
                self.counters.lockouts += 1
                return self._forbidden(request)
            return self._challenge(request, realm)
        if not creds.enabled:
            return self._forbidden(request, "Extension Disabled")
        self.protection.auth_succeeded(ip, user, now)
        try:
            update = update_from_request(
                request, source_host=source_host, source_port=source_port, transport=transport, flow=flow
            )
        except (SipParseError, ValueError):
            return make_response(request, 400, "Malformed Contact")
        outcome = self.bindings.apply((creds.tenant_id, creds.number), update, now)
        resp = make_response(request, outcome.status, outcome.reason or None)
        if outcome.status == 423 and outcome.min_expires is not None:
            resp.headers.add("Min-Expires", str(outcome.min_expires))
        if outcome.ok:
            if update.star or all(
                (s.expires if s.expires is not None else update.expires) == 0 for s in update.contacts
            ):
                if update.contacts or update.star:
                    self.counters.unregistrations += 1
            elif update.contacts:
                self.counters.registrations += 1
            for c in outcome.contacts:
                resp.headers.add("Contact", f"<{c.uri}>;expires={c.expires_in(now)}")
        return resp

    def lookup(self, tenant_id: int, number: str, now: float) -> list[Contact]:
        """Live contacts of an extension, best first (for the call path)."""
        return self.bindings.contacts_for((tenant_id, number), now)


__all__ = [
    "Aor",
    "Bindings",
    "Contact",
    "ContactSpec",
    "RegisterResult",
    "RegisterUpdate",
    "Registrar",
    "RegistrarCounters",
    "db_credentials",
    "db_realm",
    "update_from_request",
]
