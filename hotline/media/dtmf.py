"""DTMF: RFC 4733 telephone-events (encode/decode, receiver, sender) and in-band detection.

* :class:`TelephoneEvent` -- the 4-octet RFC 4733 payload.
* :class:`Rfc4733Receiver` -- turns a stream of event packets (with start
  packet, updates, three end packets, retransmissions) into one
  :class:`DtmfDigit` per key press, keyed by (RTP timestamp, event).
* :func:`rfc4733_send_schedule` -- the packets a sender emits for one digit:
  first packet with the marker bit, updates every 50 ms, three end packets,
  all with the same RTP timestamp.
* :class:`InbandDtmfDetector` -- Goertzel-style detector for 8 kHz PCM
  (row/column tones, energy, twist, relative-peak and tone-to-total checks,
  minimum duration, one digit per press).
"""

from __future__ import annotations

import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from hotline.media.rtp import RtpPacket
from hotline.media.tones import DTMF_COLS, DTMF_KEYS, DTMF_ROWS

__all__ = [
    "DTMF_EVENTS",
    "DtmfDigit",
    "DtmfSendStep",
    "InbandDtmfDetector",
    "Rfc4733Receiver",
    "TelephoneEvent",
    "digit_to_event",
    "event_to_digit",
    "rfc4733_send_schedule",
]

DTMF_EVENTS: Final = "0123456789*#ABCD"
"""RFC 4733 event codes 0..15 in order."""


def digit_to_event(digit: str) -> int:
    idx = DTMF_EVENTS.find(digit.upper()) if len(digit) == 1 else -1
    if idx < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return idx


def event_to_digit(event: int) -> str | None:
    """The digit for event code 0..15, or None for non-DTMF events."""
    return DTMF_EVENTS[event] if 0 <= event < 16 else None


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """RFC 4733 section 2.3 payload: event, E bit, volume (0..63, -dBm0), duration (timestamp units)."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.event <= 255:
            raise ValueError("event out of range")
        if not 0 <= self.volume <= 63:
            raise ValueError("volume out of range")
        if not 0 <= self.duration <= 0xFFFF:
            raise ValueError("duration out of range")

    def encode(self) -> bytes:
        return struct.pack("!BBH", self.event, (0x80 if self.end else 0) | self.volume, self.duration)

    @classmethod
    def decode(cls, payload: bytes) -> TelephoneEvent:
        """Decode the first event block (extra blocks, RFC 4733 2.5.1.5, are ignored)."""
        if len(payload) < 4:
            raise ValueError("telephone-event payload shorter than 4 octets")
        event, flags, duration = struct.unpack_from("!BBH", payload)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """One key press."""

    digit: str
    duration_ms: float
    source: Literal["rfc4733", "inband"]
    timestamp: int  # RTP timestamp of the event (rfc4733) or start sample offset (inband)
    volume: int | None = None


class Rfc4733Receiver:
    """De-duplicating RFC 4733 receiver; emits each key press exactly once.

    A digit is emitted when its first end packet arrives (duration taken from
    it).  Further end packets and retransmissions with the same
    ``(timestamp, event)`` are ignored.  If the end packets are all lost, the
    digit is emitted when a different event starts, or by :meth:`poll` once
    no update arrived for ``timeout`` seconds.
    """

    def __init__(self, clock_rate: int = 8000, *, timeout: float = 1.0, memory: int = 64) -> None:
        self.clock_rate = clock_rate
        self.timeout = timeout
        self._memory = memory
        self._done: OrderedDict[tuple[int, int], None] = OrderedDict()
        self._active: tuple[int, int] | None = None
        self._active_duration = 0
        self._active_volume = 0
        self._last_update = 0.0

    def _remember(self, key: tuple[int, int]) -> None:
        self._done[key] = None
        while len(self._done) > self._memory:
            self._done.popitem(last=False)

    def _digit(self, key: tuple[int, int], duration: int, volume: int) -> DtmfDigit | None:
        self._remember(key)
        digit = event_to_digit(key[1])
        if digit is None:
            return None
        return DtmfDigit(digit, duration * 1000 / self.clock_rate, "rfc4733", key[0], volume)

    def _finish_active(self) -> list[DtmfDigit]:
        out: list[DtmfDigit] = []
        if self._active is not None:
            d = self._digit(self._active, self._active_duration, self._active_volume)
            if d is not None:
                out.append(d)
            self._active = None
        return out

    def on_packet(self, packet: RtpPacket, now: float = 0.0) -> list[DtmfDigit]:
        """Feed one telephone-event RTP packet (the caller filters by payload type)."""
        try:
            ev = TelephoneEvent.decode(packet.payload)
        except ValueError:
            return []
        key = (packet.timestamp, ev.event)
        if key in self._done:
            return []
        out: list[DtmfDigit] = []
        if self._active is not None and self._active != key:
            out.extend(self._finish_active())
        if self._active is None:
            self._active = key
            self._active_duration = 0
        self._active_duration = max(self._active_duration, ev.duration)
        self._active_volume = ev.volume
        self._last_update = now
        if ev.end:
            out.extend(self._finish_active())
        return out

    def poll(self, now: float) -> list[DtmfDigit]:
        """Emit an event whose end packets never arrived, after ``timeout`` seconds of silence."""
        if self._active is not None and now - self._last_update >= self.timeout:
            return self._finish_active()
        return []


@dataclass(frozen=True, slots=True)
class DtmfSendStep:
    """Send ``event`` (payload) at ``at_ms`` after the event start, with the marker bit if set."""

    at_ms: int
    event: TelephoneEvent
    marker: bool


def rfc4733_send_schedule(
    digit: str,
    duration_ms: int = 160,
    *,
    volume: int = 10,
    clock_rate: int = 8000,
    interval_ms: int = 50,
    ptime_ms: int = 20,
    end_repeats: int = 3,
) -> list[DtmfSendStep]:
    """The packet sequence for one digit (all packets share the event's RTP timestamp).

    * t=0: first packet, marker bit, duration = one ptime;
    * every ``interval_ms``: update, duration = elapsed time + one ptime (the
      frame the packet accompanies), capped at the total;
    * at ``duration_ms``: ``end_repeats`` end packets (E bit) carrying the
      final duration, sent back-to-back at the same time offset (RFC 4733
      2.5.1.4; the engine may space them by one ptime).
    """
    if duration_ms <= 0:
        raise ValueError("duration must be positive")
    event = digit_to_event(digit)
    total = duration_ms * clock_rate // 1000
    if total > 0xFFFF:
        raise ValueError("durations above 8.19 s need event segmentation (not supported)")
    ptime = ptime_ms * clock_rate // 1000
    steps: list[DtmfSendStep] = []
    t = 0
    while t < duration_ms:
        dur = min(t * clock_rate // 1000 + ptime, total)
        steps.append(DtmfSendStep(t, TelephoneEvent(event, False, volume, dur), marker=(t == 0)))
        t += interval_ms
    end = TelephoneEvent(event, True, volume, total)
    steps.extend(DtmfSendStep(duration_ms, end, marker=False) for _ in range(end_repeats))
    return steps


_ALL_FREQS: Final = np.array(DTMF_ROWS + DTMF_COLS, dtype=np.float64)


class InbandDtmfDetector:
    """In-band DTMF detection over 8 kHz int16 PCM.

    Audio is analysed in blocks of ``block_size`` samples (default 102, ~12.75
    ms, as in common telephony detectors).  For each block the power at the
    eight DTMF frequencies is computed (Goertzel; evaluated for all blocks at
    once as a matrix product, which yields the same per-frequency power as the
    Goertzel recurrence).  A block "hits" digit d when:

    * both the strongest row and column tone exceed ``min_tone_power_dbm0``;
    * twist is within limits (row may exceed column by ``normal_twist_db``,
      column may exceed row by ``reverse_twist_db``);
    * the strongest row/column exceeds every other row/column by
      ``relative_peak_db``;
    * the two tones carry at least ``min_tone_ratio`` of the block energy
      (rejects speech and noise, which spread energy over many frequencies).

    A press is accepted after ``min_on_blocks`` consecutive hits of the same
    digit (2 blocks = 25.5 ms) and ends after ``min_off_blocks`` non-hit
    blocks; the digit is emitted once, at the end of the press, with its
    duration.  Feed any number of samples to :meth:`process`.
    """

    def __init__(
        self,
        sample_rate: int = 8000,
        *,
        block_size: int = 102,
        min_on_blocks: int = 2,
        min_off_blocks: int = 2,
        min_tone_power_dbm0: float = -33.0,
        normal_twist_db: float = 8.0,
        reverse_twist_db: float = 4.0,
        relative_peak_db: float = 8.0,
        min_tone_ratio: float = 0.8,
    ) -> None:
        self.sample_rate = sample_rate
        self.block_size = block_size
        self.min_on_blocks = min_on_blocks
        self.min_off_blocks = min_off_blocks
        # mean power of a sine with amplitude A is A^2/2; 3.14 dBm0 = full scale sine
        amp = 32767 * 10 ** ((min_tone_power_dbm0 - 3.14) / 20)
        self._min_power = amp * amp / 2
        self._normal_twist = 10 ** (normal_twist_db / 10)
        self._reverse_twist = 10 ** (reverse_twist_db / 10)
        self._relative_peak = 10 ** (relative_peak_db / 10)
        self._min_ratio = min_tone_ratio
        n = np.arange(block_size, dtype=np.float64)
        phase = 2 * np.pi * np.outer(n, _ALL_FREQS) / sample_rate
        self._cos = np.cos(phase)
        self._sin = np.sin(phase)
        self._pending = np.zeros(0, dtype=np.float64)
        self._samples_seen = 0  # samples consumed into complete blocks
        self._current: int | None = None  # key index 0..15 being tracked
        self._on = 0
        self._off = 0
        self._start = 0

    @property
    def block_ms(self) -> float:
        return self.block_size * 1000 / self.sample_rate

    def tone_powers(self, blocks: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Power at the 8 DTMF frequencies (697..941, 1209..1633 Hz) for each block.

        Equal to the Goertzel output ``s1^2 + s2^2 - 2 cos(w) s1 s2`` scaled by
        ``2 / N^2``, i.e. ``A^2 / 2`` for a sine of amplitude ``A`` at that frequency.
        """
        n = self.block_size
        re = blocks @ self._cos
        im = blocks @ self._sin
        power: npt.NDArray[np.float64] = 2.0 * (re * re + im * im) / (n * n)
        return power

    def classify_blocks(self, blocks: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
        """Per block (rows of ``blocks``): key index 0..15 (row*4+col) or -1."""
        n = self.block_size
        power = self.tone_powers(blocks)
        total = np.einsum("ij,ij->i", blocks, blocks) / n
        rows, cols = power[:, :4], power[:, 4:]
        r = np.argmax(rows, axis=1)
        c = np.argmax(cols, axis=1)
        idx = np.arange(len(blocks))
        pr = rows[idx, r]
        pc = cols[idx, c]
        ok = (pr >= self._min_power) & (pc >= self._min_power)
        ok &= (pc <= pr * self._reverse_twist) & (pr <= pc * self._normal_twist)
        rows_other = rows.copy()
        rows_other[idx, r] = 0.0
        cols_other = cols.copy()
        cols_other[idx, c] = 0.0
        ok &= np.max(rows_other, axis=1) * self._relative_peak <= pr
        ok &= np.max(cols_other, axis=1) * self._relative_peak <= pc
        ok &= (pr + pc) >= self._min_ratio * np.maximum(total, 1e-9)
        out: npt.NDArray[np.int64] = np.where(ok, r * 4 + c, -1).astype(np.int64)
        return out

    def _finish(self) -> DtmfDigit | None:
        digit = None
        if self._current is not None and self._on >= self.min_on_blocks:
            key = self._current
            digit = DtmfDigit(
                DTMF_KEYS[key // 4][key % 4],
                self._on * self.block_ms,
                "inband",
                self._start,
            )
        self._current = None
        self._on = 0
        self._off = 0
        return digit

    def process(self, pcm: npt.NDArray[np.int16]) -> list[DtmfDigit]:
        """Feed PCM; returns digits whose press ended within this input."""
        data = np.concatenate([self._pending, pcm.astype(np.float64)])
        nblocks = len(data) // self.block_size
        self._pending = data[nblocks * self.block_size :]
        if nblocks == 0:
            return []
        hits = self.classify_blocks(data[: nblocks * self.block_size].reshape(nblocks, self.block_size))
        out: list[DtmfDigit] = []
        for i, h in enumerate(hits.tolist()):
            block_start = self._samples_seen + i * self.block_size
            if h >= 0:
                if self._current == h:
                    self._on += 1 + self._off  # bridge a short dropout
                    self._off = 0
                    continue
                if self._current is not None:
                    d = self._finish()
                    if d is not None:
                        out.append(d)
                self._current = h
                self._on = 1
                self._off = 0
                self._start = block_start
            elif self._current is not None:
                self._off += 1
                if self._off >= self.min_off_blocks:
                    d = self._finish()
                    if d is not None:
                        out.append(d)
        self._samples_seen += nblocks * self.block_size
        return out

    def flush(self) -> list[DtmfDigit]:
        """End of stream: emit a press still in progress."""
        d = self._finish()
        return [d] if d is not None else []
