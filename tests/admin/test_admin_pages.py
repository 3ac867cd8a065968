"""The /admin pages rendered for an administrator, a read-only supervisor and an agent."""

from __future__ import annotations

import re

import pytest
from httpx import AsyncClient

PAGES = [
    "/admin",
    "/admin/users",
    "/admin/users/new",
    "/admin/units",
    "/admin/calendars/new",
    "/admin/extensions",
    "/admin/agents",
    "/admin/queues",
    "/admin/queues/general",
    "/admin/queues/+new",
    "/admin/codes",
    "/admin/ivr",
    "/admin/ivr/95598-zh",
    "/admin/ivr/brand-new-flow",
    "/admin/numbers",
    "/admin/audit",
]


async def sign_in(client: AsyncClient, username: str, lang: str = "en") -> str:
    """Sign in through the login form; returns the page's CSRF token."""
    client.cookies.set("lang", lang)
    r = await client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert token
    r = await client.post(
        "/login",
        data={
            "username": username,
            "password": "Hotline-2026",
            "csrf_token": token.group(1),
            "next": "/admin",
        },
    )
    assert r.status_code == 303, r.text
    r = await client.get("/")
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', r.text)
    assert meta
    return meta.group(1)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_admin_sees_every_page_with_edit_controls(app_client: AsyncClient, lang: str) -> None:
    await sign_in(app_client, "admin", lang)
    for path in PAGES:
        r = await app_client.get(path)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:300]}"
        visible = re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", r.text, flags=re.S))
        assert "adm_" not in visible, f"{path}: untranslated key"
    r = await app_client.get("/admin/users")
    assert 'href="/admin/users/new"' in r.text
    r = await app_client.get("/admin/ivr/95598-zh")
    assert 'data-node="menu"' in r.text and 'id="flow-save"' in r.text
    cal = (await app_client.get("/admin/units")).text
    first_cal = re.search(r'href="/admin/calendars/(\d+)"', cal)
    assert first_cal
    assert (await app_client.get(f"/admin/calendars/{first_cal.group(1)}")).status_code == 200


async def test_agent_gets_no_admin_link_and_a_403_page(app_client: AsyncClient) -> None:
    await sign_in(app_client, "li.na")
    home = await app_client.get("/")
    assert 'href="/admin"' not in home.text
    for path in ("/admin", "/admin/users", "/admin/ivr/95598-zh"):
        r = await app_client.get(path)
        assert r.status_code == 403 and "Forbidden" in r.text, path


async def test_missing_records_are_404_pages(app_client: AsyncClient) -> None:
    await sign_in(app_client, "admin")
    for path in (
        "/admin/users/999999",
        "/admin/users/99999999999999999999999",
        "/admin/queues/nope",
        "/admin/calendars/99999",
        "/admin/calendars/99999999999999999999999",
        "/admin/agents/999999",
        "/admin/ivr/%3Cscript%3E",
        "/admin/ivr/95598-zh?version=999",
    ):
        r = await app_client.get(path)
        assert r.status_code == 404, path
    assert (await app_client.get("/admin/audit", params={"before_id": 10**30})).status_code == 200


async def test_signed_out_goes_to_login(app_client: AsyncClient) -> None:
    r = await app_client.get("/admin/queues")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/admin/queues"


def test_every_string_the_admin_templates_use_is_translated() -> None:
    from pathlib import Path

    from hotline.ivr.graph import COLOURS
    from hotline.web.ui.admin import JS_STRINGS, SECTIONS
    from hotline.web.ui.i18n import STRINGS

    folder = Path(__file__).resolve().parents[2] / "hotline" / "web" / "ui" / "templates" / "admin"
    used = set(JS_STRINGS)
    for path in folder.glob("*.html"):
        used |= set(re.findall(r"\bt\.([a-z_]+)\b", path.read_text(encoding="utf-8"))) - {"get"}
    used |= {f"adm_sec_{s.key}" for s in SECTIONS} | {f"adm_sec_{s.key}_hint" for s in SECTIONS}
    missing = sorted(k for k in used if k not in STRINGS)
    assert not missing
    assert COLOURS  # the graph's legend string describes these node colours


async def test_city_admin_edits_their_users_but_sees_tenant_wide_records_read_only(
    app_client: AsyncClient,
) -> None:
    from tests.conftest import token_for

    h = await token_for(app_client, "admin")
    body = {
        "username": "city.admin",
        "password": "City-Admin-2026",
        "unit": "js.nj",
        "roles": [{"role": "admin", "scope": "subtree"}],
    }
    assert (await app_client.post("/api/v1/users", json=body, headers=h)).status_code == 201
    app_client.cookies.set("lang", "en")
    r = await app_client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert token
    r = await app_client.post(
        "/login", data={"username": "city.admin", "password": "City-Admin-2026", "csrf_token": token.group(1)}
    )
    assert r.status_code == 303
    users = (await app_client.get("/admin/users")).text
    assert 'href="/admin/users/new"' in users and "Read only" not in users
    assert "li.na" in users and ">admin<" not in users  # only the users of their subtree
    flows = (await app_client.get("/admin/ivr/95598-zh")).text
    assert "Read only" in flows and 'id="flow-save"' not in flows and "readonly" in flows
    numbers = (await app_client.get("/admin/numbers")).text
    assert "Read only" in numbers and "data-api-method" not in numbers
    codes = (await app_client.get("/admin/codes")).text
    assert "Read only" in codes and "data-api-method" not in codes
    units = (await app_client.get("/admin/units")).text
    assert 'href="/admin/calendars/new"' not in units
    assert (await app_client.get("/admin/calendars/new")).status_code == 403
