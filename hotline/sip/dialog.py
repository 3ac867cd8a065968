"""SIP dialogs (RFC 3261 §12), sans-IO.

A :class:`Dialog` is created by the UAC from a 1xx-with-To-tag or 2xx response
(:meth:`Dialog.from_uac_response`) or by the UAS when it answers an INVITE
(:meth:`Dialog.from_uas_request`).  It keeps the dialog id, the route set, the
remote target and both CSeq spaces, builds in-dialog requests (BYE, re-INVITE,
INFO, REFER, UPDATE, ACK for 2xx) and checks incoming in-dialog requests for
out-of-order CSeq.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import Enum

from hotline.sip.errors import SipError
from hotline.sip.headers import Headers, NameAddr, Via
from hotline.sip.helpers import generate_branch
from hotline.sip.message import Request, Response
from hotline.sip.uri import URI, SipURI

#: methods whose Contact refreshes the remote target (RFC 3261 §12.2, RFC 3311, RFC 6665)
TARGET_REFRESH = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})


class DialogError(SipError):
    """An in-dialog request must be rejected with ``status``."""

    def __init__(self, reason: str, status: int = 500) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class DialogId:
    call_id: str
    local_tag: str
    remote_tag: str


def uas_dialog_id(request: Request) -> DialogId | None:
    """Dialog id of an incoming in-dialog request (UAS view), None without a To-tag."""
    to_tag, from_tag = request.to_tag, request.from_tag
    if not to_tag:
        return None
    return DialogId(request.call_id, to_tag, from_tag or "")


def uac_dialog_id(response: Response) -> DialogId | None:
    """Dialog id of a response to a request we sent (UAC view), None without a To-tag."""
    to_tag = response.to_tag
    if not to_tag:
        return None
    return DialogId(response.call_id, response.from_tag or "", to_tag)


class DialogState(Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


def _strip_tag(addr: NameAddr) -> NameAddr:
    out = addr.copy()
    out.tag = None
    return out


def _contact_host(contact: NameAddr | None) -> str:
    if contact is not None and isinstance(contact.uri, SipURI):
        return contact.uri.host
    return "0.0.0.0"  # noqa: S104 - unknown: the transport must fix the Via


def _contact_port(contact: NameAddr | None) -> int | None:
    if contact is not None and isinstance(contact.uri, SipURI):
        return contact.uri.port
    return None


def _target(contact_holder: Request | Response) -> URI | None:
    contacts = contact_holder.contacts
    return contacts[0].uri if contacts else None


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr
    remote_uri: NameAddr
    remote_target: URI
    route_set: list[NameAddr] = field(default_factory=list)
    local_seq: int | None = None
    remote_seq: int | None = None
    state: DialogState = DialogState.EARLY
    is_uac: bool = True
    secure: bool = False
    #: our Contact (added to target-refresh requests) and Via sent-by for new requests
    local_contact: NameAddr | None = None
    via_transport: str = "UDP"
    via_host: str = "0.0.0.0"  # noqa: S104 - placeholder until the transport sets it
    via_port: int | None = None

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    # -- creation -------------------------------------------------------------
    @classmethod
    def from_uac_response(
        cls, request: Request, response: Response, *, local_contact: NameAddr | None = None
    ) -> Dialog:
        """UAC side: dialog from a 1xx (with To-tag) or 2xx to our ``request`` (§12.1.2)."""
        to_tag = response.to_tag
        if not to_tag or not (101 <= response.status < 300):
            raise DialogError("response does not create a dialog")
        target = _target(response)
        if target is None:
            if response.status >= 200:
                raise DialogError("2xx without Contact")
            target = request.uri
        via = request.top_via
        return cls(
            call_id=request.call_id,
            local_tag=request.from_tag or "",
            remote_tag=to_tag,
            local_uri=_strip_tag(request.from_addr),
            remote_uri=_strip_tag(response.to_addr),
            remote_target=target,
            route_set=list(reversed(response.record_route)),
            local_seq=request.cseq.seq,
            remote_seq=None,
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            is_uac=True,
            secure=isinstance(request.uri, SipURI) and request.uri.secure and via.transport == "TLS",
            local_contact=local_contact or (request.contacts[0] if request.contacts else None),
            via_transport=via.transport,
            via_host=via.host,
            via_port=via.port,
        )

    @classmethod
    def from_uas_request(
        cls,
        request: Request,
        local_tag: str,
        *,
        local_contact: NameAddr | None = None,
        confirmed: bool = False,
        local_seq: int | None = None,
        via_host: str | None = None,
        via_port: int | None = None,
    ) -> Dialog:
        """UAS side: dialog for the response (1xx/2xx with ``local_tag``) to ``request`` (§12.1.1)."""
        target = _target(request)
        if target is None:
            raise DialogError("dialog-creating request without Contact", 400)
        via = request.top_via
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_tag or "",
            local_uri=_strip_tag(request.to_addr),
            remote_uri=_strip_tag(request.from_addr),
            remote_target=target,
            route_set=list(request.record_route),
            local_seq=local_seq,
            remote_seq=request.cseq.seq,
            state=DialogState.CONFIRMED if confirmed else DialogState.EARLY,
            is_uac=False,
            secure=isinstance(request.uri, SipURI) and request.uri.secure and via.transport == "TLS",
            local_contact=local_contact,
            via_transport=via.transport,
            via_host=via_host or _contact_host(local_contact),
            via_port=via_port if via_host else _contact_port(local_contact),
        )

    # -- updates ----------------------------------------------------------------
    def update_from_response(self, request: Request, response: Response) -> None:
        """Apply a response to a request we sent in this dialog (early -> confirmed, target refresh)."""
        if self.state is DialogState.TERMINATED:
            return
        if 200 <= response.status < 300 and request.method == "INVITE" and self.state is DialogState.EARLY:
            # route set is recomputed from the 2xx for the INVITE that created the dialog
            self.route_set = list(reversed(response.record_route))
            self.state = DialogState.CONFIRMED
        if 200 <= response.status < 300 and request.method in TARGET_REFRESH:
            target = _target(response)
            if target is not None:
                self.remote_target = target
        elif response.status in (481, 408) and request.method not in ("CANCEL",):
            self.state = DialogState.TERMINATED

    def confirm(self) -> None:
        if self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED

    def terminate(self) -> None:
        self.state = DialogState.TERMINATED

    def receive_request(self, request: Request) -> None:
        """Validate an incoming in-dialog request and update state (§12.2.2).

        Raises :class:`DialogError` (500) for an out-of-order CSeq.  ACK and CANCEL
        carry the CSeq of the INVITE and are not checked.
        """
        if request.call_id != self.call_id or request.to_tag != self.local_tag:
            raise DialogError("Call/Transaction Does Not Exist", 481)
        seq = request.cseq.seq
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and seq < self.remote_seq:
                raise DialogError("Out of order CSeq")
            self.remote_seq = seq
        if request.method in TARGET_REFRESH:
            target = _target(request)
            if target is not None:
                self.remote_target = target
        if request.method == "ACK" and self.state is DialogState.EARLY:
            self.state = DialogState.CONFIRMED
        if request.method == "BYE":
            self.state = DialogState.TERMINATED

    # -- building requests --------------------------------------------------------
    def next_cseq(self, rng: random.Random | None = None) -> int:
        if self.local_seq is None:
            r = rng if rng is not None else random.Random()
            self.local_seq = r.randint(1, 2**16)
        else:
            self.local_seq += 1
        return self.local_seq

    def _request_uri_and_routes(self) -> tuple[URI, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0]
        if isinstance(first.uri, SipURI) and first.uri.lr:
            return self.remote_target, [str(r) for r in self.route_set]
        # strict routing (RFC 2543 next hop): first route becomes the Request-URI
        ruri: URI = first.uri
        if isinstance(ruri, SipURI):
            ruri = ruri.copy()
            ruri.headers = {}
            ruri.params.pop("method", None)
        routes = [str(r) for r in self.route_set[1:]]
        routes.append(str(NameAddr(self.remote_target)))
        return ruri, routes

    def create_request(
        self,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        extra_headers: list[tuple[str, str]] | None = None,
        cseq: int | None = None,
        branch: str | None = None,
        rng: random.Random | None = None,
    ) -> Request:
        """Build an in-dialog request (BYE, re-INVITE, INFO, REFER, UPDATE, ...; ACK via :meth:`create_ack`)."""
        if self.state is DialogState.TERMINATED and method != "ACK":
            raise DialogError("dialog terminated")
        seq = cseq if cseq is not None else self.next_cseq(rng)
        ruri, routes = self._request_uri_and_routes()
        h = Headers()
        via = Via(
            self.via_transport, self.via_host, self.via_port, {"branch": branch or generate_branch(rng)}
        )
        via.params["rport"] = None
        h.add("Via", str(via))
        h.add("Max-Forwards", "70")
        for route in routes:
            h.add("Route", route)
        local = self.local_uri.copy()
        local.tag = self.local_tag
        remote = self.remote_uri.copy()
        remote.tag = self.remote_tag or None
        h.add("From", str(local))
        h.add("To", str(remote))
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{seq} {method}")
        if self.local_contact is not None and method in TARGET_REFRESH:
            h.add("Contact", str(self.local_contact))
        for name, value in extra_headers or []:
            h.add(name, value)
        if content_type is not None:
            h.add("Content-Type", content_type)
        return Request(method, ruri, h, body)

    def create_ack(
        self,
        invite_cseq: int,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        rng: random.Random | None = None,
    ) -> Request:
        """ACK for a 2xx to INVITE ``invite_cseq`` (new branch, same CSeq number; §13.2.2.4)."""
        return self.create_request("ACK", body=body, content_type=content_type, cseq=invite_cseq, rng=rng)
