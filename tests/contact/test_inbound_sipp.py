"""The inbound call path end to end with real peers: SIPp outside callers (RFC 4733 digits) and
SIPp agent phones registered as the demo extensions; agents work through the REST API.

Every test checks the CDR, the queue event log and, for answered calls, the stereo recording.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from tests.contact.pathtools import CUSTOMER, Center, offers, ordered, until, wav_seconds
from tests.peers import sipp
from tests.peers.sipp import Pause, Play, SippPeers, Step

sipp_peers = sipp.sipp_peers  # the fixture


async def center(client: AsyncClient, peers: SippPeers, tmp: Path) -> Center:
    return await Center.create(client, peers, tmp)


async def test_menu_choice_queue_agent_answers_talk_hangup(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await center(telephony_client, sipp_peers, tmp_path)
    await c.fast_queues("fault", wrap_up=30)
    phone = await c.phone("zhang.wei", ring_ms=300, talk_ms=2000)
    assert (await c.login("zhang.wei"))["state"] == "available"
    caller = await c.caller(
        "caller",
        "95598",
        [Pause(1000), c.digits("2"), Play(c.tone(900.0, 6.0, "PCMA"), wait=False)],
        expect_bye=True,
        bye_timeout=30,
    )
    assert await caller.wait(40) == 0, caller.explain()
    assert await phone.wait(15) == 0, phone.explain()
    await c.idle()
    [call] = await c.calls()
    uid = c.users["zhang.wei"]
    assert phone.outcomes() == [("hangup", call["id"], "fault")], phone.explain()
    assert phone.received_headers("X-Hotline-Call-Id")[:1] == [call["id"]]
    assert phone.received_headers("X-Hotline-Queue")[:1] == ["fault"]
    assert call["flow"] == "95598-zh" and call["queue"] == "fault" and call["agent_id"] == uid, call
    assert CUSTOMER in call["caller"], call["caller"]
    assert call["ended_by"] == "callee" and call["end_cause"] == "normal", call
    assert [s["node"] for s in call["ivr_path"]][-2:] == ["menu", "fault"], call["ivr_path"]
    assert any(s["digits"] == "2" for s in call["ivr_path"]), call["ivr_path"]
    assert call["queue_position"] == 1 and call["abandon_point"] == ""
    assert offers(call) == [(uid, "answered")]
    assert 0 <= call["wait_seconds"] < 3, call
    assert 1.5 <= call["talk_seconds"] < 4, call
    c.recording(call, at_least=1.5)
    names = await c.event_names(call["id"])
    assert ordered(
        names, "ivr_start", "enter_queue", "offer", "connect", "bridged", "complete", "call_end"
    ), names
    enter = next(e for e in await c.events(call["id"]) if e["event"] == "enter_queue")
    assert enter["queue"] == "fault" and enter["data"].get("priority") == 5, enter
    assert (await c.state("zhang.wei")) == "wrap_up"
    st = await c.wrap_up("zhang.wei", "resolved")
    assert st["state"] == "available" and st["calls_handled"] == 1
    call = await c.call(call["id"])
    assert call["disposition"] == "resolved" and 0 <= call["wrap_up_seconds"] < 5, call
    assert "disposition" in await c.event_names(call["id"])


async def test_abandon_in_queue(telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers) -> None:
    c = await center(telephony_client, sipp_peers, tmp_path)
    await c.fast_queues("general")
    assert (await c.login("li.na", ready=False))["state"] == "not_ready"  # nobody ready
    caller = await c.caller("caller", "95598", [Pause(1000), c.digits("0")], hangup_after=4.0)
    assert await caller.wait(30) == 0, caller.explain()
    await c.idle()
    [call] = await c.calls()
    assert call["queue"] == "general" and call["abandon_point"] == "queue", call
    assert call["ended_by"] == "caller" and call["agent_id"] is None and call["answered_at"] is None, call
    assert call["offers"] == [] and call["talk_seconds"] is None and not call["recording_path"], call
    assert call["queue_position"] == 1
    assert 1.5 <= call["wait_seconds"] <= 3.5, call
    names = await c.event_names(call["id"])
    assert ordered(names, "ivr_start", "enter_queue", "abandon", "call_end"), names
    assert "offer" not in names and "connect" not in names
    end = next(e for e in await c.events(call["id"]) if e["event"] == "call_end")
    assert end["data"]["abandon_point"] == "queue" and end["data"]["ended_by"] == "caller", end
    assert (await c.state("li.na")) == "not_ready"


async def test_abandon_while_the_agent_phone_rings(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await center(telephony_client, sipp_peers, tmp_path)
    await c.fast_queues("general", ring_timeout=30)
    phone = await c.phone("li.na", answer=False)
    await c.login("li.na")
    caller = await c.caller("caller", "95598", [Pause(1000), c.digits("0")], hangup_after=4.0)
    # the phone rings while the caller is still on the line
    await until(lambda: "INVITE" in phone.log(), 10, "the agent's phone to ring")
    assert (await c.state("li.na")) == "reserved"
    assert await caller.wait(30) == 0, caller.explain()
    # the offer is withdrawn at once: the phone gets CANCEL and the agent is free again
    await c.wait_state("li.na", "available", 2.0)
    assert await phone.wait(10) == 0, phone.explain()
    await c.idle()
    [call] = await c.calls()
    assert phone.outcomes() == [("cancelled", call["id"], "general")], phone.explain()
    assert call["abandon_point"] == "ringing" and call["ended_by"] == "caller", call
    assert call["agent_id"] is None and not call["recording_path"], call
    assert offers(call) == [(c.users["li.na"], "caller_left")], call["offers"]
    names = await c.event_names(call["id"])
    assert ordered(names, "enter_queue", "offer", "abandon", "call_end"), names
    assert "connect" not in names and "phone_failed" not in names, names
    st = await c.agent("li.na")
    assert st["state"] == "available" and st["reason"] in (None, ""), st
    assert st["offers"] == [] and st["calls_handled"] == 0, st


async def test_ring_no_answer_requeues_to_the_next_agent(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await center(telephony_client, sipp_peers, tmp_path)
    await c.fast_queues("general", ring_timeout=3)
    silent = await c.phone("li.na", answer=False)
    answering = await c.phone("zhang.wei", ring_ms=300, talk_ms=1500)
    await c.login("li.na")  # idle longest: offered first
    await c.login("zhang.wei")
    caller = await c.caller(
        "caller", "95598", [Pause(1000), c.digits("0"), Play(c.tone(900.0, 8.0, "PCMA"), wait=False)],
        expect_bye=True, bye_timeout=30,
    )  # fmt: skip
    assert await caller.wait(40) == 0, caller.explain()
    assert await answering.wait(15) == 0, answering.explain()
    assert await silent.wait(15) == 0, silent.explain()
    await c.idle()
    [call] = await c.calls()
    li, zhang = c.users["li.na"], c.users["zhang.wei"]
    assert silent.outcomes() == [("cancelled", call["id"], "general")], silent.explain()
    assert answering.outcomes() == [("hangup", call["id"], "general")], answering.explain()
    assert offers(call) == [(li, "rona"), (zhang, "answered")], call["offers"]
    assert call["agent_id"] == zhang and call["abandon_point"] == "", call
    assert 3 <= call["wait_seconds"] < 6, call
    c.recording(call, at_least=1.0)
    st = await c.agent("li.na")
    assert st["state"] == "not_ready" and st["reason"] == "rona", st
    names = await c.event_names(call["id"])
    assert ordered(
        names, "enter_queue", "offer", "offer_withdrawn", "offer", "connect", "complete", "call_end"
    ), names
    await c.wait_state("zhang.wei", "wrap_up", 2)
    st = await c.wrap_up("zhang.wei", "info_given")
    assert st["state"] == "available"
    call = await c.call(call["id"])
    assert call["disposition"] == "info_given" and call["wrap_up_seconds"] is not None, call


async def test_overflow_to_another_queue_and_agent(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await center(telephony_client, sipp_peers, tmp_path)
    await c.fast_queues("general")
    await c.fast_queues("fault", overflow=[{"target": "general", "after": 2}])
    phone = await c.phone("wang.fang", ring_ms=300, talk_ms=1500)  # serves general, not fault
    await c.login("wang.fang")
    caller = await c.caller(
        "caller", "95598", [Pause(1000), c.digits("2"), Play(c.tone(900.0, 8.0, "PCMA"), wait=False)],
        expect_bye=True, bye_timeout=30,
    )  # fmt: skip
    assert await caller.wait(40) == 0, caller.explain()
    assert await phone.wait(15) == 0, phone.explain()
    await c.idle()
    [call] = await c.calls()
    wang = c.users["wang.fang"]
    assert phone.outcomes() == [("hangup", call["id"], "general")], phone.explain()
    assert call["queue"] == "general" and call["agent_id"] == wang, call
    assert [(o["from"], o["to"]) for o in call["data"]["overflows"]] == [("fault", "general")], call["data"]
    assert offers(call) == [(wang, "answered")]
    assert 2 <= call["wait_seconds"] < 4.5, call
    c.recording(call, at_least=1.0)
    events = await c.events(call["id"])
    names = [e["event"] for e in events]
    assert ordered(names, "enter_queue", "overflow", "offer", "connect", "complete", "call_end"), names
    enter = next(e for e in events if e["event"] == "enter_queue")
    overflow = next(e for e in events if e["event"] == "overflow")
    assert enter["queue"] == "fault" and overflow["queue"] == "fault", overflow
    assert overflow["data"]["to_queue"] == "general", overflow
    assert [e["queue"] for e in events if e["event"] == "offer"] == ["general"]
    st = await c.wrap_up("wang.fang", "transferred")
    assert st["calls_handled"] == 1 and st["state"] == "available"
    call = await c.call(call["id"])
    assert call["disposition"] == "transferred" and call["wrap_up_seconds"] is not None, call


@pytest.mark.slow
async def test_callback_request_from_the_queue(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await center(telephony_client, sipp_peers, tmp_path)
    await c.fast_queues("general", callback_offer_after=0, announce_first=0.5)
    # li.na's phone is registered, but nobody is logged in: the expected wait is unknown, so the
    # callback key is offered in the first announcement
    phone = await c.phone("li.na", ring_ms=300, talk_ms=None, hangup_by="remote")
    caller = await c.caller(
        "caller", "95598", [Pause(1000), c.digits("0"), Pause(2500), c.digits("1")],
        expect_bye=True, bye_timeout=30,
    )  # fmt: skip
    [cb] = await until(c.callbacks, 15, "the callback request")
    assert cb["status"] == "pending" and cb["queue"] == "general" and CUSTOMER in cb["number"], cb
    assert cb["agent_id"] is None and cb["attempts"] == 0
    # the caller hears "callback booked, goodbye" and is hung up on (about 8 s of speech);
    # meanwhile an agent logs in and the callback task rings the agent's phone
    await c.login("li.na")
    assert await caller.wait(40) == 0, caller.explain()
    assert await phone.wait(30) == 0, phone.explain()
    await c.idle()
    assert phone.received_headers("X-Hotline-Callback")[:1] == [cb["number"]], phone.explain()
    assert phone.received_headers("X-Hotline-Queue")[:1] == ["general"]
    calls = {x["direction"]: x for x in await c.calls()}
    call = calls["inbound"]
    assert call["id"] == cb["call_id"] and call["queue"] == "general"
    assert call["ended_by"] == "system" and call["abandon_point"] == "" and call["agent_id"] is None, call
    assert call["data"]["queue_exit"] == "callback" and call["data"]["callback"]["id"] == cb["id"]
    assert call["offers"] == [] and not call["recording_path"]
    events = await c.events(call["id"])
    names = [e["event"] for e in events]
    assert ordered(names, "enter_queue", "announcement", "exit_with_key", "callback_requested", "call_end"), (
        names
    )
    ann = next(e for e in events if e["event"] == "announcement")
    assert "请按1键" in ann["data"]["text"], ann
    out = calls["outbound"]  # the agent's leg of the callback
    assert out["dialed"] == cb["number"] and out["data"]["callback_id"] == cb["id"], out
    [cb] = await c.callbacks()
    assert cb["status"] == "handed_to_agent" and cb["agent_id"] == c.users["li.na"] and cb["attempts"] == 1, (
        cb
    )
    assert cb["done_at"] is not None


CLOSED = {"name": "closed for the test", "timezone": "Asia/Shanghai", "week": {}}


@pytest.mark.slow
async def test_after_hours_flow_takes_a_voicemail(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await center(telephony_client, sipp_peers, tmp_path)
    r = await telephony_client.post("/api/v1/calendars", json=CLOSED, headers=c.admin)
    assert r.status_code == 201, r.text
    await c.number("95598200", "95598-zh", calendar=CLOSED["name"], after_hours_flow="after-hours-zh")
    # the prompts are rendered before the call: a cold espeak-ng on a busy CI machine once took
    # long enough that the caller hung up before the beep
    for text in (
        "您好，现在是非工作时间。",
        "故障报修请按1，留言请按2，预约回电请按3。",
        "请在提示音后留言，留言完毕请挂机。",
    ):
        await c.tele.tts.render(text, "cmn")
    # "2" (typed ahead during the greeting): leave a message; the prompt before the beep takes
    # about 7 s (espeak-ng, not barge-in); the caller talks (a tone) and hangs up at 16 s
    caller = await c.caller(
        "caller", "95598200", [Pause(1000), c.digits("2"), Play(c.tone(700.0, 20.0, "PCMA"), wait=False)],
        hangup_after=16.0,
    )  # fmt: skip
    assert await caller.wait(40) == 0, caller.explain()
    await c.idle()
    [call] = await c.calls()
    assert call["flow"] == "after-hours-zh" and call["dialed"] == "95598200", call
    assert {s["flow"] for s in call["ivr_path"]} == {"after-hours-zh"}, call["ivr_path"]
    assert [s["node"] for s in call["ivr_path"]][-2:] == ["menu", "voicemail"], call["ivr_path"]
    assert call["queue"] == "" and call["agent_id"] is None and call["ended_by"] == "caller", call
    [start] = [e for e in await c.events(call["id"]) if e["event"] == "ivr_start"]
    assert start["data"] == {"number": "95598200", "flow": "after-hours-zh"}, start
    # the message is stored when its recording stops, which may be just after the call ended
    [vm] = await until(c.voicemails, 10, "the voicemail to be stored")
    assert vm["call_id"] == call["id"] and vm["box"] == "general" and CUSTOMER in vm["caller"], vm
    seconds, _ = wav_seconds(c.data_dir / vm["path"])
    assert 1.0 < vm["seconds"] < 10 and abs(seconds - vm["seconds"]) < 1.0, (seconds, vm)
    assert "voicemail" in await c.event_names(call["id"])


@pytest.mark.slow
async def test_two_callers_one_agent_in_order(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await center(telephony_client, sipp_peers, tmp_path)
    await c.fast_queues("general", wrap_up=0.5)
    # the callers hang up (a SIPp phone sends every BYE with the same Via branch: a second BYE
    # from the phone would be taken for a retransmission of the first one)
    phone = await c.phone("li.na", ring_ms=200, talk_ms=None, hangup_by="remote", calls=2)
    await c.login("li.na", ready=False)
    steps: list[Step] = [Pause(1000), c.digits("0"), Play(c.tone(900.0, 12.0, "PCMA"), wait=False)]
    first = await c.caller("first", "95598", steps, number="13912340001", hangup_after=5.0)
    await until(lambda: _waiting(c, "general") == 1, 10, "the first caller in the queue")
    second = await c.caller("second", "95598", steps, number="13912340002", hangup_after=8.0)
    await until(lambda: _waiting(c, "general") == 2, 10, "both callers in the queue")
    await c.ready("li.na")
    assert await first.wait(30) == 0, first.explain()
    assert await second.wait(30) == 0, second.explain()
    assert await phone.wait(15) == 0, phone.explain()
    await c.idle()
    a, b = sorted(await c.calls(), key=lambda x: x["started_at"])
    li = c.users["li.na"]
    assert "13912340001" in a["caller"] and "13912340002" in b["caller"]
    assert phone.outcomes() == [("remote_bye", a["id"], "general"), ("remote_bye", b["id"], "general")], (
        phone.explain()
    )
    assert (a["queue_position"], b["queue_position"]) == (1, 2)
    assert offers(a) == [(li, "answered")] and offers(b) == [(li, "answered")]
    assert a["agent_id"] == b["agent_id"] == li and a["ended_by"] == b["ended_by"] == "caller"
    assert a["answered_at"] < b["answered_at"]
    assert b["wait_seconds"] > a["wait_seconds"] + 1.5, (a["wait_seconds"], b["wait_seconds"])
    for call in (a, b):
        c.recording(call, at_least=1.0)
        names = await c.event_names(call["id"])
        assert ordered(names, "enter_queue", "offer", "connect", "complete", "call_end"), names
    await c.wrap_up("li.na", "resolved", call_id=a["id"])
    st = await c.wrap_up("li.na", "work_order", call_id=b["id"])
    assert st["calls_handled"] == 2 and st["state"] == "available"
    a, b = await c.call(a["id"]), await c.call(b["id"])
    assert (a["disposition"], b["disposition"]) == ("resolved", "work_order")
    assert a["wrap_up_seconds"] is not None and b["wrap_up_seconds"] is not None, (a, b)


VIP_FLOW = """name: vip-line
language: zh-CN
start: mark
nodes:
  mark: {type: set, values: {vip: true}, next: agent}
  agent: {type: queue, queue: general, data: {topic: vip}}
"""


async def test_vip_caller_overtakes_the_line(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await center(telephony_client, sipp_peers, tmp_path)
    await c.fast_queues("general", wrap_up=0.5)  # keeps the seed's rule data.vip == true → 50
    await c.flow("vip-line", VIP_FLOW)
    await c.number("95598900", "vip-line")
    phone = await c.phone("zhang.wei", ring_ms=200, talk_ms=None, hangup_by="remote", calls=2)
    await c.login("zhang.wei", ready=False)
    tone = Play(c.tone(900.0, 12.0, "PCMA"), wait=False)
    normal = await c.caller(
        "normal", "95598", [Pause(1000), c.digits("0"), tone], number="13912340001", hangup_after=8.0
    )
    await until(lambda: _waiting(c, "general") == 1, 10, "the normal caller in the queue")
    vip = await c.caller("vip", "95598900", [tone], number="13912340002", hangup_after=3.0)
    await until(lambda: _waiting(c, "general") == 2, 10, "the VIP caller in the queue")
    assert _line(c, "general")[0] != (await c.calls(dialed="95598"))[0]["id"], "the VIP is first in line"
    await c.ready("zhang.wei")
    assert await vip.wait(30) == 0, vip.explain()
    assert await normal.wait(30) == 0, normal.explain()
    assert await phone.wait(15) == 0, phone.explain()
    await c.idle()
    by_dialed = {x["dialed"]: x for x in await c.calls()}
    n, v = by_dialed["95598"], by_dialed["95598900"]
    assert phone.outcomes() == [("remote_bye", v["id"], "general"), ("remote_bye", n["id"], "general")], (
        phone.explain()
    )
    assert v["flow"] == "vip-line" and v["data"].get("vip") is True, v
    assert n["queue_position"] == 1 and v["queue_position"] == 1, (n, v)  # the VIP went to the front
    assert n["started_at"] < v["started_at"] and v["answered_at"] < n["answered_at"]
    assert v["wait_seconds"] < n["wait_seconds"]
    v_enter = next(e for e in await c.events(v["id"]) if e["event"] == "enter_queue")
    n_enter = next(e for e in await c.events(n["id"]) if e["event"] == "enter_queue")
    assert v_enter["data"]["priority"] == 50 and n_enter["data"]["priority"] == 0, (v_enter, n_enter)
    for call in (v, n):
        c.recording(call, at_least=1.0)
        assert ordered(
            await c.event_names(call["id"]), "enter_queue", "offer", "connect", "complete", "call_end"
        )
    await c.wrap_up("zhang.wei", "resolved", call_id=v["id"])
    await c.wrap_up("zhang.wei", "info_given", call_id=n["id"])
    v, n = await c.call(v["id"]), await c.call(n["id"])
    assert (v["disposition"], n["disposition"]) == ("resolved", "info_given")
    assert v["wrap_up_seconds"] is not None and n["wrap_up_seconds"] is not None


def _line(c: Center, queue: str) -> list[str]:
    return list(c.tele.center.acd.tenant(1).engine.waiting(queue))


def _waiting(c: Center, queue: str) -> int:
    return len(c.tele.center.acd.tenant(1).engine.waiting(queue))


TRANSFER_FLOW = """name: xfer
language: zh-CN
start: choose
nodes:
  choose:
    type: menu
    prompt: "转分机请按1，转外线请按2。"
    options: {"1": to-desk, "2": to-outside}
    timeout: 5
    on_max_retries: to-desk
  to-desk: {type: transfer, target: "1003"}
  to-outside: {type: transfer, target: "02584001234"}
"""


async def test_ivr_transfer_to_an_extension_and_to_an_outside_number(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await center(telephony_client, sipp_peers, tmp_path)
    await c.flow("xfer", TRANSFER_FLOW)
    await c.number("95598300", "xfer")
    desk = await c.phone("wang.fang", ring_ms=200, talk_ms=1500, calls=2)
    # the "gateway" of the outbound trunk is the same SIPp phone: it answers any INVITE
    c.tele.services.outbound_trunk = f"sip:{{number}}@127.0.0.1:{desk.local_port}"
    for digit in ("1", "2"):
        caller = await c.caller(
            f"caller-{digit}", "95598300", [Pause(800), c.digits(digit)], expect_bye=True, bye_timeout=30
        )
        assert await caller.wait(40) == 0, caller.explain()
        await c.idle()
    assert await desk.wait(15) == 0, desk.explain()
    inside, outside = sorted(await c.calls(), key=lambda k: k["started_at"])
    for call in (inside, outside):
        assert call["flow"] == "xfer" and call["end_cause"] == "normal" and call["answered_at"], call
        assert [leg["role"] for leg in call["legs"]] == ["caller", "callee"], call["legs"]
        c.recording(call, at_least=1.0)
    assert "1003" in inside["legs"][1]["remote_uri"]
    assert outside["legs"][1]["remote_uri"].startswith("sip:02584001234@127.0.0.1"), outside["legs"]
    assert [s["node"] for s in outside["ivr_path"]] == ["choose", "to-outside"]


BROKEN_AT_RUNTIME = """name: fragile
language: zh-CN
start: look
fallback_queue: general
nodes:
  look: {type: action, action: billing.boom, args: {caller: "{caller}"}, next: bye}
  bye: {type: hangup, prompt: "再见。"}
"""


async def test_a_failing_plugin_sends_the_caller_to_an_agent_not_to_silence(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers, caplog: Any
) -> None:
    c = await center(telephony_client, sipp_peers, tmp_path)

    async def boom(args: Any, ctx: Any) -> dict[str, Any]:
        raise RuntimeError("billing back-end down")

    c.tele.services.actions.register("billing.boom", boom)
    await c.flow("fragile", BROKEN_AT_RUNTIME)
    await c.number("95598400", "fragile")
    await c.fast_queues("general")
    phone = await c.phone("li.na", ring_ms=200, talk_ms=1500)
    await c.login("li.na")
    caller = await c.caller("caller", "95598400", [Pause(500)], expect_bye=True, bye_timeout=30)
    assert await caller.wait(40) == 0, caller.explain()
    assert await phone.wait(15) == 0, phone.explain()
    await c.idle()
    [call] = await c.calls()
    assert call["queue"] == "general" and call["agent_id"] == c.users["li.na"], call
    assert any("billing back-end down" in e for e in call["data"]["ivr_errors"]), call["data"]
    c.recording(call, at_least=1.0)
    logged = [r.getMessage() for r in caplog.records if "billing.boom" in r.getMessage()]
    assert logged and all(call["id"] in m for m in logged), logged
