"""Browser tests: the real app under uvicorn on a free loopback port, driven by Playwright in
Debian's headless Chromium (/usr/bin/chromium; `make test` installs it).

Fixtures:
- ``live`` — the app with the demo tenant and telephony (SIP + media on free ports); ``live.url``
  is the HTTP base URL and ``live.app`` the FastAPI app (``live.app.state.hotline``).
- ``browser`` — a headless Chromium; ``new_page(user)`` signs ``user`` in through the login form
  and returns the page (each user gets their own browser context: own cookies).
- ``shot(page, name)`` saves a full-page screenshot to ``test-artifacts/screenshots/NAME.png``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hotline.web.app import create_app
from tests.conftest import make_settings
from tests.liveserver import running

CHROMIUM = "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "Hotline-2026"
#: flags for a sandboxed machine without a network (see the workplace's notes on Chromium)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

pytestmark = pytest.mark.browser


@dataclass
class Live:
    url: str
    app: Any

    @property
    def hotline(self) -> Any:
        return self.app.state.hotline


@pytest.fixture
async def live(tmp_path: Path, demo_db_template: Path) -> AsyncIterator[Live]:
    db = tmp_path / "demo.db"
    shutil.copyfile(demo_db_template, db)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{db}", sip=True)
    settings.sip.keepalive_interval = 0
    app = create_app(settings)
    async with running(app) as url:
        yield Live(url, app)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not os.path.exists(CHROMIUM):  # noqa: ASYNC240 (once per test, before any I/O starts)
        pytest.skip(f"{CHROMIUM} is missing: run scripts/install-test-deps.sh (Debian package chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


NewPage = Callable[..., Awaitable[Any]]


@pytest.fixture
async def new_page(live: Live, browser: Any) -> NewPage:
    """``await new_page("li.na", lang="zh-CN", path="/desk")``: a signed-in page of its own context."""

    async def make(username: str, *, lang: str = "zh-CN", path: str = "/", password: str = PASSWORD) -> Any:
        context = await browser.new_context(
            viewport={"width": 1280, "height": 800}, locale=lang, timezone_id="Asia/Shanghai"
        )
        await context.add_cookies([{"name": "lang", "value": lang, "url": live.url}])
        page = await context.new_page()
        await page.goto(f"{live.url}/login?next={path}")
        await page.fill("#username", username)
        await page.fill("#password", password)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{live.url}{path}")
        return page

    return make


@pytest.fixture
def shot() -> Callable[[Any, str], Awaitable[Path]]:
    async def take(page: Any, name: str) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path

    return take
