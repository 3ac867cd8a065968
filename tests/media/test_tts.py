"""TTS prompts with the real espeak-ng: rendering, cache, concurrency, errors, playback.

Skipped (loudly) when espeak-ng is not installed, unless ``CI`` is set: then they fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import wave
from pathlib import Path

import numpy as np
import pytest

from hotline.media.builtin import BuiltinConfig, BuiltinMediaEngine
from hotline.media.engine import MediaEngineError, MediaEvent, PlaybackFinished, PlayFile
from hotline.media.softphone import SoftPhone, rms
from hotline.media.tts import TtsError, TtsRenderer
from hotline.media.wav import read_wav

ESPEAK = shutil.which("espeak-ng")


@pytest.fixture
def espeak() -> str:
    """The espeak-ng binary; tests that need it take this fixture."""
    if ESPEAK is not None:
        return ESPEAK
    msg = "espeak-ng is not installed (apt-get install espeak-ng): TTS tests NOT RUN"
    if os.environ.get("CI"):
        pytest.fail(msg + " -- CI is set, espeak-ng is required")
    pytest.skip(msg)


def counting_wrapper(tmp_path: Path, *, sleep_s: float = 0.0) -> tuple[str, Path]:
    """A real executable that counts its runs in a file, then runs espeak-ng."""
    counter = tmp_path / "runs"
    script = tmp_path / "espeak-wrapper"
    script.write_text(
        f'#!/bin/sh\necho run >> "{counter}"\n'
        + (f"sleep {sleep_s}\n" if sleep_s else "")
        + f'exec "{ESPEAK}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), counter


def runs(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def check_prompt(path: Path, min_s: float) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    frames, rate = read_wav(path)
    pcm = frames[:, 0]
    assert rate == 8000
    assert len(pcm) / 8000 >= min_s
    assert rms(pcm) > 500  # real speech, not silence
    return pcm


@pytest.mark.parametrize(
    ("text", "voice", "min_s"),
    [
        ("您好，欢迎致电客户服务中心", "cmn", 1.5),
        ("Welcome to the service center", "en", 1.0),
        ("你好", "yue", 0.4),
    ],
)
async def test_render_voices(espeak: str, tmp_path: Path, text: str, voice: str, min_s: float) -> None:
    tts = TtsRenderer(tmp_path / "tts")
    assert tts.available()
    path = await tts.render(text, voice)
    assert path.parent == tmp_path / "tts" and path.suffix == ".wav" and len(path.stem) == 64
    check_prompt(path, min_s)


async def test_cache_hit_does_not_run_espeak_again(espeak: str, tmp_path: Path) -> None:
    binary, counter = counting_wrapper(tmp_path)
    tts = TtsRenderer(tmp_path / "tts", binary=binary)
    first = await tts.render("请稍候")
    mtime = first.stat().st_mtime_ns
    second = await tts.render("  请稍候\n")  # same prompt after normalisation
    assert second == first and second.stat().st_mtime_ns == mtime
    assert runs(counter) == 1 and tts.stats.renders == 1 and tts.stats.cache_hits == 1
    # another renderer on the same directory (e.g. after a restart) uses the cache too
    again = TtsRenderer(tmp_path / "tts", binary=binary)
    assert await again.render("请稍候") == first and runs(counter) == 1
    # voice and speed are part of the key
    assert await tts.render("请稍候", "yue") != first
    assert await tts.render("请稍候", speed=200) != first
    assert runs(counter) == 3


async def test_concurrent_requests_render_once(espeak: str, tmp_path: Path) -> None:
    binary, counter = counting_wrapper(tmp_path, sleep_s=0.2)
    tts = TtsRenderer(tmp_path / "tts", binary=binary)
    paths = await asyncio.gather(*(tts.render("您的来电对我们很重要") for _ in range(10)))
    assert len(set(paths)) == 1
    assert runs(counter) == 1 and tts.stats.renders == 1 and tts.stats.cache_hits == 9
    assert [p.name for p in (tmp_path / "tts").iterdir()] == [paths[0].name]  # no temp files left
    check_prompt(paths[0], 1.0)


async def test_missing_binary(tmp_path: Path) -> None:
    tts = TtsRenderer(tmp_path / "tts", binary=str(tmp_path / "no-such-espeak"))
    assert not tts.available()
    with pytest.raises(TtsError, match="not found"):
        await tts.render("您好")
    assert isinstance(TtsError("x"), MediaEngineError)
    assert tts.stats.failures == 1


async def test_unknown_voice_fails_cleanly(espeak: str, tmp_path: Path) -> None:
    tts = TtsRenderer(tmp_path / "tts")
    with pytest.raises(TtsError, match="failed"):
        await tts.render("hello", "xx-nosuchvoice")
    assert not any((tmp_path / "tts").iterdir())


async def test_timeout_kills_espeak(espeak: str, tmp_path: Path) -> None:
    binary, _ = counting_wrapper(tmp_path, sleep_s=5)
    tts = TtsRenderer(tmp_path / "tts", binary=binary, timeout_s=0.3)
    loop = asyncio.get_running_loop()
    t = loop.time()
    with pytest.raises(TtsError, match="timed out"):
        await tts.render("您好")
    assert loop.time() - t < 2.0


def test_input_limits(tmp_path: Path) -> None:
    tts = TtsRenderer(tmp_path / "tts", max_chars=10)
    for bad in ("", "   \n\t", "x" * 11):
        with pytest.raises(TtsError):
            tts.cache_path(bad)
    with pytest.raises(TtsError):
        tts.cache_path("ok", "-v en")  # never passed to espeak-ng as an option
    with pytest.raises(TtsError):
        tts.cache_path("ok", speed=20)
    with pytest.raises(TtsError):
        TtsRenderer(tmp_path, default_voice="--help")


async def test_text_that_looks_like_an_option_is_spoken(espeak: str, tmp_path: Path) -> None:
    tts = TtsRenderer(tmp_path / "tts", default_voice="en")
    check_prompt(await tts.render("--help me please"), 0.5)


async def test_tts_prompt_played_through_the_engine(espeak: str, tmp_path: Path) -> None:
    tts = TtsRenderer(tmp_path / "tts")
    path = await tts.render("您好，请稍候")
    prompt_s = len(read_wav(path)[0]) / 8000
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        base = 20000 + (s.getsockname()[1] % 40) * 1000
    engine = BuiltinMediaEngine(BuiltinConfig(port_min=base, port_max=base + 998, media_timeout_s=None))
    phone = await SoftPhone.open()
    try:
        events: list[MediaEvent] = []
        engine.subscribe(events.append)
        ep = await engine.create_endpoint("tts", "caller", phone.description())
        phone.play(None)
        phone.start((ep.local.address, ep.local.port))
        since = asyncio.get_running_loop().time()
        pid = await engine.play(ep.id, PlayFile(path))
        await asyncio.sleep(prompt_s + 0.3)
        done = [e for e in events if isinstance(e, PlaybackFinished) and e.playback == pid]
        assert [e.reason for e in done] == ["completed"]
        heard = phone.received_audio(since=since)
        assert rms(heard) > 300
        loud_s = np.count_nonzero(np.abs(heard.astype(np.int32)) > 200) / 8000
        assert loud_s > 0.4 * prompt_s
    finally:
        await phone.close()
        await engine.close()


async def test_engine_cannot_play_a_missing_prompt(tmp_path: Path) -> None:
    engine = BuiltinMediaEngine(BuiltinConfig(media_timeout_s=None))
    phone = await SoftPhone.open()
    try:
        ep = await engine.create_endpoint("tts", "caller", phone.description())
        with pytest.raises(MediaEngineError):
            await engine.play(ep.id, PlayFile(tmp_path / "nope.wav"))
    finally:
        await phone.close()
        await engine.close()
