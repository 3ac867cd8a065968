"""A minimal pure-Python RTP "phone" on asyncio UDP.

Used by the built-in engine's tests and benchmark (and handy for manual
diagnostics): it sends real G.711 RTP every 20 ms from a PCM source (looping
or one-shot), RFC 4733 DTMF through :class:`~hotline.media.dtmfsend.Rfc4733Transmitter`,
and keeps every received packet with its arrival time so that callers can
check sequence numbers, timestamps, SSRC, timing and the decoded audio.

The send clock uses absolute ``loop.time()`` deadlines like the engine.
``ptime_ms`` (default 20) sets the packet time it sends with (10, 30, 60 ms ...),
to exercise a receiver with the packet sizes real phones use.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hotline.media.dtmfsend import Rfc4733Transmitter
from hotline.media.engine import MediaDescription, PayloadFormat
from hotline.media.g711 import PCMU, G711Codec
from hotline.media.rtp import RtpError, RtpPacket, is_rtcp, parse_rtp
from hotline.media.sender import RtpSender

__all__ = ["ReceivedPacket", "SoftPhone", "rms", "tone_level"]

FRAME = 160


@dataclass(frozen=True, slots=True)
class ReceivedPacket:
    arrival: float  # loop.time()
    packet: RtpPacket
    source: tuple[str, int]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.phone: SoftPhone | None = None

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self.phone is not None:
            self.phone._on_datagram(data, (str(addr[0]), int(str(addr[1]))))


class SoftPhone:
    """One RTP endpoint that talks to the engine like a SIP phone's media stack would."""

    def __init__(
        self,
        transport: asyncio.DatagramTransport,
        address: tuple[str, int],
        *,
        codec: G711Codec,
        dtmf_payload_type: int,
        ssrc: int | None = None,
        keep_packets: bool = True,
        ptime_ms: int = 20,
    ) -> None:
        if ptime_ms <= 0:
            raise ValueError("ptime_ms must be positive")
        self._transport = transport
        self.ptime_ms = ptime_ms
        self.samples_per_packet = ptime_ms * 8
        self.address = address
        self.codec = codec
        self.dtmf_payload_type = dtmf_payload_type
        rng = random.Random()
        spp = self.samples_per_packet
        self.sender = (
            RtpSender.with_random_start(codec, rng, samples_per_packet=spp)
            if ssrc is None
            else RtpSender(codec, ssrc=ssrc, initial_sequence=rng.getrandbits(16), samples_per_packet=spp)
        )
        self.remote: tuple[str, int] | None = None
        self.dtmf = Rfc4733Transmitter(dtmf_payload_type)
        self.received: list[ReceivedPacket] = []
        self.keep_packets = keep_packets
        self.received_count = 0
        self.rtcp_received = 0
        self.on_packet: Callable[[float, bytes], None] | None = None
        self._source: npt.NDArray[np.int16] | None = None
        self._source_pos = 0
        self._loop_source = True
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    @classmethod
    async def open(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        codec: G711Codec = PCMU,
        dtmf_payload_type: int = 101,
        keep_packets: bool = True,
        ptime_ms: int = 20,
    ) -> SoftPhone:
        loop = asyncio.get_running_loop()
        transport, proto = await loop.create_datagram_endpoint(_Protocol, local_addr=(host, port))
        sockname = transport.get_extra_info("sockname")
        phone = cls(
            transport,
            (str(sockname[0]), int(sockname[1])),
            codec=codec,
            dtmf_payload_type=dtmf_payload_type,
            keep_packets=keep_packets,
            ptime_ms=ptime_ms,
        )
        proto.phone = phone
        return phone

    def description(self, *, address: tuple[str, int] | None = None) -> MediaDescription:
        """What this phone would put in its SDP (optionally lying about its address, as NATed phones do)."""
        host, port = address or self.address
        return MediaDescription(
            host,
            port,
            (
                PayloadFormat(self.codec.payload_type, self.codec.name),
                PayloadFormat(self.dtmf_payload_type, "telephone-event", fmtp="0-16"),
            ),
        )

    # -- receiving ----------------------------------------------------------------------
    def _on_datagram(self, data: bytes, addr: tuple[str, int]) -> None:
        now = asyncio.get_running_loop().time()
        if self.on_packet is not None:
            self.on_packet(now, data)
        if is_rtcp(data):
            self.rtcp_received += 1
            return
        try:
            pkt = parse_rtp(data)
        except RtpError:
            return
        self.received_count += 1
        if self.keep_packets:
            self.received.append(ReceivedPacket(now, pkt, addr))

    def audio_packets(self) -> list[RtpPacket]:
        return [r.packet for r in self.received if r.packet.payload_type == self.codec.payload_type]

    def received_audio(self, since: float = 0.0) -> npt.NDArray[np.int16]:
        """Decoded audio received after ``since`` (loop time), in arrival order."""
        frames = [
            self.codec.decode(r.packet.payload)
            for r in self.received
            if r.arrival >= since and r.packet.payload_type == self.codec.payload_type
        ]
        if not frames:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(frames)

    # -- sending ------------------------------------------------------------------------
    def play(self, pcm: npt.NDArray[np.int16] | None, *, loop: bool = True) -> None:
        """What to send from now on (``None``: digital silence)."""
        self._source = pcm
        self._source_pos = 0
        self._loop_source = loop

    def _next_frame(self) -> npt.NDArray[np.int16] | None:
        src = self._source
        if src is None or len(src) == 0:
            return None
        if self._source_pos >= len(src):
            if not self._loop_source:
                return None
            self._source_pos = 0
        n = self.samples_per_packet
        frame = src[self._source_pos : self._source_pos + n]
        self._source_pos += n
        return frame

    def send_raw(self, data: bytes, to: tuple[str, int] | None = None) -> None:
        target = to or self.remote
        if target is not None:
            self._transport.sendto(data, target)

    def tick(self) -> None:
        """Send what belongs to one tick of ``ptime_ms`` (audio or DTMF event packets)."""
        if self.remote is None:
            return
        events = self.dtmf.tick(self.sender)
        if events is not None:
            for pkt in events:
                self._transport.sendto(pkt.build(), self.remote)
                self.sent += 1
            return
        frame = self._next_frame()
        self._transport.sendto(self.sender.audio_packet(frame, source="voice").build(), self.remote)
        self.sent += 1

    def start(self, remote: tuple[str, int]) -> None:
        """Start sending to ``remote`` every ``ptime_ms``."""
        self.remote = remote
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        while True:
            self.tick()
            deadline += self.ptime_ms / 1000
            now = loop.time()
            if now - deadline > 0.2:  # badly late: do not burst, start over
                deadline = now
            await asyncio.sleep(max(0.0, deadline - now))

    async def send_digits(self, digits: str, *, duration_ms: int = 100, pause_ms: int = 100) -> None:
        """Send RFC 4733 digits (the phone must be started); returns after the last end packet."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def finish() -> None:
            if not done.done():
                done.set_result(None)

        self.dtmf.enqueue(digits, duration_ms=duration_ms, pause_ms=pause_ms, on_done=finish)
        await done

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def close(self) -> None:
        await self.stop()
        self._transport.close()


def tone_level(pcm: npt.NDArray[np.int16], freq: float, sample_rate: int = 8000) -> float:
    """Amplitude of the ``freq`` component of ``pcm`` (single-bin DFT, Hann window)."""
    if len(pcm) == 0:
        return 0.0
    x = pcm.astype(np.float64)
    w = np.hanning(len(x))
    t = np.arange(len(x)) / sample_rate
    z = np.sum(x * w * np.exp(-2j * np.pi * freq * t))
    return float(2 * abs(z) / np.sum(w))


def rms(pcm: npt.NDArray[np.int16]) -> float:
    if len(pcm) == 0:
        return 0.0
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)))
