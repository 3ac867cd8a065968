"""The built-in media engine: :class:`MediaEngine` on asyncio UDP sockets.

Transport
    Every endpoint binds two UDP sockets on ``config.host``: RTP on an even port
    from ``config.port_min..port_max`` and RTCP on port + 1 (classic RFC 3550
    layout, what every SIP phone understands).  If the remote SDP says
    ``a=rtcp-mux`` we answer with rtcp-mux and send RTCP on the RTP port;
    RTCP arriving on the RTP socket is always demultiplexed (RFC 5761).  The
    address put into SDP is ``config.advertise`` (default: the bind host).

Media clock
    One clock per engine, driven by ``loop.call_at`` against absolute deadlines
    ``t0 + k * 20 ms`` (so errors never accumulate).  If a tick runs late the
    missed ticks are run back to back (catch up, up to ``max_catchup_ticks``);
    beyond that they are skipped and every sender's RTP clock is advanced by the
    skipped frames (the far end sees a timestamp jump, never a drift).  Each
    tick, for every endpoint: pull one decoded frame from its jitter buffer, run
    in-band DTMF detection if enabled, compute what it hears (playback >
    echo > mix > bridge > comfort silence), encode and send one RTP packet with
    its :class:`RtpSender` (or RFC 4733 event packets while sending DTMF),
    write recordings, check media timeout and send RTCP when due.  The frames
    of all endpoints are G.711-encoded as one block (one table lookup per codec
    per tick) and sent with :meth:`RtpSender.encoded_audio_packet`.  The CPU
    time of every tick is kept (:meth:`BuiltinMediaEngine.clock_stats`).
    The clock has priority over received packets: the receive path checks the
    next deadline before every datagram and runs due ticks first, so a burst of
    hundreds of ready sockets cannot delay a tick by more than one datagram.

Receive path
    Non-blocking sockets registered with ``loop.add_reader`` (no transport/protocol
    layer) -> RTCP demux -> RTP parse (malformed packets are
    counted and dropped) -> :class:`RtpLatch` (symmetric RTP; a
    :class:`RemoteLatched` event on every (re)latch) -> :class:`ReceiverStats`
    -> RFC 4733 (``DtmfReceived``, barge-in) or the jitter buffer.  Any packet time is
    accepted (10/20/30/60 ms, or odd lengths): the jitter buffer decodes each packet and
    re-frames its samples by RTP timestamp into 20 ms playout frames, so echo, bridge, mix,
    recordings and DTMF detection always see whole 20 ms frames.  We always *send* 20 ms
    packets (our SDP says ``a=ptime:20``).

Echo (``*43`` diagnostic)
    :meth:`BuiltinMediaEngine.set_echo` makes an endpoint hear its own received
    audio delayed by ``delay_ms`` (default 160 ms, plus the jitter buffer delay),
    built on :class:`~hotline.media.tones.EchoPath`.

What an endpoint hears (highest priority first)
    a playback (``play``; also in-band DTMF being sent) > echo (``set_echo``) > its mix
    (``mix``: conference / supervision; a mix overrides a bridge of the same legs, so a
    supervisor can join a bridged call and leave again with ``unmix``) > its bridge partner
    > comfort silence (encoded digital silence, never a gap).

DTMF
    RFC 4733 digits are reported whenever telephone-event was negotiated (``detect_dtmf(enable=
    False)`` mutes them); in-band (Goertzel) detection is off unless the endpoint was created
    with ``dtmf="inband"`` or ``detect_dtmf(inband=True)`` is called.  ``send_dtmf`` uses RFC
    4733 when negotiated (audio suppressed during each event, see
    :mod:`hotline.media.dtmfsend`), otherwise in-band tones.

Recording
    One :class:`StreamingWavWriter` per recording; frames are buffered for
    ``record_flush_ms`` and the header is synced every second of wall clock, so
    after a crash the file is valid up to the last second (at most
    ``record_flush_ms`` more audio is in the buffer).  Stereo: left = audio
    received from the caller leg, right = audio received from the agent leg.
    Mono (no agent): caller received + what the caller hears.  A recording ends with
    ``record_stop`` or when all its legs are closed (a closed leg's channel is silence).
    With a :class:`~hotline.media.diskwatch.DiskWatch` attached (``disk_watch=`` or
    :meth:`BuiltinMediaEngine.set_disk_watch`), ``record_start`` raises
    :class:`~hotline.media.engine.RecordingRefused` while the recordings disk is
    ``critical``: the call continues unrecorded (the call layer should log/flag the call);
    running recordings are not stopped.  The application starts and stops the watch.

Wiring by the call layer (SDP text is the SIP layer's business)::

    engine = BuiltinMediaEngine(BuiltinConfig(host="0.0.0.0", advertise="192.0.2.10"))
    # incoming INVITE with an offer: answer from ep.local
    ep = await engine.create_endpoint(call_id, "caller", remote=offer_md)
    # outgoing leg: offer from out.local, then apply the 200 OK's answer
    out = await engine.create_endpoint(call_id, "agent")
    out = await engine.update_endpoint(out.id, answer_md)
    await engine.bridge(ep.id, out.id)
    # re-INVITE / UPDATE (hold, new address, codec change): update_endpoint again
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import random
import socket
import struct
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from hotline.media.diskwatch import DiskWatch
from hotline.media.dtmf import InbandDtmfDetector, Rfc4733Receiver
from hotline.media.dtmfsend import Rfc4733Transmitter
from hotline.media.engine import (
    Capability,
    CodecNegotiationError,
    Direction,
    DtmfMode,
    DtmfReceived,
    Endpoint,
    EndpointId,
    EndpointStats,
    EventHandler,
    MediaDescription,
    MediaEngine,
    MediaEngineError,
    MediaEvent,
    MediaTimeout,
    MixId,
    MixSpec,
    PayloadFormat,
    PlaybackFinished,
    PlaybackId,
    PlayFile,
    PlaySilence,
    PlaySource,
    PlayTone,
    RecordingFailed,
    RecordingId,
    RecordingInfo,
    RecordingRefused,
    RemoteLatched,
    UnknownEndpoint,
    UnsupportedOperation,
    mix_matrix_for,
)
from hotline.media.g711 import PCMA, PCMU, G711Codec
from hotline.media.jitter import JitterBuffer
from hotline.media.latching import RtpLatch
from hotline.media.mixer import MixMatrix
from hotline.media.rtcp import (
    SDES_CNAME,
    Bye,
    ReceiverReport,
    ReceiverStats,
    ReportBlock,
    RtcpError,
    RtcpPacket,
    SdesChunk,
    SenderReport,
    SourceDescription,
    build_rtcp,
    parse_rtcp,
    round_trip_time,
    unix_to_ntp,
)
from hotline.media.rtp import RtpError, RtpPacket, is_rtcp, parse_rtp
from hotline.media.sender import RtpSender
from hotline.media.tones import DTMF_FREQUENCIES, EchoPath, ToneGenerator, ToneSegment
from hotline.media.wav import StreamingWavWriter, load_wav_8k_mono

__all__ = ["BuiltinConfig", "BuiltinMediaEngine", "ClockStats"]

log = logging.getLogger(__name__)

FRAME = 160  # samples per 20 ms frame at 8 kHz
PTIME = 0.020
_CODECS: dict[str, G711Codec] = {"PCMU": PCMU, "PCMA": PCMA}
_DEFAULT_DTMF_PT = 101
_RTP_HEADER = struct.Struct("!BBHII")
_MIN_RX_SLICE = 0.005  # seconds of receive processing guaranteed between ticks under overload
Pcm = npt.NDArray[np.int16]
Address = tuple[str, int]


@dataclass(frozen=True, slots=True)
class BuiltinConfig:
    host: str = "127.0.0.1"  # bind address
    advertise: str | None = None  # address for SDP (default: host)
    port_min: int = 20000
    port_max: int = 29999
    jitter_depth: int = 3  # frames of pre-buffering (60 ms)
    jitter_adaptive: bool = True
    media_timeout_s: float | None = 30.0  # MediaTimeout after this long without RTP (None: never)
    rtcp_interval_s: float = 5.0
    echo_delay_ms: int = 160
    record_flush_ms: int = 200  # recording frames buffered before a write
    record_sync_s: float = 1.0  # header sync interval (crash safety)
    record_fsync: bool = False
    max_catchup_ticks: int = 5  # later than this: skip ticks instead of bursting
    latch_packets: int = 1
    relatch_after_s: float | None = 2.0
    cname: str = field(default_factory=lambda: f"hotline@{socket.gethostname()}")

    def __post_init__(self) -> None:
        if not 0 < self.port_min < self.port_max <= 65535:
            raise ValueError("invalid port range")


@dataclass(slots=True)
class ClockStats:
    """Media-clock health (seconds): per-tick thread CPU time and wall time, lateness of the
    tick against its deadline, skipped ticks.  The last ``maxlen`` ticks are kept."""

    ticks: int = 0
    skipped_ticks: int = 0
    cpu: deque[float] = field(default_factory=lambda: deque(maxlen=5000))
    wall: deque[float] = field(default_factory=lambda: deque(maxlen=5000))
    late: deque[float] = field(default_factory=lambda: deque(maxlen=5000))

    def reset(self) -> None:
        self.ticks = self.skipped_ticks = 0
        self.cpu.clear()
        self.wall.clear()
        self.late.clear()

    def summary(self) -> dict[str, float]:
        def pct(values: deque[float], q: float) -> float:
            return float(np.percentile(np.fromiter(values, dtype=np.float64), q)) if values else 0.0

        return {
            "ticks": float(self.ticks),
            "skipped_ticks": float(self.skipped_ticks),
            "cpu_ms_p50": pct(self.cpu, 50) * 1000,
            "cpu_ms_p99": pct(self.cpu, 99) * 1000,
            "cpu_ms_max": max(self.cpu, default=0.0) * 1000,
            "wall_ms_p50": pct(self.wall, 50) * 1000,
            "wall_ms_p99": pct(self.wall, 99) * 1000,
            "late_ms_p50": pct(self.late, 50) * 1000,
            "late_ms_p99": pct(self.late, 99) * 1000,
        }


# -- playback -----------------------------------------------------------------------------------


class _Playback:
    """A frame source for one endpoint; ``read`` returns None when finished."""

    def __init__(self, pid: PlaybackId, frames: Callable[[], Pcm | None], barge_in: bool, internal: bool):
        self.id = pid
        self.read = frames
        self.barge_in = barge_in
        self.internal = internal  # in-band DTMF: no PlaybackFinished event
        self.on_done: Callable[[], None] | None = None


def _array_reader(pcm: Pcm, loop: bool) -> Callable[[], Pcm | None]:
    pos = 0

    def read() -> Pcm | None:
        nonlocal pos
        if pos >= len(pcm):
            if not loop or len(pcm) == 0:
                return None
            pos = 0
        frame = pcm[pos : pos + FRAME]
        pos += FRAME
        return frame

    return read


def _tone_reader(segments: Sequence[ToneSegment], loop: bool) -> Callable[[], Pcm | None]:
    gen = ToneGenerator(segments, loop=loop)

    def read() -> Pcm | None:
        if gen.finished:
            return None
        return gen.read(FRAME)

    return read


# -- per-endpoint state -------------------------------------------------------------------------------


class _Leg:
    def __init__(
        self,
        eid: EndpointId,
        call_id: str,
        leg: str,
        port: int,
        rtp: socket.socket,
        rtcp: socket.socket,
        offered: tuple[PayloadFormat, ...],
        dtmf_mode: DtmfMode,
        config: BuiltinConfig,
        rng: random.Random,
    ) -> None:
        self.id = eid
        self.call_id = call_id
        self.leg = leg
        self.port = port
        self.rtp = rtp
        self.rtcp = rtcp
        self.offered = offered
        self.dtmf_mode = dtmf_mode
        self.config = config
        self.closed = False
        self.codec: G711Codec | None = None
        self.dtmf_pt: int | None = None
        self.remote: MediaDescription | None = None
        self.local_direction: Direction = "sendrecv"
        self.send_enabled = True  # local direction allows sending
        self.expect_media = True  # the remote direction says it sends (no timeout on recvonly hold)
        self.sender = RtpSender.with_random_start(PCMU, rng)
        self.latch = RtpLatch(
            None,
            {f.payload_type for f in offered},
            latch_packets=config.latch_packets,
            relatch_after=config.relatch_after_s,
        )
        self.rtcp_remote: Address | None = None
        self.rtcp_latched: Address | None = None
        self.jitter = self._new_jitter(PCMU)
        self.rx_stats: ReceiverStats | None = None
        self.rfc4733 = Rfc4733Receiver()
        self.dtmf_tx: Rfc4733Transmitter | None = None
        self.report_rfc4733 = True
        self.inband: InbandDtmfDetector | None = InbandDtmfDetector() if dtmf_mode == "inband" else None
        self.playback: _Playback | None = None
        self.echo: EchoPath | None = None
        self.heard_from_mix: Pcm | None = None
        self.input: Pcm | None = None  # this tick's decoded received frame
        self.output: Pcm | None = None  # this tick's frame sent to the endpoint
        self.has_audio = False  # jitter buffer ever fed
        self.had_media = False
        self.last_rx = 0.0
        self.timeout_reported = False
        self.packets_received = 0
        self.octets_received = 0
        self.malformed = 0
        self.unknown_pt = 0
        self.send_errors = 0
        self.recv_errors = 0
        self.rtcp_received = 0
        self.rtcp_sent = 0
        self.rtt: float | None = None
        self.remote_reported_lost: int | None = None
        self.remote_fraction_lost: float | None = None
        self.next_rtcp = 0.0
        self.latches_seen = 0
        self.packets_sent_before = 0  # when the sender was replaced (codec change)
        self.octets_sent_before = 0

    def _new_jitter(self, codec: G711Codec) -> JitterBuffer:
        return JitterBuffer(
            codec.decode,
            depth=self.config.jitter_depth,
            adaptive=self.config.jitter_adaptive,
            min_depth=min(2, self.config.jitter_depth),
        )

    def set_codec(self, codec: G711Codec) -> None:
        if self.codec is codec:
            return
        if self.codec is not None or self.sender.codec is not codec:
            old = self.sender
            self.packets_sent_before += old.packets_sent
            self.octets_sent_before += old.octets_sent
            self.sender = RtpSender(
                codec, ssrc=old.ssrc, initial_sequence=old.next_sequence, initial_timestamp=old.next_timestamp
            )
            self.jitter = self._new_jitter(codec)
        self.codec = codec


@dataclass(slots=True)
class _Recording:
    id: RecordingId
    writer: StreamingWavWriter
    caller: EndpointId
    agent: EndpointId | None
    buf: Pcm  # (frames buffered before a write, channels)
    pos: int = 0
    failed: bool = False


@dataclass(slots=True)
class _Mix:
    id: MixId
    spec: MixSpec
    matrix: MixMatrix


def _negotiate(
    remote: MediaDescription, codecs: Sequence[str], dtmf: DtmfMode
) -> tuple[G711Codec, int | None]:
    wanted = [c.upper() for c in codecs]
    codec: G711Codec | None = None
    for f in remote.formats:  # the offerer's preference order
        name = f.encoding.upper()
        if (
            name in wanted
            and name in _CODECS
            and f.clock_rate == 8000
            and f.payload_type == _CODECS[name].payload_type
        ):
            codec = _CODECS[name]
            break
    if codec is None:
        raise CodecNegotiationError(
            f"no common codec: remote offers {[f.encoding for f in remote.formats]}, we support {wanted}"
        )
    dtmf_pt = None
    if dtmf != "inband":
        for f in remote.formats:
            if f.encoding.lower() == "telephone-event" and f.clock_rate == 8000:
                dtmf_pt = f.payload_type
                break
    return codec, dtmf_pt


_ANSWER_DIRECTION: dict[Direction, Direction] = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


# -- the engine ------------------------------------------------------------------------------------------


class BuiltinMediaEngine(MediaEngine):
    """Media engine on asyncio UDP with one 20 ms media clock.

    Usage by the call layer (incoming call)::

        engine = BuiltinMediaEngine(BuiltinConfig(host="192.0.2.10"))
        ep = await engine.create_endpoint(call_id, "caller", remote=offer_md)  # answer in ep.local
        ...
        out = await engine.create_endpoint(call_id, "agent")   # our offer in out.local
        await engine.update_endpoint(out.id, answer_md)        # the agent's answer
        await engine.bridge(ep.id, out.id)

    The clock starts with the first endpoint (or :meth:`start`) and stops in :meth:`close`.
    """

    def __init__(
        self,
        config: BuiltinConfig | None = None,
        *,
        seed: int | None = None,
        disk_watch: DiskWatch | None = None,
    ) -> None:
        self.config = config or BuiltinConfig()
        self.disk_watch = disk_watch
        self._rng = random.Random(seed)
        self._legs: dict[EndpointId, _Leg] = {}
        self._order: list[_Leg] = []  # legs in tick order
        self._sources: list[str | None] = []
        self._bridges: dict[EndpointId, EndpointId] = {}
        self._mixes: dict[MixId, _Mix] = {}
        self._leg_mix: dict[EndpointId, MixId] = {}
        self._recordings: dict[RecordingId, _Recording] = {}
        self._finished: dict[RecordingId, RecordingInfo] = {}  # recently ended recordings
        self._handlers: list[EventHandler] = []
        self._tasks: set[asyncio.Future[None]] = set()
        self._file_cache: dict[tuple[str, float, int], Pcm] = {}
        self._used_ports: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._t0 = 0.0
        self._deadline = float("inf")  # of the next tick
        self._last_tick_end = 0.0
        self._time: Callable[[], float] = time.monotonic  # the loop's clock once started
        self._tick_no = 0
        self._closed = False
        self._ids = itertools.count(1)
        self.clock = ClockStats()
        self._digit_waiters: dict[EndpointId, list[asyncio.Future[None]]] = {}

    # -- interface basics ---------------------------------------------------------------------------
    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset(Capability)

    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        self._handlers.append(handler)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._handlers.remove(handler)

        return unsubscribe

    def _emit(self, event: MediaEvent) -> None:
        for handler in list(self._handlers):
            try:
                result = handler(event)
            except Exception:
                log.exception("media event handler failed for %r", event)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("media event handler failed", exc_info=task.exception())

    def _leg(self, endpoint: EndpointId) -> _Leg:
        ep = self._legs.get(endpoint)
        if ep is None:
            raise UnknownEndpoint(endpoint)
        return ep

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}-{uuid.uuid4().hex[:8]}"

    # -- clock -------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the media clock (idempotent; done implicitly by :meth:`create_endpoint`)."""
        if self._closed:
            raise MediaEngineError("engine is closed")
        if self._timer is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._time = self._loop.time
        self._t0 = self._loop.time() + PTIME
        self._tick_no = 0
        self._deadline = self._t0
        self._timer = self._loop.call_at(self._t0, self._on_timer)

    def _on_timer(self) -> None:
        self._run_due(self.config.max_catchup_ticks + 1)
        if not self._closed and self._loop is not None:
            # a deadline in the past (catching up) runs again right after pending I/O
            self._timer = self._loop.call_at(self._deadline, self._on_timer)

    def _run_due(self, limit: int) -> None:
        """Run up to ``limit`` ticks whose deadline has passed, then return to the event loop
        (so that received packets are processed between catch-up ticks).  More than
        ``max_catchup_ticks`` behind: the excess ticks are skipped (RTP clocks advance)."""
        loop = self._loop
        assert loop is not None
        now = loop.time()
        ran = 0
        while not self._closed:
            deadline = self._t0 + self._tick_no * PTIME
            if deadline > now + 0.0005:
                break
            behind = int((now - deadline) / PTIME)  # whole ticks late
            if behind > self.config.max_catchup_ticks:
                skip = behind - self.config.max_catchup_ticks
                self._tick_no += skip
                self.clock.skipped_ticks += skip
                for ep in self._order:
                    ep.sender.skip(skip)
                continue
            if ran >= limit:
                break
            self.clock.late.append(max(0.0, now - deadline))
            start = time.perf_counter()
            cpu_start = time.thread_time()
            try:
                self._tick(now)
            except Exception:
                log.exception("media clock tick failed")
            self.clock.cpu.append(time.thread_time() - cpu_start)
            end = time.perf_counter()
            self.clock.wall.append(end - start)
            self.clock.ticks += 1
            self._tick_no += 1
            ran += 1
            now = loop.time()
        self._deadline = self._t0 + self._tick_no * PTIME
        self._last_tick_end = loop.time()

    def clock_stats(self) -> dict[str, float]:
        return self.clock.summary()

    def _tick(self, now: float) -> None:
        legs = self._order
        n = len(legs)
        check_slow = self._tick_no % 10 == 0  # timeouts, RTCP, lost end packets: every 200 ms
        # 1. decoded input of every endpoint (+ in-band DTMF)
        for ep in legs:
            if ep.has_audio:
                pcm = ep.jitter.get().pcm
                ep.input = pcm
                if ep.inband is not None:
                    for d in ep.inband.process(pcm):
                        self._digit(ep, DtmfReceived(ep.id, d.digit, d.duration_ms, "inband"))
            if check_slow and ep.had_media:
                for d in ep.rfc4733.poll(now):
                    self._digit(ep, DtmfReceived(ep.id, d.digit, d.duration_ms, "rfc4733"))
        # 2. what every mix participant hears (one matrix product per mix)
        for m in self._mixes.values():
            inputs = {p: self._legs[EndpointId(p)].input for p in m.matrix.participants}
            for p, pcm in m.matrix.mix(inputs).items():
                self._legs[EndpointId(p)].heard_from_mix = pcm
        # 3. choose every endpoint's frame (then encoded as one block)
        frames: list[Pcm] = []
        sources = self._sources
        if len(sources) < n:
            sources.extend([None] * (n - len(sources)))
        any_pcma = False
        bridges = self._bridges
        leg_mix = self._leg_mix
        all_legs = self._legs
        for i, ep in enumerate(legs):
            frame: Pcm | None = None
            source: str | None = None
            pb = ep.playback
            if pb is not None:
                frame = pb.read()
                if frame is None:
                    self._finish_playback(ep, "completed")
                else:
                    source = "prompt"
            if frame is None:
                if ep.echo is not None:
                    frame = ep.echo.process(ep.input if ep.input is not None else _SILENCE_FRAME)
                    source = "echo"
                elif leg_mix and ep.id in leg_mix:
                    frame = ep.heard_from_mix
                    source = "mix"
                else:
                    partner = bridges.get(ep.id)
                    if partner is not None:
                        frame = all_legs[partner].input
                        source = "bridge"
            ep.output = frame
            if frame is None:
                sources[i] = None
                frames.append(_SILENCE_FRAME)
            else:
                sources[i] = source
                frames.append(frame if len(frame) == FRAME else _fit(frame))
            if ep.sender.codec is PCMA:
                any_pcma = True
        # 4. encode all frames with one table lookup per codec, send one packet per endpoint
        out = np.concatenate(frames) if frames else _SILENCE_FRAME[:0]
        ulaw = PCMU.encode(out)
        alaw = PCMA.encode(out) if any_pcma else b""
        for i, ep in enumerate(legs):
            sender = ep.sender
            tx = ep.dtmf_tx
            if tx is not None and tx.busy:
                events = tx.tick(sender)
                if events is not None:
                    remote = ep.latch.remote
                    if remote is not None and ep.send_enabled:
                        for pkt in events:
                            self._sendto(ep, pkt.build(), remote)
                    continue
            latch = ep.latch
            remote = latch.latched_address or latch.remote
            if remote is None or not ep.send_enabled:
                sender.skip(1)
                continue
            enc = alaw if sender.codec is PCMA else ulaw
            data = sender.encoded_audio_packet(enc[i * FRAME : (i + 1) * FRAME], source=sources[i])
            try:
                ep.rtp.sendto(data, remote)
            except OSError:  # full socket buffer, unreachable: RTP is loss tolerant
                ep.send_errors += 1
        # 5. recordings
        for rec in self._recordings.values():
            self._record_tick(rec, now)
        # 6. timeouts and RTCP
        if check_slow:
            timeout = self.config.media_timeout_s
            for ep in legs:
                if (
                    timeout is not None
                    and ep.had_media
                    and ep.expect_media
                    and not ep.timeout_reported
                    and now - ep.last_rx >= timeout
                ):
                    ep.timeout_reported = True
                    self._emit(MediaTimeout(ep.id, now - ep.last_rx))
                if now >= ep.next_rtcp:
                    ep.next_rtcp = now + self.config.rtcp_interval_s * self._rng.uniform(0.5, 1.5)
                    self._send_rtcp(ep, now)

    def _sendto(self, ep: _Leg, data: bytes, remote: Address) -> None:
        try:
            ep.rtp.sendto(data, remote)
        except OSError:
            ep.send_errors += 1

    # -- receive path --------------------------------------------------------------------------------------
    def _readable(self, ep: _Leg, sock: socket.socket, rtcp_port: bool) -> None:
        for _ in range(32):  # drain a burst, but never starve the clock
            now = self._time()
            if now >= self._deadline and now - self._last_tick_end >= _MIN_RX_SLICE and not self._closed:
                # the clock has priority over received packets -- but under overload at least
                # _MIN_RX_SLICE of receiving happens between ticks, or the sockets would overflow
                self._run_due(1)
            try:
                data, addr = sock.recvfrom(4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. ICMP errors reported on the socket
                ep.recv_errors += 1
                return
            if ep.closed:
                return
            src = (str(addr[0]), int(addr[1]))
            if rtcp_port or is_rtcp(data):
                self._on_rtcp(ep, data, src)
            else:
                self._on_rtp(ep, data, src)

    def _on_rtp(self, ep: _Leg, data: bytes, src: Address) -> None:
        loop = self._loop
        now = loop.time() if loop is not None else time.monotonic()
        if len(data) > 12 and data[0] == 0x80:  # fast path: V=2, no padding/extension/CSRC
            _b0, b1, seq, ts, ssrc = _RTP_HEADER.unpack_from(data)
            pt = b1 & 0x7F
            if not ep.latch.on_packet(src, pt, ssrc, now):
                return
            pkt = RtpPacket(pt, seq, ts, ssrc, data[12:], bool(b1 & 0x80))
        else:
            try:
                pkt = parse_rtp(data)
            except RtpError:
                ep.malformed += 1
                ep.latch.on_packet(src, None, None, now)
                return
            if not ep.latch.on_packet(src, pkt.payload_type, pkt.ssrc, now):
                return
        if ep.latch.stats.latches != ep.latches_seen:
            ep.latches_seen = ep.latch.stats.latches
            la = ep.latch.latched_address
            if la is not None:
                # RTCP follows the latched RTP source: port + 1, or the same port with rtcp-mux
                # (until RTCP itself arrives, whose source then wins: symmetric RTCP)
                mux = ep.remote is not None and ep.remote.rtcp_mux
                ep.rtcp_latched = la if mux else (la[0], la[1] + 1)
                self._emit(RemoteLatched(ep.id, la))
        ep.packets_received += 1
        ep.octets_received += len(pkt.payload)
        ep.last_rx = now
        ep.had_media = True
        ep.timeout_reported = False
        if ep.rx_stats is None or ep.rx_stats.ssrc != pkt.ssrc:
            ep.rx_stats = ReceiverStats(pkt.ssrc)
        ep.rx_stats.update(pkt.sequence, pkt.timestamp, now)
        if ep.dtmf_pt is not None and pkt.payload_type == ep.dtmf_pt:
            for d in ep.rfc4733.on_packet(pkt, now):
                self._digit(ep, DtmfReceived(ep.id, d.digit, d.duration_ms, "rfc4733"))
            return
        codec = ep.codec or ep.sender.codec
        if pkt.payload_type != codec.payload_type:
            ep.unknown_pt += 1
            return
        ep.jitter.put(pkt)
        ep.has_audio = True

    def _digit(self, ep: _Leg, event: DtmfReceived) -> None:
        if event.source == "rfc4733" and not ep.report_rfc4733:
            return
        pb = ep.playback
        if pb is not None and pb.barge_in:
            self._finish_playback(ep, "barge_in", detail=event.digit)
        self._emit(event)

    def _on_rtcp(self, ep: _Leg, data: bytes, src: Address) -> None:
        ep.rtcp_received += 1
        try:
            packets = parse_rtcp(data)
        except RtcpError:
            ep.malformed += 1
            return
        rtp_src = ep.latch.latched_address
        if rtp_src is None or rtp_src[0] == src[0]:
            ep.rtcp_latched = src  # symmetric RTCP, only from the host RTP is latched to
        now = self._now()
        for p in packets:
            if isinstance(p, SenderReport):
                if ep.rx_stats is not None and p.ssrc == ep.rx_stats.ssrc:
                    ep.rx_stats.on_sender_report(p.ntp_timestamp, now)
                self._report_blocks(ep, p.reports)
            elif isinstance(p, ReceiverReport):
                self._report_blocks(ep, p.reports)

    def _report_blocks(self, ep: _Leg, blocks: Sequence[ReportBlock]) -> None:
        for b in blocks:
            if b.ssrc != ep.sender.ssrc:
                continue
            ep.remote_reported_lost = b.cumulative_lost
            ep.remote_fraction_lost = b.fraction_lost / 256
            rtt = round_trip_time(b, unix_to_ntp(time.time()))
            if rtt is not None:
                ep.rtt = rtt

    def _send_rtcp(self, ep: _Leg, now: float, *, bye: bool = False) -> None:
        target = ep.rtcp_latched or ep.rtcp_remote
        if target is None:
            return
        blocks: tuple[ReportBlock, ...] = ()
        if ep.rx_stats is not None and ep.rx_stats.valid:
            blocks = (ep.rx_stats.report_block(now),)
        first: RtcpPacket
        if ep.sender.packets_sent:
            ntp = unix_to_ntp(time.time())
            first = ep.sender.sender_report(ntp)
            first = SenderReport(
                first.ssrc,
                first.ntp_timestamp,
                first.rtp_timestamp,
                first.packet_count,
                first.octet_count,
                blocks,
            )
        else:
            first = ReceiverReport(ep.sender.ssrc, blocks)
        packets: list[RtcpPacket] = [
            first,
            SourceDescription((SdesChunk(ep.sender.ssrc, ((SDES_CNAME, self.config.cname.encode()),)),)),
        ]
        if bye:
            packets.append(Bye((ep.sender.ssrc,)))
        sock = ep.rtp if (ep.remote is not None and ep.remote.rtcp_mux) else ep.rtcp
        try:
            sock.sendto(build_rtcp(packets), target)
            ep.rtcp_sent += 1
        except OSError:
            ep.send_errors += 1

    def _now(self) -> float:
        return self._loop.time() if self._loop is not None else time.monotonic()

    # -- endpoints ----------------------------------------------------------------------------------------
    def _bind(self) -> tuple[int, socket.socket, socket.socket]:
        lo = self.config.port_min + (self.config.port_min & 1)
        evens = range(lo, self.config.port_max, 2)
        start = self._rng.randrange(len(evens))
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        for i in range(len(evens)):
            port = evens[(start + i) % len(evens)]
            if port in self._used_ports:
                continue
            pair: list[socket.socket] = []
            try:
                for p in (port, port + 1):
                    sock = socket.socket(family, socket.SOCK_DGRAM)
                    pair.append(sock)
                    sock.setblocking(False)
                    sock.bind((self.config.host, p))
            except OSError:
                for sock in pair:
                    sock.close()
                continue
            self._used_ports.add(port)
            return port, pair[0], pair[1]
        raise MediaEngineError("no free RTP port pair in the configured range")

    async def create_endpoint(
        self,
        call_id: str,
        leg: str,
        remote: MediaDescription | None = None,
        *,
        codecs: Sequence[str] = ("PCMU", "PCMA"),
        dtmf: DtmfMode = "auto",
    ) -> Endpoint:
        if self._closed:
            raise MediaEngineError("engine is closed")
        usable = [c.upper() for c in codecs if c.upper() in _CODECS]
        if not usable:
            raise CodecNegotiationError(f"none of {list(codecs)} is supported (PCMU, PCMA)")
        offered = [PayloadFormat(_CODECS[c].payload_type, c) for c in usable]
        if dtmf != "inband":
            offered.append(PayloadFormat(_DEFAULT_DTMF_PT, "telephone-event", fmtp="0-16"))
        negotiated: tuple[G711Codec, int | None] | None = None
        if remote is not None:
            negotiated = _negotiate(remote, usable, dtmf)
        loop = asyncio.get_running_loop()
        port, rtp_sock, rtcp_sock = self._bind()
        eid = EndpointId(self._new_id("ep"))
        ep = _Leg(eid, call_id, leg, port, rtp_sock, rtcp_sock, tuple(offered), dtmf, self.config, self._rng)
        loop.add_reader(rtp_sock.fileno(), self._readable, ep, rtp_sock, False)
        loop.add_reader(rtcp_sock.fileno(), self._readable, ep, rtcp_sock, True)
        if remote is not None and negotiated is not None:
            self._apply_remote(ep, remote, negotiated)
        else:
            ep.sender = RtpSender.with_random_start(_CODECS[usable[0]], self._rng)
            ep.jitter = ep._new_jitter(_CODECS[usable[0]])
        self._legs[eid] = ep
        self._order = list(self._legs.values())
        self.start()
        ep.next_rtcp = self._now() + self.config.rtcp_interval_s * self._rng.uniform(0.5, 1.5)
        return self._describe(ep)

    def _apply_remote(
        self, ep: _Leg, remote: MediaDescription, negotiated: tuple[G711Codec, int | None]
    ) -> None:
        codec, dtmf_pt = negotiated
        ep.set_codec(codec)
        ep.dtmf_pt = dtmf_pt
        ep.dtmf_tx = Rfc4733Transmitter(dtmf_pt) if dtmf_pt is not None else None
        ep.remote = remote
        ep.local_direction = _ANSWER_DIRECTION[remote.direction]
        ep.send_enabled = ep.local_direction in ("sendrecv", "sendonly")
        ep.expect_media = remote.direction in ("sendrecv", "sendonly")
        ep.last_rx = self._now()  # a re-INVITE restarts the media timeout
        ep.timeout_reported = False
        hold = remote.port == 0 or remote.address in ("0.0.0.0", "::")  # noqa: S104 - SDP hold
        addr = None if hold else (remote.address, remote.port)
        ep.latch = RtpLatch(
            addr,
            {codec.payload_type} | ({dtmf_pt} if dtmf_pt is not None else set()),
            latch_packets=self.config.latch_packets,
            relatch_after=self.config.relatch_after_s,
        )
        ep.latches_seen = 0
        if addr is None:
            ep.rtcp_remote = None
        elif remote.rtcp_mux:
            ep.rtcp_remote = addr
        else:
            ep.rtcp_remote = (remote.address, remote.rtcp_port or remote.port + 1)
        ep.rtcp_latched = None
        if ep.dtmf_mode == "inband" and ep.inband is None:
            ep.inband = InbandDtmfDetector()

    def _describe(self, ep: _Leg) -> Endpoint:
        if ep.remote is not None and ep.codec is not None:
            formats: tuple[PayloadFormat, ...] = (PayloadFormat(ep.codec.payload_type, ep.codec.name),)
            if ep.dtmf_pt is not None:
                formats += (PayloadFormat(ep.dtmf_pt, "telephone-event", fmtp="0-16"),)
            mux = ep.remote.rtcp_mux
        else:
            formats = ep.offered
            mux = False
        local = MediaDescription(
            address=self.config.advertise or self.config.host,
            port=ep.port,
            formats=formats,
            direction=ep.local_direction,
            ptime_ms=20,
            rtcp_port=ep.port if mux else ep.port + 1,
            rtcp_mux=mux,
        )
        codec = PayloadFormat(ep.codec.payload_type, ep.codec.name) if ep.codec is not None else None
        return Endpoint(ep.id, ep.call_id, ep.leg, local, codec, ep.dtmf_pt)

    async def update_endpoint(self, endpoint: EndpointId, remote: MediaDescription) -> Endpoint:
        ep = self._leg(endpoint)
        offered_names = [f.encoding.upper() for f in ep.offered if f.encoding.upper() in _CODECS]
        self._apply_remote(ep, remote, _negotiate(remote, offered_names, ep.dtmf_mode))
        return self._describe(ep)

    async def close_endpoint(self, endpoint: EndpointId) -> EndpointStats:
        ep = self._leg(endpoint)
        self._finish_playback(ep, "stopped")
        stats = self._stats(ep)
        self._send_rtcp(ep, self._now(), bye=True)
        ep.closed = True
        del self._legs[endpoint]
        self._order = list(self._legs.values())
        partner = self._bridges.pop(endpoint, None)
        if partner is not None:
            self._bridges.pop(partner, None)
        mid = self._leg_mix.pop(endpoint, None)
        if mid is not None:
            m = self._mixes[mid]
            rest = [p for p in m.matrix.participants if p != endpoint]
            m.matrix = m.matrix.resized(rest)
            if len(rest) < 2:
                self.__unmix(mid)
        for waiter in self._digit_waiters.pop(endpoint, []):
            if not waiter.done():
                waiter.set_result(None)
        for rec in list(self._recordings.values()):
            legs = [rec.caller] if rec.agent is None else [rec.caller, rec.agent]
            if all(eid not in self._legs for eid in legs):
                self._finish_recording(rec)
        loop = asyncio.get_running_loop()
        for sock in (ep.rtp, ep.rtcp):
            loop.remove_reader(sock.fileno())
            sock.close()
        self._used_ports.discard(ep.port)
        return stats

    # -- playback --------------------------------------------------------------------------------------------
    async def _load(self, path: Path) -> Pcm:
        p = await asyncio.to_thread(path.resolve)
        st = await asyncio.to_thread(p.stat)
        key = (str(p), st.st_mtime, st.st_size)
        pcm = self._file_cache.get(key)
        if pcm is None:
            pcm = await asyncio.to_thread(load_wav_8k_mono, p)
            if len(self._file_cache) > 256:
                self._file_cache.pop(next(iter(self._file_cache)))
            self._file_cache[key] = pcm
        return pcm

    async def play(
        self,
        endpoint: EndpointId,
        source: PlaySource,
        *,
        loop: bool = False,
        barge_in: bool = False,
    ) -> PlaybackId:
        self._leg(endpoint)
        reader: Callable[[], Pcm | None]
        if isinstance(source, PlayFile):
            try:
                pcm = await self._load(source.path)
            except (OSError, ValueError) as exc:
                raise MediaEngineError(f"cannot play {source.path}: {exc}") from exc
            reader = _array_reader(pcm, loop)
        elif isinstance(source, PlayTone):
            reader = _tone_reader(source.segments, loop)
        elif isinstance(source, PlaySilence):
            reader = _array_reader(np.zeros(source.duration_ms * 8, dtype=np.int16), loop)
        else:  # pragma: no cover - guarded by the type
            raise MediaEngineError(f"unknown play source {source!r}")
        ep = self._leg(endpoint)  # may have been closed while loading
        pid = PlaybackId(self._new_id("pb"))
        self._finish_playback(ep, "stopped")
        ep.playback = _Playback(pid, reader, barge_in, internal=False)
        return pid

    def _finish_playback(
        self, ep: _Leg, reason: Literal["completed", "stopped", "barge_in", "error"], detail: str = ""
    ) -> None:
        pb = ep.playback
        if pb is None:
            return
        ep.playback = None
        if pb.on_done is not None:
            pb.on_done()
        if not pb.internal:
            self._emit(PlaybackFinished(ep.id, pb.id, reason, detail))

    async def stop_play(self, endpoint: EndpointId, playback: PlaybackId | None = None) -> None:
        ep = self._leg(endpoint)
        if ep.playback is not None and (playback is None or ep.playback.id == playback):
            self._finish_playback(ep, "stopped")

    # -- echo ----------------------------------------------------------------------------------------------
    async def set_echo(
        self, endpoint: EndpointId, enable: bool = True, *, delay_ms: int | None = None
    ) -> None:
        """``*43`` echo test: the endpoint hears its own audio ``delay_ms`` later (a playback still
        takes precedence, so a prompt can be played first)."""
        ep = self._leg(endpoint)
        if enable:
            delay = self.config.echo_delay_ms if delay_ms is None else delay_ms
            ep.echo = EchoPath.from_ms(delay, 0.0)
        else:
            ep.echo = None

    # -- recording -----------------------------------------------------------------------------------------
    def set_disk_watch(self, watch: DiskWatch | None) -> None:
        """Refuse new recordings while ``watch`` says the recordings disk is critical (None: never)."""
        self.disk_watch = watch

    async def record_start(
        self,
        path: Path,
        caller: EndpointId,
        agent: EndpointId | None = None,
        *,
        pause_mode: Literal["silence", "skip"] = "silence",
    ) -> RecordingId:
        self._leg(caller)
        if agent is not None:
            self._leg(agent)
        watch = self.disk_watch
        if watch is not None and not watch.recording_allowed:
            free = f", {watch.usage.free // (1 << 20)} MiB free" if watch.usage is not None else ""
            raise RecordingRefused(
                f"recording to {path} refused: recordings disk {watch.path} is critical{free}"
            )
        try:
            writer = StreamingWavWriter(
                path,
                channels=1 if agent is None else 2,
                sync_interval=self.config.record_sync_s,
                fsync=self.config.record_fsync,
                pause_mode=pause_mode,
            )
        except OSError as exc:
            raise MediaEngineError(f"cannot record to {path}: {exc}") from exc
        rid = RecordingId(self._new_id("rec"))
        frames = max(1, self.config.record_flush_ms // 20) * FRAME
        buf = np.zeros((frames, writer.channels), dtype=np.int16)
        self._recordings[rid] = _Recording(rid, writer, caller, agent, buf)
        return rid

    def _rec(self, recording: RecordingId) -> _Recording:
        rec = self._recordings.get(recording)
        if rec is None:
            raise UnknownEndpoint(recording)
        return rec

    def _record_tick(self, rec: _Recording, now: float) -> None:
        rows = rec.buf[rec.pos : rec.pos + FRAME]
        caller = self._legs.get(rec.caller)
        cin = caller.input if caller is not None else None
        if rec.agent is None:
            cout = caller.output if caller is not None else None
            col = rows[:, 0]
            if cin is not None and cout is not None:
                col[:] = np.clip(_fit(cin).astype(np.int32) + _fit(cout), -32768, 32767)
            elif cin is not None:
                col[:] = _fit(cin)
            elif cout is not None:
                col[:] = _fit(cout)
            else:
                col[:] = 0
        else:
            agent = self._legs.get(rec.agent)
            ain = agent.input if agent is not None else None
            if cin is None:
                rows[:, 0] = 0
            else:
                rows[:, 0] = cin if len(cin) == FRAME else _fit(cin)
            if ain is None:
                rows[:, 1] = 0
            else:
                rows[:, 1] = ain if len(ain) == FRAME else _fit(ain)
        rec.pos += FRAME
        if rec.pos >= len(rec.buf):
            self._flush_recording(rec, now)

    def _flush_recording(self, rec: _Recording, now: float | None) -> None:
        if rec.pos == 0 or rec.failed:
            rec.pos = 0
            return
        block = rec.buf[: rec.pos]
        rec.pos = 0
        try:
            rec.writer.write(block, now=now)
        except (OSError, ValueError) as exc:
            rec.failed = True
            self._emit(RecordingFailed(rec.id, str(exc)))

    async def record_pause(self, recording: RecordingId) -> None:
        rec = self._rec(recording)
        self._flush_recording(rec, self._now())
        rec.writer.pause()

    async def record_resume(self, recording: RecordingId) -> None:
        rec = self._rec(recording)
        self._flush_recording(rec, self._now())
        rec.writer.resume()

    def _finish_recording(self, rec: _Recording) -> RecordingInfo:
        self._recordings.pop(rec.id, None)
        self._flush_recording(rec, None)
        with contextlib.suppress(OSError):
            rec.writer.close()
        w = rec.writer
        info = RecordingInfo(rec.id, w.path, w.duration, w.channels, w.paused_frames / w.sample_rate)
        self._finished[rec.id] = info
        while len(self._finished) > 1000:
            self._finished.pop(next(iter(self._finished)))
        return info

    async def record_stop(self, recording: RecordingId) -> RecordingInfo:
        """Stop and finalise; idempotent: a recording that already ended (stopped before, or
        finalised because all its legs were closed) returns its final info again."""
        done = self._finished.get(recording)
        if done is not None:
            return done
        return self._finish_recording(self._rec(recording))

    # -- bridges and mixes -------------------------------------------------------------------------------------
    async def bridge(self, a: EndpointId, b: EndpointId) -> None:
        self._leg(a)
        self._leg(b)
        if a == b:
            raise MediaEngineError("cannot bridge an endpoint to itself")
        for x in (a, b):
            old = self._bridges.pop(x, None)
            if old is not None:
                self._bridges.pop(old, None)
        self._bridges[a] = b
        self._bridges[b] = a

    async def unbridge(self, a: EndpointId, b: EndpointId) -> None:
        if self._bridges.get(a) == b:
            del self._bridges[a]
            self._bridges.pop(b, None)

    async def mix(self, spec: MixSpec, mix: MixId | None = None) -> MixId:
        matrix = mix_matrix_for(spec)
        for p in matrix.participants:
            self._leg(EndpointId(p))
        if mix is None:
            mix = MixId(self._new_id("mix"))
        elif mix not in self._mixes:
            raise UnknownEndpoint(mix)
        for p in matrix.participants:
            other = self._leg_mix.get(EndpointId(p))
            if other is not None and other != mix:
                raise MediaEngineError(f"endpoint {p} is already in mix {other}")
        old = self._mixes.get(mix)
        if old is not None:
            for p in old.matrix.participants:
                self._leg_mix.pop(EndpointId(p), None)
        self._mixes[mix] = _Mix(mix, spec, matrix)
        for p in matrix.participants:
            self._leg_mix[EndpointId(p)] = mix
        return mix

    def __unmix(self, mix: MixId) -> None:
        m = self._mixes.pop(mix, None)
        if m is None:
            raise UnknownEndpoint(mix)
        for p in m.matrix.participants:
            if self._leg_mix.get(EndpointId(p)) == mix:
                del self._leg_mix[EndpointId(p)]

    async def unmix(self, mix: MixId) -> None:
        self.__unmix(mix)

    # -- DTMF --------------------------------------------------------------------------------------------------
    async def detect_dtmf(self, endpoint: EndpointId, *, enable: bool = True, inband: bool = False) -> None:
        ep = self._leg(endpoint)
        ep.report_rfc4733 = enable
        if enable and inband:
            if ep.inband is None:
                ep.inband = InbandDtmfDetector()
        else:
            ep.inband = None

    async def send_dtmf(
        self,
        endpoint: EndpointId,
        digits: str,
        *,
        duration_ms: int = 160,
        pause_ms: int = 80,
        mode: DtmfMode = "auto",
    ) -> None:
        ep = self._leg(endpoint)
        if not digits:
            return
        for d in digits:
            if d.upper() not in DTMF_FREQUENCIES:
                raise ValueError(f"not a DTMF digit: {d!r}")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finish() -> None:
            if not done.done():
                done.set_result(None)

        self._digit_waiters.setdefault(endpoint, []).append(done)
        use_rfc = ep.dtmf_tx is not None and mode in ("rfc4733", "auto")
        if mode == "rfc4733" and ep.dtmf_tx is None:
            raise UnsupportedOperation("telephone-event was not negotiated on this endpoint")
        if use_rfc:
            assert ep.dtmf_tx is not None
            ep.dtmf_tx.enqueue(digits.upper(), duration_ms=duration_ms, pause_ms=pause_ms, on_done=finish)
        else:
            segments: list[ToneSegment] = []
            for d in digits.upper():
                segments.append(ToneSegment(DTMF_FREQUENCIES[d], duration_ms))
                segments.append(ToneSegment((), pause_ms))
            self._finish_playback(ep, "stopped")
            pb = _Playback(
                PlaybackId(self._new_id("dtmf")), _tone_reader(segments, False), False, internal=True
            )
            pb.on_done = finish
            ep.playback = pb
        try:
            await done
        finally:
            waiters = self._digit_waiters.get(endpoint)
            if waiters is not None and done in waiters:
                waiters.remove(done)

    # -- stats / lifecycle -------------------------------------------------------------------------------------
    def _stats(self, ep: _Leg) -> EndpointStats:
        rx = ep.rx_stats
        now = self._now()
        return EndpointStats(
            packets_sent=ep.packets_sent_before + ep.sender.packets_sent,
            octets_sent=ep.octets_sent_before + ep.sender.octets_sent,
            packets_received=ep.packets_received,
            octets_received=ep.octets_received,
            packets_lost=max(0, rx.cumulative_lost) if rx is not None else 0,
            fraction_lost=_peek_fraction_lost(rx),
            jitter_ms=rx.jitter_seconds * 1000 if rx is not None else 0.0,
            rtt_ms=ep.rtt * 1000 if ep.rtt is not None else None,
            remote_reported_lost=ep.remote_reported_lost,
            concealed_frames=ep.jitter.stats.lost + ep.jitter.stats.underruns,
            remote=ep.latch.remote,
            latched=ep.latch.latched,
            seconds_since_last_packet=(now - ep.last_rx) if ep.had_media else None,
            extra={
                "malformed": float(ep.malformed),
                "unknown_payload_type": float(ep.unknown_pt),
                "ignored_wrong_source": float(ep.latch.stats.ignored_wrong_source),
                "send_errors": float(ep.send_errors),
                "rtcp_sent": float(ep.rtcp_sent),
                "rtcp_received": float(ep.rtcp_received),
                "jitter_late": float(ep.jitter.stats.late),
                "jitter_target_depth": float(ep.jitter.stats.target_depth),
                "remote_fraction_lost": ep.remote_fraction_lost
                if ep.remote_fraction_lost is not None
                else -1.0,
            },
        )

    async def stats(self, endpoint: EndpointId) -> EndpointStats:
        return self._stats(self._leg(endpoint))

    async def close(self) -> None:
        if self._closed:
            return
        for eid in list(self._legs):
            await self.close_endpoint(eid)
        for rec in list(self._recordings.values()):
            self._finish_recording(rec)
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.sleep(0)


_SILENCE_FRAME: Pcm = np.zeros(FRAME, dtype=np.int16)
_SILENCE_FRAME.setflags(write=False)


def _fit(pcm: Pcm) -> Pcm:
    if len(pcm) == FRAME:
        return pcm
    out = np.zeros(FRAME, dtype=np.int16)
    out[: min(FRAME, len(pcm))] = pcm[:FRAME]
    return out


def _peek_fraction_lost(rx: ReceiverStats | None) -> float:
    """Loss fraction of the current RTCP interval without resetting it."""
    if rx is None:
        return 0.0
    expected = rx.expected - rx.expected_prior
    received = rx.received - rx.received_prior
    if expected <= 0 or received >= expected:
        return 0.0
    return (expected - received) / expected
