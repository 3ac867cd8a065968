"""The live event stream: WebSocket ``/api/v1/events`` (see docs/events.md).

Auth: ``Authorization: Bearer <token>``, ``?token=<token>``, or the browser's session cookie —
then the ``Origin`` header must name this server (the ``Host`` the browser connected to, or
``[http] public_url``), else a page of another site could open the stream with the user's
cookie (cross-site WebSocket hijacking). Refusals accept the handshake and close at once with
a code and a reason the client can read: 4401 (not authenticated), 4403 (foreign Origin),
4400 (bad query).

Frames: ``hello`` → the missed envelopes (resume with ``since`` + ``epoch``) or a ``snapshot``
→ live envelopes filtered by the reader's permissions and data scope. ``{"op": "ping"}`` is
answered ``{"type": "pong"}``; an idle stream gets ``{"type": "keepalive"}`` every 20 s. A
reader that falls more than ``READER_LIMIT`` frames behind loses its backlog and gets a fresh
``snapshot`` (whose ``seq`` says where the live envelopes continue).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from pydantic import BaseModel

from hotline.auth import sessions
from hotline.auth.policy import Perm, Principal, can_at_all
from hotline.auth.users import principal_for
from hotline.cti.events import Audience, EventHub, Reader, encode
from hotline.errors import HotlineError
from hotline.store.models import AuthSession
from hotline.web.api import agents as agents_api
from hotline.web.context import SESSION_COOKIE, AppState, Ctx

router = APIRouter(prefix="/api/v1", tags=["events"])
log = logging.getLogger("hotline.web.events")

#: frames a reader may fall behind before its backlog is replaced by a snapshot
READER_LIMIT = 2000
EPOCH = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
SKIP_NAME = re.compile(r"^[a-z][a-z_.]{0,63}$")
PONG = encode({"type": "pong"})


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def _same_origin(ws: WebSocket, state: AppState) -> bool:
    origin = ws.headers.get("origin")
    if not origin:
        return False
    netloc = urlsplit(origin).netloc.lower()
    allowed = {ws.headers.get("host", "").lower()}
    if state.settings.http.public_url:
        allowed.add(urlsplit(state.settings.http.public_url).netloc.lower())
    return bool(netloc) and netloc in allowed


async def authenticate(ws: WebSocket, state: AppState) -> tuple[Principal, AuthSession]:
    header = ws.headers.get("authorization", "")
    token = ws.query_params.get("token")
    via_cookie = False
    if header:
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != "bearer" or not raw.strip():
            raise Refused(4401, "Authorization header must be 'Bearer <token>'")
        raw = raw.strip()
    elif token is not None:
        raw = token
        if not raw:
            raise Refused(4401, "empty token")
    else:
        raw = ws.cookies.get(SESSION_COOKIE, "")
        via_cookie = True
        if not raw:
            raise Refused(4401, "not logged in: send a Bearer token, ?token= or the session cookie")
        if not _same_origin(ws, state):
            raise Refused(4403, "cookie sign-in needs an Origin header naming this server")
    try:
        async with state.db() as s:
            row, user = await sessions.resolve(s, raw, kind="browser" if via_cookie else None)
            ip = ws.client.host if ws.client else ""
            principal = await principal_for(s, user, ip=ip)
    except HotlineError as exc:
        raise Refused(4401, exc.detail) from None
    return principal, row


def parse_query(params: dict[str, str], raw_keys: list[str]) -> tuple[int | None, str | None]:
    """``since`` and ``epoch`` (both or neither); ``token`` is read elsewhere; anything else is refused."""
    for key in raw_keys:
        if key not in ("since", "epoch", "token", "skip"):
            raise Refused(4400, f"unknown query parameter {key!r} (since, epoch, token, skip)")
        if raw_keys.count(key) > 1:
            raise Refused(4400, f"query parameter {key!r} given twice")
    since_raw, epoch = params.get("since"), params.get("epoch")
    if (since_raw is None) != (epoch is None):
        raise Refused(4400, "since and epoch go together (both from the last hello/envelope)")
    if since_raw is None or epoch is None:
        return None, None
    if not since_raw.isdecimal() or len(since_raw) > 18:
        raise Refused(4400, f"since must be a non-negative integer, not {since_raw[:20]!r}")
    if not EPOCH.match(epoch):
        raise Refused(4400, "epoch: letters, digits, '-' and '_' (at most 64)")
    return int(since_raw), epoch


def parse_skip(raw: str | None) -> frozenset[str]:
    """``skip=stats,message``: event types the client does not want (at most 20 names)."""
    if not raw:
        return frozenset()
    names = raw.split(",")
    if len(names) > 20 or not all(SKIP_NAME.match(n) for n in names):
        raise Refused(4400, "skip: a comma-separated list of event types such as 'stats' (at most 20)")
    return frozenset(names)


def _jsonable(items: Any) -> list[Any]:
    out = []
    for item in items:
        out.append(item.model_dump(mode="json") if isinstance(item, BaseModel) else item)
    return out


async def snapshot(ctx: Ctx, hub: EventHub, reader: Reader) -> dict[str, Any]:
    """What the reader may see now: agents, queues (the documents of GET /api/v1/agents and
    /api/v1/queues), live calls (from the registered provider) and any other registered section."""
    center = ctx.state.center
    assert center is not None
    data: dict[str, Any] = {"agents": [], "queues": [], "calls": []}
    acd = center.acd.tenants.get(ctx.tenant_id)
    if acd is not None and can_at_all(ctx.principal, Perm.AGENT_READ):
        sessions_ = list(acd.agents.values())
        group = reader.group
        if group is not None and not group.principal.grants_for(Perm.AGENT_READ):
            # only own-scope agent.read: the reader's own agent, not a scan of every agent
            own = acd.agents.get(reader.user_id)
            sessions_ = [own] if own is not None else []
        for session in sessions_:
            path = hub.locator.agent_path(ctx.tenant_id, session.user_id)
            a = Audience(Perm.AGENT_READ, "agent", path or "/", session.user_id)
            if hub.sees(reader, a):
                data["agents"].append(agents_api._status(ctx, session).model_dump(mode="json"))
    if can_at_all(ctx.principal, Perm.QUEUE_READ):
        data["queues"] = [
            agents_api._queue_out(ctx, q).model_dump(mode="json")
            for q in await agents_api._visible_queues(ctx)
        ]
    for name, provider in hub.snapshot_providers.items():
        try:
            data[name] = _jsonable(await provider(ctx))
        except Exception:
            log.exception("events: snapshot section %r failed", name)
            data[name] = []
    return data


async def _writer(ws: WebSocket, ctx: Ctx, hub: EventHub, reader: Reader) -> None:
    send = ws.send_text
    while True:
        if reader.close_reason is not None:
            code, reason = reader.close_reason
            await ws.close(code, reason)
            return
        if reader.overflowed:
            seq = hub.last_seq(reader.tenant_id)
            reader.resync(seq)
            data = await snapshot(ctx, hub, reader)
            await send(encode({"type": "snapshot", "seq": seq, "data": data}))
            reader.sent += 1
            continue
        frames = reader.take()
        if not frames:
            await reader.wait()
            continue
        for text in frames:
            await send(text)
        reader.sent += len(frames)
        reader.last_sent = time.monotonic()


@router.websocket("/events")
async def events(ws: WebSocket) -> None:
    state: AppState = ws.app.state.hotline
    center = state.center
    assert center is not None
    hub = center.hub
    await ws.accept()
    try:
        principal, row = await authenticate(ws, state)
        since, epoch = parse_query(dict(ws.query_params), [k for k, _ in ws.query_params.multi_items()])
        skip = parse_skip(ws.query_params.get("skip"))
    except Refused as exc:
        await ws.close(exc.code, exc.reason)
        return
    ctx = Ctx(principal=principal, session=row, state=state)
    reader = Reader(principal, limit=READER_LIMIT, session_id=row.id, skip=skip)
    tid = principal.tenant_id
    # subscribe and read the backlog with no await in between: nothing is missed or doubled
    missed = hub.since(tid, since) if since is not None and epoch == hub.epoch else None
    hub.subscribe(reader)
    last = hub.last_seq(tid)
    reader.last_seq = last
    writer: asyncio.Task[None] | None = None
    try:
        await ws.send_text(
            encode({"type": "hello", "seq": last, "epoch": hub.epoch, "resumed": missed is not None})
        )
        if missed is None:
            data = await snapshot(ctx, hub, reader)
            await ws.send_text(encode({"type": "snapshot", "seq": last, "data": data}))
        else:
            for event in missed:
                text = hub.frame_for(reader, event)
                if text is not None:
                    await ws.send_text(text)
        reader.last_sent = time.monotonic()
        writer = asyncio.ensure_future(_writer(ws, ctx, hub, reader))
        receiving = asyncio.ensure_future(_receive(ws, reader))
        done, _ = await asyncio.wait({writer, receiving}, return_when=asyncio.FIRST_COMPLETED)
        receiving.cancel()
        for task in done:
            failure = None if task.cancelled() else task.exception()
            if failure is not None and not isinstance(failure, WebSocketDisconnect | RuntimeError | OSError):
                log.error("events: connection task failed", exc_info=failure)
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        hub.unsubscribe(reader)
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(BaseException):
                await writer


async def _receive(ws: WebSocket, reader: Reader) -> None:
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return
        text = msg.get("text")
        if text is None:
            raw = msg.get("bytes") or b""
            text = raw.decode("utf-8", "replace")
        try:
            frame = json.loads(text)
        except ValueError:
            reader.control(encode({"type": "error", "detail": 'frames are JSON objects like {"op": "ping"}'}))
            continue
        op = frame.get("op") if isinstance(frame, dict) else None
        if op == "ping":
            reader.control(PONG)
        else:
            reader.control(encode({"type": "error", "detail": f"unknown op {op!r} (ping)"}))
