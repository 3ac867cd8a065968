"""Smoke: an outside caller dials 95598, presses 0, waits in 'general', a baresip agent answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from httpx import AsyncClient

from tests.conftest import token_for
from tests.cti.calltools import phone, wait_for
from tests.cti.pyua import Ua


async def test_caller_reaches_agent(
    telephony_client: AsyncClient, tmp_path: Path, need_baresip: None
) -> None:
    client = telephony_client
    tele = client.app.state.hotline.telephony  # type: ignore[attr-defined]
    port = tele.sip.udp_address[1]
    agent_phone = phone(tmp_path, "1001", 440.0, port, seconds=30)
    h = await token_for(client, "li.na")
    me = (await client.get("/api/v1/auth/me", headers=h)).json()["id"]
    caller = Ua("13912340001", "", ("127.0.0.1", port))
    await caller.start()
    try:
        await asyncio.to_thread(agent_phone.start)
        await wait_for(lambda: tele.sip.lookup(1, "1001"), 10, "registration")
        r = await client.post(
            f"/api/v1/agents/{me}/login", json={"extension": "1001", "ready": True}, headers=h
        )
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "available"
        dialog = await caller.call("95598", 40000)
        await asyncio.sleep(1.0)
        resp = await caller.request(
            dialog, "INFO", body=b"Signal=0\r\nDuration=160\r\n", content_type="application/dtmf-relay"
        )
        assert resp.status == 200
        await wait_for(
            lambda: any(c.recording is not None for c in tele.calls._calls.values()), 20, "agent connected"
        )
        st = (await client.get(f"/api/v1/agents/{me}", headers=h)).json()
        assert st["state"] == "busy", st
        # the agent sends the caller into the PIN flow and gets the call back with the result
        call_id = st["current_call"]
        pending = asyncio.ensure_future(
            client.post(f"/api/v1/calls/{call_id}/flow", json={"flow": "verify-pin"}, headers=h)
        )
        await asyncio.sleep(1.0)
        for d in "123456#":
            r2 = await caller.request(
                dialog, "INFO", body=f"Signal={d}\r\nDuration=160\r\n".encode(),
                content_type="application/dtmf-relay",
            )  # fmt: skip
            assert r2.status == 200
        r = await asyncio.wait_for(pending, 30)
        assert r.status_code == 200, r.text
        # customer.verify_pin (hotline.utility.ivr_actions): the caller's number is demo account
        # 3201001001's, whose PIN is 123456 (hotline.utility.seed)
        assert r.json() == {
            "call_id": call_id,
            "flow": "verify-pin",
            "status": "done",
            "values": {"verified": True},
        }
        await asyncio.sleep(1.0)
        await caller.request(dialog, "BYE")
        await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
        st = (await client.get(f"/api/v1/agents/{me}", headers=h)).json()
        assert st["state"] == "wrap_up", st
        r = await client.post(
            f"/api/v1/agents/{me}/wrap-up", json={"disposition": "resolved", "notes": "ok"}, headers=h
        )
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "available"
    finally:
        caller.close()
        await asyncio.to_thread(agent_phone.stop)
    admin = await token_for(client, "admin")
    [call] = (await client.get("/api/v1/calls", headers=admin)).json()["items"]
    assert call["flow"] == "95598-zh" and call["queue"] == "general" and call["agent_id"] == me
    assert call["disposition"] == "resolved" and call["wrap_up_seconds"] is not None
    assert call["data"]["flow_results"] == {"verify-pin": {"verified": True}}
    assert "123456" not in str(call), "the PIN must not be stored anywhere in the record"
    # the six PIN digits are masked; the "#" came after the flow had its six digits
    # the PIN is masked; so is the '#' when it arrives while the PIN is still being checked
    digits = [d["digit"] for d in call["data"]["dtmf"]]
    assert digits[:7] == ["0", *"******"] and digits[7:] in (["#"], ["*"]), digits
    ev = (await client.get("/api/v1/queue-events", params={"call_id": call["id"]}, headers=admin)).json()
    kinds = [e["event"] for e in ev]
    assert kinds.index("ivr_send") < kinds.index("ivr_return") < kinds.index("call_end"), kinds
