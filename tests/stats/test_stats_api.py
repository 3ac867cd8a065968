"""The statistics, wallboard, messages, reserve and forced-state APIs on the demo tenant (SIP off:
calls are ACD tasks created directly, the engine decides exactly as on the call path)."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from hotline.acd import TaskSpec
from hotline.cti.center import ContactCenter
from hotline.cti.events import LiveEvent
from tests.conftest import token_for

TENANT = 1


class World:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.h: dict[str, dict[str, str]] = {}
        self.ids: dict[str, int] = {}
        self.published: list[LiveEvent] = []
        self.center.hub.listen(self.published.append)

    @property
    def center(self) -> ContactCenter:
        center: ContactCenter = self.client.app.state.hotline.center  # type: ignore[attr-defined]
        return center

    async def login_as(self, *names: str) -> None:
        for n in names:
            self.h[n] = await token_for(self.client, n)
            self.ids[n] = (await self.client.get("/api/v1/auth/me", headers=self.h[n])).json()["id"]

    async def get(self, url: str, who: str = "admin", **params: Any) -> Any:
        r = await self.client.get(url, headers=self.h[who], params=params)
        assert r.status_code == 200, r.text
        return r.json()

    async def post(self, url: str, who: str, body: Any = None, status: int = 200, **params: Any) -> Any:
        r = await self.client.post(url, headers=self.h[who], json=body, params=params)
        assert r.status_code == status, r.text
        return r.json()

    def engine_call(self, fn: Any) -> None:
        self.center.acd.apply(TENANT, fn)

    async def agent_in(self, name: str, ext: str, ready: bool = True) -> None:
        await self.post(f"/api/v1/agents/{self.ids[name]}/login", name, {"extension": ext, "ready": ready})

    def queue(self, docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
        return next(d for d in docs if d["queue"] == name)

    def agent(self, docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
        return next(d for d in docs if d["agent_id"] == self.ids[name])


async def world(client: AsyncClient) -> World:
    w = World(client)
    await w.login_as("admin", "li.na", "zhang.wei", "wang.fang", "sun.li", "liu.yang", "zhao.min")
    return w


async def test_queue_and_agent_statistics_follow_a_call(app_client: AsyncClient) -> None:
    w = await world(app_client)
    await w.agent_in("li.na", "1001")
    w.center.acd.new_task(TENANT, TaskSpec("t1", "general", data={"caller": "13900000001"}))
    queues = await w.get("/api/v1/stats/queues")
    assert sorted(d["queue"] for d in queues) == [
        "billing",
        "complaint",
        "consult",
        "english",
        "fault",
        "general",
    ]
    g = w.queue(queues, "general")
    assert g["waiting"] == 1 and g["offered"] == 1 and g["sl"] is None and g["sl_seconds"] == 20
    assert g["agents"]["ringing"] == 1 and g["agents"]["logged_in"] == 1
    assert g["levels"] == {"waiting": "ok", "longest_wait": "ok", "sl": "ok"}
    assert g["display_name"] and g["unit_id"]
    li = w.agent(await w.get("/api/v1/stats/agents"), "li.na")
    assert (li["state"], li["call_id"], li["caller"], li["queue"], li["extension"]) == (
        "reserved", "t1", "13900000001", "general", "1001",
    )  # fmt: skip
    aid = str(w.ids["li.na"])
    w.engine_call(lambda e, now: e.accept(aid, "t1", now))
    w.engine_call(lambda e, now: e.complete(aid, "t1", now))
    g = w.queue(await w.get("/api/v1/stats/queues"), "general")
    assert (g["waiting"], g["answered"], g["answered_within"], g["handled"], g["sl"]) == (0, 1, 1, 1, 1.0)
    li = w.agent(await w.get("/api/v1/stats/agents"), "li.na")
    assert li["state"] == "wrap_up" and li["handled"] == 1 and li["aht"] is not None
    rows = await w.get("/api/v1/stats/intervals", hours=1, queue="general")
    assert len(rows) in (4, 5) and sum(r["offered"] for r in rows) == 1 and rows[-1]["answered"] == 1
    assert sum(r["offered"] for r in await w.get("/api/v1/stats/intervals")) == 1
    r = await app_client.get("/api/v1/stats/intervals", params={"queue": "nosuch"}, headers=w.h["admin"])
    assert r.status_code == 404
    r = await app_client.get("/api/v1/stats/intervals", params={"hours": 0}, headers=w.h["admin"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "hours"
    # publishing: one stats event with every document first, then only what changed
    stats = w.center.stats
    stats.publishing = False  # no background tick between the steps below
    stats.tick()  # as the background tick may have done: a full pass sets the FULL_EVERY clock
    stats.republish()  # as after a start: every document again, agents included
    assert stats.tick() == 1
    first = [e for e in w.published if e.type == "stats"][-1]
    assert len(first.data["queues"]) == 6 and len(first.data["agents"]) == 3
    assert stats.tick() == 0
    w.center.acd.new_task(TENANT, TaskSpec("t2", "billing"))
    assert stats.tick() == 1
    last = [e for e in w.published if e.type == "stats"][-1]
    assert [d["queue"] for d in last.data["queues"]] == ["billing"], last.data


async def test_statistics_are_scoped(app_client: AsyncClient) -> None:
    w = await world(app_client)
    r = await app_client.put(
        "/api/v1/queues/suzhou", json={"unit": "js.sz", "settings": {"sl_seconds": 30}}, headers=w.h["admin"]
    )
    assert r.status_code == 200, r.text
    city = {d["queue"] for d in await w.get("/api/v1/stats/queues", "wang.fang")}  # supervisor of js.nj
    province = {d["queue"] for d in await w.get("/api/v1/stats/queues", "sun.li")}  # viewer of js
    assert "suzhou" not in city and "general" in city and {"suzhou", "general"} <= province
    assert w.queue(await w.get("/api/v1/stats/queues"), "suzhou")["sl_seconds"] == 30
    r = await app_client.get("/api/v1/stats/intervals", params={"queue": "suzhou"}, headers=w.h["wang.fang"])
    assert r.status_code == 403
    for url in ("/api/v1/stats/queues", "/api/v1/stats/agents", "/api/v1/stats/intervals"):
        assert (await app_client.get(url, headers=w.h["liu.yang"])).status_code == 403  # handler
    agents = {d["agent_id"] for d in await w.get("/api/v1/stats/agents", "li.na")}
    assert w.ids["zhang.wei"] in agents  # agents see their unit's colleagues (stats.read, subtree)


async def test_wallboard_settings(app_client: AsyncClient) -> None:
    w = await world(app_client)
    url = "/api/v1/wallboard/settings"
    assert await w.get(url, "wang.fang") == {"waiting": [5, 10], "longest_wait": [60, 120], "sl": [0.8, 0.6]}
    r = await app_client.put(url, json={"waiting": [0, 1]}, headers=w.h["wang.fang"])
    assert r.status_code == 403  # queue.write, tenant-wide
    for body, field in [
        ({"waiting": [3, 1]}, "waiting"),
        ({"sl": [0.5, 0.9]}, "sl"),
        ({"sl": [90, 80]}, "sl"),
        ({"longest_wait": [-5, 10]}, "longest_wait"),
        ({"waiting": ["x", 1]}, "waiting.0"),
        ({"colour": [1, 2]}, "colour"),
    ]:
        r = await app_client.put(url, json=body, headers=w.h["admin"])
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (body, r.text)
    r = await app_client.put(url, json={"waiting": [0, 1], "sl": [1, 0.9]}, headers=w.h["admin"])
    assert r.status_code == 200, r.text
    assert await w.get(url, "sun.li") == {"waiting": [0, 1], "longest_wait": [60, 120], "sl": [1, 0.9]}
    w.center.acd.new_task(TENANT, TaskSpec("t1", "general"))
    g = w.queue(await w.get("/api/v1/stats/queues"), "general")
    assert g["levels"]["waiting"] == "alarm"
    audit = await w.get("/api/v1/audit", action="wallboard.settings")
    assert len(audit) == 1


async def test_messages(app_client: AsyncClient) -> None:
    w = await world(app_client)
    li, zhang = w.ids["li.na"], w.ids["zhang.wei"]
    sent = await w.post(
        "/api/v1/messages", "wang.fang", {"to_users": [li, zhang], "priority": "urgent", "text": "Storm: expect fault calls"}, 201
    )  # fmt: skip
    assert (
        sent["recipients"] == sorted([li, zhang])
        and sent["sender"] == "王芳"
        and sent["priority"] == "urgent"
    )
    [event] = [e for e in w.published if e.type == "message"]
    assert event.users == frozenset({li, zhang}) and event.data["text"] == "Storm: expect fault calls"
    assert event.data["id"] == sent["id"] and event.data["sender_id"] == w.ids["wang.fang"]
    [mine] = await w.get("/api/v1/messages", "li.na", unread=True)
    assert mine["id"] == sent["id"] and mine["read_at"] is None and mine.get("recipients") is None
    read = await w.post(f"/api/v1/messages/{sent['id']}/read", "li.na")
    assert read["read_at"] is not None
    assert await w.get("/api/v1/messages", "li.na", unread=True) == []
    assert len(await w.get("/api/v1/messages", "li.na")) == 1
    assert len(await w.get("/api/v1/messages", "zhang.wei", unread=True)) == 1
    # only recipients mark a message read; the sender is not one
    await w.post(f"/api/v1/messages/{sent['id']}/read", "wang.fang", status=404)
    await w.post("/api/v1/messages/999999/read", "li.na", status=404)
    # a unit subtree: everyone active in js.nj and below, never the sender
    unit = await w.post("/api/v1/messages", "li.na", {"to_unit": "js.nj", "text": "lunch at 12"}, 201)
    assert li not in unit["recipients"] and {zhang, w.ids["wang.fang"], w.ids["liu.yang"]} <= set(
        unit["recipients"]
    )
    assert w.ids["zhao.min"] not in unit["recipients"]  # js, above js.nj
    # scope: an agent of js.nj cannot message the province (403, audited)
    r = await app_client.post("/api/v1/messages", json={"to_unit": "js", "text": "x"}, headers=w.h["li.na"])
    assert r.status_code == 403
    r = await app_client.post(
        "/api/v1/messages", json={"to_users": [w.ids["zhao.min"]], "text": "x"}, headers=w.h["li.na"]
    )
    assert r.status_code == 403
    for body, field in [
        ({"to_users": [zhang], "text": ""}, "text"),
        ({"to_users": [zhang], "text": "x" * 2001}, "text"),
        ({"to_users": [zhang], "text": "x", "priority": "high"}, "priority"),
        ({"text": "nobody"}, "to_users"),
        ({"to_users": [987654], "text": "x"}, "to_users"),
        ({"to_users": [li], "text": "only me"}, "to_unit"),
    ]:
        r = await app_client.post("/api/v1/messages", json=body, headers=w.h["li.na"])
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (body, r.text)
    r = await app_client.post(
        "/api/v1/messages", json={"to_users": [zhang], "text": "x"}, headers=w.h["sun.li"]
    )
    assert r.status_code == 403  # viewers do not send messages


async def test_forced_agent_state(app_client: AsyncClient) -> None:
    w = await world(app_client)
    li = w.ids["li.na"]
    await w.agent_in("li.na", "1001", ready=False)
    await w.post(f"/api/v1/agents/{li}/ready", "li.na")  # herself: not forced
    st = await w.post(f"/api/v1/agents/{li}/not-ready", "wang.fang", {"reason": "meeting"})
    assert st["state"] == "not_ready" and st["reason"] == "meeting"
    forced = [e for e in w.published if e.type == "agent_forced"]
    assert [(e.agent_id, e.data["by"], e.data["action"], e.data["reason"]) for e in forced] == [
        (li, w.ids["wang.fang"], "not_ready", "meeting")
    ]
    await w.post(f"/api/v1/agents/{li}/ready", "wang.fang")
    audit = await w.get("/api/v1/audit", action="agent.ready")
    assert [a["detail"]["forced"] for a in audit] == [True]
    logged = await w.get("/api/v1/queue-events", agent_id=li)
    assert [e["data"]["action"] for e in logged if e["event"] == "agent_forced"] == ["not_ready", "ready"]
    # a ringing agent: 409 naming the state, force declines the offer and logs out
    w.center.acd.new_task(TENANT, TaskSpec("t1", "general"))
    r = await app_client.post(f"/api/v1/agents/{li}/logout", headers=w.h["wang.fang"])
    assert r.status_code == 409 and "ringing" in r.json()["detail"], r.text
    st = await w.post(f"/api/v1/agents/{li}/logout", "wang.fang", force=True)
    assert st["state"] == "logged_out"
    assert w.center.acd.tenant(TENANT).engine.task_status("t1") == "queued"
    # on a call: 409; force: pending, logged out when the call ends (the caller is not cut off)
    await w.agent_in("li.na", "1001")
    w.center.acd.new_task(TENANT, TaskSpec("t3", "general"))  # she declined t1: t3 rings her
    aid = str(li)
    w.engine_call(lambda e, now: e.accept(aid, "t3", now))
    r = await app_client.post(f"/api/v1/agents/{li}/logout", headers=w.h["wang.fang"])
    assert r.status_code == 409 and "on call" in r.json()["detail"] and "busy" in r.json()["detail"]
    st = await w.post(f"/api/v1/agents/{li}/logout", "wang.fang", force=True)
    assert st["state"] == "busy" and st["logout_pending"] is True
    assert [e.data["action"] for e in w.published if e.type == "agent_forced"][-1] == "logout_pending"
    w.engine_call(lambda e, now: e.complete(aid, "t3", now))
    st = await w.get(f"/api/v1/agents/{li}")
    assert st["state"] == "logged_out" and st["extension"] is None and st["logout_pending"] is False
    # an agent may not force a colleague
    r = await app_client.post(f"/api/v1/agents/{w.ids['zhang.wei']}/ready", headers=w.h["li.na"])
    assert r.status_code == 403


async def test_reserve_a_waiting_call(app_client: AsyncClient) -> None:
    w = await world(app_client)
    zhang, li, fang = w.ids["zhang.wei"], w.ids["li.na"], w.ids["wang.fang"]
    await w.agent_in("zhang.wei", "1002", ready=False)
    w.center.acd.new_task(TENANT, TaskSpec("t1", "fault"))  # requirements fault>=2
    url = "/api/v1/calls/t1/reserve"
    out = await w.post(url, "wang.fang", {"agent_id": zhang, "seconds": 60})
    assert out["state"] == "reserved" and out["queue"] == "fault" and out["agent_id"] == zhang
    eng = w.center.acd.tenant(TENANT).engine
    assert eng.task_target("t1") == str(zhang)
    [ev] = [e for e in w.published if e.type == "reserve"]
    assert ev.call_id == "t1" and ev.agent_id == zhang and ev.data["by"] == fang
    await w.post(f"/api/v1/agents/{zhang}/ready", "zhang.wei")  # offered to him as soon as he is ready
    assert eng.agent_offers(str(zhang)) == ("t1",)
    r = await app_client.post(url, json={"agent_id": zhang}, headers=w.h["wang.fang"])
    assert r.status_code == 409 and "state: ringing" in r.json()["detail"], r.text
    # 422: not logged in / lacks the skill
    w.center.acd.new_task(TENANT, TaskSpec("t2", "fault"))
    r = await app_client.post("/api/v1/calls/t2/reserve", json={"agent_id": li}, headers=w.h["wang.fang"])
    assert r.status_code == 422 and "not logged in" in r.json()["detail"]
    await w.agent_in("wang.fang", "1003", ready=False)
    r = await app_client.post("/api/v1/calls/t2/reserve", json={"agent_id": fang}, headers=w.h["wang.fang"])
    assert r.status_code == 422 and "lacks the skills" in r.json()["detail"] and "fault" in r.json()["detail"]
    r = await app_client.post(
        "/api/v1/calls/t2/reserve", json={"agent_id": w.ids["sun.li"]}, headers=w.h["admin"]
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "agent_id"
    # 404 unknown call; 403 for an agent (call.supervise); reserving again moves the reservation
    r = await app_client.post("/api/v1/calls/nosuch/reserve", json={"agent_id": li}, headers=w.h["wang.fang"])
    assert r.status_code == 404
    r = await app_client.post("/api/v1/calls/t2/reserve", json={"agent_id": zhang}, headers=w.h["li.na"])
    assert r.status_code == 403
    await w.agent_in("li.na", "1001", ready=False)
    await w.post("/api/v1/calls/t2/reserve", "wang.fang", {"agent_id": li})
    await w.post("/api/v1/calls/t2/reserve", "admin", {"agent_id": li, "seconds": 5})
    assert eng.task_target("t2") == str(li)
    w.engine_call(lambda e, now: e.abandon("t2", now))
    r = await app_client.post("/api/v1/calls/t2/reserve", json={"agent_id": li}, headers=w.h["wang.fang"])
    assert r.status_code == 409 and "state: ended" in r.json()["detail"]
    # a transferred call waits as <call id>/t<n>: reserved by its call id
    w.center.acd.new_task(TENANT, TaskSpec("c9/t1", "general"))
    out = await w.post("/api/v1/calls/c9/reserve", "wang.fang", {"agent_id": li})
    assert out["task_id"] == "c9/t1" and out["call_id"] == "c9" and eng.task_target("c9/t1") == str(li)
