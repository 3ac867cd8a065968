"""The work-order pages over HTTP: who may open /tickets/queue, /tickets/review, /tickets/overdue
(the rest get an audited 403 page, signed-out browsers the login page), both languages, the top
navigation links, the desk's "new work order" panel and the strings every page needs."""

from __future__ import annotations

import json
import re

import pytest
from httpx import AsyncClient
from markupsafe import escape
from sqlalchemy import select

from hotline.store.models import AuditEntry
from hotline.web.ui.i18n import STRINGS, area_keys
from tests.admin.test_admin_pages import sign_in

PAGES = ("/tickets/queue", "/tickets/review", "/tickets/overdue", "/tickets/stats")
STATS = "/tickets/stats"
#: who may open each page (demo users): queue ticket.handle, review and overdue ticket.review,
#: statistics ticket.read or stats.read
ALLOWED = {
    "admin": set(PAGES),
    "wang.fang": set(PAGES),  # supervisor: handle + review
    "liu.yang": {"/tickets/queue", STATS},  # handler
    "li.na": {STATS},  # agent: ticket.read/write
    "zhao.min": {STATS},  # qa: ticket.read
    "sun.li": {STATS},  # viewer: stats.read
}
#: the statistics link is in the top bar for ticket.review holders only
NAV_SHOWN = {u: p if u in ("admin", "wang.fang") else p - {STATS} for u, p in ALLOWED.items()}
TITLES = {
    "/tickets/queue": "tk_queue_title",
    "/tickets/review": "tk_review_title",
    "/tickets/overdue": "tk_overdue_title",
    STATS: "tk_stats_title",
}
NAV = {
    "/tickets/queue": "nav_tickets_queue",
    "/tickets/review": "nav_tickets_review",
    "/tickets/overdue": "nav_tickets_overdue",
    STATS: "nav_tickets_stats",
}


def _json_block(html: str, element_id: str) -> dict[str, object]:
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html, re.S)
    assert m, element_id
    doc = json.loads(m.group(1))
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("username", sorted(ALLOWED))
async def test_pages_by_role(app_client: AsyncClient, username: str, lang: str) -> None:
    await sign_in(app_client, username, lang)
    home = await app_client.get("/")
    assert home.status_code == 200
    for path in PAGES:
        link = f'href="{path}"'
        label = STRINGS[NAV[path]][lang]
        if path in NAV_SHOWN[username]:
            assert link in home.text and str(escape(label)) in home.text, (username, path)
        else:
            assert link not in home.text, (username, path)

        r = await app_client.get(path)
        title = str(escape(STRINGS[TITLES[path]][lang]))
        assert title in r.text
        if path in ALLOWED[username]:
            assert r.status_code == 200, (username, path, r.text[:500])
            assert '<script type="module" src="/static/js/tickets.js">' in r.text
            cfg = _json_block(r.text, "tickets-config")
            assert cfg["page"] == path.rsplit("/", 1)[1] and cfg["lang"] == lang
            strings = _json_block(r.text, "page-strings")
            assert set(area_keys("tickets")) <= set(strings)
            assert strings["tk_act_acknowledge"] == STRINGS["tk_act_acknowledge"][lang]
            if path in NAV_SHOWN[username]:
                assert 'aria-current="page"' in r.text
        else:
            assert r.status_code == 403, (username, path)
            assert str(escape(STRINGS["tk_forbidden"][lang])) in r.text
            assert "tickets.js" not in r.text


async def test_refusals_are_audited(app_client: AsyncClient) -> None:
    await sign_in(app_client, "li.na")
    r = await app_client.get("/tickets/review")
    assert r.status_code == 403
    assert "ticket.review" in r.text
    state = app_client.app.state.hotline  # type: ignore[attr-defined]
    async with state.db() as s:
        rows = (
            await s.scalars(
                select(AuditEntry).where(
                    AuditEntry.resource_type == "ticket_page", AuditEntry.outcome == "denied"
                )
            )
        ).all()
    assert [(e.action, e.resource_id) for e in rows] == [("ticket.review", "/tickets/review")]


async def test_signed_out_goes_to_login(app_client: AsyncClient) -> None:
    for path in (*PAGES, "/tickets"):
        r = await app_client.get(path)
        assert r.status_code == 303
        assert r.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize(
    ("username", "target"),
    [("liu.yang", "/tickets/queue"), ("wang.fang", "/tickets/queue"), ("admin", "/tickets/queue")],
)
async def test_tickets_home_redirects_to_the_first_page(
    app_client: AsyncClient, username: str, target: str
) -> None:
    await sign_in(app_client, username)
    r = await app_client.get("/tickets")
    assert r.status_code == 303 and r.headers["location"] == target


async def test_tickets_home_for_readers_is_the_statistics(app_client: AsyncClient) -> None:
    await sign_in(app_client, "sun.li")
    r = await app_client.get("/tickets")
    assert r.status_code == 303 and r.headers["location"] == STATS


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_desk_has_the_new_order_panel_for_agents(app_client: AsyncClient, lang: str) -> None:
    await sign_in(app_client, "li.na", lang)
    r = await app_client.get("/desk")
    assert r.status_code == 200
    assert 'id="tkd"' in r.text and STRINGS["tk_new"][lang] in r.text
    assert 'for="tkd-type"' in r.text and 'aria-live="polite"' in r.text
    strings = _json_block(r.text, "page-strings")
    assert set(area_keys("tickets")) <= set(strings)


async def test_desk_without_ticket_write_has_no_panel(app_client: AsyncClient) -> None:
    """A handler (no ticket.write, no agent profile) sees no create panel."""
    await sign_in(app_client, "liu.yang")
    r = await app_client.get("/desk")
    assert 'id="tkd"' not in r.text


def test_every_ticket_string_has_both_languages() -> None:
    for key in area_keys("tickets"):
        assert STRINGS[key]["zh-CN"] and STRINGS[key]["en"], key
