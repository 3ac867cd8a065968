"""The administration application in a real browser: an admin creates a user with a grant,
changes a queue's wrap-up, uploads a broken IVR flow and sees the error at its line, fixes and
activates it, looks at its graph, re-routes a service number and finds every change in the
audit view; an agent gets no admin link and a 403 page. Screenshots of each page."""

from __future__ import annotations

import re
from typing import Any

from tests.browser.conftest import Live

BROKEN = """name: demo-flow
language: en
start: hello
nodes:
  hello: {type: play, prompt: "Hi.", next: menu}
  menu:
    type: menu
    prompt: "For an agent press 1."
    options: {"1": agent}
    on_max_retries: nowhere
  agent: {type: queue, queue: general}
"""
FIXED = BROKEN.replace("on_max_retries: nowhere", "on_max_retries: agent")


UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter((e) => !e.labels.length && !e.getAttribute('aria-label'))
  .map((e) => e.id || e.name)"""


async def _api(page: Any, path: str) -> Any:
    return await page.evaluate("(p) => fetch(p).then((r) => r.json())", path)


async def test_admin_changes_are_made_in_the_browser_and_audited(
    live: Live, new_page: Any, shot: Any
) -> None:
    page = await new_page("admin", lang="en", path="/admin")
    await shot(page, "admin-overview-en")
    assert await page.locator(".adm-tiles a").count() == 12  # 9 + customers, tariffs, outages

    # -- a user with a grant (bad input first: the problem shows next to the password field)
    await page.click("text=Users and roles")
    await page.wait_for_url(f"{live.url}/admin/users")
    await shot(page, "admin-users")
    await page.click("a[href='/admin/users/new']")
    await page.fill("#f-username", "zhou.jie")
    await page.fill("#f-password", "short")
    await page.fill("#f-display", "周杰")
    await page.select_option("#f-unit", label="· · 国网南京供电公司 Nanjing")
    row = page.locator(".grant-row").first
    await row.locator("select[name=role]").select_option("supervisor")
    await row.locator("select[name=scope]").select_option("unit")
    await page.click("#user-form button[type=submit]")
    err = page.locator("#f-password ~ .field-error, .field:has(#f-password) .field-error")
    await err.first.wait_for()
    assert (
        "password" in (await err.first.inner_text()).lower() or "characters" in await err.first.inner_text()
    )
    assert await page.get_attribute("#f-password", "aria-invalid") == "true"
    await shot(page, "admin-user-new-error")
    await page.fill("#f-password", "Zhou-Jie-2026!")
    await page.click("#user-form button[type=submit]")
    await page.wait_for_url(re.compile(r".*/admin/users/\d+$"))
    await shot(page, "admin-user-edit")
    await page.fill("#f-newpw", "Zhou-Jie-2027!")
    await page.click("#password-form button[type=submit]")
    await page.locator("#password-form .form-status", has_text="Password set").wait_for()
    user_id = int(page.url.rsplit("/", 1)[1])
    user = await _api(page, f"/api/v1/users/{user_id}")
    assert user["display_name"] == "周杰"
    assert [(g["role"], g["scope"]) for g in user["roles"]] == [("supervisor", "unit")]

    # -- a queue's wrap-up
    await page.goto(f"{live.url}/admin/queues")
    await shot(page, "admin-queues")
    await page.click("a[href='/admin/queues/general']")
    await page.fill("#qs-wrap_up", "25")
    async with page.expect_navigation():  # saved, then the page reloads
        await page.click("#queue-form button[type=submit]")
    await page.locator("#qs-wrap_up[value='25']").wait_for()
    assert (await _api(page, "/api/v1/queues/general"))["settings"]["wrap_up"] == 25
    await shot(page, "admin-queue-edit")

    # -- a broken flow: the error is listed with its line and the line is marked
    await page.goto(f"{live.url}/admin/ivr")
    await shot(page, "admin-flows")
    await page.fill("#nf-name", "demo-flow")
    await page.click("#new-flow button[type=submit]")
    await page.wait_for_url(f"{live.url}/admin/ivr/demo-flow")
    await page.set_input_files(  # upload the broken flow from a file: validated at once
        "#flow-file", files=[{"name": "demo-flow.yaml", "mimeType": "text/yaml", "buffer": BROKEN.encode()}]
    )
    await page.locator(".issue-error").first.wait_for()
    assert await page.input_value("#flow-source") == BROKEN
    await page.uncheck("#flow-activate")
    await page.click("#flow-save")
    issue = page.locator(".issue-error").first
    await issue.wait_for()
    text = await issue.inner_text()
    assert "line 10" in text and "nowhere" in text and "menu" in text, text
    assert await page.locator(".gutter .mark-error").inner_text() == "10"
    await issue.locator("button").click()  # jumps to the line
    assert "line 10" in await page.inner_text("#flow-pos")
    await shot(page, "admin-flow-error")

    # fixed: validates clean, saved as version 1 (not active), then activated from the list
    await page.fill("#flow-source", FIXED)
    await page.click("#flow-validate")
    await page.locator(".flow-issues li.ok").wait_for()
    await page.click("#flow-save")
    await page.wait_for_url(f"{live.url}/admin/ivr/demo-flow?version=1")
    assert (await _api(page, "/api/v1/ivr/flows/demo-flow"))["active_version"] is None
    page.once("dialog", lambda d: d.accept())
    await page.click("#act-1 button")
    await page.wait_for_url(f"{live.url}/admin/ivr/demo-flow")
    assert (await _api(page, "/api/v1/ivr/flows/demo-flow"))["active_version"] == 1
    nodes = page.locator(".flow-graph-card svg g.node")
    assert await nodes.count() == 3
    assert (
        await page.locator(".flow-graph-card svg g.edge").count() == 2
    )  # hello→menu, menu→agent (1 and timeout merged)
    await shot(page, "admin-flow-graph")
    await page.goto(f"{live.url}/admin/ivr/95598-zh")
    await shot(page, "admin-flow-95598-zh")

    # -- the number plan: 955981 now answers with the new flow
    await page.goto(f"{live.url}/admin/numbers")
    await page.select_option("#num-955981-flow", "demo-flow")
    async with page.expect_navigation():
        await page.click("button[form='num-955981']")
    assert await page.input_value("#num-955981-flow") == "demo-flow"
    numbers = await _api(page, "/api/v1/ivr/numbers")
    assert next(n for n in numbers if n["number"] == "955981")["flow"] == "demo-flow"
    await shot(page, "admin-numbers")

    # -- the other pages, for the record
    for path, name in (
        ("/admin/units", "admin-units"),
        ("/admin/extensions", "admin-extensions"),
        ("/admin/agents", "admin-agents"),
        ("/admin/codes", "admin-codes"),
    ):
        await page.goto(f"{live.url}{path}")
        assert await page.evaluate(UNLABELLED) == [], path
        await shot(page, name)
    await page.goto(f"{live.url}/admin/units")
    await page.click(".adm-list a")
    await page.wait_for_url(re.compile(r".*/admin/calendars/\d+$"))
    # a holiday and changed Saturday hours, through the text formats of the form
    cal_id = int(page.url.rsplit("/", 1)[1])
    await page.fill("#c-sat", "09:00-12:00")
    hol = await page.input_value("#c-hol")
    await page.fill("#c-hol", f"{hol}\n2026-12-24 平安夜".strip())
    async with page.expect_navigation():
        await page.click("#calendar-form button[type=submit]")
    cal = await _api(page, f"/api/v1/calendars/{cal_id}")
    assert cal["week"]["sat"] == [["09:00", "12:00"]]
    assert {"date": "2026-12-24", "name": "平安夜"} in cal["holidays"]
    # bad input: the calendar's problem is shown next to the field it names
    await page.fill("#c-sun", "25:00-26:00")
    await page.click("#calendar-form button[type=submit]")
    await page.locator("#calendar-form .field-error").first.wait_for()
    assert await page.get_attribute("#c-sun", "aria-invalid") == "true"
    assert "25:00" in await page.locator(".field:has(#c-sun) .field-error").inner_text()
    await shot(page, "admin-calendar")
    await page.goto(f"{live.url}/admin/agents")
    await page.click("a[href^='/admin/agents/']")
    await page.wait_for_url(re.compile(r".*/admin/agents/\d+$"))
    agent_id = int(page.url.rsplit("/", 1)[1])
    await page.fill("#a-skills", "billing 7\nfault 1")
    await page.uncheck("input[name=queues][value=english]")
    async with page.expect_navigation():
        await page.click("#agent-form button[type=submit]")
    profile = await _api(page, f"/api/v1/agents/{agent_id}/profile")
    assert profile["skills"] == {"billing": 7, "fault": 1} and "english" not in profile["queues"]
    assert await page.evaluate(UNLABELLED) == []
    await shot(page, "admin-agent-edit")

    # -- every change is in the audit view
    await page.goto(f"{live.url}/admin/audit")
    actions = await page.locator("table.audit td:nth-child(3)").all_inner_texts()
    for want in (
        "user.create",
        "queue.save",
        "ivr.flow.save",
        "ivr.flow.activate",
        "ivr.number.save",
        "calendar.update",
        "agent.profile",
        "user.password_reset",
    ):
        assert want in actions, (want, actions[:20])
    await page.fill("#af-action", "ivr.flow.activate")
    await page.evaluate("window.__kept = 1")
    await page.click(".adm-filters button")  # htmx swaps the results and pushes the URL
    await page.wait_for_url("**/admin/audit?**")
    await page.wait_for_function(
        """() => [...document.querySelectorAll('table.audit td:nth-child(3)')]
             .every((td) => td.textContent === 'ivr.flow.activate')"""
    )
    assert await page.evaluate("window.__kept") == 1  # no page load: only the results were swapped
    assert set(await page.locator("table.audit td:nth-child(3)").all_inner_texts()) == {"ivr.flow.activate"}
    await page.goto(f"{live.url}/admin/audit")
    await shot(page, "admin-audit")


async def test_admin_pages_in_chinese(live: Live, new_page: Any, shot: Any) -> None:
    page = await new_page("admin", lang="zh-CN", path="/admin/users")
    assert "用户与角色" in await page.inner_text("h1")
    await shot(page, "admin-users-zh")
    await page.goto(f"{live.url}/admin/queues/general")
    assert "话后处理" in await page.inner_text("main")
    await shot(page, "admin-queue-edit-zh")
    await page.goto(f"{live.url}/admin/ivr/95598-zh")
    await shot(page, "admin-flow-zh")


async def test_agent_has_no_admin_link_and_gets_a_403_page(live: Live, new_page: Any, shot: Any) -> None:
    page = await new_page("li.na", lang="en", path="/")
    assert await page.locator("a[href='/admin']").count() == 0
    resp = await page.goto(f"{live.url}/admin")
    assert resp is not None and resp.status == 403
    assert "Forbidden" in await page.inner_text("main")
    await shot(page, "admin-403-agent")
    resp = await page.goto(f"{live.url}/admin/ivr/95598-zh")
    assert resp is not None and resp.status == 403


async def test_keyboard_reaches_the_sections_and_the_save_button(live: Live, new_page: Any) -> None:
    page = await new_page("admin", lang="en", path="/admin/codes")
    focused = []
    for _ in range(40):
        await page.keyboard.press("Tab")
        focused.append(
            await page.evaluate("document.activeElement.textContent.trim() || document.activeElement.name")
        )
    assert "Users and roles" in focused and "Save" in focused
