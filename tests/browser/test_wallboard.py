"""The supervisor wallboard (/wallboard) in a real browser against the live app.

The supervisor is the demo's wang.fang (city Nanjing, subtree). Everything the board shows after
it loaded arrives over the event stream: the tests mark the window and check the mark is still
there (no reload). Calls are real: a SIPp caller into 95598 (key 0 → queue general) and SIPp
phones at the agents' extensions (tests/contact/pathtools.Center).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient

from tests.browser.conftest import Live
from tests.contact.pathtools import Center, until
from tests.peers import sipp
from tests.peers.sipp import Pause, SippPeers

sipp_peers = sipp.sipp_peers  # the fixture

QUEUE = "general"


@pytest.fixture
async def center(live: Live, tmp_path: Path, sipp_peers: SippPeers) -> AsyncIterator[Center]:
    """The demo centre seen from outside, over real HTTP to the live server."""
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        client.app = live.app  # type: ignore[attr-defined]  # Center reads the telephony from it
        yield await Center.create(client, sipp_peers, tmp_path)


async def board(new_page: Any, user: str = "wang.fang", *, lang: str = "en", kiosk: bool = False) -> Any:
    """The wallboard, loaded and connected to the event stream, with a no-reload marker."""
    path = "/wallboard?kiosk=1" if kiosk else "/wallboard"
    page = await new_page(user, lang=lang, path=path)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    await page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    await page.wait_for_selector("#wb-conn[data-state='open']", timeout=20_000)
    await page.evaluate("window.__noReload = 1")
    return page


async def not_reloaded(page: Any) -> None:
    assert await page.evaluate("window.__noReload") == 1, "the page was reloaded"
    assert not page.errors, page.errors


def qcell(queue: str, col: str) -> str:
    return f"#wb-queues tr[data-queue='{queue}'] [data-col='{col}']"


async def cell_text(page: Any, selector: str) -> str:
    return str(await page.inner_text(selector)).strip()


async def wait_js(page: Any, expr: str, arg: Any = None, ms: float = 15_000) -> None:
    await page.wait_for_function(expr, arg=arg, timeout=ms)


async def wait_cell(page: Any, selector: str, want: str, ms: float = 15_000) -> None:
    """Wait until the cell's visible value (``.val`` if present) reads ``want``."""
    await wait_js(
        page,
        """([sel, want]) => { const e = document.querySelector(sel);
             if (!e) return false; const v = e.querySelector('.val') || e;
             return v.textContent.trim() === want; }""",
        [selector, want],
        ms,
    )


def secs(text: str) -> int:
    """m:ss (or h:mm:ss) → seconds."""
    out = 0
    for part in text.split(":"):
        out = out * 60 + int(part)
    return out


async def test_board_shows_scope_queues_agents_and_agent_state_live(
    live: Live, new_page: Any, shot: Any, center: Center
) -> None:
    page = await board(new_page, lang="en")
    assert "Nanjing" in await cell_text(page, "#wb-scope")
    names = await page.eval_on_selector_all(
        "#wb-queues tbody tr[data-queue]", "rs => rs.map(r => r.dataset.queue)"
    )
    assert {"general", "fault", "billing"} <= set(names), names
    # table semantics: row headers and column headers
    assert await page.locator("#wb-queues thead th[scope='col']").count() >= 10
    assert await page.locator("#wb-queues tbody th[scope='row']").count() == len(names)
    li = center.users["li.na"]
    row = f"#wb-agents tr[data-agent='{li}']"
    await page.wait_for_selector(row)
    assert await cell_text(page, f"{row} [data-col='state']") == "Logged out"
    await shot(page, "wallboard-en")

    await center.login("li.na", ready=True)  # through the API, elsewhere
    await wait_cell(page, f"{row} [data-col='state']", "Ready")
    await wait_cell(page, qcell(QUEUE, "ready"), "1")
    t0 = secs(await cell_text(page, f"{row} [data-col='time']"))
    await asyncio.sleep(2.2)
    assert secs(await cell_text(page, f"{row} [data-col='time']")) >= t0 + 1, "time in state does not tick"

    r = await center.client.post(
        f"/api/v1/agents/{li}/not-ready", json={"reason": "lunch"}, headers=center.tokens["li.na"]
    )
    assert r.status_code == 200, r.text
    await wait_cell(page, f"{row} [data-col='state']", "Not ready")
    assert "Lunch" in await cell_text(page, f"{row} td.state")
    await not_reloaded(page)
    await shot(page, "wallboard-en-agent-not-ready")

    # the connection drops; what happens meanwhile arrives after it comes back (no reload)
    await page.context.set_offline(True)
    await page.wait_for_selector("#wb-conn[data-state='lost']")
    await page.wait_for_selector("#conn-banner:not([hidden])")
    r = await center.client.post(
        f"/api/v1/agents/{li}/not-ready", json={"reason": "meeting"}, headers=center.tokens["li.na"]
    )
    assert r.status_code == 200, r.text
    await shot(page, "wallboard-en-connection-lost")
    await page.context.set_offline(False)
    await page.wait_for_selector("#wb-conn[data-state='open']", timeout=20_000)
    await wait_js(
        page, "(sel) => document.querySelector(sel)?.textContent.includes('Meeting')", f"{row} td.state"
    )
    await not_reloaded(page)

    # force ready from the board (agent.control)
    await page.click(f"{row} summary")
    await page.click(f"{row} button[data-action='ready']")
    await wait_cell(page, f"{row} [data-col='state']", "Ready")
    assert await center.state("li.na") == "available"

    # a message to li.na from the board
    await page.select_option("#wb-msg-to", str(li))
    await page.select_option("#wb-msg-priority", "urgent")
    await page.fill("#wb-msg-text", "Storm warning: expect fault calls")
    await page.click("#wb-message button[type=submit]")
    await page.wait_for_selector("#wb-message .wb-flash:text('Message sent')")
    r = await center.client.get("/api/v1/messages", params={"unread": "true"}, headers=center.tokens["li.na"])
    assert [(m["text"], m["priority"]) for m in r.json()] == [("Storm warning: expect fault calls", "urgent")]

    # a province viewer (sun.li, Jiangsu and below) on the big screen: no actions
    kiosk = await board(new_page, "sun.li", lang="en", kiosk=True)
    assert "Jiangsu" in await cell_text(kiosk, "#wb-scope")
    assert await kiosk.locator("#wb-agents button, #wb-message, #wb-settings").count() == 0
    await wait_cell(kiosk, f"{row} [data-col='state']", "Ready")
    await shot(kiosk, "wallboard-en-kiosk")


async def test_waiting_call_ticks_crosses_warning_and_abandons(
    live: Live, new_page: Any, shot: Any, center: Center
) -> None:
    await center.fast_queues(QUEUE)
    # thresholds: a waiting call is a warning after 3 s
    r = await center.client.put(
        "/api/v1/wallboard/settings",
        json={"waiting": [3, 6], "longest_wait": [3, 120], "sl": [0.8, 0.6]},
        headers=center.admin,
    )
    assert r.status_code == 200, r.text
    assert (await center.login("li.na", ready=False))["state"] == "not_ready"  # nobody ready
    page = await board(new_page, lang="zh-CN")
    await shot(page, "wallboard-zh")
    abandoned0 = int(await cell_text(page, qcell(QUEUE, "abandoned")))
    offered0 = int(await cell_text(page, qcell(QUEUE, "offered")))

    caller = await center.caller("caller", "95598", [Pause(1000), center.digits("0")], hangup_after=14.0)
    await wait_cell(page, qcell(QUEUE, "waiting"), "1", ms=20_000)
    await wait_cell(page, qcell(QUEUE, "offered"), str(offered0 + 1))
    await page.wait_for_selector("#wb-calls tbody tr[data-call]")
    assert "13912340001" in await cell_text(page, "#wb-calls tbody")
    a = secs(await cell_text(page, f"{qcell(QUEUE, 'longest_wait')} .val"))
    await asyncio.sleep(2.2)
    b = secs(await cell_text(page, f"{qcell(QUEUE, 'longest_wait')} .val"))
    assert b >= a + 1, ("the longest wait does not tick", a, b)
    # past 3 s: warning, shown as colour, icon and text (the status column reads it out)
    await wait_js(
        page, "(sel) => document.querySelector(sel)?.dataset.level === 'warn'", qcell(QUEUE, "longest_wait")
    )
    status = await cell_text(page, f"#wb-queues tr[data-queue='{QUEUE}'] td.status")
    assert "预警" in status and "▲" in status, status
    assert "预警" in await page.text_content(qcell(QUEUE, "longest_wait"))
    # reserve the waiting call for li.na (not ready: it waits for her)
    await page.select_option("#wb-calls tbody tr[data-call] select", str(center.users["li.na"]))
    await page.click("#wb-calls tbody tr[data-call] button[data-action='reserve']")
    await page.wait_for_selector("#wb-calls tbody tr[data-call] .tag:has-text('李娜')")
    await not_reloaded(page)
    await shot(page, "wallboard-zh-waiting-warning")

    assert await caller.wait(40) == 0, caller.explain()
    await wait_cell(page, qcell(QUEUE, "waiting"), "0", ms=20_000)
    await wait_cell(page, qcell(QUEUE, "abandoned"), str(abandoned0 + 1))
    await wait_js(page, "() => !document.querySelector('#wb-calls tbody tr[data-call]')")
    assert await page.is_visible("#wb-no-waiting")
    await not_reloaded(page)
    await shot(page, "wallboard-zh-abandoned")


async def test_listen_and_barge_on_a_connected_call_from_the_board(
    live: Live, new_page: Any, shot: Any, center: Center
) -> None:
    await center.fast_queues(QUEUE)
    phone = await center.phone("li.na", ring_ms=300, talk_ms=25_000)
    sup_phone = await center.phone("wang.fang", ring_ms=200, talk_ms=None, hangup_by="remote", calls=2)
    await center.login("li.na", ready=True)
    page = await board(new_page, lang="en")
    li = center.users["li.na"]
    row = f"#wb-agents tr[data-agent='{li}']"
    caller = await center.caller(
        "caller", "95598", [Pause(1000), center.digits("0"), Pause(30_000)], expect_bye=True, bye_timeout=40
    )
    await wait_cell(page, f"{row} [data-col='state']", "On a call", ms=30_000)
    await wait_js(
        page,
        "(sel) => document.querySelector(sel)?.textContent.includes('13912340001')",
        f"{row} [data-col='call']",
    )
    await page.click(f"{row} summary")
    await page.click(f"{row} button[data-action='listen']")
    await page.wait_for_selector(f"{row} button[data-action='listen'][aria-pressed='true']")
    assert "You: Listen" in await cell_text(page, f"{row} td.state")

    async def supervised(mode: str) -> bool:
        r = await center.client.get("/api/v1/calls/live", headers=center.tokens["wang.fang"])
        calls = [c for c in r.json() if c.get("agent_id") == li]
        return bool(calls) and mode in str(calls[0].get("supervisors"))

    await until(lambda: supervised("listen"), 15, "the supervisor listening")
    await shot(page, "wallboard-en-listen")
    await page.click(f"{row} button[data-action='whisper']")
    await page.wait_for_selector(f"{row} button[data-action='whisper'][aria-pressed='true']")
    await until(lambda: supervised("whisper"), 15, "the supervisor whispering")
    await page.click(f"{row} button[data-action='barge']")
    await page.wait_for_selector(f"{row} button[data-action='barge'][aria-pressed='true']")
    await until(lambda: supervised("barge"), 15, "the supervisor barging in")
    await shot(page, "wallboard-en-barge")

    await page.click(f"{row} button[data-action='stop']")
    await page.wait_for_selector(f"{row} button[data-action='stop']", state="detached")
    await not_reloaded(page)
    r = await center.client.get("/api/v1/calls/live", headers=center.tokens["wang.fang"])
    for c in r.json():
        if c.get("agent_id") == li:
            await center.client.post(f"/api/v1/calls/{c['id']}/hangup", headers=center.admin)
    assert await caller.wait(60) == 0, caller.explain()
    assert await phone.wait(30) == 0, phone.explain()
    await sup_phone.stop()


async def test_without_stats_read_the_page_says_so(live: Live, new_page: Any, shot: Any) -> None:
    page = await new_page("liu.yang", lang="en", path="/wallboard")
    assert "may not see statistics" in await page.inner_text("main")


async def test_thresholds_form_changes_the_levels(
    live: Live, new_page: Any, shot: Any, center: Center
) -> None:
    page = await board(new_page, "admin", lang="zh-CN")
    assert await page.input_value("input[name='sl-warn']") == "80"  # fractions shown as percent
    await page.fill("input[name='waiting-warn']", "0")
    await page.fill("input[name='waiting-alarm']", "0")
    await page.fill("input[name='sl-warn']", "90")
    await page.fill("input[name='sl-alarm']", "70")
    await page.click("#wb-settings button[type=submit]")
    await page.wait_for_selector("#wb-settings .wb-flash:text('阈值已保存')")
    r = await center.client.get("/api/v1/wallboard/settings", headers=center.admin)
    assert r.json()["waiting"] == [0, 0] and r.json()["sl"] == [0.9, 0.7], r.json()
    # 0 waiting calls is now "at or above the alarm": every queue reads 告警 without a reload
    await wait_js(
        page, "(sel) => document.querySelector(sel)?.dataset.level === 'alarm'", qcell(QUEUE, "waiting")
    )
    assert "告警" in await cell_text(page, f"#wb-queues tr[data-queue='{QUEUE}'] td.status")
    await not_reloaded(page)
    await shot(page, "wallboard-zh-admin-thresholds")
    # a bad value is refused with the field named, shown to the user
    await page.fill("input[name='sl-warn']", "50")
    await page.click("#wb-settings button[type=submit]")
    await page.wait_for_selector(".api-error:has-text('sl')")


async def test_a_suzhou_supervisor_sees_nothing_of_nanjing(
    live: Live, new_page: Any, shot: Any, center: Center
) -> None:
    body = {
        "username": "zhou.su",
        "password": "Suzhou-Sup-2026",
        "unit": "js.sz",
        "display_name": "周苏",
        "roles": [{"role": "supervisor", "scope": "subtree"}],
    }
    r = await center.client.post("/api/v1/users", json=body, headers=center.admin)
    assert r.status_code == 201, r.text
    page = await new_page("zhou.su", lang="en", path="/wallboard", password="Suzhou-Sup-2026")
    await page.wait_for_selector("body[data-ready='1']", timeout=20_000)
    await page.wait_for_selector("#wb-conn[data-state='open']", timeout=20_000)
    assert "Suzhou" in await cell_text(page, "#wb-scope")
    assert await cell_text(page, "#wb-queues tbody") == "No queues to show"
    assert await cell_text(page, "#wb-agents tbody") == "No agents to show"
    await center.login("li.na", ready=True)  # a Nanjing agent: not in this supervisor's scope
    await asyncio.sleep(3)  # more than one statistics tick
    assert await page.locator("#wb-agents tr[data-agent]").count() == 0
    assert await page.locator("#wb-queues tr[data-queue]").count() == 0
    await shot(page, "wallboard-en-suzhou-scope")


def test_every_string_the_board_uses_is_translated() -> None:
    """Keys named in wallboard.js / wallboard.html exist (in both languages: i18n checks that)."""
    import re

    from hotline.web.ui import wallboard
    from hotline.web.ui.i18n import STRINGS

    ui = Path(wallboard.__file__).parent
    js = "".join((ui / "static" / "js" / name).read_text() for name in ("wallboard.js", "wall-charts.js"))
    html = (ui / "templates" / "wallboard.html").read_text()
    used = set(re.findall(r"\bT\.(wb_\w+)", js)) | set(re.findall(r"\bt\.(\w+)", js))
    used |= set(re.findall(r"\bt\.(\w+)", html)) - {"app_name"}
    # keys built at run time: T[`wb_state_${state}`], T[`wb_level_${lvl}`], T[`wb_conn_${s}`], T[`wb_${mode}`]
    used |= {f"wb_state_{s}" for s in ("logged_out", "available", "reserved", "busy", "hold", "wrap_up")}
    used |= {f"wb_state_{s}" for s in ("not_ready", "outbound")}
    used |= {f"wb_level_{x}" for x in ("ok", "warn", "alarm")}
    used |= {f"wb_conn_{x}" for x in ("open", "connecting", "lost", "idle")}
    used |= {f"wb_{m}" for m in ("listen", "whisper", "barge")}
    missing = sorted(k for k in used if k not in STRINGS)
    assert not missing, missing
    assert set(wallboard.WALLBOARD_KEYS) >= {k for k in used if k.startswith("wb_")}
