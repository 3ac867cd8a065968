"""What callers get when a call does not connect, and that nothing is left behind: CANCEL while
ringing, busy, no answer, unknown and unregistered numbers; and the *44 record test."""

from __future__ import annotations

import asyncio
import wave
from pathlib import Path

import numpy as np
import pytest
from httpx import AsyncClient

from hotline.seed import DEMO_SIP_PASSWORD
from tests.cti import sippgen
from tests.cti.calltools import calls, phone, telephony, wait_for
from tests.peers.pcapgen import tone_pcap
from tests.sip.scenarios.harness import run_sipp

pytestmark = pytest.mark.slow
AUTH = f"[authentication username=1001 password={DEMO_SIP_PASSWORD}]"


async def sipp_call(
    client: AsyncClient, tmp_path: Path, name: str, body: str, row: str, **kw: object
) -> object:
    tele = telephony(client)
    scenario = sippgen.write(tmp_path / f"{name}.xml", name, body)
    return await run_sipp(str(scenario), tele.sip, tmp_path, rows=[row], extra=["-mi", "127.0.0.1"], **kw)


async def test_cancel_while_ringing(
    telephony_client: AsyncClient, tmp_path: Path, need_baresip: None
) -> None:
    tele = telephony(telephony_client)
    b = phone(tmp_path, "1002", 1000.0, tele.sip.udp_address[1], answer="manual")
    try:
        await asyncio.to_thread(b.start)
        await wait_for(lambda: tele.sip.lookup(1, "1002"), 10, "1002 to register")
        r = await sipp_call(
            telephony_client,
            tmp_path,
            "cancel",
            sippgen.prelude() + sippgen.cancelled(1500),
            f"1001;1002;{AUTH}",
        )
        assert r.returncode == 0, r.explain()  # type: ignore[attr-defined]
        await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    finally:
        await asyncio.to_thread(b.stop)
    assert tele.calls.endpoints_in_use == 0
    [call] = await calls(telephony_client)
    assert (call["end_cause"], call["ended_by"], call["sip_code"]) == ("cancelled", "caller", 487)
    callee = call["legs"][1]
    assert callee["role"] == "callee" and callee["ended_at"] and callee["answered_at"] is None


async def test_busy(telephony_client: AsyncClient, tmp_path: Path, need_baresip: None) -> None:
    tele = telephony(telephony_client)
    b = phone(tmp_path, "1002", 1000.0, tele.sip.udp_address[1], answer="manual")
    try:
        await asyncio.to_thread(b.start)
        await wait_for(lambda: tele.sip.lookup(1, "1002"), 10, "1002 to register")
        run = asyncio.ensure_future(
            sipp_call(
                telephony_client,
                tmp_path,
                "busy",
                sippgen.prelude() + sippgen.rejected(486),
                f"1001;1002;{AUTH}",
            )
        )
        await wait_for(lambda: "Incoming call" in b.log() or "incoming call" in b.log(), 10, "1002 to ring")
        await asyncio.to_thread(b.command, "hangup")  # the person at 1002 rejects the call
        r = await run
        assert r.returncode == 0, r.explain()  # type: ignore[attr-defined]
        await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    finally:
        await asyncio.to_thread(b.stop)
    [call] = await calls(telephony_client)
    assert call["end_cause"] == "busy" and call["sip_code"] == 486
    assert tele.calls.endpoints_in_use == 0


async def test_no_answer(telephony_client: AsyncClient, tmp_path: Path, need_baresip: None) -> None:
    tele = telephony(telephony_client)
    tele.calls.settings.ring_timeout = 2.0
    b = phone(tmp_path, "1002", 1000.0, tele.sip.udp_address[1], answer="manual")
    try:
        await asyncio.to_thread(b.start)
        await wait_for(lambda: tele.sip.lookup(1, "1002"), 10, "1002 to register")
        r = await sipp_call(
            telephony_client,
            tmp_path,
            "noanswer",
            sippgen.prelude() + sippgen.rejected(408),
            f"1001;1002;{AUTH}",
        )
        assert r.returncode == 0, r.explain()  # type: ignore[attr-defined]
        await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    finally:
        await asyncio.to_thread(b.stop)
    [call] = await calls(telephony_client)
    assert call["end_cause"] == "no_answer" and call["sip_code"] == 408
    assert tele.calls.endpoints_in_use == 0


async def test_unknown_and_unregistered_numbers(telephony_client: AsyncClient, tmp_path: Path) -> None:
    r = await sipp_call(
        telephony_client, tmp_path, "unknown", sippgen.prelude() + sippgen.rejected(404), f"1001;1999;{AUTH}"
    )
    assert r.returncode == 0, r.explain()  # type: ignore[attr-defined]
    r = await sipp_call(
        telephony_client,
        tmp_path,
        "unregistered",
        sippgen.prelude() + sippgen.rejected(480),
        f"1001;1003;{AUTH}",
    )
    assert r.returncode == 0, r.explain()  # type: ignore[attr-defined]
    causes = sorted((c["dialed"], c["end_cause"], c["sip_code"]) for c in await calls(telephony_client))
    assert causes == [("1003", "unreachable", 480), ("1999", "failed", 404)]
    # an unauthenticated caller cannot reach an extension at all
    r = await sipp_call(
        telephony_client,
        tmp_path,
        "anon",
        sippgen.prelude(authenticate=False) + sippgen.rejected(403, cseq=1),
        "013912340001;1002;x",
    )
    assert r.returncode == 0, r.explain()  # type: ignore[attr-defined]


async def test_record_test_service(telephony_client: AsyncClient, tmp_path: Path) -> None:
    """*44: a beep, 5 s recorded from the caller, played back, then the server hangs up."""
    tele = telephony(telephony_client)
    pcap = tone_pcap(tmp_path / "tone.pcap", 800.0, 20.0, codec="PCMU")  # as offered in the SDP
    body = sippgen.prelude(authenticate=False) + sippgen.answered_then_bye_from_server(1, pcap=str(pcap))
    r = await sipp_call(telephony_client, tmp_path, "star44", body, "013912340001;*44;x", duration=40)
    assert r.returncode == 0, r.explain()  # type: ignore[attr-defined]
    await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    [call] = await calls(telephony_client)
    assert call["end_cause"] == "normal" and call["ended_by"] == "system"
    rec = tele.calls.settings.data_dir / call["recording_path"]
    assert rec.name == f"{call['id']}-test.wav"
    with wave.open(str(rec)) as w:
        seconds = w.getnframes() / w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(float)
    assert 4.5 <= seconds <= 5.5 and x.std() > 1000, (seconds, x.std())
    spectrum = np.abs(np.fft.rfft(x))
    assert abs(np.fft.rfftfreq(len(x), 1 / 8000)[int(spectrum.argmax())] - 800) < 10  # the caller's tone
    [leg] = call["legs"]
    assert leg["packets_sent"] > 250  # prompt, beeps, playback and silence back to the caller
    # the spoken prompt (espeak-ng, Mandarin) was rendered once into the cache
    assert list((tele.calls.settings.data_dir / "prompts" / "tts").glob("*.wav"))
