"""Audio mixing: saturating sums and per-participant mixing matrices.

Every mixing situation (bridge, conference, supervisor listen / whisper /
barge) is a :class:`MixMatrix`: ``gains[listener, speaker]`` says how much of
each speaker's frame goes into each listener's output.  The diagonal is
always zero ("minus own voice": nobody hears their own echo from the
mixer).  One :meth:`MixMatrix.mix` call per 20 ms tick turns the participants'
input frames into each participant's output frame, summing in 32/64-bit and
saturating to int16.

Supervisor modes (``caller``, ``agent``, ``supervisor``):

==========  ================================  ====================  ===============
mode        supervisor hears                  agent hears           caller hears
==========  ================================  ====================  ===============
listen      caller + agent                    caller                agent
whisper     caller + agent                    caller + supervisor   agent
barge       caller + agent                    caller + supervisor   agent + supervisor
==========  ================================  ====================  ===============

("coach" is accepted as an alias of "whisper".)  With more than one caller
(e.g. a supervised three-way call), all non-supervisor parties hear each other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["MixMatrix", "SupervisorMode", "mix", "saturate"]

SupervisorMode = Literal["listen", "whisper", "coach", "barge"]


def saturate(x: npt.NDArray[np.integer] | npt.NDArray[np.floating]) -> npt.NDArray[np.int16]:
    """Clip to the int16 range (rounding floats) and convert."""
    if np.issubdtype(x.dtype, np.floating):
        x = np.rint(x)
    out: npt.NDArray[np.int16] = np.clip(x, -32768, 32767).astype(np.int16)
    return out


def mix(frames: Sequence[npt.NDArray[np.int16]], length: int | None = None) -> npt.NDArray[np.int16]:
    """Sum N int16 streams with saturation.  Shorter frames are zero-padded to
    ``length`` (default: the longest frame)."""
    if not frames:
        return np.zeros(length or 0, dtype=np.int16)
    n = length if length is not None else max(len(f) for f in frames)
    acc = np.zeros(n, dtype=np.int32)
    for f in frames:
        m = min(n, len(f))
        acc[:m] += f[:m]
    return saturate(acc)


class MixMatrix:
    """Immutable listener x speaker gain matrix over named participants."""

    __slots__ = ("_gains", "_index", "_integer", "participants")

    def __init__(self, participants: Sequence[str], gains: npt.ArrayLike | None = None) -> None:
        if len(set(participants)) != len(participants):
            raise ValueError("duplicate participant")
        self.participants: tuple[str, ...] = tuple(participants)
        n = len(self.participants)
        g = np.zeros((n, n)) if gains is None else np.array(gains, dtype=np.float64)
        if g.shape != (n, n):
            raise ValueError(f"gains must be {n}x{n}")
        if np.any(g < 0):
            raise ValueError("gains must be >= 0")
        np.fill_diagonal(g, 0.0)  # minus own voice
        g.setflags(write=False)
        self._gains = g
        self._index = {p: i for i, p in enumerate(self.participants)}
        self._integer = bool(np.all(g == np.rint(g)))

    # -- construction ----------------------------------------------------------
    @classmethod
    def conference(cls, participants: Sequence[str]) -> MixMatrix:
        """Everybody hears everybody else."""
        n = len(participants)
        return cls(participants, np.ones((n, n)))

    @classmethod
    def bridge(cls, a: str, b: str) -> MixMatrix:
        return cls.conference([a, b])

    @classmethod
    def supervised(
        cls,
        parties: Sequence[str],
        agent: str,
        supervisor: str,
        mode: SupervisorMode,
    ) -> MixMatrix:
        """``parties`` are the non-supervisor participants (callers and ``agent``)."""
        if agent not in parties:
            raise ValueError("agent must be one of the parties")
        if supervisor in parties:
            raise ValueError("supervisor must not be one of the parties")
        if mode not in ("listen", "whisper", "coach", "barge"):
            raise ValueError(f"unknown supervisor mode {mode!r}")
        names = [*parties, supervisor]
        m = cls.conference(parties).resized(names)
        s = names.index(supervisor)
        g = m.gains.copy()
        g[s, :] = 1.0  # the supervisor always hears all parties
        if mode in ("whisper", "coach"):
            g[names.index(agent), s] = 1.0
        elif mode == "barge":
            g[:, s] = 1.0
        return cls(names, g)

    def resized(self, participants: Sequence[str]) -> MixMatrix:
        """Same gains for the participants kept; new participants hear and are heard by nobody."""
        g = np.zeros((len(participants), len(participants)))
        for i, li in enumerate(participants):
            for j, sj in enumerate(participants):
                if li in self._index and sj in self._index:
                    g[i, j] = self._gains[self._index[li], self._index[sj]]
        return MixMatrix(participants, g)

    def with_gain(self, listener: str, speaker: str, gain: float) -> MixMatrix:
        g = self._gains.copy()
        g[self._index[listener], self._index[speaker]] = gain
        return MixMatrix(self.participants, g)

    def muted(self, speaker: str) -> MixMatrix:
        """Nobody hears ``speaker`` (e.g. a participant put on mute)."""
        g = self._gains.copy()
        g[:, self._index[speaker]] = 0.0
        return MixMatrix(self.participants, g)

    # -- queries -----------------------------------------------------------------
    @property
    def gains(self) -> npt.NDArray[np.float64]:
        return self._gains

    def hears(self, listener: str, speaker: str) -> bool:
        return bool(self._gains[self._index[listener], self._index[speaker]] > 0)

    def audible_to(self, listener: str) -> frozenset[str]:
        row = self._gains[self._index[listener]]
        return frozenset(p for p, g in zip(self.participants, row, strict=True) if g > 0)

    # -- mixing -----------------------------------------------------------------------
    def mix(
        self, frames: Mapping[str, npt.NDArray[np.int16] | None], samples: int = 160
    ) -> dict[str, npt.NDArray[np.int16]]:
        """Output frame for every participant.  Missing / ``None`` inputs count as silence;
        inputs shorter than ``samples`` are zero-padded."""
        x = np.zeros((len(self.participants), samples), dtype=np.int64 if self._integer else np.float64)
        for name, frame in frames.items():
            if frame is None:
                continue
            i = self._index.get(name)
            if i is None:
                raise KeyError(f"unknown participant {name!r}")
            n = min(samples, len(frame))
            x[i, :n] = frame[:n]
        if self._integer:
            result = saturate(np.asarray(self._gains.astype(np.int64) @ x, dtype=np.int64))
        else:
            result = saturate(np.asarray(self._gains @ x, dtype=np.float64))
        return {p: result[i] for i, p in enumerate(self.participants)}

    def __repr__(self) -> str:
        rows = ", ".join(f"{p}<-{sorted(self.audible_to(p))}" for p in self.participants)
        return f"MixMatrix({rows})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, MixMatrix)
            and self.participants == other.participants
            and bool(np.array_equal(self._gains, other._gains))
        )

    def __hash__(self) -> int:
        return hash((self.participants, self._gains.tobytes()))
