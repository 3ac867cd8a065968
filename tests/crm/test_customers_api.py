"""The customers API: private-data rule, search, writes, PIN, timeline, notes, import, RBAC, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from hotline.crm import timeline
from hotline.store.db import transaction
from hotline.store.models import AuditEntry, Call, Customer
from tests.conftest import token_for

ID_OK = "11010519491231002X"


async def _audit(client: AsyncClient, action: str) -> list[AuditEntry]:
    async with client.app.state.hotline.db() as s:  # type: ignore[attr-defined]
        return list(
            await s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
        )


async def _find(client: AsyncClient, h: dict[str, str], **params: Any) -> list[dict[str, Any]]:
    r = await client.get("/api/v1/customers", params=params, headers=h)
    assert r.status_code == 200, r.text
    return r.json()["items"]  # type: ignore[no-any-return]


async def test_private_fields_search_and_writes(client_on: AsyncClient) -> None:
    c = client_on
    admin = await token_for(c, "admin")
    agent = await token_for(c, "li.na")

    # create with every field (admin holds customer.private: sees everything back)
    body = {
        "account_no": "3201009999",
        "name": "钱多多",
        "unit": "js.nj.jn.ds",
        "customer_class": "commercial",
        "voltage": "380V",
        "phones": ["13912349999", "025-52109999"],
        "address": "南京市江宁区东山街道金宝路 99 号",
        "addresses": [{"kind": "mailing", "text": "南京市鼓楼区中山北路 1 号"}],
        "id_number": ID_OK,
        "vip": True,
        "email": "qian@example.com",
        "tags": ["重点"],
        "feeder": "F-9",
        "transformer_area": "TA-9",
    }
    r = await c.post("/api/v1/customers", json=body, headers=admin)
    assert r.status_code == 201, r.text
    full = r.json()
    cid = full["id"]
    assert (
        full["private"]
        and full["id_number"] == ID_OK
        and full["phones"] == ["+8613912349999", "+862552109999"]
    )

    # an agent (customer.read, no customer.private) sees masks
    r = await c.get(f"/api/v1/customers/{cid}", headers=agent)
    masked = r.json()
    assert r.status_code == 200 and not masked["private"]
    assert masked["id_number"] == "110105********002X"
    assert masked["address"] == "南京市江宁区…" and masked["masked_address"] == "南京市江宁区…"
    assert masked["phones"] == ["+86139****9999", "+8625****9999"] and masked["email"] == ""
    assert masked["addresses"] == [] and masked["vip"] and masked["tags"] == ["重点"]
    assert ID_OK not in r.text and "qian@" not in r.text

    # ... until the caller on their call was verified (IVR PIN → call data)
    async with transaction(c.app.state.hotline.db) as s:  # type: ignore[attr-defined]
        tid = await s.scalar(select(Customer.tenant_id).where(Customer.id == cid))
        s.add(Call(id="call-v1", tenant_id=tid, direction="inbound", data={"verified_account": "3201009999"}))
        s.add(Call(id="call-v2", tenant_id=tid, direction="inbound", data={"verified_account": "3201001001"}))
    r = await c.get(f"/api/v1/customers/{cid}", params={"call_id": "call-v1"}, headers=agent)
    assert r.json()["private"] and r.json()["id_number"] == ID_OK
    r = await c.get(f"/api/v1/customers/{cid}", params={"call_id": "call-v2"}, headers=agent)
    assert not r.json()["private"]
    reads = [(e.actor, e.action) for e in await _audit(c, "customer.private.read")]
    assert ("li.na", "customer.private.read") in reads and ("admin", "customer.private.read") not in reads

    # search: phone in any written form, account, name prefix, ID number
    for params in (
        {"phone": "13912349999"},
        {"phone": "+86 25 5210 9999"},
        {"account_no": "3201009999"},
        {"name": "钱多"},
        {"id_number": ID_OK.lower()},
    ):
        assert [x["id"] for x in await _find(c, agent, **params)] == [cid], params
    demo = await _find(c, agent, phone="13912340001")
    assert [x["account_no"] for x in demo] == ["3201001001"] and demo[0]["phone"] == "+86139****0001"
    assert (await _find(c, admin, phone="13912340001"))[0]["phone"] == "+8613912340001"
    searches = await _audit(c, "customer.search")
    assert searches[-1].detail["private_ids"] and ID_OK not in str([e.detail for e in searches])

    # patch: phones, blacklist needs a reason, all problems listed
    r = await c.patch(f"/api/v1/customers/{cid}", json={"blacklisted": True}, headers=agent)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "blacklist_reason"
    r = await c.patch(
        f"/api/v1/customers/{cid}", json={"voltage": "9kV", "email": "x", "tags": ["a" * 40]}, headers=agent
    )
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"voltage", "email", "tags"}
    r = await c.patch(
        f"/api/v1/customers/{cid}",
        json={"blacklisted": True, "blacklist_reason": "辱骂坐席", "phone": "13912348888"},
        headers=agent,
    )
    assert r.status_code == 200, r.text
    assert r.json()["blacklisted"] and r.json()["phones"] == ["+86139****8888"]
    assert (await _audit(c, "customer.update"))[-1].detail["fields"] == [
        "blacklist_reason",
        "blacklisted",
        "phones",
    ]
    # moving a customer out of the agent's subtree is refused
    r = await c.patch(f"/api/v1/customers/{cid}", json={"unit": "js.sz"}, headers=agent)
    assert r.status_code == 403


async def test_pin_timeline_notes(client_on: AsyncClient) -> None:
    c = client_on
    agent = await token_for(c, "li.na")
    qa = await token_for(c, "zhao.min")
    viewer = await token_for(c, "sun.li")
    cid = (await _find(c, agent, account_no="3201001002"))[0]["id"]

    assert (
        await c.put(f"/api/v1/customers/{cid}/pin", json={"pin": "12a4"}, headers=agent)
    ).status_code == 422
    assert (await c.put(f"/api/v1/customers/{cid}/pin", json={"pin": "2580"}, headers=qa)).status_code == 403
    assert (
        await c.put(f"/api/v1/customers/{cid}/pin", json={"pin": "2580"}, headers=agent)
    ).status_code == 204
    assert (await c.get(f"/api/v1/customers/{cid}", headers=agent)).json()["has_pin"]
    pins = await _audit(c, "customer.pin")
    assert pins[-1].detail == {"set": True} and "2580" not in str(pins[-1].detail)

    for i in range(3):
        r = await c.post(f"/api/v1/customers/{cid}/notes", json={"text": f"note {i}"}, headers=agent)
        assert r.status_code == 201 and r.json()["agent_name"] == "li.na"
    assert (await c.post(f"/api/v1/customers/{cid}/notes", json={"text": "x"}, headers=qa)).status_code == 403
    assert (
        await c.post(f"/api/v1/customers/{cid}/notes", json={"text": "  "}, headers=agent)
    ).status_code == 422
    r = await c.get(f"/api/v1/customers/{cid}/timeline", params={"limit": 2}, headers=qa)
    page = r.json()
    assert [e["summary"] for e in page["items"]] == ["note 2", "note 1"] and page["next"]
    assert page["items"][0]["agent_name"] == "李娜"
    r = await c.get(
        f"/api/v1/customers/{cid}/timeline", params={"limit": 2, "before": page["next"]}, headers=qa
    )
    rest = [e["summary"] for e in r.json()["items"] if e["kind"] != "ticket"]  # the demo's orders
    assert rest == ["note 0"]
    assert (await c.get(f"/api/v1/customers/{cid}/timeline", headers=viewer)).status_code == 403
    bad = await c.get(f"/api/v1/customers/{cid}/timeline", params={"before": "x"}, headers=qa)
    assert bad.status_code == 422
    assert len(await _audit(c, "customer.timeline")) == 2

    # a linked call shows the CDR's facts
    t0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
    async with transaction(c.app.state.hotline.db) as s:  # type: ignore[attr-defined]
        tid = await s.scalar(select(Customer.tenant_id).where(Customer.id == cid))
        assert tid is not None
        s.add(Call(id="call-t1", tenant_id=tid, direction="inbound", caller="+8613912340002", started_at=t0,
                   ended_at=t0 + timedelta(seconds=61), talk_seconds=50.0, disposition="resolved"))  # fmt: skip
        await s.flush()
        await timeline.add_entry(s, tid, cid, kind="call", ref="call-t1", at=t0)
    r = await c.get(f"/api/v1/customers/{cid}/timeline", params={"kind": "call"}, headers=qa)
    calls = [e for e in r.json()["items"] if e["ref"] == "call-t1"]
    assert r.status_code == 200 and calls[0]["call"]["duration_seconds"] == 61.0
    assert calls[0]["call"]["disposition"] == "resolved" and {e["kind"] for e in r.json()["items"]} == {
        "call"
    }


CSV = (
    "户号,户名,用户分类,供电单位,联系电话,证件号码\n"
    "3201008001,导入一,城镇居民,js.nj.jn.ds,13912348001,\n"
    "3201008002,导入二,商业,js.sz,13912348002,\n"
    "3201008003,导入三,城镇居民,js.nj,13912348003,110105194912310021\n"
)


async def test_import_endpoint_checks_each_rows_unit(client_on: AsyncClient) -> None:
    c = client_on
    agent = await token_for(c, "li.na")  # customer.write over js.nj's subtree only
    files = {"file": ("c.csv", CSV.encode("gbk"), "text/csv")}
    r = await c.post("/api/v1/customers/import", files=files, data={"dry_run": "true"}, headers=agent)
    assert r.status_code == 200, r.text
    rep = r.json()
    assert rep["dry_run"] and not rep["written"] and rep["total"] == 3
    assert [(e["line"], e["field"]) for e in rep["errors"]] == [(3, "unit"), (4, "id_number")]
    assert "permission" in rep["errors"][0]["reason"]
    r = await c.post("/api/v1/customers/import", files=files, headers=agent)  # strict: nothing
    assert r.json()["written"] is False and not await _find(c, agent, account_no="3201008001")
    r = await c.post("/api/v1/customers/import", files=files, data={"strict": "false"}, headers=agent)
    assert r.json()["written"] and r.json()["created"] == 1
    assert [x["account_no"] for x in await _find(c, agent, phone="13912348001")] == ["3201008001"]
    entries = await _audit(c, "customer.import")
    assert [e.detail["written"] for e in entries] == [False, False, True]
    viewer = await token_for(c, "sun.li")
    assert (await c.post("/api/v1/customers/import", files=files, headers=viewer)).status_code == 403
    r = await c.post(
        "/api/v1/customers/import", files={"file": ("c.pdf", b"%PDF", "application/pdf")}, headers=agent
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "file"
