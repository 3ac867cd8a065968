"""The login page in a real browser: sign in, land where you were going, switch language."""

from __future__ import annotations

from typing import Any

from tests.browser.conftest import Live


async def test_sign_in_lands_on_next_page_and_language_switches(live: Live, new_page: Any, shot: Any) -> None:
    page = await new_page("admin", lang="en", path="/")
    assert "Welcome" in await page.inner_text("main")
    await shot(page, "home-en")
    await page.click("a.lang")
    await page.wait_for_load_state()
    assert "欢迎" in await page.inner_text("main")
    await shot(page, "home-zh")
