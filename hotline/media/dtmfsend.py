"""Tick-driven RFC 4733 transmitter shared by the built-in engine and the soft phone.

The media clock calls :meth:`Rfc4733Transmitter.tick` once per packet time
(20 ms).  While a digit is being sent the transmitter emits the event packets
from :func:`~hotline.media.dtmf.rfc4733_send_schedule` (start packet with the
marker bit, updates every 40 ms -- the ptime multiple nearest the usual 50 ms --,
three end packets spaced one ptime apart), all with the
RTP timestamp of the event start, and advances the sender's audio clock by one
frame per tick (:meth:`RtpSender.skip`): audio is *suppressed* for the
duration of the event and its end packets (RFC 4733 section 2.5.1.2 lets the
sender stop audio during an event; this is what most gateways do, and it keeps
in-band copies of the digit from being detected twice).  Between digits
(``pause_ms``) and after the last one :meth:`tick` returns ``None`` and the
caller sends audio as usual; the sender marks the first audio packet after an
event as a new talkspurt.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from hotline.media.dtmf import DtmfSendStep, rfc4733_send_schedule
from hotline.media.rtp import RtpPacket
from hotline.media.sender import RtpSender

__all__ = ["Rfc4733Transmitter"]


@dataclass(slots=True)
class _Job:
    digits: str
    duration_ms: int
    pause_ms: int
    on_done: Callable[[], None] | None
    index: int = 0


@dataclass(slots=True)
class _Digit:
    steps: dict[int, list[DtmfSendStep]]  # tick offset -> packets
    last_tick: int
    pause_ticks: int
    timestamp: int | None = None
    tick: int = 0
    done: Callable[[], None] | None = field(default=None)


class Rfc4733Transmitter:
    """Queue of digits to send as RFC 4733 events on one RTP stream."""

    def __init__(self, payload_type: int, *, ptime_ms: int = 20, clock_rate: int = 8000) -> None:
        self.payload_type = payload_type
        self.ptime_ms = ptime_ms
        self.clock_rate = clock_rate
        # updates about every 50 ms (RFC 4733 2.5.1.2), on packet-time boundaries so that each
        # packet's duration field matches the media clock when it is sent (40 ms at ptime 20)
        self.interval_ms = ptime_ms * max(1, round(50 / ptime_ms))
        self._jobs: deque[_Job] = deque()
        self._digit: _Digit | None = None
        self._pause = 0
        self.events_sent = 0

    @property
    def busy(self) -> bool:
        return bool(self._jobs) or self._digit is not None or self._pause > 0

    def enqueue(
        self,
        digits: str,
        *,
        duration_ms: int = 160,
        pause_ms: int = 80,
        on_done: Callable[[], None] | None = None,
    ) -> None:
        """Queue ``digits``; ``on_done`` is called after the last end packet of the last digit."""
        for d in digits:
            rfc4733_send_schedule(d, duration_ms)  # validate early
        self._jobs.append(_Job(digits, duration_ms, pause_ms, on_done))

    def cancel(self) -> None:
        """Drop queued digits (the digit in progress is finished)."""
        jobs = list(self._jobs)
        self._jobs.clear()
        for job in jobs:
            if job.on_done is not None:
                job.on_done()

    def _next_digit(self) -> _Digit | None:
        while self._jobs:
            job = self._jobs[0]
            if job.index >= len(job.digits):
                self._jobs.popleft()
                continue
            digit = job.digits[job.index]
            job.index += 1
            last = job.index >= len(job.digits)
            if last:
                self._jobs.popleft()
            schedule = rfc4733_send_schedule(
                digit,
                job.duration_ms,
                clock_rate=self.clock_rate,
                ptime_ms=self.ptime_ms,
                interval_ms=self.interval_ms,
            )
            steps: dict[int, list[DtmfSendStep]] = {}
            end_tick = math.ceil(job.duration_ms / self.ptime_ms)
            n_end = 0
            for step in schedule:
                if step.event.end:
                    t = end_tick + n_end  # space the end packets by one ptime
                    n_end += 1
                else:
                    t = min(step.at_ms // self.ptime_ms, end_tick - 1)
                steps.setdefault(t, []).append(step)
            return _Digit(
                steps,
                max(steps),
                math.ceil(job.pause_ms / self.ptime_ms),
                done=job.on_done if last else None,
            )
        return None

    def tick(self, sender: RtpSender) -> list[RtpPacket] | None:
        """Packets to send in this tick, or ``None`` if no event is in progress (send audio)."""
        if self._digit is None:
            if self._pause > 0:
                self._pause -= 1
                return None
            self._digit = self._next_digit()
            if self._digit is None:
                return None
        d = self._digit
        if d.timestamp is None:
            d.timestamp = sender.next_timestamp
        out = [
            sender.event_packet(self.payload_type, s.event.encode(), timestamp=d.timestamp, marker=s.marker)
            for s in d.steps.get(d.tick, ())
        ]
        sender.skip(1)
        d.tick += 1
        if d.tick > d.last_tick:
            self._digit = None
            self._pause = d.pause_ticks
            self.events_sent += 1
            if d.done is not None:
                d.done()
        return out
