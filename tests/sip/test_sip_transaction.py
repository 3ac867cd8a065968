"""RFC 3261 §17 transaction state machines (with RFC 6026), sans-IO."""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hotline.sip.headers import Headers
from hotline.sip.message import Request, Response, make_response, parse_message
from hotline.sip.transaction import (
    Action,
    CancelTimer,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    RequestReceived,
    ResponseReceived,
    Send,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    StartTimer,
    State,
    StrayResponse,
    Terminated,
    Timers,
    TransactionError,
    TransactionLayer,
    TransactionTimeout,
    TransportFailure,
    client_key,
    make_ack,
    make_cancel,
    server_key,
)
from hotline.sip.uri import parse_uri


def make_request(method: str = "INVITE", branch: str = "z9hG4bKbranch1", cseq: int = 1) -> Request:
    h = Headers()
    h.add("Via", f"SIP/2.0/UDP 10.0.0.1:5060;branch={branch}")
    h.add("Max-Forwards", "70")
    h.add("From", "<sip:alice@example.com>;tag=fromtag")
    h.add("To", "<sip:bob@example.com>")
    h.add("Call-ID", "cid-1")
    h.add("CSeq", f"{cseq} {method}")
    h.add("Route", "<sip:proxy.example.com;lr>")
    return Request(method, parse_uri("sip:bob@example.com"), h)


def resp(req: Request, code: int, tag: str | None = "totag") -> Response:
    return make_response(req, code, to_tag=tag) if code > 100 else make_response(req, code)


def kinds(actions: list[Action]) -> list[str]:
    return [type(a).__name__ for a in actions]


def timers(actions: list[Action]) -> dict[str, float]:
    return {a.name: a.at for a in actions if isinstance(a, StartTimer)}


def sends(actions: list[Action]) -> list[Request | Response]:
    return [a.message for a in actions if isinstance(a, Send)]


TM = Timers()


# --------------------------------------------------------------- client INVITE
def test_client_invite_retransmits_with_doubling_until_timer_b() -> None:
    req = make_request()
    tx = ClientInviteTransaction(client_key(req), req, False, "dest", TM)
    out = tx.start(0.0)
    assert sends(out) == [req] and timers(out) == {"A": 0.5, "B": 32.0}
    assert isinstance(out[0], Send) and out[0].destination == "dest"
    fires = []
    now = 0.5
    while tx.pending_timers.get("A", 99) < 32.0:
        now = tx.pending_timers["A"]
        out = tx.timer_fired("A", now)
        fires.append(now)
        assert sends(out) == [req]
    assert fires == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    out = tx.timer_fired("B", 32.0)
    assert kinds(out)[0] == "TransactionTimeout" and isinstance(out[-1], Terminated)
    assert tx.state is State.TERMINATED
    assert tx.timer_fired("A", 63.5) == []


def test_client_invite_non_2xx_acks_and_absorbs() -> None:
    req = make_request()
    tx = ClientInviteTransaction(client_key(req), req, False, None, TM)
    tx.start(0.0)
    out = tx.receive_response(resp(req, 100), 0.1)
    assert tx.state is State.PROCEEDING
    assert {a.name for a in out if isinstance(a, CancelTimer)} == {"A", "B"}
    assert timers(out) == {"C": 180.1}
    assert tx.timer_fired("A", 0.5) == []  # stale timer ignored
    out = tx.receive_response(resp(req, 180), 0.2)
    assert kinds(out) == ["ResponseReceived"]
    busy = resp(req, 486)
    out = tx.receive_response(busy, 1.0)
    (ack,) = sends(out)
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.cseq.seq == 1 and ack.cseq.method == "ACK"
    assert ack.to_tag == "totag" and ack.from_tag == "fromtag"
    assert ack.headers.get_all("Via") == req.headers.get_all("Via")[:1]
    assert ack.headers.get_all("Route") == ["<sip:proxy.example.com;lr>"]
    assert str(ack.uri) == str(req.uri)
    assert any(isinstance(a, ResponseReceived) and a.response is busy for a in out)
    assert tx.state is State.COMPLETED and timers(out) == {"D": 33.0}
    again = tx.receive_response(busy, 2.0)
    assert sends(again) == [ack] and not any(isinstance(a, ResponseReceived) for a in again)
    assert isinstance(tx.timer_fired("D", 33.0)[-1], Terminated)
    assert parse_message(ack.to_bytes()).cseq.method == "ACK"


def test_client_invite_2xx_accepted_state_rfc6026() -> None:
    req = make_request()
    tx = ClientInviteTransaction(client_key(req), req, False, None, TM)
    tx.start(0.0)
    ok = resp(req, 200)
    out = tx.receive_response(ok, 0.3)
    assert tx.state is State.ACCEPTED and timers(out) == {"M": 32.3}
    assert not sends(out)  # the TU ACKs a 2xx, not the transaction
    assert kinds(tx.receive_response(ok, 1.0)) == ["ResponseReceived"]  # retransmission/fork to TU
    assert tx.receive_response(resp(req, 486), 1.1) == []
    assert isinstance(tx.timer_fired("M", 32.3)[-1], Terminated)


def test_client_invite_reliable_and_timer_c_and_transport_error() -> None:
    req = make_request()
    tx = ClientInviteTransaction(client_key(req), req, True, None, TM)
    out = tx.start(0.0)
    assert timers(out) == {"B": 32.0}
    out = tx.receive_response(resp(req, 603), 1.0)
    assert sends(out)[0].method == "ACK"  # type: ignore[union-attr]
    assert isinstance(out[-1], Terminated) and tx.terminated

    tx2 = ClientInviteTransaction(client_key(req), req, True, None, TM)
    tx2.start(0.0)
    tx2.receive_response(resp(req, 180), 1.0)
    out = tx2.timer_fired("C", 181.0)
    assert isinstance(out[0], TransactionTimeout) and tx2.terminated

    tx3 = ClientInviteTransaction(client_key(req), req, False, None, TM)
    tx3.start(0.0)
    out = tx3.transport_error(0.1)
    assert isinstance(out[0], TransportFailure) and tx3.terminated
    assert tx3.transport_error(0.2) == []


# ----------------------------------------------------------- client non-INVITE
def test_client_non_invite_timer_e_capped_at_t2() -> None:
    req = make_request("OPTIONS")
    tx = ClientNonInviteTransaction(client_key(req), req, False, None, TM)
    out = tx.start(0.0)
    assert timers(out) == {"E": 0.5, "F": 32.0}
    fires = []
    while tx.pending_timers["E"] < 32.0:
        now = tx.pending_timers["E"]
        fires.append(now)
        assert sends(tx.timer_fired("E", now)) == [req]
    assert fires[:6] == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5]
    out = tx.timer_fired("F", 32.0)
    assert isinstance(out[0], TransactionTimeout) and tx.terminated


def test_client_non_invite_proceeding_and_completed() -> None:
    req = make_request("REGISTER")
    tx = ClientNonInviteTransaction(client_key(req), req, False, None, TM)
    tx.start(0.0)
    tx.receive_response(resp(req, 100), 0.2)
    assert tx.state is State.PROCEEDING
    out = tx.timer_fired("E", 0.5)
    assert timers(out) == {"E": 4.5}  # T2 in Proceeding
    out = tx.receive_response(resp(req, 401), 1.0)
    assert tx.state is State.COMPLETED and timers(out) == {"K": 6.0}
    assert tx.receive_response(resp(req, 401), 1.5) == []  # absorbed
    assert isinstance(tx.timer_fired("K", 6.0)[-1], Terminated)
    rel = ClientNonInviteTransaction(client_key(req), req, True, None, TM)
    assert timers(rel.start(0.0)) == {"F": 32.0}
    assert isinstance(rel.receive_response(resp(req, 200), 0.1)[-1], Terminated)


# --------------------------------------------------------------- server INVITE
def test_server_invite_non_2xx_with_ack() -> None:
    req = make_request()
    tx = ServerInviteTransaction(server_key(req), req, False, "src", TM)
    out = tx.start(0.0)
    trying = sends(out)[0]
    assert isinstance(trying, Response) and trying.status == 100 and trying.to_tag is None
    assert isinstance(out[-1], RequestReceived) and out[-1].source == "src"
    assert sends(tx.receive_request(req, 0.1)) == [trying]
    ringing = resp(req, 180)
    assert sends(tx.send_response(ringing, 0.2)) == [ringing]
    assert sends(tx.receive_request(req, 0.3)) == [ringing]
    busy = resp(req, 486)
    out = tx.send_response(busy, 1.0)
    assert tx.state is State.COMPLETED and timers(out) == {"G": 1.5, "H": 33.0}
    out = tx.timer_fired("G", 1.5)
    assert sends(out) == [busy] and timers(out) == {"G": 2.5}
    assert sends(tx.receive_request(req, 1.6)) == [busy]
    with pytest.raises(TransactionError):
        tx.send_response(resp(req, 200), 1.7)
    ack = make_ack(req, busy)
    out = tx.receive_request(ack, 2.0)
    assert tx.state is State.CONFIRMED and timers(out) == {"I": 7.0}
    assert tx.receive_request(ack, 2.1) == []
    assert tx.timer_fired("G", 2.5) == []
    assert isinstance(tx.timer_fired("I", 7.0)[-1], Terminated)


def test_server_invite_timer_h_and_g_cap() -> None:
    req = make_request()
    tx = ServerInviteTransaction(server_key(req), req, False, None, TM, auto_trying=False)
    assert kinds(tx.start(0.0)) == ["RequestReceived"]
    assert tx.receive_request(req, 0.1) == []  # nothing to retransmit yet
    tx.send_response(resp(req, 500), 0.0)
    intervals = []
    last = 0.0
    while tx.pending_timers["G"] < 32.0:
        now = tx.pending_timers["G"]
        intervals.append(now - last)
        last = now
        tx.timer_fired("G", now)
    assert intervals[:5] == [0.5, 1.0, 2.0, 4.0, 4.0]
    out = tx.timer_fired("H", 32.0)
    assert isinstance(out[0], TransactionTimeout) and tx.terminated


def test_server_invite_2xx_accepted() -> None:
    req = make_request()
    tx = ServerInviteTransaction(server_key(req), req, False, None, TM)
    tx.start(0.0)
    ok = resp(req, 200)
    out = tx.send_response(ok, 0.5)
    assert tx.state is State.ACCEPTED and timers(out) == {"L": 32.5}
    assert tx.receive_request(req, 0.6) == []  # retransmitted INVITE absorbed
    assert sends(tx.send_response(ok, 1.0)) == [ok]  # TU-driven 2xx retransmission
    with pytest.raises(TransactionError):
        tx.send_response(resp(req, 486), 1.1)
    assert isinstance(tx.timer_fired("L", 32.5)[-1], Terminated)
    assert tx.terminated


def test_server_invite_reliable() -> None:
    req = make_request()
    tx = ServerInviteTransaction(server_key(req), req, True, None, TM)
    tx.start(0.0)
    busy = resp(req, 486)
    assert timers(tx.send_response(busy, 0.0)) == {"H": 32.0}
    assert isinstance(tx.receive_request(make_ack(req, busy), 0.1)[-1], Terminated)


# ----------------------------------------------------------- server non-INVITE
def test_server_non_invite() -> None:
    req = make_request("BYE")
    tx = ServerNonInviteTransaction(server_key(req), req, False, None, TM)
    assert kinds(tx.start(0.0)) == ["RequestReceived"]
    assert tx.receive_request(req, 0.1) == []
    trying = resp(req, 100)
    tx.send_response(trying, 0.2)
    assert tx.state is State.PROCEEDING
    assert sends(tx.receive_request(req, 0.3)) == [trying]
    ok = resp(req, 200)
    out = tx.send_response(ok, 0.4)
    assert tx.state is State.COMPLETED and timers(out) == {"J": 32.4}
    assert sends(tx.receive_request(req, 0.5)) == [ok]
    with pytest.raises(TransactionError):
        tx.send_response(ok, 0.6)
    assert isinstance(tx.timer_fired("J", 32.4)[-1], Terminated)
    rel = ServerNonInviteTransaction(server_key(req), req, True, None, TM)
    rel.start(0.0)
    assert isinstance(rel.send_response(ok, 0.0)[-1], Terminated)


# -------------------------------------------------------------------- layer
def test_layer_routing_and_reaping() -> None:
    layer = TransactionLayer()
    inv = make_request()
    key, out = layer.send_request(inv, 0.0, destination=("10.0.0.2", 5060))
    assert key == ("c", "z9hG4bKbranch1", "INVITE") and len(layer) == 1
    with pytest.raises(TransactionError):
        layer.send_request(inv, 0.0)
    ok = resp(inv, 200)
    out = layer.receive(ok, 0.1)
    assert any(isinstance(a, ResponseReceived) and a.tx == key for a in out)
    # response with another branch -> stray
    other = resp(make_request(branch="z9hG4bKother"), 200)
    assert isinstance(layer.receive(other, 0.2, source="x")[0], StrayResponse)
    # same branch, other method -> not this transaction
    cancel_resp = resp(make_cancel(inv), 200)
    assert isinstance(layer.receive(cancel_resp, 0.2)[0], StrayResponse)
    layer.timer_fired(key, "M", 32.1)
    assert len(layer) == 0
    assert layer.timer_fired(key, "M", 40.0) == []


def test_layer_server_side_cancel_and_ack_for_2xx() -> None:
    layer = TransactionLayer()
    inv = make_request()
    out = layer.receive(inv, 0.0, source="peer")
    rr = [a for a in out if isinstance(a, RequestReceived)]
    assert rr and rr[0].tx is not None
    inv_key = rr[0].tx
    assert layer.receive(inv, 0.2) and len(layer) == 1  # retransmission absorbed (100 resent)
    cancel = make_cancel(inv)
    out = layer.receive(cancel, 0.5)
    cancel_key = next(a.tx for a in out if isinstance(a, RequestReceived))
    assert cancel_key != inv_key and layer.find_cancel_target(cancel) is layer.server[inv_key]
    layer.respond(cancel_key, resp(cancel, 200), 0.6)
    layer.respond(inv_key, resp(inv, 487), 0.6)
    ok_inv = make_request(branch="z9hG4bKbranch2", cseq=2)
    layer.receive(ok_inv, 1.0)
    k2 = server_key(ok_inv)
    ok = resp(ok_inv, 200)
    layer.respond(k2, ok, 1.1)
    # ACK for 2xx: new branch -> no transaction, handed to the TU
    ack = make_ack(ok_inv, ok)
    ack.headers.set("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKackbranch")
    out = layer.receive(ack, 1.2)
    assert len(out) == 1 and isinstance(out[0], RequestReceived) and out[0].tx is None
    with pytest.raises(TransactionError):
        layer.respond(("s", "nope"), ok, 1.3)


def test_layer_rfc2543_matching_without_branch() -> None:
    layer = TransactionLayer()
    inv = make_request()
    inv.headers.set("Via", "SIP/2.0/UDP 10.0.0.1:5060")
    out = layer.receive(inv, 0.0)
    key = next(a.tx for a in out if isinstance(a, RequestReceived))
    assert key is not None and key[0] == "s2543"
    assert not any(isinstance(a, RequestReceived) for a in layer.receive(inv, 0.5))
    busy = resp(inv, 486)
    layer.respond(key, busy, 1.0)
    ack = make_ack(inv, busy)
    out = layer.receive(ack, 1.1)
    assert layer.server[key].state is State.CONFIRMED
    assert not any(isinstance(a, RequestReceived) for a in out)


# ------------------------------------------------------ stateful (hypothesis)
class TransactionMachine(RuleBasedStateMachine):
    """Random event orders: every transaction terminates, nothing happens after that."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.after_termination: list[Action] = []

    @initialize(
        kind=st.sampled_from(["ci", "cn", "si", "sn"]),
        reliable=st.booleans(),
    )
    def setup(self, kind: str, reliable: bool) -> None:
        self.kind = kind
        self.req = make_request("INVITE" if kind in ("ci", "si") else "OPTIONS")
        cls = {
            "ci": ClientInviteTransaction,
            "cn": ClientNonInviteTransaction,
            "si": ServerInviteTransaction,
            "sn": ServerNonInviteTransaction,
        }[kind]
        key = client_key(self.req) if kind[0] == "c" else server_key(self.req)
        self.tx = cls(key, self.req, reliable, None, TM)
        self.terminations = 0
        self.final_sent: Response | None = None
        self._apply(self.tx.start(self.now))

    def _apply(self, actions: list[Action]) -> None:
        if self.terminations:
            self.after_termination.extend(actions)
        for a in actions:
            if isinstance(a, Terminated):
                self.terminations += 1
            if isinstance(a, StartTimer):
                assert a.at >= self.now

    @rule(dt=st.floats(0, 10))
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule(name=st.sampled_from(list("ABCDEFGHIJKLM")))
    def fire_any_timer(self, name: str) -> None:
        self._apply(self.tx.timer_fired(name, self.now))

    @rule()
    def fire_earliest_due_timer(self) -> None:
        pending = self.tx.pending_timers
        if pending:
            name, at = min(pending.items(), key=lambda kv: kv[1])
            self.now = max(self.now, at)
            self._apply(self.tx.timer_fired(name, self.now))

    @precondition(lambda self: self.kind[0] == "c")
    @rule(code=st.sampled_from([100, 180, 183, 200, 202, 302, 404, 486, 500, 603]))
    def response_arrives(self, code: int) -> None:
        assert isinstance(self.tx, ClientInviteTransaction | ClientNonInviteTransaction)
        self._apply(self.tx.receive_response(resp(self.req, code), self.now))

    @precondition(lambda self: self.kind[0] == "s")
    @rule()
    def retransmission_arrives(self) -> None:
        assert isinstance(self.tx, ServerInviteTransaction | ServerNonInviteTransaction)
        self._apply(self.tx.receive_request(self.req, self.now))

    @precondition(lambda self: self.kind == "si" and self.final_sent is not None)
    @rule()
    def ack_arrives(self) -> None:
        assert isinstance(self.tx, ServerInviteTransaction) and self.final_sent is not None
        self._apply(self.tx.receive_request(make_ack(self.req, self.final_sent), self.now))

    @precondition(lambda self: self.kind[0] == "s")
    @rule(code=st.sampled_from([100, 180, 200, 486, 503]))
    def tu_responds(self, code: int) -> None:
        assert isinstance(self.tx, ServerInviteTransaction | ServerNonInviteTransaction)
        try:
            self._apply(self.tx.send_response(resp(self.req, code), self.now))
        except TransactionError:
            assert self.final_sent is not None or self.tx.terminated
            return
        if code >= 200 and self.final_sent is None:
            self.final_sent = resp(self.req, code)

    @rule()
    def transport_error(self) -> None:
        self._apply(self.tx.transport_error(self.now))

    @invariant()
    def consistent(self) -> None:
        assert self.terminations <= 1
        assert self.after_termination == []
        assert self.tx.terminated == (self.terminations == 1)
        if self.tx.terminated:
            assert self.tx.pending_timers == {}

    def teardown(self) -> None:
        # whatever happened, a TU final response plus firing the due timers terminates it
        if not hasattr(self, "tx"):
            return
        if self.kind[0] == "s" and self.final_sent is None and not self.tx.terminated:
            assert isinstance(self.tx, ServerInviteTransaction | ServerNonInviteTransaction)
            self._apply(self.tx.send_response(resp(self.req, 486), self.now))
        for _ in range(100):
            if self.tx.terminated:
                break
            self.fire_earliest_due_timer()
        assert self.tx.terminated, (self.kind, self.tx.state)
        assert self.after_termination == []


TransactionMachine.TestCase.settings = settings(max_examples=250, stateful_step_count=30, deadline=None)
TestTransactionStateful = TransactionMachine.TestCase
