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
from tests.conftest import token_for

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

        # a stale version: someone else acted meanwhile → the page reloads and says so
        await page.click(f"#tk-rows tr[data-number='{other['number']}'] button.tk-link")
        await page.wait_for_selector(f"#tk-card[data-id='{other['id']}']")
        handler = await Api.as_user(client, "liu.yang")
        await handler.act(other, "acknowledge")
        await page.click("#tk-action-buttons button[data-action='acknowledge']")
        await wait_text(page, "#tk-status", "已被他人修改")
        await page.wait_for_selector(f"#tk-card[data-id='{other['id']}'][data-state='acknowledged']")
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

        page = await open_page(new_page, "wang.fang", "/tickets/review", lang="en")
        row = f"#tk-rows tr[data-number='{t['number']}']"
        await page.wait_for_selector(row)
        await page.click(f"{row} button.tk-link")
        await page.wait_for_selector(f"#tk-card[data-id='{t['id']}'][data-state='replied']")
        buttons = await page.locator("#tk-action-buttons button").all_inner_texts()
        assert buttons == ["Approve", "Return"], buttons
        await shot(page, "tickets-c1-review")

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
        await page.wait_for_selector("#tk-note-error:not([hidden])")
        assert "comment" in await text(page, "#tk-note-error")
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
        await wait_text(page, "#tk-status", "已催办")
        await wait_text(page, f"#tk-over-rows tr[data-number='{later['number']}'] td.num", "1")
        stored = await agent.get(later)
        assert stored["urges"] == 1
        assert not page.page_errors, page.page_errors
