"""Outbound RTP stream state for one call leg.

One :class:`RtpSender` per leg owns the SSRC, the sequence number and the RTP
timestamp.  Whatever the audio source (prompt -> bridge -> music on hold ->
silence), the engine calls :meth:`RtpSender.audio_packet` once per 20 ms
tick, so sequence numbers and timestamps continue monotonically and the far
end never sees an SSRC change (which some phones treat as a new stream and
which is a classic cause of one-way audio).

Marker bit (RFC 3551 4.1): set on the first packet of the stream and on the
first packet of each talkspurt, i.e. whenever the named *source* changes or
audio resumes after comfort silence.  Comfort silence (``pcm=None``) is sent
as encoded digital-silence frames, never as gaps, so NATs stay open and
receivers' jitter buffers do not underrun.

RFC 4733 event packets share the SSRC and sequence space
(:meth:`event_packet`); their RTP timestamp is the event start time and the
audio timestamp keeps advancing underneath (:meth:`skip`).
"""

from __future__ import annotations

import random
import struct
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from hotline.media.rtcp import SenderReport
from hotline.media.rtp import RtpPacket

__all__ = ["AudioCodec", "RtpSender"]


class AudioCodec(Protocol):
    """What the sender needs from a codec (satisfied by :class:`~hotline.media.g711.G711Codec`)."""

    @property
    def payload_type(self) -> int: ...

    @property
    def clock_rate(self) -> int: ...

    def encode(self, pcm: npt.NDArray[np.int16]) -> bytes: ...

    def silence(self, samples: int = ...) -> bytes: ...


_SILENCE: Final = object()
_HEADER: Final = struct.Struct("!BBHII")


class RtpSender:
    """Sequence/timestamp/SSRC bookkeeping for one outbound RTP stream."""

    def __init__(
        self,
        codec: AudioCodec,
        *,
        ssrc: int,
        initial_sequence: int = 0,
        initial_timestamp: int = 0,
        samples_per_packet: int = 160,
    ) -> None:
        if not 0 <= ssrc <= 0xFFFFFFFF:
            raise ValueError("SSRC out of range")
        self.codec = codec
        self.ssrc = ssrc
        self.samples_per_packet = samples_per_packet
        self.next_sequence = initial_sequence & 0xFFFF
        self.next_timestamp = initial_timestamp & 0xFFFFFFFF
        self.packets_sent = 0
        self.octets_sent = 0  # payload octets, for SR
        self.last_timestamp: int | None = None
        self._last_source: object = None  # None = nothing sent yet
        self._silence = codec.silence(samples_per_packet)

    @classmethod
    def with_random_start(
        cls, codec: AudioCodec, rng: random.Random, *, samples_per_packet: int = 160
    ) -> RtpSender:
        """RFC 3550 recommends random initial SSRC, sequence number and timestamp."""
        return cls(
            codec,
            ssrc=rng.getrandbits(32),
            initial_sequence=rng.getrandbits(16),
            initial_timestamp=rng.getrandbits(32),
            samples_per_packet=samples_per_packet,
        )

    def _emit(self, payload_type: int, timestamp: int, payload: bytes, marker: bool) -> RtpPacket:
        pkt = RtpPacket(
            payload_type=payload_type,
            sequence=self.next_sequence,
            timestamp=timestamp,
            ssrc=self.ssrc,
            payload=payload,
            marker=marker,
        )
        self.next_sequence = (self.next_sequence + 1) & 0xFFFF
        self.packets_sent += 1
        self.octets_sent += len(payload)
        self.last_timestamp = timestamp
        return pkt

    def audio_packet(self, pcm: npt.NDArray[np.int16] | None, *, source: str = "audio") -> RtpPacket:
        """The packet for the next 20 ms tick.

        ``pcm`` is one frame (``samples_per_packet`` int16 samples; shorter frames
        are zero-padded, e.g. the end of a prompt) or ``None`` for comfort
        silence.  ``source`` names the current audio source ("prompt", "bridge",
        "moh", ...); a change of source starts a new talkspurt (marker bit).
        """
        if pcm is None:
            payload = self._silence
            current: object = _SILENCE
            marker = self._last_source is None
        else:
            n = len(pcm)
            if n > self.samples_per_packet:
                raise ValueError(f"frame has {n} samples, expected at most {self.samples_per_packet}")
            if n < self.samples_per_packet:
                pcm = np.concatenate([pcm, np.zeros(self.samples_per_packet - n, dtype=np.int16)])
            payload = self.codec.encode(pcm)
            current = source
            marker = self._last_source != source
        self._last_source = current
        ts = self.next_timestamp
        self.next_timestamp = (self.next_timestamp + self.samples_per_packet) & 0xFFFFFFFF
        return self._emit(self.codec.payload_type, ts, payload, marker)

    def encoded_audio_packet(self, payload: bytes, *, source: str | None) -> bytes:
        """Wire bytes of the next audio packet from an already encoded frame.

        Same bookkeeping and marker rules as :meth:`audio_packet` (``source=None`` is comfort
        silence), without building an :class:`RtpPacket`: the engine's fast path, which encodes
        the frames of all legs with one table lookup per tick.
        """
        if source is None:
            current: object = _SILENCE
            marker = self._last_source is None
        else:
            current = source
            marker = self._last_source != source
        self._last_source = current
        ts = self.next_timestamp
        seq = self.next_sequence
        self.next_timestamp = (ts + self.samples_per_packet) & 0xFFFFFFFF
        self.next_sequence = (seq + 1) & 0xFFFF
        self.packets_sent += 1
        self.octets_sent += len(payload)
        self.last_timestamp = ts
        b1 = (0x80 if marker else 0) | self.codec.payload_type
        return _HEADER.pack(0x80, b1, seq, ts, self.ssrc) + payload

    def skip(self, frames: int = 1) -> None:
        """Advance the media clock by ``frames`` ticks without sending audio (e.g. during DTMF)."""
        self.next_timestamp = (self.next_timestamp + frames * self.samples_per_packet) & 0xFFFFFFFF

    def event_packet(self, payload_type: int, payload: bytes, *, timestamp: int, marker: bool) -> RtpPacket:
        """An RFC 4733 event packet in the same stream (own PT, event start ``timestamp``).

        After an event the next audio packet starts a new talkspurt (marker set).
        """
        self._last_source = _SILENCE
        return self._emit(payload_type, timestamp & 0xFFFFFFFF, payload, marker)

    def sender_report(self, ntp_timestamp: int, rtp_timestamp: int | None = None) -> SenderReport:
        """SR for this stream.  ``rtp_timestamp`` should correspond to ``ntp_timestamp``;
        by default the timestamp of the next packet is used."""
        return SenderReport(
            ssrc=self.ssrc,
            ntp_timestamp=ntp_timestamp,
            rtp_timestamp=self.next_timestamp if rtp_timestamp is None else rtp_timestamp,
            packet_count=self.packets_sent & 0xFFFFFFFF,
            octet_count=self.octets_sent & 0xFFFFFFFF,
        )
