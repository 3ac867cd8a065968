"""/admin/tariffs in a real browser: an admin opens the editor for a new code, saves a tariff with
overlapping tiers and sees the error with its path, fixes it, and reads the tiers and time
windows as tables; every form field is labelled. Screenshots."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Live

BROKEN = """code: res-tou-b
name: 居民峰谷（浏览器测试）
kind: tiered
customer_class: urban_resident
effective_from: 2026-01-01
by_default: false
tiers:
  - {upto: 2760, price: 0.5283}
  - {upto: 2000, price: 0.5783}
  - {price: 0.8283}
tou:
  windows: {peak: ["08:00-21:00"], valley: ["21:00-08:00"]}
  prices: {peak: 0.5583, valley: 0.3583}
"""
FIXED = BROKEN.replace("{upto: 2000,", "{upto: 4800,")

UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter((e) => !e.labels.length && !e.getAttribute('aria-label'))
  .map((e) => e.id || e.name)"""


async def test_admin_edits_a_tariff_in_the_browser(live: Live, new_page: Any, shot: Any) -> None:
    page = await new_page("admin", lang="zh-CN", path="/admin/tariffs")
    await page.fill("#nt-code", "res-tou-b")
    await page.click("#new-tariff button[type=submit]")
    await page.wait_for_url(f"{live.url}/admin/tariffs/res-tou-b")
    assert await page.evaluate(UNLABELLED) == []
    await page.fill("#tariff-source", BROKEN)
    await page.click("#tariff-save")
    await page.wait_for_selector("#tariff-issues .issue-error")
    assert "tiers[1].upto" in await page.inner_text("#tariff-issues")
    await shot(page, "admin-tariff-error")
    await page.fill("#tariff-source", FIXED)
    await page.click("#tariff-save")
    await page.wait_for_url(f"{live.url}/admin/tariffs/res-tou-b?version=2026-01-01&saved=1")
    tiers = await page.inner_text("#tiers")
    assert "2760" in tiers and "4800" in tiers and "0.8283" in tiers
    windows = await page.inner_text("#tariff-view")
    assert "08:00-21:00" in windows and "高峰" in windows
    await shot(page, "admin-tariff-view")
    await page.goto(f"{live.url}/admin/tariffs")
    assert await page.locator("a[href='/admin/tariffs/res-tou-b']").count() == 1
    await shot(page, "admin-tariffs")
