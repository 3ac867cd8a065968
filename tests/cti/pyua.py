"""A small SIP user agent for tests that need several dialogs at once (attended transfer).

Built on Hotline's own sans-IO core; it answers NOTIFY/BYE with 200, authenticates with digest
on 401/407, and sends no media (its SDP points at a silent port).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from hotline.sip.dialog import Dialog
from hotline.sip.digest import DigestClient
from hotline.sip.headers import NameAddr
from hotline.sip.helpers import generate_call_id, generate_tag
from hotline.sip.message import Request, Response, make_request, make_response, parse_message
from hotline.sip.transaction import make_ack
from hotline.sip.uri import parse_uri


def sdp(port: int, direction: str = "sendrecv") -> bytes:
    return (
        f"v=0\r\no=pyua 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        f"a=fmtp:101 0-16\r\na={direction}\r\n"
    ).encode()


@dataclass
class Ua(asyncio.DatagramProtocol):
    user: str
    password: str
    server: tuple[str, int]
    transport: asyncio.DatagramTransport | None = None
    port: int = 0
    responses: asyncio.Queue[Response] = field(default_factory=asyncio.Queue)
    received: list[Request] = field(default_factory=list)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=("127.0.0.1", 0))
        self.transport = transport  # type: ignore[assignment]
        self.port = transport.get_extra_info("sockname")[1]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(Exception):
            msg = parse_message(data)
            if isinstance(msg, Response):
                self.responses.put_nowait(msg)
            else:
                self.received.append(msg)
                if msg.method != "ACK":
                    self.send(make_response(msg, 200, to_tag=msg.to_tag or generate_tag()))

    def send(self, msg: Request | Response) -> None:
        assert self.transport is not None
        self.transport.sendto(msg.to_bytes(), self.server)

    @property
    def contact(self) -> NameAddr:
        return NameAddr(parse_uri(f"sip:{self.user}@127.0.0.1:{self.port}"))

    async def final(self, call_id: str, seq: int, method: str, wait: float = 10.0) -> Response:
        """The next final response to (call_id, seq, method); provisional ones are skipped."""
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            left = deadline - asyncio.get_running_loop().time()
            resp = await asyncio.wait_for(self.responses.get(), max(left, 0.01))
            if (
                resp.call_id == call_id
                and resp.cseq.seq == seq
                and resp.cseq.method == method
                and resp.status >= 200
            ):
                return resp

    async def call(self, number: str, media_port: int, wait: float = 15.0) -> Dialog:
        """INVITE ``number`` (answering a 407 challenge), ACK the 200; the dialog."""
        host, port = self.server
        call_id, tag = generate_call_id(), generate_tag()
        from_addr = NameAddr(parse_uri(f"sip:{self.user}@{host}:{port}"))
        from_addr.tag = tag
        seq = 1
        auth: list[tuple[str, str]] = []
        while True:
            req = make_request(
                "INVITE", f"sip:{number}@{host}:{port}", from_addr=from_addr,
                to_addr=NameAddr(parse_uri(f"sip:{number}@{host}:{port}")), call_id=call_id, cseq=seq,
                via_host="127.0.0.1", via_port=self.port, contact=self.contact, body=sdp(media_port),
                content_type="application/sdp", extra_headers=auth,
            )  # fmt: skip
            self.send(req)
            resp = await self.final(call_id, seq, "INVITE", wait)
            if resp.status in (401, 407) and not auth:
                self.send(make_ack(req, resp))
                name = "Proxy-Authenticate" if resp.status == 407 else "WWW-Authenticate"
                challenge = resp.headers.get(name) or ""
                value = DigestClient(self.user, self.password).authorize(
                    challenge, method="INVITE", uri=str(req.uri)
                )
                auth = [("Proxy-Authorization" if resp.status == 407 else "Authorization", value)]
                seq += 1
                continue
            if resp.status != 200:
                raise AssertionError(f"INVITE {number}: {resp.status} {resp.reason}")
            dialog = Dialog.from_uac_response(req, resp, local_contact=self.contact)
            dialog.via_host, dialog.via_port = "127.0.0.1", self.port
            self.send(dialog.create_ack(seq))
            return dialog

    async def request(
        self,
        dialog: Dialog,
        method: str,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ) -> Response:
        req = dialog.create_request(method, body=body, content_type=content_type, extra_headers=headers)
        self.send(req)
        resp = await self.final(dialog.call_id, req.cseq.seq, method)
        if method == "INVITE" and resp.status == 200:
            self.send(dialog.create_ack(req.cseq.seq))
        return resp

    async def hold(self, dialog: Dialog, media_port: int) -> Response:
        return await self.request(
            dialog, "INVITE", body=sdp(media_port, "sendonly"), content_type="application/sdp"
        )

    def requests(self, method: str, call_id: str | None = None) -> list[Request]:
        return [r for r in self.received if r.method == method and (call_id is None or r.call_id == call_id)]
