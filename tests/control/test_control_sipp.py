"""Call control over REST with real SIPp peers: an outside caller, agent phones at the demo
extensions, a supervisor's phone; the live call document, events, CDR and media wiring."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
from httpx import AsyncClient
from sqlalchemy import select

from tests.conftest import token_for
from tests.contact.pathtools import Center, until
from tests.peers.sipp import Pause, Play, SippPeers


class Events:
    """Every event the hub publishes during a test (as envelopes)."""

    def __init__(self, client: AsyncClient) -> None:
        self.items: list[dict[str, Any]] = []
        hub = client.app.state.hotline.center.hub  # type: ignore[attr-defined]
        self.stop = hub.listen(lambda e: self.items.append(e.envelope()))

    def types(self, call_id: str) -> list[str]:
        return [e["type"] for e in self.items if e["call_id"] == call_id]

    def of(self, call_id: str, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.items if e["call_id"] == call_id and e["type"] == type_]


async def live(c: Center, agent: str = "admin") -> list[dict[str, Any]]:
    h = c.admin if agent == "admin" else c.tokens[agent]
    r = await c.client.get("/api/v1/calls/live", headers=h)
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


async def act(c: Center, who: str, call_id: str, verb: str, body: Any = None, status: int = 200) -> Any:
    h = c.admin if who == "admin" else c.tokens[who]
    r = await c.client.post(f"/api/v1/calls/{call_id}/{verb}", json=body, headers=h)
    assert r.status_code == status, (verb, r.status_code, r.text)
    return r.json()


async def _snapshot_calls(c: Center, username: str) -> list[Any]:
    """The ``calls`` section call control adds to the event stream's snapshot, for a user."""
    from hotline.auth.users import principal_for
    from hotline.store.models import User
    from hotline.web.context import Ctx

    state = c.client.app.state.hotline  # type: ignore[attr-defined]
    async with state.db() as s:
        user = (await s.execute(select(User).where(User.username == username))).scalar_one()
        principal = await principal_for(s, user, ip="127.0.0.1")
    ctx = Ctx(principal=principal, session=None, state=state)  # type: ignore[arg-type]
    out: list[Any] = await state.center.hub.snapshot_providers["calls"](ctx)
    return out


async def connected_call(c: Center, agent: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        calls = [x for x in await live(c, agent) if x["state"] == "connected"]
        return calls[0] if calls else None

    out: dict[str, Any] = await until(check, 20, "a connected call", step=0.1)
    return out


async def test_live_call_pop_hold_resume_mute_dtmf_hangup(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await Center.create(telephony_client, sipp_peers, tmp_path)
    ev = Events(telephony_client)
    await c.fast_queues("fault", wrap_up=30)
    phone = await c.phone("zhang.wei", ring_ms=300, hangup_by="remote", talk_ms=None)
    await c.login("zhang.wei")
    caller = await c.caller(
        "caller",
        "95598",
        [Pause(1000), c.digits("2"), Play(c.tone(900.0, 20.0, "PCMA"), wait=False)],
        expect_bye=True,
        bye_timeout=40,
    )
    doc = await connected_call(c, "zhang.wei")
    cid = doc["id"]
    uid = c.users["zhang.wei"]
    assert doc["queue"] == "fault" and doc["agent_id"] == uid and doc["direction"] == "inbound", doc
    assert "13912340001" in doc["caller"] and doc["dialed"] == "95598", doc
    assert doc["on_hold"] is False and doc["muted"] is False and doc["connected_at"], doc
    # the screen pop came before the answer
    [ring] = ev.of(cid, "call_ringing")
    assert ring["agent_id"] == uid and ring["queue"] == "fault", ring
    pop = ring["data"]
    assert "13912340001" in pop["caller"] and pop["dnis"] == "95598" and pop["flow"] == "95598-zh", pop
    assert pop["menu_choice"] == "2" and pop["wait"] >= 0 and isinstance(pop["variables"], dict), pop
    assert ev.of(cid, "call_answered"), ev.types(cid)
    types = ev.types(cid)
    assert types.index("call_ringing") < types.index("call_answered")
    # other users: a colleague may not control it; unknown calls are 404
    await act(c, "li.na", cid, "hold", status=403)
    await act(c, "zhang.wei", "c-nope", "hold", status=404)
    await act(c, "zhang.wei", cid, "resume", status=409)
    # hold: music for the caller, recording paused, hold time counted
    tele = c.tele
    held = await act(c, "zhang.wei", cid, "hold")
    assert held["state"] == "held" and held["on_hold"] is True, held
    call = tele.calls._calls[cid]
    caller_ep = call.service.caller.endpoint.id
    assert tele.media._legs[caller_ep].playback is not None  # music on hold
    assert tele.media._rec(call.recording).writer.paused  # the recording pauses while held
    r = await act(c, "zhang.wei", cid, "hold", status=409)
    assert "not connected (state: held)" in r["detail"], r
    await asyncio.sleep(1.5)
    back = await act(c, "zhang.wei", cid, "resume")
    assert back["state"] == "connected" and back["on_hold"] is False, back
    assert tele.media._legs[caller_ep].playback is None
    assert not tele.media._rec(call.recording).writer.paused
    # scope: the agent on it, a supervisor and QA of the province see it; a handler may not list
    assert [d["id"] for d in await live(c, "zhang.wei")] == [cid]
    for who in ("wang.fang", "zhao.min"):
        h = await token_for(c.client, who)
        r = await c.client.get("/api/v1/calls/live", headers=h)
        assert [d["id"] for d in r.json()] == [cid], (who, r.text)
    h = await token_for(c.client, "liu.yang")
    assert (await c.client.get("/api/v1/calls/live", headers=h)).status_code == 403
    # the event stream's snapshot has the same documents (section "calls")
    snap = await _snapshot_calls(c, "zhang.wei")
    assert [d.id for d in snap] == [cid] and snap[0].state == "connected", snap
    assert await _snapshot_calls(c, "liu.yang") == []
    # mute: the caller stops hearing the agent (a mix in which the caller hears nobody)
    m = await act(c, "zhang.wei", cid, "mute", {"muted": True})
    assert m["muted"] is True
    assert call.control.mix is not None
    await act(c, "zhang.wei", cid, "mute", {"muted": False})
    assert call.control.mix is None
    r = await act(c, "zhang.wei", cid, "dtmf", {"digits": "12x"}, status=422)
    await act(c, "zhang.wei", cid, "dtmf", {"digits": "12#"})
    await asyncio.sleep(0.8)
    # a supervisor (call.supervise over the unit) may act on it too; then the agent hangs up
    await act(c, "zhang.wei", cid, "hangup")
    assert await caller.wait(20) == 0, caller.explain()
    assert await phone.wait(15) == 0, phone.explain()
    await c.idle()
    cdr = await c.call(cid)
    assert cdr["ended_by"] == "agent" and cdr["agent_id"] == uid, cdr
    assert 1.3 <= cdr["hold_seconds"] <= 3.0, cdr
    assert cdr["data"]["dtmf_sent"] == [{"by": uid, "digits": 3}], cdr["data"]
    types = ev.types(cid)
    for t in ("call_hold", "call_resume", "call_mute", "dtmf_sent", "call_hangup", "call_ended"):
        assert t in types, (t, types)
    assert (await c.state("zhang.wei")) == "wrap_up"
    assert await live(c) == []
    ev.stop()


BYE_FLOW = """
name: bye-flow
language: zh-CN
start: bye
nodes:
  bye: {type: hangup, prompt: "再见。"}
"""


async def _talking(c: Center, first: str, calls: int = 1, **caller_kw: Any) -> tuple[Any, Any, str]:
    """A caller (menu 2: fault) connected with ``first``; returns (caller, first's phone, call id)."""
    phone = await c.phone(first, ring_ms=300, hangup_by="remote", talk_ms=None, calls=calls)
    await c.login(first)
    caller = await c.caller(
        "caller",
        "95598",
        [Pause(1000), c.digits("2"), Play(c.tone(900.0, 20.0, "PCMA"), wait=False)],
        expect_bye=True,
        bye_timeout=40,
        **caller_kw,
    )
    doc = await connected_call(c, first)
    return caller, phone, doc["id"]


async def test_blind_transfer_to_an_agent_then_to_a_queue(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await Center.create(telephony_client, sipp_peers, tmp_path)
    ev = Events(telephony_client)
    await c.fast_queues("fault", "billing", wrap_up=30)
    caller, zphone, cid = await _talking(c, "zhang.wei", calls=2)
    li, zhang = c.users["li.na"], c.users["zhang.wei"]
    # bad targets: 409 / 422 with the reason; the call stays with the agent
    r = await act(c, "zhang.wei", cid, "transfer", {"to": {"agent": li}}, status=409)
    assert "not logged in" in r["detail"], r
    r = await act(c, "zhang.wei", cid, "transfer", {"to": {"number": "013812345678"}}, status=409)
    assert "no outbound trunk" in r["detail"], r
    await act(c, "zhang.wei", cid, "transfer", {"to": {"queue": "nope"}}, status=422)
    await act(c, "zhang.wei", cid, "transfer", {"to": {"queue": "x", "agent": 3}}, status=422)
    lphone = await c.phone("li.na", ring_ms=300, hangup_by="remote", talk_ms=None)
    await c.login("li.na", ready=False)  # not ready: a reserved task still waits for her
    doc = await act(c, "zhang.wei", cid, "transfer", {"mode": "blind", "to": {"agent": li}})
    assert doc["state"] == "queued" and doc["agent_id"] is None, doc
    await c.wait_state("zhang.wei", "wrap_up")
    await c.ready("li.na")
    doc = await connected_call(c, "li.na")
    assert doc["id"] == cid and doc["agent_id"] == li, doc
    assert lphone.received_headers("X-Hotline-Call-Id")[:1] == [cid]
    rings = ev.of(cid, "call_ringing")
    assert [e["agent_id"] for e in rings] == [zhang, li], rings
    assert rings[1]["data"]["transferred"] is True and rings[1]["data"]["menu_choice"] == "2", rings[1]
    # and on to a queue (billing): li.na wraps up, zhang.wei (ready again) takes it
    # (agents.py's wrap-up accepts only the CDR's answering agent, now li.na: end it with ready)
    await c.client.post(f"/api/v1/agents/{zhang}/ready", headers=c.tokens["zhang.wei"])
    await c.wait_state("zhang.wei", "available")
    await act(c, "li.na", cid, "transfer", {"to": {"queue": "billing"}})
    await c.wait_state("li.na", "wrap_up")

    async def with_zhang() -> bool:
        calls = await live(c, "zhang.wei")
        return any(
            x["agent_id"] == zhang and x["queue"] == "billing" and x["state"] == "connected" for x in calls
        )

    await until(with_zhang, 20, "the call with zhang.wei in billing", step=0.1)
    await act(c, "zhang.wei", cid, "hangup")
    assert await caller.wait(20) == 0, caller.explain()
    assert await zphone.wait(15) == 0, zphone.explain()
    await c.idle()
    cdr = await c.call(cid)
    assert cdr["agent_id"] == zhang and cdr["queue"] == "billing", cdr
    transfers = cdr["data"]["transfers"]
    assert [(t["kind"], t["to"], t["by"]) for t in transfers] == [
        ("agent", li, zhang),
        ("queue", "billing", li),
    ], transfers
    assert [o["agent"] for o in cdr["offers"]] == [zhang, li, zhang], cdr["offers"]
    started = [e["data"]["to"] for e in ev.of(cid, "transfer") if e["data"]["state"] == "started"]
    assert started == [{"agent": li}, {"queue": "billing"}], started
    assert await lphone.wait(15) == 0, lphone.explain()
    ev.stop()


async def test_blind_transfer_to_a_flow(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await Center.create(telephony_client, sipp_peers, tmp_path)
    ev = Events(telephony_client)
    await c.fast_queues("fault", wrap_up=30)
    await c.flow("bye-flow", BYE_FLOW)
    caller, phone, cid = await _talking(c, "zhang.wei")
    await act(c, "zhang.wei", cid, "transfer", {"to": {"flow": "no-such-flow"}}, status=422)
    await act(c, "zhang.wei", cid, "transfer", {"to": {"flow": "bye-flow"}})
    assert await caller.wait(30) == 0, caller.explain()  # the flow says goodbye and hangs up
    assert await phone.wait(15) == 0, phone.explain()
    await c.idle()
    cdr = await c.call(cid)
    assert cdr["ended_by"] == "system" and cdr["data"]["transfers"][0]["kind"] == "flow", cdr
    assert any(s["flow"] == "bye-flow" for s in cdr["ivr_path"]), cdr["ivr_path"]
    assert (await c.state("zhang.wei")) == "wrap_up"
    ev.stop()


# -- supervision with real audio -------------------------------------------------------------------

CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ = 900.0, 600.0, 1400.0


def _amplitude(frame: Any, hz: float) -> float:
    x = np.asarray(frame, dtype=np.float64)
    t = np.arange(len(x)) / 8000.0
    return float(abs(np.dot(x, np.exp(-2j * np.pi * hz * t))) * 2 / max(1, len(x)))


async def heard(c: Center, leg: Any, frames: int = 25) -> set[float]:
    """Which of the three tones the engine sends to ``leg``'s phone (its output frames)."""
    freqs = (CALLER_HZ, AGENT_HZ, SUPERVISOR_HZ)
    sums = dict.fromkeys(freqs, 0.0)
    for _ in range(frames):
        out = c.tele.media._legs[leg.endpoint.id].output
        if out is not None:
            for f in freqs:
                sums[f] += _amplitude(out, f)
        await asyncio.sleep(0.02)
    return {f for f in freqs if sums[f] / frames > 400.0}


async def test_listen_whisper_barge_takeover_release_with_real_audio(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await Center.create(telephony_client, sipp_peers, tmp_path)
    ev = Events(telephony_client)
    await c.fast_queues("fault", wrap_up=30)
    agent_phone = await c.phone(
        "zhang.wei", ring_ms=300, hangup_by="remote", talk_ms=None, tone=c.tone(AGENT_HZ, 30.0, "PCMU")
    )
    sup_phone = await c.phone(
        "wang.fang", ring_ms=200, hangup_by="remote", talk_ms=None, calls=2,
        tone=c.tone(SUPERVISOR_HZ, 30.0, "PCMU"),
    )  # fmt: skip
    await c.login("zhang.wei")
    await c.login("wang.fang", ready=False)  # the supervisor's phone: where she is logged in
    caller = await c.caller(
        "caller",
        "95598",
        [Pause(1000), c.digits("2"), Play(c.tone(CALLER_HZ, 30.0, "PCMA"), wait=False)],
        expect_bye=True,
        bye_timeout=60,
    )
    cid = (await connected_call(c, "zhang.wei"))["id"]
    call = c.tele.calls._calls[cid]
    st = call.service
    caller_leg, agent_leg = st.caller, st.agent_leg
    await asyncio.sleep(0.5)
    assert await heard(c, caller_leg) == {AGENT_HZ}
    assert await heard(c, agent_leg) == {CALLER_HZ}
    # an agent may not supervise; unknown call 404
    await act(c, "li.na", cid, "supervise", {"mode": "listen"}, status=403)
    await act(c, "wang.fang", "c-none", "supervise", {"mode": "listen"}, status=404)
    await act(c, "wang.fang", cid, "supervise/stop", status=409)
    fang = c.users["wang.fang"]

    async def supervisor_active() -> bool:
        docs = [d for d in await live(c, "wang.fang") if d["id"] == cid]
        return bool(docs and docs[0]["supervisors"] and docs[0]["supervisors"][0]["state"] == "active")

    doc = await act(c, "wang.fang", cid, "supervise", {"mode": "listen"})
    assert doc["supervisors"][0]["user_id"] == fang and doc["supervisors"][0]["extension"] == "1003", doc
    await until(supervisor_active, 10, "the supervisor's phone to answer", step=0.1)
    sup_leg = call.control.supervisor.leg
    await asyncio.sleep(0.5)
    assert await heard(c, sup_leg) == {CALLER_HZ, AGENT_HZ}
    assert await heard(c, agent_leg) == {CALLER_HZ}
    assert await heard(c, caller_leg) == {AGENT_HZ}
    await act(c, "wang.fang", cid, "supervise", {"mode": "whisper"})
    await asyncio.sleep(0.1)
    assert await heard(c, agent_leg) == {CALLER_HZ, SUPERVISOR_HZ}
    assert await heard(c, caller_leg) == {AGENT_HZ}
    await act(c, "wang.fang", cid, "supervise", {"mode": "barge"})
    await asyncio.sleep(0.1)
    assert await heard(c, caller_leg) == {AGENT_HZ, SUPERVISOR_HZ}
    assert await heard(c, agent_leg) == {CALLER_HZ, SUPERVISOR_HZ}
    assert await heard(c, sup_leg) == {CALLER_HZ, AGENT_HZ}
    # muting is refused while supervised (the engine has one mix per leg)
    await act(c, "zhang.wei", cid, "mute", {"muted": True}, status=409)
    stopped = await act(c, "wang.fang", cid, "supervise/stop")
    assert stopped["supervisors"] == [], stopped
    await asyncio.sleep(0.1)
    assert await heard(c, caller_leg) == {AGENT_HZ}
    assert await heard(c, agent_leg) == {CALLER_HZ}
    # take over: supervise again, then replace the agent
    await act(c, "wang.fang", cid, "takeover", status=409)
    await act(c, "wang.fang", cid, "supervise", {"mode": "listen", "extension": "1003"})
    await until(supervisor_active, 10, "the supervisor's phone to answer again", step=0.1)
    taken = await act(c, "wang.fang", cid, "takeover")
    assert taken["agent_id"] == fang and taken["supervisors"] == [] and taken["state"] == "connected", taken
    await c.wait_state("zhang.wei", "wrap_up")
    assert await agent_phone.wait(15) == 0, agent_phone.explain()  # BYE to the agent's phone
    await asyncio.sleep(0.3)
    assert await heard(c, caller_leg) == {SUPERVISOR_HZ}
    await act(c, "zhang.wei", cid, "release", status=403)
    released = await act(c, "wang.fang", cid, "release")
    assert released["state"] == "ended"
    assert await caller.wait(20) == 0, caller.explain()
    assert await sup_phone.wait(15) == 0, sup_phone.explain()
    await c.idle()
    cdr = await c.call(cid)
    assert cdr["ended_by"] == "supervisor" and cdr["data"]["released_by"] == fang, cdr
    assert cdr["data"]["takeover"]["by"] == fang, cdr["data"]
    assert cdr["data"]["takeover"]["from_agent"] == c.users["zhang.wei"]
    assert [s["mode"] for s in cdr["data"]["supervisors"]] == ["listen", "listen"], cdr["data"]
    sup_states = [(e["data"]["mode"], e["data"]["state"]) for e in ev.of(cid, "supervise")]
    assert sup_states == [
        ("listen", "started"), ("whisper", "changed"), ("barge", "changed"), ("barge", "ended"),
        ("listen", "started"),
    ], sup_states  # fmt: skip
    assert ev.of(cid, "takeover") and ev.of(cid, "call_released")
    ev.stop()


async def test_consultation_cancel_conference_complete(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await Center.create(telephony_client, sipp_peers, tmp_path)
    ev = Events(telephony_client)
    await c.fast_queues("fault", wrap_up=30)
    zphone = await c.phone(
        "zhang.wei", ring_ms=300, hangup_by="remote", talk_ms=None, tone=c.tone(AGENT_HZ, 30.0, "PCMU")
    )
    lphone = await c.phone(
        "li.na", ring_ms=1200, hangup_by="remote", talk_ms=None, calls=2,
        tone=c.tone(SUPERVISOR_HZ, 30.0, "PCMU"),
    )  # fmt: skip
    await c.login("zhang.wei")
    await c.login("li.na", ready=False)
    caller = await c.caller(
        "caller",
        "95598",
        [Pause(1000), c.digits("2"), Play(c.tone(CALLER_HZ, 30.0, "PCMA"), wait=False)],
        expect_bye=True,
        bye_timeout=60,
    )
    cid = (await connected_call(c, "zhang.wei"))["id"]
    call = c.tele.calls._calls[cid]
    caller_leg = call.service.caller
    li, zhang = c.users["li.na"], c.users["zhang.wei"]
    await act(c, "zhang.wei", cid, "transfer/complete", status=409)
    await act(c, "zhang.wei", cid, "transfer", {"mode": "consult", "to": {"flow": "verify-pin"}}, status=422)
    doc = await act(c, "zhang.wei", cid, "transfer", {"mode": "consult", "to": {"agent": li}})
    assert doc["state"] == "consulting" and doc["on_hold"] is True, doc
    assert doc["transfer"] == {"mode": "consult", "to": {"agent": li}, "state": "ringing"}, doc
    r = await act(c, "zhang.wei", cid, "transfer/complete", status=409)
    assert "(state: ringing)" in r["detail"], r
    await act(c, "zhang.wei", cid, "hold", status=409)

    async def talking() -> bool:
        d = [x for x in await live(c, "zhang.wei") if x["id"] == cid]
        return bool(d and d[0]["transfer"] and d[0]["transfer"]["state"] == "talking")

    await until(talking, 10, "the consulted agent to answer", step=0.1)
    agent_leg = call.service.agent_leg
    consult_leg = call.control.consult.leg
    await asyncio.sleep(0.4)
    assert c.tele.media._legs[caller_leg.endpoint.id].playback is not None  # music on hold
    assert await heard(c, agent_leg) == {SUPERVISOR_HZ}  # agent and consulted talk privately
    assert await heard(c, consult_leg) == {AGENT_HZ}
    back = await act(c, "zhang.wei", cid, "transfer/cancel")
    assert back["state"] == "connected" and back["transfer"] is None and not back["on_hold"], back
    await asyncio.sleep(0.2)
    assert await heard(c, caller_leg) == {AGENT_HZ}
    # again, then a three-way call, then hand the caller over
    await act(c, "zhang.wei", cid, "transfer", {"mode": "consult", "to": {"agent": li}})
    await until(talking, 10, "the consulted agent to answer again", step=0.1)
    consult_leg = call.control.consult.leg
    conf = await act(c, "zhang.wei", cid, "conference")
    assert conf["state"] == "conference" and not conf["on_hold"], conf
    await asyncio.sleep(0.3)
    assert await heard(c, caller_leg) == {AGENT_HZ, SUPERVISOR_HZ}
    assert await heard(c, agent_leg) == {CALLER_HZ, SUPERVISOR_HZ}
    assert await heard(c, consult_leg) == {CALLER_HZ, AGENT_HZ}
    done = await act(c, "zhang.wei", cid, "transfer/complete")
    assert done["state"] == "connected" and done["agent_id"] == li and done["transfer"] is None, done
    await c.wait_state("zhang.wei", "wrap_up")
    assert await zphone.wait(15) == 0, zphone.explain()
    await asyncio.sleep(0.3)
    assert await heard(c, caller_leg) == {SUPERVISOR_HZ}
    await act(c, "li.na", cid, "hangup")  # now li.na's call
    assert await caller.wait(20) == 0, caller.explain()
    assert await lphone.wait(15) == 0, lphone.explain()
    await c.idle()
    cdr = await c.call(cid)
    assert cdr["hold_seconds"] and cdr["hold_seconds"] > 0.5, cdr
    [t] = cdr["data"]["transfers"]
    assert (t["mode"], t["kind"], t["to"], t["from_agent"]) == ("consult", "agent", li, zhang), t
    assert cdr["data"]["conferences"][0]["by"] == zhang
    states = [e["data"]["state"] for e in ev.of(cid, "transfer")]
    assert states == ["started", "answered", "cancelled", "started", "answered", "completed"], states
    assert ev.of(cid, "conference")
    ev.stop()


async def test_click_to_dial_agent_phone_first_then_the_number(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await Center.create(telephony_client, sipp_peers, tmp_path)
    ev = Events(telephony_client)
    zhang = c.users["zhang.wei"]
    h = c.tokens["zhang.wei"]
    r = await c.client.post(f"/api/v1/agents/{zhang}/dial", json={"number": "1001"}, headers=h)
    assert r.status_code == 409 and "log in" in r.json()["detail"], r.text
    zphone = await c.phone(
        "zhang.wei", ring_ms=300, hangup_by="remote", talk_ms=None, tone=c.tone(AGENT_HZ, 20.0, "PCMU")
    )
    customer = await c.phone(  # "the customer": a SIPp phone registered as extension 1001
        "li.na", ring_ms=500, hangup_by="remote", talk_ms=None, tone=c.tone(CALLER_HZ, 20.0, "PCMU")
    )
    await c.login("zhang.wei", ready=False)
    r = await c.client.post(f"/api/v1/agents/{zhang}/dial", json={"number": "013812345678"}, headers=h)
    assert r.status_code == 409 and "no outbound trunk" in r.json()["detail"], r.text
    r = await c.client.post(
        f"/api/v1/agents/{zhang}/dial", json={"number": "1001"}, headers=c.tokens["li.na"]
    )
    assert r.status_code == 403, r.text
    r = await c.client.post(f"/api/v1/agents/{zhang}/dial", json={"number": "1001"}, headers=h)
    assert r.status_code == 200, r.text
    cid = r.json()["id"]
    assert r.json()["direction"] == "outbound" and r.json()["agent_id"] == zhang, r.json()
    doc = await connected_call(c, "zhang.wei")
    assert doc["id"] == cid and doc["agent_id"] == zhang and doc["dialed"] == "1001", doc
    call = c.tele.calls._calls[cid]
    agent_leg, cust_leg = call.control.dial_legs
    await asyncio.sleep(0.4)
    assert await heard(c, agent_leg) == {CALLER_HZ}
    assert await heard(c, cust_leg) == {AGENT_HZ}
    await act(c, "zhang.wei", cid, "hold")
    await asyncio.sleep(0.2)
    await act(c, "zhang.wei", cid, "resume")
    await act(c, "zhang.wei", cid, "hangup")
    assert await zphone.wait(15) == 0, zphone.explain()
    assert await customer.wait(15) == 0, customer.explain()
    await c.idle()
    cdr = await c.call(cid)
    assert cdr["direction"] == "outbound" and cdr["agent_id"] == zhang and cdr["dialed"] == "1001", cdr
    assert cdr["answered_at"] and cdr["recording_path"], cdr
    assert [leg["role"] for leg in cdr["legs"]] == ["agent", "callee"], cdr["legs"]
    dial_states = [e["data"]["state"] for e in ev.of(cid, "dial")]
    assert dial_states == ["agent_ringing", "customer_ringing", "connected"], dial_states
    assert ev.of(cid, "call_ended") and ev.of(cid, "call_answered")
    assert (await c.state("zhang.wei")) == "not_ready"  # as before the call
    ev.stop()


async def test_answer_needs_auto_answer_and_pickup_takes_a_colleagues_call(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await Center.create(telephony_client, sipp_peers, tmp_path)
    ev = Events(telephony_client)
    await c.fast_queues("fault", wrap_up=30, ring_timeout=30)
    zphone = await c.phone("zhang.wei", answer=False, calls=2)  # rings until CANCEL
    lphone = await c.phone("li.na", ring_ms=300, hangup_by="remote", talk_ms=None)
    await c.login("zhang.wei")
    await c.login("li.na", ready=False)
    zhang, li = c.users["zhang.wei"], c.users["li.na"]
    caller = await c.caller(
        "caller", "95598", [Pause(1000), c.digits("2"), Play(c.tone(CALLER_HZ, 20.0, "PCMA"), wait=False)],
        expect_bye=True, bye_timeout=40,
    )  # fmt: skip

    async def ringing_at(uid: int) -> dict[str, Any] | None:
        docs = [d for d in await live(c) if d["ringing_agents"] == [uid]]
        return docs[0] if docs else None

    doc = await until(lambda: ringing_at(zhang), 15, "the call ringing at zhang.wei", step=0.1)
    cid = doc["id"]
    assert doc["state"] == "ringing", doc
    r = await c.client.post(f"/api/v1/agents/{zhang}/answer", json={}, headers=c.tokens["zhang.wei"])
    assert r.status_code == 409 and "answer on the phone" in r.json()["detail"], r.text
    await act(c, "li.na", cid, "hold", status=403)  # not hers (yet)
    out = await act(c, "li.na", cid, "pickup")
    assert out["id"] == cid and out["state"] in ("queued", "ringing"), out
    await until(lambda: "cancelled" in zphone.log(), 10, "the colleague's phone to be cancelled")
    assert (await c.state("zhang.wei")) == "available"  # not blamed for the withdrawn offer
    await c.ready("li.na")
    doc = await connected_call(c, "li.na")
    assert doc["id"] == cid and doc["agent_id"] == li, doc
    assert ev.of(cid, "pickup")[0]["data"]["outcome"] == "reserved"
    await act(c, "li.na", cid, "hangup")
    assert await caller.wait(20) == 0, caller.explain()
    assert await lphone.wait(15) == 0, lphone.explain()
    await c.idle()
    # auto-answer: the next offer to zhang.wei carries the headers; answer is then accepted
    r = await c.client.post(
        f"/api/v1/agents/{zhang}/answer", json={"auto_answer": True}, headers=c.tokens["zhang.wei"]
    )
    assert r.status_code == 409 and "no call is ringing" in r.json()["detail"], r.text
    caller2 = await c.caller(
        "caller2", "95598", [Pause(1000), c.digits("2")], hangup_after=6.0, number="13912340002"
    )
    doc = await until(lambda: ringing_at(zhang), 15, "the second call ringing at zhang.wei", step=0.1)
    r = await c.client.post(f"/api/v1/agents/{zhang}/answer", json={}, headers=c.tokens["zhang.wei"])
    assert r.status_code == 200 and r.json()["id"] == doc["id"], r.text
    assert any("answer-after=0" in v for v in zphone.received_headers("Call-Info")), zphone.received("INVITE")
    [ring] = ev.of(doc["id"], "call_ringing")
    assert ring["data"]["auto_answer"] is True
    assert await caller2.wait(20) == 0, caller2.explain()
    assert await zphone.wait(15) == 0, zphone.explain()
    ev.stop()


async def test_blind_transfer_to_an_outside_number_through_the_trunk(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await Center.create(telephony_client, sipp_peers, tmp_path)
    ev = Events(telephony_client)
    await c.fast_queues("fault", wrap_up=30)
    caller, phone, cid = await _talking(c, "zhang.wei")
    # the "gateway" of the outbound trunk is a SIPp phone: it answers any INVITE
    gateway = await c.phone("wang.fang", ring_ms=200, talk_ms=1500)
    c.tele.services.outbound_trunk = f"sip:{{number}}@127.0.0.1:{gateway.local_port}"
    doc = await act(c, "zhang.wei", cid, "transfer", {"to": {"number": "013812345678"}})
    assert doc["agent_id"] is None, doc
    await c.wait_state("zhang.wei", "wrap_up")
    assert await caller.wait(30) == 0, caller.explain()  # the gateway hangs up after 1.5 s
    assert await gateway.wait(15) == 0, gateway.explain()
    assert await phone.wait(15) == 0, phone.explain()
    await c.idle()
    cdr = await c.call(cid)
    [t] = cdr["data"]["transfers"]
    assert (t["kind"], t["to"]) == ("number", "013812345678"), t
    assert cdr["ended_by"] == "callee", cdr
    assert gateway.received("INVITE"), gateway.explain()
    assert any(e["data"]["state"] == "started" for e in ev.of(cid, "transfer"))
    ev.stop()


async def test_agent_hanging_up_during_a_consultation_hands_the_caller_over(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await Center.create(telephony_client, sipp_peers, tmp_path)
    ev = Events(telephony_client)
    await c.fast_queues("fault", wrap_up=30)
    zphone = await c.phone("zhang.wei", ring_ms=300, hangup_by="phone", talk_ms=5000)
    lphone = await c.phone("li.na", ring_ms=300, hangup_by="phone", talk_ms=9000)
    await c.login("zhang.wei")
    await c.login("li.na", ready=False)
    caller = await c.caller(
        "caller", "95598", [Pause(1000), c.digits("2"), Play(c.tone(CALLER_HZ, 30.0, "PCMA"), wait=False)],
        expect_bye=True, bye_timeout=60,
    )  # fmt: skip
    cid = (await connected_call(c, "zhang.wei"))["id"]
    li = c.users["li.na"]
    await act(c, "zhang.wei", cid, "transfer", {"mode": "consult", "to": {"agent": li}})
    assert await zphone.wait(20) == 0, zphone.explain()  # zhang.wei hangs up after 5 s
    doc = await connected_call(c, "li.na")
    assert doc["id"] == cid and doc["agent_id"] == li and doc["transfer"] is None, doc
    await c.wait_state("zhang.wei", "wrap_up")
    assert await caller.wait(30) == 0, caller.explain()  # li.na hangs up after 9 s
    assert await lphone.wait(15) == 0, lphone.explain()
    await c.idle()
    cdr = await c.call(cid)
    assert cdr["ended_by"] == "callee" and cdr["data"]["transfers"][0]["mode"] == "consult", cdr
    states = [e["data"]["state"] for e in ev.of(cid, "transfer")]
    assert states == ["started", "answered", "completed"], states
    ev.stop()
