"""Agents on phones (login with an extension, ready / not ready, wrap-up with a disposition),
queues (settings and live status), the queue event log, voicemail and callback requests."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import select

from hotline import audit
from hotline.acd.errors import AcdError
from hotline.acd.model import AgentState, TaskStatus
from hotline.auth.policy import TENANT_PATH, Perm, Resource, allows, can_at_all
from hotline.auth.users import get_user
from hotline.cti.acdservice import AgentSession
from hotline.cti.queues import QUEUE_NAME, parse_settings
from hotline.errors import Conflict, Invalid, NotFound
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.lookup import unit_path
from hotline.store.models import (
    AgentProfile,
    Call,
    CallbackRequest,
    Extension,
    QueueDef,
    QueueEvent,
    ServiceCode,
    Voicemail,
)
from hotline.store.types import valid_id
from hotline.web.api.ivr import center_of
from hotline.web.api.schemas import MAX_ID, MAX_OFFSET, Strict
from hotline.web.context import Ctx, CtxDep

router = APIRouter(prefix="/api/v1", tags=["agents and queues"])


# -- agents -------------------------------------------------------------------------------------


class AgentStatus(BaseModel):
    user_id: int
    username: str
    name: str
    state: str = Field(
        description="logged_out, available, reserved (ringing), busy, hold, wrap_up, not_ready"
    )
    reason: str | None
    extension: str | None
    since: str
    seconds_in_state: float
    logged_in_at: str | None
    current_call: str | None
    wrap_up_call: str | None
    offers: list[str]
    calls_handled: int
    logout_pending: bool = Field(
        False, description="a forced logout waits for the agent's call to end (POST …/logout?force=true)"
    )


class LoginIn(Strict):
    extension: str = Field(examples=["1001"])
    ready: bool = Field(False, description="available at once (else not ready with reason 'login')")


class NotReadyIn(Strict):
    reason: str = Field(examples=["break"], description="a not-ready reason code (GET /api/v1/codes)")


class WrapUpIn(Strict):
    disposition: str = Field(examples=["resolved"], description="a disposition code (GET /api/v1/codes)")
    notes: str = Field("", max_length=4000)
    call_id: str | None = Field(None, description="default: the agent's last call")
    ready: bool | None = Field(None, description="available after wrap-up (default: the agent's profile)")


class ProfileIn(Strict):
    agent_no: str = Field("", max_length=32)
    skills: dict[str, int] = Field(default_factory=dict, examples=[{"billing": 4, "fault": 2}])
    queues: list[str] = Field(default_factory=list, examples=[["general", "billing"]])
    auto_ready: bool = True


async def _agent(ctx: Ctx, user_id: int, perm: Perm) -> AgentSession:
    """The agent's session, after checking ``perm`` (agents always act on themselves)."""
    acd = center_of(ctx).acd
    async with ctx.db() as s:
        user = await get_user(s, ctx.tenant_id, user_id)
        path = await unit_path(s, user.unit_id)
    if not (perm is Perm.AGENT_CONTROL and user_id == ctx.principal.user_id):
        await ctx.authorize(perm, Resource("agent", ctx.tenant_id, path, user_id, str(user_id)))
    return acd.agent(ctx.tenant_id, user_id)


def _status(ctx: Ctx, session: AgentSession) -> AgentStatus:
    return AgentStatus(**center_of(ctx).acd.agent_status(session))


@router.get("/agents", response_model=list[AgentStatus], summary="Agents you may see, with their live state")
async def list_agents(ctx: CtxDep) -> list[AgentStatus]:
    await ctx.require_any(Perm.AGENT_READ, "agent")
    acd = center_of(ctx).acd
    out = []
    async with ctx.db() as s:
        for session in acd.tenant(ctx.tenant_id).agents.values():
            path = await unit_path(s, session.unit_id)
            res = Resource("agent", ctx.tenant_id, path, session.user_id, str(session.user_id))
            if allows(ctx.principal, Perm.AGENT_READ, res):
                out.append(_status(ctx, session))
    return out


@router.get("/agents/{user_id}", response_model=AgentStatus, summary="One agent's live state")
async def get_agent(user_id: int, ctx: CtxDep) -> AgentStatus:
    return _status(ctx, await _agent(ctx, user_id, Perm.AGENT_READ))


@router.post("/agents/{user_id}/login", response_model=AgentStatus, summary="Log in at an extension")
async def login(user_id: int, body: LoginIn, ctx: CtxDep) -> AgentStatus:
    session = await _agent(ctx, user_id, Perm.AGENT_CONTROL)
    async with ctx.db() as s:
        ext = await s.scalar(
            select(Extension).where(Extension.tenant_id == ctx.tenant_id, Extension.number == body.extension)
        )
    if ext is None:
        raise Invalid(f"no extension {body.extension!r}", field="extension")
    if not ext.enabled:
        raise Conflict(f"extension {body.extension} is disabled", field="extension")
    acd = center_of(ctx).acd
    acd.login(session, body.extension, ready=body.ready)
    forced = _forced(ctx, session, "login", None)
    await _audit(ctx, "agent.login", user_id, {"extension": body.extension, "forced": forced})
    return _status(ctx, session)


@router.post(
    "/agents/{user_id}/logout",
    response_model=AgentStatus,
    summary="Log out (a supervisor: force logout)",
    description="An agent whose phone rings, who is in wrap-up or on a call is refused with 409 "
    "naming the state, unless `force=true`: a ringing offer goes to the next agent and wrap-up "
    "ends, then the agent is logged out; an agent on a call is set not ready and logged out as "
    "soon as the call ends (`logout_pending`) — the caller is never cut off (use "
    "`POST /api/v1/calls/{id}/release` for that).",
)
async def logout(user_id: int, ctx: CtxDep, force: bool = Query(False)) -> AgentStatus:
    session = await _agent(ctx, user_id, Perm.AGENT_CONTROL)
    done = center_of(ctx).acd.logout(session, force=force)
    action = "logout" if done else "logout_pending"
    forced = _forced(ctx, session, action, None)
    await _audit(ctx, "agent.logout", user_id, {"forced": forced, "force": force, "pending": not done})
    return _status(ctx, session)


@router.post("/agents/{user_id}/ready", response_model=AgentStatus, summary="Available for calls")
async def ready(user_id: int, ctx: CtxDep) -> AgentStatus:
    session = await _agent(ctx, user_id, Perm.AGENT_CONTROL)
    center_of(ctx).acd.set_ready(session)
    if _forced(ctx, session, "ready", None):
        await _audit(ctx, "agent.ready", user_id, {"forced": True})
    return _status(ctx, session)


@router.post("/agents/{user_id}/not-ready", response_model=AgentStatus, summary="Not ready, with a reason")
async def not_ready(user_id: int, body: NotReadyIn, ctx: CtxDep) -> AgentStatus:
    session = await _agent(ctx, user_id, Perm.AGENT_CONTROL)
    await _code(ctx, "not_ready", body.reason, "reason")
    center_of(ctx).acd.set_not_ready(session, body.reason)
    if _forced(ctx, session, "not_ready", body.reason):
        await _audit(ctx, "agent.not_ready", user_id, {"forced": True, "reason": body.reason})
    return _status(ctx, session)


def _forced(ctx: Ctx, session: AgentSession, action: str, reason: str | None) -> bool:
    """A supervisor acting on another agent: publish ``agent_forced`` (in the queue log too);
    True when forced (the caller audits it)."""
    if session.user_id == ctx.principal.user_id:
        return False
    center_of(ctx).events.append(
        ctx.tenant_id,
        "agent_forced",
        agent_id=session.user_id,
        by=ctx.principal.user_id,
        by_name=ctx.principal.username,
        action=action,
        reason=reason,
    )
    return True


@router.post(
    "/agents/{user_id}/wrap-up",
    response_model=AgentStatus,
    summary="Record the disposition and notes of the last call and end wrap-up",
)
async def wrap_up(user_id: int, body: WrapUpIn, ctx: CtxDep) -> AgentStatus:
    session = await _agent(ctx, user_id, Perm.AGENT_CONTROL)
    await _code(ctx, "disposition", body.disposition, "disposition")
    call_id = body.call_id or session.wrap_call or session.current_call
    if call_id is None:
        raise Conflict("the agent has no call to wrap up", field="call_id")
    acd = center_of(ctx).acd
    in_wrap_up = (
        session.extension is not None
        and call_id == session.wrap_call
        and acd.agent_state(session) is AgentState.WRAP_UP
    )
    async with transaction(ctx.db) as s:
        call = await s.scalar(select(Call).where(Call.tenant_id == ctx.tenant_id, Call.id == call_id))
        if call is None:
            raise NotFound(f"no call {call_id!r}", field="call_id")
        # the agent who answered, or one released from it (a transfer) and now in its wrap-up
        if call.agent_id != user_id and call_id != session.wrap_call:
            raise Conflict(f"call {call_id} was not answered by this agent", field="call_id")
        call.disposition = body.disposition
        call.disposition_notes = body.notes
        if in_wrap_up:
            call.wrap_up_seconds = round(acd.now() - session.state_since, 3)
        audit.record(
            s,
            "agent.wrap_up",
            principal=ctx.principal,
            resource_type="call",
            resource_id=call_id,
            detail={"disposition": body.disposition},
        )
    acd.events.append(
        ctx.tenant_id, "disposition", call_id=call_id, agent_id=user_id, disposition=body.disposition
    )
    if call_id == session.wrap_call and session.current_call is None:
        ready_after = session.auto_ready if body.ready is None else body.ready
        with contextlib.suppress(Conflict):  # logged out meanwhile: the disposition is stored anyway
            acd.end_wrap_up(session, ready=ready_after)
        session.wrap_call = None
    return _status(ctx, session)


@router.put(
    "/agents/{user_id}/profile", response_model=AgentStatus, summary="Set an agent's résumé and queues"
)
async def put_profile(user_id: int, body: ProfileIn, ctx: CtxDep) -> AgentStatus:
    acd = center_of(ctx).acd
    async with transaction(ctx.db) as s:
        user = await get_user(s, ctx.tenant_id, user_id)
        path = await unit_path(s, user.unit_id)
        await ctx.authorize(Perm.USER_WRITE, Resource("user", ctx.tenant_id, path, user_id, str(user_id)))
        for name, level in body.skills.items():
            if not QUEUE_NAME.match(name) or not 0 <= level <= 10:
                raise Invalid(f"skill {name!r}: names like 'billing', levels 0-10", field=f"skills.{name}")
        known = set(await s.scalars(select(QueueDef.name).where(QueueDef.tenant_id == ctx.tenant_id)))
        for q in body.queues:
            if q not in known:
                raise Invalid(f"no queue {q!r}", field="queues")
        profile = await s.scalar(select(AgentProfile).where(AgentProfile.user_id == user_id))
        if profile is None:
            profile = AgentProfile(tenant_id=ctx.tenant_id, user_id=user_id)
            s.add(profile)
        profile.agent_no = body.agent_no
        profile.skills = dict(body.skills)
        profile.queues = list(body.queues)
        profile.auto_ready = body.auto_ready
        audit.record(
            s,
            "agent.profile",
            principal=ctx.principal,
            resource_type="agent",
            resource_id=user_id,
            detail={"queues": body.queues, "skills": body.skills},
        )
    try:
        await acd.refresh_agent(ctx.tenant_id, user_id)
    except AcdError as exc:
        raise Conflict(f"saved; the running ACD refused it ({exc}); it applies after a restart") from None
    return _status(ctx, acd.agent(ctx.tenant_id, user_id))


async def _code(ctx: Ctx, kind: str, code: str, field: str) -> None:
    async with ctx.db() as s:
        row = await s.scalar(
            select(ServiceCode).where(
                ServiceCode.tenant_id == ctx.tenant_id,
                ServiceCode.kind == kind,
                ServiceCode.code == code,
                ServiceCode.active,
            )
        )
    if row is None:
        raise Invalid(f"unknown {kind.replace('_', '-')} code {code!r} (see GET /api/v1/codes)", field=field)


async def _audit(ctx: Ctx, action: str, user_id: int, detail: dict[str, Any]) -> None:
    async with transaction(ctx.db) as s:
        audit.record(
            s, action, principal=ctx.principal, resource_type="agent", resource_id=user_id, detail=detail
        )


# -- codes ----------------------------------------------------------------------------------------


class CodeOut(BaseModel):
    kind: str
    code: str
    label_zh: str
    label_en: str


@router.get("/codes", response_model=list[CodeOut], summary="Disposition codes and not-ready reasons")
async def codes(ctx: CtxDep) -> list[CodeOut]:
    async with ctx.db() as s:
        rows = (
            await s.scalars(
                select(ServiceCode)
                .where(ServiceCode.tenant_id == ctx.tenant_id, ServiceCode.active)
                .order_by(ServiceCode.kind, ServiceCode.id)
            )
        ).all()
    return [CodeOut(kind=r.kind, code=r.code, label_zh=r.label_zh, label_en=r.label_en) for r in rows]


# -- queues ---------------------------------------------------------------------------------------


class QueueIn(Strict):
    display_name: str = ""
    unit: str | int = Field(examples=["js.nj"], description="unit code or id")
    settings: dict[str, Any] = Field(default_factory=dict, description="see QueueSettings in the docs")


class QueueOut(BaseModel):
    name: str
    display_name: str
    unit_id: int
    settings: dict[str, Any]
    status: dict[str, Any] | None


async def _queue_resource(ctx: Ctx, q: QueueDef) -> Resource:
    async with ctx.db() as s:
        path = await unit_path(s, q.unit_id)
    return Resource("queue", ctx.tenant_id, path, None, q.name)


def _queue_out(ctx: Ctx, q: QueueDef) -> QueueOut:
    acd = center_of(ctx).acd
    status = None
    try:
        status = acd.queue_status(ctx.tenant_id, q.name)
    except NotFound:
        status = None
    return QueueOut(
        name=q.name, display_name=q.display_name, unit_id=q.unit_id, settings=q.settings, status=status
    )


async def _visible_queues(ctx: Ctx) -> list[QueueDef]:
    async with ctx.db() as s:
        rows = (
            await s.scalars(
                select(QueueDef).where(QueueDef.tenant_id == ctx.tenant_id).order_by(QueueDef.name)
            )
        ).all()
    return [q for q in rows if allows(ctx.principal, Perm.QUEUE_READ, await _queue_resource(ctx, q))]


@router.get("/queues", response_model=list[QueueOut], summary="Queues you may see, with live statistics")
async def list_queues(ctx: CtxDep) -> list[QueueOut]:
    await ctx.require_any(Perm.QUEUE_READ, "queue")
    return [_queue_out(ctx, q) for q in await _visible_queues(ctx)]


@router.get("/queues/{name}", response_model=QueueOut, summary="One queue: settings and live statistics")
async def get_queue(name: str, ctx: CtxDep) -> QueueOut:
    async with ctx.db() as s:
        q = await s.scalar(select(QueueDef).where(QueueDef.tenant_id == ctx.tenant_id, QueueDef.name == name))
    if q is None:
        raise NotFound(f"no queue {name!r}", field="name")
    await ctx.authorize(Perm.QUEUE_READ, await _queue_resource(ctx, q))
    return _queue_out(ctx, q)


@router.put("/queues/{name}", response_model=QueueOut, summary="Create or change a queue")
async def put_queue(name: str, body: QueueIn, ctx: CtxDep) -> QueueOut:
    if not QUEUE_NAME.match(name):
        raise Invalid("queue names: lower-case letters, digits, '.', '_' and '-' (at most 64)", field="name")
    try:
        settings = parse_settings(body.settings)
    except ValidationError as exc:
        errors = [
            {"field": "settings." + ".".join(str(p) for p in e["loc"]), "reason": e["msg"]}
            for e in exc.errors()
        ]
        err = Invalid(f"{errors[0]['field']}: {errors[0]['reason']}", field=errors[0]["field"])
        err.errors = errors  # type: ignore[attr-defined]
        raise err from None
    except ValueError as exc:
        raise Invalid(str(exc), field="settings") from None
    async with transaction(ctx.db) as s:
        unit = await org.get_unit(s, ctx.tenant_id, body.unit)
        await ctx.authorize(Perm.QUEUE_WRITE, Resource("queue", ctx.tenant_id, unit.path, None, name))
        q = await s.scalar(select(QueueDef).where(QueueDef.tenant_id == ctx.tenant_id, QueueDef.name == name))
        if q is not None:
            await ctx.authorize(
                Perm.QUEUE_WRITE, Resource("queue", ctx.tenant_id, await unit_path(s, q.unit_id), None, name)
            )
        else:
            q = QueueDef(tenant_id=ctx.tenant_id, name=name)
            s.add(q)
        if settings.calendar is not None:
            await org.get_calendar(s, ctx.tenant_id, settings.calendar)
        q.unit_id = unit.id
        q.display_name = body.display_name[:200] or name
        q.settings = settings.model_dump(mode="json", exclude_defaults=True)
        audit.record(s, "queue.save", principal=ctx.principal, resource_type="queue", resource_id=name)
        await s.flush()
    await center_of(ctx).acd.reload_when_idle(ctx.tenant_id)
    return _queue_out(ctx, q)


# -- the event log, voicemail, callbacks ----------------------------------------------------------


class QueueEventOut(BaseModel):
    id: int
    at: datetime
    event: str
    call_id: str
    queue: str
    agent_id: int | None
    data: dict[str, Any]


@router.get("/queue-events", response_model=list[QueueEventOut], summary="The queue event log (append-only)")
async def queue_events(
    ctx: CtxDep,
    call_id: str | None = None,
    queue: str | None = None,
    agent_id: int | None = Query(None, ge=1, le=2**62),
    since: datetime | None = None,
    limit: int = Query(500, ge=1, le=5000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> list[QueueEventOut]:
    await ctx.require_any(Perm.QUEUE_READ, "queue")
    await center_of(ctx).events.flush()
    visible = {q.name for q in await _visible_queues(ctx)}
    tenant_wide = allows(ctx.principal, Perm.QUEUE_READ, Resource("queue", ctx.tenant_id, TENANT_PATH))
    q = select(QueueEvent).where(QueueEvent.tenant_id == ctx.tenant_id)
    if call_id:
        q = q.where(QueueEvent.call_id == call_id)
    if queue:
        q = q.where(QueueEvent.queue == queue)
    if agent_id is not None:
        q = q.where(QueueEvent.agent_id == agent_id)
    if since is not None:
        q = q.where(QueueEvent.at >= since)
    async with ctx.db() as s:
        rows = (await s.scalars(q.order_by(QueueEvent.id).limit(limit).offset(offset))).all()
    agents: set[int] = set()
    if not tenant_wide:
        async with ctx.db() as s:
            for session in center_of(ctx).acd.tenant(ctx.tenant_id).agents.values():
                path = await unit_path(s, session.unit_id)
                res = Resource("agent", ctx.tenant_id, path, session.user_id, str(session.user_id))
                if allows(ctx.principal, Perm.AGENT_READ, res):
                    agents.add(session.user_id)
    # silent monitoring is visible to supervisors only (as on the event stream)
    hide_listen = not can_at_all(ctx.principal, Perm.CALL_SUPERVISE)
    return [
        QueueEventOut(
            id=r.id,
            at=r.at,
            event=r.event,
            call_id=r.call_id,
            queue=r.queue,
            agent_id=r.agent_id,
            data=r.data,
        )
        for r in rows
        if (tenant_wide or r.queue in visible or (not r.queue and r.agent_id in agents))
        and not (hide_listen and r.event == "supervise" and (r.data or {}).get("mode") == "listen")
    ]


class VoicemailOut(BaseModel):
    id: int
    call_id: str
    box: str
    caller: str
    path: str
    seconds: float
    status: str
    handled_by: int | None
    created_at: datetime


class VoicemailPatch(Strict):
    status: str = Field(pattern="^(new|done)$")


async def _box_allowed(ctx: Ctx, box: str, perm: Perm) -> bool:
    async with ctx.db() as s:
        q = await s.scalar(select(QueueDef).where(QueueDef.tenant_id == ctx.tenant_id, QueueDef.name == box))
        path = await unit_path(s, q.unit_id) if q is not None else TENANT_PATH
    return allows(ctx.principal, perm, Resource("voicemail", ctx.tenant_id, path, None, box))


def _vm_out(v: Voicemail) -> VoicemailOut:
    return VoicemailOut(
        id=v.id,
        call_id=v.call_id,
        box=v.box,
        caller=v.caller,
        path=v.path,
        seconds=v.seconds,
        status=v.status,
        handled_by=v.handled_by,
        created_at=v.created_at,
    )


@router.get("/voicemails", response_model=list[VoicemailOut], summary="Messages left by callers")
async def voicemails(
    ctx: CtxDep,
    status: str | None = Query(None, pattern="^(new|done)$"),
    limit: int = Query(200, ge=1, le=1000),
) -> list[VoicemailOut]:
    await ctx.require_any(Perm.QUEUE_READ, "voicemail")
    q = select(Voicemail).where(Voicemail.tenant_id == ctx.tenant_id)
    if status:
        q = q.where(Voicemail.status == status)
    async with ctx.db() as s:
        rows = (await s.scalars(q.order_by(Voicemail.id.desc()).limit(limit))).all()
    return [_vm_out(v) for v in rows if await _box_allowed(ctx, v.box, Perm.QUEUE_READ)]


@router.patch("/voicemails/{voicemail_id}", response_model=VoicemailOut, summary="Mark a message handled")
async def patch_voicemail(voicemail_id: int, body: VoicemailPatch, ctx: CtxDep) -> VoicemailOut:
    if not valid_id(voicemail_id):
        raise NotFound(f"no voicemail {voicemail_id}", field="voicemail")
    async with transaction(ctx.db) as s:
        v = await s.scalar(
            select(Voicemail).where(Voicemail.tenant_id == ctx.tenant_id, Voicemail.id == voicemail_id)
        )
        if v is None:
            raise NotFound(f"no voicemail {voicemail_id}", field="voicemail")
        if not await _box_allowed(ctx, v.box, Perm.QUEUE_WRITE):
            await ctx.deny(Perm.QUEUE_WRITE, "voicemail", str(voicemail_id))
        v.status = body.status
        v.handled_by = ctx.principal.user_id if body.status == "done" else None
        audit.record(
            s, "voicemail.update", principal=ctx.principal, resource_type="voicemail", resource_id=v.id
        )
        return _vm_out(v)


class CallbackOut(BaseModel):
    id: int
    call_id: str
    number: str
    queue: str
    queued_since: datetime
    status: str
    attempts: int
    agent_id: int | None
    created_at: datetime
    done_at: datetime | None


@router.get("/callbacks", response_model=list[CallbackOut], summary="Callback requests")
async def callbacks(
    ctx: CtxDep, status: str | None = Query(None, max_length=16), limit: int = Query(200, ge=1, le=1000)
) -> list[CallbackOut]:
    await ctx.require_any(Perm.QUEUE_READ, "callback")
    q = select(CallbackRequest).where(CallbackRequest.tenant_id == ctx.tenant_id)
    if status:
        q = q.where(CallbackRequest.status == status)
    async with ctx.db() as s:
        rows = (await s.scalars(q.order_by(CallbackRequest.id.desc()).limit(limit))).all()
    return [
        CallbackOut(
            id=r.id,
            call_id=r.call_id,
            number=r.number,
            queue=r.queue,
            queued_since=r.queued_since,
            status=r.status,
            attempts=r.attempts,
            agent_id=r.agent_id,
            created_at=r.created_at,
            done_at=r.done_at,
        )
        for r in rows
        if await _box_allowed(ctx, r.queue, Perm.QUEUE_READ)
    ]


# -- sending a caller into a flow -------------------------------------------------------------------


class SendToFlowIn(Strict):
    flow: str = Field(examples=["verify-pin"], description="an active IVR flow ending in a return node")
    wait: bool = Field(True, description="answer when the flow returns (up to 3 minutes)")


class FlowResult(BaseModel):
    call_id: str
    flow: str
    status: str = Field(description="done (values are the flow's result) or running")
    values: dict[str, Any]


@router.post(
    "/calls/{call_id}/flow",
    response_model=FlowResult,
    summary="Send the caller into an IVR flow (e.g. verify-pin) and get the call back with its result",
    description="The agent hears music on hold, the recording pauses and the caller's digits are "
    "masked in every record. The flow's returned values are added to the call "
    "(`data.flow_results`).",
)
async def send_to_flow(call_id: str, body: SendToFlowIn, ctx: CtxDep) -> FlowResult:
    from hotline.cti import agentflow

    tele = ctx.state.telephony
    call = tele.calls._calls.get(call_id) if tele is not None else None
    if call is None or call.tenant_id != ctx.tenant_id:
        raise NotFound(f"no live call {call_id!r}", field="call_id")
    st = agentflow.check_sendable(call)
    agent = st.agent
    assert agent is not None
    if agent.user_id != ctx.principal.user_id:
        async with ctx.db() as s:
            path = await unit_path(s, agent.unit_id)
        await ctx.authorize(Perm.AGENT_CONTROL, Resource("agent", ctx.tenant_id, path, agent.user_id))
    snapshot = await center_of(ctx).flows.active(ctx.tenant_id)
    if body.flow not in snapshot:
        raise Invalid(f"no active flow {body.flow!r}", field="flow")
    assert tele is not None
    fut = agentflow.start(tele.services, call, body.flow)
    if not body.wait:
        return FlowResult(call_id=call_id, flow=body.flow, status="running", values={})
    try:
        values = await asyncio.wait_for(asyncio.shield(fut), 180)
    except TimeoutError:
        return FlowResult(call_id=call_id, flow=body.flow, status="running", values={})
    except Exception:
        raise Conflict("the call ended during the flow", field="call_id") from None
    return FlowResult(call_id=call_id, flow=body.flow, status="done", values=values)


# -- reserving a waiting call for an agent ------------------------------------------------------------


class ReserveIn(Strict):
    agent_id: int = Field(ge=1, le=MAX_ID, examples=[12], description="the agent (user id)")
    seconds: float = Field(
        120.0,
        gt=0,
        le=3600,
        description="how long the call is kept for the agent; then any agent may take it",
    )


class ReserveOut(BaseModel):
    call_id: str
    task_id: str = Field(description="the ACD task: the call id, or <call id>/t<n> after a transfer")
    queue: str
    agent_id: int
    state: str = Field(description="ringing (offered to the agent at once) or reserved (waiting for them)")
    until: str


@router.post(
    "/calls/{call_id}/reserve",
    response_model=ReserveOut,
    summary="Keep a waiting call for one agent (supervisor)",
    description="Needs call.supervise over the call (its queue's unit) and agent.control over the "
    "agent. The call is offered to the agent as soon as they are ready (even if they do not serve "
    "the queue, but only if they have the skills it needs); after `seconds` it goes back to the "
    "general line. 409 when the call is not waiting; 422 when the agent is not logged in or lacks "
    "the skills. Publishes a `reserve` event.",
)
async def reserve(call_id: str, body: ReserveIn, ctx: CtxDep) -> ReserveOut:
    acd = center_of(ctx).acd
    tid = ctx.tenant_id
    task_id = acd.task_of(tid, call_id)  # a transferred call waits as <call id>/t<n>
    status = acd.task_status(tid, task_id) if tid in acd.tenants else None
    if status is None or status is TaskStatus.ENDED:
        async with ctx.db() as s:
            call = await s.scalar(select(Call).where(Call.tenant_id == tid, Call.id == call_id[:40]))
            path = await unit_path(s, call.unit_id) if call is not None and call.unit_id else TENANT_PATH
        if call is None and status is None:
            raise NotFound(f"no call {call_id!r}", field="call_id")
        if call is None:  # a task the ACD remembers (e.g. a callback): ended
            await ctx.require_any(Perm.CALL_SUPERVISE, "call")
        else:
            await ctx.authorize(Perm.CALL_SUPERVISE, Resource("call", tid, path, call.agent_id, call_id))
        ended = status is TaskStatus.ENDED or (call is not None and call.ended_at is not None)
        state = "ended" if ended else "not in a queue"
        raise Conflict(f"call {call_id} is not waiting in a queue (state: {state})", field="call_id")
    info = acd.queue_info(tid, acd.tenant(tid).engine.task_queue(task_id))
    async with ctx.db() as s:
        path = await unit_path(s, info.unit_id) if info is not None else TENANT_PATH
    await ctx.authorize(Perm.CALL_SUPERVISE, Resource("call", tid, path, None, call_id))
    try:
        session = acd.agent(tid, body.agent_id)
    except NotFound:
        raise Invalid(f"user {body.agent_id} is not an agent of this tenant", field="agent_id") from None
    async with ctx.db() as s:
        agent_path = await unit_path(s, session.unit_id)
    await ctx.authorize(
        Perm.AGENT_CONTROL, Resource("agent", tid, agent_path, session.user_id, str(session.user_id))
    )
    out = acd.reserve(session, task_id, body.seconds, by=ctx.principal.user_id)
    out["task_id"], out["call_id"] = task_id, call_id
    async with transaction(ctx.db) as s:
        audit.record(
            s,
            "call.reserve",
            principal=ctx.principal,
            resource_type="call",
            resource_id=call_id,
            detail={"agent_id": session.user_id, "seconds": body.seconds},
        )
    return ReserveOut(**out)
