"""Two real phones (baresip) register as extensions 1001 and 1002 and call each other through the
B2BUA: each hears the other (checked in what each phone heard and in the server's stereo
recording), and the call is in the CDR with both legs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from httpx import AsyncClient

from tests.conftest import token_for
from tests.cti.calltools import channel_tone, phone, wait_for
from tests.peers import baresip

pytestmark = pytest.mark.slow


async def test_two_registered_phones_hear_each_other(
    telephony_client: AsyncClient, tmp_path: Path, need_baresip: None
) -> None:
    tele = telephony_client.app.state.hotline.telephony  # type: ignore[attr-defined]
    port = tele.sip.udp_address[1]
    a = phone(tmp_path, "1001", 440.0, port)
    b = phone(tmp_path, "1002", 1000.0, port)
    try:
        await asyncio.to_thread(b.start)
        await asyncio.to_thread(a.start)
        await wait_for(lambda: tele.sip.lookup(1, "1001") and tele.sip.lookup(1, "1002"), 10, "registrations")
        assert (await asyncio.to_thread(a.command, "dial", f"sip:1002@127.0.0.1:{port}"))["ok"]
        await wait_for(
            lambda: (
                tele.calls.active_calls == 1
                and any(c.recording is not None for c in tele.calls._calls.values())
            ),
            15,
            "an answered call",
        )
        await asyncio.sleep(4)
        await asyncio.to_thread(a.command, "hangup")
        await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    finally:
        await asyncio.to_thread(a.stop)
        await asyncio.to_thread(b.stop)
    # what each phone heard
    fa, rms_a = baresip.dominant_frequency(a.heard_files()[-1])
    fb, rms_b = baresip.dominant_frequency(b.heard_files()[-1])
    assert abs(fa - 1000) < 20 and rms_a > 1000, ("1001 should hear 1002's 1000 Hz", fa, rms_a)
    assert abs(fb - 440) < 20 and rms_b > 1000, ("1002 should hear 1001's 440 Hz", fb, rms_b)
    # the CDR and the recording
    h = await token_for(telephony_client, "admin")
    [call] = (await telephony_client.get("/api/v1/calls", headers=h)).json()["items"]
    assert call["direction"] == "internal" and call["caller"] == "1001" and call["dialed"] == "1002"
    assert call["end_cause"] == "normal" and call["ended_by"] == "caller"
    assert [leg["role"] for leg in call["legs"]] == ["caller", "callee"]
    assert all(leg["packets_received"] > 150 and leg["packets_lost"] == 0 for leg in call["legs"]), call[
        "legs"
    ]
    rec = tele.calls.settings.data_dir / call["recording_path"]
    assert rec.parent.parent.name == "recordings" and rec.name == f"{call['id']}.wav"
    (left_hz, left_rms), (right_hz, right_rms) = channel_tone(rec)
    assert abs(left_hz - 440) < 20 and left_rms > 1000, "caller (left) channel"
    assert abs(right_hz - 1000) < 20 and right_rms > 1000, "callee (right) channel"


async def test_echo_service_returns_the_callers_audio(
    telephony_client: AsyncClient, tmp_path: Path, need_baresip: None
) -> None:
    """*43 from a registered phone: it hears its own tone back (checked in what the phone heard)."""
    tele = telephony_client.app.state.hotline.telephony  # type: ignore[attr-defined]
    port = tele.sip.udp_address[1]
    a = phone(tmp_path, "1001", 600.0, port)
    try:
        await asyncio.to_thread(a.start)
        await wait_for(lambda: tele.sip.lookup(1, "1001"), 10, "registration")
        assert (await asyncio.to_thread(a.command, "dial", f"sip:*43@127.0.0.1:{port}"))["ok"]
        await wait_for(lambda: bool(a.heard_files()), 10, "the echo service to answer")
        await asyncio.sleep(3)
        await asyncio.to_thread(a.command, "hangup")
        await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    finally:
        await asyncio.to_thread(a.stop)
    freq, rms = baresip.dominant_frequency(a.heard_files()[-1], skip_seconds=1.0)
    assert abs(freq - 600) < 20 and rms > 1000, ("1001 should hear its own 600 Hz tone", freq, rms)
