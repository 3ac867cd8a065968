"""asyncio transports for the SIP server: UDP and TCP on one host/port, and a timer service.

This module only moves bytes: :class:`UdpEndpoint` hands every datagram, and
:class:`TcpConnection` every framed message (one :class:`~hotline.sip.message.StreamFramer`
per connection), to a callback together with the :class:`Peer` it came from.  Parsing,
protection and transactions live in :mod:`hotline.sip.server`.  A callback exception
never reaches asyncio: it is logged with the source and the next message is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from hotline.sip.errors import SipParseError
from hotline.sip.message import StreamFramer

log = logging.getLogger(__name__)

#: max bytes queued for one TCP connection before it is considered stuck and closed
MAX_TCP_WRITE_BUFFER = 1 << 20


@dataclass(frozen=True)
class Peer:
    """The other end of a message: transport, address and (TCP) the connection."""

    transport: str  # "UDP" | "TCP"
    host: str
    port: int
    connection: TcpConnection | None = field(default=None, compare=False)

    @property
    def reliable(self) -> bool:
        return self.transport != "UDP"

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def __str__(self) -> str:
        return f"{self.transport.lower()}:{self.host}:{self.port}"


#: ``on_message(data, peer, stream)`` — ``stream`` is True for TCP-framed messages
MessageCallback = Callable[[bytes, Peer, bool], None]


class UdpEndpoint(asyncio.DatagramProtocol):
    """The UDP socket: datagrams in, ``send(data, address)`` out."""

    def __init__(self, on_message: MessageCallback) -> None:
        self._on_message = on_message
        self.transport: asyncio.DatagramTransport | None = None
        self.send_errors = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        peer = Peer("UDP", addr[0], addr[1])
        try:
            self._on_message(data, peer, False)
        except Exception:  # pragma: no cover - the callback catches everything itself
            log.exception("sip udp: unhandled error for datagram from %s", peer)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable etc.: the transaction layer's timers deal with the consequences
        log.debug("sip udp: socket error %s", exc)

    def send(self, data: bytes, address: tuple[str, int]) -> bool:
        if self.transport is None or self.transport.is_closing():
            return False
        try:
            self.transport.sendto(data, address)
        except (OSError, ValueError) as exc:
            self.send_errors += 1
            log.debug("sip udp: sendto %s failed: %s", address, exc)
            return False
        return True

    @property
    def local_address(self) -> tuple[str, int]:
        assert self.transport is not None
        sockname = self.transport.get_extra_info("sockname")
        return str(sockname[0]), int(sockname[1])

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class TcpConnection:
    """One accepted (or, later, outgoing) TCP connection carrying SIP messages.

    Reads until EOF, error or ``idle_timeout``; answers CRLF keep-alive pings with a
    CRLF pong (RFC 5626 §4.4.1).  A framing error (missing Content-Length, oversized
    message) is reported to ``on_framing_error`` and closes the connection, since the
    stream cannot be re-synchronised.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        on_message: MessageCallback,
        *,
        max_size: int,
        idle_timeout: float,
        on_framing_error: Callable[[SipParseError, Peer], None] | None = None,
        on_close: Callable[[TcpConnection], None] | None = None,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._on_message = on_message
        self._on_framing_error = on_framing_error
        self._on_close = on_close
        self.framer = StreamFramer(max_size)
        self.idle_timeout = idle_timeout
        addr = writer.get_extra_info("peername") or ("?", 0)
        self.peer = Peer("TCP", str(addr[0]), int(addr[1]), self)
        self.closed = False
        self.pongs = 0

    async def run(self) -> None:
        try:
            while not self.closed:
                try:
                    data = await asyncio.wait_for(self._reader.read(65536), self.idle_timeout)
                except TimeoutError:
                    log.debug("sip tcp: %s idle, closing", self.peer)
                    break
                if not data:
                    break
                try:
                    items = self.framer.feed(data)
                except SipParseError as err:
                    if self._on_framing_error is not None:
                        self._on_framing_error(err, self.peer)
                    break
                for item in items:
                    if item == StreamFramer.KEEPALIVE_PING:
                        self.pongs += 1
                        self.send(b"\r\n")
                        continue
                    try:
                        self._on_message(item, self.peer, True)
                    except Exception:  # pragma: no cover - the callback catches everything itself
                        log.exception("sip tcp: unhandled error for message from %s", self.peer)
        except (ConnectionError, OSError) as exc:
            log.debug("sip tcp: %s: %s", self.peer, exc)
        finally:
            await self.aclose()

    def send(self, data: bytes) -> bool:
        if self.closed or self._writer.is_closing():
            return False
        transport = self._writer.transport
        if transport.get_write_buffer_size() > MAX_TCP_WRITE_BUFFER:
            log.warning("sip tcp: %s does not read its data, closing", self.peer)
            self.close()
            return False
        try:
            self._writer.write(data)
        except (ConnectionError, OSError, RuntimeError):
            self.close()
            return False
        return True

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._writer.close()
        if self._on_close is not None:
            self._on_close(self)

    async def aclose(self) -> None:
        self.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


TimerKey = tuple[str, ...]
TimerCallback = Callable[[TimerKey, str, float], None]


class TimerService:
    """Runs transaction timers on the event loop (``loop.call_at``).

    One pending timer per (key, name): starting it again replaces (cancels) the old
    one, so a stale timer never fires; the transactions ignore stale fires anyway.
    ``fire(key, name, now)`` is called with ``now = loop.time()``.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: TimerCallback) -> None:
        self._loop = loop
        self._fire_cb = fire
        self._handles: dict[tuple[TimerKey, str], asyncio.TimerHandle] = {}

    def __len__(self) -> int:
        return len(self._handles)

    def start(self, key: TimerKey, name: str, at: float) -> None:
        old = self._handles.pop((key, name), None)
        if old is not None:
            old.cancel()
        handle = self._loop.call_at(at, self._fire, key, name)
        self._handles[(key, name)] = handle

    def cancel(self, key: TimerKey, name: str) -> None:
        handle = self._handles.pop((key, name), None)
        if handle is not None:
            handle.cancel()

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()

    def _fire(self, key: TimerKey, name: str) -> None:
        self._handles.pop((key, name), None)
        try:
            self._fire_cb(key, name, self._loop.time())
        except Exception:
            log.exception("sip timer %s/%s failed", key, name)


__all__ = ["MAX_TCP_WRITE_BUFFER", "Peer", "TcpConnection", "TimerService", "UdpEndpoint"]
