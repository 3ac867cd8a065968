"""The tariffs and bill-run API on SQLite and PostgreSQL: permissions, 422 with paths, 409 for a
version bills use, runs and their summary, audit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from hotline.store.bulk import bulk_insert
from hotline.store.models import AuditEntry, Customer, MeterReading, Tenant
from hotline.utility import tariffs as T
from tests.conftest import token_for

DOCS = {d["code"]: d for d in T.default_documents()}


def body(base: str, **changes: Any) -> dict[str, Any]:
    d = {k: v for k, v in DOCS[base].items() if k != "code"}
    d["effective_from"] = str(d["effective_from"])
    d.update(changes)
    return d


async def add_readings(client: AsyncClient, period: str) -> int:
    factory = client._transport.app.state.hotline.db  # type: ignore[attr-defined]
    async with factory() as s, s.begin():
        tenant = await s.scalar(select(Tenant).where(Tenant.slug == "demo"))
        assert tenant is not None
        ids = (
            await s.scalars(
                select(Customer.id).where(Customer.tenant_id == tenant.id, Customer.status == "active")
            )
        ).all()
        rows = [
            {
                "tenant_id": tenant.id,
                "customer_id": cid,
                "period": period,
                "read_on": date(2031, 10, 31),
                "kwh_total": D("200.00"),
            }
            for cid in ids
        ]
        await bulk_insert(await s.connection(), MeterReading.__table__, rows)
    return len(ids)


async def test_tariff_crud_validation_and_runs(client_on: AsyncClient) -> None:
    admin = await token_for(client_on, "admin")
    agent = await token_for(client_on, "li.na")
    viewer = await token_for(client_on, "sun.li")
    c = client_on

    assert (await c.get("/api/v1/tariffs", headers=viewer)).status_code == 403
    r = await c.put("/api/v1/tariffs/res-tiered", json=body("res-tiered"), headers=agent)
    assert r.status_code == 403

    for code in DOCS:  # (the demo tenant may have the default tariffs already: new codes)
        r = await c.put(f"/api/v1/tariffs/x-{code}", json=body(code), headers=admin)
        assert r.status_code == 201, r.text
    r = await c.put("/api/v1/tariffs/x-res-tiered", json=body("res-tiered"), headers=admin)
    assert r.status_code == 200 and r.json()["in_force"] and r.json()["bills"] == 0

    bad = body(
        "res-tiered", tiers=[{"upto": "100", "price": "1"}, {"upto": "50", "price": "-1"}, {"price": "1"}]
    )
    r = await c.put("/api/v1/tariffs/res-tiered", json=bad, headers=admin)
    assert r.status_code == 422
    fields = {e["field"] for e in r.json()["errors"]}
    assert "tiers[1].price" in fields
    r = await c.put("/api/v1/tariffs/res-tiered", json={**body("res-tiered"), "code": "other"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"

    gap = body("com-tou", code="c")
    gap["tou"] = {
        "windows": {"peak": ["08:00-12:00"], "flat": ["13:00-08:00"]},
        "prices": {"peak": "1", "flat": "0.5"},
    }
    r = await c.post("/api/v1/tariffs/validate", json=gap, headers=agent)
    assert r.status_code == 200 and not r.json()["valid"]
    assert r.json()["errors"] == [
        {"field": "tou.windows", "reason": "the windows must cover 24 hours: gaps 12:00-13:00"}
    ]
    r = await c.post("/api/v1/tariffs/validate", json={**body("agri-flat"), "code": "a"}, headers=agent)
    assert r.json()["valid"] and r.json()["spec"]["price"] == "0.5090"

    listed = (await c.get("/api/v1/tariffs", headers=agent)).json()
    assert {f"x-{code}" for code in DOCS} <= {t["code"] for t in listed}
    assert (await c.get("/api/v1/tariffs/nope", headers=agent)).status_code == 404

    n = await add_readings(c, "2031-10")
    assert n > 0
    r = await c.post("/api/v1/billing/runs", json={"period": "2031-10"}, headers=agent)
    assert r.status_code == 403
    r = await c.post("/api/v1/billing/runs", json={"period": "2031-13"}, headers=admin)
    assert r.status_code == 422
    r = await c.post("/api/v1/billing/runs", json={"period": "2031-10", "due_days": 20}, headers=admin)
    assert r.status_code == 200, r.text
    run = r.json()
    rep = run["report"]
    assert run["status"] == "done" and rep["billed"] + rep["no_tariff"] + rep["bad_reading"] == n, rep
    assert run["report"]["due_on"] == "2031-11-21"
    r = await c.get("/api/v1/billing/runs/2031-10", headers=agent)
    assert r.json()["status"] == "done" and r.json()["summary"]["bills"] == run["report"]["billed"]
    assert (await c.get("/api/v1/billing/runs/2031-09", headers=agent)).json()["status"] == "none"

    listed = (await c.get("/api/v1/tariffs", headers=agent)).json()
    used = [t["current"] for t in listed if t["current"] and t["current"]["bills"]]
    assert used  # the run billed with some version: it is frozen now
    frozen = used[0]
    changed = {**frozen["spec"], "name": "changed"}
    r = await c.put(f"/api/v1/tariffs/{frozen['code']}", json=changed, headers=admin)
    assert r.status_code == 409, r.text
    later = {**changed, "effective_from": "2040-01-01"}
    r = await c.put(f"/api/v1/tariffs/{frozen['code']}", json=later, headers=admin)
    assert r.status_code == 201 and not r.json()["in_force"]
    factory = c._transport.app.state.hotline.db  # type: ignore[attr-defined]
    async with factory() as s:
        actions = set((await s.scalars(select(AuditEntry.action))).all())
    assert {"tariff.create", "billing.run", "billing.run.finish"} <= actions
