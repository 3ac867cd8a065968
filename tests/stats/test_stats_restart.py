"""A restart loses nothing: the statistics are rebuilt from the stored queue event log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from httpx import AsyncClient

from hotline.acd import TaskSpec
from tests.conftest import _client, make_settings, token_for

KEEP = ("offered", "answered", "answered_within", "abandoned", "short_abandoned", "exited", "sl", "asa",
        "aht", "handled", "interval_offered", "interval_answered", "interval_abandoned")  # fmt: skip


async def a_day(client: AsyncClient) -> tuple[int, list[Any], list[Any], list[Any]]:
    h = await token_for(client, "li.na")
    me = (await client.get("/api/v1/auth/me", headers=h)).json()["id"]
    r = await client.post(f"/api/v1/agents/{me}/login", json={"extension": "1001", "ready": True}, headers=h)
    assert r.status_code == 200, r.text
    acd = client.app.state.hotline.center.acd  # type: ignore[attr-defined]
    aid = str(me)
    acd.new_task(1, TaskSpec("t1", "general", data={"caller": "13900000001"}))
    acd.apply(1, lambda e, now: e.accept(aid, "t1", now))
    acd.new_task(1, TaskSpec("t2", "billing"))
    acd.apply(1, lambda e, now: e.abandon("t2", now))
    acd.apply(1, lambda e, now: e.complete(aid, "t1", now))
    acd.apply(1, lambda e, now: e.end_wrap_up(aid, now))
    acd.new_task(1, TaskSpec("t3", "consult"))  # rings li.na; lost in the restart
    return me, *(await snapshot(client))


async def snapshot(client: AsyncClient) -> tuple[list[Any], list[Any], list[Any]]:
    admin = await token_for(client, "admin")
    queues = (await client.get("/api/v1/stats/queues", headers=admin)).json()
    agents = (await client.get("/api/v1/stats/agents", headers=admin)).json()
    hours = (await client.get("/api/v1/stats/intervals", params={"hours": 2}, headers=admin)).json()
    return queues, agents, hours


async def test_statistics_survive_a_restart(tmp_path: Path, db_url: str) -> None:
    """On SQLite and PostgreSQL."""
    settings = make_settings(tmp_path, db_url)
    async for client in _client(settings, seed=True):
        me, before, agents_before, hours_before = await a_day(client)
    async for client in _client(settings, seed=False):
        after, agents_after, hours_after = await snapshot(client)
        assert client.app.state.hotline.center.stats.replayed >= 10  # type: ignore[attr-defined]
    b = {d["queue"]: {k: d[k] for k in KEEP} for d in before}
    a = {d["queue"]: {k: d[k] for k in KEEP} for d in after}
    assert b == a
    assert b["general"]["answered"] == 1 and b["billing"]["abandoned"] == 1 and b["consult"]["offered"] == 1
    # calls waiting at the restart are gone (the ACD lost them); the day's counts stay
    g = next(d for d in after if d["queue"] == "consult")
    assert g["waiting"] == 0 and g["offered"] == 1
    li_before = next(d for d in agents_before if d["agent_id"] == me)
    li_after = next(d for d in agents_after if d["agent_id"] == me)
    assert li_before["handled"] == li_after["handled"] == 1 and li_before["aht"] == li_after["aht"]
    assert li_before["state"] == "reserved" and li_after["state"] == "logged_out"
    # the interval rows are the same, except for what the lost call adds to "waiting too long"
    assert [(r["start"], r["offered"], r["answered"], r["abandoned"]) for r in hours_before] == [
        (r["start"], r["offered"], r["answered"], r["abandoned"]) for r in hours_after
    ]
