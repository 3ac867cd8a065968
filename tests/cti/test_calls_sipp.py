"""Calls through the B2BUA with SIPp as the caller: the *43 echo test and the *44 record test."""

from __future__ import annotations

import asyncio
from pathlib import Path

from httpx import AsyncClient

from tests.cti.calltools import calls, telephony
from tests.sip.scenarios.harness import run_sipp

SCENARIOS = Path(__file__).parent / "scenarios"


async def test_echo_call_from_sipp(telephony_client: AsyncClient, tmp_path: Path) -> None:
    tele = telephony(telephony_client)
    r = await run_sipp(
        str(SCENARIOS / "call_audio.xml"),
        tele.sip,
        tmp_path,
        rows=["7500"],
        extra=["-s", "*43", "-mi", "127.0.0.1"],
        duration=30,
    )
    assert r.returncode == 0, r.explain()
    [call] = await calls(telephony_client, dialed="*43")
    assert call["caller"] == "+8613912340001" and call["caller_name"] == "Zhou Jianguo"
    assert call["end_cause"] == "normal" and call["ended_by"] == "caller" and call["answered_at"]
    [leg] = call["legs"]
    # the pcap holds 236 packets of 30 ms (7.1 s) plus the DTMF event packets; the engine sends
    # 20 ms packets for the whole 8.5 s call
    assert leg["packets_received"] >= 236 and leg["packets_lost"] == 0, leg
    assert leg["packets_sent"] >= 400, leg
    assert leg["codec"] == "PCMA"
    assert call["data"]["dtmf"] == [{"leg": "caller", "digit": "1", "source": "rfc4733"}]
    assert tele.calls.active_calls == 0
    lingering = [t for t in asyncio.all_tasks() if "_limit_duration" in repr(t.get_coro())]
    assert not lingering, "a finished call left its tasks behind"
    metrics = (await telephony_client.get("/metrics")).text
    assert "hotline_calls_active 0.0" in metrics and "hotline_sip_messages_received_total" in metrics
    assert 'hotline_sip_responses_sent_total{status="200"}' in metrics
    health = (await telephony_client.get("/api/v1/health")).json()["components"]
    assert health["sip"]["status"] == "ok" and health["media"]["active_calls"] == 0
    assert health["recording_disk"]["state"] in ("ok", "low")
