"""Work orders in a real browser (headless Chromium) against the live app.

(a) desk: a SIPp caller from 周建国's number reaches li.na; she opens "new work order", the form
    is pre-filled from the call and the customer, a missing required field is marked from the
    API's 422, she creates a fault order, sees its number, and it lands in the wrap-up notes;
    on a second look the customer's open order is listed with an urge button;
(b) the handler (liu.yang) acknowledges, starts and replies (with an attachment) in /tickets/queue;
(c) the reviewer (wang.fang) approves, records a dissatisfied revisit and reopens in /tickets/review;
(d) the overdue board shows an order that becomes overdue, live.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select, update

from hotline.store.models import Tenant, Ticket
from hotline.store.types import utcnow
from tests.browser.conftest import Live
from tests.browser.test_desk import LiveCenter, open_desk, wait_state
from tests.conftest import token_for
from tests.peers import sipp
from tests.peers.sipp import Pause, Play, SippPeers

T = "/api/v1/tickets"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)


def fault_body(subject: str = "上坊村 12 号停电", **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "fault_repair",
        "urgency": "urgent",
        "subject": subject,
        "description": "客户反映家中无电，邻居家有电。",
        "fields": {
            "contact_phone": "13912340001",
            "address": "南京市江宁区东山街道上坊村 12 号",
            "fault_kind": "no_power_single",
            "area": "rural",
            "description": "家中无电",
        },
        "customer": "3201001001",
        "unit": "js.nj.jn.ds",
        "area_class": "rural",
    }
    body.update(kw)
    return body


async def text(page: Any, selector: str) -> str:
    return str(await page.inner_text(selector)).strip()


async def wait_text(page: Any, selector: str, expected: str, ms: float = 10_000) -> None:
    await page.wait_for_function(
        "([sel, want]) => { const e = document.querySelector(sel); return e && e.textContent.includes(want); }",
        arg=[selector, expected],
        timeout=ms,
    )


async def open_page(new_page: Any, user: str, path: str, lang: str = "zh-CN") -> Any:
    page = await new_page(user, lang=lang, path=path)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.page_errors = errors
    await page.wait_for_selector("body[data-ready='1']")
    return page


class Api:
    """The tickets API as a user, over HTTP against the live server."""

    def __init__(self, client: AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.h = headers

    @classmethod
    async def as_user(cls, client: AsyncClient, username: str) -> Api:
        return cls(client, await token_for(client, username))

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        r = await self.client.post(T, json=body, headers=self.h)
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        return out

    async def act(self, t: dict[str, Any], action: str, **kw: Any) -> dict[str, Any]:
        r = await self.client.post(
            f"{T}/{t['id']}/actions", json={"action": action, "version": t["version"], **kw}, headers=self.h
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def get(self, t: dict[str, Any] | int) -> dict[str, Any]:
        tid = t if isinstance(t, int) else t["id"]
        r = await self.client.get(f"{T}/{tid}", headers=self.h)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


# -- (a) the desk: a new order during a call --------------------------------------------------------

sipp_peers = sipp.sipp_peers  # the fixture


async def test_desk_creates_a_fault_order_during_a_call(
    live: Live, new_page: Any, shot: Any, sipp_peers: SippPeers, tmp_path: Path
) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        agent = await Api.as_user(client, "li.na")
        # 周建国 already has an open order (an earlier call): the desk offers to urge it
        earlier = await agent.create(fault_body("上坊村 12 号电压低"))
        c = await LiveCenter.create(client, sipp_peers, tmp_path)
        assert isinstance(c, LiveCenter)
        c.live = live
        await c.fast_queues("fault", wrap_up=60)
        phone = await c.phone("li.na", ring_ms=1500, hangup_by="remote", talk_ms=None)
        page = await open_desk(new_page, "li.na")
        await page.wait_for_selector("#tkd[data-ready='1']")
        await page.click("#btn-login")
        await wait_state(page, "未就绪")
        await page.click("#btn-ready")
        await wait_state(page, "就绪")

        caller = await c.caller(
            "caller",
            "95598",
            [Pause(1500), c.digits("2"), Play(c.tone(900.0, 60.0, "PCMA"), wait=False)],
            expect_bye=True,
            bye_timeout=90,
        )
        await page.wait_for_selector("#call-card[data-state='connected']", timeout=45_000)
        await page.wait_for_selector("#cust-card:not([hidden])", timeout=20_000)
        call_id = (await c.calls(dialed="95598"))[0]["id"]

        # the panel: the customer's open order with an urge button, the form pre-filled
        await page.click("#tkd-toggle")
        assert await page.get_attribute("#tkd-toggle", "aria-expanded") == "true"
        await page.wait_for_selector(f"#tkd-open-list li[data-number='{earlier['number']}']", timeout=10_000)
        await page.select_option("#tkd-type", "fault_repair")
        await page.wait_for_function(
            "document.querySelector('#tkd-f-customer_name') && document.querySelector('#tkd-f-customer_name').value === '周建国'"
        )
        assert "13912340001" in await page.input_value("#tkd-f-contact_phone")
        assert await page.input_value("#tkd-f-account_no") == "3201001001"
        await shot(page, "tickets-a1-desk-form")

        # urge the open order instead of a duplicate
        await page.click(f"#tkd-open-list button[data-urge='{earlier['number']}']")
        await wait_text(page, "#tkd-result", f"已催办 {earlier['number']}")
        assert (await agent.get(earlier))["urges"] == 1

        # a new fault order: the browser marks a missing required field, the API a bad phone
        await page.fill("#tkd-subject", "上坊村 12 号整户停电")
        await page.click("#tkd-create")
        await page.wait_for_selector("#tkd-e-f-fault_kind:not([hidden])")
        assert await page.get_attribute("#tkd-f-fault_kind", "aria-invalid") == "true"
        await page.select_option("#tkd-f-fault_kind", "no_power_single")
        await page.select_option("#tkd-f-area", "rural")
        await page.fill("#tkd-f-address", "南京市江宁区东山街道上坊村 12 号")
        await page.fill("#tkd-f-description", "家中无电，邻居有电")
        await page.fill("#tkd-f-contact_phone", "not a phone")
        await page.click("#tkd-create")
        await page.wait_for_selector("#tkd-e-f-contact_phone:not([hidden])", timeout=10_000)
        assert "phone" in await text(page, "#tkd-e-f-contact_phone")
        await shot(page, "tickets-a2-desk-invalid")
        await page.fill("#tkd-f-contact_phone", "13912340001")
        await page.click("#tkd-create")
        await wait_text(page, "#tkd-result", "工单已创建：GD", ms=15_000)
        number = await page.get_attribute("#tkd-result", "data-number")
        assert number and number.startswith("GD")
        await wait_text(page, "#tkd-call-list", number)
        await shot(page, "tickets-a3-desk-created")

        r = await client.get(f"{T}/{number}", headers=agent.h)
        assert r.status_code == 200, r.text
        made = r.json()
        assert made["type"] == "fault_repair" and made["call_id"] == call_id, made
        assert made["account_no"] == "3201001001" and made["subject"] == "上坊村 12 号整户停电"
        assert made["fields"]["fault_kind"] == "no_power_single" and made["area_class"] == "rural"

        # the agent hangs up: the wrap-up notes carry the order numbers of the call
        await page.keyboard.press("Alt+x")
        await page.wait_for_selector("#wrapup-form:not([hidden])", timeout=15_000)
        notes = await page.input_value("#wrapup-notes")
        assert number in notes and earlier["number"] in notes, notes
        await shot(page, "tickets-a4-wrap-up-notes")
        assert await caller.wait(30) == 0, caller.explain()
        assert await phone.wait(15) == 0, phone.explain()
        assert not page.desk_errors, page.desk_errors


# -- (b) the handler's queue ---------------------------------------------------------------------------


async def test_handler_acknowledges_starts_and_replies(
    live: Live, new_page: Any, shot: Any, tmp_path: Path
) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        agent = await Api.as_user(client, "li.na")
        t = await agent.create(fault_body())
        other = await agent.create(fault_body("金宝路 8 号电压低", customer="3201001002"))
        assert t["state"] == "dispatched" and t["unit"] == "js.nj.jn.ds", t

        page = await open_page(new_page, "liu.yang", "/tickets/queue")
        row = f"#tk-rows tr[data-number='{t['number']}']"
        await page.wait_for_selector(row)
        assert await page.is_visible(f"#tk-rows tr[data-number='{other['number']}']")
        assert "已派发" in await text(page, row)
        # the nav shows the queue (current page) and nothing the handler may not open
        assert await page.get_attribute("nav a[href='/tickets/queue']", "aria-current") == "page"
        assert await page.locator("nav a[href='/tickets/review']").count() == 0
        await shot(page, "tickets-b1-queue")

        await page.click(f"{row} button.tk-link")
        await page.wait_for_selector(f"#tk-card[data-id='{t['id']}']:not([hidden])")
        assert await text(page, "#tk-number") == t["number"]
        assert "上坊村 12 号" in await text(page, "#tk-facts")
        assert "单户停电" in await text(page, "#tk-form")
        # only the handler's actions the API allows now
        buttons = await page.locator("#tk-action-buttons button").all_inner_texts()
        assert buttons == ["转派", "接单", "挂起"], buttons
        # forward: the station has no sub-unit to pass it to, the form says so
        await page.click("#tk-action-buttons button[data-action='forward']")
        await page.wait_for_selector("#tk-forward-none:not([hidden])")
        await page.click("#tk-action-go")
        await wait_text(page, "#tk-action-error", "转派到单位为必填项")
        await page.fill("#tk-forward-code", "js.nj")  # not below the station: the API refuses
        await page.click("#tk-action-go")
        await page.wait_for_selector("#tk-action-error:not([hidden])")
        assert await page.locator("#tk-card[data-state='dispatched']").count() == 1
        await page.click("#tk-action-cancel")
        await page.wait_for_selector("#tk-action-form", state="hidden")
        await shot(page, "tickets-b2-detail")

        await page.click("#tk-action-buttons button[data-action='acknowledge']")
        await page.wait_for_selector("#tk-card[data-state='acknowledged']")
        await wait_text(page, "#tk-status", "接单已完成")
        await page.click("#tk-action-buttons button[data-action='start']")
        await page.wait_for_selector("#tk-card[data-state='in_progress']")

        # reply: the result is required (refused in the browser before any request)
        await page.click("#tk-action-buttons button[data-action='reply']")
        await page.wait_for_selector("#tk-action-form:not([hidden])")
        await page.click("#tk-action-go")
        await page.wait_for_selector("#tk-note-error:not([hidden])")
        assert await page.get_attribute("#tk-note", "aria-invalid") == "true"
        photo = tmp_path / "fuse.png"
        photo.write_bytes(PNG)
        await page.fill("#tk-note", "已更换熔断器，恢复供电。")
        await page.check("#tk-action-form input[name=substantiated][value='true']")
        await page.set_input_files("#tk-files", str(photo))
        await shot(page, "tickets-b3-reply-form")
        await page.click("#tk-action-go")
        await page.wait_for_selector("#tk-card[data-state='replied']", timeout=15_000)
        await page.wait_for_selector("#tk-action-form", state="hidden")
        history = await text(page, "#tk-history")
        for word in ("接单", "开始处理", "回单", "已更换熔断器", "fuse.png", "liu.yang"):
            assert word in history, (word, history)
        await wait_text(page, f"{row}", "已回单")
        await shot(page, "tickets-b4-replied")

        stored = await agent.get(t)
        assert stored["state"] == "replied" and stored["substantiated"] is True
        assert [a["filename"] for a in stored["attachments"]] == ["fuse.png"]
        href = await page.get_attribute("#tk-history a[download='fuse.png']", "href")
        got = await page.request.get(f"{live.url}{href}")
        assert got.status == 200 and await got.body() == PNG

        # live: someone else acknowledges the other order → the card follows the event
        await page.click(f"#tk-rows tr[data-number='{other['number']}'] button.tk-link")
        await page.wait_for_selector(f"#tk-card[data-id='{other['id']}'][data-state='dispatched']")
        handler = await Api.as_user(client, "liu.yang")
        other = await handler.act(other, "acknowledge")
        await page.wait_for_selector(
            f"#tk-card[data-id='{other['id']}'][data-state='acknowledged']", timeout=10_000
        )
        await wait_text(page, f"#tk-rows tr[data-number='{other['number']}']", "已接单")

        # a stale version (no live events meanwhile): the click is refused, the page reloads and says so
        await page.evaluate("window.ticketStream.stop()")
        other = await handler.act(other, "start")
        await page.click("#tk-action-buttons button[data-action='start']")
        await wait_text(page, "#tk-status", "已被他人修改")
        await page.wait_for_selector(f"#tk-card[data-id='{other['id']}'][data-state='in_progress']")
        await page.evaluate("window.ticketStream.start()")

        # hold (waiting for a third party) and resume: back to the state it was held from
        await page.click("#tk-action-buttons button[data-action='hold']")
        await page.select_option("#tk-waiting-for", "third_party")
        await page.fill("#tk-note", "等待供电所备件")
        await page.click("#tk-action-go")
        await page.wait_for_selector(f"#tk-card[data-id='{other['id']}'][data-state='on_hold']")
        assert "等待第三方" in await text(page, "#tk-history")
        buttons = await page.locator("#tk-action-buttons button").all_inner_texts()
        assert buttons == ["恢复处理"], buttons
        await page.click("#tk-action-buttons button[data-action='resume']")
        await page.wait_for_selector(f"#tk-card[data-id='{other['id']}'][data-state='in_progress']")
        assert not page.page_errors, page.page_errors


# -- (c) the reviewer ----------------------------------------------------------------------------------


async def test_reviewer_approves_revisits_dissatisfied_and_reopens(
    live: Live, new_page: Any, shot: Any
) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        agent = await Api.as_user(client, "li.na")
        handler = await Api.as_user(client, "liu.yang")
        t = await agent.create(fault_body())
        t = await handler.act(t, "acknowledge")
        t = await handler.act(t, "start")
        t = await handler.act(t, "reply", note="已处理", payload={"substantiated": True})
        redo = await agent.create(fault_body("金宝路 8 号电压低", customer="3201001002"))
        for action in ("acknowledge", "start"):
            redo = await handler.act(redo, action)
        redo = await handler.act(redo, "reply", note="已调整")

        page = await open_page(new_page, "wang.fang", "/tickets/review", lang="en")
        row = f"#tk-rows tr[data-number='{t['number']}']"
        await page.wait_for_selector(row)
        await page.click(f"{row} button.tk-link")
        await page.wait_for_selector(f"#tk-card[data-id='{t['id']}'][data-state='replied']")
        buttons = await page.locator("#tk-action-buttons button").all_inner_texts()
        assert buttons == ["Approve", "Return"], buttons
        await shot(page, "tickets-c1-review")

        # return needs a reason: refused in the browser first, then sent back to the unit
        await page.click(f"#tk-rows tr[data-number='{redo['number']}'] button.tk-link")
        await page.wait_for_selector(f"#tk-card[data-id='{redo['id']}']")
        await page.click("#tk-action-buttons button[data-action='return']")
        assert await text(page, "#tk-note-label") == "Reason"
        await page.click("#tk-action-go")
        await wait_text(page, "#tk-note-error", "Reason is required")
        await page.fill("#tk-note", "Voltage not measured")
        await page.click("#tk-action-go")
        await page.wait_for_selector(f"#tk-card[data-id='{redo['id']}'][data-state='in_progress']")
        assert "Voltage not measured" in await text(page, "#tk-history")
        await page.wait_for_selector(f"#tk-rows tr[data-number='{redo['number']}']", state="detached")

        await page.click(f"{row} button.tk-link")
        await page.wait_for_selector(f"#tk-card[data-id='{t['id']}']")
        await page.click("#tk-action-buttons button[data-action='review']")
        await page.fill("#tk-note", "Result checked")
        await page.click("#tk-action-go")
        await page.wait_for_selector("#tk-card[data-state='reviewed']")
        await wait_text(page, "#tk-status", "Approve done")

        # the revisit tab: a dissatisfied revisit needs a comment (the API's 422 shows in the form)
        await page.check("#tk-filters input[value='reviewed']")
        await page.wait_for_selector(row)
        await page.click(f"{row} button.tk-link")
        await page.click("#tk-action-buttons button[data-action='revisit']")
        await page.click("#tk-action-go")
        await wait_text(page, "#tk-action-error", "Satisfaction is required")
        await page.check("#tk-action-form input[name=satisfaction][value='dissatisfied']")
        await page.click("#tk-action-go")
        await page.wait_for_selector("#tk-comment-error:not([hidden])")
        assert "comment" in await text(page, "#tk-comment-error")
        assert await page.get_attribute("#tk-comment", "aria-invalid") == "true"
        await page.fill("#tk-comment", "Power failed again the next day")
        await shot(page, "tickets-c2-revisit-form")
        await page.click("#tk-action-go")
        await page.wait_for_selector("#tk-card[data-state='revisited']")
        assert "Dissatisfied" in await text(page, "#tk-facts")

        # the dissatisfied tab lists it; reopen sends it back to the unit
        await page.check("#tk-filters input[value='dissatisfied']")
        await page.wait_for_selector(row)
        await page.click(f"{row} button.tk-link")
        await page.click("#tk-action-buttons button[data-action='reopen']")
        await page.fill("#tk-note", "Customer still without power")
        await page.click("#tk-action-go")
        await page.wait_for_selector("#tk-card[data-state='in_progress']")
        history = await text(page, "#tk-history")
        for word in ("Approve", "Revisit", "Dissatisfied", "Power failed again", "Reopen", "wang.fang"):
            assert word in history, (word, history)
        await shot(page, "tickets-c3-reopened")
        stored = await agent.get(t)
        assert stored["state"] == "in_progress" and stored["satisfaction"] == "dissatisfied"
        assert stored["reopens"] == 1
        assert not page.page_errors, page.page_errors


# -- (d) the overdue board -----------------------------------------------------------------------------


async def test_overdue_board_follows_deadlines_live(live: Live, new_page: Any, shot: Any) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        agent = await Api.as_user(client, "li.na")
        soon = await agent.create(fault_body("即将超期"))
        later = await agent.create(fault_body("事件驱动", customer="3201001002"))
        quiet = await agent.create(fault_body("时限充足"))
        async with live.hotline.db() as s:
            tenant_id = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        now = utcnow()
        async with live.hotline.db() as s, s.begin():
            # only this test's orders are on the board (the demo data may hold others)
            mine = (soon["id"], later["id"], quiet["id"])
            await s.execute(update(Ticket).where(Ticket.id.not_in(mine)).values(due_at=None, overdue=False))
            await s.execute(
                update(Ticket)
                .where(Ticket.id == soon["id"])
                .values(due_at=now + timedelta(seconds=8), overdue=False)
            )
            await s.execute(
                update(Ticket)
                .where(Ticket.id == later["id"])
                .values(due_at=now + timedelta(minutes=30), overdue=False)
            )
            await s.execute(
                update(Ticket)
                .where(Ticket.id == quiet["id"])
                .values(due_at=now + timedelta(days=3), overdue=False)
            )

        page = await open_page(new_page, "admin", "/tickets/overdue")
        await page.wait_for_selector(f"#tk-soon-rows tr[data-number='{soon['number']}']")
        assert await page.is_visible(f"#tk-soon-rows tr[data-number='{later['number']}']")
        assert await page.locator(f"tr[data-number='{quiet['number']}']").count() == 0
        assert await text(page, "#tk-unit-rows tr[data-unit='js.nj.jn.ds'] td[data-col='soon']") == "2"
        await shot(page, "tickets-d1-board-soon")

        # its due time passes: the board moves it to "overdue" by itself
        await page.wait_for_selector(f"#tk-over-rows tr[data-number='{soon['number']}']", timeout=20_000)
        await wait_text(page, f"#tk-over-rows tr[data-number='{soon['number']}'] .tk-due", "超期")
        assert await text(page, "#tk-unit-rows tr[data-unit='js.nj.jn.ds'] td[data-col='over']") == "1"

        # the scheduler marks the other one overdue (escalation): the event reloads the board
        async with live.hotline.db() as s, s.begin():
            await s.execute(
                update(Ticket)
                .where(Ticket.id == later["id"])
                .values(overdue=True, due_at=now - timedelta(minutes=1))
            )
        live.hotline.center.hub.publish(
            tenant_id,
            "ticket_deadline",
            data={
                "kind": "overdue",
                "id": later["id"],
                "number": later["number"],
                "step": "arrive",
                "level": 1,
            },
        )
        await page.wait_for_selector(f"#tk-over-rows tr[data-number='{later['number']}']", timeout=10_000)
        await wait_text(page, "#tk-status", later["number"])
        assert await text(page, "#tk-total-overdue") == "2"
        await shot(page, "tickets-d2-board-overdue")

        # the supervisor urges from the board
        await page.click(f"#tk-over-rows tr[data-number='{later['number']}'] button[data-urge]")
        # (the status line says so, unless a deadline event is announced right after it)
        await wait_text(page, f"#tk-over-rows tr[data-number='{later['number']}'] td.num", "1")
        stored = await agent.get(later)
        assert stored["urges"] == 1
        assert not page.page_errors, page.page_errors


# -- (e) statistics ------------------------------------------------------------------------------------


async def test_statistics_page_and_export(live: Live, new_page: Any, shot: Any) -> None:
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        agent = await Api.as_user(client, "li.na")
        handler = await Api.as_user(client, "liu.yang")
        t = await agent.create(fault_body())
        for action in ("acknowledge", "start"):
            t = await handler.act(t, action)
        await handler.act(t, "reply", note="已处理", payload={"substantiated": True})

        page = await open_page(new_page, "wang.fang", "/tickets/stats")
        row = "#tk-stats-rows tr[data-unit='js.nj.jn.ds'][data-type='fault_repair']"
        await page.wait_for_selector(row)
        assert int(await text(page, f"{row} td[data-col='accepted']")) >= 1
        assert int(await text(page, f"{row} td[data-col='handled']")) >= 1
        assert "%" in await text(page, "#tk-stats-total-row td[data-col='reply_rate']")
        await shot(page, "tickets-e1-stats")

        # per type only: one row per type, the unit column gone
        await page.uncheck("#tk-stats-form input[name=group][value=unit]")
        await page.click("#tk-stats-go")
        await page.wait_for_selector("#tk-stats-rows tr[data-type='fault_repair'][data-unit='']")
        heads = await page.locator("#tk-stats-head th").all_inner_texts()
        assert heads[0] == "类型" and "责任单位" not in heads, heads

        href = await page.get_attribute("#tk-csv", "href")
        assert href and "format=csv" in href and "group_by=type" in href
        got = await page.request.get(f"{live.url}{href}")
        assert got.status == 200
        body = (await got.body()).decode("utf-8-sig")
        assert "故障报修" in body, body[:300]
        assert not page.page_errors, page.page_errors
