"""Utility self-service on the real call path (SIPp callers, espeak-ng prompts, the demo 95598 flow):
an outage announcement before the menu, and a billing system that is down."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

from httpx import AsyncClient
from sqlalchemy import update

from hotline.store.db import transaction
from hotline.store.models import Customer
from hotline.utility.backend import BackendUnavailable
from tests.contact.pathtools import CUSTOMER, Center, until, wav_seconds
from tests.peers import sipp
from tests.peers.sipp import Pause, Play, SippPeers

sipp_peers = sipp.sipp_peers  # the fixture

FEEDER = "10kV 东山 901 线"
WELCOME = "您好，欢迎致电95598供电服务热线。"
MENU = (
    "查询电费请按1，故障报修请按2，投诉请按3，业务咨询请按4，English service please press 9，人工服务请按0。"
)
APOLOGY = "对不起，系统繁忙，电费查询暂时无法使用，正在为您转接人工服务，请稍候。"


class DownBackend:
    """A billing system that refuses every question (injected into the running centre)."""

    name = "down"

    def __getattr__(self, item: str) -> Any:
        async def fail(*args: Any, **kwargs: Any) -> Any:
            raise BackendUnavailable("billing system: connection refused")

        return fail


class PlayLog:
    """Which prompt files the media engine was asked to play, and when (wall clock): a spy
    on the real engine's ``play``, which it still carries out."""

    def __init__(self, c: Center) -> None:
        self.started: list[tuple[float, Path]] = []
        media = c.tele.calls.media
        real = media.play

        async def play(endpoint: Any, source: Any, *args: Any, **kwargs: Any) -> Any:
            path = getattr(source, "path", None)
            if path is not None:
                self.started.append((time.time(), Path(path)))
            return await real(endpoint, source, *args, **kwargs)

        media.play = play

    def at(self, path: Path) -> float:
        times = [t for t, p in self.started if p == path]
        assert times, (path, self.started)
        return times[0]


def _steps(call: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["node"]: s for s in call["ivr_path"]}


async def _prompt(c: Center, text: str) -> tuple[Path, float]:
    """Render a prompt before the call (a cold espeak-ng can be slow): its file and length."""
    path = await c.tele.tts.render(text, "cmn")
    return path, wav_seconds(path)[0]


async def test_outage_announced_before_the_menu(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await Center.create(telephony_client, sipp_peers, tmp_path)
    await c.fast_queues("general")
    await c.login("li.na", ready=False)  # the caller waits in the queue
    async with transaction(c.tele.center.factory) as s:
        await s.execute(
            update(Customer)
            .where(Customer.account_no == "3201001001")
            .values(feeder=FEEDER, transformer_area="")
        )
    r = await telephony_client.post(
        "/api/v1/outages",
        json={
            "unit": "js.nj.jn.ds",
            "kind": "unplanned",
            "status": "active",
            "cause": "线路故障",
            "start_at": "2026-01-01T08:00:00+08:00",
            "expected_end_at": "2099-01-01T18:00:00+08:00",
            "areas": [{"feeder": FEEDER}],
        },
        headers=c.admin,
    )
    assert r.status_code == 201, r.text
    notice = r.json()["announcement"]["zh"]
    assert notice.startswith("您所在的区域正在故障停电，原因：线路故障")
    (_, welcome), (notice_wav, announcement) = await _prompt(c, WELCOME), await _prompt(c, notice)
    menu_wav, _ = await _prompt(c, MENU)
    plays = PlayLog(c)
    # silent through the welcome and the announcement, then "0" during the menu prompt
    pause_ms = int((welcome + announcement + 2.0) * 1000)
    caller = await c.caller(
        "caller", "95598", [Pause(pause_ms), c.digits("0"), Play(c.tone(700.0, 8.0, "PCMA"), wait=False)],
        number=CUSTOMER, hangup_after=pause_ms / 1000 + 4.0,
    )  # fmt: skip
    assert await caller.wait(60) == 0, caller.explain()
    await c.idle(15)
    [call] = await c.calls(dialed="95598")
    nodes = [s["node"] for s in call["ivr_path"]]
    assert nodes[:5] == ["welcome", "outage", "outage-check", "outage-play", "menu"], call["ivr_path"]
    steps = _steps(call)
    assert steps["outage"]["result"] == "ok" and steps["outage-check"]["result"] == "then", steps
    assert steps["outage-play"]["result"] is None, steps  # played, not skipped
    played = plays.at(menu_wav) - plays.at(notice_wav)
    assert played >= announcement * 0.8, (played, announcement)  # the whole announcement ran first
    assert steps["menu"]["result"] == "option 0" and call["queue"] == "general", call
    assert call["data"].get("outage_notice") == notice and call["data"].get("outage_count") == 1, call["data"]


async def test_billing_down_apologises_and_queues_for_an_agent(
    telephony_client: AsyncClient, tmp_path: Path, sipp_peers: SippPeers
) -> None:
    c = await Center.create(telephony_client, sipp_peers, tmp_path)
    await c.fast_queues("billing")
    await c.login("li.na", ready=False)  # billing skill 5: the caller waits for her
    c.tele.center.services["billing"] = DownBackend()  # the IVR plugins' billing system is down
    for text in (WELCOME, MENU, "您的户号尾号是1 0 0 1。"):
        await _prompt(c, text)
    apology_wav, apology = await _prompt(c, APOLOGY)
    plays = PlayLog(c)
    # "1" typed ahead during the welcome: self-service; the caller's number identifies the account,
    # the balance question fails, the apology plays (not barge-in) and the caller is queued
    caller = await c.caller(
        "caller", "95598", [Pause(1000), c.digits("1"), Play(c.tone(700.0, 20.0, "PCMA"), wait=False)],
        number=CUSTOMER, hangup_after=apology + 12.0,
    )  # fmt: skip
    await until(lambda: _waiting(c, "billing") == 1, apology + 15, "the caller in the billing queue")
    assert await caller.wait(60) == 0, caller.explain()
    await c.idle(15)
    [call] = await c.calls(dialed="95598")
    nodes = [s["node"] for s in call["ivr_path"]]
    assert nodes[-6:] == [
        "bill-identify",
        "bill-identified",
        "bill-known",
        "bill-balance",
        "billing-down",
        "billing-busy",
    ], nodes
    steps = _steps(call)
    assert steps["bill-identify"]["result"] == "ok", steps
    assert "BackendUnavailable" in (steps["bill-balance"]["result"] or ""), steps
    assert steps["billing-down"]["result"] is None
    [enter] = [e for e in await c.events(call["id"]) if e["event"] == "enter_queue"]
    played = datetime.fromisoformat(enter["at"]).timestamp() - plays.at(apology_wav)
    assert played >= apology * 0.8, (played, apology)  # the apology ran to its end, then the queue
    assert call["queue"] == "billing" and call["abandon_point"] == "queue", call
    data = call["data"]
    assert data.get("billing_unavailable") is True and data.get("topic") == "bill", data
    assert data.get("account_no") == "3201001001" and data.get("customer_id"), data  # the screen pop's link
    assert any("BackendUnavailable" in e for e in data.get("ivr_errors", [])), data


def _waiting(c: Center, queue: str) -> int:
    return len(c.tele.center.acd.tenant(1).engine.waiting(queue))
