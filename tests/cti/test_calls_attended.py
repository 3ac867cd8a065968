"""Attended transfer (REFER with Replaces, RFC 3891): 1001 (a Python UA with two dialogs) calls
1002, holds it, calls 1003, then transfers 1002 to 1003. 1002 and 1003 (baresip) end up talking
to each other; both of 1001's dialogs are ended by the server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import pytest
from httpx import AsyncClient

from hotline.seed import DEMO_SIP_PASSWORD
from tests.cti.calltools import calls, phone, telephony, tone_energy, wait_for
from tests.cti.pyua import Ua
from tests.peers import baresip

pytestmark = pytest.mark.slow


async def test_attended_transfer(telephony_client: AsyncClient, tmp_path: Path, need_baresip: None) -> None:
    tele = telephony(telephony_client)
    port = tele.sip.udp_address[1]
    b = phone(tmp_path, "1002", 1000.0, port, seconds=30)
    c = phone(tmp_path, "1003", 700.0, port, seconds=30)
    a = Ua("1001", DEMO_SIP_PASSWORD, ("127.0.0.1", port))
    await a.start()
    try:
        await asyncio.gather(asyncio.to_thread(b.start), asyncio.to_thread(c.start))
        await wait_for(lambda: tele.sip.lookup(1, "1002") and tele.sip.lookup(1, "1003"), 10, "registrations")
        d1 = await a.call("1002", 40000)
        assert (await a.hold(d1, 40000)).status == 200
        d2 = await a.call("1003", 40002)
        replaces = quote(f"{d2.call_id};to-tag={d2.remote_tag};from-tag={d2.local_tag}", safe="")
        refer_to = f"<sip:1003@127.0.0.1:{port}?Replaces={replaces}>"
        resp = await a.request(
            d1, "REFER", headers=[("Refer-To", refer_to), ("Referred-By", "<sip:1001@demo>")]
        )
        assert resp.status == 202, resp
        await wait_for(lambda: len(a.requests("BYE")) == 2, 10, "BYE on both of 1001's dialogs")
        frags = [n.body for n in a.requests("NOTIFY", d1.call_id)]
        assert frags[-1].startswith(b"SIP/2.0 200"), frags
        assert tele.calls.active_calls == 1
        await asyncio.sleep(3)
        await asyncio.to_thread(b.command, "hangup")
        await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    finally:
        a.close()
        await asyncio.to_thread(b.stop)
        await asyncio.to_thread(c.stop)
    assert tele.calls.endpoints_in_use == 0
    fc, rms_c = baresip.dominant_frequency(c.heard_files()[-1], skip_seconds=1.0)
    assert abs(fc - 1000) < 20 and rms_c > 1000, ("1003 should hear 1002 after the transfer", fc, rms_c)
    assert tone_energy(b.heard_files()[-1], [700.0]) > 0.2, "1002 should hear 1003 after the transfer"
    first, second = sorted(await calls(telephony_client), key=lambda k: k["started_at"])
    assert [leg["role"] for leg in first["legs"]] == ["caller", "callee", "callee"]
    assert first["legs"][0]["end_reason"] == "transferred"
    assert first["end_cause"] == "normal" and first["ended_by"] == "callee"
    assert second["end_cause"] == "normal" and [leg["role"] for leg in second["legs"]] == ["caller"]
    assert first["data"]["joined_call"] == second["id"] and second["data"]["joined_into"] == first["id"]
