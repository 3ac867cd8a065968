"""End-to-end: two sans-IO stacks exchanging bytes over a simulated lossy UDP network.

UAC (alice) sends INVITE, is challenged (401 Digest), re-sends with credentials,
gets 180/200 with an SDP answer, ACKs, then hangs up with BYE.  Every message goes
through serialize -> bytes -> parse, transactions and the 2xx retransmitter run
on simulated time, and hypothesis chooses which packets are lost.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.sip.dialog import Dialog, DialogState
from hotline.sip.digest import DigestClient, DigestServer, compute_ha1
from hotline.sip.headers import parse_name_addr
from hotline.sip.message import Request, Response, make_request, make_response, parse_message
from hotline.sip.sdp import answer, make_offer, parse_sdp
from hotline.sip.transaction import (
    Action,
    OkRetransmitter,
    RequestReceived,
    ResponseReceived,
    Send,
    StartTimer,
    StrayResponse,
    TransactionLayer,
    TransactionTimeout,
    TransportFailure,
    TxKey,
)


class Net:
    def __init__(self, drops: list[bool]) -> None:
        self.now = 0.0
        self._q: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._drops: Iterator[bool] = iter(drops)
        self.sent: list[bytes] = []

    def schedule(self, at: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._q, (at, next(self._seq), fn))

    def send(self, data: bytes, to: Endpoint) -> None:
        self.sent.append(data)
        if next(self._drops, False):
            return
        self.schedule(self.now + 0.01, lambda: to.on_datagram(data))

    def run(self, until: float = 400.0) -> None:
        while self._q and self._q[0][0] <= until:
            at, _, fn = heapq.heappop(self._q)
            self.now = max(self.now, at)
            fn()


class Endpoint:
    def __init__(self, net: Net, name: str) -> None:
        self.net = net
        self.name = name
        self.layer = TransactionLayer()
        self.peer: Endpoint
        self.failed: list[str] = []
        self.ok_retx: OkRetransmitter | None = None

    def on_datagram(self, data: bytes) -> None:
        msg = parse_message(data)
        self.run(self.layer.receive(msg, self.net.now, source=self.peer.name))

    def fire(self, key: TxKey, name: str) -> None:
        if key[0] == "2xx":
            assert self.ok_retx is not None
            self.run(self.ok_retx.timer_fired(name, self.net.now))
        else:
            self.run(self.layer.timer_fired(key, name, self.net.now))

    def run(self, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Send):
                self.net.send(a.message.to_bytes(), self.peer)
            elif isinstance(a, StartTimer):
                self.net.schedule(a.at, lambda k=a.tx, n=a.name: self.fire(k, n))
            elif isinstance(a, TransactionTimeout | TransportFailure):
                self.failed.append(f"{type(a).__name__}:{a.tx[0]}:{a.tx[-1]}")
            elif isinstance(a, RequestReceived | ResponseReceived | StrayResponse):
                self.tu(a)

    def tu(self, a: RequestReceived | ResponseReceived | StrayResponse) -> None:
        raise NotImplementedError


class Alice(Endpoint):
    def __init__(self, net: Net) -> None:
        super().__init__(net, "alice")
        self.rng = random.Random(1)
        self.digest = DigestClient("alice", "wonderland", rng=self.rng)
        self.dialog: Dialog | None = None
        self.invite: Request | None = None
        self.acks_sent = 0
        self.bye_done = False
        self.challenged = 0

    def send_invite(self, cseq: int, auth: str | None = None) -> None:
        offer = make_offer(["PCMU", "PCMA"], "192.0.2.1", 4000)
        self.invite = make_request(
            "INVITE",
            "sip:bob@b.example",
            from_addr="<sip:alice@a.example>;tag=alicetag",
            to_addr="<sip:bob@b.example>",
            call_id="flow-1@a.example",
            cseq=cseq,
            via_host="a.example",
            contact="<sip:alice@a.example>",
            body=offer.to_bytes(),
            content_type="application/sdp",
            extra_headers=[("Authorization", auth)] if auth else None,
            rng=self.rng,
        )
        self.run(self.layer.send_request(self.invite, self.net.now)[1])

    def send_ack(self) -> None:
        assert self.dialog is not None and self.invite is not None
        ack = self.dialog.create_ack(self.invite.cseq.seq, rng=self.rng)
        self.acks_sent += 1
        self.net.send(ack.to_bytes(), self.peer)

    def hang_up(self) -> None:
        assert self.dialog is not None
        bye = self.dialog.create_request("BYE", rng=self.rng)
        self.run(self.layer.send_request(bye, self.net.now)[1])

    def tu(self, a: RequestReceived | ResponseReceived | StrayResponse) -> None:
        if isinstance(a, RequestReceived):
            return
        r = a.response
        assert self.invite is not None
        if r.cseq.method == "INVITE":
            if r.status == 401 and self.challenged == 0:
                self.challenged += 1
                challenge = r.headers.get("WWW-Authenticate") or ""
                auth = self.digest.authorize(challenge, method="INVITE", uri=str(self.invite.uri))
                self.send_invite(self.invite.cseq.seq + 1, auth)
            elif 200 <= r.status < 300:
                if self.dialog is None:
                    self.dialog = Dialog.from_uac_response(self.invite, r)
                    assert parse_sdp(r.body).audio is not None
                    self.send_ack()
                    self.net.schedule(self.net.now + 1.0, self.hang_up)
                else:
                    self.send_ack()  # retransmitted 2xx: re-ACK
        elif r.cseq.method == "BYE" and r.status >= 200 and isinstance(a, ResponseReceived):
            self.bye_done = True
            assert self.dialog is not None
            self.dialog.terminate()


class Bob(Endpoint):
    def __init__(self, net: Net) -> None:
        super().__init__(net, "bob")
        self.auth = DigestServer(
            "b.example",
            b"s" * 32,
            lambda user, realm, alg: compute_ha1(user, realm, "wonderland", alg) if user == "alice" else None,
            rng=random.Random(2),
        )
        self.dialog: Dialog | None = None
        self.acks = 0
        self.byes = 0

    def tu(self, a: RequestReceived | ResponseReceived | StrayResponse) -> None:
        if not isinstance(a, RequestReceived):
            return
        req = a.request
        now = self.net.now
        if req.method == "INVITE" and a.tx is not None:
            creds = req.headers.get("Authorization")
            if creds is None or not self.auth.verify(creds, "INVITE", now).ok:
                resp = make_response(req, 401, to_tag="bobtag")
                for name, value in self.auth.challenge_headers(now):
                    resp.headers.add(name, value)
                self.run(self.layer.respond(a.tx, resp, now))
                return
            self.run(self.layer.respond(a.tx, make_response(req, 180, to_tag="bobtag"), now))
            ok = make_response(req, 200, to_tag="bobtag")
            ok.headers.add("Contact", "<sip:bob@b.example>")
            ok.headers.add("Content-Type", "application/sdp")
            ok.body = answer(parse_sdp(req.body), ["PCMA", "PCMU"], "192.0.2.2", 5000).to_bytes()
            self.dialog = Dialog.from_uas_request(
                req, "bobtag", local_contact=parse_name_addr("<sip:bob@b.example>")
            )
            self.run(self.layer.respond(a.tx, ok, now))
            self.ok_retx = OkRetransmitter(ok, "alice")
            self.run(self.ok_retx.start(now))
        elif req.method == "ACK":
            self.acks += 1
            if self.dialog is not None:
                self.dialog.receive_request(req)
            if self.ok_retx is not None:
                self.run(self.ok_retx.ack_received(now))
        elif req.method == "BYE" and a.tx is not None:
            self.byes += 1
            assert self.dialog is not None
            self.dialog.receive_request(req)
            self.run(self.layer.respond(a.tx, make_response(req, 200), now))


def call(drops: list[bool]) -> tuple[Net, Alice, Bob]:
    net = Net(drops)
    alice, bob = Alice(net), Bob(net)
    alice.peer, bob.peer = bob, alice
    alice.send_invite(1)
    net.run()
    return net, alice, bob


def test_lossless_call_flow() -> None:
    net, alice, bob = call([])
    assert alice.challenged == 1 and alice.bye_done
    assert alice.failed == [] and bob.failed == []
    assert bob.dialog is not None and bob.dialog.state is DialogState.TERMINATED
    assert alice.dialog is not None and alice.dialog.id.call_id == "flow-1@a.example"
    assert (alice.acks_sent, bob.acks) == (1, 1)
    assert len(alice.layer) == 0 and len(bob.layer) == 0
    kinds = [parse_message(d) for d in net.sent]
    summary = [m.method if isinstance(m, Request) else m.status for m in kinds]
    # INVITE/100/401/ACK(non-2xx)/INVITE/100/180/200/ACK/BYE/200
    assert summary == ["INVITE", 100, 401, "ACK", "INVITE", 100, 180, 200, "ACK", "BYE", 200]
    ok = next(m for m in kinds if isinstance(m, Response) and m.status == 200 and m.cseq.method == "INVITE")
    assert isinstance(ok, Response)
    assert parse_sdp(ok.body).audio.formats == ["0", "101"]  # type: ignore[union-attr]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), max_size=40))
def test_lossy_call_flow_always_settles(drops: list[bool]) -> None:
    _net, alice, bob = call(drops)
    # everything terminated: no leaked transactions, no pending work
    assert len(alice.layer) == 0 and len(bob.layer) == 0
    assert bob.ok_retx is None or bob.ok_retx.done
    # either the call completed, or somebody was told about a timeout (never a silent hang)
    assert alice.bye_done or alice.failed or bob.failed
    if alice.bye_done:
        assert bob.byes >= 1 and bob.dialog is not None and bob.dialog.state is DialogState.TERMINATED
