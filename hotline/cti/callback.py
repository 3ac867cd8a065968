"""Callback tasks: a caller asked to be called back; the ACD offers the request to an agent.

The agent's phone rings first (``X-Hotline-Callback: <number>``); when the agent answers, the
customer is dialled through the configured trunk (``sip.outbound_trunk``, a URI template such
as ``sip:{number}@gateway:5060``) and the two are bridged and recorded. Without a trunk the
agent hears the number read out and dials it themselves (status ``handed_to_agent``).
The request row records attempts, the agent and the outcome.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hotline.acd import Offer
from hotline.acd.errors import AcdError
from hotline.cti.acdservice import AgentSession
from hotline.cti.cdr import new_call_id
from hotline.media.engine import MediaEngineError, PlayFile
from hotline.sip.errors import SipParseError
from hotline.sip.transport import Peer
from hotline.sip.uri import SipURI, parse_uri
from hotline.store.db import transaction
from hotline.store.models import CallbackRequest
from hotline.store.types import utcnow

if TYPE_CHECKING:
    from hotline.cti.inbound import ServiceCalls

log = logging.getLogger("hotline.cti.callback")


@dataclass
class CallbackState:
    service: ServiceCalls
    tenant_id: int
    callback_id: int
    task_id: str
    session: AgentSession
    accepted: bool = False
    outcome: str = "failed"

    async def call_ending(self, cause: str, ended_by: str) -> None:
        acd = self.service.acd
        if self.accepted:
            self.session.current_call = None
            with contextlib.suppress(AcdError):
                acd.apply(self.tenant_id, lambda e, n: e.complete(self.session.agent_id, self.task_id, n))
        await _set_status(self.service, self.callback_id, self.outcome, self.session.user_id)


async def _set_status(sc: ServiceCalls, cb_id: int, status: str, agent_id: int | None) -> None:
    async with transaction(sc.m.cdr._db) as s:
        row = await s.get_one(CallbackRequest, cb_id)
        row.status = status
        row.attempts += 1
        row.agent_id = agent_id
        if status in ("done", "handed_to_agent"):
            row.done_at = utcnow()


async def run_callback(sc: ServiceCalls, tenant_id: int, offer: Offer) -> None:
    from hotline.cti.b2bua import Call, OutboundLeg

    m = sc.m
    cb_id = int(offer.task_id[2:])
    session = sc.acd.tenants[tenant_id].agents.get(int(offer.agent_id))
    async with m.cdr._db() as s:
        row = await s.get(CallbackRequest, cb_id)
        number = row.number if row is not None else ""
    contacts = m.sip.lookup(tenant_id, session.extension or "") if session is not None else []
    peer = m.sip.peer_for(contacts[0]) if contacts else None
    if session is None or row is None or peer is None:
        with contextlib.suppress(AcdError):
            sc.acd.apply(tenant_id, lambda e, n: e.reject(offer.agent_id, offer.task_id, n))
        if session is not None:
            with contextlib.suppress(AcdError):
                sc.acd.apply(tenant_id, lambda e, n: e.set_not_ready(offer.agent_id, n, "phone_unreachable"))
        return
    call = Call(id=new_call_id(), tenant_id=tenant_id, direction="outbound")
    call.caller_number = session.extension or ""
    state = CallbackState(sc, tenant_id, cb_id, offer.task_id, session)
    call.service = state
    m._calls[call.id] = call
    await m.cdr.call_started(
        call.id,
        tenant_id=tenant_id,
        direction="outbound",
        started_at=utcnow(),
        caller=session.extension or "",
        dialed=number,
        data={"callback_id": cb_id, "queue": offer.queue_id},
    )
    agent_leg = OutboundLeg(call=call, role="agent", peer=peer, contact_uri=contacts[0].uri)
    await m._create_endpoint(call, agent_leg, None)
    call.legs.append(agent_leg)
    status = await m._invite(
        call,
        agent_leg,
        session.extension or "",
        number,
        lambda _r: None,
        extra_headers=[("X-Hotline-Callback", number), ("X-Hotline-Queue", offer.queue_id)],
    )
    if not 200 <= status < 300:
        with contextlib.suppress(AcdError):
            sc.acd.apply(tenant_id, lambda e, n: e.reject(offer.agent_id, offer.task_id, n))
        with contextlib.suppress(AcdError):
            sc.acd.apply(tenant_id, lambda e, n: e.set_not_ready(offer.agent_id, n, "phone_no_answer"))
        state.outcome = "pending"
        await m._finish(call, cause="no_answer", ended_by="callee", sip_code=status)
        return
    try:
        sc.acd.apply(tenant_id, lambda e, n: e.accept(offer.agent_id, offer.task_id, n))
    except AcdError:
        await m.hangup(call, cause="failed", ended_by="system")
        return
    state.accepted = True
    session.current_call = call.id
    target = trunk_target(sc.outbound_trunk, number)
    if target is None:
        state.outcome = "handed_to_agent"
        text = "请回拨客户电话：" + " ".join(number.lstrip("+"))
        tts = m.settings.tts
        if tts is not None and tts.available() and agent_leg.endpoint is not None:
            with contextlib.suppress(MediaEngineError):
                await m._play_and_wait(agent_leg.endpoint.id, PlayFile(await tts.render(text)), 30)
        await m.hangup(call, cause="normal", ended_by="system")
        return
    uri, cpeer = target
    customer = OutboundLeg(call=call, role="callee", peer=cpeer, contact_uri=uri)
    await m._create_endpoint(call, customer, None)
    call.legs.append(customer)
    cstatus = await m._invite(call, customer, number, session.extension or "", lambda _r: None)
    if not 200 <= cstatus < 300 or call.ended:
        state.outcome = "failed"
        await m.hangup(call, cause="no_answer", ended_by="system")
        return
    state.outcome = "done"
    await m._connect(call, agent_leg, customer, agent_id=session.user_id)


def trunk_target(template: str | None, number: str) -> tuple[str, Peer] | None:
    if not template:
        return None
    digits = "".join(ch for ch in number if ch.isdigit() or ch == "+")
    try:
        uri: Any = parse_uri(template.replace("{number}", digits))
    except SipParseError:
        log.error("callback trunk %r is not a SIP URI", template)
        return None
    if not isinstance(uri, SipURI):
        return None
    transport = (uri.params.get("transport") or "udp").upper()
    return str(uri), Peer(transport, uri.host.strip("[]"), uri.port or 5060)
