"""Tone generation (beep, ringback, busy, DTMF) and a simple echo-path helper.

All generators produce int16 PCM at 8 kHz by default.  :class:`ToneGenerator`
keeps phase and cadence position across calls, so it can be read 160 samples
(20 ms) at a time without clicks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "BEEP",
    "BUSY_EU",
    "BUSY_US",
    "DTMF_FREQUENCIES",
    "RINGBACK_EU",
    "RINGBACK_US",
    "EchoPath",
    "ToneGenerator",
    "ToneSegment",
    "dbm0_to_amplitude",
    "dtmf_tone",
    "tone",
]

DTMF_ROWS: Final = (697.0, 770.0, 852.0, 941.0)
DTMF_COLS: Final = (1209.0, 1336.0, 1477.0, 1633.0)
DTMF_KEYS: Final = ("123A", "456B", "789C", "*0#D")
DTMF_FREQUENCIES: Final[dict[str, tuple[float, float]]] = {
    key: (DTMF_ROWS[r], DTMF_COLS[c]) for r, row in enumerate(DTMF_KEYS) for c, key in enumerate(row)
}


def dbm0_to_amplitude(dbm0: float) -> float:
    """Peak amplitude (16-bit scale) of a sine at ``dbm0`` (G.711: 3.14 dBm0 = full scale)."""
    return float(32767 * 10 ** ((dbm0 - 3.14) / 20))


def _saturate(x: npt.NDArray[np.float64]) -> npt.NDArray[np.int16]:
    out: npt.NDArray[np.int16] = np.clip(np.rint(x), -32768, 32767).astype(np.int16)
    return out


def tone(
    freqs: Sequence[float],
    duration_ms: float,
    *,
    amplitude: float = 8000.0,
    sample_rate: int = 8000,
    start_sample: int = 0,
) -> npt.NDArray[np.int16]:
    """Sum of sines (each with peak ``amplitude``); empty ``freqs`` gives silence."""
    n = round(duration_ms * sample_rate / 1000)
    t = (np.arange(n, dtype=np.float64) + start_sample) / sample_rate
    acc = np.zeros(n, dtype=np.float64)
    for f in freqs:
        acc += amplitude * np.sin(2 * np.pi * f * t)
    return _saturate(acc)


def dtmf_tone(
    digit: str, duration_ms: float, *, amplitude: float = 7000.0, sample_rate: int = 8000
) -> npt.NDArray[np.int16]:
    """A DTMF tone pair for ``digit`` (0-9, *, #, A-D)."""
    try:
        freqs = DTMF_FREQUENCIES[digit.upper()]
    except KeyError:
        raise ValueError(f"not a DTMF digit: {digit!r}") from None
    return tone(freqs, duration_ms, amplitude=amplitude, sample_rate=sample_rate)


@dataclass(frozen=True, slots=True)
class ToneSegment:
    freqs: tuple[float, ...]
    duration_ms: float


BEEP: Final = (ToneSegment((1000.0,), 250),)
RINGBACK_US: Final = (ToneSegment((440.0, 480.0), 2000), ToneSegment((), 4000))
RINGBACK_EU: Final = (ToneSegment((425.0,), 1000), ToneSegment((), 4000))
BUSY_US: Final = (ToneSegment((480.0, 620.0), 500), ToneSegment((), 500))
BUSY_EU: Final = (ToneSegment((425.0,), 500), ToneSegment((), 500))


_CYCLES: dict[tuple[object, ...], npt.NDArray[np.int16]] = {}


class ToneGenerator:
    """Plays a cadence of :class:`ToneSegment` (optionally looping), frame by frame."""

    def __init__(
        self,
        pattern: Sequence[ToneSegment],
        *,
        loop: bool = True,
        amplitude: float = 6000.0,
        sample_rate: int = 8000,
    ) -> None:
        if not pattern:
            raise ValueError("empty tone pattern")
        self.loop = loop
        self.amplitude = amplitude
        self.sample_rate = sample_rate
        self._segments = [(seg.freqs, round(seg.duration_ms * sample_rate / 1000)) for seg in pattern]
        if sum(n for _, n in self._segments) == 0:
            raise ValueError("tone pattern has zero length")
        self._index = 0
        self._offset = 0  # sample offset within the current segment
        self._clock = 0  # samples since start (keeps sine phase continuous across segments)
        self.finished = False
        # A looping cadence that ends in silence (music on hold, ringback, busy) is the same
        # samples every cycle: render one cycle once per process and play it from memory.
        self._cycle: npt.NDArray[np.int16] | None = None
        self._pos = 0
        total = sum(n for _, n in self._segments)
        if loop and not self._segments[-1][0] and total <= 30 * sample_rate:
            key = (tuple(self._segments), amplitude, sample_rate)
            cycle = _CYCLES.get(key)
            if cycle is None:
                render = ToneGenerator(pattern, loop=False, amplitude=amplitude, sample_rate=sample_rate)
                cycle = render.read(total)
                cycle.setflags(write=False)
                if len(_CYCLES) < 64:
                    _CYCLES[key] = cycle
            self._cycle = cycle

    def _read_cycle(self, n: int) -> npt.NDArray[np.int16]:
        assert self._cycle is not None
        cycle, pos = self._cycle, self._pos
        if pos + n <= len(cycle):
            self._pos = (pos + n) % len(cycle)
            return cycle[pos : pos + n].copy()
        idx = (np.arange(n) + pos) % len(cycle)
        self._pos = (pos + n) % len(cycle)
        return cycle[idx]

    def read(self, n: int = 160) -> npt.NDArray[np.int16]:
        """Next ``n`` samples; after a non-looping pattern ends, returns silence."""
        if self._cycle is not None:
            return self._read_cycle(n)
        out = np.zeros(n, dtype=np.float64)
        pos = 0
        while pos < n and not self.finished:
            freqs, length = self._segments[self._index]
            take = min(n - pos, length - self._offset)
            if take > 0:
                t = (np.arange(take, dtype=np.float64) + self._clock) / self.sample_rate
                for f in freqs:
                    out[pos : pos + take] += self.amplitude * np.sin(2 * np.pi * f * t)
                pos += take
                self._offset += take
                self._clock += take
            if self._offset >= length:
                self._offset = 0
                self._index += 1
                if self._index >= len(self._segments):
                    if self.loop:
                        self._index = 0
                    else:
                        self.finished = True
        return _saturate(out)


class EchoPath:
    """A linear echo path: ``gain * x[n - delay]`` (e.g. to simulate line echo in tests).

    Stateful across frames.  ``gain`` is linear (``10 ** (-erl_db / 20)``).
    """

    def __init__(self, delay_samples: int, gain: float) -> None:
        if delay_samples < 0:
            raise ValueError("delay must be >= 0")
        self.delay = delay_samples
        self.gain = gain
        self._history = np.zeros(delay_samples, dtype=np.float64)

    @classmethod
    def from_ms(cls, delay_ms: float, erl_db: float, sample_rate: int = 8000) -> EchoPath:
        return cls(round(delay_ms * sample_rate / 1000), 10 ** (-erl_db / 20))

    def process(self, frame: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """Echo produced by ``frame`` (delayed and attenuated), same length as ``frame``."""
        x = np.concatenate([self._history, frame.astype(np.float64)])
        out = x[: len(frame)] * self.gain
        self._history = x[len(frame) :]
        return _saturate(out)

    def apply(self, near: npt.NDArray[np.int16], far: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        """``near`` plus the echo of ``far`` (what a microphone hears with line echo)."""
        echo = self.process(far)
        return _saturate(near.astype(np.float64) + echo)
