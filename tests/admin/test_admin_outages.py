"""Outages over HTTP: the API (permissions, validation, transitions, audit, live event) and the
/admin/outages pages."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select, update

from hotline.seed import DEMO_TENANT
from hotline.store.db import transaction
from hotline.store.models import Customer, Tenant
from tests.admin.test_admin_pages import sign_in
from tests.conftest import token_for

FEEDER = "10kV 测试 901 线"


def _body(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "unit": "js.nj.jn.ds",
        "kind": "unplanned",
        "cause": "线路故障",
        "status": "active",
        "start_at": "2026-11-23T08:00:00+08:00",
        "expected_end_at": "2099-11-23T18:00:00+08:00",
        "areas": [{"feeder": FEEDER}],
    }
    body.update(kw)
    return body


async def _put_customers_on_feeder(client: AsyncClient) -> None:
    state = client.app.state.hotline  # type: ignore[attr-defined]
    async with transaction(state.db) as s:
        await s.execute(
            update(Customer)
            .where(Customer.account_no.in_(["3201001001", "3201001002"]))
            .values(feeder=FEEDER, transformer_area="T1")
        )


async def test_outage_api(app_client: AsyncClient) -> None:
    await _put_customers_on_feeder(app_client)
    admin = await token_for(app_client, "admin")
    sup = await token_for(app_client, "wang.fang")  # supervisor of js.nj (subtree)
    agent = await token_for(app_client, "li.na")
    viewer = await token_for(app_client, "sun.li")
    hub = app_client.app.state.hotline.center.hub  # type: ignore[attr-defined]
    async with transaction(app_client.app.state.hotline.db) as s:  # type: ignore[attr-defined]
        tenant_id = await s.scalar(select(Tenant.id).where(Tenant.slug == DEMO_TENANT))
    seq = hub.last_seq(tenant_id)

    r = await app_client.post("/api/v1/outages", json=_body(), headers=sup)
    assert r.status_code == 201, r.text
    o = r.json()
    assert o["status"] == "active" and o["unit"] == "js.nj.jn.ds" and o["allowed"] == ["restored"]
    assert o["affected_customers"] == 2
    assert o["announcement"]["zh"].startswith("您所在的区域正在故障停电，原因：线路故障")
    events = [e for e in hub.since(tenant_id, seq) or [] if e.type == "outage"]
    assert events and events[-1].data["action"] == "created" and events[-1].data["id"] == o["id"]

    # a planned one on a transformer area, local time without offset = Asia/Shanghai
    r = await app_client.post(
        "/api/v1/outages",
        json=_body(
            kind="planned",
            status="scheduled",
            start_at="2099-01-02T08:00:00",
            expected_end_at="2099-01-02T17:00:00",
            areas=[
                {"feeder": FEEDER, "transformer_area": "T1"},
                {"feeder": FEEDER, "transformer_area": "T2"},
            ],
        ),
        headers=admin,
    )
    assert r.status_code == 201, r.text
    planned = r.json()
    assert planned["start_at"].startswith("2099-01-02T00:00:00") and planned["affected_customers"] == 2

    # refusals and bad input
    r = await app_client.post("/api/v1/outages", json=_body(unit="js.sz"), headers=sup)
    assert r.status_code == 403, r.text
    r = await app_client.post("/api/v1/outages", json=_body(), headers=agent)
    assert r.status_code == 403
    r = await app_client.get("/api/v1/outages", headers=viewer)
    assert r.status_code == 403
    for bad, field in [
        (_body(expected_end_at="2026-11-23T07:00:00+08:00"), "expected_end_at"),
        (_body(unit="no.such.unit"), "unit"),
        (_body(areas=[]), "areas"),
        (_body(areas=[{"feeder": "  "}]), "areas"),
        (_body(kind="rolling"), "kind"),
    ]:
        r = await app_client.post("/api/v1/outages", json=bad, headers=admin)
        assert r.status_code == 422, (bad, r.text)
        assert any(field in str(e.get("field", "")) for e in r.json().get("errors", [{}])) or field in r.text

    # reading: agents have billing.read; filters
    r = await app_client.get(f"/api/v1/outages/{o['id']}", headers=agent)
    assert r.status_code == 200 and r.json()["affected_customers"] == 2
    r = await app_client.get("/api/v1/outages", params={"feeder": FEEDER}, headers=agent)
    assert {x["id"] for x in r.json()["items"]} == {o["id"], planned["id"]}
    r = await app_client.get(
        "/api/v1/outages", params={"feeder": FEEDER, "status": "scheduled"}, headers=agent
    )
    assert [x["id"] for x in r.json()["items"]] == [planned["id"]]
    r = await app_client.get(
        "/api/v1/outages", params={"feeder": FEEDER, "at": "2026-11-24T00:00:00+08:00"}, headers=agent
    )
    assert [x["id"] for x in r.json()["items"]] == [o["id"]]  # the planned one is years away
    r = await app_client.get("/api/v1/outages", params={"unit": "js.sz", "feeder": FEEDER}, headers=admin)
    assert r.json()["items"] == []
    r = await app_client.get("/api/v1/outages/999999", headers=admin)
    assert r.status_code == 404

    # change and transitions
    r = await app_client.patch(
        f"/api/v1/outages/{planned['id']}",
        json={"cause": "计划检修", "areas": [{"feeder": FEEDER}]},
        headers=admin,
    )
    assert (
        r.status_code == 200
        and r.json()["cause"] == "计划检修"
        and r.json()["areas"][0]["transformer_area"] == ""
    )
    r = await app_client.post(f"/api/v1/outages/{planned['id']}/restore", headers=admin)
    assert r.status_code == 409
    assert (
        "the outage is scheduled" in r.json()["detail"] and "allowed: active, cancelled" in r.json()["detail"]
    )
    r = await app_client.post(f"/api/v1/outages/{planned['id']}/cancel", headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "cancelled" and r.json()["allowed"] == []
    r = await app_client.patch(f"/api/v1/outages/{planned['id']}", json={"cause": "x"}, headers=admin)
    assert r.status_code == 409
    r = await app_client.post(f"/api/v1/outages/{o['id']}/restore", headers=agent)
    assert r.status_code == 403
    r = await app_client.post(f"/api/v1/outages/{o['id']}/restore", headers=sup)
    assert r.status_code == 200 and r.json()["status"] == "restored" and r.json()["actual_end_at"]
    assert [e.data["action"] for e in hub.since(tenant_id, seq) or [] if e.type == "outage"][-3:] == [
        "updated",
        "cancelled",
        "restored",
    ]
    audit = (await app_client.get("/api/v1/audit", params={"resource_type": "outage"}, headers=admin)).json()
    actions = [a["action"] for a in audit]
    for action in ("outage.create", "outage.update", "outage.cancel", "outage.restore"):
        assert action in actions, actions


async def test_admin_outage_pages(app_client: AsyncClient) -> None:
    await _put_customers_on_feeder(app_client)
    admin = await token_for(app_client, "admin")
    r = await app_client.post(
        "/api/v1/outages", json=_body(status="scheduled", kind="planned"), headers=admin
    )
    oid = r.json()["id"]
    for lang in ("en", "zh-CN"):
        app_client.cookies.clear()
        await sign_in(app_client, "admin", lang)
        r = await app_client.get("/admin/outages")
        assert r.status_code == 200, r.text[:300]
        visible = re.sub(r"<[^>]+>", " ", re.sub(r"<script.*?</script>", "", r.text, flags=re.S))
        assert "ado_" not in visible and "adm_" not in visible
        assert f'data-outage="{oid}"' in r.text and FEEDER in r.text
        assert 'id="new-outage"' in r.text and f"/api/v1/outages/{oid}/cancel" in r.text
        assert ("Announce an outage" if lang == "en" else "发布停电信息") in r.text
        r = await app_client.get(f"/admin/outages/{oid}")
        assert r.status_code == 200 and 'id="affected">2<' in r.text and "计划停电" in r.text
        r = await app_client.get("/admin/outages", params={"status": "restored"})
        assert f'data-outage="{oid}"' not in r.text
    r = await app_client.get("/admin")
    assert "/admin/outages" in r.text
    # an agent may not enter the administration at all; a supervisor reads and edits in their subtree
    app_client.cookies.clear()
    await sign_in(app_client, "li.na")
    assert (await app_client.get("/admin/outages")).status_code == 403
    app_client.cookies.clear()
    await sign_in(app_client, "wang.fang")
    r = await app_client.get("/admin/outages")
    assert r.status_code == 200 and 'id="new-outage"' in r.text
    assert (await app_client.get("/admin/outages/999999")).status_code == 404


async def test_other_tenants_outages_are_not_found(app_client: AsyncClient) -> None:
    from hotline.org import service as org
    from hotline.store.models import Outage

    async with transaction(app_client.app.state.hotline.db) as s:  # type: ignore[attr-defined]
        t = await org.add_tenant(s, "other", "Other")
        u = await org.add_unit(s, t.id, "hq", "HQ")
        o = Outage(tenant_id=t.id, unit_id=u.id, kind="planned", start_at=datetime.now(UTC))
        s.add(o)
        await s.flush()
        oid, uid = o.id, u.id
    h = await token_for(app_client, "admin")
    assert (await app_client.get(f"/api/v1/outages/{oid}", headers=h)).status_code == 404
    assert (
        await app_client.patch(f"/api/v1/outages/{oid}", json={"cause": "x"}, headers=h)
    ).status_code == 404
    for verb in ("activate", "restore", "cancel"):
        assert (await app_client.post(f"/api/v1/outages/{oid}/{verb}", headers=h)).status_code == 404
    assert oid not in {x["id"] for x in (await app_client.get("/api/v1/outages", headers=h)).json()["items"]}
    r = await app_client.post("/api/v1/outages", json=_body(unit=uid), headers=h)
    assert r.status_code == 422 and "unknown unit" in r.text
