"""The media-engine interface used by the call layer.

Only the interface and its data types live here.  Two implementations are
planned:

* the built-in engine (asyncio UDP on top of the pure modules of
  :mod:`hotline.media`: jitter buffer, latching, RtpSender, mixer, WAV writer);
* an rtpengine-backed engine speaking the ng control protocol.

Design notes (what keeps this honest for both):

* SDP text is the SIP layer's business.  The engine negotiates one audio
  ``m=`` line, expressed as :class:`MediaDescription` in and out.  An
  rtpengine backend renders a minimal SDP from it for ``offer``/``answer``
  and parses the ``c=``/``m=``/``a=`` lines of rtpengine's reply back.
* Endpoints are addressed by opaque :data:`EndpointId`; an rtpengine backend
  maps them to (call-id, from-tag/to-tag).
* Everything asynchronous the engine observes (DTMF, end of playback,
  recording failure, media timeout, latching) is delivered as a
  :data:`MediaEvent` to handlers registered with :meth:`MediaEngine.subscribe`.
* Not every backend can do everything (rtpengine, for instance, has no
  native whisper/coach mixing in all versions, and in-band DTMF detection
  depends on transcoding being enabled).  :attr:`MediaEngine.capabilities`
  says what is available; unsupported operations raise
  :class:`UnsupportedOperation` instead of silently doing something else.

Mapping to rtpengine ng commands (for the later backend): create/update
endpoint -> ``offer``/``answer``; close -> ``delete``; play/stop_play ->
``play media``/``stop media``; tones -> ``play media`` of a generated file
(or ``play DTMF`` for digits); record_* -> ``start recording``/``pause
recording``/``stop recording``; listen -> ``subscribe request``/``subscribe
answer``; bridge -> ``connect`` (or anchoring both legs in one rtpengine
call); send_dtmf -> ``play DTMF``; DTMF events -> ``dtmf-log-dest``;
stats -> ``query``.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NewType

from hotline.media.mixer import MixMatrix
from hotline.media.tones import ToneSegment

__all__ = [
    "Capability",
    "CodecNegotiationError",
    "Conference",
    "DtmfMode",
    "DtmfReceived",
    "Endpoint",
    "EndpointId",
    "EndpointStats",
    "EventHandler",
    "MediaDescription",
    "MediaEngine",
    "MediaEngineError",
    "MediaEvent",
    "MediaTimeout",
    "MixId",
    "MixSpec",
    "PayloadFormat",
    "PlayFile",
    "PlaySilence",
    "PlaySource",
    "PlayTone",
    "PlaybackFinished",
    "PlaybackId",
    "RecordingFailed",
    "RecordingId",
    "RecordingInfo",
    "RecordingRefused",
    "RemoteLatched",
    "Supervision",
    "UnknownEndpoint",
    "UnsupportedOperation",
    "mix_matrix_for",
]

EndpointId = NewType("EndpointId", str)
PlaybackId = NewType("PlaybackId", str)
RecordingId = NewType("RecordingId", str)
MixId = NewType("MixId", str)

Direction = Literal["sendrecv", "sendonly", "recvonly", "inactive"]
DtmfMode = Literal["rfc4733", "inband", "auto"]


# -- errors ---------------------------------------------------------------------------


class MediaEngineError(Exception):
    """Base class of media-engine failures."""


class UnknownEndpoint(MediaEngineError, KeyError):
    """The endpoint (or playback/recording/mix) id is unknown or already closed."""


class UnsupportedOperation(MediaEngineError):
    """This backend cannot do the requested operation (see :attr:`MediaEngine.capabilities`)."""


class CodecNegotiationError(MediaEngineError):
    """No common codec with the remote offer/answer."""


class RecordingRefused(MediaEngineError):
    """A new recording was refused (e.g. the recordings disk is critically full: see
    :mod:`hotline.media.diskwatch`).  The call itself is unaffected and continues unrecorded."""


class Capability(enum.Enum):
    PLAY_FILE = "play_file"
    PLAY_TONE = "play_tone"
    RECORD = "record"
    RECORD_PAUSE = "record_pause"
    BRIDGE = "bridge"
    CONFERENCE = "conference"
    LISTEN = "listen"
    WHISPER = "whisper"
    BARGE = "barge"
    DTMF_RFC4733 = "dtmf_rfc4733"
    DTMF_INBAND = "dtmf_inband"
    SEND_DTMF = "send_dtmf"


# -- session description (one audio m= line) --------------------------------------------


@dataclass(frozen=True, slots=True)
class PayloadFormat:
    """One ``a=rtpmap`` entry, e.g. ``PayloadFormat(0, "PCMU", 8000)`` or
    ``PayloadFormat(101, "telephone-event", 8000, fmtp="0-16")``."""

    payload_type: int
    encoding: str
    clock_rate: int = 8000
    channels: int = 1
    fmtp: str | None = None


@dataclass(frozen=True, slots=True)
class MediaDescription:
    """Transport and format parameters of one audio stream (either side)."""

    address: str  # c= address; "0.0.0.0" means hold (RFC 2543 style)
    port: int  # m= port; 0 means the stream is rejected/disabled
    formats: tuple[PayloadFormat, ...]  # in preference order
    direction: Direction = "sendrecv"
    ptime_ms: int = 20
    rtcp_port: int | None = None  # a=rtcp; None: port + 1 (or the RTP port with rtcp-mux)
    rtcp_mux: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A media endpoint anchored on the engine: one call leg's RTP session."""

    id: EndpointId
    call_id: str
    leg: str
    local: MediaDescription  # what to put into our SDP offer/answer
    codec: PayloadFormat | None  # negotiated audio codec (None until the answer is known)
    dtmf_payload_type: int | None  # negotiated telephone-event PT, if any


# -- playback / mixing specs ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlayFile:
    """A WAV file (any rate/channels; converted to 8 kHz mono).  TTS output is rendered to a
    file by the caller (e.g. espeak-ng at 22,050 Hz) and played this way."""

    path: Path


@dataclass(frozen=True, slots=True)
class PlayTone:
    """A tone cadence, e.g. :data:`hotline.media.tones.RINGBACK_EU`, or DTMF digits as tones."""

    segments: tuple[ToneSegment, ...]


@dataclass(frozen=True, slots=True)
class PlaySilence:
    duration_ms: int


PlaySource = PlayFile | PlayTone | PlaySilence


@dataclass(frozen=True, slots=True)
class Conference:
    """Everybody hears everybody else (minus own voice)."""

    participants: tuple[EndpointId, ...]


@dataclass(frozen=True, slots=True)
class Supervision:
    """Supervisor modes, see :class:`hotline.media.mixer.MixMatrix.supervised`.

    listen: supervisor hears parties, nobody hears the supervisor;
    whisper (coach): additionally the agent hears the supervisor;
    barge: everybody hears everybody.
    """

    parties: tuple[EndpointId, ...]  # callers and the agent
    agent: EndpointId
    supervisor: EndpointId
    mode: Literal["listen", "whisper", "coach", "barge"]


MixSpec = Conference | Supervision


def mix_matrix_for(spec: MixSpec) -> MixMatrix:
    """The :class:`MixMatrix` (keyed by endpoint id) implementing a mix spec."""
    if isinstance(spec, Conference):
        return MixMatrix.conference(spec.participants)
    return MixMatrix.supervised(spec.parties, spec.agent, spec.supervisor, spec.mode)


# -- results / statistics -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordingInfo:
    id: RecordingId
    path: Path
    duration_s: float  # seconds of audio in the file
    channels: int  # 2: caller left, agent right; 1: mono mix
    paused_s: float = 0.0  # time spent paused (silence inserted or skipped, see pause_mode)


@dataclass(frozen=True, slots=True)
class EndpointStats:
    packets_sent: int = 0
    octets_sent: int = 0
    packets_received: int = 0
    octets_received: int = 0
    packets_lost: int = 0  # RFC 3550 cumulative loss of the received stream
    fraction_lost: float = 0.0  # 0..1, last interval
    jitter_ms: float = 0.0  # RFC 3550 interarrival jitter of the received stream
    rtt_ms: float | None = None  # from RTCP SR/RR, when available
    remote_reported_lost: int | None = None  # from the peer's RTCP report about our stream
    concealed_frames: int = 0  # jitter buffer concealment (built-in engine only)
    remote: tuple[str, int] | None = None  # where we send (after latching)
    latched: bool = False
    seconds_since_last_packet: float | None = None
    extra: dict[str, float] = field(default_factory=dict)  # backend-specific counters


# -- events ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    endpoint: EndpointId
    digit: str
    duration_ms: float
    source: Literal["rfc4733", "inband"]


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    endpoint: EndpointId
    playback: PlaybackId
    reason: Literal["completed", "stopped", "barge_in", "error"]
    detail: str = ""


@dataclass(frozen=True, slots=True)
class RecordingFailed:
    recording: RecordingId
    detail: str


@dataclass(frozen=True, slots=True)
class MediaTimeout:
    """No RTP received for ``seconds`` (dead peer / one-way audio); the call layer decides."""

    endpoint: EndpointId
    seconds: float


@dataclass(frozen=True, slots=True)
class RemoteLatched:
    endpoint: EndpointId
    address: tuple[str, int]


MediaEvent = DtmfReceived | PlaybackFinished | RecordingFailed | MediaTimeout | RemoteLatched
EventHandler = Callable[[MediaEvent], Awaitable[None] | None]


# -- the interface -----------------------------------------------------------------------------------


class MediaEngine(abc.ABC):
    """Operations the call layer uses.  All ids are opaque strings owned by the engine."""

    @property
    @abc.abstractmethod
    def capabilities(self) -> frozenset[Capability]:
        """What this backend supports."""

    @abc.abstractmethod
    def subscribe(self, handler: EventHandler) -> Callable[[], None]:
        """Register an event handler (sync or async); returns a function that unregisters it."""

    # endpoints
    @abc.abstractmethod
    async def create_endpoint(
        self,
        call_id: str,
        leg: str,
        remote: MediaDescription | None = None,
        *,
        codecs: Sequence[str] = ("PCMU", "PCMA"),
        dtmf: DtmfMode = "auto",
    ) -> Endpoint:
        """Anchor a new leg.  With ``remote`` (an incoming offer) the returned
        :attr:`Endpoint.local` is our answer; without it, it is our offer and the
        answer must be given to :meth:`update_endpoint`.  Raises
        :class:`CodecNegotiationError` when no codec in ``codecs`` matches."""

    @abc.abstractmethod
    async def update_endpoint(self, endpoint: EndpointId, remote: MediaDescription) -> Endpoint:
        """Remote answer to our offer, or a re-INVITE/UPDATE (new address, hold via
        direction/0.0.0.0, codec change).  Resets RTP latching to the new address."""

    @abc.abstractmethod
    async def close_endpoint(self, endpoint: EndpointId) -> EndpointStats:
        """Tear down the leg (stops its playbacks, detaches it from mixes/bridges,
        finalises recordings that only involve it) and return final statistics."""

    # playback
    @abc.abstractmethod
    async def play(
        self,
        endpoint: EndpointId,
        source: PlaySource,
        *,
        loop: bool = False,
        barge_in: bool = False,
    ) -> PlaybackId:
        """Start playing to the endpoint, replacing what it hears until finished/stopped
        (a later play replaces an earlier one).  With ``barge_in`` a received DTMF digit
        stops the playback (the digit is still reported).  Completion is reported as
        :class:`PlaybackFinished`."""

    @abc.abstractmethod
    async def stop_play(self, endpoint: EndpointId, playback: PlaybackId | None = None) -> None:
        """Stop the given (or the current) playback; no error if it already finished."""

    # recording
    @abc.abstractmethod
    async def record_start(
        self,
        path: Path,
        caller: EndpointId,
        agent: EndpointId | None = None,
        *,
        pause_mode: Literal["silence", "skip"] = "silence",
    ) -> RecordingId:
        """Record to a WAV file at ``path``: stereo with the caller on the left and the
        agent on the right, or mono when ``agent`` is None.  The file is playable up to
        the last second even if the process dies."""

    @abc.abstractmethod
    async def record_pause(self, recording: RecordingId) -> None:
        """Pause (PCI/GDPR): silence is inserted or the audio skipped per ``pause_mode``."""

    @abc.abstractmethod
    async def record_resume(self, recording: RecordingId) -> None: ...

    @abc.abstractmethod
    async def record_stop(self, recording: RecordingId) -> RecordingInfo: ...

    # connecting legs
    @abc.abstractmethod
    async def bridge(self, a: EndpointId, b: EndpointId) -> None:
        """Connect two legs two-way (each hears the other).  A playback on a leg
        temporarily replaces the bridged audio it hears."""

    @abc.abstractmethod
    async def unbridge(self, a: EndpointId, b: EndpointId) -> None: ...

    @abc.abstractmethod
    async def mix(self, spec: MixSpec, mix: MixId | None = None) -> MixId:
        """Create a mix, or change an existing one (e.g. listen -> whisper -> barge,
        or a participant joins a conference) without audio gaps."""

    @abc.abstractmethod
    async def unmix(self, mix: MixId) -> None: ...

    # DTMF
    @abc.abstractmethod
    async def detect_dtmf(self, endpoint: EndpointId, *, enable: bool = True, inband: bool = False) -> None:
        """Report digits received on the endpoint as :class:`DtmfReceived` events.
        RFC 4733 is always used when negotiated; ``inband`` adds Goertzel detection
        (for peers without telephone-event)."""

    @abc.abstractmethod
    async def send_dtmf(
        self,
        endpoint: EndpointId,
        digits: str,
        *,
        duration_ms: int = 160,
        pause_ms: int = 80,
        mode: DtmfMode = "auto",
    ) -> None:
        """Send digits (RFC 4733 if negotiated, otherwise in-band tones when
        ``mode`` is "auto"); returns when the last digit has been sent."""

    # introspection / lifecycle
    @abc.abstractmethod
    async def stats(self, endpoint: EndpointId) -> EndpointStats: ...

    @abc.abstractmethod
    async def close(self) -> None:
        """Close all endpoints, finalise all recordings, release sockets/connections."""
