"""The agent desk (/desk) in a real browser against the live app.

(a) without SIP traffic: log in at the agent's extension, ready / not ready with a reason, the
    state bar and its timer, changes made elsewhere arriving live, English strings, keyboard
    shortcuts, the connection-lost banner and its recovery;
(b) a real SIP call: SIPp caller into 95598 → queue → li.na's SIPp phone; toast and screen pop,
    answer, hold, resume, transfer to zhang.wei, wrap-up with a disposition.
"""

from __future__ import annotations

import asyncio
from typing import Any

from httpx import AsyncClient

from tests.browser.conftest import Live
from tests.conftest import token_for

STATE = "#state-badge"


async def text(page: Any, selector: str) -> str:
    return str(await page.inner_text(selector)).strip()


async def wait_text(page: Any, selector: str, expected: str, ms: float = 10_000) -> None:
    """Wait until the element's text contains ``expected``."""
    await page.wait_for_function(
        "([sel, want]) => { const e = document.querySelector(sel); return e && e.textContent.includes(want); }",
        arg=[selector, expected],
        timeout=ms,
    )


async def wait_state(page: Any, label: str, ms: float = 10_000) -> None:
    """Wait until the state badge reads exactly ``label``."""
    await page.wait_for_function(
        "(want) => document.querySelector('#state-badge').textContent.trim() === want",
        arg=label,
        timeout=ms,
    )


async def open_desk(new_page: Any, user: str, lang: str = "zh-CN") -> Any:
    page = await new_page(user, lang=lang, path="/desk")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.desk_errors = errors
    await page.wait_for_selector("body[data-desk-ready='1']")
    return page


async def test_desk_state_bar_language_shortcuts_and_lost_connection(
    live: Live, new_page: Any, shot: Any
) -> None:
    page = await open_desk(new_page, "li.na")
    # the login form offers the agent's own extension
    assert await page.input_value("#login-ext") == "1001"
    assert await page.is_hidden("#agent-bar")
    await shot(page, "desk-a1-login")

    await page.click("#btn-login")
    await page.wait_for_selector("#agent-bar:not([hidden])")
    await wait_state(page, "未就绪")
    assert await text(page, "#bar-ext") == "1001"
    assert await text(page, "#state-reason") == "刚签入"

    await page.click("#btn-ready")
    await wait_state(page, "就绪")
    # the time in state counts up by itself
    first = await text(page, "#state-timer")
    await page.wait_for_function(
        "(t) => document.querySelector('#state-timer').textContent !== t", arg=first, timeout=5000
    )
    await shot(page, "desk-a2-ready")

    await page.select_option("#nr-reason", "lunch")
    await page.click("#btn-not-ready")
    await wait_state(page, "未就绪")
    await wait_text(page, "#state-reason", "用餐")
    assert await page.get_attribute(STATE, "class") == "state-badge st-not_ready"
    await shot(page, "desk-a3-not-ready-lunch")

    # Alt+R: ready from the keyboard
    await page.keyboard.press("Alt+r")
    await wait_state(page, "就绪")
    assert await text(page, "#state-reason") == ""

    # a change made elsewhere (another client of the API) arrives through the event stream
    async with AsyncClient(base_url=live.url) as client:
        headers = await token_for(client, "li.na")
        me = (await client.get("/api/v1/auth/me", headers=headers)).json()["id"]
        r = await client.post(f"/api/v1/agents/{me}/not-ready", json={"reason": "meeting"}, headers=headers)
        assert r.status_code == 200, r.text
    await wait_text(page, "#state-reason", "会议")
    await wait_state(page, "未就绪")

    # the connection drops: a banner says so, and goes away when the stream is back
    assert await page.is_hidden("#conn-banner")
    await page.context.set_offline(True)
    await page.wait_for_selector("#conn-banner:not([hidden])", timeout=10_000)
    assert "连接已断开" in await text(page, "#conn-banner")
    await shot(page, "desk-a4-connection-lost")
    await page.context.set_offline(False)
    await page.wait_for_selector("#conn-banner", state="hidden", timeout=20_000)
    # and the stream works again: a change made meanwhile elsewhere shows up
    async with AsyncClient(base_url=live.url) as client:
        headers = await token_for(client, "li.na")
        r = await client.post(f"/api/v1/agents/{me}/ready", headers=headers)
        assert r.status_code == 200, r.text
    await wait_state(page, "就绪")

    # English
    await page.click("a.lang")
    await page.wait_for_selector("body[data-desk-ready='1']")
    await wait_state(page, "Ready")
    assert "Agent desk" in await page.title()
    assert await text(page, "#phone-h") == "Softphone"
    assert "Keyboard shortcuts" in await text(page, "#shortcuts")
    await page.select_option("#nr-reason", "break")
    await page.keyboard.press("Alt+n")
    await wait_state(page, "Not ready")
    await wait_text(page, "#state-reason", "Break")
    await shot(page, "desk-a5-english-not-ready")

    # an action the state does not allow: the API's problem detail is shown
    await page.evaluate(
        "() => import('/static/js/api.js').then((m) => m.act('POST', '/api/v1/calls/nope/hold'))"
    )
    await page.wait_for_selector(".api-error")
    assert await text(page, ".api-error span")

    await page.click("#btn-logout")
    await page.wait_for_selector("#login-form:not([hidden])")
    assert not page.desk_errors, page.desk_errors


async def test_desk_refuses_a_user_without_agent_profile(live: Live, new_page: Any) -> None:
    page = await new_page("zhao.min", lang="en", path="/desk")
    assert "not an agent" in await text(page, "main")
    await asyncio.sleep(0)
