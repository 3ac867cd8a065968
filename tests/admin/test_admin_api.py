"""The API added for the administration pages: service codes, agent résumés, the flow graph."""

from __future__ import annotations

from httpx import AsyncClient

from tests.conftest import token_for


async def test_codes_create_change_deactivate_and_audit(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    body = {"label_zh": "停电咨询", "label_en": "Outage enquiry", "active": True}
    r = await app_client.put("/api/v1/codes/disposition/outage_info", json=body, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"kind": "disposition", "code": "outage_info", **body}
    active = (await app_client.get("/api/v1/codes", headers=h)).json()
    assert "outage_info" in {c["code"] for c in active}
    # deactivated: gone from the agents' list, still in the admins' list, refused at wrap-up
    r = await app_client.put(
        "/api/v1/codes/disposition/outage_info", json={**body, "active": False}, headers=h
    )
    assert r.status_code == 200 and r.json()["active"] is False
    active = (await app_client.get("/api/v1/codes", headers=h)).json()
    assert "outage_info" not in {c["code"] for c in active}
    every = (await app_client.get("/api/v1/codes/all", headers=h)).json()
    row = next(c for c in every if c["code"] == "outage_info")
    assert row["active"] is False and {c["kind"] for c in every} == {"disposition", "not_ready"}
    audit = (
        await app_client.get("/api/v1/audit", params={"resource_type": "service_code"}, headers=h)
    ).json()
    assert [a["action"] for a in audit] == ["code.update", "code.create"]
    assert audit[0]["resource_id"] == "disposition/outage_info"


async def test_codes_bad_input_names_the_field(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    ok = {"label_zh": "x", "label_en": "x"}
    r = await app_client.put("/api/v1/codes/colour/red", json=ok, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "kind"
    r = await app_client.put("/api/v1/codes/not_ready/Bad Code", json=ok, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"
    r = await app_client.put("/api/v1/codes/not_ready/nap", json={"label_zh": "", "label_en": "x"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "label_zh"
    r = await app_client.put("/api/v1/codes/not_ready/nap", json={**ok, "colour": 1}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "colour"


async def test_codes_need_queue_write_and_refusals_are_audited(app_client: AsyncClient) -> None:
    for user in ("li.na", "wang.fang"):
        h = await token_for(app_client, user)
        r = await app_client.put(
            "/api/v1/codes/not_ready/nap", json={"label_zh": "x", "label_en": "x"}, headers=h
        )
        assert r.status_code == 403, r.text
        assert (await app_client.get("/api/v1/codes/all", headers=h)).status_code == 200
    ha = await token_for(app_client, "admin")
    denied = (await app_client.get("/api/v1/audit", params={"outcome": "denied"}, headers=ha)).json()
    assert {(d["actor"], d["action"]) for d in denied} >= {
        ("li.na", "queue.write"),
        ("wang.fang", "queue.write"),
    }


async def test_agent_profiles_read_back_what_was_written(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    users = (await app_client.get("/api/v1/users", headers=h)).json()["items"]
    ids = {u["username"]: u["id"] for u in users}
    profiles = (await app_client.get("/api/v1/agent-profiles", headers=h)).json()
    assert {p["username"] for p in profiles} == {"li.na", "zhang.wei", "wang.fang"}
    li = next(p for p in profiles if p["username"] == "li.na")
    assert li["skills"]["billing"] == 5 and "general" in li["queues"]
    body = {"agent_no": "9001", "skills": {"billing": 2}, "queues": ["billing"], "auto_ready": False}
    r = await app_client.put(f"/api/v1/agents/{ids['zhao.min']}/profile", json=body, headers=h)
    assert r.status_code == 200, r.text
    got = (await app_client.get(f"/api/v1/agents/{ids['zhao.min']}/profile", headers=h)).json()
    assert {k: got[k] for k in body} == body
    # a user without a profile reads as an empty résumé
    empty = (await app_client.get(f"/api/v1/agents/{ids['sun.li']}/profile", headers=h)).json()
    assert empty["skills"] == {} and empty["queues"] == []
    # an agent sees the résumés of their unit's subtree (user.read), a handler none
    hl = await token_for(app_client, "li.na")
    assert {p["username"] for p in (await app_client.get("/api/v1/agent-profiles", headers=hl)).json()} >= {
        "li.na"
    }
    hh = await token_for(app_client, "liu.yang")
    assert (await app_client.get("/api/v1/agent-profiles", headers=hh)).status_code == 403
    r = await app_client.get(f"/api/v1/agents/{ids['li.na']}/profile", headers=hh)
    assert r.status_code == 403


async def test_flow_graph_svg(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    r = await app_client.get("/api/v1/ivr/flows/95598-zh/graph.svg", headers=h)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("image/svg+xml")
    assert r.headers["x-flow-version"] == "1"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert r.text.startswith("<svg") and 'data-node="menu"' in r.text
    r = await app_client.get("/api/v1/ivr/flows/95598-zh/graph.svg", params={"lang": "zh-CN"}, headers=h)
    assert r.status_code == 200 and "开始" in r.text
    r = await app_client.get("/api/v1/ivr/flows/95598-zh/graph.svg", params={"lang": "fr"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "lang"
    new = "name: 95598-zh\nstart: bye\nnodes:\n  bye: {type: hangup}\n"
    r = await app_client.put(
        "/api/v1/ivr/flows/95598-zh",
        content=new,
        headers={**h, "Content-Type": "application/yaml"},
        params={"activate": "false"},
    )
    assert r.status_code == 200, r.text
    r = await app_client.get("/api/v1/ivr/flows/95598-zh/graph.svg", params={"version": 2}, headers=h)
    assert r.status_code == 200 and 'data-node="bye"' in r.text and 'data-node="menu"' not in r.text
    assert (
        await app_client.get("/api/v1/ivr/flows/95598-zh/graph.svg", params={"version": 9}, headers=h)
    ).status_code == 404
    assert (await app_client.get("/api/v1/ivr/flows/nope/graph.svg", headers=h)).status_code == 404
    hl = await token_for(app_client, "li.na")  # agents have no ivr.read
    assert (await app_client.get("/api/v1/ivr/flows/95598-zh/graph.svg", headers=hl)).status_code == 403
