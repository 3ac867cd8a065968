"""RFC 3261 §17 transactions (with the RFC 6026 fix for INVITE 2xx), sans-IO.

Every transaction consumes messages, TU calls and ``timer_fired(name, now)`` and
returns a list of *actions* for the caller to carry out:

* :class:`Send` — put a message on the wire (``destination`` is the opaque value
  given when the transaction was created, e.g. an address tuple or connection),
* :class:`StartTimer` / :class:`CancelTimer` — schedule ``timer_fired(name, at)``
  (firing a cancelled or superseded timer is harmless: it is ignored),
* :class:`ResponseReceived`, :class:`RequestReceived`, :class:`TransactionTimeout`,
  :class:`TransportFailure` — notifications for the transaction user (TU),
* :class:`Terminated` — the transaction is finished and produces nothing more.

Timer values: T1=0.5 s, T2=4 s, T4=5 s by default.  Over reliable transports
timers A, E and G are not used and D, I, J, K are zero (the transaction goes to
Terminated at once).  Timer "C" (client INVITE, 3 min in Proceeding) is our
addition so that a client INVITE transaction always terminates; the TU should
CANCEL when it sees the resulting timeout.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from hotline.sip.errors import SipError, SipParseError
from hotline.sip.headers import BRANCH_MAGIC_COOKIE, Headers
from hotline.sip.message import Request, Response, make_response

T1 = 0.5
T2 = 4.0
T4 = 5.0
TIMER_C = 180.0

TxKey = tuple[str, ...]


# ----------------------------------------------------------------------- actions
@dataclass(frozen=True)
class Send:
    tx: TxKey
    message: Request | Response
    destination: object


@dataclass(frozen=True)
class StartTimer:
    tx: TxKey
    name: str
    at: float


@dataclass(frozen=True)
class CancelTimer:
    tx: TxKey
    name: str


@dataclass(frozen=True)
class ResponseReceived:
    tx: TxKey
    response: Response


@dataclass(frozen=True)
class RequestReceived:
    """A new request for the TU (``tx`` is None for an ACK to a 2xx, which has no transaction)."""

    tx: TxKey | None
    request: Request
    source: object = None


@dataclass(frozen=True)
class TransactionTimeout:
    tx: TxKey


@dataclass(frozen=True)
class TransportFailure:
    tx: TxKey


@dataclass(frozen=True)
class Terminated:
    tx: TxKey


@dataclass(frozen=True)
class StrayResponse:
    """A response matching no client transaction (e.g. a 2xx retransmission for the TU/dialog)."""

    response: Response
    source: object = None


Action = (
    Send
    | StartTimer
    | CancelTimer
    | ResponseReceived
    | RequestReceived
    | TransactionTimeout
    | TransportFailure
    | Terminated
    | StrayResponse
)


class State(Enum):
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class TransactionError(SipError):
    """Misuse of a transaction by the TU (e.g. responding twice with a final response)."""


@dataclass(frozen=True)
class Timers:
    t1: float = T1
    t2: float = T2
    t4: float = T4
    timer_c: float = TIMER_C


# ------------------------------------------------------------------------- keys
def client_key(request_or_response: Request | Response) -> TxKey:
    """Client transaction key: top Via branch + CSeq method (RFC 3261 §17.1.3)."""
    via = request_or_response.top_via
    return ("c", via.branch or "", request_or_response.cseq.method)


def server_key(request: Request) -> TxKey:
    """Server transaction key (RFC 3261 §17.2.3); ACK maps onto its INVITE."""
    via = request.top_via
    method = "INVITE" if request.method == "ACK" else request.method
    host, port = via.sent_by
    if via.rfc3261_branch:
        return ("s", via.branch or "", host, str(port or ""), method)
    # RFC 2543 fallback: Request-URI, From tag, Call-ID, CSeq number, top Via, method
    return (
        "s2543",
        str(request.uri),
        request.from_tag or "",
        request.call_id,
        str(request.cseq.seq),
        f"{host}:{port or ''}",
        method,
    )


# ----------------------------------------------------------------- base class
class Transaction:
    is_invite: bool = False
    is_client: bool = False

    def __init__(
        self, key: TxKey, request: Request, reliable: bool, destination: object, timers: Timers
    ) -> None:
        self.key = key
        self.request = request
        self.reliable = reliable
        self.destination = destination
        self.timers = timers
        self.state = State.TRYING
        self._deadlines: dict[str, float] = {}

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    @property
    def pending_timers(self) -> dict[str, float]:
        return dict(self._deadlines)

    def _start(self, name: str, at: float) -> StartTimer:
        self._deadlines[name] = at
        return StartTimer(self.key, name, at)

    def _cancel(self, name: str) -> list[Action]:
        if self._deadlines.pop(name, None) is not None:
            return [CancelTimer(self.key, name)]
        return []

    def _send(self, message: Request | Response) -> Send:
        return Send(self.key, message, self.destination)

    def _terminate(self) -> list[Action]:
        out: list[Action] = [CancelTimer(self.key, name) for name in self._deadlines]
        self._deadlines.clear()
        self.state = State.TERMINATED
        out.append(Terminated(self.key))
        return out

    def timer_fired(self, name: str, now: float) -> list[Action]:
        """Handle a timer; stale (cancelled/replaced) timers and fires after termination are ignored."""
        if self.terminated or name not in self._deadlines:
            return []
        del self._deadlines[name]
        return self._on_timer(name, now)

    def _on_timer(self, name: str, now: float) -> list[Action]:
        raise NotImplementedError

    def transport_error(self, now: float) -> list[Action]:
        """The transport failed to send one of our messages (RFC 3261 §17.1.4 / §17.2.4)."""
        if self.terminated:
            return []
        return [TransportFailure(self.key), *self._terminate()]


# ------------------------------------------------------------ client INVITE
def make_ack(invite: Request, response: Response) -> Request:
    """ACK for a non-2xx final response (RFC 3261 §17.1.1.3)."""
    h = Headers()
    h.add("Via", invite.headers.get_all("Via")[0])
    for value in invite.headers.get_lines("Route"):
        h.add("Route", value)
    h.add("Max-Forwards", "70")
    h.add("From", invite.headers.get("From") or "")
    h.add("To", response.headers.get("To") or "")
    h.add("Call-ID", invite.call_id)
    h.add("CSeq", f"{invite.cseq.seq} ACK")
    return Request("ACK", invite.uri, h)


def make_cancel(invite: Request) -> Request:
    """CANCEL for a pending INVITE (RFC 3261 §9.1): same branch, so it matches the INVITE server tx."""
    h = Headers()
    h.add("Via", invite.headers.get_all("Via")[0])
    for value in invite.headers.get_lines("Route"):
        h.add("Route", value)
    h.add("Max-Forwards", "70")
    h.add("From", invite.headers.get("From") or "")
    h.add("To", invite.headers.get("To") or "")
    h.add("Call-ID", invite.call_id)
    h.add("CSeq", f"{invite.cseq.seq} CANCEL")
    return Request("CANCEL", invite.uri, h)


class ClientInviteTransaction(Transaction):
    is_invite = True
    is_client = True

    def start(self, now: float) -> list[Action]:
        self.state = State.CALLING
        self._a_interval = self.timers.t1
        out: list[Action] = [self._send(self.request)]
        if not self.reliable:
            out.append(self._start("A", now + self._a_interval))
        out.append(self._start("B", now + 64 * self.timers.t1))
        return out

    def receive_response(self, response: Response, now: float) -> list[Action]:
        st = self.state
        if st is State.TERMINATED:
            return []
        code = response.status
        if st in (State.CALLING, State.PROCEEDING):
            if code < 200:
                out: list[Action] = []
                if st is State.CALLING:
                    out += self._cancel("A") + self._cancel("B")
                    out.append(self._start("C", now + self.timers.timer_c))
                    self.state = State.PROCEEDING
                return [*out, ResponseReceived(self.key, response)]
            if code < 300:
                out = self._cancel("A") + self._cancel("B") + self._cancel("C")
                self.state = State.ACCEPTED
                out.append(ResponseReceived(self.key, response))
                out.append(self._start("M", now + 64 * self.timers.t1))
                return out
            out = self._cancel("A") + self._cancel("B") + self._cancel("C")
            self._ack = make_ack(self.request, response)
            out += [self._send(self._ack), ResponseReceived(self.key, response)]
            if self.reliable:
                return out + self._terminate()
            self.state = State.COMPLETED
            return [*out, self._start("D", now + 32.0)]
        if st is State.COMPLETED and code >= 300:
            return [self._send(self._ack)]
        if st is State.ACCEPTED and 200 <= code < 300:
            return [ResponseReceived(self.key, response)]
        return []

    def _on_timer(self, name: str, now: float) -> list[Action]:
        if name == "A" and self.state is State.CALLING:
            self._a_interval *= 2
            return [self._send(self.request), self._start("A", now + self._a_interval)]
        if name == "B" and self.state is State.CALLING:
            return [TransactionTimeout(self.key), *self._terminate()]
        if name == "C" and self.state is State.PROCEEDING:
            return [TransactionTimeout(self.key), *self._terminate()]
        if name in ("D", "M"):
            return self._terminate()
        return []


# -------------------------------------------------------- client non-INVITE
class ClientNonInviteTransaction(Transaction):
    is_client = True

    def start(self, now: float) -> list[Action]:
        self.state = State.TRYING
        self._e_interval = self.timers.t1
        out: list[Action] = [self._send(self.request)]
        if not self.reliable:
            out.append(self._start("E", now + self._e_interval))
        out.append(self._start("F", now + 64 * self.timers.t1))
        return out

    def receive_response(self, response: Response, now: float) -> list[Action]:
        if self.state not in (State.TRYING, State.PROCEEDING):
            return []
        if response.status < 200:
            self.state = State.PROCEEDING
            return [ResponseReceived(self.key, response)]
        out = self._cancel("E") + self._cancel("F")
        out.append(ResponseReceived(self.key, response))
        if self.reliable:
            return out + self._terminate()
        self.state = State.COMPLETED
        return [*out, self._start("K", now + self.timers.t4)]

    def _on_timer(self, name: str, now: float) -> list[Action]:
        if name == "E" and self.state in (State.TRYING, State.PROCEEDING):
            if self.state is State.TRYING:
                self._e_interval = min(2 * self._e_interval, self.timers.t2)
            else:
                self._e_interval = self.timers.t2
            return [self._send(self.request), self._start("E", now + self._e_interval)]
        if name == "F" and self.state in (State.TRYING, State.PROCEEDING):
            return [TransactionTimeout(self.key), *self._terminate()]
        if name == "K":
            return self._terminate()
        return []


# ------------------------------------------------------------ server INVITE
class ServerInviteTransaction(Transaction):
    is_invite = True

    def __init__(
        self,
        key: TxKey,
        request: Request,
        reliable: bool,
        destination: object,
        timers: Timers,
        *,
        auto_trying: bool = True,
    ) -> None:
        super().__init__(key, request, reliable, destination, timers)
        self.auto_trying = auto_trying
        self.last_response: Response | None = None

    def start(self, now: float) -> list[Action]:
        self.state = State.PROCEEDING
        out: list[Action] = [RequestReceived(self.key, self.request, self.destination)]
        if self.auto_trying:
            self.last_response = make_response(self.request, 100)
            out.insert(0, self._send(self.last_response))
        return out

    def receive_request(self, request: Request, now: float) -> list[Action]:
        st = self.state
        if request.method == "ACK":
            if st is State.COMPLETED:
                out = self._cancel("G") + self._cancel("H")
                if self.reliable:
                    return out + self._terminate()
                self.state = State.CONFIRMED
                return [*out, self._start("I", now + self.timers.t4)]
            if st is State.ACCEPTED:
                return [RequestReceived(self.key, request, self.destination)]
            return []
        # retransmitted INVITE
        if st in (State.PROCEEDING, State.COMPLETED) and self.last_response is not None:
            return [self._send(self.last_response)]
        return []

    def send_response(self, response: Response, now: float) -> list[Action]:
        st = self.state
        code = response.status
        if st is State.ACCEPTED and 200 <= code < 300:
            return [self._send(response)]  # TU retransmits its 2xx (RFC 6026)
        if st is not State.PROCEEDING:
            raise TransactionError(f"cannot send {code} in state {st.value}")
        self.last_response = response
        if code < 200:
            return [self._send(response)]
        if code < 300:
            self.state = State.ACCEPTED
            return [self._send(response), self._start("L", now + 64 * self.timers.t1)]
        self.state = State.COMPLETED
        self._g_interval = self.timers.t1
        out: list[Action] = [self._send(response)]
        if not self.reliable:
            out.append(self._start("G", now + self._g_interval))
        out.append(self._start("H", now + 64 * self.timers.t1))
        return out

    def _on_timer(self, name: str, now: float) -> list[Action]:
        if name == "G" and self.state is State.COMPLETED and self.last_response is not None:
            self._g_interval = min(2 * self._g_interval, self.timers.t2)
            return [self._send(self.last_response), self._start("G", now + self._g_interval)]
        if name == "H" and self.state is State.COMPLETED:
            return [TransactionTimeout(self.key), *self._terminate()]
        if name in ("I", "L"):
            return self._terminate()
        return []


# -------------------------------------------------------- server non-INVITE
class ServerNonInviteTransaction(Transaction):
    def __init__(
        self, key: TxKey, request: Request, reliable: bool, destination: object, timers: Timers
    ) -> None:
        super().__init__(key, request, reliable, destination, timers)
        self.last_response: Response | None = None

    def start(self, now: float) -> list[Action]:
        self.state = State.TRYING
        return [RequestReceived(self.key, self.request, self.destination)]

    def receive_request(self, request: Request, now: float) -> list[Action]:
        if self.state in (State.PROCEEDING, State.COMPLETED) and self.last_response is not None:
            return [self._send(self.last_response)]
        return []

    def send_response(self, response: Response, now: float) -> list[Action]:
        if self.state not in (State.TRYING, State.PROCEEDING):
            raise TransactionError(f"cannot send {response.status} in state {self.state.value}")
        self.last_response = response
        if response.status < 200:
            self.state = State.PROCEEDING
            return [self._send(response)]
        out: list[Action] = [self._send(response)]
        if self.reliable:
            return out + self._terminate()
        self.state = State.COMPLETED
        return [*out, self._start("J", now + 64 * self.timers.t1)]

    def _on_timer(self, name: str, now: float) -> list[Action]:
        if name == "J":
            return self._terminate()
        return []


ClientTransaction = ClientInviteTransaction | ClientNonInviteTransaction
ServerTransaction = ServerInviteTransaction | ServerNonInviteTransaction


# -------------------------------------------------------------------- layer
class TransactionLayer:
    """Owns the transaction table and routes messages, TU calls and timers.

    ``reliable`` is given per message/transaction (UDP: False, TCP/TLS: True).
    Terminated transactions are removed from the table automatically.
    """

    def __init__(self, timers: Timers | None = None, *, auto_trying: bool = True) -> None:
        self.timers = timers or Timers()
        self.auto_trying = auto_trying
        self.client: dict[TxKey, ClientTransaction] = {}
        self.server: dict[TxKey, ServerTransaction] = {}

    def __len__(self) -> int:
        return len(self.client) + len(self.server)

    def get(self, key: TxKey) -> Transaction | None:
        return self.client.get(key) or self.server.get(key)

    def _reap(self, actions: list[Action]) -> list[Action]:
        for a in actions:
            if isinstance(a, Terminated):
                self.client.pop(a.tx, None)
                self.server.pop(a.tx, None)
        return actions

    # -- client side ------------------------------------------------------------
    def send_request(
        self, request: Request, now: float, *, reliable: bool = False, destination: object = None
    ) -> tuple[TxKey, list[Action]]:
        """Start a client transaction for ``request`` (its top Via must carry a fresh branch)."""
        if request.method == "ACK":
            raise TransactionError("ACK for 2xx is sent by the TU directly, not in a transaction")
        key = client_key(request)
        if not key[1].startswith(BRANCH_MAGIC_COOKIE) or key in self.client:
            raise TransactionError("request needs a unique RFC 3261 branch")
        tx: ClientTransaction
        if request.method == "INVITE":
            tx = ClientInviteTransaction(key, request, reliable, destination, self.timers)
        else:
            tx = ClientNonInviteTransaction(key, request, reliable, destination, self.timers)
        self.client[key] = tx
        return key, self._reap(tx.start(now))

    # -- server side ------------------------------------------------------------
    def respond(self, key: TxKey, response: Response, now: float) -> list[Action]:
        """TU sends ``response`` in server transaction ``key``."""
        tx = self.server.get(key)
        if tx is None:
            raise TransactionError("no such server transaction")
        return self._reap(tx.send_response(response, now))

    def find_cancel_target(self, cancel: Request) -> ServerInviteTransaction | None:
        """The INVITE server transaction a CANCEL refers to (RFC 3261 §9.2)."""
        key = server_key(cancel)
        inv_key = (*key[:-1], "INVITE")
        tx = self.server.get(inv_key)
        return tx if isinstance(tx, ServerInviteTransaction) else None

    # -- input ------------------------------------------------------------------
    def receive(
        self, message: Request | Response, now: float, *, reliable: bool = False, source: object = None
    ) -> list[Action]:
        """Route an incoming, parsed message."""
        try:
            key = client_key(message) if isinstance(message, Response) else server_key(message)
        except SipParseError:
            return []
        if isinstance(message, Response):
            ctx = self.client.get(key)
            if ctx is None:
                return [StrayResponse(message, source)]
            return self._reap(ctx.receive_response(message, now))
        stx = self.server.get(key)
        if stx is not None:
            return self._reap(stx.receive_request(message, now))
        if message.method == "ACK":
            return [RequestReceived(None, message, source)]
        new: ServerTransaction
        if message.method == "INVITE":
            new = ServerInviteTransaction(
                key, message, reliable, source, self.timers, auto_trying=self.auto_trying
            )
        else:
            new = ServerNonInviteTransaction(key, message, reliable, source, self.timers)
        self.server[key] = new
        return self._reap(new.start(now))

    def timer_fired(self, key: TxKey, name: str, now: float) -> list[Action]:
        tx = self.get(key)
        return self._reap(tx.timer_fired(name, now)) if tx is not None else []

    def transport_error(self, key: TxKey, now: float) -> list[Action]:
        tx = self.get(key)
        return self._reap(tx.transport_error(now)) if tx is not None else []


class OkRetransmitter:
    """UAS core retransmission of a 2xx to INVITE (RFC 3261 §13.3.1.4).

    The INVITE server transaction does not retransmit 2xx responses; the UAS core
    does, at T1, 2*T1, ... capped at T2, until the ACK arrives (:meth:`ack_received`).
    Without an ACK after 64*T1 it reports :class:`TransactionTimeout` (the TU should
    then send BYE).  Over reliable transports only the 64*T1 wait is kept.  Uses the
    same action types as transactions, keyed ``("2xx", call_id, cseq)``.
    """

    def __init__(
        self, response: Response, destination: object, *, reliable: bool = False, timers: Timers | None = None
    ) -> None:
        self.response = response
        self.destination = destination
        self.reliable = reliable
        self.timers = timers or Timers()
        self.key: TxKey = ("2xx", response.call_id, str(response.cseq.seq))
        self.done = False
        self._deadlines: dict[str, float] = {}
        self._interval = self.timers.t1

    @property
    def pending_timers(self) -> dict[str, float]:
        return dict(self._deadlines)

    def _start(self, name: str, at: float) -> StartTimer:
        self._deadlines[name] = at
        return StartTimer(self.key, name, at)

    def _finish(self) -> list[Action]:
        out: list[Action] = [CancelTimer(self.key, n) for n in self._deadlines]
        self._deadlines.clear()
        self.done = True
        return [*out, Terminated(self.key)]

    def start(self, now: float) -> list[Action]:
        """Returns the timers to start (the first 2xx is sent through the server transaction)."""
        out: list[Action] = []
        if not self.reliable:
            out.append(self._start("retransmit", now + self._interval))
        out.append(self._start("giveup", now + 64 * self.timers.t1))
        return out

    def ack_received(self, now: float) -> list[Action]:
        return [] if self.done else self._finish()

    def timer_fired(self, name: str, now: float) -> list[Action]:
        if self.done or name not in self._deadlines:
            return []
        del self._deadlines[name]
        if name == "retransmit":
            self._interval = min(2 * self._interval, self.timers.t2)
            return [
                Send(self.key, self.response, self.destination),
                self._start("retransmit", now + self._interval),
            ]
        return [TransactionTimeout(self.key), *self._finish()]
