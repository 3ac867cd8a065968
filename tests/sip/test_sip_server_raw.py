"""The SIP server with raw bytes from Python: broken messages (RFC 4475 style), methods, TCP, keep-alives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline.sip.message import Request, Response, parse_message
from hotline.sip.protection import ProtectionSettings
from hotline.sip.server import IncomingRequest, SipServer, SipSettings
from hotline.sip.transaction import Timers
from tests.sip.scenarios.harness import LOOPBACK, Db, UdpPhone, make_db, raw_request, running_server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Db]:
    d = await make_db(sqlite_url)
    yield d
    await d.engine.dispose()


@pytest.fixture
async def server(db: Db) -> AsyncIterator[SipServer]:
    async with running_server(db, SipSettings(max_message_size=4096, keepalive_interval=0)) as srv:
        yield srv


def _via(port: int) -> str:
    return f"Via: SIP/2.0/UDP {LOOPBACK}:{port};branch=z9hG4bKbroken{port};rport"


def _broken(port: int) -> list[tuple[str, bytes, int, str]]:
    """(name, datagram, expected status, expected reason)."""
    via = _via(port)
    common = ["Max-Forwards: 70", "From: <sip:t@demo>;tag=1", "To: <sip:demo>", "Call-ID: broken@x"]
    return [
        ("missing Call-ID", raw_request(headers=[via, "Max-Forwards: 70", "From: <sip:t@demo>;tag=1",
         "To: <sip:demo>", "CSeq: 1 OPTIONS"]), 400, "Missing Call-ID header"),
        ("CSeq method mismatch", raw_request(port=port, cseq_method="INVITE"), 400,
         "CSeq method does not match Request-Line method"),
        ("Content-Length too large", raw_request(port=port, body="abc", content_length=50), 400,
         "Content-Length larger than message body"),
        ("SIP version 7.0", raw_request(port=port, version="SIP/7.0"), 505, "SIP version SIP/7.0 not supported"),
        ("unknown URI scheme", raw_request(port=port, uri="http://example.com/"), 416, "Unsupported URI Scheme"),
        ("bad Max-Forwards", raw_request(headers=[via, "Max-Forwards: -1", *common[1:], "CSeq: 1 OPTIONS"]),
         400, "Malformed Max-Forwards"),
        ("two To headers", raw_request(headers=[via, *common, "To: <sip:other@demo>", "CSeq: 1 OPTIONS"]),
         400, "Multiple To header fields"),
        ("negative CSeq", raw_request(headers=[via, *common, "CSeq: -1 OPTIONS"]), 400, "Malformed CSeq '-1 OPTIONS'"),
        ("too large", raw_request(port=port, body="x" * 5000, headers=[via, *common, "CSeq: 1 OPTIONS",
         "Content-Type: text/plain"]), 513, "Message Too Large"),
    ]  # fmt: skip


async def test_broken_requests_get_400_with_reason_and_server_keeps_serving(
    server: SipServer, db: Db
) -> None:
    assert server.udp_address is not None
    async with UdpPhone(server.udp_address) as phone:
        cases = _broken(phone.port)
        for name, data, status, reason in cases:
            phone.send(data)
            raw = await phone.recv()
            assert raw is not None, name
            # (the 400 to a request without Call-ID has none either, so check the status line only)
            assert raw.split(b"\r\n", 1)[0].decode() == f"SIP/2.0 {status} {reason}", name
            # a valid REGISTER right after each broken message is served normally
            resp = await phone.register("1001")
            assert resp is not None and resp.status == 200, name
        assert server.stats()["parse_errors"] == len(cases)
        assert server.stats()["internal_errors"] == 0
    assert len(server.lookup(db.tenant_id, "1001")) == 1


async def test_unanswerable_messages_are_dropped_and_counted(server: SipServer) -> None:
    assert server.udp_address is not None
    async with UdpPhone(server.udp_address) as phone:
        for data in [
            b"\x00\x01\x02\xff" * 10,
            b"OPTIONS sip:demo SIP/2.0\r\nVia: garbage\r\n\r\n",  # no usable Via: no way to answer
            b"SIP/2.0 200 OK\r\nVia: broken\r\n\r\n",  # responses are never answered
            b"ACK sip:demo SIP/2.0\r\nCSeq: 1 ACK\r\n\r\n",  # nor ACKs
            b"\r\n\r\n",
        ]:
            phone.send(data)
        assert await phone.recv(0.3) is None
        resp = await phone.transact(parse_request(raw_request(port=phone.port)))
        assert resp is not None and resp.status == 200
    stats = server.stats()
    assert stats["dropped"]["unparsable"] == 5
    assert stats["internal_errors"] == 0


def parse_request(data: bytes) -> Request:
    msg = parse_message(data)
    assert isinstance(msg, Request)
    return msg


async def test_methods(server: SipServer) -> None:
    assert server.udp_address is not None
    async with UdpPhone(server.udp_address) as phone:
        ok = await phone.transact(parse_request(raw_request("OPTIONS", port=phone.port)))
        assert ok is not None and ok.status == 200
        assert ok.headers.get("Allow") == "OPTIONS, REGISTER"
        assert ok.headers.get("Accept") == "application/sdp"
        assert "Supported" in ok.headers
        for method, status in [
            ("SUBSCRIBE", 405),
            ("INVITE", 405),
            ("BYE", 405),
            ("FOO", 501),
            ("CANCEL", 481),
        ]:
            resp = await phone.transact(parse_request(raw_request(method, port=phone.port)))
            assert resp is not None and resp.status == status, method
            if status == 405:
                assert resp.headers.get("Allow") == "OPTIONS, REGISTER"
        req = raw_request("OPTIONS", port=phone.port)
        req = req.replace(b"Max-Forwards: 70", b"Max-Forwards: 70\r\nRequire: 100rel")
        resp = await phone.transact(parse_request(req))
        assert resp is not None and resp.status == 420
        assert resp.headers.get("Unsupported") == "100rel"


async def test_transaction_user_handles_invite(server: SipServer) -> None:
    assert server.udp_address is not None
    seen: list[str] = []

    async def handler(incoming: IncomingRequest) -> None:
        seen.append(incoming.request.method)
        await asyncio.sleep(0.01)
        incoming.respond(486)

    server.set_request_handler(handler, ["INVITE", "ACK", "BYE", "CANCEL"])
    async with UdpPhone(server.udp_address) as phone:
        resp = await phone.transact(parse_request(raw_request("BYE", port=phone.port)))
        assert resp is not None and resp.status == 486
        opts = await phone.transact(parse_request(raw_request("OPTIONS", port=phone.port)))
        assert opts is not None
        assert opts.headers.get("Allow") == "ACK, BYE, CANCEL, INVITE, OPTIONS, REGISTER"
    assert seen == ["BYE"]


async def test_udp_retransmission_absorbed_and_response_resent(server: SipServer) -> None:
    assert server.udp_address is not None
    async with UdpPhone(server.udp_address) as phone:
        data = raw_request("OPTIONS", port=phone.port)
        phone.send(data)
        first = await phone.recv_message()
        phone.send(data)  # retransmission: the transaction answers it again, the TU sees it once
        second = await phone.recv_message()
        assert isinstance(first, Response) and isinstance(second, Response)
        assert first.headers.get("To") == second.headers.get("To")
    assert server.stats()["requests"] == {"OPTIONS": 2}
    assert server.stats()["responses_sent"] == {"200": 2}


async def _tcp(server: SipServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert server.tcp_address is not None
    return await asyncio.open_connection(LOOPBACK, server.tcp_address[1])


async def _read_response(reader: asyncio.StreamReader) -> Response:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
    msg = parse_message(head)
    assert isinstance(msg, Response)
    length = int(msg.headers.get("Content-Length") or 0)
    if length:
        await reader.readexactly(length)
    return msg


async def test_tcp_keepalive_pong_options_and_framing_error(server: SipServer) -> None:
    reader, writer = await _tcp(server)
    writer.write(b"\r\n\r\n")  # RFC 5626 CRLF keep-alive ping
    assert await asyncio.wait_for(reader.readexactly(2), 2) == b"\r\n"
    port = writer.get_extra_info("sockname")[1]
    opts = raw_request("OPTIONS", port=port).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    writer.write(opts[:30])
    await asyncio.sleep(0.02)
    writer.write(opts[30:] + opts)  # split and coalesced messages are framed correctly
    for _ in range(2):
        resp = await _read_response(reader)
        assert resp.status == 200
    # missing Content-Length on a stream: 400 with the reason, then the connection is closed
    bad = raw_request("OPTIONS", port=port, content_length=-1).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    writer.write(bad)
    resp = await _read_response(reader)
    assert (resp.status, resp.reason) == (400, "Missing Content-Length on stream transport")
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()
    # a new connection is served
    reader, writer = await _tcp(server)
    writer.write(opts)
    assert (await _read_response(reader)).status == 200
    writer.close()
    await writer.wait_closed()


async def test_rate_limit_503_mode(db: Db) -> None:
    settings = SipSettings(
        keepalive_interval=0,
        protection=ProtectionSettings(unauth_rate=1, unauth_burst=3, rate_limit_action="503"),
    )
    async with running_server(db, settings) as server, UdpPhone(server.udp_address or ("", 0)) as phone:
        statuses = []
        for _ in range(6):
            resp = await phone.transact(parse_request(raw_request("OPTIONS", port=phone.port)))
            assert resp is not None
            statuses.append(resp.status)
            if resp.status == 503:
                assert int(resp.headers.get("Retry-After") or "0") >= 1
        assert statuses[:3] == [200, 200, 200]
        assert 503 in statuses[3:]
        # an authenticated source is trusted: its REGISTER passes even though the bucket is empty
        server.protection.trust(LOOPBACK, server.now)
        resp = await phone.register("1001")
        assert resp is not None and resp.status == 200


async def _answer_pings(phone: UdpPhone, count: list[int], stop: asyncio.Event) -> None:
    while not stop.is_set():
        msg = await phone.recv_message(0.05)
        if isinstance(msg, Request) and msg.method == "OPTIONS":
            count[0] += 1
            phone.answer(msg, 200)


async def test_keepalive_drops_contact_that_stops_answering(db: Db, tmp_path: Path) -> None:
    settings = SipSettings(keepalive_interval=0.3, timers=Timers(t1=0.02, t2=0.08, t4=0.1))
    async with running_server(db, settings) as server:
        assert server.udp_address is not None
        async with UdpPhone(server.udp_address) as phone, UdpPhone(server.udp_address) as other:
            # the contact URI names an address nobody listens on: pings go to the REGISTER's source
            resp = await phone.register("1001", contact="<sip:1001@192.0.2.1:5060>")
            assert resp is not None and resp.status == 200
            resp = await other.register("1002")
            assert resp is not None and resp.status == 200
            (c,) = server.lookup(db.tenant_id, "1001")
            assert c.destination == (LOOPBACK, phone.port)
            pings, other_pings = [0], [0]
            stop, stop_other = asyncio.Event(), asyncio.Event()
            answering = asyncio.create_task(_answer_pings(phone, pings, stop))
            answering_other = asyncio.create_task(_answer_pings(other, other_pings, stop_other))
            await asyncio.sleep(1.0)
            assert pings[0] >= 2
            assert len(server.lookup(db.tenant_id, "1001")) == 1
            stop.set()
            await answering
            # no answer: after timer F (64*T1 = 1.28 s) the binding is dropped
            for _ in range(40):
                if not server.lookup(db.tenant_id, "1001"):
                    break
                await asyncio.sleep(0.1)
            assert server.lookup(db.tenant_id, "1001") == []
            assert server.stats()["keepalive_dropped"] == 1
            # the phone that keeps answering keeps its binding
            assert len(server.lookup(db.tenant_id, "1002")) == 1
            assert other_pings[0] >= 4
            stop_other.set()
            await answering_other


async def test_concurrent_requests_per_source_limited(db: Db) -> None:
    settings = SipSettings(keepalive_interval=0, protection=ProtectionSettings(max_concurrent_per_source=2))
    held: list[IncomingRequest] = []
    async with running_server(db, settings) as server, UdpPhone(server.udp_address or ("", 0)) as phone:
        server.set_request_handler(held.append, ["MESSAGE"])
        for _ in range(2):
            phone.send(raw_request("MESSAGE", port=phone.port))
        await asyncio.sleep(0.1)
        assert len(held) == 2
        busy = await phone.transact(parse_request(raw_request("MESSAGE", port=phone.port)))
        assert busy is not None and busy.status == 503 and busy.headers.get("Retry-After") == "5"
        held[0].respond(200)  # a final response frees the slot
        ok = await phone.transact(parse_request(raw_request("OPTIONS", port=phone.port)))
        assert ok is not None and ok.status == 200
        assert server.stats()["dropped"]["concurrency_limit"] == 1


async def test_rfc4475_torture_messages_never_disturb_the_server(server: SipServer, db: Db) -> None:
    """Every RFC 4475 vector over UDP: answered or dropped, never an internal error.

    (Responses to well-formed vectors go to ``received=127.0.0.1`` stamped into their
    Via, so nothing leaves the loopback interface.)
    """
    from tests.sip import sip_torture_vectors as vectors

    msgs = [value for name, value in vars(vectors).items() if name.isupper() and isinstance(value, bytes)]
    assert len(msgs) > 20
    assert server.udp_address is not None
    async with UdpPhone(server.udp_address) as phone:
        for data in msgs:
            phone.send(data)
        await asyncio.sleep(0.3)
        stats = server.stats()
        assert stats["received"] == len(msgs)
        assert stats["internal_errors"] == 0
        assert stats["parse_errors"] > 5
        resp = await phone.register("1001")
        assert resp is not None and resp.status == 200
    assert len(server.lookup(db.tenant_id, "1001")) == 1


async def test_tcp_parse_error_keeps_the_connection(server: SipServer) -> None:
    reader, writer = await _tcp(server)
    port = writer.get_extra_info("sockname")[1]
    bad = raw_request("OPTIONS", port=port, cseq_method="INVITE").replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    writer.write(bad)
    resp = await _read_response(reader)
    assert (resp.status, resp.reason) == (400, "CSeq method does not match Request-Line method")
    good = raw_request("OPTIONS", port=port).replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP")
    writer.write(good)
    assert (await _read_response(reader)).status == 200
    writer.close()
    await writer.wait_closed()


async def test_timer_service_is_stale_safe() -> None:
    from hotline.sip.transport import TimerService

    loop = asyncio.get_running_loop()
    fired: list[tuple[tuple[str, ...], str]] = []
    timers = TimerService(loop, lambda key, name, now: fired.append((key, name)))
    now = loop.time()
    timers.start(("t",), "A", now + 0.02)
    timers.start(("t",), "A", now + 0.06)  # replaces the first: fires once, later
    timers.start(("t",), "B", now + 0.02)
    timers.cancel(("t",), "B")
    timers.start(("u",), "C", now + 0.01)
    await asyncio.sleep(0.04)
    assert fired == [(("u",), "C")]
    await asyncio.sleep(0.05)
    assert fired == [(("u",), "C"), (("t",), "A")]
    timers.start(("v",), "D", loop.time() + 0.01)
    timers.cancel_all()
    await asyncio.sleep(0.03)
    assert len(fired) == 2 and len(timers) == 0


async def test_invite_error_response_retransmitted_until_ack(db: Db) -> None:
    settings = SipSettings(keepalive_interval=0, timers=Timers(t1=0.04, t2=0.16, t4=0.1))
    async with running_server(db, settings) as server, UdpPhone(server.udp_address or ("", 0)) as phone:
        invite = raw_request("INVITE", port=phone.port)
        phone.send(invite)
        statuses = []
        while len(statuses) < 5:  # 100 Trying, then 405 and its Timer G retransmissions
            msg = await phone.recv_message(1.0)
            assert isinstance(msg, Response)
            statuses.append(msg.status)
        assert statuses[0] == 100 and statuses[1:] == [405, 405, 405, 405]
        ack = parse_request(invite)
        ack.method = "ACK"
        ack.headers.set("CSeq", "1 ACK")
        ack.headers.set("To", str(msg.headers.get("To")))
        phone.send(ack.to_bytes())
        await asyncio.sleep(0.1)
        while await phone.recv(0.01) is not None:  # drain what crossed the ACK
            pass
        assert await phone.recv(0.4) is None  # the ACK stopped the retransmissions
        assert server.stats()["responses_sent"]["405"] >= 4
