"""Webhooks: the CRUD API, and deliveries to a real HTTP receiver on 127.0.0.1 (signature,
retries with backoff, giving up, surviving a restart)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from httpx import AsyncClient
from sqlalchemy import select

from hotline.cti.webhooks import backoff_delay, matches, signature, verify
from hotline.store.models import AuditEntry, User, WebhookDelivery
from tests.conftest import _client, make_settings, token_for
from tests.liveserver import free_port


class Receiver:
    """An ASGI app answering with scripted status codes and recording every request."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[dict[str, str], bytes, float]] = []
        self.got = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append((headers, body, time.monotonic()))
        status = self.statuses.pop(0) if self.statuses else 200
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok" if status < 300 else b"try again"})
        self.got.set()

    async def wait_for(self, n: int, timeout: float = 15.0) -> None:  # noqa: ASYNC109
        end = time.monotonic() + timeout
        while len(self.requests) < n:
            if time.monotonic() > end:
                raise AssertionError(f"receiver got {len(self.requests)} of {n} requests")
            await asyncio.sleep(0.05)


async def run_receiver(receiver: Receiver, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    server = uvicorn.Server(
        uvicorn.Config(receiver, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.ensure_future(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started
    return server, task


async def stop(server: uvicorn.Server, task: asyncio.Task[None]) -> None:
    server.should_exit = True
    await asyncio.wait_for(task, 10)


async def _uid(client: AsyncClient, username: str) -> int:
    async with client.app.state.hotline.db() as s:  # type: ignore[attr-defined]
        uid = await s.scalar(select(User.id).where(User.username == username))
    assert uid is not None
    return int(uid)


# -- pure helpers ---------------------------------------------------------------------------------


def test_signature_matching_and_backoff() -> None:
    body = b'{"seq":1}'
    sig = signature("s3cret", "1700000000", body)
    assert sig == "sha256=" + hmac.new(b"s3cret", b"1700000000." + body, hashlib.sha256).hexdigest()
    now = str(int(time.time()))
    assert verify("k" * 20, now, body, signature("k" * 20, now, body))
    assert not verify("k" * 20, now, body + b" ", signature("k" * 20, now, body))
    assert not verify("k" * 20, "1700000000", body, signature("k" * 20, "1700000000", body))  # too old
    assert matches([], "agent_state") and not matches([], "stats") and matches(["stats"], "stats")
    assert matches(["call_*"], "call_hold") and not matches(["call_*"], "connect")
    assert [backoff_delay(n, 1.0, 10.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


# -- the API ----------------------------------------------------------------------------------------


async def test_crud_secret_shown_once_and_permissions(app_client: AsyncClient) -> None:
    h = await token_for(app_client, "admin")
    body = {"name": "crm", "url": "https://crm.example.com/hook", "events": ["agent_*", "connect"]}
    r = await app_client.post("/api/v1/webhooks", json=body, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"].startswith("whsec_") and created["pending"] == 0
    wid = created["id"]
    one = (await app_client.get(f"/api/v1/webhooks/{wid}", headers=h)).json()
    assert one["secret"] is None and one["events"] == ["agent_*", "connect"]
    assert [w["name"] for w in (await app_client.get("/api/v1/webhooks", headers=h)).json()] == ["crm"]
    assert all(w["secret"] is None for w in (await app_client.get("/api/v1/webhooks", headers=h)).json())

    r = await app_client.post("/api/v1/webhooks", json=body, headers=h)
    assert r.status_code == 409
    for bad in ({"url": "ftp://x.example/"}, {"url": "https://u:p@x.example/"}, {"events": ["Call*"]}):
        r = await app_client.post("/api/v1/webhooks", json={**body, "name": "x", **bad}, headers=h)
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["errors"][0]["field"] in ("url", "events.0", "events"), r.json()

    r = await app_client.put(
        f"/api/v1/webhooks/{wid}",
        json={**body, "active": False, "secret": "a-new-secret-of-20-chars"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["active"] is False
    assert r.json()["secret"] == "a-new-secret-of-20-chars"
    assert (await app_client.get(f"/api/v1/webhooks/{wid}", headers=h)).json()["secret"] is None
    assert (await app_client.get(f"/api/v1/webhooks/{wid}/deliveries", headers=h)).json() == []

    sup = await token_for(app_client, "wang.fang")
    assert (await app_client.get("/api/v1/webhooks", headers=sup)).status_code == 403
    assert (
        await app_client.post("/api/v1/webhooks", json={**body, "name": "y"}, headers=sup)
    ).status_code == 403
    async with app_client.app.state.hotline.db() as s:  # type: ignore[attr-defined]
        actions = list(await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
        assert {"webhook.create", "webhook.update", "webhook.write"} <= set(actions)

    assert (await app_client.delete(f"/api/v1/webhooks/{wid}", headers=h)).status_code == 204
    assert (await app_client.get(f"/api/v1/webhooks/{wid}", headers=h)).status_code == 404
    assert (await app_client.get("/api/v1/webhooks/99999999", headers=h)).status_code == 404


# -- deliveries -------------------------------------------------------------------------------------


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    rec = Receiver()
    port = free_port()
    server, task = await run_receiver(rec, port)
    yield rec, port
    await stop(server, task)


async def test_signed_delivery_of_a_real_event_with_retries(
    app_client: AsyncClient, receiver: tuple[Receiver, int]
) -> None:
    rec, port = receiver
    rec.statuses = [500, 503]  # fails twice, then succeeds
    center = app_client.app.state.hotline.center  # type: ignore[attr-defined]
    center.webhooks.backoff = 0.3
    h = await token_for(app_client, "admin")
    r = await app_client.post(
        "/api/v1/webhooks",
        json={"name": "crm", "url": f"http://127.0.0.1:{port}/hook", "events": ["agent_login"]},
        headers=h,
    )
    secret = r.json()["secret"]
    wid = r.json()["id"]
    li_na = await _uid(app_client, "li.na")
    lh = await token_for(app_client, "li.na")
    r = await app_client.post(f"/api/v1/agents/{li_na}/login", json={"extension": "1001"}, headers=lh)
    assert r.status_code == 200, r.text
    # only the durable outbox is touched, after the call returned
    await rec.wait_for(3)
    await asyncio.sleep(0.3)
    assert len(rec.requests) == 3  # agent_state (not subscribed) was not sent
    ids = {hd["x-hotline-delivery"] for hd, _b, _t in rec.requests}
    assert len(ids) == 1  # the same delivery, retried
    for hd, body, _t in rec.requests:
        assert hd["x-hotline-event"] == "agent_login"
        assert hd["content-type"] == "application/json"
        ts = hd["x-hotline-timestamp"]
        expected = (
            "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        )
        assert hd["x-hotline-signature"] == expected
        assert verify(secret, ts, body, hd["x-hotline-signature"])
    env = json.loads(rec.requests[-1][1])
    assert env["type"] == "agent_login" and env["agent_id"] == li_na and env["data"]["extension"] == "1001"
    assert set(env) == {"seq", "type", "at", "call_id", "queue", "agent_id", "data"}
    gaps = [rec.requests[i + 1][2] - rec.requests[i][2] for i in range(2)]
    assert gaps[0] >= 0.25 and gaps[1] >= 0.55, gaps  # 0.3 s, then 0.6 s
    await asyncio.sleep(0.2)
    d = (await app_client.get(f"/api/v1/webhooks/{wid}/deliveries", headers=h)).json()
    assert [(x["status"], x["attempts"], x["event"]) for x in d] == [("done", 3, "agent_login")]
    assert d[0]["done_at"] is not None


async def test_gives_up_after_max_attempts(app_client: AsyncClient, receiver: tuple[Receiver, int]) -> None:
    rec, port = receiver
    rec.statuses = [500] * 10
    center = app_client.app.state.hotline.center  # type: ignore[attr-defined]
    center.webhooks.backoff, center.webhooks.max_attempts = 0.05, 3
    h = await token_for(app_client, "admin")
    r = await app_client.post(
        "/api/v1/webhooks", json={"name": "all", "url": f"http://127.0.0.1:{port}/"}, headers=h
    )
    wid = r.json()["id"]
    tid = next(iter(center.acd.tenants))
    center.hub.publish(tid, "custom_thing", data={"x": 1})
    center.hub.publish(tid, "stats", data={"queues": []})  # not sent: stats only when named
    await rec.wait_for(3)
    await asyncio.sleep(0.5)
    assert len(rec.requests) == 3
    d = (await app_client.get(f"/api/v1/webhooks/{wid}/deliveries", headers=h)).json()
    assert [(x["status"], x["attempts"]) for x in d] == [("failed", 3)]
    assert d[0]["last_error"].startswith("HTTP 500")
    assert (await app_client.get(f"/api/v1/webhooks/{wid}", headers=h)).json()["failed"] == 1


async def test_pending_deliveries_survive_a_restart(tmp_path: Path, demo_db_template: Path) -> None:
    db = tmp_path / "demo.db"
    shutil.copyfile(demo_db_template, db)
    settings = make_settings(tmp_path, f"sqlite+aiosqlite:///{db}")
    port = free_port()  # nothing listens there yet: every attempt fails
    async for client in _client(settings, seed=False):
        center = client.app.state.hotline.center  # type: ignore[attr-defined]
        center.webhooks.backoff = 0.2
        h = await token_for(client, "admin")
        r = await client.post(
            "/api/v1/webhooks", json={"name": "crm", "url": f"http://127.0.0.1:{port}/"}, headers=h
        )
        assert r.status_code == 201
        secret = r.json()["secret"]
        tid = next(iter(center.acd.tenants))
        center.hub.publish(tid, "callback_requested", data={"number": "013812345678"})
        for _ in range(100):
            async with center.factory() as s:
                row = await s.scalar(select(WebhookDelivery))
            if row is not None and row.attempts >= 1:
                break
            await asyncio.sleep(0.05)
        assert row is not None and row.status == "pending" and "ConnectError" in row.last_error
        delivery_id = row.id
    rec = Receiver()
    server, task = await run_receiver(rec, port)
    try:
        async for client in _client(settings, seed=False):
            await rec.wait_for(1)
            hd, body, _t = rec.requests[0]
            assert hd["x-hotline-delivery"] == str(delivery_id)
            assert verify(secret, hd["x-hotline-timestamp"], body, hd["x-hotline-signature"])
            assert json.loads(body)["data"] == {"number": "013812345678"}
            await asyncio.sleep(0.3)
            async with client.app.state.hotline.db() as s:  # type: ignore[attr-defined]
                row = await s.get_one(WebhookDelivery, delivery_id)
            assert row.status == "done" and row.attempts >= 2
    finally:
        await stop(server, task)
