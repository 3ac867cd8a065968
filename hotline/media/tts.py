"""Text-to-speech prompts rendered with espeak-ng, once, into a file cache.

:class:`TtsRenderer` turns text into an 8 kHz mono 16-bit WAV file that the media
engine plays with ``PlayFile`` (e.g. ``await engine.play(ep, PlayFile(await
tts.render("您好")))``).

* Rendering runs Debian's ``espeak-ng`` (package ``espeak-ng``) as a subprocess with
  :func:`asyncio.create_subprocess_exec` -- no shell; the text goes through stdin
  (``--stdin``), so text starting with ``-`` is never taken for an option -- with
  a timeout (the process is killed).  espeak-ng writes 22,050 Hz; the result is
  resampled to 8 kHz (:func:`hotline.media.wav.load_wav_8k_mono`).
* Every prompt is rendered once and cached by (text, voice, speed) as
  ``<cache_dir>/<sha256>.wav``; the file is written to a temporary name and
  renamed into place (atomic: a reader never sees a half-written prompt; a crash
  leaves at most a hidden ``.*.tmp`` file, which is never read and may be deleted).
  Concurrent requests for the same prompt wait on one ``asyncio.Lock`` per key
  and render it once; at most ``max_concurrent`` espeak-ng processes run at a time.
* Errors are :class:`TtsError` (a :class:`~hotline.media.engine.MediaEngineError`):
  espeak-ng missing, unknown voice, non-zero exit, timeout, no audio, empty or too
  long text (``max_chars``), invalid voice name or speed.

Voices: ``cmn`` (Mandarin, the default), ``yue`` (Cantonese), ``en`` (English) -- any
espeak-ng voice name is accepted (``espeak-ng --voices``).  Speed is espeak-ng's
words per minute (80..450; default 150, a little slower than espeak-ng's 175,
for the telephone).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shutil
import signal
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hotline.media.engine import MediaEngineError
from hotline.media.wav import WavError, load_wav_8k_mono

__all__ = ["TtsError", "TtsRenderer", "TtsStats"]

_VOICE = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]{0,63}(/[A-Za-z0-9_+-]{1,64})?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_KEY_VERSION = 1  # bump when the rendering pipeline changes (new cache keys)


class TtsError(MediaEngineError):
    """A prompt could not be rendered."""


@dataclass(slots=True)
class TtsStats:
    renders: int = 0  # espeak-ng runs that produced a cached prompt
    cache_hits: int = 0
    failures: int = 0


class TtsRenderer:
    """Renders text prompts with espeak-ng into ``cache_dir`` (created on first use)."""

    def __init__(
        self,
        cache_dir: str | os.PathLike[str],
        *,
        binary: str = "espeak-ng",
        default_voice: str = "cmn",
        speed: int = 150,
        timeout_s: float = 30.0,
        max_chars: int = 2000,
        max_concurrent: int = 4,
    ) -> None:
        self.cache_dir = Path(cache_dir)
        self.binary = binary
        self.default_voice = self._check_voice(default_voice)
        self.speed = self._check_speed(speed)
        if timeout_s <= 0 or max_chars <= 0 or max_concurrent <= 0:
            raise ValueError("timeout_s, max_chars and max_concurrent must be positive")
        self.timeout_s = timeout_s
        self.max_chars = max_chars
        self.stats = TtsStats()
        self._locks: dict[str, asyncio.Lock] = {}
        self._slots = asyncio.Semaphore(max_concurrent)

    # -- validation ------------------------------------------------------------------------
    @staticmethod
    def _check_voice(voice: str) -> str:
        if not _VOICE.match(voice):
            raise TtsError(f"invalid voice name {voice!r}")
        return voice

    @staticmethod
    def _check_speed(speed: int) -> int:
        if not 80 <= speed <= 450:
            raise TtsError(f"speed {speed} out of range 80..450 words per minute")
        return speed

    def normalize(self, text: str) -> str:
        """The text as rendered: control characters become spaces, outer whitespace is stripped."""
        clean = _CONTROL.sub(" ", text).strip()
        if not clean:
            raise TtsError("empty text")
        if len(clean) > self.max_chars:
            raise TtsError(f"text too long: {len(clean)} characters (limit {self.max_chars})")
        return clean

    # -- API -------------------------------------------------------------------------------
    def available(self) -> bool:
        """Whether the espeak-ng binary can be found (on PATH, or the given path)."""
        return shutil.which(self.binary) is not None

    def cache_path(self, text: str, voice: str | None = None, speed: int | None = None) -> Path:
        """Where the prompt for (text, voice, speed) is (or will be) cached."""
        clean = self.normalize(text)
        v = self._check_voice(voice or self.default_voice)
        s = self._check_speed(speed if speed is not None else self.speed)
        key = json.dumps([_KEY_VERSION, clean, v, s], ensure_ascii=False)
        return self.cache_dir / f"{hashlib.sha256(key.encode()).hexdigest()}.wav"

    async def render(self, text: str, voice: str | None = None, *, speed: int | None = None) -> Path:
        """The path of an 8 kHz mono 16-bit WAV speaking ``text`` (rendered once, then cached)."""
        path = self.cache_path(text, voice, speed)
        if await asyncio.to_thread(path.is_file):
            self.stats.cache_hits += 1
            return path
        key = path.stem
        lock = self._locks.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                if await asyncio.to_thread(path.is_file):  # rendered while we waited
                    self.stats.cache_hits += 1
                    return path
                try:
                    await self._render(
                        self.normalize(text),
                        voice or self.default_voice,
                        speed if speed is not None else self.speed,
                        path,
                    )
                except TtsError:
                    self.stats.failures += 1
                    raise
                self.stats.renders += 1
                return path
        finally:
            if not lock.locked() and self._locks.get(key) is lock:
                del self._locks[key]

    # -- rendering -------------------------------------------------------------------------
    async def _render(self, text: str, voice: str, speed: int, path: Path) -> None:
        await asyncio.to_thread(self.cache_dir.mkdir, parents=True, exist_ok=True)
        tag = f"{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        raw = self.cache_dir / f".{tag}.espeak.tmp"
        tmp = self.cache_dir / f".{tag}.wav.tmp"
        try:
            await self._espeak(text, voice, speed, raw)
            await asyncio.to_thread(_convert, raw, tmp, path)
        finally:
            for p in (raw, tmp):
                with contextlib.suppress(OSError):
                    p.unlink()

    async def _espeak(self, text: str, voice: str, speed: int, out: Path) -> None:
        argv = [self.binary, "-v", voice, "-s", str(speed), "-w", str(out), "--stdin"]
        async with self._slots:
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                    start_new_session=True,  # own process group: a kill reaches any children
                )
            except FileNotFoundError as exc:
                raise TtsError(f"{self.binary} not found (install the espeak-ng package)") from exc
            except OSError as exc:
                raise TtsError(f"cannot run {self.binary}: {exc}") from exc
            try:
                _, err = await asyncio.wait_for(proc.communicate(text.encode("utf-8")), self.timeout_s)
            except TimeoutError:
                await _kill(proc)
                raise TtsError(f"{self.binary} timed out after {self.timeout_s} s") from None
            except BaseException:  # cancelled: do not leave the process behind
                await _kill(proc)
                raise
        if proc.returncode != 0:
            detail = err.decode("utf-8", "replace").strip()[-300:]
            raise TtsError(f"{self.binary} -v {voice} failed (exit {proc.returncode}): {detail}")


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # the process group started for it
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    await proc.wait()


def _convert(raw: Path, tmp: Path, final: Path) -> None:
    """espeak-ng's WAV -> 8 kHz mono 16-bit WAV at ``final`` (temp file + fsync + rename)."""
    try:
        pcm = load_wav_8k_mono(raw)
    except (OSError, WavError) as exc:
        raise TtsError(f"espeak-ng wrote no usable WAV: {exc}") from exc
    if len(pcm) == 0 or not np.any(pcm):
        raise TtsError("espeak-ng produced no audio for this text")
    _write_wav_8k(tmp, pcm)
    os.replace(tmp, final)


def _write_wav_8k(path: Path, pcm: npt.NDArray[np.int16]) -> None:
    with open(path, "wb") as f:
        with wave.open(f, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(pcm.astype("<i2").tobytes())
        f.flush()
        os.fsync(f.fileno())
