"""WAV reading/resampling and the crash-safe streaming WAV writer used for recordings.

Reading (:func:`read_wav`, :func:`load_wav_8k_mono`): a small RIFF parser
(not :mod:`wave`) so that files written by streaming tools survive -- espeak-ng
on stdout and crashed recorders leave bogus RIFF/data sizes, which are clamped
to the bytes actually present.  Supported encodings: PCM 8/16/24/32-bit,
IEEE float 32/64-bit, G.711 A-law/mu-law, also inside WAVE_FORMAT_EXTENSIBLE.
Any rate / channel count is converted to 8 kHz mono by channel averaging and
a windowed-sinc resampler (numpy only).

Writing (:class:`StreamingWavWriter`): 16-bit PCM, frames are written
(unbuffered) as they come; every ``sync_interval`` seconds (of audio, or of the caller's clock if
``now`` is passed) the RIFF and data sizes in the header are rewritten and
the file is flushed, so a killed process leaves a valid, playable file that
contains everything up to the last sync.  :func:`repair_wav` fixes the
header of such a file to include the tail written after the last sync.
"""

from __future__ import annotations

import math
import os
import struct
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Final, Literal

import numpy as np
import numpy.typing as npt

from hotline.media.g711 import alaw_decode, ulaw_decode

__all__ = [
    "StreamingWavWriter",
    "WavError",
    "WavInfo",
    "load_wav_8k_mono",
    "read_wav",
    "repair_wav",
    "resample",
    "to_mono",
]

_PCM: Final = 1
_FLOAT: Final = 3
_ALAW: Final = 6
_MULAW: Final = 7
_EXTENSIBLE: Final = 0xFFFE
_HEADER_SIZE: Final = 44


class WavError(ValueError):
    """Not a WAV file we can read."""


class WavInfo:
    __slots__ = ("bits_per_sample", "channels", "data_offset", "format_tag", "sample_rate")

    def __init__(self, format_tag: int, channels: int, sample_rate: int, bits: int, data_offset: int) -> None:
        self.format_tag = format_tag
        self.channels = channels
        self.sample_rate = sample_rate
        self.bits_per_sample = bits
        self.data_offset = data_offset


def _parse(buf: bytes) -> tuple[WavInfo, bytes]:
    if len(buf) < 12 or buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
        raise WavError("not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(buf):
        cid = buf[pos : pos + 4]
        (size,) = struct.unpack_from("<I", buf, pos + 4)
        body = pos + 8
        if cid == b"fmt ":
            if size < 16 or body + 16 > len(buf):
                raise WavError("truncated fmt chunk")
            tag, channels, rate, _byte_rate, _align, bits = struct.unpack_from("<HHIIHH", buf, body)
            if tag == _EXTENSIBLE:
                if size < 40 or body + 40 > len(buf):
                    raise WavError("truncated WAVE_FORMAT_EXTENSIBLE fmt chunk")
                (tag,) = struct.unpack_from("<H", buf, body + 24)  # first 2 bytes of SubFormat GUID
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            if fmt is None:
                raise WavError("data chunk before fmt chunk")
            available = len(buf) - body
            if size == 0 or size > available:  # streaming / crashed writer: use what is there
                size = available
            info = WavInfo(fmt[0], fmt[1], fmt[2], fmt[3], body)
            return info, buf[body : body + size]
        pos = body + size + (size & 1)
    raise WavError("no data chunk")


def read_wav(path: str | os.PathLike[str]) -> tuple[npt.NDArray[np.int16], int]:
    """Read a WAV file as int16 samples of shape (frames, channels) and its sample rate."""
    info, data = _parse(Path(path).read_bytes())
    ch = info.channels
    if ch < 1:
        raise WavError("zero channels")
    tag, bits = info.format_tag, info.bits_per_sample
    samples: npt.NDArray[np.int16]
    if tag == _PCM and bits == 16:
        samples = np.frombuffer(data[: len(data) // 2 * 2], dtype="<i2").astype(np.int16)
    elif tag == _PCM and bits == 8:
        samples = ((np.frombuffer(data, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
    elif tag == _PCM and bits == 24:
        raw = np.frombuffer(data[: len(data) // 3 * 3], dtype=np.uint8).reshape(-1, 3)
        samples = (raw[:, 2].astype(np.int8).astype(np.int16) << 8 | raw[:, 1].astype(np.int16)).astype(
            np.int16
        )
    elif tag == _PCM and bits == 32:
        samples = (np.frombuffer(data[: len(data) // 4 * 4], dtype="<i4") >> 16).astype(np.int16)
    elif tag == _FLOAT and bits in (32, 64):
        dt = "<f4" if bits == 32 else "<f8"
        size = bits // 8
        f = np.frombuffer(data[: len(data) // size * size], dtype=dt).astype(np.float64)
        samples = np.clip(np.rint(f * 32768.0), -32768, 32767).astype(np.int16)
    elif tag == _MULAW and bits == 8:
        samples = ulaw_decode(data)
    elif tag == _ALAW and bits == 8:
        samples = alaw_decode(data)
    else:
        raise WavError(f"unsupported WAV encoding (format {tag:#x}, {bits} bits)")
    frames = len(samples) // ch
    return samples[: frames * ch].reshape(frames, ch), info.sample_rate


def to_mono(frames: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
    """Average the channels of a (frames, channels) array."""
    if frames.ndim == 1:
        return frames
    if frames.shape[1] == 1:
        return frames[:, 0].copy()
    out: npt.NDArray[np.int16] = np.rint(frames.astype(np.float64).mean(axis=1)).astype(np.int16)
    return out


def resample(
    x: npt.NDArray[np.int16], src_rate: int, dst_rate: int, *, half_taps: int = 16
) -> npt.NDArray[np.int16]:
    """Band-limited resampling of mono int16 audio (windowed-sinc, Blackman window).

    The cut-off is 90 % of the lower Nyquist frequency, so downsampling (e.g.
    espeak-ng's 22,050 Hz to 8 kHz) is anti-aliased.  Vectorised in chunks.
    """
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError("sample rates must be positive")
    if src_rate == dst_rate or len(x) == 0:
        return x.astype(np.int16)
    ratio = dst_rate / src_rate
    scale = min(1.0, ratio)
    fc = 0.5 * scale * 0.9  # cut-off, cycles per input sample
    half = math.ceil(half_taps / scale)  # kernel half-width, input samples
    n_out = len(x) * dst_rate // src_rate
    xf = np.concatenate([np.zeros(half), x.astype(np.float64), np.zeros(half + 1)])
    k = np.arange(-half + 1, half + 1)
    out = np.empty(n_out, dtype=np.float64)
    chunk = max(1, 1_000_000 // (2 * half))
    for start in range(0, n_out, chunk):
        n = np.arange(start, min(n_out, start + chunk))
        t = n * (src_rate / dst_rate)
        base = np.floor(t).astype(np.int64)
        idx = base[:, None] + k[None, :]
        d = t[:, None] - idx
        w = 0.42 + 0.5 * np.cos(np.pi * d / half) + 0.08 * np.cos(2 * np.pi * d / half)
        h = 2 * fc * np.sinc(2 * fc * d) * w
        h /= h.sum(axis=1, keepdims=True)
        out[start : start + len(n)] = np.einsum("ij,ij->i", xf[idx + half], h)
    result: npt.NDArray[np.int16] = np.clip(np.rint(out), -32768, 32767).astype(np.int16)
    return result


def load_wav_8k_mono(path: str | os.PathLike[str]) -> npt.NDArray[np.int16]:
    """Read any supported WAV and return 8 kHz mono int16 (ready for G.711)."""
    frames, rate = read_wav(path)
    return resample(to_mono(frames), rate, 8000)


def _header(channels: int, rate: int, data_bytes: int) -> bytes:
    align = channels * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        min(0xFFFFFFFF, 36 + data_bytes),
        b"WAVE",
        b"fmt ",
        16,
        _PCM,
        channels,
        rate,
        rate * align,
        align,
        16,
        b"data",
        min(0xFFFFFFFF, data_bytes),
    )


class StreamingWavWriter:
    """Crash-safe 16-bit PCM WAV writer for recordings.

    Layout for call recordings: stereo, caller on the left channel, agent on
    the right (:meth:`write_stereo`).  Frames are appended as they come; the
    header sizes are rewritten and the file flushed every ``sync_interval``
    seconds of audio (or of the caller's clock when ``now`` is given), so a
    killed process leaves a valid file up to the last sync.  ``fsync=True``
    additionally survives an OS crash / power loss, at the cost of one fsync
    per sync.

    Pause/resume (e.g. while a card number is read out):

    * ``pause_mode="silence"`` (default): audio written while paused is
      replaced by digital silence -- the recording keeps the call's timeline;
    * ``pause_mode="skip"``: audio written while paused is dropped -- the
      recording is shorter than the call, paused parts are cut out.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        channels: int = 2,
        sample_rate: int = 8000,
        sync_interval: float = 1.0,
        fsync: bool = False,
        pause_mode: Literal["silence", "skip"] = "silence",
    ) -> None:
        if channels < 1:
            raise ValueError("channels must be >= 1")
        if pause_mode not in ("silence", "skip"):
            raise ValueError("pause_mode must be 'silence' or 'skip'")
        self.path = Path(path)
        self.channels = channels
        self.sample_rate = sample_rate
        self.sync_interval = sync_interval
        self.fsync = fsync
        self.pause_mode = pause_mode
        self.frames_written = 0
        self.paused_frames = 0  # frames silenced or skipped while paused
        self.paused = False
        self.closed = False
        # unbuffered: every write() reaches the OS at once, so a killed process loses nothing
        # (the header may lag by up to ``sync_interval``; :func:`repair_wav` recovers the tail)
        self._fh: BinaryIO = open(self.path, "wb", buffering=0)  # noqa: SIM115 - closed in close()
        self._fh.write(_header(channels, sample_rate, 0))
        self._synced_frames = 0
        self._last_sync_time: float | None = None
        self.sync()

    @property
    def duration(self) -> float:
        return self.frames_written / self.sample_rate

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def write(self, frames: npt.NDArray[np.int16], *, now: float | None = None) -> None:
        """Append frames: shape (n, channels), or (n,) for mono."""
        if self.closed:
            raise ValueError("writer is closed")
        arr = np.asarray(frames)
        if arr.dtype != np.int16:
            raise TypeError("expected int16 samples")
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.ndim != 2 or arr.shape[1] != self.channels:
            raise ValueError(f"expected shape (n, {self.channels}), got {arr.shape}")
        if self.paused:
            self.paused_frames += len(arr)
            if self.pause_mode == "skip":
                self.maybe_sync(now)
                return
            arr = np.zeros_like(arr)
        self._fh.write(arr.astype("<i2").tobytes())
        self.frames_written += len(arr)
        self.maybe_sync(now)

    def write_stereo(
        self, left: npt.NDArray[np.int16], right: npt.NDArray[np.int16], *, now: float | None = None
    ) -> None:
        """Append a stereo block (caller=left, agent=right); the shorter side is zero-padded."""
        if self.channels != 2:
            raise ValueError("write_stereo needs a 2-channel writer")
        n = max(len(left), len(right))
        block = np.zeros((n, 2), dtype=np.int16)
        block[: len(left), 0] = left
        block[: len(right), 1] = right
        self.write(block, now=now)

    def maybe_sync(self, now: float | None = None) -> bool:
        """Sync if an interval of audio (or of ``now``) has passed since the last sync."""
        due = self.frames_written - self._synced_frames >= self.sync_interval * self.sample_rate
        if now is not None:
            if self._last_sync_time is None:
                self._last_sync_time = now
            elif now - self._last_sync_time >= self.sync_interval:
                due = True
        if due:
            self.sync(now)
        return due

    def sync(self, now: float | None = None) -> None:
        """Rewrite the header sizes and flush everything written so far to the OS."""
        data_bytes = self.frames_written * self.channels * 2
        end = self._fh.tell()
        self._fh.seek(0)
        self._fh.write(_header(self.channels, self.sample_rate, data_bytes))
        self._fh.seek(end)
        if self.fsync:
            os.fsync(self._fh.fileno())
        self._synced_frames = self.frames_written
        if now is not None:
            self._last_sync_time = now

    def close(self) -> None:
        if self.closed:
            return
        self.sync()
        self._fh.close()
        self.closed = True

    def __enter__(self) -> StreamingWavWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def repair_wav(path: str | os.PathLike[str]) -> int:
    """Fix the RIFF/data sizes of a canonical 44-byte-header PCM WAV (e.g. after a crash)
    so that all complete frames in the file are included.  Returns the frame count."""
    p = Path(path)
    with open(p, "r+b") as fh:
        head = fh.read(_HEADER_SIZE)
        if len(head) < _HEADER_SIZE or head[:4] != b"RIFF" or head[36:40] != b"data":
            raise WavError("not a canonical PCM WAV header")
        (channels,) = struct.unpack_from("<H", head, 22)
        (bits,) = struct.unpack_from("<H", head, 34)
        align = channels * bits // 8
        if align <= 0:
            raise WavError("invalid block alignment")
        fh.seek(0, os.SEEK_END)
        data_bytes = (fh.tell() - _HEADER_SIZE) // align * align
        fh.truncate(_HEADER_SIZE + data_bytes)
        fh.seek(4)
        fh.write(struct.pack("<I", 36 + data_bytes))
        fh.seek(40)
        fh.write(struct.pack("<I", data_bytes))
    return int(data_bytes // align)
