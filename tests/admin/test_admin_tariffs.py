"""/admin/tariffs over HTTP: list, readable tables of a version, the YAML editor with server-side
errors (paths), saving through the API rules, read-only for supervisors, 403 for agents."""

from __future__ import annotations

import re

import pytest
from httpx import AsyncClient

from hotline.utility import tariffs as T
from tests.admin.test_admin_pages import sign_in

RES_TOU = """\
code: res-tou-x
name: 居民峰谷
kind: tiered
customer_class: urban_resident
effective_from: 2026-01-01
by_default: false
tiers:
  - {upto: 2760, price: 0.5283}
  - {upto: 4800, price: 0.5783}
  - {price: 0.8283}
tou:
  windows: {peak: ["08:00-21:00"], valley: ["21:00-08:00"]}
  prices: {peak: 0.5583, valley: 0.3583}
"""


def visible(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", html, flags=re.S))


async def csrf_of(client: AsyncClient, path: str) -> str:
    r = await client.get(path)
    m = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
    assert m, r.text[:500]
    return m.group(1)


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_admin_edits_tariffs_with_errors_shown(app_client: AsyncClient, lang: str) -> None:
    c = app_client
    await sign_in(c, "admin", lang)
    r = await c.get("/admin/tariffs")
    assert r.status_code == 200 and 'id="new-tariff"' in r.text
    assert "adm_" not in visible(r.text) and "tar_" not in visible(r.text)

    r = await c.get("/admin/tariffs/res-tou-x")  # a new code: the editor with a template
    assert r.status_code == 200 and "tariff-save" in r.text
    token = await csrf_of(c, "/admin/tariffs/res-tou-x")

    bad = RES_TOU.replace("{upto: 4800, price: 0.5783}", "{upto: 2000, price: 0.5783}")
    r = await c.post("/admin/tariffs/res-tou-x", data={"source": bad, "action": "save", "csrf_token": token})
    assert r.status_code == 422 and "tiers[1].upto" in r.text and "issue-error" in r.text, (
        r.headers,
        r.text[-3000:],
    )
    assert "2000" in r.text  # the submitted text stays in the editor

    gap = RES_TOU.replace('["21:00-08:00"]', '["22:00-08:00"]')
    r = await c.post(
        "/admin/tariffs/res-tou-x", data={"source": gap, "action": "validate", "csrf_token": token}
    )
    assert r.status_code == 422 and "tou.windows" in r.text and "21:00-22:00" in r.text
    r = await c.post(
        "/admin/tariffs/res-tou-x", data={"source": "a: [", "action": "validate", "csrf_token": token}
    )
    assert r.status_code == 422
    r = await c.post(
        "/admin/tariffs/res-tou-x", data={"source": RES_TOU, "action": "validate", "csrf_token": token}
    )
    assert r.status_code == 200 and "issue-error" not in r.text
    r = await c.post(
        "/admin/tariffs/res-tou-x", data={"source": RES_TOU, "action": "save", "csrf_token": "wrong"}
    )
    assert r.status_code == 403

    r = await c.post(
        "/admin/tariffs/res-tou-x", data={"source": RES_TOU, "action": "save", "csrf_token": token}
    )
    assert (
        r.status_code == 303
        and r.headers["location"] == "/admin/tariffs/res-tou-x?version=2026-01-01&saved=1"
    )
    page = await c.get(r.headers["location"])
    assert page.status_code == 200 and 'id="tiers"' in page.text
    text = visible(page.text)
    assert "2760" in text and "0.8283" in text and "08:00-21:00" in text and "13" in text  # peak hours
    assert "adm_" not in text and "tar_" not in text

    two_part = T.default_documents()[4]
    import yaml

    src = yaml.safe_dump({**two_part, "code": "li-x", "effective_from": "2026-01-01"}, allow_unicode=True)
    r = await c.post("/admin/tariffs/li-x", data={"source": src, "action": "save", "csrf_token": token})
    assert r.status_code == 303
    page = await c.get("/admin/tariffs/li-x")
    assert "1.1442" in page.text and 'id="surcharges"' in page.text
    assert (await c.get("/admin/tariffs/li-x?version=1999-01-01")).status_code == 404
    listing = await c.get("/admin/tariffs")
    assert 'href="/admin/tariffs/res-tou-x"' in listing.text and 'href="/admin/tariffs/li-x"' in listing.text


async def test_supervisor_reads_only_and_agent_is_refused(app_client: AsyncClient) -> None:
    await sign_in(app_client, "wang.fang")
    r = await app_client.get("/admin/tariffs")
    assert r.status_code == 200 and "readonly-note" in r.text and 'id="new-tariff"' not in r.text
    assert (await app_client.get("/admin/tariffs/nothing-here")).status_code == 404
    await sign_in(app_client, "li.na")
    assert (await app_client.get("/admin/tariffs")).status_code == 403
