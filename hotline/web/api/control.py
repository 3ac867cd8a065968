"""Call control over REST: agents act on the calls they are on, supervisors on the calls of their
units (hold, resume, hang up, mute, DTMF, blind and consultative transfer, conference, pickup,
click-to-dial, answer; listen / whisper / barge, take over, force release).

Every action answers the live call document (``CallLive``), is audited and publishes an event
(``GET /api/v1/events``). Not allowed in the call's state: 409 naming the state. Not permitted:
403 (audited). Unknown calls and other tenants' calls: 404.

Who may act: the agent on the call needs ``call.control`` over it; anybody else (a supervisor)
needs ``call.control`` **and** ``call.supervise`` over the call's unit (the unit of its queue).
Supervision, take-over and force release need ``call.supervise``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hotline import audit
from hotline.auth.policy import TENANT_PATH, Perm, Resource, allows, can_at_all
from hotline.auth.users import get_user
from hotline.cti.control import SUPERVISOR_MODES, CallControl, supervisor_extension
from hotline.errors import Conflict, NotFound
from hotline.store.db import transaction
from hotline.store.lookup import unit_path
from hotline.web.api.ivr import center_of
from hotline.web.api.schemas import Strict
from hotline.web.context import Ctx, CtxDep

if TYPE_CHECKING:
    from hotline.cti.b2bua import Call

router = APIRouter(prefix="/api/v1", tags=["call control"])


class SupervisorOut(BaseModel):
    user_id: int
    name: str
    mode: str = Field(description="listen, whisper or barge")
    state: str = Field(description="ringing (the supervisor's phone) or active")
    extension: str


class TransferOut(BaseModel):
    mode: str
    to: dict[str, Any]
    state: str = Field(description="ringing or talking (the consulted party)")


class CallLive(BaseModel):
    id: str = Field(examples=["c-20261123-0001"])
    state: str = Field(
        description="ivr, queued, ringing, connected, held, consulting, conference, wrap_up, ended"
    )
    caller: str = Field(examples=["+8613912340001"])
    dialed: str = Field(examples=["95598"])
    queue: str = Field(examples=["fault"])
    agent_id: int | None
    agent_name: str
    started_at: datetime | None
    connected_at: datetime | None
    on_hold: bool
    muted: bool
    transfer: TransferOut | None
    supervisors: list[SupervisorOut]
    data: dict[str, Any] = Field(description="what the IVR learned (scalar variables)")
    direction: str = Field(description="inbound, internal or outbound (click-to-dial)")
    ringing_agents: list[int] = Field(default_factory=list, description="agents whose phone rings for it")


class MuteIn(Strict):
    muted: bool = Field(True, description="true: the caller no longer hears the agent")


class DtmfIn(Strict):
    digits: str = Field(examples=["123#"], min_length=1, max_length=32, description="0-9 * # A-D")


class TransferTo(Strict):
    agent: int | None = Field(None, examples=[12], description="an agent's user id")
    queue: str | None = Field(None, examples=["billing"])
    flow: str | None = Field(None, examples=["verify-pin"], description="an active IVR flow (blind only)")
    number: str | None = Field(None, examples=["013812345678"], description="extension or outside number")

    @model_validator(mode="after")
    def one_target(self) -> TransferTo:
        given = [k for k in ("agent", "queue", "flow", "number") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of agent, queue, flow, number")
        return self

    def target(self) -> tuple[str, str]:
        for k in ("agent", "queue", "flow", "number"):
            v = getattr(self, k)
            if v is not None:
                return k, str(v)
        raise AssertionError


class TransferIn(Strict):
    mode: Literal["blind", "consult"] = Field(
        "blind", description="blind: the agent leaves at once; consult: the caller holds while you talk"
    )
    to: TransferTo

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"mode": "blind", "to": {"queue": "billing"}},
                {"mode": "consult", "to": {"agent": 12}},
            ]
        },
    )


class SuperviseIn(Strict):
    mode: Literal["listen", "whisper", "barge"] = Field(examples=["listen"])
    extension: str | None = Field(
        None, max_length=32, description="the phone to call (default: where you are logged in)"
    )


class DialIn(Strict):
    number: str = Field(examples=["013812345678"], min_length=1, max_length=40)


class AnswerIn(Strict):
    auto_answer: bool | None = Field(
        None, description="also turn auto-answer on or off for the next offers (docs/adr/0006)"
    )


# -- helpers ----------------------------------------------------------------------------------------


def _control(ctx: Ctx) -> CallControl:
    tele = ctx.state.telephony
    if tele is None:
        raise NotFound("telephony is not running: there are no live calls", field="call_id")
    control: CallControl = tele.control
    return control


async def call_resource(ctx: Ctx, control: CallControl, call: Call) -> Resource:
    """The policy's view of a live call: the unit of its queue (else of its agent), its agent.
    Unit paths come from the event hub's locator (cached), from the database when it misses."""
    agent_id, _name = control.agent_of(call)
    acd = control.acd
    unit_id = None
    info = acd.queue_info(call.tenant_id, control.queue_of(call))
    if info is not None:
        unit_id = info.unit_id
    elif agent_id is not None:
        session = acd.tenants.get(call.tenant_id)
        agent = session.agents.get(agent_id) if session else None
        unit_id = agent.unit_id if agent else None
    path = TENANT_PATH
    if unit_id is not None:
        cached = center_of(ctx).locator.unit_path(call.tenant_id, unit_id)
        if cached is None:
            async with ctx.db() as s:
                cached = await unit_path(s, unit_id) or TENANT_PATH
        path = cached
    return Resource("call", call.tenant_id, path, agent_id, call.id)


def live_doc(control: CallControl, call: Call, ctx: Ctx | None = None) -> CallLive:
    """The live call as ``ctx``'s user may see it: a silent listener is shown to supervisors only."""
    doc = control.doc(call)
    if ctx is not None and not can_at_all(ctx.principal, Perm.CALL_SUPERVISE):
        doc["supervisors"] = [s for s in doc["supervisors"] if s["mode"] != "listen"]
    return CallLive(**doc)


async def _find(ctx: Ctx, call_id: str) -> tuple[CallControl, Call, Resource]:
    control = _control(ctx)
    call = control.find(ctx.tenant_id, call_id)
    if call is None:
        raise NotFound(f"no live call {call_id!r}", field="call_id")
    return control, call, await call_resource(ctx, control, call)


async def _may_control(ctx: Ctx, call_id: str) -> tuple[CallControl, Call]:
    control, call, res = await _find(ctx, call_id)
    await ctx.authorize(Perm.CALL_CONTROL, res)
    if res.owner_id != ctx.principal.user_id:  # not your call: a supervisor's right
        await ctx.authorize(Perm.CALL_SUPERVISE, res)
    return control, call


async def _may_supervise(ctx: Ctx, call_id: str) -> tuple[CallControl, Call]:
    control, call, res = await _find(ctx, call_id)
    await ctx.authorize(Perm.CALL_SUPERVISE, res)
    return control, call


async def _audit(ctx: Ctx, action: str, call_id: str, detail: dict[str, Any] | None = None) -> None:
    async with transaction(ctx.db) as s:
        audit.record(
            s, action, principal=ctx.principal, resource_type="call", resource_id=call_id, detail=detail or {}
        )


async def _me_name(ctx: Ctx) -> str:
    async with ctx.db() as s:
        user = await get_user(s, ctx.tenant_id, ctx.principal.user_id)
        return user.display_name or user.username


# -- live calls ---------------------------------------------------------------------------------------


async def live_calls(ctx: Ctx) -> list[CallLive]:
    """Current calls the user may see (``call.read`` over the call's unit, or their own)."""
    tele = ctx.state.telephony
    if tele is None:
        return []
    control: CallControl = tele.control
    out = []
    calls = sorted(
        control.calls(ctx.tenant_id), key=lambda c: c.started_at or datetime.min.replace(tzinfo=UTC)
    )
    for call in calls:
        res = await call_resource(ctx, control, call)
        if allows(ctx.principal, Perm.CALL_READ, res) or res.owner_id == ctx.principal.user_id:
            out.append(live_doc(control, call, ctx))
    return out


# -- agent actions ------------------------------------------------------------------------------------

_STATE_409: dict[int | str, dict[str, Any]] = {
    409: {"description": "not allowed in the call's state (the detail names it)"}
}


@router.post(
    "/calls/{call_id}/hangup", response_model=CallLive, summary="Hang up the call", responses=_STATE_409
)
async def hangup(call_id: str, ctx: CtxDep) -> CallLive:
    control, call = await _may_control(ctx, call_id)
    doc = live_doc(control, call, ctx)
    await control.hangup(call, ctx.principal.user_id)
    await _audit(ctx, "call.hangup", call_id)
    doc.state = "ended"
    return doc


@router.post(
    "/calls/{call_id}/hold",
    response_model=CallLive,
    summary="Put the caller on hold (music; the recording pauses; counted in hold_seconds)",
    responses=_STATE_409,
)
async def hold(call_id: str, ctx: CtxDep) -> CallLive:
    control, call = await _may_control(ctx, call_id)
    await control.hold(call, True, ctx.principal.user_id)
    await _audit(ctx, "call.hold", call_id)
    return live_doc(control, call, ctx)


@router.post(
    "/calls/{call_id}/resume",
    response_model=CallLive,
    summary="Take the caller off hold",
    responses=_STATE_409,
)
async def resume(call_id: str, ctx: CtxDep) -> CallLive:
    control, call = await _may_control(ctx, call_id)
    await control.hold(call, False, ctx.principal.user_id)
    await _audit(ctx, "call.resume", call_id)
    return live_doc(control, call, ctx)


@router.post(
    "/calls/{call_id}/mute",
    response_model=CallLive,
    summary="Mute (or unmute) the agent towards the caller",
    responses=_STATE_409,
)
async def mute(call_id: str, body: MuteIn, ctx: CtxDep) -> CallLive:
    control, call = await _may_control(ctx, call_id)
    await control.mute(call, body.muted, ctx.principal.user_id)
    await _audit(ctx, "call.mute", call_id, {"muted": body.muted})
    return live_doc(control, call, ctx)


@router.post(
    "/calls/{call_id}/dtmf",
    response_model=CallLive,
    summary="Send DTMF digits (RFC 4733) to the far party",
    responses=_STATE_409,
)
async def dtmf(call_id: str, body: DtmfIn, ctx: CtxDep) -> CallLive:
    control, call = await _may_control(ctx, call_id)
    digits = await control.dtmf(call, body.digits, ctx.principal.user_id)
    await _audit(ctx, "call.dtmf", call_id, {"digits": len(digits)})
    return live_doc(control, call, ctx)


@router.post(
    "/calls/{call_id}/transfer",
    response_model=CallLive,
    summary="Transfer to an agent, a queue, an IVR flow or a number (blind or consultative)",
    description="Blind to an agent: a new ACD task in the call's queue reserved for that agent "
    "(30 s, then any agent of the queue), so the ACD knows the agent is busy. Blind to a queue: a "
    "new task there keeping the IVR data, priority and the original time in line. Blind to a flow: "
    "the caller goes into the flow and does not come back to the agent. Blind to a number: an "
    "extension, else through `[sip] outbound_trunk` (409 when none is configured). The "
    "transferring agent goes to wrap-up. Consultative (agent or number): the caller holds while "
    "the agent talks to the target; then `transfer/complete`, `transfer/cancel` or `conference`.",
    responses=_STATE_409,
)
async def transfer(call_id: str, body: TransferIn, ctx: CtxDep) -> CallLive:
    control, call = await _may_control(ctx, call_id)
    kind, target = body.to.target()
    if body.mode == "blind":
        await control.blind(call, kind, target, ctx.principal.user_id)
    else:
        await control.consult(call, kind, target, ctx.principal.user_id)
    await _audit(ctx, "call.transfer", call_id, {"mode": body.mode, "to": {kind: target}})
    return live_doc(control, call, ctx)


@router.post(
    "/calls/{call_id}/transfer/complete",
    response_model=CallLive,
    summary="Connect the caller with the consulted party; the agent leaves (wrap-up)",
    responses=_STATE_409,
)
async def transfer_complete(call_id: str, ctx: CtxDep) -> CallLive:
    control, call = await _may_control(ctx, call_id)
    await control.complete(call, ctx.principal.user_id)
    await _audit(ctx, "call.transfer_complete", call_id)
    return live_doc(control, call, ctx)


@router.post(
    "/calls/{call_id}/transfer/cancel",
    response_model=CallLive,
    summary="Drop the consulted party and take the caller back",
    responses=_STATE_409,
)
async def transfer_cancel(call_id: str, ctx: CtxDep) -> CallLive:
    control, call = await _may_control(ctx, call_id)
    await control.cancel(call, ctx.principal.user_id)
    await _audit(ctx, "call.transfer_cancel", call_id)
    return live_doc(control, call, ctx)


@router.post(
    "/calls/{call_id}/conference",
    response_model=CallLive,
    summary="Make the consultation a three-way call",
    responses=_STATE_409,
)
async def conference(call_id: str, ctx: CtxDep) -> CallLive:
    control, call = await _may_control(ctx, call_id)
    await control.conference(call, ctx.principal.user_id)
    await _audit(ctx, "call.conference", call_id)
    return live_doc(control, call, ctx)


@router.post(
    "/calls/{call_id}/pickup",
    response_model=CallLive,
    summary="Take a call ringing at a colleague (or waiting in line) to your phone",
    description="The colleague's offer is withdrawn and the call is reserved for you for 30 s: "
    "offered to your phone at once when you are ready (state ringing), else when you become ready "
    "(state queued). The `pickup` event says which (`outcome`: ringing or reserved). ADR 0006.",
    responses=_STATE_409,
)
async def pickup(call_id: str, ctx: CtxDep) -> CallLive:
    control, call, res = await _find(ctx, call_id)
    await ctx.authorize(Perm.CALL_CONTROL, res)
    session = center_of(ctx).acd.agent(ctx.tenant_id, ctx.principal.user_id)
    outcome = await control.pickup(call, session)
    await _audit(ctx, "call.pickup", call_id, {"outcome": outcome})
    return live_doc(control, call, ctx)


# -- supervisor actions --------------------------------------------------------------------------------


@router.post(
    "/calls/{call_id}/supervise",
    response_model=CallLive,
    summary="Listen, whisper (coach the agent) or barge in; again with another mode to change it",
    description="The server calls your extension (the body's, else where you are logged in); when "
    "you answer you join the call's mix in the requested mode.",
    responses=_STATE_409,
)
async def supervise(call_id: str, body: SuperviseIn, ctx: CtxDep) -> CallLive:
    control, call = await _may_supervise(ctx, call_id)
    assert body.mode in SUPERVISOR_MODES
    session = control.acd.tenant(ctx.tenant_id).agents.get(ctx.principal.user_id)
    extension = supervisor_extension(body.extension, session.extension if session else None)
    await control.supervise(call, ctx.principal.user_id, await _me_name(ctx), body.mode, extension)
    await _audit(ctx, "call.supervise", call_id, {"mode": body.mode, "extension": extension})
    return live_doc(control, call, ctx)


@router.post(
    "/calls/{call_id}/supervise/stop",
    response_model=CallLive,
    summary="Stop supervising (your phone is hung up)",
    responses=_STATE_409,
)
async def supervise_stop(call_id: str, ctx: CtxDep) -> CallLive:
    control, call = await _may_supervise(ctx, call_id)
    await control.supervise_stop(call, ctx.principal.user_id)
    await _audit(ctx, "call.supervise_stop", call_id)
    return live_doc(control, call, ctx)


@router.post(
    "/calls/{call_id}/takeover",
    response_model=CallLive,
    summary="Take the call over from the agent (after listen/whisper/barge); the agent goes to wrap-up",
    responses=_STATE_409,
)
async def takeover(call_id: str, ctx: CtxDep) -> CallLive:
    control, call = await _may_supervise(ctx, call_id)
    await control.takeover(call, ctx.principal.user_id, await _me_name(ctx))
    await _audit(ctx, "call.takeover", call_id)
    return live_doc(control, call, ctx)


@router.post(
    "/calls/{call_id}/release",
    response_model=CallLive,
    summary="Force release: end the call",
    responses=_STATE_409,
)
async def release(call_id: str, ctx: CtxDep) -> CallLive:
    control, call = await _may_supervise(ctx, call_id)
    doc = live_doc(control, call, ctx)
    await control.hangup(call, ctx.principal.user_id, supervisor=True)
    await _audit(ctx, "call.release", call_id)
    doc.state = "ended"
    return doc


# -- the agent's phone ----------------------------------------------------------------------------------


async def _agent_session(ctx: Ctx, control: CallControl, user_id: int) -> Any:
    async with ctx.db() as s:
        user = await get_user(s, ctx.tenant_id, user_id)
        path = await unit_path(s, user.unit_id)
    if user_id != ctx.principal.user_id:
        res = Resource("agent", ctx.tenant_id, path, user_id, str(user_id))
        await ctx.authorize(Perm.AGENT_CONTROL, res)
        await ctx.authorize(Perm.CALL_SUPERVISE, Resource("call", ctx.tenant_id, path, user_id))
    else:
        await ctx.authorize(Perm.CALL_CONTROL, Resource("call", ctx.tenant_id, path, user_id))
    return control.acd.agent(ctx.tenant_id, user_id)


@router.post(
    "/agents/{user_id}/dial",
    response_model=CallLive,
    summary="Click-to-dial: the server calls the agent's phone, then the number",
    description="The new call (direction outbound) is answered at once; `dial` events follow its "
    "progress (agent_ringing, customer_ringing, connected, agent_no_answer, failed). The number is "
    "an extension, else dialled through `[sip] outbound_trunk` (409 when none is configured).",
    responses=_STATE_409,
)
async def dial(user_id: int, body: DialIn, ctx: CtxDep) -> CallLive:
    control = _control(ctx)
    session = await _agent_session(ctx, control, user_id)
    call = await control.dial(ctx.tenant_id, session, body.number)
    await _audit(ctx, "call.dial", call.id, {"number": body.number, "agent": user_id})
    return live_doc(control, call, ctx)


@router.post(
    "/agents/{user_id}/answer",
    response_model=CallLive,
    summary="Answer the call ringing at the agent's phone (phones offered with auto-answer only)",
    description="SIP cannot make a phone pick up remotely. Offers carry `Call-Info: "
    "<sip:hotline>;answer-after=0` and `Alert-Info: …;info=alert-autoanswer` when the agent "
    "turned auto-answer on (`auto_answer: true` here); phones that honour them answer by "
    'themselves. Otherwise this is a 409 "answer on the phone". See docs/adr/0006.',
    responses=_STATE_409,
)
async def answer(user_id: int, body: AnswerIn, ctx: CtxDep) -> CallLive:
    control = _control(ctx)
    session = await _agent_session(ctx, control, user_id)
    if body.auto_answer is not None:
        agents = control.sc.auto_answer_agents.setdefault(ctx.tenant_id, set())
        (agents.add if body.auto_answer else agents.discard)(user_id)
        await _audit(ctx, "agent.auto_answer", str(user_id), {"auto_answer": body.auto_answer})
    offered = [c for c in control.calls(ctx.tenant_id) if session.agent_id in control.ringing_agents_ids(c)]
    if not offered:
        state = control.acd.agent_state(session).value
        raise Conflict(f"no call is ringing at agent {session.username} (state: {state})", field="state")
    call = offered[0]
    control.answer(call, session)
    await _audit(ctx, "call.answer", call.id)
    return live_doc(control, call, ctx)
