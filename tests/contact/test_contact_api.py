"""The contact-centre API without telephony: flows (versions, validation with positions, atomic
activation), the number plan, queues, agent sessions and their errors (RFC 7807)."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.conftest import token_for

GOOD = """name: test-line
language: en
start: hi
nodes:
  hi: {type: play, prompt: "Hello.", next: menu}
  menu:
    type: menu
    prompt: "Press 1 for billing."
    options: {"1": billing}
    on_max_retries: agent
  billing: {type: queue, queue: billing}
  agent: {type: queue, queue: general}
"""


async def _me(client: AsyncClient, user: str) -> tuple[dict[str, str], int]:
    h = await token_for(client, user)
    return h, (await client.get("/api/v1/auth/me", headers=h)).json()["id"]


async def test_flow_versions_validation_and_activation(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    r = await app_client.put("/api/v1/ivr/flows/test-line", json={"source": GOOD}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "test-line", "version": 1, "active": True, "warnings": []}
    # a broken version is refused with every error positioned; version 1 keeps serving
    broken = GOOD.replace('options: {"1": billing}', 'options: {"1": billx}')
    r = await app_client.put("/api/v1/ivr/flows/test-line", json={"source": broken}, headers=h)
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["title"] == "Invalid input"
    [err] = [e for e in problem["errors"] if "billx" in e["reason"]]
    assert err["line"] == 9 and err["node"] == "menu" and err["column"] > 1
    assert any("unreachable" in e["reason"] and e["node"] == "billing" for e in problem["errors"])
    got = (await app_client.get("/api/v1/ivr/flows/test-line", headers=h)).json()
    assert got["active_version"] == 1 and len(got["versions"]) == 1 and got["source"] == GOOD
    # raw YAML body, saved inactive, then activated
    v2 = GOOD.replace("Hello.", "Hello again.")
    r = await app_client.put(
        "/api/v1/ivr/flows/test-line?activate=false",
        content=v2.encode(),
        headers={**h, "Content-Type": "application/yaml"},
    )
    assert r.status_code == 200 and r.json()["version"] == 2 and not r.json()["active"]
    assert (await app_client.get("/api/v1/ivr/flows/test-line", headers=h)).json()["active_version"] == 1
    r = await app_client.post("/api/v1/ivr/flows/test-line/versions/2/activate", headers=h)
    assert r.status_code == 200, r.text
    got = (await app_client.get("/api/v1/ivr/flows/test-line", headers=h)).json()
    assert got["active_version"] == 2 and [v["active"] for v in got["versions"]] == [True, False]
    # the flow as a JSON object (same model)
    r = await app_client.put(
        "/api/v1/ivr/flows/json-line",
        json={
            "flow": {
                "name": "json-line",
                "language": "en",
                "start": "q",
                "nodes": {"q": {"type": "queue", "queue": "general"}},
            }
        },
        headers=h,
    )
    assert r.status_code == 200, r.text
    # a flow naming a queue that does not exist, or another name than its URL
    r = await app_client.put(
        "/api/v1/ivr/flows/test-line",
        json={"source": GOOD.replace("queue: billing", "queue: nope")},
        headers=h,
    )
    assert r.status_code == 422 and "unknown queue 'nope'" in r.text
    r = await app_client.put("/api/v1/ivr/flows/other", json={"source": GOOD}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    r = await app_client.put(
        "/api/v1/ivr/flows/test-line",
        content=b"name: [unclosed",
        headers={**h, "Content-Type": "application/yaml"},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["line"] == 1
    r = await app_client.put(
        "/api/v1/ivr/flows/test-line", content=b"{bad json", headers={**h, "Content-Type": "application/json"}
    )
    assert r.status_code == 422 and "malformed JSON" in r.json()["detail"]
    # validate without saving
    r = await app_client.post("/api/v1/ivr/flows/test-line/validate", json={"source": broken}, headers=h)
    assert r.status_code == 200 and r.json()["valid"] is False
    # audit trail
    entries = (await app_client.get("/api/v1/audit", params={"limit": 100}, headers=h)).json()
    assert {"ivr.flow.save", "ivr.flow.activate"} <= {e["action"] for e in entries}


async def test_number_plan(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    numbers = {n["number"]: n for n in (await app_client.get("/api/v1/ivr/numbers", headers=h)).json()}
    assert (
        numbers["95598"]["flow"] == "95598-zh" and numbers["95598100"]["after_hours_flow"] == "after-hours-zh"
    )
    r = await app_client.put(
        "/api/v1/ivr/numbers/12345",
        json={"flow": "95598-zh", "calendar": "Office hours 2026", "after_hours_flow": "after-hours-zh"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    r = await app_client.put("/api/v1/ivr/numbers/12346", json={"flow": "missing"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "flow"
    r = await app_client.put("/api/v1/ivr/numbers/abc", json={"flow": "95598-zh"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "number"
    # agents cannot change the number plan (and the refusal is audited)
    ha = await token_for(app_client, "li.na")
    r = await app_client.put("/api/v1/ivr/numbers/12347", json={"flow": "95598-zh"}, headers=ha)
    assert r.status_code == 403


async def test_queues_settings_are_validated(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    queues = {q["name"]: q for q in (await app_client.get("/api/v1/queues", headers=h)).json()}
    assert set(queues) == {"general", "fault", "billing", "complaint", "consult", "english"}
    assert queues["general"]["status"]["waiting"] == 0 and queues["general"]["status"]["logged_in"] == 0
    bad: list[tuple[dict[str, Any], str]] = [
        ({"strategy": "fastest"}, "settings.strategy"),
        ({"ring_timeout": 0}, "settings.ring_timeout"),
        ({"requirements": "billing >="}, "settings.requirements"),
        ({"exit_key": "x"}, "settings.exit_key"),
        ({"max_wait_action": {"destination": "nowhere"}}, "settings.max_wait_action.destination"),
        ({"colour": "blue"}, "settings.colour"),
    ]
    for settings, fld in bad:
        r = await app_client.put(
            "/api/v1/queues/sales", json={"unit": "js.nj", "settings": settings}, headers=h
        )
        assert r.status_code == 422, (settings, r.text)
        assert r.json()["errors"][0]["field"] == fld, r.json()
    r = await app_client.put(
        "/api/v1/queues/sales",
        json={"unit": "js.nj", "display_name": "Sales", "settings": {"wrap_up": 5}},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"]["waiting"] == 0  # the ACD knows the new queue at once


async def test_agent_session_over_the_api(app_client: AsyncClient) -> None:
    h, me = await _me(app_client, "li.na")
    r = await app_client.get(f"/api/v1/agents/{me}", headers=h)
    assert r.json()["state"] == "logged_out"
    # not logged in: state errors are 409 naming the state
    r = await app_client.post(f"/api/v1/agents/{me}/ready", headers=h)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "state"
    r = await app_client.post(f"/api/v1/agents/{me}/login", json={"extension": "9999"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "extension"
    r = await app_client.post(f"/api/v1/agents/{me}/login", json={"extension": "1001"}, headers=h)
    assert r.status_code == 200 and r.json()["state"] == "not_ready" and r.json()["extension"] == "1001"
    # someone else cannot log in at the same extension
    hz, zw = await _me(app_client, "zhang.wei")
    r = await app_client.post(f"/api/v1/agents/{zw}/login", json={"extension": "1001"}, headers=hz)
    assert r.status_code == 409 and "li.na" in r.json()["detail"]
    # nor control a colleague (agents control themselves; supervisors control their unit)
    r = await app_client.post(f"/api/v1/agents/{me}/ready", headers=hz)
    assert r.status_code == 403
    r = await app_client.post(f"/api/v1/agents/{me}/ready", headers=h)
    assert r.json()["state"] == "available"
    r = await app_client.post(f"/api/v1/agents/{me}/not-ready", json={"reason": "nap"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await app_client.post(f"/api/v1/agents/{me}/not-ready", json={"reason": "lunch"}, headers=h)
    assert r.json()["state"] == "not_ready" and r.json()["reason"] == "lunch"
    r = await app_client.post(f"/api/v1/agents/{me}/wrap-up", json={"disposition": "resolved"}, headers=h)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "call_id"
    hs = await token_for(app_client, "wang.fang")  # the supervisor of Nanjing
    r = await app_client.post(f"/api/v1/agents/{me}/ready", headers=hs)
    assert r.status_code == 200 and r.json()["state"] == "available"
    queues = {q["name"]: q for q in (await app_client.get("/api/v1/queues", headers=hs)).json()}
    assert queues["general"]["status"]["available"] == 1
    r = await app_client.post(f"/api/v1/agents/{me}/logout", headers=h)
    assert r.json()["state"] == "logged_out" and r.json()["extension"] is None
    codes = (await app_client.get("/api/v1/codes", headers=h)).json()
    assert {"disposition", "not_ready"} == {c["kind"] for c in codes}
    # the event log has the session
    events = (await app_client.get("/api/v1/queue-events", params={"agent_id": me}, headers=hs)).json()
    kinds = [e["event"] for e in events]
    assert kinds[0] == "agent_login" and kinds[-1] == "agent_logout" and "agent_state" in kinds


async def test_agent_profile(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    _hz, zw = await _me(app_client, "zhang.wei")
    r = await app_client.put(
        f"/api/v1/agents/{zw}/profile",
        json={"skills": {"billing": 5, "english": 1}, "queues": ["billing", "english"]},
        headers=h,
    )
    assert r.status_code == 200, r.text
    r = await app_client.put(f"/api/v1/agents/{zw}/profile", json={"queues": ["nope"]}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "queues"
    # a user without a profile becomes an agent
    _hv, sun = await _me(app_client, "sun.li")
    r = await app_client.get(f"/api/v1/agents/{sun}", headers=h)
    assert r.status_code == 404
    r = await app_client.put(f"/api/v1/agents/{sun}/profile", json={"queues": ["general"]}, headers=h)
    assert r.status_code == 200 and r.json()["state"] == "logged_out"


async def test_flows_agents_and_event_log_on_both_databases(client_on: AsyncClient) -> None:
    """The same API on SQLite and on a real PostgreSQL server (JSONB, triggers, batching)."""
    h = await token_for(client_on, "admin")
    r = await client_on.put("/api/v1/ivr/flows/test-line", json={"source": GOOD}, headers=h)
    assert r.status_code == 200, r.text
    r = await client_on.put(
        "/api/v1/ivr/flows/test-line", json={"source": GOOD.replace("Hello.", "Hi.")}, headers=h
    )
    assert r.json()["version"] == 2
    r = await client_on.post("/api/v1/ivr/flows/test-line/versions/1/activate", headers=h)
    assert r.status_code == 200
    got = (await client_on.get("/api/v1/ivr/flows/test-line", headers=h)).json()
    assert got["active_version"] == 1 and got["source"] == GOOD
    ha, me = await _me(client_on, "li.na")
    assert (
        await client_on.post(
            f"/api/v1/agents/{me}/login", json={"extension": "1001", "ready": True}, headers=ha
        )
    ).status_code == 200
    assert (await client_on.post(f"/api/v1/agents/{me}/logout", headers=ha)).status_code == 200
    events = (await client_on.get("/api/v1/queue-events", params={"agent_id": me}, headers=h)).json()
    assert events[0]["event"] == "agent_login" and events[-1]["event"] == "agent_logout"
    assert events[0]["data"] == {"extension": "1001"}
    # the event log is append-only: the database itself refuses changes
    import pytest
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    db = client_on.app.state.hotline.db  # type: ignore[attr-defined]
    for stmt in ("UPDATE queue_events SET event = 'x'", "DELETE FROM queue_events"):
        async with db() as s:
            with pytest.raises(DBAPIError, match="append-only"):
                await s.execute(text(stmt))
