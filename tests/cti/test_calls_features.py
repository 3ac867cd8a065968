"""Call features with real peers: SIPp is extension 1001 (digest-authenticated INVITEs), baresip
phones are 1002 and 1003. Hold/resume by re-INVITE, and blind transfer by REFER."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from httpx import AsyncClient

from hotline.seed import DEMO_SIP_PASSWORD
from tests.cti.calltools import calls, phone, tone_energy, wait_for
from tests.peers import baresip
from tests.sip.scenarios.harness import run_sipp

pytestmark = pytest.mark.slow
SCENARIOS = Path(__file__).parent / "scenarios"
AUTH = f"[authentication username=1001 password={DEMO_SIP_PASSWORD}]"


async def test_hold_and_resume(telephony_client: AsyncClient, tmp_path: Path, need_baresip: None) -> None:
    tele = telephony_client.app.state.hotline.telephony  # type: ignore[attr-defined]
    port = tele.sip.udp_address[1]
    b = phone(tmp_path, "1002", 1000.0, port, seconds=20)
    try:
        await asyncio.to_thread(b.start)
        await wait_for(lambda: tele.sip.lookup(1, "1002"), 10, "1002 to register")
        r = await run_sipp(
            str(SCENARIOS / "call_hold.xml"),
            tele.sip,
            tmp_path,
            rows=[f"1001;1002;{AUTH}"],
            extra=["-mi", "127.0.0.1", "-trace_msg"],
            duration=30,
        )
        assert r.returncode == 0, r.explain()  # includes: hold answered recvonly, resume sendrecv
        await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    finally:
        await asyncio.to_thread(b.stop)
    # while 1001 held the call, 1002 heard the hold chime (523 + 659 Hz); otherwise silence
    assert tone_energy(b.heard_files()[-1], [523.0, 659.0]) > 0.5
    [call] = await calls(telephony_client)
    assert call["caller"] == "1001" and call["dialed"] == "1002" and call["end_cause"] == "normal"
    assert [leg["role"] for leg in call["legs"]] == ["caller", "callee"]


async def test_blind_transfer(telephony_client: AsyncClient, tmp_path: Path, need_baresip: None) -> None:
    tele = telephony_client.app.state.hotline.telephony  # type: ignore[attr-defined]
    port = tele.sip.udp_address[1]
    b = phone(tmp_path, "1002", 1000.0, port, seconds=20)
    c = phone(tmp_path, "1003", 700.0, port, seconds=20)
    try:
        await asyncio.gather(asyncio.to_thread(b.start), asyncio.to_thread(c.start))
        await wait_for(lambda: tele.sip.lookup(1, "1002") and tele.sip.lookup(1, "1003"), 10, "registrations")
        r = await run_sipp(
            str(SCENARIOS / "call_refer.xml"),
            tele.sip,
            tmp_path,
            rows=[f"1001;1002;{AUTH};1003"],
            extra=["-mi", "127.0.0.1"],
            duration=30,
        )
        assert r.returncode == 0, r.explain()  # 202, NOTIFY 100, NOTIFY 200, then our BYE
        await wait_for(lambda: bool(c.heard_files()), 10, "1003 to answer")
        await asyncio.sleep(3)
        assert tele.calls.active_calls == 1
        await asyncio.to_thread(b.command, "hangup")
        await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    finally:
        await asyncio.to_thread(b.stop)
        await asyncio.to_thread(c.stop)
    fc, rms_c = baresip.dominant_frequency(c.heard_files()[-1])
    assert abs(fc - 1000) < 20 and rms_c > 1000, ("1003 should hear 1002", fc, rms_c)
    assert tone_energy(b.heard_files()[-1], [700.0]) > 0.3, "1002 should hear 1003 after the transfer"
    [call] = await calls(telephony_client)
    legs = call["legs"]
    assert [leg["role"] for leg in legs] == ["caller", "callee", "callee"]
    assert legs[0]["end_reason"] == "transferred"
    assert legs[2]["remote_uri"].startswith("sip:1003")
    assert call["end_cause"] == "normal" and call["ended_by"] == "callee"
