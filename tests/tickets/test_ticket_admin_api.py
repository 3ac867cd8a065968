"""Work-order administration API: SLA policy, ticket types, dispatch rules (RBAC, 422 paths, audit)."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import select

from hotline.store.models import AuditEntry
from tests.conftest import token_for

P = "/api/v1/tickets"


async def audited(client: AsyncClient, action: str) -> list[AuditEntry]:
    async with client.app.state.hotline.db() as s:  # type: ignore[attr-defined]
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_sla_policy_read_and_replace(client_on: AsyncClient) -> None:
    c = client_on
    agent = await token_for(c, "li.na")
    admin = await token_for(c, "admin")
    r = await c.get(P + "/sla-policy", headers=agent)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["default"] is True and body["updated_at"] is None
    fault = next(x for x in body["policy"]["rules"] if x["type"] == "fault_repair")
    assert fault["steps"][0] == {
        "step": "dispatch",
        "clock": "wall",
        "minutes": 10.0,
        "warn": {"percent": 80.0},
        "escalate": {"after_minutes": 0.0, "repeat_every_minutes": 60.0, "max_times": 3, "climb": True},
    }
    assert "reply" in body["steps"] and body["area_classes"] == ["urban", "rural", "remote"]

    doc: dict[str, Any] = body["policy"]
    fault["steps"][0]["minutes"] = 15
    r = await c.put(P + "/sla-policy", json=doc, headers=agent)
    assert r.status_code == 403
    r = await c.put(P + "/sla-policy", json=doc, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["default"] is False
    r = await c.get(P + "/sla-policy", headers=agent)
    assert r.json()["default"] is False
    assert r.json()["policy"]["rules"][0]["steps"][0]["minutes"] == 15
    assert len(await audited(c, "ticket.sla_policy.update")) == 1

    bad = {
        "rules": [
            {
                "type": "fault_repair",
                "steps": [
                    {"step": "lunch", "minutes": -1},
                    {"step": "reply", "working_days": 2, "warn": {"percent": 120}},
                ],
            }
        ]
    }
    r = await c.put(P + "/sla-policy", json=bad, headers=admin)
    assert r.status_code == 422, r.text
    fields = {e["field"] for e in r.json()["errors"]}
    assert {
        "rules[0].steps[0].step",
        "rules[0].steps[0].minutes",
        "rules[0].steps[1].clock",
        "rules[0].steps[1].warn.percent",
    } <= fields
    r = await c.put(P + "/sla-policy", json={"rules": [], "extra": 1}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "extra"
    # the stored policy is unchanged by the refused ones
    r = await c.get(P + "/sla-policy", headers=agent)
    assert r.json()["policy"]["rules"][0]["steps"][0]["minutes"] == 15


async def test_viewer_may_not_read_the_policy(app_client: AsyncClient) -> None:
    viewer = await token_for(app_client, "sun.li")
    assert (await app_client.get(P + "/sla-policy", headers=viewer)).status_code == 403
    assert (await app_client.get(P + "/types", headers=viewer)).status_code == 403
    assert (await app_client.get(P + "/dispatch-rules", headers=viewer)).status_code == 403


async def test_ticket_types(app_client: AsyncClient) -> None:
    c = app_client
    agent = await token_for(c, "li.na")
    admin = await token_for(c, "admin")
    r = await c.get(P + "/types", headers=agent)
    assert r.status_code == 200, r.text
    types = {t["code"]: t for t in r.json()}
    assert {"fault_repair", "complaint", "consultation"} <= set(types)
    assert types["complaint"]["source"] == "default"

    new = {
        "label": "漏水报修",
        "fields": [{"name": "meter", "label": "水表号", "kind": "text"}],
    }
    r = await c.put(P + "/types/water_leak", json={"doc": new}, headers=agent)
    assert r.status_code == 403
    r = await c.put(P + "/types/water_leak", json={"doc": new}, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["source"] == "tenant" and r.json()["version"] == 1
    r = await c.put(P + "/types/water_leak", json={"doc": {**new, "label": "漏水"}}, headers=admin)
    assert r.status_code == 200 and r.json()["version"] == 2
    types = {t["code"]: t for t in (await c.get(P + "/types", headers=agent)).json()}
    assert types["water_leak"]["label"] == "漏水" and types["water_leak"]["source"] == "tenant"
    assert [a.resource_id for a in await audited(c, "ticket.type.create")] == ["water_leak"]
    assert len(await audited(c, "ticket.type.update")) == 1

    bad = {
        "label": "",
        "fields": [{"name": "x", "label": "X", "kind": "colour"}],
        "default_urgency": "normal",
    }
    r = await c.put(P + "/types/water_leak", json={"doc": bad}, headers=admin)
    assert r.status_code == 422, r.text
    fields = {e["field"] for e in r.json()["errors"]}
    assert "label" in fields and any(f.startswith("fields[0]") for f in fields)
    r = await c.put(P + "/types/water_leak", json={"doc": {**new, "code": "other"}}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"
    # withdrawn: listed as inactive
    r = await c.put(P + "/types/water_leak", json={"doc": new, "active": False}, headers=admin)
    assert r.status_code == 200
    types = {t["code"]: t for t in (await c.get(P + "/types", headers=agent)).json()}
    assert types["water_leak"]["active"] is False


async def test_dispatch_rules_crud(client_on: AsyncClient) -> None:
    c = client_on
    agent = await token_for(c, "li.na")
    admin = await token_for(c, "admin")
    body = {
        "name": "东山报修",
        "type_code": "fault_repair",
        "address_contains": "东山",
        "target_unit": "js.nj.jn.ds",
    }
    assert (await c.post(P + "/dispatch-rules", json=body, headers=agent)).status_code == 403
    r = await c.post(P + "/dispatch-rules", json=body, headers=admin)
    assert r.status_code == 201, r.text
    rule = r.json()
    assert rule["target_unit"]["code"] == "js.nj.jn.ds" and rule["priority"] == 100 and rule["active"]
    rid = rule["id"]
    r = await c.get(P + "/dispatch-rules", headers=agent)
    assert r.status_code == 200 and [x["id"] for x in r.json()] == [rid]
    r = await c.patch(P + f"/dispatch-rules/{rid}", json={"priority": 5, "active": False}, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["priority"] == 5 and r.json()["active"] is False
    r = await c.get(P + f"/dispatch-rules/{rid}", headers=agent)
    assert r.status_code == 200 and r.json()["priority"] == 5
    r = await c.post(P + "/dispatch-rules", json={**body, "target_unit": "nowhere"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "target_unit"
    r = await c.post(P + "/dispatch-rules", json={**body, "colour": "red"}, headers=admin)
    assert r.status_code == 422
    assert (await c.delete(P + f"/dispatch-rules/{rid}", headers=agent)).status_code == 403
    assert (await c.delete(P + f"/dispatch-rules/{rid}", headers=admin)).status_code == 204
    assert (await c.get(P + f"/dispatch-rules/{rid}", headers=agent)).status_code == 404
    assert (await c.delete(P + f"/dispatch-rules/{rid}", headers=admin)).status_code == 404
    acts = [a.action for a in await audited(c, "ticket.dispatch_rule.create")]
    acts += [a.action for a in await audited(c, "ticket.dispatch_rule.update")]
    acts += [a.action for a in await audited(c, "ticket.dispatch_rule.delete")]
    assert acts == [
        "ticket.dispatch_rule.create",
        "ticket.dispatch_rule.update",
        "ticket.dispatch_rule.delete",
    ]


async def test_step_map(app_client: AsyncClient) -> None:
    c = app_client
    agent = await token_for(c, "li.na")
    admin = await token_for(c, "admin")
    r = await c.get(P + "/sla-steps", headers=agent)
    assert r.status_code == 200, r.text
    assert r.json()["default"] is True
    assert r.json()["steps"]["dispatch"]["start"] == ["acknowledge", "arrive"]
    doc = {"accept": {"start": ["contact"]}}
    assert (await c.put(P + "/sla-steps", json=doc, headers=agent)).status_code == 403
    r = await c.put(P + "/sla-steps", json=doc, headers=admin)
    assert r.status_code == 200, r.text
    steps = r.json()["steps"]
    assert steps["accept"]["start"] == ["contact"] and steps["reply"]["start"] == ["review"]
    r = await c.put(P + "/sla-steps", json={"acept": {}, "reply": {"done": ["nap"]}}, headers=admin)
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} == {"acept", "reply.done[0]"}
    assert len(await audited(c, "ticket.sla_steps.update")) == 1
