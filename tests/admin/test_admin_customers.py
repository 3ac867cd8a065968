"""/admin/customers over HTTP: search, the record (edit controls, masking), timeline, import through
the browser session (cookie + CSRF), permissions."""

from __future__ import annotations

import re

import pytest
from httpx import AsyncClient

from tests.admin.test_admin_pages import sign_in


def _visible(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", html, flags=re.S))


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_admin_searches_views_and_edits(app_client: AsyncClient, lang: str) -> None:
    c = app_client
    csrf = await sign_in(c, "admin", lang)
    r = await c.get("/admin/customers")
    assert r.status_code == 200, r.text
    assert "3201001001" in r.text and 'id="import-form"' in r.text and 'id="new-customer"' in r.text
    assert "adc_" not in _visible(r.text) and "adm_" not in _visible(r.text)
    assert "/static/js/admin-customers.js" in r.text
    # automatic search: a phone in national form, an account number, a name prefix
    for q, account in (("13912340002", "3201001002"), ("3201002001", "3201002001"), ("苏州", "3205001001")):
        r = await c.get("/admin/customers", params={"q": q})
        found = re.findall(r"<code>(\d{10})</code>", r.text)
        assert account in found, (q, found)  # the demo data may share phones (family accounts)
    r = await c.get("/admin/customers", params={"q": "nobody-like-this"})
    assert re.findall(r"<code>(\d{10})</code>", r.text) == []

    cid = int(
        re.search(
            r'href="/admin/customers/(\d+)"',
            (await c.get("/admin/customers", params={"q": "3201001001"})).text,
        ).group(1)
    )  # type: ignore[union-attr]
    # edit through the JSON API with the session cookie and the page's CSRF token
    h = {"X-CSRF-Token": csrf}
    r = await c.patch(
        f"/api/v1/customers/{cid}",
        json={"vip": True, "tags": ["低保"], "phones": ["13912340001", "13800000000"]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert (
        await c.post(f"/api/v1/customers/{cid}/notes", json={"text": "来电咨询电价"}, headers=h)
    ).status_code == 201
    r = await c.get(f"/admin/customers/{cid}")
    assert r.status_code == 200
    page = r.text
    assert 'id="customer-form"' in page and 'id="pin-form"' in page and 'id="note-form"' in page
    assert "+8613800000000" in page  # admin holds customer.private: full phones, editable
    assert 'name="phones"' in page and "来电咨询电价" in page and "低保" in page
    assert "adc_" not in _visible(page)


async def test_import_dry_run_through_the_page_session(app_client: AsyncClient) -> None:
    c = app_client
    csrf = await sign_in(c, "admin")
    csv = "户号,户名,供电单位,联系电话\n3201007001,页面导入,js.nj,13912347001\n3201007002,,js.nj,x\n"
    files = {"file": ("c.csv", csv.encode(), "text/csv")}
    r = await c.post("/api/v1/customers/import", files=files, data={"dry_run": "true"})
    assert r.status_code == 403  # no CSRF token
    r = await c.post(
        "/api/v1/customers/import", files=files, data={"dry_run": "true"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["dry_run"] and rep["created"] == 1 and {e["line"] for e in rep["errors"]} == {3}
    assert (await c.get("/admin/customers", params={"q": "3201007001"})).text.count(
        "3201007001"
    ) == 1  # only the search box


async def test_read_only_and_forbidden(app_client: AsyncClient) -> None:
    c = app_client
    # an agent has customer.write but no administration permission: the admin area is closed
    await sign_in(c, "li.na")
    r = await c.get("/admin/customers")
    assert r.status_code == 403
    c.cookies.clear()
    # the viewer holds no customer.read
    await sign_in(c, "sun.li")
    assert (await c.get("/admin/customers")).status_code == 403


async def test_supervisor_reads_without_edit_controls(app_client: AsyncClient) -> None:
    c = app_client
    await sign_in(c, "wang.fang")  # supervisor of js.nj: customer.read there, no customer.write
    r = await c.get("/admin/customers")
    assert r.status_code == 200 and 'id="new-customer"' not in r.text and 'id="import-form"' not in r.text
    assert "3201001001" in r.text and "3205001001" not in r.text  # Suzhou is outside the subtree
    cid = re.search(r'href="/admin/customers/(\d+)"', r.text).group(1)  # type: ignore[union-attr]
    page = (await c.get(f"/admin/customers/{cid}")).text
    assert 'id="pin-form"' not in page and "<fieldset disabled>" in page
    assert "+86139****" in page  # masked: no customer.private
    sz = await c.get("/api/v1/customers", params={"account_no": "3205001001"})
    assert sz.json()["items"] == []
