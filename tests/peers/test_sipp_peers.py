"""The SIPp peers of :mod:`tests.peers.sipp` against what the server does today: registration,
extension-to-extension calls to a registered SIPp phone, and DTMF to the *43 echo test."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

from httpx import AsyncClient

from hotline.media.dtmf import Rfc4733Receiver
from hotline.media.rtp import RtpPacket, parse_rtp
from hotline.seed import DEMO_SIP_PASSWORD
from tests.cti.calltools import calls, telephony, wait_for
from tests.peers import sipp
from tests.peers.pcapgen import pcap_duration, rfc4733_pcap, tone_pcap
from tests.peers.sipp import (
    Pause,
    Play,
    SippPeers,
    agent_phone_scenario,
    auth_keyword,
    caller_row,
    caller_scenario,
    dtmf_pcap,
    phone_row,
    wait_registered,
)

DOMAIN = "demo"
sipp_peers = sipp.sipp_peers  # the fixture


def _rtp_packets(path: Path) -> list[RtpPacket]:
    data = path.read_bytes()
    out, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack_from("<IIII", data, off)
        frame = data[off + 16 : off + 16 + incl]
        out.append(parse_rtp(frame[14 + 20 + 8 :]))
        off += 16 + incl
    return out


def test_rfc4733_pcap_decodes_to_the_digits(tmp_path: Path) -> None:
    for fill in (None, "PCMU"):
        pcap = rfc4733_pcap(tmp_path / "d.pcap", "1*#55", fill=fill)
        rx = Rfc4733Receiver()
        packets = _rtp_packets(pcap)
        events = [p for p in packets if p.payload_type == 101]
        digits = [d.digit for p in events for d in rx.on_packet(p)]
        assert digits == ["1", "*", "#", "5", "5"]
        assert sum(p.marker for p in events) == 5  # one marker per key press
        assert len({p.ssrc for p in packets}) == 1
        seqs = [p.sequence for p in packets]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert (fill is None) == all(p.payload_type == 101 for p in packets)
        # 100 ms lead, 5 x (200 ms + 20 ms), 4 gaps of 300 ms
        assert 2.2 < pcap_duration(pcap) < 2.5
    assert dtmf_pcap(tmp_path / "x.pcap", "7").name == "dtmf_2833_7.pcap"
    assert dtmf_pcap(tmp_path / "y.pcap", "#") == tmp_path / "y.pcap"


async def test_agent_phone_registers_and_answers_an_extension_call(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    tele = telephony(telephony_client)
    server = tele.sip.udp_address
    tone = tone_pcap(tmp_path / "600.pcap", 600.0, 4.0, codec="PCMU")
    phone = await sipp_peers.phone(
        "1002",
        server,
        agent_phone_scenario(ring_ms=800, talk_ms=2500, tone=tone),
        phone_row("1002", DOMAIN, DEMO_SIP_PASSWORD),
    )
    await wait_registered(phone)
    [contact] = tele.sip.lookup(1, "1002")
    assert f"127.0.0.1:{phone.local_port}" in str(contact.uri), contact
    metrics = (await telephony_client.get("/metrics")).text
    assert "hotline_sip_registered_extensions 1.0" in metrics

    caller_pcap = tone_pcap(tmp_path / "900.pcap", 900.0, 3.0, codec="PCMA")
    caller = await sipp_peers.caller(
        "1001",
        server,
        caller_scenario([Play(caller_pcap, wait=False)], expect_bye=True, bye_timeout=20, authenticate=True),
        caller_row("1001", "1002", auth_keyword("1001", DEMO_SIP_PASSWORD)),
    )
    assert await caller.wait(30) == 0, caller.explain()
    assert await phone.wait(15) == 0, phone.explain()
    await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    assert not tele.sip.lookup(1, "1002"), "the phone unregistered at the end"

    [call] = await calls(telephony_client)
    assert call["answered_at"] and call["end_cause"] == "normal" and call["ended_by"] == "callee", call
    assert phone.outcomes() == [("hangup", call["id"], "")] and phone.answered == 1
    assert phone.received_headers("X-Hotline-Call-Id") == [call["id"]]
    callee = call["legs"][1]
    assert callee["role"] == "callee" and callee["packets_received"] > 100, callee


async def test_agent_phone_rings_until_the_server_cancels(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    tele = telephony(telephony_client)
    tele.calls.settings.ring_timeout = 2.0
    server = tele.sip.udp_address
    phone = await sipp_peers.phone(
        "1002",
        server,
        agent_phone_scenario(answer=False, cancel_timeout=15),
        phone_row("1002", DOMAIN, DEMO_SIP_PASSWORD),
    )
    await wait_registered(phone)
    caller = await sipp_peers.caller(
        "1001",
        server,
        caller_scenario(authenticate=True, expect_status=408),
        caller_row("1001", "1002", auth_keyword("1001", DEMO_SIP_PASSWORD)),
    )
    assert await caller.wait(20) == 0, caller.explain()
    assert await phone.wait(15) == 0, phone.explain()
    [call] = await calls(telephony_client)
    assert call["end_cause"] == "no_answer" and call["sip_code"] == 408, call
    assert [o[0] for o in phone.outcomes()] == ["cancelled"]
    assert [o[1] for o in phone.outcomes()] == [call["id"]]
    assert len(phone.received(None)) >= 5  # 401, 200, INVITE, CANCEL, ACK, (401, 200)
    assert tele.calls.endpoints_in_use == 0


async def test_caller_sends_star_and_pound_digits_to_the_echo_test(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    tele = telephony(telephony_client)
    digits = dtmf_pcap(tmp_path / "digits.pcap", "1*#5")
    scenario = caller_scenario([Pause(500), Play(digits), Pause(300)], hangup_after=4.0)
    caller = await sipp_peers.caller(
        "caller", tele.sip.udp_address, scenario, caller_row("013912340001", "*43")
    )
    assert await caller.wait(30) == 0, caller.explain()
    assert caller.successful == 1 and caller.failed == 0
    await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    [call] = await calls(telephony_client, dialed="*43")
    assert call["end_cause"] == "normal" and call["ended_by"] == "caller", call
    assert call["data"]["dtmf"] == [
        {"leg": "caller", "digit": d, "source": "rfc4733"} for d in ["1", "*", "#", "5"]
    ]


async def test_caller_with_system_pcaps_and_silence_filled_digits(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    tele = telephony(telephony_client)
    one = dtmf_pcap(tmp_path / "unused.pcap", "7")  # Debian's dtmf_2833_7.pcap
    assert one.parent == Path("/usr/share/sip-tester")
    two = dtmf_pcap(tmp_path / "99.pcap", "99", fill="PCMA")  # a repeated digit, G.711 between
    scenario = caller_scenario([Play(one), Pause(300), Play(two)], expect_bye=False)
    caller = await sipp_peers.caller(
        "caller", tele.sip.udp_address, scenario, caller_row("013912340001", "*43")
    )
    assert await caller.wait(30) == 0, caller.explain()
    await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    [call] = await calls(telephony_client, dialed="*43")
    assert [d["digit"] for d in call["data"]["dtmf"]] == ["7", "9", "9"], call["data"]


async def test_phone_handles_a_cancel_while_it_waits_to_answer(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    """The phone would answer after 5 s; the server's ring timeout (1.5 s) CANCELs first."""
    tele = telephony(telephony_client)
    tele.calls.settings.ring_timeout = 1.5
    server = tele.sip.udp_address
    phone = await sipp_peers.phone(
        "1002", server, agent_phone_scenario(ring_ms=5000), phone_row("1002", DOMAIN, DEMO_SIP_PASSWORD)
    )
    await wait_registered(phone)
    caller = await sipp_peers.caller(
        "1001",
        server,
        caller_scenario(authenticate=True, expect_status=408),
        caller_row("1001", "1002", auth_keyword("1001", DEMO_SIP_PASSWORD)),
    )
    assert await caller.wait(20) == 0, caller.explain()
    assert await phone.wait(10) == 0, phone.explain()
    [call] = await calls(telephony_client)
    assert call["end_cause"] == "no_answer", call
    assert phone.outcomes() == [("cancelled", call["id"], "")] and phone.answered == 0


async def test_caller_cancel_reaches_the_ringing_phone(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    tele = telephony(telephony_client)
    server = tele.sip.udp_address
    phone = await sipp_peers.phone(
        "1002", server, agent_phone_scenario(ring_ms=4000), phone_row("1002", DOMAIN, DEMO_SIP_PASSWORD)
    )
    await wait_registered(phone)
    caller = await sipp_peers.caller(
        "1001",
        server,
        caller_scenario(authenticate=True, cancel_after_ms=1000),
        caller_row("1001", "1002", auth_keyword("1001", DEMO_SIP_PASSWORD)),
    )
    assert await caller.wait(20) == 0, caller.explain()
    await phone.wait(10)
    [call] = await calls(telephony_client)
    assert (call["end_cause"], call["ended_by"], call["sip_code"]) == ("cancelled", "caller", 487)
    assert phone.outcomes() == [("cancelled", call["id"], "")], phone.explain()


async def test_phone_takes_several_calls_and_the_callers_hang_up(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    tele = telephony(telephony_client)
    server = tele.sip.udp_address
    tone = tone_pcap(tmp_path / "600.pcap", 600.0, 5.0, codec="PCMU")
    phone = await sipp_peers.phone(
        "1002",
        server,
        agent_phone_scenario(ring_ms=300, talk_ms=None, hangup_by="remote", calls=2, tone=tone),
        phone_row("1002", DOMAIN, DEMO_SIP_PASSWORD),
    )
    await wait_registered(phone)
    for i in range(2):
        caller = await sipp_peers.caller(
            f"1001-{i}",
            server,
            caller_scenario(authenticate=True, hangup_after=1.5),
            caller_row("1001", "1002", auth_keyword("1001", DEMO_SIP_PASSWORD)),
        )
        assert await caller.wait(20) == 0, caller.explain()
        await wait_for(lambda: tele.calls.active_calls == 0, 10, "the call to end")
    assert await phone.wait(10) == 0, phone.explain()
    ids = sorted(c["id"] for c in await calls(telephony_client))
    assert [o[0] for o in phone.outcomes()] == ["remote_bye", "remote_bye"]
    assert sorted(o[1] for o in phone.outcomes()) == ids
    assert sorted(phone.received_headers("X-Hotline-Call-Id")) == ids and phone.answered == 2


async def test_phone_rejects_busy(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    tele = telephony(telephony_client)
    server = tele.sip.udp_address
    phone = await sipp_peers.phone(
        "1002",
        server,
        agent_phone_scenario(ring_ms=200, reject_code=486),
        phone_row("1002", DOMAIN, DEMO_SIP_PASSWORD),
    )
    await wait_registered(phone)
    caller = await sipp_peers.caller(
        "1001",
        server,
        caller_scenario(authenticate=True, expect_status=486),
        caller_row("1001", "1002", auth_keyword("1001", DEMO_SIP_PASSWORD)),
    )
    assert await caller.wait(20) == 0, caller.explain()
    assert await phone.wait(10) == 0, phone.explain()
    [call] = await calls(telephony_client)
    assert call["end_cause"] == "busy" and call["sip_code"] == 486, call
    assert phone.outcomes() == [("rejected", call["id"], "")]


async def test_stop_ends_a_waiting_phone(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    tele = telephony(telephony_client)
    phone = await sipp_peers.phone(
        "1003", tele.sip.udp_address, agent_phone_scenario(), phone_row("1003", DOMAIN, DEMO_SIP_PASSWORD)
    )
    await wait_registered(phone)
    assert tele.sip.lookup(1, "1003") and phone.running
    t0 = asyncio.get_running_loop().time()
    await phone.stop()
    assert not phone.running and asyncio.get_running_loop().time() - t0 < 3.0
    assert phone.returncode is not None and phone.stopped
    assert await phone.wait(1) == -1  # stopped, not finished
