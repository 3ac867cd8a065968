"""The desk's customer panel in a real browser: a SIPp caller from a demo customer's number whose
phone has two accounts → the panel lists both → the agent picks one (the call is linked) →
verifies the caller's PIN → the balance and the private data appear."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from hotline.crm.protect import hash_pin
from hotline.store.db import transaction
from hotline.store.models import ContactEntry, Customer, CustomerPhone, Tenant, Unit
from tests.browser.conftest import Live
from tests.browser.test_desk import LiveCenter, open_desk, text, wait_state, wait_text
from tests.crm.test_screenpop import FakeCis
from tests.peers import sipp
from tests.peers.sipp import Pause, Play, SippPeers

PHONE = "+8613912340001"

sipp_peers = sipp.sipp_peers  # the fixture


async def _two_accounts(live: Live) -> dict[str, int]:
    """周建国's number also belongs to a second account; PIN 123456 on 3201001001."""
    async with transaction(live.hotline.db) as s:
        tid = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        unit = await s.scalar(select(Unit).where(Unit.tenant_id == tid, Unit.code == "js.nj.jn.ds"))
        assert tid is not None and unit is not None
        first = await s.scalar(
            select(Customer).where(Customer.tenant_id == tid, Customer.account_no == "3201001001")
        )
        assert first is not None
        first.pin_hash = hash_pin("123456")
        first.vip = True
        second = Customer(
            tenant_id=tid,
            unit_id=unit.id,
            account_no="3201001009",
            name="周建国（老宅）",
            phone=PHONE,
            address="南京市江宁区东山街道上坊村 14 号",
        )
        s.add(second)
        await s.flush()
        for c in (first, second):
            exists = await s.scalar(
                select(CustomerPhone.id).where(
                    CustomerPhone.customer_id == c.id, CustomerPhone.phone == PHONE
                )
            )
            if exists is None:
                s.add(CustomerPhone(tenant_id=tid, customer_id=c.id, phone=PHONE, kind="mobile"))
        return {"first": first.id, "second": second.id}


async def test_desk_customer_panel_pick_and_verify(
    live: Live, new_page: Any, shot: Any, sipp_peers: SippPeers, tmp_path: Path
) -> None:
    ids = await _two_accounts(live)
    live.hotline.center.billing = FakeCis()  # a CIS answering fixed balances and one outage
    async with AsyncClient(base_url=live.url, timeout=30) as client:
        c = await LiveCenter.create(client, sipp_peers, tmp_path)
        assert isinstance(c, LiveCenter)
        c.live = live
        await c.fast_queues("fault", wrap_up=30)
        phone = await c.phone("li.na", ring_ms=2500, hangup_by="remote", talk_ms=None)
        page = await open_desk(new_page, "li.na")
        await page.click("#btn-login")
        await wait_state(page, "未就绪")
        await page.click("#btn-ready")
        await wait_state(page, "就绪")

        # the caller presses 2 (fault) without keying an account: the number alone is known
        caller = await c.caller(
            "caller",
            "95598",
            [Pause(1500), c.digits("2"), Play(c.tone(900.0, 60.0, "PCMA"), wait=False)],
            expect_bye=True,
            bye_timeout=90,
        )
        # ringing: the panel lists the two accounts of the number
        await page.wait_for_selector("#cust-list li[data-account='3201001009']", timeout=45_000)
        assert await page.is_visible("#cust-candidates")
        assert "2 个户号" in await text(page, "#cust-pick")
        rows = await page.locator("#cust-list li").all_inner_texts()
        assert "周建国" in rows[0] and "3201001001" in rows[0] and "南京市江宁区…" in rows[0], rows
        assert "上坊村" not in await text(page, "#cust")
        await page.wait_for_selector("#call-card[data-state='connected']", timeout=20_000)
        await shot(page, "desk-customer-1-two-accounts")

        # the agent picks 3201001001: the card, not verified, no balance, the outage banner
        await page.click(f"#cust-list button[data-customer='{ids['first']}']")
        await page.wait_for_selector(f"#cust-card[data-customer='{ids['first']}']:not([hidden])")
        assert await text(page, "#cust-name") == "周建国"
        assert "3201001001" in await text(page, "#cust-account")
        badges = await text(page, "#cust-badges")
        assert "重要客户" in badges and "未验证身份" in badges, badges
        assert "乡村居民" in await text(page, "#cust-facts")
        assert "线路故障抢修中" in await text(page, "#cust-outage")
        assert "验证客户身份后显示" in await text(page, "#cust-balance")
        assert await page.is_hidden("#cust-private")
        orders = await text(page, "#cust-orders")  # the demo's open work orders of 3201001001
        assert "工单系统尚未接入" not in orders and "GD" in orders, orders
        await page.wait_for_selector("#cust-others:not([hidden])")
        await shot(page, "desk-customer-2-picked")

        call_id = (await c.calls(dialed="95598"))[0]["id"]
        async with live.hotline.db() as s:
            linked = await s.scalar(
                select(ContactEntry).where(ContactEntry.ref == call_id, ContactEntry.kind == "call")
            )
            assert linked is not None and linked.customer_id == ids["first"]

        # a wrong PIN: the API's detail is shown, nothing private appears
        await page.fill("#cust-pin", "000000")
        await page.click("#btn-cust-verify")
        await wait_text(page, ".api-error", "PIN does not match")
        assert await page.is_hidden("#cust-private")

        # the right PIN: verified, the balance and the private data appear
        await page.fill("#cust-pin", "123456")
        await page.fill("#cust-note", "客户报出查询密码")
        await page.click("#btn-cust-verify")
        await page.wait_for_selector("#cust-private:not([hidden])")
        await wait_text(page, "#cust-badges", "已验证（座席核实）")
        assert "316.90 元" in await text(page, "#cust-amount-due")
        assert "150.00 元" in await text(page, "#cust-balance")
        priv = await text(page, "#cust-private")
        assert "上坊村 12 号" in priv and "+8613912340001" in priv, priv
        assert await page.is_hidden("#cust-verify")
        await shot(page, "desk-customer-3-verified")

        # the agent hangs up; the panel stays for the wrap-up
        await page.keyboard.press("Alt+x")
        await page.wait_for_selector("#wrapup-form:not([hidden])", timeout=15_000)
        await wait_text(page, "#cust-status", "通话已结束")
        assert await page.is_visible("#cust-card")
        assert await caller.wait(30) == 0, caller.explain()
        assert await phone.wait(15) == 0, phone.explain()
        cdr = await c.call(call_id)
        assert cdr["data"]["customer_id"] == ids["first"] and cdr["data"]["account_no"] == "3201001001", cdr
        assert not page.desk_errors, page.desk_errors
