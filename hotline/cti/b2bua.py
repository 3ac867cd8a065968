"""The back-to-back user agent: every call is legs the server owns, media anchored on the engine.

A call starts with an INVITE received by :class:`~hotline.sip.server.SipServer`, which hands
it to :class:`CallManager` (the SIP transaction user). The manager authenticates callers that
claim to be extensions, decides where the dialed number goes (:mod:`hotline.cti.routing`),
creates a media endpoint for each leg on the :class:`~hotline.media.engine.MediaEngine`, and
relays signalling between the legs: ringing, answer, BYE, CANCEL, busy/unavailable/timeout,
hold and resume (re-INVITE), DTMF by INFO, and blind transfer (REFER). Legs never exchange
SDP with each other: each sees only its own engine endpoint, so recording, announcements and
monitoring always work and a one-way-audio NAT problem is confined to one leg (symmetric RTP).

Every step is written to the call detail record (:class:`~hotline.cti.cdr.CdrStore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hotline.cti.cdr import CdrStore, LegMediaStats, new_call_id
from hotline.cti.routing import Route, route_number
from hotline.cti.sdpmedia import SdpSession, mirror, remote_media
from hotline.media.engine import (
    DtmfReceived,
    Endpoint,
    EndpointId,
    EndpointStats,
    MediaEngine,
    MediaEngineError,
    MediaEvent,
    MediaTimeout,
    PlaybackFinished,
    PlaybackId,
    PlayFile,
    PlaySource,
    PlayTone,
    RecordingId,
)
from hotline.media.tones import BEEP, ToneSegment
from hotline.media.tts import TtsRenderer
from hotline.sip.dialog import Dialog, DialogError
from hotline.sip.digest import AuthStatus, parse_credentials
from hotline.sip.errors import SipParseError
from hotline.sip.extensions import SipCredentials, tenant_for_domain
from hotline.sip.headers import NameAddr, parse_name_addr
from hotline.sip.helpers import generate_call_id, generate_tag, normalize_number
from hotline.sip.message import Request, Response, make_request
from hotline.sip.sdp import SdpParseError, is_hold, parse_sdp
from hotline.sip.server import IncomingRequest, SipServer
from hotline.sip.transaction import OkRetransmitter, TransactionTimeout, make_cancel
from hotline.sip.transport import Peer
from hotline.sip.uri import SipURI, parse_uri
from hotline.store.types import utcnow

log = logging.getLogger("hotline.cti")

METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "INFO", "REFER", "UPDATE", "NOTIFY")
ALLOW = ", ".join((*METHODS, "OPTIONS"))
#: music on hold when no file is configured: a soft two-note chime every 4 s
HOLD_TONE: tuple[ToneSegment, ...] = (
    ToneSegment((523.0,), 300),
    ToneSegment((659.0,), 300),
    ToneSegment((), 3400),
)


@dataclass
class CallSettings:
    data_dir: Path
    national_prefix: str = "0"
    country_code: str = "86"
    #: seconds an extension may ring before the caller gets 480
    ring_timeout: float = 60.0
    record_calls: bool = True
    echo_number: str = "*43"
    record_test_number: str = "*44"
    record_test_seconds: float = 5.0
    #: hard limit on any call (a stuck call never lives forever)
    max_call_seconds: float = 4 * 3600.0
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    #: INVITEs whose From names an extension must authenticate (407) — stops toll fraud
    authenticate_extensions: bool = True
    music_on_hold: Path | None = None
    #: text-to-speech for announcements (None: tones only)
    tts: TtsRenderer | None = None
    record_test_prompt: str = "请在提示音后说话。"


# -- legs -------------------------------------------------------------------------------------


@dataclass(eq=False)
class Leg:
    call: Call
    role: str  # caller | callee
    peer: Peer
    endpoint: Endpoint | None = None
    sdp: SdpSession = field(default_factory=SdpSession)
    dialog: Dialog | None = None
    cdr_leg: int | None = None
    answered: bool = False
    ended: bool = False
    held: bool = False  # this leg put the call on hold
    extension_id: int | None = None
    ok_retx: OkRetransmitter | None = None  # our last 2xx to an INVITE, resent until the ACK
    notify_task: asyncio.Future[Any] | None = None  # the REFER subscription's NOTIFY in flight
    cdr_pending: asyncio.Future[int] | None = None  # the leg's CDR row being written

    @property
    def key(self) -> tuple[str, str] | None:
        d = self.dialog
        return (d.call_id, d.local_tag) if d is not None else None


@dataclass(eq=False)
class InboundLeg(Leg):
    incoming: IncomingRequest | None = None
    local_tag: str = field(default_factory=generate_tag)
    acked: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(eq=False)
class OutboundLeg(Leg):
    invite: Request | None = None
    contact_uri: str = ""


@dataclass(eq=False)
class Call:
    id: str
    tenant_id: int
    direction: str
    caller: InboundLeg | None = None
    legs: list[Leg] = field(default_factory=list)
    recording: RecordingId | None = None
    recording_path: str = ""
    ended: bool = False
    caller_gone: bool = False  # the caller cancelled or hung up before the callee answered
    source_ip: str = ""  # holds one of the source's concurrent-dialog slots until the call ends
    end_cause: str = ""
    ended_by: str = ""
    moh: dict[EndpointId, PlaybackId] = field(default_factory=dict)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    data: dict[str, Any] = field(default_factory=dict)
    caller_number: str = ""  # normalised calling number
    #: the service-number path's state (:class:`hotline.cti.inbound.ServiceState`), if any
    service: Any = None
    #: who gets the caller's DTMF (the IVR, the queue) besides the CDR
    digit_sink: Callable[[str], None] | None = None
    hold_started: float | None = None
    hold_total: float = 0.0
    #: set when the caller cancels or the call ends: ringing legs are cancelled at once
    gone: asyncio.Event = field(default_factory=asyncio.Event)
    #: mask the caller's digits in the record (PIN entry in a flow an agent sent the caller to)
    secure_dtmf: bool = False
    dialed: str = ""  # normalised dialled number
    caller_name: str = ""  # the From display name
    started_at: datetime | None = None
    #: call control state (:class:`hotline.cti.control.Control`: mute, supervisor, consultation)
    control: Any = None

    def other(self, leg: Leg) -> Leg | None:
        """The answered leg bridged with ``leg`` (two-party calls)."""
        for candidate in self.legs:
            if candidate is not leg and candidate.answered and not candidate.ended:
                return candidate
        return None


class _Reject(Exception):
    def __init__(self, status: int, reason: str | None = None, cause: str = "rejected") -> None:
        super().__init__(f"{status} {reason or ''}")
        self.status = status
        self.reason = reason
        self.cause = cause


# -- the manager ------------------------------------------------------------------------------


class CallManager:
    """SIP transaction user for calls. ``install()`` hooks it into the SIP server."""

    def __init__(
        self,
        sip: SipServer,
        media: MediaEngine,
        cdr: CdrStore,
        settings: CallSettings,
        *,
        credentials: Callable[[str, str], Awaitable[SipCredentials | None]],
        tenant_of_domain: Callable[[str], Awaitable[int | None]],
    ) -> None:
        self.sip = sip
        self.media = media
        self.cdr = cdr
        self.settings = settings
        self._credentials = credentials
        self._tenant_of_domain = tenant_of_domain
        self._by_dialog: dict[tuple[str, str], Leg] = {}
        self._by_invite: dict[object, InboundLeg] = {}
        self._by_endpoint: dict[EndpointId, Leg] = {}
        self._playbacks: dict[PlaybackId, asyncio.Future[str]] = {}
        self._calls: dict[str, Call] = {}
        self._unsubscribe: Callable[[], None] | None = None
        #: the service-number call path (IVR, queues, agents); installed by the telephony service
        self.services: Any = None
        #: call control (:class:`hotline.cti.control.CallControl`); installed by the telephony service
        self.control: Any = None

    @classmethod
    def from_database(
        cls, sip: SipServer, media: MediaEngine, factory: Any, settings: CallSettings
    ) -> CallManager:
        async def creds(domain: str, number: str) -> SipCredentials | None:
            return await sip.registrar.credentials(domain, number, sip.now)  # cached, as for REGISTER

        async def tenant(domain: str) -> int | None:
            async with factory() as s:
                t = await tenant_for_domain(s, domain)
                return t.id if t is not None else None

        return cls(sip, media, CdrStore(factory), settings, credentials=creds, tenant_of_domain=tenant)

    # -- lifecycle ------------------------------------------------------------------------------

    def install(self) -> None:
        self.sip.set_request_handler(self.on_request, METHODS)
        self.sip.on_stray_response = self._on_stray_response
        self._unsubscribe = self.media.subscribe(self._on_media_event)

    @property
    def active_calls(self) -> int:
        return len(self._calls)

    @property
    def endpoints_in_use(self) -> int:
        """Media endpoints held by calls (0 when idle: nothing leaked)."""
        return len(self._by_endpoint)

    async def shutdown(self) -> None:
        """Hang up every call (BYE / CANCEL / 503) and write their records."""
        for call in list(self._calls.values()):
            await self.hangup(call, cause="failed", ended_by="system")
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _spawn(self, call: Call, coro: Awaitable[Any]) -> None:
        if call.ended:  # a task for a call that already ended would only hold it in memory
            if asyncio.iscoroutine(coro):
                coro.close()
            return

        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("call %s: task failed", call.id)
                await self.hangup(call, cause="failed", ended_by="system")

        task = asyncio.ensure_future(run())
        call.tasks.add(task)
        task.add_done_callback(call.tasks.discard)

    # -- dispatch -------------------------------------------------------------------------------

    async def on_request(self, inc: IncomingRequest) -> None:
        req = inc.request
        method = req.method
        try:
            if method == "INVITE" and not req.to_tag:
                await self._new_call(inc)
                return
            if method == "CANCEL":
                self._on_cancel(inc)
                return
            leg = self._by_dialog.get((req.call_id, req.to_tag or ""))
            if leg is None or leg.dialog is None:
                if method != "ACK":
                    inc.respond(481, "Call/Transaction Does Not Exist")
                return
            try:
                leg.dialog.receive_request(req)
            except DialogError as exc:
                if method != "ACK":
                    inc.respond(exc.status, str(exc))
                return
            if method == "ACK":
                self._on_ack(leg, req)
            elif method == "BYE":
                inc.respond(200)
                await self._on_bye(leg)
            elif method in ("INVITE", "UPDATE"):
                await self._on_reinvite(leg, inc)
            elif method == "INFO":
                self._on_info(leg, inc)
            elif method == "REFER":
                await self._on_refer(leg, inc)
            else:
                inc.respond(200)
        except SipParseError as exc:
            if method != "ACK":
                inc.respond(400, exc.reason)

    # -- new calls ------------------------------------------------------------------------------

    async def _new_call(self, inc: IncomingRequest) -> None:
        req = inc.request  # the SIP server has already answered 100 Trying
        now = utcnow()
        from_uri, to_uri = req.from_addr.uri, req.uri
        caller_user: str = getattr(from_uri, "user", None) or ""
        pai = req.headers.get("P-Asserted-Identity")
        if pai:
            with contextlib.suppress(SipParseError):
                pai_uri = parse_name_addr(pai).uri
                caller_user = pai_uri.user or caller_user
        dialed_user = to_uri.user if isinstance(to_uri, SipURI) else (getattr(to_uri, "user", None) or "")
        domain = to_uri.host if isinstance(to_uri, SipURI) else ""
        creds = None
        tenant_id: int | None = None
        if self.settings.authenticate_extensions and isinstance(from_uri, SipURI) and from_uri.user:
            maybe = await self._credentials(from_uri.host, from_uri.user)
            if maybe is not None:
                creds = await self._authenticate(inc, maybe)
                if creds is None:
                    return  # challenged or refused
                tenant_id = creds.tenant_id
        if tenant_id is None:
            tenant_id = await self._tenant_of_domain(domain)
        if tenant_id is None:
            inc.respond(404, "Unknown Domain")
            return
        if not self.sip.protection.concurrency.acquire(inc.peer.host):
            inc.respond(503, "Too Many Calls From This Source", headers=[("Retry-After", "5")])
            return
        caller = normalize_number(caller_user, self.settings.national_prefix, self.settings.country_code)
        dialed = normalize_number(
            dialed_user or "", self.settings.national_prefix, self.settings.country_code
        )
        call = Call(id=new_call_id(), tenant_id=tenant_id, direction="internal" if creds else "inbound")
        call.source_ip = inc.peer.host
        call.caller_number = caller
        call.dialed, call.caller_name, call.started_at = dialed, req.from_addr.display_name or "", now
        leg = InboundLeg(call=call, role="caller", peer=inc.peer, incoming=inc)
        if creds is not None:
            leg.extension_id = creds.extension_id
        call.caller = leg
        call.legs.append(leg)
        self._calls[call.id] = call
        if inc.tx is not None:
            self._by_invite[inc.tx] = leg
        display = req.from_addr.display_name or ""
        # the call's row and its first leg's go in one commit (queued in this order)
        started = asyncio.ensure_future(
            self.cdr.call_started(
                call.id,
                tenant_id=tenant_id,
                direction=call.direction,
                started_at=now,
                caller=caller,
                caller_raw=str(from_uri),
                caller_name=display,
                dialed=dialed,
                dialed_raw=str(to_uri),
            )
        )
        first_leg = asyncio.ensure_future(
            self.cdr.leg_started(
                call.id,
                role="caller",
                started_at=now,
                sip_call_id=req.call_id,
                remote_uri=str(from_uri),
                remote_addr=f"{inc.peer.host}:{inc.peer.port}",
                extension_id=leg.extension_id,
            )
        )
        await started
        leg.cdr_leg = await first_leg
        log.info("call %s: %s -> %s (%s)", call.id, caller or "anonymous", dialed, call.direction)
        try:
            offer = self._offer_of(req)
            route = route_number(
                dialed_user or "",
                echo=self.settings.echo_number,
                record_test=self.settings.record_test_number,
            )
            choice = None
            if self.services is not None and dialed_user:
                choice = await self.services.match(tenant_id, dialed_user)
            if choice is not None:
                self._spawn(call, self.services.start(call, leg, offer, choice))
            elif route.kind == "echo":
                await self._run_echo(call, leg, offer)
            elif route.kind == "record_test":
                self._spawn(call, self._run_record_test(call, leg, offer))
            elif route.kind == "extension" and creds is not None:
                self._spawn(call, self._call_extension(call, leg, offer, route, creds, display or caller))
            elif route.kind == "extension":
                raise _Reject(403, "Extensions Need Authentication", "rejected")
            else:
                raise _Reject(404, "Not Found", "failed")
        except _Reject as rej:
            await self._reject(call, leg, rej.status, rej.reason, rej.cause)
        except MediaEngineError as exc:
            log.warning("call %s: media engine refused: %s", call.id, exc)
            await self._reject(call, leg, 488, "Not Acceptable Here", "failed")

    def _offer_of(self, req: Request) -> Any:
        if not req.body:
            raise _Reject(488, "SDP Offer Required", "failed")
        try:
            sdp = parse_sdp(req.body)
        except SdpParseError:
            raise _Reject(400, "Malformed SDP", "failed") from None
        media = remote_media(sdp)
        if media is None or not any(f.encoding.upper() in self.settings.codecs for f in media.formats):
            raise _Reject(488, "Not Acceptable Here", "failed")
        return media

    # -- authentication -------------------------------------------------------------------------

    async def _authenticate(self, inc: IncomingRequest, creds: SipCredentials) -> SipCredentials | None:
        """Digest-authenticate an INVITE from an extension: the registrar's digest and lockout,
        with a 407 challenge. The digest-uri need not equal the Request-URI (SIPp and some
        phones sign another form of it); the response still covers the uri it names."""
        req = inc.request
        now = self.sip.now
        ip = inc.peer.host
        protection = self.sip.protection
        registrar = self.sip.registrar
        if protection.locked(ip, creds.number, now) > 0:
            inc.respond(403, "Forbidden")
            return None
        values = req.headers.get_all("Proxy-Authorization")
        mine = next((v for v in values if _realm_of(v) == creds.realm), None)

        def challenge(stale: bool = False) -> None:
            headers = registrar.challenge_headers(creds.realm, proxy=True, stale=stale)
            inc.respond(407, "Proxy Authentication Required", headers=headers)

        if mine is None:
            challenge()
            return None
        result = registrar.verify(mine, "INVITE", creds, creds.realm)
        if result.status in (AuthStatus.STALE, AuthStatus.BAD_NONCE):
            challenge(stale=result.status is AuthStatus.STALE)
            return None
        if result.status is not AuthStatus.OK:
            if protection.auth_failed(ip, creds.number, now):
                inc.respond(403, "Forbidden")
            else:
                challenge()
            return None
        if not creds.enabled:
            inc.respond(403, "Extension Disabled")
            return None
        protection.auth_succeeded(ip, creds.number, now)
        return creds

    # -- answering and ending the inbound leg --------------------------------------------------

    def _contact(self, peer: Peer) -> NameAddr:
        host = self.sip.local_host(peer.address)
        port = self.sip.udp_address[1] if self.sip.udp_address else self.sip.port
        transport = "" if peer.transport.upper() == "UDP" else f";transport={peer.transport.lower()}"
        return NameAddr(parse_uri(f"sip:hotline@{_host(host)}:{port}{transport}"))

    def _bind_dialog(self, leg: Leg) -> None:
        key = leg.key
        if key is not None:
            self._by_dialog[key] = leg

    async def _create_endpoint(self, call: Call, leg: Leg, remote: Any | None) -> Endpoint:
        ep = await self.media.create_endpoint(call.id, leg.role, remote, codecs=self.settings.codecs)
        leg.endpoint = ep
        self._by_endpoint[ep.id] = leg
        return ep

    def _ring(self, leg: InboundLeg) -> None:
        if leg.incoming is not None and not leg.answered and not leg.ended:
            leg.incoming.respond(180, "Ringing", to_tag=leg.local_tag)

    async def _answer(self, call: Call, leg: InboundLeg) -> None:
        """Send 200 OK with our SDP for the caller's endpoint, and keep sending it until the ACK."""
        inc = leg.incoming
        assert inc is not None and leg.endpoint is not None
        contact = self._contact(leg.peer)
        leg.dialog = Dialog.from_uas_request(
            inc.request, leg.local_tag, local_contact=contact, confirmed=False
        )
        leg.dialog.via_host, leg.dialog.via_port = _host_port(contact)
        leg.dialog.via_transport = leg.peer.transport.upper()
        self._bind_dialog(leg)
        body = leg.sdp.build(leg.endpoint, answer=True)
        resp = inc.respond(
            200,
            headers=[
                ("Contact", str(contact)),
                ("Content-Type", "application/sdp"),
                ("Allow", ALLOW),
            ],
            body=body,
            to_tag=leg.local_tag,
        )
        leg.ok_retx = OkRetransmitter(
            resp, leg.peer, reliable=leg.peer.reliable, timers=self.sip.settings.timers
        )
        self.sip.run_actions(leg.ok_retx.start(self.sip.now), owner=_RetxWatch(self, call, leg, leg.ok_retx))
        leg.answered = True
        now = utcnow()
        if leg.cdr_leg is not None:
            await self.cdr.leg_answered(
                leg.cdr_leg, now, codec=leg.endpoint.codec.encoding if leg.endpoint.codec else ""
            )
        if self._by_invite.get(inc.tx) is leg:
            del self._by_invite[inc.tx]

    def _on_ack(self, leg: Leg, req: Request) -> None:
        if leg.ok_retx is not None:
            self.sip.run_actions(leg.ok_retx.ack_received(self.sip.now))
            leg.ok_retx = None
        if isinstance(leg, InboundLeg):
            leg.acked.set()

    async def _reject(self, call: Call, leg: InboundLeg, status: int, reason: str | None, cause: str) -> None:
        if leg.incoming is not None and not leg.answered and not leg.ended:
            leg.incoming.respond(status, reason, to_tag=leg.local_tag)
        leg.ended = True
        await self._finish(call, cause=cause, ended_by="system", sip_code=status)

    # -- services: echo and record test --------------------------------------------------------

    async def _run_echo(self, call: Call, leg: InboundLeg, offer: Any) -> None:
        set_echo = getattr(self.media, "set_echo", None)
        if set_echo is None:
            raise _Reject(501, "Echo Not Supported By This Media Engine", "failed")
        ep = await self._create_endpoint(call, leg, offer)
        await set_echo(ep.id, True)
        await self._answer(call, leg)
        await self._call_answered(call, None)
        self._spawn(call, self._limit_duration(call))

    async def _run_record_test(self, call: Call, leg: InboundLeg, offer: Any) -> None:
        """``*44``: beep, record what the caller says, play it back, hang up."""
        ep = await self._create_endpoint(call, leg, offer)
        await self._answer(call, leg)
        await self._call_answered(call, None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(leg.acked.wait(), 5)
        prompt = await self._tts(self.settings.record_test_prompt)
        if prompt is not None:
            await self._play_and_wait(ep.id, PlayFile(prompt))
        await self._play_and_wait(ep.id, PlayTone(BEEP))
        path = self._recording_path(call, suffix="-test")
        rec = await self.media.record_start(path, ep.id)
        await asyncio.sleep(self.settings.record_test_seconds)
        if leg.ended:
            await self.media.record_stop(rec)
            return
        info = await self.media.record_stop(rec)
        call.recording_path = str(info.path.relative_to(self.settings.data_dir))
        await self._play_and_wait(ep.id, PlayTone(BEEP))
        await self._play_and_wait(ep.id, PlayFile(info.path))
        if not leg.ended:
            await self.hangup(call, cause="normal", ended_by="system")

    async def _tts(self, text: str) -> Path | None:
        """A rendered prompt, or None (no TTS, or it failed: the caller hears tones instead)."""
        tts = self.settings.tts
        if tts is None or not text or not tts.available():
            return None
        try:
            return await tts.render(text)
        except MediaEngineError as exc:
            log.warning("TTS failed for %r: %s", text[:40], exc)
            return None

    async def _play_and_wait(self, endpoint: EndpointId, source: PlaySource, limit: float = 60.0) -> str:
        loop = asyncio.get_running_loop()
        pid = await self.media.play(endpoint, source)
        fut = self._playbacks.get(pid)
        if fut is None:
            fut = loop.create_future()
            self._playbacks[pid] = fut
        try:
            return await asyncio.wait_for(fut, limit)
        except TimeoutError:
            return "timeout"
        finally:
            self._playbacks.pop(pid, None)

    async def _limit_duration(self, call: Call) -> None:
        await asyncio.sleep(self.settings.max_call_seconds)
        if not call.ended:
            log.warning("call %s: maximum duration reached", call.id)
            await self.hangup(call, cause="timeout", ended_by="system")

    # -- extension to extension ----------------------------------------------------------------

    async def _call_extension(
        self, call: Call, caller: InboundLeg, offer: Any, route: Route, creds: SipCredentials, caller_id: str
    ) -> None:
        contacts = self.sip.lookup(call.tenant_id, route.number)
        if not contacts:
            known = await self._credentials(creds.realm, route.number)
            if known is None:
                await self._reject(call, caller, 404, "Not Found", "failed")
            else:
                await self._reject(call, caller, 480, "Temporarily Unavailable", "unreachable")
            return
        await self._create_endpoint(call, caller, offer)
        winner = await self._dial(
            call,
            [(c.uri, self.sip.peer_for(c)) for c in contacts],
            route.number,
            caller_id,
            on_ringing=lambda: self._ring(caller),
        )
        if caller.ended:
            return
        if isinstance(winner, int):
            cause = {486: "busy", 600: "busy", 603: "rejected", 408: "no_answer", 480: "no_answer"}.get(
                winner, "failed"
            )
            status = winner if winner in (486, 480, 408, 603, 600, 404) else 480
            await self._reject(call, caller, status, None, cause)
            return
        # media first: once the caller has our 200 OK it may hold or transfer at once, and that
        # must find the legs already bridged
        await self._connect(call, caller, winner)
        await self._answer(call, caller)

    async def _dial(
        self,
        call: Call,
        targets: list[tuple[str, Peer | None]],
        number: str,
        caller_id: str,
        *,
        on_ringing: Callable[[], None] | None = None,
    ) -> OutboundLeg | int:
        """INVITE every contact in parallel; the first to answer wins, the others are cancelled.

        Returns the answered leg, or the best final status when nobody answered.
        """
        legs: list[OutboundLeg] = []
        for uri, peer in targets:
            if peer is None:
                continue
            leg = OutboundLeg(call=call, role="callee", peer=peer, contact_uri=uri)
            await self._create_endpoint(call, leg, None)
            legs.append(leg)
            call.legs.append(leg)  # so that a hangup meanwhile cancels or ends it too
        if not legs:
            return 480
        rang = False

        def provisional(resp: Response) -> None:
            nonlocal rang
            if resp.status in (180, 183) and not rang:
                rang = True
                if on_ringing is not None:
                    on_ringing()

        tasks: dict[asyncio.Future[Any], OutboundLeg] = {
            asyncio.ensure_future(self._invite(call, leg, number, caller_id, provisional)): leg
            for leg in legs
        }
        winner: OutboundLeg | None = None
        statuses: list[int] = []
        deadline = asyncio.get_running_loop().time() + self.settings.ring_timeout
        pending: set[asyncio.Future[Any]] = set(tasks)
        cancelled = False
        gone = asyncio.ensure_future(call.gone.wait())
        while pending:
            timeout = max(0.0, deadline - asyncio.get_running_loop().time())
            waiting = pending if cancelled or gone.done() else {*pending, gone}
            done, _ = await asyncio.wait(
                waiting, timeout=None if cancelled else timeout, return_when=asyncio.FIRST_COMPLETED
            )
            done.discard(gone)
            pending -= done
            if call.caller_gone and not cancelled:  # the caller cancelled while the phones ring
                cancelled = True
                for t in pending:
                    await self._cancel_leg(tasks[t])
                if not done:
                    continue
            if not done and not cancelled:
                cancelled = True  # ring timeout: cancel everyone still ringing
                statuses.append(408)
                for t in pending:
                    await self._cancel_leg(tasks[t])
                continue
            for t in done:
                leg = tasks[t]
                status = t.result()
                if 200 <= status < 300 and winner is None and not call.caller_gone:
                    winner = leg
                elif 200 <= status < 300:
                    await self._bye_leg(leg)  # a second answer, or the caller left meanwhile
                else:
                    statuses.append(status)
            if (winner is not None or call.caller_gone) and not cancelled:
                cancelled = True
                for t in pending:
                    await self._cancel_leg(tasks[t])
        gone.cancel()
        for leg in legs:
            if leg is not winner:
                await self._close_leg(leg, reason="not answered")
        if winner is not None:
            return winner
        return _best_status(statuses)

    async def _invite(
        self,
        call: Call,
        leg: OutboundLeg,
        number: str,
        caller_id: str,
        provisional: Callable[[Response], None],
        *,
        extra_headers: list[tuple[str, str]] | None = None,
    ) -> int:
        assert leg.endpoint is not None
        contact = self._contact(leg.peer)
        host, port = _host_port(contact)
        target = parse_uri(leg.contact_uri)
        from_addr = NameAddr(parse_uri(f"sip:{_user(caller_id)}@{host}"), display_name=caller_id or None)
        from_addr.tag = generate_tag()
        to_addr = NameAddr(parse_uri(f"sip:{number}@{host}"))
        req = make_request(
            "INVITE",
            target,
            from_addr=from_addr,
            to_addr=to_addr,
            call_id=generate_call_id(),
            cseq=1,
            via_host=host,
            via_port=port,
            transport=leg.peer.transport.upper(),
            contact=contact,
            body=leg.sdp.build(leg.endpoint),
            content_type="application/sdp",
            extra_headers=[("X-Hotline-Call-Id", call.id), ("Allow", ALLOW), *(extra_headers or [])],
        )
        leg.invite = req
        # the leg's CDR row is written while the phone is already ringing: the database is not
        # on the path from the caller's choice to the agent's phone (its id is awaited below)
        leg.cdr_pending = asyncio.ensure_future(
            self.cdr.leg_started(
                call.id,
                role=leg.role,
                started_at=utcnow(),
                sip_call_id=req.call_id,
                remote_uri=leg.contact_uri,
                remote_addr=f"{leg.peer.host}:{leg.peer.port}",
            )
        )
        try:
            resp = await self.sip.send_request(req, leg.peer, on_provisional=provisional)
        finally:
            await self._leg_row(leg)
        if resp is None:
            return 408
        if 200 <= resp.status < 300:
            try:
                leg.dialog = Dialog.from_uac_response(req, resp, local_contact=contact)
            except DialogError:
                return 500
            self._bind_dialog(leg)
            self.sip.send_stateless(leg.dialog.create_ack(req.cseq.seq), leg.peer)
            answer = None
            with contextlib.suppress(SdpParseError):
                answer = remote_media(parse_sdp(resp.body)) if resp.body else None
            if answer is None:
                await self._bye_leg(leg)
                return 488
            if leg.endpoint is None or call.ended:  # answered after the call was given up
                await self._bye_leg(leg)
                return 487
            await self.media.update_endpoint(leg.endpoint.id, answer)
            leg.answered = True
        return resp.status

    async def _cancel_leg(self, leg: OutboundLeg) -> None:
        if leg.invite is None or leg.answered:
            return
        with contextlib.suppress(Exception):
            await self.sip.send_request(make_cancel(leg.invite), leg.peer)

    async def _connect(self, call: Call, a: Leg, b: Leg, *, agent_id: int | None = None) -> None:
        assert a.endpoint is not None and b.endpoint is not None
        await self.media.bridge(a.endpoint.id, b.endpoint.id)
        if self.settings.record_calls:
            path = self._recording_path(call)
            try:
                call.recording = await self.media.record_start(path, a.endpoint.id, b.endpoint.id)
                call.recording_path = str(path.relative_to(self.settings.data_dir))
                await self.cdr.set_recording(call.id, call.recording_path)
            except MediaEngineError as exc:
                log.error("call %s: recording failed to start: %s", call.id, exc)
        now = utcnow()
        if b.cdr_leg is not None:
            await self.cdr.leg_answered(
                b.cdr_leg, now, codec=b.endpoint.codec.encoding if b.endpoint.codec else ""
            )
        await self._call_answered(call, agent_id)
        if call.service is None:  # service calls are limited from the moment the IVR answers
            self._spawn(call, self._limit_duration(call))

    async def _call_answered(self, call: Call, agent_id: int | None) -> None:
        await self.cdr.call_answered(call.id, utcnow(), agent_id=agent_id)

    def _recording_path(self, call: Call, suffix: str = "") -> Path:
        day = utcnow().strftime("%Y-%m-%d")
        folder = self.settings.data_dir / "recordings" / day
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{call.id}{suffix}.wav"

    # -- in-dialog requests ----------------------------------------------------------------------

    def _on_cancel(self, inc: IncomingRequest) -> None:
        target = self.sip.transactions.find_cancel_target(inc.request)
        leg = self._by_invite.get(target.key) if target is not None else None
        if leg is None:
            inc.respond(481, "Call/Transaction Does Not Exist")
            return
        inc.respond(200)
        if leg.answered or leg.ended:
            return
        call = leg.call
        call.caller_gone = True
        call.gone.set()
        if leg.incoming is not None:
            leg.incoming.respond(487, "Request Terminated", to_tag=leg.local_tag)
        leg.ended = True
        self._spawn(call, self._after_cancel(call))

    async def _after_cancel(self, call: Call) -> None:
        # _dial notices caller_gone and cancels the callees; give it a moment, then finish
        for _ in range(100):
            if all(leg.ended or not isinstance(leg, OutboundLeg) or leg.dialog is None for leg in call.legs):
                break
            await asyncio.sleep(0.05)
        await self._finish(call, cause="cancelled", ended_by="caller", sip_code=487)

    async def _on_bye(self, leg: Leg) -> None:
        leg.ended = True
        call = leg.call
        if self.control is not None and await self.control.leg_gone(leg):
            return  # a supervisor or consultation leg hung up: the call goes on
        await self.hangup(call, cause="normal", ended_by="caller" if leg.role == "caller" else "callee")

    async def hangup(self, call: Call, *, cause: str, ended_by: str) -> None:
        """End the call on every leg still up, then write the record."""
        if call.ended:
            return
        for leg in call.legs:
            if leg.ended:
                continue
            if isinstance(leg, InboundLeg) and not leg.answered:
                if leg.incoming is not None:
                    leg.incoming.respond(503 if ended_by == "system" else 487, to_tag=leg.local_tag)
                leg.ended = True
            elif isinstance(leg, OutboundLeg) and not leg.answered:
                await self._cancel_leg(leg)
            else:
                await self._bye_leg(leg)
        await self._finish(call, cause=cause, ended_by=ended_by)

    async def _bye_leg(self, leg: Leg) -> None:
        if leg.ended:
            return
        leg.ended = True
        if leg.dialog is None:
            return
        try:
            bye = leg.dialog.create_request("BYE")
        except DialogError:
            return
        leg.dialog.terminate()
        self._spawn(leg.call, self.sip.send_request(bye, leg.peer))

    async def _leg_row(self, leg: Leg) -> None:
        """Wait for the leg's CDR row if it is still being written (sets ``leg.cdr_leg``)."""
        pending, leg.cdr_pending = leg.cdr_pending, None
        if pending is not None:
            try:
                leg.cdr_leg = await asyncio.shield(pending)
            except Exception:
                log.exception("call %s: the %s leg's record could not be written", leg.call.id, leg.role)

    async def _close_leg(self, leg: Leg, *, reason: str, sip_code: int | None = None) -> None:
        if leg.ok_retx is not None:  # the call is over: stop resending our 200 OK
            self.sip.run_actions(leg.ok_retx.ack_received(self.sip.now))
            leg.ok_retx = None
        stats: EndpointStats | None = None
        if leg.endpoint is not None:
            self._by_endpoint.pop(leg.endpoint.id, None)
            with contextlib.suppress(MediaEngineError):
                stats = await self.media.close_endpoint(leg.endpoint.id)
            log.debug("call %s: %s leg media %s", leg.call.id, leg.role, stats)
            leg.endpoint = None
        key = leg.key
        if key is not None:
            self._by_dialog.pop(key, None)
        await self._leg_row(leg)
        if leg.cdr_leg is not None:
            media_stats = None
            if stats is not None:
                media_stats = LegMediaStats(
                    packets_sent=stats.packets_sent,
                    packets_received=stats.packets_received,
                    packets_lost=stats.packets_lost,
                    jitter_ms=round(stats.jitter_ms, 3),
                )
            await self.cdr.leg_ended(
                leg.cdr_leg, utcnow(), reason=reason, sip_code=sip_code, stats=media_stats
            )
            leg.cdr_leg = None

    async def _finish(self, call: Call, *, cause: str, ended_by: str, sip_code: int | None = None) -> None:
        if call.ended:
            return
        call.ended = True
        call.gone.set()
        for key, pending in list(self._by_invite.items()):
            if pending.call is call:
                del self._by_invite[key]
        if call.hold_started is not None:
            call.hold_total += asyncio.get_running_loop().time() - call.hold_started
            call.hold_started = None
        if call.service is not None and self.services is not None:
            try:
                await self.services.call_ending(call, cause, ended_by)
            except Exception:
                log.exception("call %s: service call path failed at the end of the call", call.id)
        if call.recording is not None:
            with contextlib.suppress(MediaEngineError):
                await self.media.record_stop(call.recording)
            call.recording = None
        for leg in call.legs:
            await self._close_leg(leg, reason=f"{cause} ({ended_by})")
        if call.data:
            await self.cdr.merge_data(call.id, call.data)
        await self.cdr.call_ended(
            call.id,
            utcnow(),
            cause=cause,
            ended_by=ended_by,
            sip_code=sip_code,
            recording_path=call.recording_path or None,
        )
        if call.source_ip:
            self.sip.protection.concurrency.release(call.source_ip)
        if self.control is not None:
            try:
                self.control.call_finished(call, cause, ended_by)
            except Exception:
                log.exception("call %s: call control failed at the end of the call", call.id)
        self._calls.pop(call.id, None)  # last: no active call means everything is released
        log.info("call %s: ended %s by %s", call.id, cause, ended_by)
        current = asyncio.current_task()
        for task in list(call.tasks):
            if task is not current:
                task.cancel()

    # -- hold / resume -------------------------------------------------------------------------

    async def _on_reinvite(self, leg: Leg, inc: IncomingRequest) -> None:
        req = inc.request
        if leg.endpoint is None or leg.dialog is None:
            inc.respond(491, "Request Pending")
            return
        if not req.body:
            # offer-less re-INVITE: offer our current description, take the answer from the ACK
            body = leg.sdp.build(leg.endpoint)
            resp = inc.respond(
                200,
                headers=[("Contact", str(self._contact(leg.peer))), ("Content-Type", "application/sdp")],
                body=body,
            )
            self._retransmit_ok(leg, resp)
            return
        try:
            sdp = parse_sdp(req.body)
        except SdpParseError:
            inc.respond(400, "Malformed SDP")
            return
        remote = remote_media(sdp)
        if remote is None:
            inc.respond(488, "Not Acceptable Here")
            return
        hold = is_hold(sdp)
        try:
            leg.endpoint = await self.media.update_endpoint(leg.endpoint.id, remote)
        except MediaEngineError:
            inc.respond(488, "Not Acceptable Here")
            return
        direction = mirror(remote.direction) if not hold or remote.direction != "sendrecv" else "inactive"
        body = leg.sdp.build(leg.endpoint, direction=direction, answer=True)
        resp = inc.respond(
            200,
            headers=[("Contact", str(self._contact(leg.peer))), ("Content-Type", "application/sdp")],
            body=body,
        )
        if req.method == "INVITE":
            self._retransmit_ok(leg, resp)
        changed = hold != leg.held
        await self._set_hold(leg, hold)
        if changed and self.control is not None:  # held from the phone: events, supervision mix
            await self.control.phone_hold(leg, hold)

    def _retransmit_ok(self, leg: Leg, resp: Response) -> None:
        retx = OkRetransmitter(resp, leg.peer, reliable=leg.peer.reliable, timers=self.sip.settings.timers)
        self.sip.run_actions(retx.start(self.sip.now), owner=retx)
        leg.ok_retx = retx

    async def _set_hold(self, leg: Leg, hold: bool) -> None:
        if hold == leg.held:
            return
        leg.held = hold
        call = leg.call
        now = asyncio.get_running_loop().time()
        if hold and call.hold_started is None:
            call.hold_started = now
        elif not hold and call.hold_started is not None:
            call.hold_total += now - call.hold_started
            call.hold_started = None
        if self.services is not None and call.service is not None:
            self.services.on_hold(call, hold)
        other = call.other(leg)
        if other is None or other.endpoint is None or leg.endpoint is None:
            return
        if hold:
            await self.media.unbridge(leg.endpoint.id, other.endpoint.id)
            source: PlaySource = (
                PlayFile(self.settings.music_on_hold) if self.settings.music_on_hold else PlayTone(HOLD_TONE)
            )
            call.moh[other.endpoint.id] = await self.media.play(other.endpoint.id, source, loop=True)
            if call.recording is not None:
                with contextlib.suppress(MediaEngineError):
                    await self.media.record_pause(call.recording)
        else:
            pid = call.moh.pop(other.endpoint.id, None)
            if pid is not None:
                with contextlib.suppress(MediaEngineError):
                    await self.media.stop_play(other.endpoint.id, pid)
            await self.media.bridge(leg.endpoint.id, other.endpoint.id)
            if call.recording is not None:
                with contextlib.suppress(MediaEngineError):
                    await self.media.record_resume(call.recording)
        log.info("call %s: %s %s", call.id, leg.role, "holds" if hold else "resumes")

    # -- DTMF by INFO -----------------------------------------------------------------------------

    def _on_info(self, leg: Leg, inc: IncomingRequest) -> None:
        req = inc.request
        ctype = (req.content_type or "").lower()
        digit = None
        if ctype.startswith("application/dtmf-relay"):
            for line in req.body.decode("utf-8", "replace").splitlines():
                name, _, value = line.partition("=")
                if name.strip().lower() == "signal":
                    digit = value.strip()
        elif ctype.startswith("application/dtmf"):
            digit = req.body.decode("utf-8", "replace").strip()
        if digit is not None and (len(digit) != 1 or digit not in "0123456789*#ABCD"):
            inc.respond(400, "Bad DTMF Signal")
            return
        inc.respond(200)
        if digit is not None:
            self._digit(leg, digit, "info")

    def _digit(self, leg: Leg, digit: str, source: str) -> None:
        call = leg.call
        shown = "*" if call.secure_dtmf else digit
        call.data.setdefault("dtmf", []).append({"leg": leg.role, "digit": shown, "source": source})
        log.info("call %s: DTMF %s from %s (%s)", call.id, shown, leg.role, source)
        if call.digit_sink is not None and leg is call.caller:
            call.digit_sink(digit)

    # -- blind transfer (REFER) -------------------------------------------------------------------

    async def _on_refer(self, leg: Leg, inc: IncomingRequest) -> None:
        req = inc.request
        refer_to = req.headers.get("Refer-To") or req.headers.get("r")
        call = leg.call
        other = call.other(leg)
        if not refer_to or other is None:
            inc.respond(
                400 if not refer_to else 603, "Missing Refer-To" if not refer_to else "Nothing To Transfer"
            )
            return
        try:
            target_uri = parse_name_addr(refer_to).uri
        except SipParseError:
            inc.respond(400, "Malformed Refer-To")
            return
        if isinstance(target_uri, SipURI) and "Replaces" in (target_uri.headers or {}):
            replaced = self._replaced_leg(target_uri.headers["Replaces"])
            if replaced is None or replaced.call is call or replaced.ended:
                inc.respond(481, "Replaced Dialog Does Not Exist")
                return
            target = replaced.call.other(replaced)
            if target is None:
                inc.respond(603, "Nothing To Connect")
                return
            inc.respond(202, "Accepted")
            self._spawn(call, self._attended_transfer(call, leg, other, replaced, target))
            return
        number = target_uri.user if isinstance(target_uri, SipURI) and target_uri.user else ""
        contacts = self.sip.lookup(call.tenant_id, number) if number else []
        if not contacts:
            inc.respond(404, "Transfer Target Not Found")
            return
        inc.respond(202, "Accepted")
        self._spawn(
            call,
            self._blind_transfer(call, leg, other, number, [(c.uri, self.sip.peer_for(c)) for c in contacts]),
        )

    async def _blind_transfer(
        self,
        call: Call,
        transferor: Leg,
        transferee: Leg,
        number: str,
        targets: list[tuple[str, Peer | None]],
    ) -> None:
        await self._notify_refer(transferor, "SIP/2.0 100 Trying", active=True)
        assert transferee.endpoint is not None
        moh = await self.media.play(transferee.endpoint.id, PlayTone(HOLD_TONE), loop=True)
        winner = await self._dial(call, targets, number, call.data.get("caller_id", ""))
        with contextlib.suppress(MediaEngineError):
            if transferee.endpoint is not None:
                await self.media.stop_play(transferee.endpoint.id, moh)
        if call.ended or transferee.ended:
            if isinstance(winner, OutboundLeg):
                await self._bye_leg(winner)
            return
        if isinstance(winner, int):
            await self._notify_refer(transferor, f"SIP/2.0 {winner} Failed", active=False)
            return
        await self._notify_refer(transferor, "SIP/2.0 200 OK", active=False)
        if call.recording is not None:
            with contextlib.suppress(MediaEngineError):
                await self.media.record_stop(call.recording)
            call.recording = None
        if transferor.endpoint is not None and transferee.endpoint is not None:
            with contextlib.suppress(MediaEngineError):
                await self.media.unbridge(transferor.endpoint.id, transferee.endpoint.id)
        await self._bye_leg(transferor)
        await self._close_leg(transferor, reason="transferred")
        assert winner.endpoint is not None and transferee.endpoint is not None
        await self.media.bridge(transferee.endpoint.id, winner.endpoint.id)
        if self.settings.record_calls:
            path = self._recording_path(call, suffix=f"-t{len(call.legs)}")
            with contextlib.suppress(MediaEngineError):
                call.recording = await self.media.record_start(
                    path, transferee.endpoint.id, winner.endpoint.id
                )
        if winner.cdr_leg is not None:
            await self.cdr.leg_answered(winner.cdr_leg, utcnow())
        log.info("call %s: transferred to %s", call.id, number)

    def _replaced_leg(self, replaces: str) -> Leg | None:
        """Our leg for a Replaces value (RFC 3891): call-id;to-tag=<our tag>;from-tag=<theirs>."""
        call_id, _, params = replaces.partition(";")
        tags = dict(p.split("=", 1) for p in params.split(";") if "=" in p)
        leg = self._by_dialog.get((call_id.strip(), tags.get("to-tag", "")))
        if leg is None or leg.dialog is None or leg.dialog.remote_tag != tags.get("from-tag"):
            return None
        return leg

    async def _attended_transfer(
        self, call: Call, transferor: Leg, transferee: Leg, replaced: Leg, target: Leg
    ) -> None:
        """REFER with Replaces: the transferor talked to ``transferee`` (this call) and to
        ``target`` (another call, leg ``replaced``); connect transferee and target, drop both of
        the transferor's legs. The target's leg moves into this call; the other call ends."""
        other_call = replaced.call
        await self._notify_refer(transferor, "SIP/2.0 100 Trying", active=True)
        for c in (call, other_call):
            for ep_id, pid in list(c.moh.items()):
                with contextlib.suppress(MediaEngineError):
                    await self.media.stop_play(ep_id, pid)
            c.moh.clear()
            if c.recording is not None:
                with contextlib.suppress(MediaEngineError):
                    await self.media.record_stop(c.recording)
                c.recording = None
        for a, b in ((transferor, transferee), (replaced, target)):
            if a.endpoint is not None and b.endpoint is not None:
                with contextlib.suppress(MediaEngineError):
                    await self.media.unbridge(a.endpoint.id, b.endpoint.id)
        other_call.legs.remove(target)
        target.call = call
        call.legs.append(target)
        if target.cdr_leg is not None:
            await self.cdr.move_leg(target.cdr_leg, call.id)
        call.data["joined_call"] = other_call.id
        other_call.data["joined_into"] = call.id
        transferee.held = target.held = False
        assert transferee.endpoint is not None and target.endpoint is not None
        await self.media.bridge(transferee.endpoint.id, target.endpoint.id)
        if self.settings.record_calls:
            path = self._recording_path(call, suffix=f"-t{len(call.legs)}")
            with contextlib.suppress(MediaEngineError):
                call.recording = await self.media.record_start(
                    path, transferee.endpoint.id, target.endpoint.id
                )
        await self._notify_refer(transferor, "SIP/2.0 200 OK", active=False)
        await self._bye_leg(transferor)
        await self._close_leg(transferor, reason="transferred")
        await self._bye_leg(replaced)
        await self._finish(other_call, cause="normal", ended_by="caller")
        log.info(
            "call %s: attended transfer joined %s with %s (from call %s)",
            call.id,
            transferee.role,
            target.role,
            other_call.id,
        )

    async def _notify_refer(self, leg: Leg, sipfrag: str, *, active: bool) -> None:
        if leg.dialog is None or leg.ended:
            return
        state = "active;expires=60" if active else "terminated;reason=noresource"
        try:
            notify = leg.dialog.create_request(
                "NOTIFY",
                body=(sipfrag + "\r\n").encode(),
                content_type="message/sipfrag;version=2.0",
                extra_headers=[("Event", "refer"), ("Subscription-State", state)],
            )
        except DialogError:
            return
        # NOTIFYs of one subscription go out in CSeq order: each waits (briefly) for the one before
        previous = leg.notify_task
        if previous is not None and not previous.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(previous), 2.0)
        if active:
            leg.notify_task = asyncio.ensure_future(self.sip.send_request(notify, leg.peer))
        else:  # the final NOTIFY completes before the transferor is sent BYE
            await self.sip.send_request(notify, leg.peer)

    # -- events from the media engine and stray responses --------------------------------------

    def _on_media_event(self, event: MediaEvent) -> None:
        if isinstance(event, PlaybackFinished):
            fut = self._playbacks.get(event.playback)
            if fut is None:
                fut = asyncio.get_running_loop().create_future()
                self._playbacks[event.playback] = fut
            if not fut.done():
                fut.set_result(event.reason)
            return
        leg = self._by_endpoint.get(getattr(event, "endpoint", ""))  # type: ignore[arg-type]
        if leg is None:
            return
        if isinstance(event, DtmfReceived):
            self._digit(leg, event.digit, event.source)
        elif isinstance(event, MediaTimeout) and not leg.call.ended and leg.role in ("supervisor", "consult"):
            if self.control is not None:  # a silent supervisor or consulted phone: drop that leg only
                self._spawn(leg.call, self.control.leg_gone(leg, by_phone=False))
        elif isinstance(event, MediaTimeout) and not leg.call.ended:
            log.warning(
                "call %s: no media from %s for %.0f s; hanging up", leg.call.id, leg.role, event.seconds
            )
            self._spawn(leg.call, self.hangup(leg.call, cause="timeout", ended_by="system"))

    def _on_stray_response(self, resp: Response, peer: Peer) -> None:
        """A retransmitted 2xx to one of our INVITEs: our ACK was lost, send it again."""
        if resp.cseq.method != "INVITE" or not (200 <= resp.status < 300):
            return
        leg = self._by_dialog.get((resp.call_id, resp.from_tag or ""))
        if isinstance(leg, OutboundLeg) and leg.dialog is not None and leg.invite is not None:
            with contextlib.suppress(DialogError):
                self.sip.send_stateless(leg.dialog.create_ack(leg.invite.cseq.seq), peer)


class _RetxWatch:
    """Feeds the 2xx retransmitter's timers and hangs up when the ACK never comes."""

    def __init__(self, manager: CallManager, call: Call, leg: InboundLeg, retx: OkRetransmitter) -> None:
        self.manager, self.call, self.leg, self.retx = manager, call, leg, retx

    def timer_fired(self, name: str, now: float) -> list[Any]:
        actions = self.retx.timer_fired(name, now)
        if any(isinstance(a, TransactionTimeout) for a in actions) and not (
            self.leg.acked.is_set() or self.call.ended
        ):
            log.warning("call %s: no ACK for our 200 OK; hanging up", self.call.id)
            self.manager._spawn(self.call, self.manager.hangup(self.call, cause="failed", ended_by="system"))
        return actions


# -- small helpers ------------------------------------------------------------------------------


def _realm_of(value: str) -> str | None:
    try:
        return parse_credentials(value).realm
    except SipParseError:
        return None


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _host_port(contact: NameAddr) -> tuple[str, int | None]:
    uri = contact.uri
    assert isinstance(uri, SipURI)
    return uri.host.strip("[]"), uri.port


def _user(caller_id: str) -> str:
    user = "".join(ch for ch in caller_id if ch.isalnum() or ch in "+*#-._")
    return user or "anonymous"


def _best_status(statuses: list[int]) -> int:
    """RFC 3261 §16.7-like choice among forked failures: busy beats no-answer beats the rest."""
    for wanted in (486, 600, 603, 480, 408):
        if wanted in statuses:
            return wanted
    return min(statuses) if statuses else 480
