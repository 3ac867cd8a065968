"""HTTP API: health, metrics, OpenAPI, tokens, lockout, browser sessions + CSRF, errors, audit."""

from __future__ import annotations

import re
from datetime import timedelta

from httpx import AsyncClient
from sqlalchemy import select, update

from hotline.store.models import AuthSession, User
from hotline.store.types import utcnow
from tests.conftest import token_for


async def test_health_metrics_openapi(app_client: AsyncClient) -> None:
    r = await app_client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json()["components"]["database"]["status"] == "ok"
    r = await app_client.get("/metrics")
    assert r.status_code == 200
    assert 'hotline_http_requests_total{method="GET",route="/api/v1/health",status="200"} 1.0' in r.text
    spec = (await app_client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/auth/token" in spec["paths"] and "/api/v1/users" in spec["paths"]
    assert (await app_client.get("/api/docs")).status_code == 200


async def test_health_on_both_backends(client_on: AsyncClient) -> None:
    r = await client_on.get("/api/v1/health")
    assert r.status_code == 200, r.text
    h = await token_for(client_on, "admin")
    assert len((await client_on.get("/api/v1/users", headers=h)).json()["items"]) == 8


async def test_token_me_and_revoke(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "wang.fang")
    me = (await app_client.get("/api/v1/auth/me", headers=h)).json()
    assert me["username"] == "wang.fang" and me["roles"][0]["role"] == "supervisor"
    assert (await app_client.delete("/api/v1/auth/token", headers=h)).status_code == 204
    r = await app_client.get("/api/v1/auth/me", headers=h)
    assert r.status_code == 401 and r.json()["detail"] == "token revoked"
    assert r.headers["content-type"] == "application/problem+json"


async def test_wrong_password_and_unknown_user_look_alike(app_client: AsyncClient) -> None:
    a = await app_client.post("/api/v1/auth/token", json={"username": "li.na", "password": "nope"})
    b = await app_client.post("/api/v1/auth/token", json={"username": "nobody", "password": "nope"})
    assert a.status_code == b.status_code == 401
    assert a.json()["detail"] == b.json()["detail"] == "wrong user name or password"


async def test_lockout_after_repeated_failures(app_client: AsyncClient) -> None:
    for _ in range(4):
        r = await app_client.post("/api/v1/auth/token", json={"username": "li.na", "password": "bad"})
        assert r.status_code == 401
    r = await app_client.post("/api/v1/auth/token", json={"username": "li.na", "password": "bad"})
    assert r.status_code == 423 and "locked" in r.json()["detail"]
    # while locked even the right password is refused
    r = await app_client.post("/api/v1/auth/token", json={"username": "li.na", "password": "Hotline-2026"})
    assert r.status_code == 423
    admin = await token_for(app_client, "admin")
    entries = (await app_client.get("/api/v1/audit", params={"actor": "li.na"}, headers=admin)).json()
    outcomes = [e["outcome"] for e in entries]
    assert outcomes.count("fail") == 4 and outcomes.count("locked") == 2
    # an administrator lifts it
    users = (await app_client.get("/api/v1/users", headers=admin)).json()["items"]
    uid = next(u["id"] for u in users if u["username"] == "li.na")
    assert (await app_client.post(f"/api/v1/users/{uid}/unlock", headers=admin)).status_code == 200
    await token_for(app_client, "li.na")


async def test_lock_expires(app_client: AsyncClient) -> None:
    for _ in range(5):
        await app_client.post("/api/v1/auth/token", json={"username": "sun.li", "password": "bad"})
    db = app_client.app.state.hotline.db  # type: ignore[attr-defined]
    async with db() as s, s.begin():
        await s.execute(
            update(User).where(User.username == "sun.li").values(locked_until=utcnow() - timedelta(seconds=1))
        )
    await token_for(app_client, "sun.li")


async def test_expired_and_malformed_tokens(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    db = app_client.app.state.hotline.db  # type: ignore[attr-defined]
    async with db() as s, s.begin():
        await s.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(minutes=1)))
    r = await app_client.get("/api/v1/auth/me", headers=h)
    assert r.status_code == 401 and r.json()["detail"] == "token expired"
    r = await app_client.get("/api/v1/auth/me", headers={"Authorization": "Bearer nonsense"})
    assert r.json()["detail"] == "invalid token"
    r = await app_client.get("/api/v1/auth/me", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    r = await app_client.get("/api/v1/auth/me")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


async def test_tokens_are_stored_hashed(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    raw = h["Authorization"].split()[1]
    db = app_client.app.state.hotline.db  # type: ignore[attr-defined]
    async with db() as s:
        hashes = (await s.scalars(select(AuthSession.token_hash))).all()
    assert raw not in hashes and all(len(x) == 64 for x in hashes)


async def test_bad_input_names_the_field(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    r = await app_client.post(
        "/api/v1/units", content=b"{bad json", headers={**h, "content-type": "application/json"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "body"
    assert "malformed JSON" in r.json()["detail"]
    r = await app_client.post(
        "/api/v1/units", json={"code": "x1", "name": "X", "parent": "js", "colour": 1}, headers=h
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "colour"
    r = await app_client.post(
        "/api/v1/units", json={"code": "x1", "name": "X", "parent": "nowhere"}, headers=h
    )
    assert r.status_code == 404 and r.json()["errors"] == [{"field": "unit", "reason": "no unit 'nowhere'"}]
    r = await app_client.post("/api/v1/units", json={"code": "js", "name": "X", "parent": "sgcc"}, headers=h)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "code"
    r = await app_client.post(
        "/api/v1/units", json={"code": "Bad Code!", "name": "X", "parent": "js"}, headers=h
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "code"
    r = await app_client.post(
        "/api/v1/users",
        headers=h,
        json={"username": "new.one", "password": "weak", "unit": "js", "roles": [{"role": "agent"}]},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "password"
    r = await app_client.post(
        "/api/v1/users",
        headers=h,
        json={"username": "new.one", "password": "Str0ng-pass!", "unit": "js", "roles": [{"role": "boss"}]},
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "role"
    r = await app_client.post(
        "/api/v1/users",
        headers=h,
        json={"username": "li.na", "password": "Str0ng-pass!", "unit": "js", "roles": [{"role": "agent"}]},
    )
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "username"
    r = await app_client.get("/api/v1/users/abc", headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "user_id"
    r = await app_client.post(
        "/api/v1/calendars", headers=h, json={"name": "c", "week": {"mon": [["9", "10"]]}}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "week.mon[0]"
    # none of the refused requests left anything behind
    units = (await app_client.get("/api/v1/units", headers=h)).json()["items"]
    assert len(units) == 6
    assert len((await app_client.get("/api/v1/users", headers=h)).json()["items"]) == 8


async def test_customer_reads_are_audited(app_client: AsyncClient) -> None:
    agent = await token_for(app_client, "li.na")
    found = (
        await app_client.get("/api/v1/customers", params={"phone": "+8613912340001"}, headers=agent)
    ).json()
    cid = found["items"][0]["id"]
    assert (await app_client.get(f"/api/v1/customers/{cid}", headers=agent)).status_code == 200
    admin = await token_for(app_client, "admin")
    entries = (await app_client.get("/api/v1/audit", params={"actor": "li.na"}, headers=admin)).json()
    actions = [(e["action"], e["resource_id"], e["ip"]) for e in entries]
    assert ("customer.read", str(cid), "203.0.113.7") in actions
    search = next(e for e in entries if e["action"] == "customer.search")
    assert search["detail"]["ids"] == [cid] and search["detail"]["phone"] == "+8613912340001"


async def test_denied_actions_are_audited(app_client: AsyncClient) -> None:
    viewer = await token_for(app_client, "sun.li")
    r = await app_client.get("/api/v1/customers/1", headers=viewer)
    assert r.status_code == 403 and "customer.read" in r.json()["detail"]
    admin = await token_for(app_client, "admin")
    entries = (await app_client.get("/api/v1/audit", params={"outcome": "denied"}, headers=admin)).json()
    assert [(e["actor"], e["action"], e["resource_id"]) for e in entries] == [
        ("sun.li", "customer.read", "1")
    ]


async def test_calendar_api(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    r = await app_client.post(
        "/api/v1/calendars",
        headers=h,
        json={"name": "Suzhou", "week": {"sat": [["09:00", "12:00"]]}, "holidays": [{"date": "2026-12-26"}]},
    )
    assert r.status_code == 201, r.text
    cal = r.json()
    units = {u["code"]: u for u in (await app_client.get("/api/v1/units", headers=h)).json()["items"]}
    r = await app_client.patch(
        f"/api/v1/units/{units['js.sz']['id']}", headers=h, json={"calendar": "Suzhou"}
    )
    assert r.json()["calendar_id"] == cal["id"]
    eff = (await app_client.get(f"/api/v1/units/{units['js.sz']['id']}/calendar", headers=h)).json()
    assert eff["calendar"]["name"] == "Suzhou" and eff["next_open"] is not None
    eff = (await app_client.get(f"/api/v1/units/{units['js.nj.jn']['id']}/calendar", headers=h)).json()
    assert eff["calendar"]["name"] == "Office hours 2026"  # inherited from the province
    body = {"name": "Suzhou", "week": {}, "version": cal["version"]}
    assert (await app_client.put(f"/api/v1/calendars/{cal['id']}", headers=h, json=body)).status_code == 200
    r = await app_client.put(f"/api/v1/calendars/{cal['id']}", headers=h, json=body)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "version"


async def test_browser_login_session_and_csrf(app_client: AsyncClient) -> None:
    page = await app_client.get("/login")
    assert (page.status_code == 200 and "登录" in page.text) or "Sign in" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    # a forged form without the matching cookie token is refused
    forged = await app_client.post(
        "/login", data={"username": "admin", "password": "Hotline-2026", "csrf_token": "forged"}
    )
    assert forged.status_code == 403
    page = await app_client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = await app_client.post(
        "/login", data={"username": "admin", "password": "Hotline-2026", "csrf_token": token.group(1)}
    )
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert "hotline_session" in app_client.cookies
    home = await app_client.get("/")
    assert home.status_code == 200 and "系统管理员" in home.text
    csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', home.text)
    assert csrf
    # the cookie authenticates API reads; writes need the CSRF header
    assert (await app_client.get("/api/v1/auth/me")).status_code == 200
    body = {"code": "js.wx", "name": "无锡", "parent": "js", "kind": "city"}
    r = await app_client.post("/api/v1/units", json=body)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = await app_client.post("/api/v1/units", json=body, headers={"X-CSRF-Token": csrf.group(1)})
    assert r.status_code == 201
    # logout needs the token as well, then the session is dead
    r = await app_client.post("/logout", data={"csrf_token": csrf.group(1)})
    assert r.status_code == 303
    assert (await app_client.get("/api/v1/auth/me")).status_code == 401


async def test_login_page_shows_errors(app_client: AsyncClient) -> None:
    page = await app_client.get("/login", headers={"accept-language": "en-US"})
    assert "Sign in" in page.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    r = await app_client.post(
        "/login", data={"username": "admin", "password": "x", "csrf_token": token.group(1)}
    )
    assert r.status_code == 401 and "wrong user name or password" in r.text


async def test_fuzz_regressions(app_client: AsyncClient) -> None:
    """Found by schemathesis: ids beyond int64 and huge offsets were 500s; replacing a role 500'd."""
    h = await token_for(app_client, "admin")
    huge = 2**70
    assert (await app_client.get(f"/api/v1/customers/{huge}", headers=h)).status_code == 404
    assert (await app_client.get(f"/api/v1/units/{huge}", headers=h)).status_code == 404
    assert (await app_client.get("/api/v1/units", params={"offset": huge}, headers=h)).status_code == 422
    r = await app_client.post(
        "/api/v1/customers", headers=h, json={"account_no": "F-0001", "name": "x", "unit": huge}
    )
    assert r.status_code == 404
    users = (await app_client.get("/api/v1/users", headers=h)).json()["items"]
    uid = next(u["id"] for u in users if u["username"] == "li.na")
    r = await app_client.patch(
        f"/api/v1/users/{uid}", headers=h, json={"roles": [{"role": "agent", "scope": "own"}]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == [{"role": "agent", "scope": "own", "unit_id": r.json()["unit_id"]}]


def test_json_logs(capsys: object) -> None:
    import json
    import logging

    from hotline import logs

    logs.configure("info", json_format=True)
    logging.getLogger("hotline.test").info("call %s answered", "c-1", extra={"call_id": "c-1"})
    err = capsys.readouterr().err  # type: ignore[attr-defined]
    line = json.loads(err.strip().splitlines()[-1])
    assert line["msg"] == "call c-1 answered" and line["call_id"] == "c-1" and line["level"] == "info"
    logs.configure("warning", json_format=False)
