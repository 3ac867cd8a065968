"""Helpers for call tests: baresip phones registered as demo extensions, waiting, audio checks."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path
from typing import Any

import numpy as np
from httpx import AsyncClient

from hotline.seed import DEMO_SIP_PASSWORD
from tests.conftest import token_for
from tests.peers import baresip


def telephony(client: AsyncClient) -> Any:
    """The running :class:`hotline.cti.service.Telephony` of a test app."""
    return client.app.state.hotline.telephony  # type: ignore[attr-defined]


def phone(
    tmp_path: Path, number: str, freq: float, sip_port: int, seconds: float = 8.0, answer: str = "auto"
) -> baresip.Phone:
    """A baresip phone registering as demo extension ``number``, sending a ``freq`` Hz tone."""
    src = tmp_path / f"{number}.wav"
    baresip.write_tone(src, freq, seconds=seconds)
    p = baresip.Phone(tmp_path / number, "", src)
    p.account = (
        f"<sip:{number}@127.0.0.1:{sip_port}>;auth_pass={DEMO_SIP_PASSWORD};regint=120;answermode={answer}"
    )
    return p


async def wait_for(predicate: Any, seconds: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def channel_tone(path: Path) -> list[tuple[float, float]]:
    """(peak Hz, RMS) of each channel of a WAV, skipping its first half second."""
    with wave.open(str(path)) as w:
        ch, rate = w.getnchannels(), w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float).reshape(-1, ch)
    out = []
    for c in range(ch):
        sig = x[rate // 2 :, c]
        spec = np.abs(np.fft.rfft(sig))
        out.append((float(np.fft.rfftfreq(len(sig), 1 / rate)[int(spec.argmax())]), float(sig.std())))
    return out


def tone_energy(path: str | Path, freqs: list[float], skip: float = 0.3) -> float:
    """Share of a mono WAV's spectral energy within ±15 Hz of ``freqs``."""
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float)
    x = x[int(skip * rate) :]
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / rate)
    band = sum(power[(f > fq - 15) & (f < fq + 15)].sum() for fq in freqs)
    return float(band / max(power.sum(), 1e-9))


async def calls(client: AsyncClient, **params: str) -> list[dict[str, Any]]:
    h = await token_for(client, "admin")
    r = await client.get("/api/v1/calls", params=params, headers=h)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items
