"""An agent sends the caller into an IVR flow (e.g. ``verify-pin``) and gets the call back.

During the flow the caller is unbridged from the agent, who hears music on hold; the recording
is paused and the caller's digits are masked everywhere (CDR DTMF list, IVR path), so a PIN is
never stored. What the flow returns (its ``return`` node's values) is attached to the call
(``data.flow_results[<flow>]``), logged as ``ivr_return`` and handed back to the caller of
:func:`send_to_flow`; then caller and agent are bridged again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from hotline.cti.inbound import ServiceState
from hotline.errors import Conflict
from hotline.ivr.interpreter import Returned
from hotline.media.engine import MediaEngineError, PlayTone

if TYPE_CHECKING:
    from hotline.cti.b2bua import Call
    from hotline.cti.inbound import ServiceCalls

log = logging.getLogger("hotline.cti.agentflow")


def check_sendable(call: Call) -> ServiceState:
    st = call.service
    if not isinstance(st, ServiceState) or call.ended:
        raise Conflict("the call is not a connected service call", field="call")
    if st.phase != "connected" or st.agent_leg is None or st.agent_leg.endpoint is None:
        raise Conflict(f"the call is in state {st.phase}, not connected to an agent", field="state")
    if st.caller.endpoint is None:
        raise Conflict("the caller's leg is gone", field="state")
    return st


async def send_to_flow(sc: ServiceCalls, call: Call, flow: str) -> dict[str, Any]:
    """Run ``flow`` with the caller; return its result values ({} if it did not return any)."""
    from hotline.cti.b2bua import HOLD_TONE

    st = check_sendable(call)
    m = sc.m
    caller_ep = st.caller.endpoint
    agent_leg = st.agent_leg
    assert caller_ep is not None and agent_leg is not None and agent_leg.endpoint is not None
    agent_ep = agent_leg.endpoint
    sc.events.append(st.tenant_id, "ivr_send", call_id=call.id, queue=st.queue, flow=flow,
                     agent_id=st.agent.user_id if st.agent else None)  # fmt: skip
    await m.media.unbridge(caller_ep.id, agent_ep.id)
    if call.recording is not None:
        with contextlib.suppress(MediaEngineError):
            await m.media.record_pause(call.recording)
    moh = None
    with contextlib.suppress(MediaEngineError):
        moh = await m.media.play(agent_ep.id, PlayTone(HOLD_TONE), loop=True)
    before_vars = set(st.variables)
    before_path = len(st.path)
    call.secure_dtmf = True
    values: dict[str, Any] = {}
    try:
        outcome = await sc._run_flow(st, flow)
        if isinstance(outcome, Returned):
            values = dict(outcome.values)
    finally:
        call.secure_dtmf = False
        # nothing typed in the flow is kept except what it returned
        for key in set(st.variables) - before_vars:
            if key not in values:
                del st.variables[key]
        for step in st.path[before_path:]:
            if step.get("digits"):
                step["digits"] = "*" * len(step["digits"])
        st.phase = "connected" if not call.ended else "ended"
        if moh is not None and agent_leg.endpoint is not None:
            with contextlib.suppress(MediaEngineError):
                await m.media.stop_play(agent_leg.endpoint.id, moh)
    if call.ended or agent_leg.ended or st.caller.ended:
        return values
    with contextlib.suppress(MediaEngineError):
        await m.media.stop_play(caller_ep.id)
    await m.media.bridge(caller_ep.id, agent_ep.id)
    if call.recording is not None:
        with contextlib.suppress(MediaEngineError):
            await m.media.record_resume(call.recording)
    results = call.data.setdefault("flow_results", {})
    results[flow] = values
    st.variables.update({k: v for k, v in values.items() if isinstance(v, str | int | float | bool)})
    sc.events.append(st.tenant_id, "ivr_return", call_id=call.id, queue=st.queue, flow=flow, values=values)
    await m.cdr.merge_data(call.id, {"flow_results": results})
    return values


def start(sc: ServiceCalls, call: Call, flow: str) -> asyncio.Future[dict[str, Any]]:
    """Start :func:`send_to_flow` as a task of the call (ends with it); its future result."""
    check_sendable(call)
    fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def run() -> None:
        try:
            fut.set_result(await send_to_flow(sc, call, flow))
        except BaseException as exc:
            if not fut.done():
                fut.set_exception(exc if isinstance(exc, Exception) else Conflict("the call ended"))
            raise

    sc.m._spawn(call, run())
    return fut
