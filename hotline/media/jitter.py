"""Playout (jitter) buffer that re-frames received audio by RTP timestamp.

The engine calls :meth:`JitterBuffer.put` for every received audio packet and
:meth:`JitterBuffer.get` once per 20 ms playout tick.  No clock is read: the
buffer is driven purely by these two calls, which makes it deterministic.

Re-framing (any packet time)
    Packets are decoded when they are put and their samples are placed by RTP
    timestamp into *slots* of ``samples_per_frame`` samples (20 ms), aligned to
    the first packet's timestamp.  A packet of any length (10, 20, 30, 60 ms or
    an odd number of samples) fills one or more slots, possibly partially; a
    slot can be assembled from several packets (e.g. 30 ms packets: every
    second slot takes 10 ms from each of two packets).  Everything below --
    depths, loss, late, overflow -- counts 20 ms slots ("frames"), not packets,
    so the engine and everything downstream keep working in 20 ms frames.
    The timestamp is unwrapped (32-bit wrap-around is seamless); sequence
    numbers are not used for ordering (RTP timestamps give the position in
    the stream; reordering and sequence wrap-around are therefore irrelevant).

Behaviour:

* playout starts once ``target_depth`` frames are buffered (pre-buffering);
* duplicates (packets that add no new sample) and packets entirely older than
  the playout point ("too late") are dropped; a packet that is only partly
  late contributes its samples that are still in the future;
* a slot that is only partly filled is played (missing samples zero) once a
  later slot is buffered, or after two empty ticks; before that it counts as
  an underrun (its remaining samples are probably in the next packet);
* a missing frame while later frames are buffered is *lost*: it is concealed by
  repeating the last good frame with a fade-out, and after
  ``max_conceal_frames`` consecutive losses by silence;
* an empty buffer is an *underrun*: the frame is concealed the same way but
  the playout point does not advance (the stream may just be late, or the
  sender paused); after ``rebuffer_after`` empty ticks the buffer goes back
  to pre-buffering;
* a timestamp gap without a sequence gap (the packet after the last one
  played is buffered, but later than the playout point: the sender paused and
  jumped its timestamp, e.g. silence suppression) is skipped, not concealed,
  so it adds no delay; sequence numbers serve only this check;
* with packets longer than one frame, pre-buffering (and the adaptive shrink)
  keeps at least one packet time plus one frame buffered, so 60 ms packets do not underrun with a 60 ms depth;
* a jump of more than ``resync_threshold`` frames of timestamp, or an SSRC
  change, resynchronises to the new stream;
* more than ``max_depth`` buffered frames: the oldest are dropped (overflow).

Adaptive mode moves ``target_depth`` between ``min_depth`` and ``max_depth``:
+1 after a late packet or an underrun (after a late packet one concealment
frame is inserted without advancing the playout point, which actually adds
20 ms of delay), -1 after ``shrink_after`` ticks without either (then one
frame is dropped to actually reduce the delay).

``PlayoutFrame.sequence`` is the sequence number of the packet that supplied
the frame's first sample; ``PlayoutFrame.timestamp`` is the RTP timestamp of
the frame's first sample (slot start).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from hotline.media.rtp import RtpPacket

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


_PARTIAL_WAIT = 2  # empty ticks before a partly filled last slot is played anyway


class _Slot:
    """One 20 ms playout frame being assembled; ``mask`` is None when the slot is full."""

    __slots__ = ("end_sequence", "filled", "mask", "pcm", "sequence")

    def __init__(
        self, pcm: npt.NDArray[np.int16], sequence: int, mask: npt.NDArray[np.bool_] | None, filled: int
    ) -> None:
        self.pcm = pcm
        self.sequence = sequence  # the packet with the frame's first sample
        self.end_sequence = sequence  # the packet with the frame's last sample
        self.mask = mask
        self.filled = filled


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
        if samples_per_frame < 1:
            raise ValueError("samples_per_frame must be positive")
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
        self._frames: dict[int, _Slot] = {}
        self._ssrc: int | None = None
        self._ts_ref: int | None = None  # extended timestamp of the latest packet (unwrapping)
        self._base: int | None = None  # extended timestamp of slot 0
        self._highest: int | None = None  # highest slot ever filled (since the last reset)
        self._next: int | None = None  # slot to play next
        self._packet_slots = 1  # slots spanned by the latest packet (packet time in frames)
        self._played_seq: int | None = None  # packet with the last sample played
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
        """Forget all buffered audio and the stream position (stats are kept)."""
        self._frames.clear()
        self._ssrc = None
        self._ts_ref = None
        self._base = None
        self._highest = None
        self._next = None
        self._played_seq = None
        self._conceal_run = 0
        self._empty_run = 0
        self._stretch = 0
        self.stats.depth = 0

    def _unwrap_ts(self, ts: int) -> int:
        ref = self._ts_ref
        if ref is None:
            return ts + (1 << 32)  # headroom so that slightly older packets stay positive
        d = (ts - ref) & 0xFFFFFFFF
        if d >= 1 << 31:
            d -= 1 << 32
        return ref + d

    def _want(self) -> int:
        """Frames to keep buffered: the target depth, but with packets longer than one frame
        at least one packet time + one frame."""
        if self._packet_slots <= 1:
            return self.stats.target_depth
        return max(self.stats.target_depth, self._packet_slots + 1)

    def _grow(self, *, stretch: bool = False) -> None:
        if self.adaptive and self.stats.target_depth < self.max_depth:
            self.stats.target_depth += 1
            if stretch:
                self._stretch += 1
        self._quiet_ticks = 0

    def put(self, packet: RtpPacket) -> bool:
        """Offer a received packet; returns True if it added audio to the buffer."""
        if self._ssrc is not None and packet.ssrc != self._ssrc:
            self.reset()
            self.stats.resyncs += 1
        pcm = self._decode(packet.payload)
        n = len(pcm)
        if n == 0:
            return False
        spf = self.samples_per_frame
        ext = self._unwrap_ts(packet.timestamp)
        if self._base is not None:
            position = (ext - self._base) // spf
            ref = self._next if self._next is not None else self._highest
            if ref is not None and abs(position - ref) > self.resync_threshold:
                self.reset()
                self.stats.resyncs += 1
                ext = self._unwrap_ts(packet.timestamp)
        if self._base is None:
            self._base = ext
        start = ext - self._base  # sample position in the stream
        end = start + n
        if self._next is not None:
            playout = self._next * spf
            if end <= playout:
                self.stats.late += 1
                self._grow(stretch=True)
                return False
            if start < playout:  # partly late: keep the part still to be played
                pcm = pcm[playout - start :]
                start = playout
        added = 0
        first = start // spf
        last = (end - 1) // spf
        frames = self._frames
        if first == last and len(pcm) == spf and first not in frames:  # fast path: one aligned frame
            frames[first] = _Slot(pcm, packet.sequence, None, spf)
            added = spf
            first = last + 1
        for s in range(first, last + 1):
            s0 = s * spf
            a = max(start, s0)
            b = min(end, s0 + spf)
            chunk = pcm[a - start : b - start]
            slot = frames.get(s)
            if slot is None:
                if b - a == spf:  # the common case: a whole frame
                    frames[s] = _Slot(chunk, packet.sequence, None, spf)
                    added += spf
                    continue
                slot = _Slot(np.zeros(spf, dtype=np.int16), packet.sequence, np.zeros(spf, dtype=np.bool_), 0)
                frames[s] = slot
            mask = slot.mask
            if mask is None:  # already full
                continue
            free = ~mask[a - s0 : b - s0]
            new = int(np.count_nonzero(free))
            if new == 0:
                continue
            if a == s0:
                slot.sequence = packet.sequence
            if b == s0 + spf:
                slot.end_sequence = packet.sequence
            slot.pcm[a - s0 : b - s0][free] = chunk[free]
            mask[a - s0 : b - s0] |= free
            slot.filled += new
            added += new
            if slot.filled == spf:
                slot.mask = None
        if added == 0:
            self.stats.duplicates += 1
            return False
        self._ssrc = packet.ssrc
        self._ts_ref = ext if self._ts_ref is None else max(self._ts_ref, ext)
        if self._highest is None or last > self._highest:
            self._highest = last
        self._packet_slots = -(-n // spf)
        self.stats.received += 1
        self.stats.depth = len(frames)
        return True

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

    def _underrun(self) -> PlayoutFrame:
        self.stats.underruns += 1
        self._empty_run += 1
        self._grow()
        if self._empty_run >= self.rebuffer_after:
            self._next = None
        return self._conceal()

    def _get(self) -> PlayoutFrame:
        frames = self._frames
        if self._next is None:
            if len(frames) < self._want():
                return PlayoutFrame(self._silence, "silence")
            self._next = min(frames)
            self._empty_run = 0
        if not frames:
            return self._underrun()
        head = frames.get(self._next)
        if head is None and self._played_seq is not None:
            first = min(frames)
            if frames[first].sequence == (self._played_seq + 1) & 0xFFFF:
                # no packet is missing, the timestamp jumped (the sender paused: silence
                # suppression): play on without concealing the gap
                self._next = first
                head = frames[first]
        if (
            head is not None
            and head.mask is not None
            and self._highest == self._next
            and self._empty_run < min(_PARTIAL_WAIT, self.rebuffer_after - 1)
        ):
            return self._underrun()  # the rest of this frame is probably in the next packet
        self._empty_run = 0
        if self._stretch:
            self._stretch -= 1
            self.stats.stretched += 1
            return self._conceal()
        slot = frames.pop(self._next, None)
        index = self._next
        self._next += 1
        if slot is None:
            self.stats.lost += 1
            return self._conceal()
        pcm = slot.pcm
        self._last_pcm = pcm
        self._played_seq = slot.end_sequence
        self._conceal_run = 0
        self.stats.played += 1
        self._trim()
        assert self._base is not None
        return PlayoutFrame(
            pcm, "audio", slot.sequence & 0xFFFF, (self._base + index * self.samples_per_frame) & 0xFFFFFFFF
        )

    def _drop_oldest(self) -> None:
        assert self._next is not None
        oldest = min(self._frames)
        del self._frames[oldest]
        self._next = oldest + 1
        self.stats.overflow_dropped += 1

    def _trim(self) -> None:
        while len(self._frames) > max(self.max_depth, self._packet_slots + 1):
            self._drop_oldest()
        if not self.adaptive:
            return
        self._quiet_ticks += 1
        if self._quiet_ticks >= self.shrink_after:
            self._quiet_ticks = 0
            if self.stats.target_depth > self.min_depth:
                self.stats.target_depth -= 1
            if len(self._frames) > self._want():
                self._drop_oldest()
