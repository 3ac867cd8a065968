"""CDR store on SQLite and PostgreSQL: a call's life written event by event, and the API view."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from hotline.cti.cdr import CdrStore, LegMediaStats, new_call_id
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import Call
from hotline.store.types import utcnow
from tests.conftest import token_for


def test_call_ids_sort_by_time_and_are_unique() -> None:
    ids = [new_call_id(1_700_000_000.0 + i) for i in range(50)]
    assert ids == sorted(ids) and len(set(ids)) == 50
    assert len({new_call_id(1.0) for _ in range(1000)}) == 1000


async def test_call_lifecycle(factory: Any) -> None:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "t", "T")
    store = CdrStore(factory)
    t0 = utcnow()
    cid = new_call_id()
    await store.call_started(
        cid,
        tenant_id=t.id,
        direction="internal",
        started_at=t0,
        caller="1001",
        caller_raw="sip:1001@127.0.0.1",
        dialed="1002",
        dialed_raw="sip:1002@127.0.0.1",
    )
    a = await store.leg_started(
        cid, role="caller", started_at=t0, sip_call_id="abc@x", remote_addr="127.0.0.1:5062"
    )
    b = await store.leg_started(cid, role="callee", started_at=t0 + timedelta(seconds=1))
    await store.leg_answered(b, t0 + timedelta(seconds=3), codec="PCMU")
    await store.call_answered(cid, t0 + timedelta(seconds=3))
    await store.merge_data(cid, {"menu": "1"})
    await store.merge_data(cid, {"account": "3201001001"})
    stats = LegMediaStats(codec="PCMU", packets_sent=500, packets_received=498, packets_lost=2, jitter_ms=1.5)
    await store.leg_ended(a, t0 + timedelta(seconds=13), reason="bye", stats=stats)
    await store.leg_ended(b, t0 + timedelta(seconds=13), reason="bye from peer", sip_code=200)
    await store.call_ended(
        cid,
        t0 + timedelta(seconds=13),
        cause="normal",
        ended_by="caller",
        recording_path="recordings/2026-11-22/x.wav",
    )
    with pytest.raises(ValueError, match="unknown end cause"):
        await store.call_ended(cid, t0, cause="exploded", ended_by="system")
    async with factory() as s:
        call = await s.get_one(Call, cid)
    assert call.data == {"menu": "1", "account": "3201001001"}
    assert call.end_cause == "normal" and call.ended_by == "caller"
    assert (call.answered_at - call.started_at) == timedelta(seconds=3)  # type: ignore[operator]
    assert [leg.role for leg in call.legs] == ["caller", "callee"]
    assert call.legs[0].packets_lost == 2 and call.legs[0].jitter_ms == 1.5
    assert call.legs[1].codec == "PCMU" and call.legs[1].sip_code == 200


async def test_calls_api(app_client: AsyncClient) -> None:
    db = app_client.app.state.hotline.db  # type: ignore[attr-defined]
    store = CdrStore(db)
    t0 = utcnow()
    ids = []
    for i, caller in enumerate(("+8613912340001", "+8613912340002", "+8613912340001")):
        cid = new_call_id()
        ids.append(cid)
        await store.call_started(
            cid,
            tenant_id=1,
            direction="inbound",
            started_at=t0 + timedelta(seconds=i),
            caller=caller,
            dialed="95598",
        )
    await store.call_ended(
        ids[0], t0 + timedelta(seconds=30), cause="cancelled", ended_by="caller", sip_code=487
    )
    h = await token_for(app_client, "admin")
    page = (await app_client.get("/api/v1/calls", params={"caller": "+8613912340001"}, headers=h)).json()
    assert [c["id"] for c in page["items"]] == [ids[2], ids[0]]
    one = (await app_client.get(f"/api/v1/calls/{ids[0]}", headers=h)).json()
    assert one["end_cause"] == "cancelled" and one["sip_code"] == 487 and one["legs"] == []
    r = await app_client.get("/api/v1/calls", params={"since": "2026-01-01T00:00:00"}, headers=h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "since"
    assert (await app_client.get("/api/v1/calls/nope", headers=h)).status_code == 404
    # calls not yet routed to a unit are visible only with tenant scope
    sup = await token_for(app_client, "wang.fang")
    assert (await app_client.get("/api/v1/calls", headers=sup)).json()["items"] == []
    assert (await app_client.get(f"/api/v1/calls/{ids[0]}", headers=sup)).status_code == 403
    viewer = await token_for(app_client, "sun.li")
    assert (await app_client.get("/api/v1/calls", headers=viewer)).status_code == 403


async def test_nothing_is_spawned_for_an_ended_call() -> None:
    """A call ended while its setup was still awaiting (e.g. BYE during the CDR write) must not
    get new tasks: they would hold it in memory (found by the call benchmark)."""
    import asyncio

    from hotline.cti.b2bua import Call, CallManager

    manager = CallManager.__new__(CallManager)
    call = Call(id="c1", tenant_id=1, direction="inbound")
    call.ended = True

    async def forever() -> None:
        await asyncio.sleep(3600)

    coro = forever()
    manager._spawn(call, coro)
    assert not call.tasks and coro.cr_frame is None  # closed, never scheduled
