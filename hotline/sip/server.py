"""The SIP server shell: transports + transaction layer + registrar + protection.

Usage (what ``hotline serve`` does)::

    server = SipServer("0.0.0.0", 5060, session_factory, SipSettings())
    await server.start()          # binds UDP and TCP on the same port
    ...
    contacts = server.lookup(tenant_id, "1001")   # live contacts, best first
    await server.stop()

Requests flow: bytes → size/rate checks → ``parse_message`` (on error: ``error_response``
to the source, or drop) → ``stamp_via`` → :class:`TransactionLayer` → the request
dispatcher: REGISTER goes to the :class:`~hotline.sip.registrar.Registrar`; methods a
transaction user (the B2BUA) registered with :meth:`SipServer.set_request_handler` go to
it; OPTIONS is answered 200 (Allow/Accept/Supported); other methods of RFC 3261 and its
extensions get 405 with Allow, unknown methods 501.

The transaction user (B2BUA) plugs in with:

* ``set_request_handler(handler, methods)`` — ``handler(incoming: IncomingRequest)`` (sync
  or async) gets those methods; it answers with ``incoming.respond(status, ...)`` /
  ``incoming.send_response(resp)`` inside the server transaction; ACK to a 2xx arrives
  with ``incoming.tx is None``;
* ``await send_request(request, peer, on_provisional=cb)`` — a client transaction; returns
  the final response or None (timeout / transport failure);
* ``send_stateless(message, peer)`` (ACK to 2xx, 2xx retransmissions) and
  ``run_actions(actions, owner)`` to drive e.g. an ``OkRetransmitter`` on the server's timers;
* ``on_stray_response`` — responses matching no transaction (2xx retransmissions);
* ``peer_for(contact)`` — where to reach a registered phone (its REGISTER's source / TCP flow);
* ``protection.concurrency`` — acquire/release per source IP for dialogs.

Over the rate limit messages are dropped silently by default (see
:mod:`hotline.sip.protection`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import inspect
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.sip.errors import SipParseError
from hotline.sip.headers import NameAddr
from hotline.sip.helpers import generate_call_id, generate_tag
from hotline.sip.message import (
    Request,
    Response,
    error_response,
    make_request,
    make_response,
    parse_message,
    response_destination,
    stamp_via,
)
from hotline.sip.protection import Protection, ProtectionSettings
from hotline.sip.registrar import (
    Bindings,
    Contact,
    CredentialsLookup,
    RealmLookup,
    Registrar,
    db_credentials,
    db_realm,
)
from hotline.sip.transaction import (
    Action,
    CancelTimer,
    RequestReceived,
    ResponseReceived,
    Send,
    StartTimer,
    StrayResponse,
    Terminated,
    Timers,
    TransactionError,
    TransactionLayer,
    TransactionTimeout,
    TransportFailure,
    TxKey,
)
from hotline.sip.transport import Peer, TcpConnection, TimerService, UdpEndpoint
from hotline.sip.uri import SipURI, format_host, parse_uri

log = logging.getLogger(__name__)

#: methods of RFC 3261 and common extensions: answered 405 (with Allow) unless handled
KNOWN_METHODS = frozenset(
    {
        "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK", "SUBSCRIBE",
        "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE", "UPDATE",
    }
)  # fmt: skip


@dataclass
class SipSettings:
    """Settings of :class:`SipServer` (plain values: easy to fill from the app config)."""

    #: largest accepted message in bytes (UDP datagrams cannot exceed 65,535)
    max_message_size: int = 65535
    #: RFC 3261 timers (T1/T2/T4); tests shrink them
    timers: Timers = field(default_factory=Timers)
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600
    max_contacts_per_aor: int = 10
    #: seconds between OPTIONS pings to every registered contact (0 disables)
    keepalive_interval: float = 30.0
    #: consecutive unanswered pings (timeout or 408) before a binding is dropped
    keepalive_failures: int = 1
    #: challenge order (RFC 8760: clients use the first they support).  MD5 first by default:
    #: many deployed phones (and SIPp) only look at the first WWW-Authenticate and fail
    #: on SHA-256; put "SHA-256" first when every phone supports it.
    digest_algorithms: tuple[str, ...] = ("MD5", "SHA-256")
    nonce_ttl: float = 300.0
    #: nonce HMAC key; random per start when None (phones then get one extra 401 after a restart)
    secret: bytes | None = None
    #: seconds to cache extension credentials (and unknown users) between lookups
    credentials_cache_ttl: float = 5.0
    tcp_idle_timeout: float = 900.0
    #: host to put in Via/From of our own requests; default: the bound or outgoing address
    advertised_host: str | None = None
    enable_udp: bool = True
    enable_tcp: bool = True
    protection: ProtectionSettings = field(default_factory=ProtectionSettings)


@dataclass
class SipCounters:
    """Metrics of one server (see :meth:`SipServer.stats`)."""

    received: int = 0
    parse_errors: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    requests: Counter[str] = field(default_factory=Counter)
    responses_sent: Counter[int] = field(default_factory=Counter)
    responses_received: Counter[int] = field(default_factory=Counter)
    internal_errors: int = 0
    keepalive_pings: int = 0
    keepalive_dropped: int = 0
    tcp_connections: int = 0


class IncomingRequest:
    """A request for a transaction user, with a way to answer it in its transaction."""

    def __init__(self, server: SipServer, tx: TxKey | None, request: Request, peer: Peer) -> None:
        self.server = server
        self.tx = tx
        self.request = request
        self.peer = peer

    def respond(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        to_tag: str | None = None,
    ) -> Response:
        resp = make_response(self.request, status, reason, to_tag=to_tag)
        for name, value in headers:
            resp.headers.add(name, value)
        resp.body = body
        self.send_response(resp)
        return resp

    def send_response(self, response: Response) -> None:
        if self.tx is None:
            raise TransactionError("an ACK to a 2xx has no transaction to answer in")
        self.server.respond(self.tx, response)


RequestHandler = Callable[[IncomingRequest], Awaitable[None] | None]
StrayHandler = Callable[[Response, Peer], None]


class TimerOwner(Protocol):
    """Anything driven by timers that returns actions (e.g. an ``OkRetransmitter``)."""

    def timer_fired(self, name: str, now: float) -> list[Action]: ...


class SipServer:
    """UDP+TCP SIP server on one host/port with registrar, keep-alives and protection.

    ``session_factory`` is used to look up extension credentials; tests may instead pass
    ``credentials``/``realm`` lookups.  ``port=0`` picks a free port (the same for UDP
    and TCP).  Times are ``loop.time()`` (monotonic) except digest nonces (wall clock).
    """

    def __init__(
        self,
        host: str = "0.0.0.0",  # noqa: S104 - a server listens on all interfaces by default
        port: int = 5060,
        session_factory: async_sessionmaker[AsyncSession] | None = None,
        settings: SipSettings | None = None,
        *,
        credentials: CredentialsLookup | None = None,
        realm: RealmLookup | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.settings = s = settings or SipSettings()
        if credentials is None or realm is None:
            if session_factory is None:
                raise ValueError("SipServer needs a session_factory (or credentials and realm lookups)")
            credentials = credentials or db_credentials(session_factory)
            realm = realm or db_realm(session_factory)
        self.protection = Protection(s.protection)
        self.bindings = Bindings(
            min_expires=s.min_expires,
            max_expires=s.max_expires,
            default_expires=s.default_expires,
            max_contacts=s.max_contacts_per_aor,
        )
        self.registrar = Registrar(
            credentials,
            realm,
            bindings=self.bindings,
            protection=self.protection,
            secret=s.secret,
            algorithms=s.digest_algorithms,
            nonce_ttl=s.nonce_ttl,
            cache_ttl=s.credentials_cache_ttl,
        )
        self.transactions = TransactionLayer(s.timers)
        self.counters = SipCounters()
        self.on_stray_response: StrayHandler | None = None
        self._handler: RequestHandler | None = None
        self._handler_methods: frozenset[str] = frozenset()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timers: TimerService | None = None
        self._timer_owners: dict[TxKey, TimerOwner] = {}
        self._udp: UdpEndpoint | None = None
        self._tcp_server: asyncio.Server | None = None
        self._connections: set[TcpConnection] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._pending: dict[
            TxKey, tuple[asyncio.Future[Response | None], Callable[[Response], None] | None]
        ] = {}
        self._pinging: set[int] = set()
        self._in_progress: dict[TxKey, str] = {}  # server tx -> source IP (concurrency limit)
        self._keepalive_task: asyncio.Task[None] | None = None
        self._local_ip_cache: dict[str, str] = {}
        self._cseq = 0
        self.udp_address: tuple[str, int] | None = None
        self.tcp_address: tuple[str, int] | None = None
        self.running = False

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Bind UDP and TCP on ``host:port`` (same port) and start keep-alives."""
        if self.running:
            return
        self._loop = loop = asyncio.get_running_loop()
        self._timers = TimerService(loop, self._on_timer)
        attempts = 20 if self.port == 0 else 1
        for attempt in range(attempts):
            try:
                await self._bind(self.port)
                break
            except OSError as exc:
                self._close_sockets()
                if attempt + 1 >= attempts or exc.errno != errno.EADDRINUSE:
                    raise
        self.running = True
        if self.settings.keepalive_interval > 0:
            self._keepalive_task = loop.create_task(self._keepalive_loop())
        log.info("sip server listening on udp %s tcp %s", self.udp_address, self.tcp_address)

    async def _bind(self, port: int) -> None:
        assert self._loop is not None
        s = self.settings
        if s.enable_udp:
            _transport, proto = await self._loop.create_datagram_endpoint(
                lambda: UdpEndpoint(self._on_message), local_addr=(self.host, port)
            )
            self._udp = proto
            self.udp_address = proto.local_address
            port = self.udp_address[1]
        if s.enable_tcp:
            self._tcp_server = await asyncio.start_server(
                self._on_tcp_client, self.host, port, reuse_address=True
            )
            sockname = self._tcp_server.sockets[0].getsockname()
            self.tcp_address = (str(sockname[0]), int(sockname[1]))

    def _close_sockets(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp_server is not None:
            self._tcp_server.close()
            self._tcp_server = None
        self.udp_address = self.tcp_address = None

    async def stop(self) -> None:
        """Close sockets and connections, cancel timers, keep-alives and registrar tasks."""
        self.running = False
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive_task
            self._keepalive_task = None
        tcp = self._tcp_server
        self._close_sockets()
        for conn in list(self._connections):
            await conn.aclose()
        if tcp is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(tcp.wait_closed(), 2.0)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._timers is not None:
            self._timers.cancel_all()
        for fut, _cb in self._pending.values():
            if not fut.done():
                fut.set_result(None)
        self._pending.clear()
        # transactions cannot outlive their timers: start() begins with an empty table
        self.transactions = TransactionLayer(self.settings.timers)
        self._timer_owners.clear()
        for tx in list(self._in_progress):
            self._release(tx)

    # ------------------------------------------------------------------ public API
    @property
    def now(self) -> float:
        assert self._loop is not None, "server not started"
        return self._loop.time()

    def lookup(self, tenant_id: int, number: str, now: float | None = None) -> list[Contact]:
        """Live, reachable contacts of extension ``number`` (best first) — the call path.

        ``now`` defaults to :attr:`now` (the event loop's monotonic clock).
        """
        now = self.now if now is None else now
        return [c for c in self.registrar.lookup(tenant_id, number, now) if self.reachable(c)]

    @staticmethod
    def reachable(contact: Contact) -> bool:
        flow = contact.flow
        return not (isinstance(flow, TcpConnection) and flow.closed)

    @staticmethod
    def peer_for(contact: Contact) -> Peer | None:
        """Where to send requests for a registered contact (its REGISTER's source / flow)."""
        flow = contact.flow
        if isinstance(flow, TcpConnection):
            return None if flow.closed else flow.peer
        dest = contact.destination
        if dest is None:
            return None
        return Peer(contact.transport, dest[0], dest[1])

    @property
    def allowed_methods(self) -> list[str]:
        return sorted({"OPTIONS", "REGISTER"} | self._handler_methods)

    def set_request_handler(self, handler: RequestHandler | None, methods: Iterable[str] = ()) -> None:
        """Install the transaction user (the B2BUA) for ``methods`` (e.g. INVITE, ACK, BYE, CANCEL).

        ``handler(incoming)`` may be sync or async; it answers with ``incoming.respond``.
        An ACK to a 2xx arrives with ``incoming.tx is None``.  A CANCEL is passed on
        too (look up the INVITE with ``server.transactions.find_cancel_target``).
        """
        self._handler = handler
        self._handler_methods = frozenset(m.upper() for m in methods) if handler is not None else frozenset()

    def respond(self, tx: TxKey, response: Response) -> None:
        """Send ``response`` in server transaction ``tx``."""
        now = self.now
        if response.status >= 200:
            self._release(tx)
        try:
            actions = self.transactions.respond(tx, response, now)
        except TransactionError as exc:
            log.debug("sip: cannot respond %s in %s: %s", response.status, tx, exc)
            return
        self.run_actions(actions)

    async def send_request(
        self,
        request: Request,
        peer: Peer,
        *,
        on_provisional: Callable[[Response], None] | None = None,
    ) -> Response | None:
        """Send ``request`` in a client transaction; the final response, or None on timeout/failure."""
        assert self._loop is not None, "server not started"
        key, actions = self.transactions.send_request(
            request, self.now, reliable=peer.reliable, destination=peer
        )
        fut: asyncio.Future[Response | None] = self._loop.create_future()
        self._pending[key] = (fut, on_provisional)
        self.run_actions(actions)
        try:
            return await fut
        finally:
            self._pending.pop(key, None)

    def send_stateless(self, message: Request | Response, peer: Peer) -> bool:
        """Send outside any transaction (ACK to a 2xx, 2xx retransmissions)."""
        return self._transmit(message, peer)

    def run_actions(self, actions: list[Action], owner: TimerOwner | None = None) -> None:
        """Carry out actions; timers started here fire back into ``owner`` (default: transactions)."""
        now = self.now
        for a in actions:
            if isinstance(a, Send):
                dest = a.destination
                sent = isinstance(dest, Peer) and self._transmit(a.message, dest)
                if not sent and owner is None:
                    self.run_actions(self.transactions.transport_error(a.tx, now))
            elif isinstance(a, StartTimer):
                if owner is not None:
                    self._timer_owners[a.tx] = owner
                assert self._timers is not None
                self._timers.start(a.tx, a.name, a.at)
            elif isinstance(a, CancelTimer):
                assert self._timers is not None
                self._timers.cancel(a.tx, a.name)
            elif isinstance(a, RequestReceived):
                self._dispatch(a)
            elif isinstance(a, ResponseReceived):
                self._response_for_tu(a.tx, a.response)
            elif isinstance(a, TransactionTimeout | TransportFailure):
                pending = self._pending.get(a.tx)
                if pending is not None and not pending[0].done():
                    pending[0].set_result(None)
            elif isinstance(a, Terminated):
                self._timer_owners.pop(a.tx, None)
                self._release(a.tx)
                pending = self._pending.get(a.tx)
                if pending is not None and not pending[0].done():
                    pending[0].set_result(None)
            elif isinstance(a, StrayResponse):
                if self.on_stray_response is not None and isinstance(a.source, Peer):
                    self.on_stray_response(a.response, a.source)
                else:
                    self.counters.dropped["stray_response"] += 1

    def stats(self) -> dict[str, Any]:
        """Counters for metrics."""
        c = self.counters
        r = self.registrar.counters
        return {
            "received": c.received,
            "parse_errors": c.parse_errors,
            "dropped": dict(c.dropped),
            "dropped_total": sum(c.dropped.values()),
            "requests": dict(c.requests),
            "responses_sent": {str(k): v for k, v in sorted(c.responses_sent.items())},
            "responses_received": {str(k): v for k, v in sorted(c.responses_received.items())},
            "internal_errors": c.internal_errors,
            "rate_limited": self.protection.rate_limited,
            "registrations": r.registrations,
            "unregistrations": r.unregistrations,
            "auth_challenges": r.challenges,
            "auth_failures": r.auth_failures,
            "auth_lockouts": r.lockouts,
            "forbidden": r.forbidden,
            "bindings": len(self.bindings),
            "keepalive_pings": c.keepalive_pings,
            "keepalive_dropped": c.keepalive_dropped,
            "transactions": len(self.transactions),
            "tcp_connections": len(self._connections),
        }

    # ------------------------------------------------------------------ input
    def _on_message(self, data: bytes, peer: Peer, stream: bool) -> None:
        c = self.counters
        c.received += 1
        try:
            now = self.now
            try:
                msg = parse_message(data, stream=stream, max_size=self.settings.max_message_size)
            except SipParseError as err:
                # garbage spends the source's budget too, and over it is dropped unanswered
                if self.protection.admit(peer.host, now):
                    self._parse_error(err, peer)
                else:
                    c.dropped["rate_limited"] += 1
                return
            if isinstance(msg, Response):
                c.responses_received[msg.status] += 1
                self.run_actions(self.transactions.receive(msg, now, reliable=peer.reliable, source=peer))
                return
            c.requests[msg.method] += 1
            # Only new out-of-dialog requests spend the per-source budget: ACK, CANCEL and
            # in-dialog requests (To-tag) belong to exchanges already admitted, and dropping
            # them would only cause retransmissions and hung calls.
            new_request = msg.method not in ("ACK", "CANCEL") and not msg.to_tag
            admitted = not new_request or self.protection.admit(peer.host, now)
            if not admitted and self.settings.protection.rate_limit_action == "drop":
                c.dropped["rate_limited"] += 1
                return
            try:
                stamp_via(msg, peer.host, peer.port)
            except SipParseError:
                c.dropped["bad_via"] += 1
                return
            if not admitted:  # rate_limit_action == "503"
                c.dropped["rate_limited"] += 1
                resp = make_response(msg, 503, "Service Unavailable")
                resp.headers.add("Retry-After", str(self.protection.retry_after(peer.host)))
                self._transmit(resp, peer, to_source=True)
                return
            self.run_actions(self.transactions.receive(msg, now, reliable=peer.reliable, source=peer))
        except Exception:
            c.internal_errors += 1
            log.exception("sip: error handling message from %s", peer)

    def _parse_error(self, err: SipParseError, peer: Peer) -> None:
        self.counters.parse_errors += 1
        resp = error_response(err)
        if resp is None:
            self.counters.dropped["unparsable"] += 1
            log.info("sip: dropped unparsable message from %s: %s", peer, err.reason)
            return
        log.info("sip: bad request from %s: %s %s", peer, err.status, err.reason)
        self._transmit(resp, peer, to_source=True)

    def _on_framing_error(self, err: SipParseError, peer: Peer) -> None:
        self._parse_error(err, peer)

    async def _on_tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = TcpConnection(
            reader,
            writer,
            self._on_message,
            max_size=self.settings.max_message_size,
            idle_timeout=self.settings.tcp_idle_timeout,
            on_framing_error=self._on_framing_error,
            on_close=self._on_tcp_close,
        )
        if not self.running or not self.protection.connections.acquire(conn.peer.host):
            self.counters.dropped["tcp_connection_limit"] += 1
            await conn.aclose()
            return
        self._connections.add(conn)
        self.counters.tcp_connections += 1
        await conn.run()

    def _on_tcp_close(self, conn: TcpConnection) -> None:
        if conn in self._connections:
            self._connections.discard(conn)
            self.protection.connections.release(conn.peer.host)

    # ------------------------------------------------------------------ output
    def _transmit(self, message: Request | Response, peer: Peer, *, to_source: bool = False) -> bool:
        data = message.to_bytes()
        if peer.transport == "UDP":
            if self._udp is None:
                return False
            if isinstance(message, Response) and not to_source:
                try:
                    address = response_destination(message)
                except SipParseError:
                    address = peer.address
            else:
                address = peer.address
            ok = self._udp.send(data, address)
        else:
            conn = peer.connection
            ok = conn is not None and conn.send(data)
        if ok and isinstance(message, Response):
            self.counters.responses_sent[message.status] += 1
        return ok

    def _on_timer(self, key: TxKey, name: str, now: float) -> None:
        owner = self._timer_owners.get(key)
        if owner is not None:
            self.run_actions(owner.timer_fired(name, now), owner)
        else:
            self.run_actions(self.transactions.timer_fired(key, name, now))

    def _response_for_tu(self, tx: TxKey, response: Response) -> None:
        pending = self._pending.get(tx)
        if pending is None:
            return
        fut, on_provisional = pending
        if response.status < 200:
            if on_provisional is not None:
                on_provisional(response)
        elif not fut.done():
            fut.set_result(response)

    # ------------------------------------------------------------------ dispatch
    def _spawn(self, coro: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await coro
            except asyncio.CancelledError:
                raise
            except Exception:
                self.counters.internal_errors += 1
                log.exception("sip: request handler failed")

        assert self._loop is not None
        task = self._loop.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _dispatch(self, a: RequestReceived) -> None:
        req = a.request
        peer = a.source
        if not isinstance(peer, Peer):  # pragma: no cover - we always pass a Peer
            return
        incoming = IncomingRequest(self, a.tx, req, peer)
        method = req.method
        if a.tx is None:  # ACK to a 2xx
            if self._handler is not None and "ACK" in self._handler_methods:
                self._call_handler(incoming)
            return
        if method == "ACK":  # ACK inside an INVITE transaction after 2xx (ACCEPTED state)
            if self._handler is not None and "ACK" in self._handler_methods:
                self._call_handler(incoming)
            return
        if not self.protection.concurrency.acquire(peer.host):
            self.counters.dropped["concurrency_limit"] += 1
            incoming.respond(503, headers=[("Retry-After", "5")])
            return
        self._in_progress[a.tx] = peer.host
        unsupported = self._unsupported(req)
        if unsupported and method != "CANCEL":
            incoming.respond(420, headers=[("Unsupported", ", ".join(unsupported))])
            return
        if method == "REGISTER":
            self._spawn(self._register(incoming))
        elif self._handler is not None and method in self._handler_methods:
            self._call_handler(incoming)
        elif method == "OPTIONS":
            incoming.respond(200, headers=self._capabilities())
        elif method == "CANCEL":
            incoming.respond(481)
        elif method in KNOWN_METHODS:
            incoming.respond(405, headers=[("Allow", ", ".join(self.allowed_methods))])
        else:
            incoming.respond(501, headers=[("Allow", ", ".join(self.allowed_methods))])

    def _release(self, tx: TxKey) -> None:
        host = self._in_progress.pop(tx, None)
        if host is not None:
            self.protection.concurrency.release(host)

    def _call_handler(self, incoming: IncomingRequest) -> None:
        assert self._handler is not None
        try:
            result = self._handler(incoming)
        except Exception:
            self.counters.internal_errors += 1
            log.exception(
                "sip: request handler failed for %s from %s", incoming.request.method, incoming.peer
            )
            if incoming.tx is not None and incoming.request.method != "ACK":
                incoming.respond(500)
            return
        if inspect.isawaitable(result):
            self._spawn(result)

    #: option tags we implement (none yet: the B2BUA will add e.g. "replaces", "timer")
    supported: frozenset[str] = frozenset()

    def _unsupported(self, req: Request) -> list[str]:
        tags: list[str] = []
        for value in req.headers.get_all("Require"):
            tag = value.strip()
            if tag and tag.lower() not in self.supported:
                tags.append(tag)
        return tags

    def _capabilities(self) -> list[tuple[str, str]]:
        return [
            ("Allow", ", ".join(self.allowed_methods)),
            ("Accept", "application/sdp"),
            ("Accept-Encoding", "identity"),
            ("Accept-Language", "en"),
            ("Supported", ", ".join(sorted(self.supported))),
        ]

    async def _register(self, incoming: IncomingRequest) -> None:
        peer = incoming.peer
        try:
            resp = await self.registrar.handle(
                incoming.request,
                self.now,
                source_host=peer.host,
                source_port=peer.port,
                transport=peer.transport,
                flow=peer.connection,
            )
        except Exception:
            self.counters.internal_errors += 1
            log.exception("sip: REGISTER from %s failed", peer)
            resp = make_response(incoming.request, 500)
        if self.running:
            incoming.send_response(resp)

    # ------------------------------------------------------------------ keep-alive
    def local_host(self, dest: tuple[str, int]) -> str:
        """Our address as seen from ``dest``: for Via/Contact/From of our own requests."""
        return self._local_host(dest)

    def _local_host(self, dest: tuple[str, int]) -> str:
        if self.settings.advertised_host:
            return self.settings.advertised_host
        bound = self.udp_address or self.tcp_address
        if bound is not None and bound[0] not in ("0.0.0.0", "::"):  # noqa: S104
            return bound[0]
        cached = self._local_ip_cache.get(dest[0])
        if cached is None:
            family = socket.AF_INET6 if ":" in dest[0] else socket.AF_INET
            try:
                with socket.socket(family, socket.SOCK_DGRAM) as probe:
                    probe.connect((dest[0], dest[1] or 5060))
                    cached = str(probe.getsockname()[0])
            except OSError:
                cached = "127.0.0.1"
            self._local_ip_cache[dest[0]] = cached
        return cached

    def make_options(self, contact: Contact, peer: Peer) -> Request:
        """An out-of-dialog OPTIONS ping for ``contact``."""
        port = (self.udp_address or self.tcp_address or ("", 5060))[1]
        host = self.local_host(peer.address)
        self._cseq += 1
        me = NameAddr(SipURI(host=host, port=port, user="hotline"), None, {"tag": generate_tag()})
        return make_request(
            "OPTIONS",
            contact.uri,
            from_addr=me,
            to_addr=NameAddr(_to_uri(contact.uri)),
            call_id=generate_call_id(format_host(host)),
            cseq=self._cseq,
            via_host=host,
            via_port=port,
            transport=peer.transport,
            extra_headers=[("User-Agent", "Hotline")],
        )

    async def ping(self, contact: Contact) -> bool:
        """Send one OPTIONS to ``contact``; returns whether it answered (any response but 408)."""
        peer = self.peer_for(contact)
        if peer is None:
            return False
        self.counters.keepalive_pings += 1
        try:
            resp = await self.send_request(self.make_options(contact, peer), peer)
        except (SipParseError, TransactionError) as exc:
            log.info("sip: cannot ping %s: %s", contact.uri, exc)
            return False
        return resp is not None and resp.status != 408

    async def _ping_and_judge(self, contact: Contact, limit: asyncio.Semaphore) -> None:
        try:
            async with limit:
                alive = await self.ping(contact)
            if alive:
                contact.failed_pings = 0
                return
            contact.failed_pings += 1
            if contact.failed_pings >= self.settings.keepalive_failures and self.bindings.remove(contact):
                self.counters.keepalive_dropped += 1
                log.info("sip: dropped unreachable contact %s of %s", contact.uri, contact.aor)
        finally:
            self._pinging.discard(id(contact))

    async def _keepalive_loop(self) -> None:
        limit = asyncio.Semaphore(256)
        interval = self.settings.keepalive_interval
        while True:
            await asyncio.sleep(interval)
            try:
                now = self.now
                self.bindings.purge(now)
                for contact in self.bindings.all_contacts(now):
                    if id(contact) in self._pinging:
                        continue
                    self._pinging.add(id(contact))
                    self._spawn(self._ping_and_judge(contact, limit))
            except Exception:
                self.counters.internal_errors += 1
                log.exception("sip: keep-alive round failed")


def _to_uri(uri: str) -> SipURI:
    parsed = parse_uri(uri)
    if isinstance(parsed, SipURI):
        clean = parsed.copy()
        clean.params = {}
        clean.headers = {}
        return clean
    raise SipParseError(f"cannot ping non-SIP contact {uri}")


__all__ = [
    "KNOWN_METHODS",
    "IncomingRequest",
    "RequestHandler",
    "SipCounters",
    "SipServer",
    "SipSettings",
    "TimerOwner",
]
