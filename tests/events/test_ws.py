"""WebSocket /api/v1/events through the real app under uvicorn: auth (token, Bearer, cookie with
Origin), refusals with codes and reasons, hello/snapshot/resume, overflow, scope filtering, and a
real agent_state event from the agent API to the socket."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed

from hotline.auth import sessions
from hotline.auth.policy import Role, Scope
from hotline.auth.users import GrantSpec, add_user
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import Tenant, User
from hotline.web.api import events as events_api
from tests.events.conftest import PASSWORD, Live, open_ws, recv, recv_until


async def _user_id(live: Live, username: str) -> int:
    async with live.db() as s:
        uid = await s.scalar(select(User.id).where(User.username == username))
    assert uid is not None
    return int(uid)


async def _add_user(live: Live, username: str, unit: str, role: Role, scope: Scope) -> int:
    async with transaction(live.db) as s:
        tenant = await s.scalar(select(Tenant).where(Tenant.slug == "demo"))
        assert tenant is not None
        u = await org.get_unit(s, tenant.id, unit)
        user = await add_user(
            s, tenant.id, username, unit=u, password=PASSWORD, grants=[GrantSpec(role, scope)]
        )
        return int(user.id)


async def _closed(ws: Any) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as info:
        for _ in range(5):
            await asyncio.wait_for(ws.recv(), 5)
    rcvd = info.value.rcvd
    assert rcvd is not None
    return rcvd.code, rcvd.reason


def _tid(live: Live) -> int:
    tid: int = next(iter(live.center.acd.tenants))
    return tid


async def test_token_auth_hello_snapshot_ping(live: Live) -> None:
    token = await live.token("admin")
    async with await open_ws(live, query=f"token={token}") as ws:
        hello = await recv(ws)
        assert hello["type"] == "hello" and hello["resumed"] is False
        assert hello["epoch"] == live.center.hub.epoch
        snap = await recv(ws)
        assert snap["type"] == "snapshot" and snap["seq"] == hello["seq"]
        assert {a["username"] for a in snap["data"]["agents"]} == {"li.na", "zhang.wei", "wang.fang"}
        assert {q["name"] for q in snap["data"]["queues"]} >= {"general", "fault", "billing"}
        assert snap["data"]["calls"] == []
        await ws.send('{"op": "ping"}')
        assert (await recv(ws))["type"] == "pong"
        await ws.send("not json")
        assert (await recv(ws))["type"] == "error"


async def test_bearer_header_auth(live: Live) -> None:
    async with await open_ws(live, additional_headers=await live.headers("wang.fang")) as ws:
        assert (await recv(ws))["type"] == "hello"
        snap = await recv(ws)
        assert snap["type"] == "snapshot"


@pytest.mark.parametrize(
    ("query", "headers", "code", "words"),
    [
        ("", {}, 4401, "not logged in"),
        ("token=nonsense", {}, 4401, "invalid token"),
        ("", {"Authorization": "Basic abc"}, 4401, "Bearer"),
    ],
)
async def test_bad_auth_is_closed_with_a_reason(
    live: Live, query: str, headers: dict[str, str], code: int, words: str
) -> None:
    async with await open_ws(live, query=query, additional_headers=headers) as ws:
        got = await _closed(ws)
    assert got[0] == code and words in got[1], got


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("since=abc&epoch=x", "non-negative integer"),
        ("since=4", "together"),
        ("epoch=abc", "together"),
        ("since=1&epoch=bad%20epoch", "epoch"),
        ("since=1&epoch=x&color=red", "unknown query parameter 'color'"),
        ("since=1&since=2&epoch=x", "twice"),
        ("skip=Stats", "skip"),
        ("skip=stats,,x", "skip"),
    ],
)
async def test_bad_query_is_closed_with_4400(live: Live, query: str, words: str) -> None:
    token = await live.token("admin")
    async with await open_ws(live, query=f"{query}&token={token}") as ws:
        code, reason = await _closed(ws)
    assert code == 4400 and words in reason, (code, reason)


async def test_cookie_auth_needs_matching_origin(live: Live) -> None:
    uid = await _user_id(live, "li.na")
    async with transaction(live.db) as s:
        user = await s.get_one(User, uid)
        issued = await sessions.issue(s, user, kind="browser", lifetime=timedelta(hours=1), ip="127.0.0.1")
    cookie = {"Cookie": f"hotline_session={issued.token}"}
    host = live.url.removeprefix("http://")
    async with await open_ws(live, additional_headers=cookie, origin=f"http://{host}") as ws:
        assert (await recv(ws))["type"] == "hello"
    async with await open_ws(live, additional_headers=cookie, origin="http://evil.example") as ws:
        code, reason = await _closed(ws)
    assert code == 4403 and "Origin" in reason
    async with await open_ws(live, additional_headers=cookie) as ws:  # no Origin at all
        code, _ = await _closed(ws)
    assert code == 4403
    # an API token is not a browser session: the cookie refuses it
    token = await live.token("li.na")
    async with await open_ws(
        live,
        additional_headers={"Cookie": f"hotline_session={token}"},
        origin=f"http://{host}",
    ) as ws:
        code, _ = await _closed(ws)
    assert code == 4401


async def test_resume_gets_exactly_the_missed_events(live: Live) -> None:
    hub = live.center.hub
    tid = _tid(live)
    token = await live.token("admin")
    async with await open_ws(live, query=f"token={token}") as ws:
        hello = await recv(ws)
        await recv(ws)  # snapshot
        for i in range(3):
            hub.publish(tid, "bench_tick", data={"i": i})
        got = [await recv_until(ws, lambda f: f.get("type") == "bench_tick") for _ in range(3)]
        assert [f["data"]["i"] for f in got] == [0, 1, 2]
        last = got[-1]["seq"]
    for i in range(3, 6):
        hub.publish(tid, "bench_tick", data={"i": i})
    async with await open_ws(live, query=f"since={last}&epoch={hello['epoch']}&token={token}") as ws:
        again = await recv(ws)
        assert again["type"] == "hello" and again["resumed"] is True
        missed = [await recv(ws) for _ in range(3)]
        assert [f["data"]["i"] for f in missed] == [3, 4, 5]
        assert [f["seq"] for f in missed] == [last + 1, last + 2, last + 3]
        hub.publish(tid, "bench_tick", data={"i": 6})
        live_frame = await recv_until(ws, lambda f: f.get("type") == "bench_tick")
        assert live_frame["data"]["i"] == 6 and live_frame["seq"] == last + 4


async def test_snapshot_when_the_buffer_lost_events_or_the_epoch_changed(live: Live) -> None:
    hub = live.center.hub
    tid = _tid(live)
    token = await live.token("admin")
    seq = hub.last_seq(tid)
    async with await open_ws(live, query=f"since={seq}&epoch=another-run&token={token}") as ws:
        hello = await recv(ws)
        assert hello["resumed"] is False
        assert (await recv(ws))["type"] == "snapshot"
    for i in range(hub._buffer_size + 5):
        hub.publish(tid, "bench_tick", data={"i": i})
    async with await open_ws(live, query=f"since={seq}&epoch={hub.epoch}&token={token}") as ws:
        hello = await recv(ws)
        assert hello["resumed"] is False and hello["seq"] == hub.last_seq(tid)
        snap = await recv(ws)
        assert snap["type"] == "snapshot" and snap["seq"] == hello["seq"]


async def test_a_reader_that_falls_behind_gets_a_fresh_snapshot(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(events_api, "READER_LIMIT", 10)
    hub = live.center.hub
    tid = _tid(live)
    token = await live.token("admin")
    async with await open_ws(live, query=f"token={token}") as ws:
        await recv(ws)
        await recv(ws)
        for i in range(50):  # in one go: the writer cannot run in between
            hub.publish(tid, "bench_tick", data={"i": i})
        last = hub.last_seq(tid)
        snap = await recv_until(ws, lambda f: f.get("type") == "snapshot")
        assert snap["seq"] == last and "agents" in snap["data"]
        hub.publish(tid, "bench_tick", data={"i": 50})
        nxt = await recv_until(ws, lambda f: f.get("type") == "bench_tick")
        assert nxt["seq"] == last + 1


async def test_scope_filtering(live: Live) -> None:
    hub = live.center.hub
    tid = _tid(live)
    li_na, zhang = await _user_id(live, "li.na"), await _user_id(live, "zhang.wei")
    own_id = await _add_user(live, "own.agent", "js.nj", Role.AGENT, Scope.OWN)
    await _add_user(live, "sz.agent", "js.sz", Role.AGENT, Scope.SUBTREE)
    await _add_user(live, "sz.boss", "js.sz", Role.SUPERVISOR, Scope.SUBTREE)
    admin = await live.headers("admin")
    async with live.http() as c:
        r = await c.put(
            "/api/v1/queues/sz-general", json={"unit": "js.sz", "display_name": "Suzhou"}, headers=admin
        )
        assert r.status_code == 200, r.text
    sockets = {}
    for name in ("own.agent", "sz.agent", "wang.fang", "sz.boss", "li.na"):
        ws = await open_ws(live, query=f"token={await live.token(name)}")
        assert (await recv(ws))["type"] == "hello"
        snap = await recv(ws)
        sockets[name] = (ws, snap)
    try:
        assert [a["username"] for a in sockets["sz.agent"][1]["data"]["agents"]] == []
        assert {q["name"] for q in sockets["sz.boss"][1]["data"]["queues"]} == {"sz-general"}
        assert "sz-general" not in {q["name"] for q in sockets["wang.fang"][1]["data"]["queues"]}
        assert sockets["own.agent"][1]["data"]["agents"] == []

        hub.publish(tid, "agent_state", agent_id=zhang, data={"new": "available"})
        hub.publish(tid, "agent_state", agent_id=own_id, data={"new": "available"})
        hub.publish(tid, "enter_queue", call_id="c-sz", queue="sz-general", data={})
        hub.publish(tid, "enter_queue", call_id="c-nj", queue="general", data={})
        hub.publish(tid, "message", users=[li_na], data={"text": "hi"})
        hub.publish(
            tid,
            "stats",
            data={
                "queues": [
                    {"queue": "general", "unit_id": 0, "waiting": 1},
                    {"queue": "sz-general", "unit_id": 0, "waiting": 2},
                ],
                "agents": [{"agent_id": zhang, "state": "available"}, {"agent_id": own_id, "state": "ready"}],
            },
        )
        hub.publish(tid, "bench_end")  # tenant-wide: admins only; used as the end marker below
        end_marker = hub.last_seq(tid)
        hub.publish(
            tid, "agent_state", agent_id=zhang, data={"new": "end"}
        )  # marker for everyone who sees agents

        async def seen(name: str) -> list[tuple[str, Any]]:
            ws = sockets[name][0]
            out: list[tuple[str, Any]] = []
            while True:
                try:
                    f = await recv(ws, 1.5)
                except TimeoutError:
                    return out
                if f.get("type") == "keepalive":
                    continue
                assert f["seq"] != end_marker
                out.append((f["type"], f.get("agent_id") or f.get("queue") or f["data"]))

        own = await seen("own.agent")
        assert ("agent_state", own_id) in own and ("agent_state", zhang) not in own
        assert [x for x in own if x[0] == "stats"] == [
            ("stats", {"queues": [], "agents": [{"agent_id": own_id, "state": "ready"}]})
        ]  # own scope: no queue rows (queues have no owner), only the agent's own row
        sz = await seen("sz.agent")
        assert all(t != "agent_state" for t, _ in sz)
        assert ("enter_queue", "sz-general") in sz and ("enter_queue", "general") not in sz
        fang = await seen("wang.fang")
        assert ("enter_queue", "general") in fang and ("enter_queue", "sz-general") not in fang
        assert ("agent_state", zhang) in fang and ("message", {"text": "hi"}) not in fang
        boss = await seen("sz.boss")
        assert ("enter_queue", "sz-general") in boss and ("enter_queue", "general") not in boss
        boss_stats = next(d for t, d in boss if t == "stats")
        assert [q["queue"] for q in boss_stats["queues"]] == ["sz-general"] and boss_stats["agents"] == []
        lina = await seen("li.na")
        assert ("message", {"text": "hi"}) in lina
    finally:
        for ws, _ in sockets.values():
            await ws.close()


async def test_agent_login_and_ready_reach_the_socket(live: Live) -> None:
    li_na = await _user_id(live, "li.na")
    async with await open_ws(live, query=f"token={await live.token('wang.fang')}") as ws:
        await recv(ws)
        await recv(ws)
        h = await live.headers("li.na")
        async with live.http() as c:
            r = await c.post(f"/api/v1/agents/{li_na}/login", json={"extension": "1001"}, headers=h)
            assert r.status_code == 200, r.text
            login = await recv_until(ws, lambda f: f.get("type") == "agent_login")
            assert login["agent_id"] == li_na and login["data"]["extension"] == "1001"
            r = await c.post(f"/api/v1/agents/{li_na}/ready", headers=h)
            assert r.status_code == 200, r.text
        ev = await recv_until(
            ws, lambda f: f.get("type") == "agent_state" and f["data"].get("new") == "available"
        )
        assert ev["agent_id"] == li_na and ev["seq"] > login["seq"]
        assert set(ev) == {"seq", "type", "at", "call_id", "queue", "agent_id", "data"}


async def test_revoked_token_closes_the_stream(live: Live) -> None:
    token = await live.token("li.na")
    async with await open_ws(live, query=f"token={token}") as ws:
        await recv(ws)
        await recv(ws)
        async with live.http() as c:
            r = await c.delete("/api/v1/auth/token", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 204
        assert await live.center.check_sessions() == 1
        code, reason = await _closed(ws)
    assert code == 4401 and "revoked" in reason


async def test_registered_snapshot_sections(live: Live) -> None:
    seen: list[int] = []

    async def calls(ctx: Any) -> list[dict[str, Any]]:
        seen.append(ctx.principal.user_id)
        return [{"id": "c-1", "state": "queued"}]

    async def broken(ctx: Any) -> list[Any]:
        raise RuntimeError("provider down")

    live.center.hub.register_snapshot("calls", calls)
    live.center.hub.register_snapshot("extra", broken)
    async with await open_ws(live, query=f"token={await live.token('wang.fang')}") as ws:
        await recv(ws)
        snap = await recv(ws)
    assert snap["data"]["calls"] == [{"id": "c-1", "state": "queued"}]
    assert snap["data"]["extra"] == []  # a failing section does not break the stream
    assert seen == [await _user_id(live, "wang.fang")]
