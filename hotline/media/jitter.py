"""Playout (jitter) buffer keyed by RTP sequence number.

The engine calls :meth:`JitterBuffer.put` for every received audio packet and
:meth:`JitterBuffer.get` once per 20 ms playout tick.  No clock is read: the
buffer is driven purely by these two calls, which makes it deterministic.

Behaviour:

* sequence numbers are unwrapped to an extended (32-bit-like) counter, so
  wrap-around at 65535 -> 0 is seamless;
* playout starts once ``target_depth`` frames are buffered (pre-buffering);
* duplicates and packets older than the playout point ("too late") are dropped;
* a missing frame while later frames are buffered is *lost*: it is concealed by
  repeating the last good frame with a fade-out, and after
  ``max_conceal_frames`` consecutive losses by silence;
* an empty buffer is an *underrun*: the frame is concealed the same way but
  the playout point does not advance (the stream may just be late, or the
  sender paused); after ``rebuffer_after`` empty ticks the buffer goes back
  to pre-buffering;
* a jump of more than ``resync_threshold`` sequence numbers, or an SSRC
  change, resynchronises to the new stream;
* more than ``max_depth`` buffered frames: the oldest are dropped (overflow).

Adaptive mode moves ``target_depth`` between ``min_depth`` and ``max_depth``:
+1 after a late packet or an underrun (after a late packet one concealment
frame is inserted without advancing the playout point, which actually adds
20 ms of delay), -1 after ``shrink_after`` ticks without either (then one
frame is dropped to actually reduce the delay).

Assumption: every packet carries one frame of ``samples_per_frame`` samples
(20 ms ptime).  Decoded frames of another length are padded or truncated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from hotline.media.rtp import RtpPacket, seq_diff

__all__ = ["JitterBuffer", "JitterStats", "PlayoutFrame"]


@dataclass(slots=True)
class JitterStats:
    received: int = 0  # packets accepted into the buffer
    played: int = 0  # frames played from real packets
    lost: int = 0  # frames concealed because their packet never arrived in time
    underruns: int = 0  # ticks with an empty buffer while playing
    late: int = 0  # packets dropped because their playout time had passed
    duplicates: int = 0
    overflow_dropped: int = 0  # frames dropped to bound (or shrink) the delay
    resyncs: int = 0  # SSRC change or large sequence jump
    stretched: int = 0  # concealment frames inserted to grow the delay (adaptive mode)
    target_depth: int = 0
    depth: int = 0  # frames currently buffered


@dataclass(frozen=True, slots=True)
class PlayoutFrame:
    pcm: npt.NDArray[np.int16]
    kind: Literal["audio", "concealed", "silence"]
    sequence: int | None = None  # 16-bit sequence number of the played packet
    timestamp: int | None = None


class JitterBuffer:
    def __init__(
        self,
        decode: Callable[[bytes], npt.NDArray[np.int16]],
        *,
        samples_per_frame: int = 160,
        depth: int = 3,
        min_depth: int = 1,
        max_depth: int = 12,
        adaptive: bool = False,
        max_conceal_frames: int = 3,
        rebuffer_after: int = 10,
        shrink_after: int = 250,
        resync_threshold: int = 500,
    ) -> None:
        if not 1 <= min_depth <= depth <= max_depth:
            raise ValueError("need 1 <= min_depth <= depth <= max_depth")
        self._decode = decode
        self.samples_per_frame = samples_per_frame
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.adaptive = adaptive
        self.max_conceal_frames = max_conceal_frames
        self.rebuffer_after = rebuffer_after
        self.shrink_after = shrink_after
        self.resync_threshold = resync_threshold
        self.stats = JitterStats(target_depth=depth)
        self._frames: dict[int, RtpPacket] = {}
        self._ssrc: int | None = None
        self._highest: int | None = None  # highest extended sequence seen
        self._next: int | None = None  # extended sequence of next frame to play
        self._last_pcm: npt.NDArray[np.int16] | None = None
        self._conceal_run = 0
        self._empty_run = 0
        self._quiet_ticks = 0
        self._stretch = 0
        self._silence = np.zeros(samples_per_frame, dtype=np.int16)

    @property
    def target_depth(self) -> int:
        return self.stats.target_depth

    def __len__(self) -> int:
        return len(self._frames)

    def reset(self) -> None:
        """Forget all buffered packets and the stream position (stats are kept)."""
        self._frames.clear()
        self._ssrc = None
        self._highest = None
        self._next = None
        self._conceal_run = 0
        self._empty_run = 0
        self._stretch = 0
        self.stats.depth = 0

    def _unwrap(self, seq: int) -> int:
        if self._highest is None:
            return seq + (1 << 16)  # headroom so that slightly older packets stay positive
        return self._highest + seq_diff(seq, self._highest & 0xFFFF)

    def _grow(self, *, stretch: bool = False) -> None:
        if self.adaptive and self.stats.target_depth < self.max_depth:
            self.stats.target_depth += 1
            if stretch:
                self._stretch += 1
        self._quiet_ticks = 0

    def put(self, packet: RtpPacket) -> bool:
        """Offer a received packet; returns True if it was buffered."""
        if self._ssrc is not None and packet.ssrc != self._ssrc:
            self.reset()
            self.stats.resyncs += 1
        ext = self._unwrap(packet.sequence)
        ref = self._next if self._next is not None else self._highest
        if ref is not None and abs(ext - ref) > self.resync_threshold:
            self.reset()
            self.stats.resyncs += 1
            ext = self._unwrap(packet.sequence)
        if self._next is not None and ext < self._next:
            self.stats.late += 1
            self._grow(stretch=True)
            return False
        if ext in self._frames:
            self.stats.duplicates += 1
            return False
        self._ssrc = packet.ssrc
        self._frames[ext] = packet
        if self._highest is None or ext > self._highest:
            self._highest = ext
        self.stats.received += 1
        self.stats.depth = len(self._frames)
        return True

    def _fit(self, pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        n = self.samples_per_frame
        if len(pcm) == n:
            return pcm
        if len(pcm) > n:
            return pcm[:n]
        return np.concatenate([pcm, np.zeros(n - len(pcm), dtype=np.int16)])

    def _conceal(self) -> PlayoutFrame:
        self._conceal_run += 1
        if self._last_pcm is None or self._conceal_run > self.max_conceal_frames:
            return PlayoutFrame(self._silence, "concealed")
        steps = self.max_conceal_frames + 1
        start = 1.0 - (self._conceal_run - 1) / steps
        end = 1.0 - self._conceal_run / steps
        ramp = np.linspace(start, end, self.samples_per_frame, endpoint=False)
        pcm = np.rint(self._last_pcm.astype(np.float64) * ramp).astype(np.int16)
        return PlayoutFrame(pcm, "concealed")

    def get(self) -> PlayoutFrame:
        """The frame to play for this 20 ms tick."""
        frame = self._get()
        self.stats.depth = len(self._frames)
        return frame

    def _get(self) -> PlayoutFrame:
        if self._next is None:
            if len(self._frames) < self.stats.target_depth:
                return PlayoutFrame(self._silence, "silence")
            self._next = min(self._frames)
            self._empty_run = 0
        if not self._frames:
            self.stats.underruns += 1
            self._empty_run += 1
            self._grow()
            if self._empty_run >= self.rebuffer_after:
                self._next = None
            return self._conceal()
        self._empty_run = 0
        if self._stretch:
            self._stretch -= 1
            self.stats.stretched += 1
            return self._conceal()
        packet = self._frames.pop(self._next, None)
        seq = self._next
        self._next += 1
        if packet is None:
            self.stats.lost += 1
            return self._conceal()
        pcm = self._fit(self._decode(packet.payload))
        self._last_pcm = pcm
        self._conceal_run = 0
        self.stats.played += 1
        self._trim()
        return PlayoutFrame(pcm, "audio", seq & 0xFFFF, packet.timestamp)

    def _drop_oldest(self) -> None:
        assert self._next is not None
        oldest = min(self._frames)
        del self._frames[oldest]
        self._next = oldest + 1
        self.stats.overflow_dropped += 1

    def _trim(self) -> None:
        while len(self._frames) > self.max_depth:
            self._drop_oldest()
        if not self.adaptive:
            return
        self._quiet_ticks += 1
        if self._quiet_ticks >= self.shrink_after:
            self._quiet_ticks = 0
            if self.stats.target_depth > self.min_depth:
                self.stats.target_depth -= 1
            if len(self._frames) > self.stats.target_depth:
                self._drop_oldest()
