"""End to end with real SIP calls: the live statistics equal numbers computed independently from
the CDR (``calls`` table) — SIPp callers, a SIPp phone at the agent's extension."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from httpx import AsyncClient

from tests.contact.pathtools import Center, until
from tests.peers import sipp
from tests.peers.sipp import SippPeers

sipp_peers = sipp.sipp_peers  # the fixture

STRAIGHT = """name: straight
language: zh-CN
start: q
nodes:
  q: {type: queue, queue: general}
"""


async def test_live_statistics_match_the_cdr(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await Center.create(telephony_client, sipp_peers, tmp_path)
    await c.flow("straight", STRAIGHT)
    await c.number("95598500", "straight")
    await c.fast_queues("general", wrap_up=4, ring_timeout=15)
    phone = await c.phone("li.na", ring_ms=300, talk_ms=6000, calls=2)
    await c.login("li.na")
    a = await c.caller("a", "95598500", expect_bye=True, bye_timeout=40, number="13900000001")
    await c.wait_state("li.na", "busy", 15)
    # while li.na talks to A: B gives up after ~7 s (long abandon), D after ~2.5 s (short),
    # C waits until li.na is free again (~10 s) and is answered
    b = await c.caller("b", "95598500", hangup_after=7.0, number="13900000002")
    cc = await c.caller("c", "95598500", expect_bye=True, bye_timeout=60, number="13900000003")
    d = await c.caller("d", "95598500", hangup_after=2.5, number="13900000004")

    async def waiting() -> bool:
        docs = (await telephony_client.get("/api/v1/stats/queues", headers=c.admin)).json()
        g = next(x for x in docs if x["queue"] == "general")
        return bool(g["waiting"] >= 2 and g["longest_wait"] > 0)

    await until(waiting, 10, "callers waiting on the board", step=0.2)
    for peer in (a, b, cc, d):
        assert await peer.wait(60) == 0, peer.explain()
    assert await phone.wait(20) == 0, phone.explain()
    await c.idle(15)
    await c.wait_state("li.na", "available", 15)  # wrap-up of C over (its wrap_up_seconds written)
    await asyncio.sleep(0.5)

    calls = [k for k in await c.calls() if k["queue"] == "general"]
    assert len(calls) == 4, calls
    answered = [k for k in calls if k["agent_id"] is not None]
    abandoned = [k for k in calls if k["abandon_point"] in ("queue", "ringing")]
    assert len(answered) == 2 and len(abandoned) == 2, [(k["caller"], k["abandon_point"]) for k in calls]
    within = [k for k in answered if k["wait_seconds"] <= 20]
    decided = answered + [k for k in abandoned if k["wait_seconds"] >= 5]
    expect: dict[str, Any] = {
        "offered": len(calls),
        "answered": len(answered),
        "abandoned": len(abandoned),
        "short_abandoned": sum(1 for k in abandoned if k["wait_seconds"] < 5),
        "sl": round(len(within) / len(decided), 4),
        "asa": sum(k["wait_seconds"] for k in answered) / len(answered),
        "aht": sum(k["talk_seconds"] + k["hold_seconds"] + k["wrap_up_seconds"] for k in answered)
        / len(answered),
        "handled": len(answered),
    }
    assert expect["short_abandoned"] == 1 and expect["sl"] == round(2 / 3, 4), expect
    docs = (await telephony_client.get("/api/v1/stats/queues", headers=c.admin)).json()
    g = next(x for x in docs if x["queue"] == "general")
    print("stats:", {k: g[k] for k in expect}, "cdr:", expect)
    for k in ("offered", "answered", "abandoned", "short_abandoned", "sl", "handled"):
        assert g[k] == expect[k], (k, g, expect)
    assert abs(g["asa"] - expect["asa"]) < 0.3, (g["asa"], expect["asa"])
    assert abs(g["aht"] - expect["aht"]) < 0.6, (g["aht"], expect["aht"])
    assert (
        g["waiting"] == 0
        and g["interval_offered"]
        + sum(
            r["offered"]
            for r in (
                await telephony_client.get(
                    "/api/v1/stats/intervals", params={"hours": 1, "queue": "general"}, headers=c.admin
                )
            ).json()[:-1]
        )
        == 4
    )
    agents = (await telephony_client.get("/api/v1/stats/agents", headers=c.admin)).json()
    li = next(x for x in agents if x["agent_id"] == c.users["li.na"])
    assert li["handled"] == 2 and abs(li["aht"] - expect["aht"]) < 0.6, (li, expect)
    assert li["state"] == "available" and li["call_id"] is None
