"""Call control for agents and supervisors (the CTI API's verbs) on the B2BUA's live calls.

Pure core (tested directly, no I/O): :func:`live_state` names the state of a call from a
:class:`Facts` snapshot, :func:`check` decides whether an action is allowed in that state
(a :class:`~hotline.errors.Conflict` naming the state otherwise), :func:`mix_plan` says how
the media engine must connect the legs (plain bridge, a supervision mix, a mute mix or a
conference), and :func:`call_doc` builds the ``CallLive`` document.

Shell: :class:`CallControl` carries the actions out with the call manager
(:class:`~hotline.cti.b2bua.CallManager`), the service-number path
(:class:`~hotline.cti.inbound.ServiceCalls`) and the media engine, and appends every step to
the queue event log (which also publishes it live).

Everything happens server side: legs are anchored on the media engine, so hold (music for the
caller, recording paused), mute (the caller stops hearing the agent), supervision, consultation
and conference need no re-INVITE towards the phones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hotline.acd.errors import AcdError
from hotline.cti.inbound import ServiceState
from hotline.errors import Conflict, Invalid
from hotline.media.engine import (
    Conference,
    EndpointId,
    MediaEngineError,
    MixId,
    MixSpec,
    Supervision,
)
from hotline.sip.transport import Peer
from hotline.store.types import utcnow

if TYPE_CHECKING:
    from hotline.cti.acdservice import AgentSession
    from hotline.cti.b2bua import Call, CallManager, Leg, OutboundLeg
    from hotline.cti.inbound import ServiceCalls

log = logging.getLogger("hotline.cti.control")

STATES = ("ivr", "queued", "ringing", "connected", "held", "consulting", "conference", "wrap_up", "ended")
SUPERVISOR_MODES = ("listen", "whisper", "barge")

# -- pure core -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """What the decisions need to know about a call (a snapshot; no I/O)."""

    phase: str = ""  # the service path's phase ("" for a direct call)
    bridged: bool = False  # two parties talk (a direct call answered, a service call connected)
    ringing: bool = False  # an agent's phone rings for it
    held: bool = False
    consulting: bool = False
    conference: bool = False
    ended: bool = False
    has_agent: bool = False  # an agent (or a supervisor who took over) is on the call


def live_state(f: Facts) -> str:
    """The state word of the CTI contract."""
    if f.ended:
        return "ended"
    if f.conference:
        return "conference"
    if f.consulting:
        return "consulting"
    if f.held:
        return "held"
    if f.bridged:
        return "connected"
    if f.ringing:
        return "ringing"
    if f.phase == "queue":
        return "queued"
    if f.phase in ("ivr", "voicemail"):
        return "ivr"
    if f.phase in ("transfer", "connected"):
        return "ringing"
    return "ringing" if f.phase == "" else "ivr"


ACTIVE = frozenset({"ivr", "queued", "ringing", "connected", "held", "consulting", "conference"})
#: action → (states it is allowed in, what the call is not)
RULES: dict[str, tuple[frozenset[str], str]] = {
    "hangup": (ACTIVE, "active"),
    "release": (ACTIVE, "active"),
    "hold": (frozenset({"connected"}), "connected"),
    "resume": (frozenset({"held"}), "on hold"),
    "mute": (frozenset({"connected", "held"}), "connected"),
    "dtmf": (frozenset({"connected", "conference"}), "connected"),
    "transfer": (frozenset({"connected", "held"}), "connected"),
    "transfer_complete": (frozenset({"consulting", "conference"}), "in a consultation"),
    "transfer_cancel": (frozenset({"consulting", "conference"}), "in a consultation"),
    "conference": (frozenset({"consulting"}), "in a consultation"),
    "supervise": (frozenset({"connected", "held", "consulting", "conference"}), "connected"),
    "supervise_stop": (frozenset({"connected", "held", "consulting", "conference"}), "supervised"),
    "takeover": (frozenset({"connected", "held"}), "connected"),
    "pickup": (frozenset({"ringing", "queued"}), "ringing"),
    "answer": (frozenset({"ringing"}), "ringing"),
}


def allowed(action: str, state: str) -> bool:
    return state in RULES[action][0]


def check(action: str, call_id: str, state: str) -> None:
    """Raise a 409 naming the state when ``action`` is not allowed in ``state``."""
    states, word = RULES[action]
    if state not in states:
        raise Conflict(f"call {call_id} is not {word} (state: {state})", field="state")


def mix_plan(
    caller: str,
    agent: str,
    *,
    held: bool = False,
    muted: bool = False,
    supervisor: tuple[str, str] | None = None,
    conference: tuple[str, ...] = (),
) -> MixSpec | None:
    """How the engine connects the legs; None means "a plain bridge of caller and agent"
    (or nothing at all while held: the caller hears music, the agent silence).

    ``supervisor`` is (endpoint, mode); ``conference`` are further parties (a consulted
    target). Muting is refused while a supervisor or a conference is on the call (see
    :func:`check_mute`), so those never combine here.
    """
    if held:
        return None
    parties = (caller, agent, *conference)
    if supervisor is not None:
        ep, mode = supervisor
        return Supervision(
            tuple(EndpointId(p) for p in parties),
            EndpointId(agent),
            EndpointId(ep),
            "whisper" if mode == "whisper" else ("barge" if mode == "barge" else "listen"),
        )
    if conference:
        return Conference(tuple(EndpointId(p) for p in parties))
    if muted:
        # the agent hears the caller; the caller hears nobody
        return Supervision((EndpointId(caller),), EndpointId(caller), EndpointId(agent), "listen")
    return None


def target_doc(kind: str, target: str) -> dict[str, Any]:
    """``{"agent": 12}`` / ``{"queue": "billing"}`` … as in the transfer request."""
    return {kind: int(target) if kind == "agent" and target.isdecimal() else target}


def check_mute(call_id: str, muted: bool, *, supervised: bool, conference: bool) -> None:
    if muted and (supervised or conference):
        what = "supervised" if supervised else "a conference"
        raise Conflict(f"call {call_id} is {what}: muting is not available then", field="muted")


def check_digits(digits: str) -> str:
    clean = digits.strip().upper()
    if not clean or len(clean) > 32 or any(ch not in "0123456789*#ABCD" for ch in clean):
        raise Invalid("digits: 1-32 of 0-9 * # A-D", field="digits")
    return clean


def supervisor_extension(requested: str | None, logged_in: str | None) -> str:
    """The extension the server calls for a supervisor: the body's, else where they are logged in."""
    ext = (requested or "").strip() or (logged_in or "")
    if not ext:
        raise Invalid("give the extension to call (you are not logged in at one)", field="extension")
    return ext


# -- call-control state kept on the call ----------------------------------------------------------


@dataclass(eq=False)
class Supervisor:
    user_id: int
    name: str
    extension: str
    mode: str
    leg: OutboundLeg
    state: str = "ringing"  # ringing | active
    started_at: datetime = field(default_factory=utcnow)


@dataclass(eq=False)
class Consult:
    kind: str  # agent | number
    target: str
    number: str
    leg: OutboundLeg
    by: int | None
    state: str = "ringing"  # ringing | talking
    agent_user: int | None = None


@dataclass(eq=False)
class Control:
    muted: bool = False
    supervisor: Supervisor | None = None
    consult: Consult | None = None
    conference: bool = False
    mix: MixId | None = None
    #: who talks to the caller now when it is not the ACD's agent (takeover, consult transfer)
    owner: tuple[int, str] | None = None
    direction: str = ""
    #: click-to-dial: the agent's and the customer's legs
    dial_agent: tuple[int, str] | None = None
    dial_legs: tuple[Any, Any] | None = None
    dial_state: str = ""
    dial_state_before: str = ""
    dial_reason_before: str = ""


# -- the shell ---------------------------------------------------------------------------------------


class CallControl:
    def __init__(self, manager: CallManager, services: ServiceCalls) -> None:
        self.m = manager
        self.sc = services
        self.events = services.events
        self.acd = services.acd

    def install(self) -> None:
        self.m.control = self

    # -- looking at calls --------------------------------------------------------------------------

    def calls(self, tenant_id: int) -> list[Call]:
        return [c for c in self.m._calls.values() if c.tenant_id == tenant_id and not c.ended]

    def find(self, tenant_id: int, call_id: str) -> Call | None:
        call = self.m._calls.get(call_id)
        if call is None or call.tenant_id != tenant_id or call.ended:
            return None
        return call

    @staticmethod
    def ctl(call: Call) -> Control:
        if call.control is None:
            call.control = Control(direction=call.direction)
        c: Control = call.control
        return c

    def legs(self, call: Call) -> tuple[Leg | None, Leg | None]:
        """(caller side, agent side) legs of a call, either may be None."""
        st = call.service
        ctl = self.ctl(call)
        if ctl.dial_legs is not None:
            agent, customer = ctl.dial_legs
            return customer, agent
        if isinstance(st, ServiceState):
            return st.caller, st.agent_leg
        caller = call.caller
        return caller, (call.other(caller) if caller is not None else None)

    def facts(self, call: Call) -> Facts:
        st = call.service
        ctl = self.ctl(call)
        caller, agent = self.legs(call)
        bridged = bool(
            caller is not None and agent is not None and caller.answered and agent.answered
            and not caller.ended and not agent.ended
        )  # fmt: skip
        if isinstance(st, ServiceState):
            bridged = bridged and st.bridged and st.phase in ("connected", "transfer")
            ringing = bool(st.ringing)
            phase = st.phase
        else:
            ringing = not bridged and any(
                leg.role != "caller" and not leg.answered and not leg.ended for leg in call.legs
            )
            phase = ""
        return Facts(
            phase=phase,
            bridged=bridged,
            ringing=ringing,
            held=bool(agent is not None and agent.held) or bool(caller is not None and caller.held),
            consulting=ctl.consult is not None and not ctl.conference,
            conference=ctl.conference,
            ended=call.ended,
            has_agent=agent is not None,
        )

    def state(self, call: Call) -> str:
        return live_state(self.facts(call))

    def agent_of(self, call: Call) -> tuple[int | None, str]:
        """(user id, name) of whoever handles the call for the centre."""
        ctl = self.ctl(call)
        if ctl.owner is not None:
            return ctl.owner
        if ctl.dial_agent is not None:
            return ctl.dial_agent
        st = call.service
        if isinstance(st, ServiceState):
            if st.agent is not None:
                return st.agent.user_id, st.agent.name
            if st.ringing:
                uid = int(next(iter(st.ringing)))
                session = self.acd.tenants[call.tenant_id].agents.get(uid)
                return uid, session.name if session else ""
        return None, ""

    def ringing_agents(self, call: Call) -> list[int]:
        st = call.service
        return [int(a) for a in st.ringing] if isinstance(st, ServiceState) else []

    def ringing_agents_ids(self, call: Call) -> list[str]:
        st = call.service
        return list(st.ringing) if isinstance(st, ServiceState) else []

    def queue_of(self, call: Call) -> str:
        st = call.service
        return st.queue if isinstance(st, ServiceState) else str(call.data.get("queue", ""))

    def doc(self, call: Call) -> dict[str, Any]:
        st = call.service
        ctl = self.ctl(call)
        agent_id, agent_name = self.agent_of(call)
        connected_at = None
        if isinstance(st, ServiceState) and st.connected_at is not None:
            connected_at = self.acd.wall(st.connected_at)
        elif "connected_at" in call.data:
            connected_at = datetime.fromisoformat(call.data["connected_at"])
        data: dict[str, Any] = {}
        if isinstance(st, ServiceState):
            data = {
                k: v for k, v in st.variables.items() if v is None or isinstance(v, str | int | float | bool)
            }
        transfer = None
        if ctl.consult is not None:
            c = ctl.consult
            transfer = {"mode": "consult", "to": target_doc(c.kind, c.target), "state": c.state}
        supervisors = []
        if ctl.supervisor is not None:
            s = ctl.supervisor
            supervisors.append(
                {
                    "user_id": s.user_id,
                    "name": s.name,
                    "mode": s.mode,
                    "state": s.state,
                    "extension": s.extension,
                }
            )
        caller, agent = self.legs(call)
        return {
            "id": call.id,
            "state": self.state(call),
            "caller": call.caller_number,
            "dialed": call.dialed or str(call.data.get("dialed", "")),
            "queue": self.queue_of(call),
            "agent_id": agent_id,
            "agent_name": agent_name,
            "started_at": call.started_at,
            "connected_at": connected_at,
            "on_hold": bool((agent is not None and agent.held) or (caller is not None and caller.held)),
            "muted": ctl.muted,
            "transfer": transfer,
            "supervisors": supervisors,
            "data": data,
            "direction": call.direction,
            "ringing_agents": self.ringing_agents(call),
        }

    def _event(self, call: Call, type_: str, agent_id: int | None = None, **data: Any) -> None:
        if agent_id is None:
            agent_id = self.agent_of(call)[0]
        self.events.append(
            call.tenant_id, type_, call_id=call.id, queue=self.queue_of(call), agent_id=agent_id, **data
        )

    # -- media ------------------------------------------------------------------------------------

    async def remix(self, call: Call) -> None:
        """Apply :func:`mix_plan` to the engine (after any change of hold, mute, supervision,
        conference)."""
        ctl = self.ctl(call)
        caller, agent = self.legs(call)
        if caller is None or agent is None or caller.endpoint is None or agent.endpoint is None:
            return
        media = self.m.media
        sup = ctl.supervisor
        sup_ep = (
            (str(sup.leg.endpoint.id), sup.mode)
            if sup is not None and sup.state == "active" and sup.leg.endpoint is not None
            else None
        )
        extra: tuple[str, ...] = ()
        if ctl.conference and ctl.consult is not None and ctl.consult.leg.endpoint is not None:
            extra = (str(ctl.consult.leg.endpoint.id),)
        held = agent.held or caller.held
        spec = mix_plan(
            str(caller.endpoint.id), str(agent.endpoint.id), held=held, muted=ctl.muted,
            supervisor=sup_ep, conference=extra,
        )  # fmt: skip
        if spec is None:
            if ctl.mix is not None:
                with contextlib.suppress(MediaEngineError):
                    await media.unmix(ctl.mix)
                ctl.mix = None
            if not held and ctl.consult is None:
                await media.bridge(caller.endpoint.id, agent.endpoint.id)
            return
        try:
            ctl.mix = await media.mix(spec, ctl.mix)
        except MediaEngineError:  # the old mix had other parties: start afresh
            if ctl.mix is not None:
                with contextlib.suppress(MediaEngineError):
                    await media.unmix(ctl.mix)
            ctl.mix = await media.mix(spec)

    async def leg_gone(self, leg: Leg, *, by_phone: bool = True) -> bool:
        """A leg hung up (BYE; or its media timed out: ``by_phone`` False, we send the BYE).
        True when it was a supervisor or consultation leg (the call goes on)."""
        call = leg.call
        ctl = call.control
        if not isinstance(ctl, Control) or call.ended:
            return False
        if ctl.supervisor is not None and leg is ctl.supervisor.leg:
            await self._drop_supervisor(call, by_phone=by_phone)
            return True
        if ctl.consult is not None and leg is ctl.consult.leg:
            await self._end_consult(call, "cancelled", by=None)
            return True
        _caller, agent = self.legs(call)
        if agent is not None and leg is agent and ctl.consult is not None and ctl.consult.state == "talking":
            # the agent hung up while talking to the consulted party: hand the caller over
            await self.complete(call, self.agent_of(call)[0] or 0)
            return True
        return False

    def call_finished(self, call: Call, cause: str, ended_by: str) -> None:
        """The call manager ended a call: ``call_ended`` for calls the service path does not
        report (direct calls, click-to-dial)."""
        if isinstance(call.service, ServiceState):
            return
        ctl = call.control
        if not isinstance(ctl, Control) or ctl.dial_agent is None:
            return
        self._event(call, "call_ended", agent_id=ctl.dial_agent[0], cause=cause, ended_by=ended_by)
        session = self.acd.tenants[call.tenant_id].agents.get(ctl.dial_agent[0])
        if session is not None and session.current_call == call.id:
            session.current_call = None
            with contextlib.suppress(AcdError):
                self.acd.apply(call.tenant_id, lambda e, n: e.end_outbound(session.agent_id, n))
            if ctl.dial_state_before == "not_ready":  # back to where the agent was
                reason = ctl.dial_reason_before or "after_call_work"
                with contextlib.suppress(AcdError):
                    self.acd.apply(call.tenant_id, lambda e, n: e.set_not_ready(session.agent_id, n, reason))

    # -- agent actions ------------------------------------------------------------------------------

    async def hangup(self, call: Call, by: int, *, supervisor: bool = False) -> None:
        check("release" if supervisor else "hangup", call.id, self.state(call))
        if supervisor:
            call.data["released_by"] = by
            self._event(call, "call_released", by=by)
        else:
            self._event(call, "call_hangup", by=by)
        await self.m.hangup(call, cause="normal", ended_by="supervisor" if supervisor else "agent")

    def _agent_leg(self, call: Call) -> Leg:
        caller, agent = self.legs(call)
        if agent is None or agent.endpoint is None or caller is None or caller.endpoint is None:
            raise Conflict(f"call {call.id} has no agent on it (state: {self.state(call)})", field="state")
        return agent

    async def hold(self, call: Call, hold: bool, by: int) -> None:
        check("hold" if hold else "resume", call.id, self.state(call))
        leg = self._agent_leg(call)
        ctl = self.ctl(call)
        if ctl.mix is not None and hold:  # the caller hears music, not the mix
            with contextlib.suppress(MediaEngineError):
                await self.m.media.unmix(ctl.mix)
            ctl.mix = None
        await self.m._set_hold(leg, hold)
        await self.remix(call)
        self._event(call, "call_hold" if hold else "call_resume", by=by)

    async def phone_hold(self, leg: Leg, hold: bool) -> None:
        """A phone put the call on hold (or took it back) with a re-INVITE."""
        call = leg.call
        ctl = self.ctl(call)
        if ctl.mix is not None and hold:
            with contextlib.suppress(MediaEngineError):
                await self.m.media.unmix(ctl.mix)
            ctl.mix = None
        await self.remix(call)
        self._event(call, "call_hold" if hold else "call_resume", by=None, source=leg.role)

    async def mute(self, call: Call, muted: bool, by: int) -> None:
        check("mute", call.id, self.state(call))
        self._agent_leg(call)
        ctl = self.ctl(call)
        check_mute(call.id, muted, supervised=ctl.supervisor is not None, conference=ctl.conference)
        ctl.muted = muted
        await self.remix(call)
        self._event(call, "call_mute", by=by, muted=muted)

    async def dtmf(self, call: Call, digits: str, by: int) -> str:
        check("dtmf", call.id, self.state(call))
        clean = check_digits(digits)
        caller, _agent = self.legs(call)
        if caller is None or caller.endpoint is None:
            raise Conflict(f"call {call.id} has no far party (state: {self.state(call)})", field="state")
        ep = caller.endpoint.id

        async def send() -> None:
            try:
                await self.m.media.send_dtmf(ep, clean)
            except (MediaEngineError, ValueError) as exc:  # the leg closed meanwhile
                log.warning("call %s: DTMF not sent: %s", call.id, exc)

        self.m._spawn(call, send())
        call.data.setdefault("dtmf_sent", []).append({"by": by, "digits": len(clean)})
        self._event(call, "dtmf_sent", by=by, digits=clean)
        return clean

    # -- transfers ----------------------------------------------------------------------------------

    def _service(self, call: Call) -> ServiceState:
        st = call.service
        if not isinstance(st, ServiceState) or st.agent_leg is None:
            raise Conflict(
                f"call {call.id} is not a queue call with an agent (state: {self.state(call)})", field="state"
            )
        return st

    async def _agent_target(self, tenant_id: int, user_id: int) -> AgentSession:
        session = self.acd.tenant(tenant_id).agents.get(user_id)
        if session is None:
            raise Invalid(f"user {user_id} is not an agent", field="to.agent")
        if session.extension is None:
            raise Conflict(f"agent {session.username} is not logged in (state: logged_out)", field="to.agent")
        return session

    def _number_targets(self, tenant_id: int, number: str) -> list[tuple[str, Peer]]:
        from hotline.cti.callback import trunk_target

        contacts = self.m.sip.lookup(tenant_id, number)
        targets = [(c.uri, p) for c in contacts if (p := self.m.sip.peer_for(c)) is not None]
        if targets:
            return targets
        outside = trunk_target(self.sc.outbound_trunk, number)
        if outside is None:
            raise Conflict(
                f"{number} is no registered extension and no outbound trunk is configured "
                "([sip] outbound_trunk)",
                field="to.number",
            )
        return [outside]

    async def blind(self, call: Call, kind: str, target: str, by: int) -> None:
        check("transfer", call.id, self.state(call))
        st = self._service(call)
        if self.ctl(call).consult is not None:
            raise Conflict(f"call {call.id} is in a consultation (state: consulting)", field="state")
        if kind == "agent":
            session = await self._agent_target(call.tenant_id, int(target))
            if st.agent is not None and session.user_id == st.agent.user_id:
                raise Invalid("the call is already with this agent", field="to.agent")
            target = session.agent_id
        elif kind == "queue":
            if self.acd.queue_info(call.tenant_id, target) is None:
                raise Invalid(f"no queue {target!r}", field="to.queue")
        elif kind == "flow":
            if target not in await self.sc.flows.active(call.tenant_id):
                raise Invalid(f"no active flow {target!r}", field="to.flow")
        else:
            self._number_targets(call.tenant_id, target)
        await self._drop_supervisor(call)
        ctl = self.ctl(call)
        ctl.muted = False
        ctl.owner = None
        await self.sc.release_agent(st, "transferred")
        self.m._spawn(call, self.sc.blind_transfer(st, kind, target, by=by))

    async def consult(self, call: Call, kind: str, target: str, by: int) -> None:
        from hotline.cti.b2bua import OutboundLeg

        check("transfer", call.id, self.state(call))
        self._service(call)
        ctl = self.ctl(call)
        if ctl.consult is not None:
            raise Conflict(f"call {call.id} is already in a consultation (state: consulting)", field="state")
        agent_user = None
        if kind == "agent":
            session = await self._agent_target(call.tenant_id, int(target))
            number = session.extension or ""
            agent_user = session.user_id
            targets = self._number_targets(call.tenant_id, number)
        elif kind == "number":
            number = target
            targets = self._number_targets(call.tenant_id, number)
        else:
            raise Invalid("a consultation goes to an agent or a number", field="to")
        leg = self._agent_leg(call)
        if not leg.held:
            await self.hold(call, True, by)
        uri, peer = targets[0]
        c_leg = OutboundLeg(call=call, role="consult", peer=peer, contact_uri=uri)
        await self.m._create_endpoint(call, c_leg, None)
        call.legs.append(c_leg)
        ctl.consult = Consult(kind, target, number, c_leg, by, agent_user=agent_user)
        self._event(call, "transfer", by=by, mode="consult", to=target_doc(kind, target), state="started")
        self.m._spawn(call, self._ring_consult(call, ctl.consult))

    async def _ring_consult(self, call: Call, c: Consult) -> None:
        caller_id = call.caller_number or "hotline"
        status = await self.m._invite(call, c.leg, c.number, caller_id, lambda _r: None,
                                      extra_headers=[("X-Hotline-Consult", call.id)])  # fmt: skip
        ctl = self.ctl(call)
        if ctl.consult is not c or call.ended:
            if 200 <= status < 300:
                await self.m._bye_leg(c.leg)
            await self.m._close_leg(c.leg, reason="consultation over")
            return
        if not 200 <= status < 300:
            await self.m._close_leg(c.leg, reason="not answered", sip_code=status)
            ctl.consult = None
            self._event(
                call,
                "transfer",
                mode="consult",
                to=target_doc(c.kind, c.target),
                state="failed",
                sip_code=status,
            )
            _caller, agent = self.legs(call)
            if agent is not None and agent.held:
                await self.m._set_hold(agent, False)
                await self.remix(call)
            return
        c.state = "talking"
        _caller, agent = self.legs(call)
        if agent is not None and agent.endpoint is not None and c.leg.endpoint is not None:
            await self.m.media.bridge(agent.endpoint.id, c.leg.endpoint.id)
        self._event(call, "transfer", mode="consult", to=target_doc(c.kind, c.target), state="answered")

    def _consult(self, call: Call, action: str) -> Consult:
        check(action, call.id, self.state(call))
        c = self.ctl(call).consult
        assert c is not None
        if c.state != "talking":
            raise Conflict(f"the consulted party has not answered (state: {c.state})", field="state")
        return c

    async def complete(self, call: Call, by: int) -> None:
        """Connect the caller with the consulted party; the agent leaves (wrap-up)."""
        if self.state(call) == "consulting" and self.ctl(call).consult is not None:
            c0 = self.ctl(call).consult
            assert c0 is not None
            if c0.state != "talking":
                raise Conflict(f"the consulted party has not answered (state: {c0.state})", field="state")
        c = self._consult(call, "transfer_complete")
        st = self._service(call)
        ctl = self.ctl(call)
        agent = st.agent_leg
        if ctl.mix is not None:
            with contextlib.suppress(MediaEngineError):
                await self.m.media.unmix(ctl.mix)
            ctl.mix = None
        ctl.conference = False
        await self._drop_supervisor(call)
        if agent is not None and agent.endpoint is not None and c.leg.endpoint is not None:
            with contextlib.suppress(MediaEngineError):
                await self.m.media.unbridge(agent.endpoint.id, c.leg.endpoint.id)
        released = await self.sc.release_agent(st, "transferred")
        ctl.consult = None
        c.leg.role = "agent"
        st.agent_leg = c.leg
        st.connected_at = self.sc.now()
        session = self.acd.tenants[call.tenant_id].agents.get(c.agent_user or -1)
        ctl.owner = (c.agent_user, session.name if session else "") if c.agent_user else (0, c.number)
        if ctl.owner == (0, c.number):
            ctl.owner = None
        assert st.caller.endpoint is not None and c.leg.endpoint is not None
        await self.m.media.bridge(st.caller.endpoint.id, c.leg.endpoint.id)
        st.bridged = True
        await self._record(call, st.caller, c.leg)
        call.data.setdefault("transfers", []).append(
            {"mode": "consult", "kind": c.kind, "to": target_doc(c.kind, c.target)[c.kind], "by": by, "from_agent": released.user_id
             if released else None, "at": utcnow().isoformat()}
        )  # fmt: skip
        self._event(
            call,
            "transfer",
            agent_id=by,
            by=by,
            mode="consult",
            to=target_doc(c.kind, c.target),
            state="completed",
        )

    async def cancel(self, call: Call, by: int) -> None:
        check("transfer_cancel", call.id, self.state(call))
        await self._end_consult(call, "cancelled", by=by)

    async def _end_consult(self, call: Call, state: str, *, by: int | None) -> None:
        ctl = self.ctl(call)
        c = ctl.consult
        if c is None:
            return
        ctl.consult = None
        ctl.conference = False
        leg = c.leg
        if leg.answered:
            await self.m._bye_leg(leg)
        else:
            await self.m._cancel_leg(leg)
        await self.m._close_leg(leg, reason=f"consultation {state}")
        _caller, agent = self.legs(call)
        if ctl.mix is not None:
            with contextlib.suppress(MediaEngineError):
                await self.m.media.unmix(ctl.mix)
            ctl.mix = None
        if agent is not None and agent.held:
            await self.m._set_hold(agent, False)
        await self.remix(call)
        self._event(call, "transfer", by=by, mode="consult", to=target_doc(c.kind, c.target), state=state)

    async def conference(self, call: Call, by: int) -> None:
        c = self._consult(call, "conference")
        ctl = self.ctl(call)
        if ctl.supervisor is not None:
            await self._drop_supervisor(call)
        _caller, agent = self.legs(call)
        ctl.conference = True
        ctl.muted = False
        if agent is not None and agent.held:
            await self.m._set_hold(agent, False)
        await self.remix(call)
        call.data.setdefault("conferences", []).append(
            {"by": by, "with": target_doc(c.kind, c.target), "at": utcnow().isoformat()}
        )
        self._event(call, "conference", by=by, to=target_doc(c.kind, c.target))

    async def _record(self, call: Call, a: Leg, b: Leg) -> None:
        if not self.m.settings.record_calls or a.endpoint is None or b.endpoint is None:
            return
        if call.recording is not None:
            with contextlib.suppress(MediaEngineError):
                await self.m.media.record_stop(call.recording)
        path = self.m._recording_path(call, suffix=f"-t{len(call.legs)}")
        with contextlib.suppress(MediaEngineError):
            call.recording = await self.m.media.record_start(path, a.endpoint.id, b.endpoint.id)
            call.data.setdefault("recordings", []).append(str(path.relative_to(self.m.settings.data_dir)))

    # -- supervision --------------------------------------------------------------------------------

    async def supervise(self, call: Call, user_id: int, name: str, mode: str, extension: str) -> None:
        from hotline.cti.b2bua import OutboundLeg

        check("supervise", call.id, self.state(call))
        self._agent_leg(call)
        ctl = self.ctl(call)
        sup = ctl.supervisor
        if sup is not None and sup.user_id != user_id:
            raise Conflict(f"call {call.id} is already supervised by {sup.name} (state: {self.state(call)})",
                           field="state")  # fmt: skip
        if ctl.muted:
            raise Conflict(f"call {call.id} is muted: unmute before supervising", field="state")
        if sup is not None:
            if sup.mode != mode:
                sup.mode = mode
                if sup.state == "active":
                    await self.remix(call)
                self._event(call, "supervise", mode=mode, supervisor_id=user_id, state="changed")
            return
        contacts = self.m.sip.lookup(call.tenant_id, extension)
        targets = [(c.uri, p) for c in contacts if (p := self.m.sip.peer_for(c)) is not None]
        if not targets:
            raise Conflict(f"extension {extension} is not registered", field="extension")
        uri, peer = targets[0]
        leg = OutboundLeg(call=call, role="supervisor", peer=peer, contact_uri=uri)
        await self.m._create_endpoint(call, leg, None)
        call.legs.append(leg)
        ctl.supervisor = Supervisor(user_id, name, extension, mode, leg)
        self.m._spawn(call, self._ring_supervisor(call, ctl.supervisor))

    async def _ring_supervisor(self, call: Call, sup: Supervisor) -> None:
        status = await self.m._invite(
            call, sup.leg, sup.extension, f"{call.caller_number or 'call'}", lambda _r: None,
            extra_headers=[("X-Hotline-Supervise", sup.mode), ("X-Hotline-Caller", call.caller_number)],
        )  # fmt: skip
        ctl = self.ctl(call)
        if ctl.supervisor is not sup or call.ended:
            if 200 <= status < 300:
                await self.m._bye_leg(sup.leg)
            await self.m._close_leg(sup.leg, reason="supervision over")
            return
        if not 200 <= status < 300:
            ctl.supervisor = None
            await self.m._close_leg(sup.leg, reason="not answered", sip_code=status)
            self._event(
                call, "supervise", mode=sup.mode, supervisor_id=sup.user_id, state="failed", sip_code=status
            )
            return
        sup.state = "active"
        await self.remix(call)
        call.data.setdefault("supervisors", []).append(
            {"user_id": sup.user_id, "mode": sup.mode, "at": utcnow().isoformat()}
        )
        self._event(call, "supervise", mode=sup.mode, supervisor_id=sup.user_id, state="started")

    async def supervise_stop(self, call: Call, user_id: int) -> None:
        check("supervise_stop", call.id, self.state(call))
        if self.ctl(call).supervisor is None:
            raise Conflict(f"call {call.id} is not supervised (state: {self.state(call)})", field="state")
        await self._drop_supervisor(call)

    async def _drop_supervisor(self, call: Call, *, by_phone: bool = False) -> None:
        ctl = self.ctl(call)
        sup = ctl.supervisor
        if sup is None:
            return
        ctl.supervisor = None
        await self.remix(call)
        if not by_phone:
            if sup.leg.answered:
                await self.m._bye_leg(sup.leg)
            else:
                await self.m._cancel_leg(sup.leg)
        await self.m._close_leg(sup.leg, reason="supervision ended")
        self._event(call, "supervise", mode=sup.mode, supervisor_id=sup.user_id, state="ended")

    async def takeover(self, call: Call, user_id: int, name: str) -> None:
        """The supervising supervisor replaces the agent: the agent's leg is released (wrap-up)."""
        check("takeover", call.id, self.state(call))
        st = self._service(call)
        ctl = self.ctl(call)
        sup = ctl.supervisor
        if sup is None or sup.user_id != user_id or sup.state != "active":
            raise Conflict(
                f"take over needs your active supervision of call {call.id} (listen, whisper or barge first)",
                field="state",
            )
        ctl.supervisor = None
        if ctl.mix is not None:
            with contextlib.suppress(MediaEngineError):
                await self.m.media.unmix(ctl.mix)
            ctl.mix = None
        released = await self.sc.release_agent(st, "taken over")
        sup.leg.role = "agent"
        st.agent_leg = sup.leg
        ctl.owner = (user_id, name)
        ctl.muted = False
        assert st.caller.endpoint is not None and sup.leg.endpoint is not None
        await self.m.media.bridge(st.caller.endpoint.id, sup.leg.endpoint.id)
        st.bridged = True
        await self._record(call, st.caller, sup.leg)
        call.data["takeover"] = {"by": user_id, "from_agent": released.user_id if released else None,
                                 "at": utcnow().isoformat()}  # fmt: skip
        self._event(call, "takeover", agent_id=user_id, by=user_id,
                    from_agent=released.user_id if released else None)  # fmt: skip

    # -- answer and pickup --------------------------------------------------------------------------

    def answer(self, call: Call, session: AgentSession) -> None:
        """docs/adr/0006: the phone answers by itself only when offered with auto-answer."""
        check("answer", call.id, self.state(call))
        st = call.service
        if not isinstance(st, ServiceState) or session.agent_id not in st.ringing:
            raise Conflict(f"call {call.id} is not ringing at this agent's phone (state: {self.state(call)})",
                           field="state")  # fmt: skip
        if session.agent_id not in st.auto_answer:
            raise Conflict(
                f"answer on the phone: call {call.id} was offered without auto-answer "
                '(turn it on with {"auto_answer": true} for the next calls)',
                field="state",
            )

    async def pickup(self, call: Call, session: AgentSession) -> str:
        """Take a call ringing at (or waiting for) a colleague: that offer is withdrawn and the call
        is reserved for the picking agent (offered to their phone at once when they are ready)."""
        check("pickup", call.id, self.state(call))
        st = call.service
        if not isinstance(st, ServiceState) or not st.in_acd:
            raise Conflict(
                f"call {call.id} is not waiting for an agent (state: {self.state(call)})", field="state"
            )
        if session.extension is None:
            raise Conflict("log in at an extension first (state: logged_out)", field="state")
        tid = call.tenant_id
        engine = self.acd.tenant(tid).engine
        if session.agent_id in engine.task_offers(st.task_id):
            return "ringing"
        for other in list(engine.task_offers(st.task_id)):
            with contextlib.suppress(AcdError):
                self.acd.apply(tid, lambda e, n, o=other: e.reject(o, st.task_id, n))  # type: ignore[misc]
        if session.agent_id in engine.task_offers(st.task_id):
            outcome = "ringing"
        else:
            try:
                self.acd.apply(tid, lambda e, n: e.reserve(st.task_id, session.agent_id, 30.0, n))
            except AcdError as exc:
                raise Conflict(f"call {call.id} cannot be reserved for you: {exc}", field="state") from None
            outcome = "reserved"
        self._event(call, "pickup", agent_id=session.user_id, by=session.user_id, outcome=outcome)
        return outcome

    # -- click-to-dial ------------------------------------------------------------------------------

    async def dial(self, tenant_id: int, session: AgentSession, number: str) -> Call:
        """Ring the agent's phone; when it answers, call ``number`` (an extension or through the
        outbound trunk), bridge and record. The CDR row has direction outbound."""
        from hotline.cti.b2bua import Call, OutboundLeg
        from hotline.cti.cdr import new_call_id

        if session.extension is None:
            raise Conflict("log in at an extension first (state: logged_out)", field="state")
        state = self.acd.agent_state(session).value
        if session.current_call is not None or state not in ("not_ready", "available"):
            raise Conflict(f"agent {session.username} is busy (state: {state})", field="state")
        clean = "".join(ch for ch in number if ch.isdigit() or ch in "+*#")
        if not clean or len(clean) > 32:
            raise Invalid("a phone number or extension (digits, + * #)", field="number")
        targets = self._number_targets(tenant_id, clean)
        contacts = self.m.sip.lookup(tenant_id, session.extension)
        phone = [(c.uri, p) for c in contacts if (p := self.m.sip.peer_for(c)) is not None]
        if not phone:
            raise Conflict(f"extension {session.extension} is not registered", field="state")
        try:
            self.acd.apply(tenant_id, lambda e, n: e.start_outbound(session.agent_id, n))
        except AcdError as exc:
            raise Conflict(f"agent {session.username} cannot dial now ({exc})", field="state") from None
        call = Call(id=new_call_id(), tenant_id=tenant_id, direction="outbound")
        call.caller_number = session.extension
        call.dialed = clean
        call.started_at = utcnow()
        ctl = self.ctl(call)
        ctl.dial_agent = (session.user_id, session.name)
        ctl.dial_state = "agent_ringing"
        ctl.dial_state_before = state
        ctl.dial_reason_before = self.acd.tenant(tenant_id).engine.agent_reason(session.agent_id) or ""
        session.current_call = call.id
        self.m._calls[call.id] = call
        await self.m.cdr.call_started(
            call.id, tenant_id=tenant_id, direction="outbound", started_at=call.started_at,
            caller=session.extension, dialed=clean, data={"click_to_dial": True, "agent_id": session.user_id},
        )  # fmt: skip
        uri, peer = phone[0]
        a_leg = OutboundLeg(call=call, role="agent", peer=peer, contact_uri=uri)
        await self.m._create_endpoint(call, a_leg, None)
        call.legs.append(a_leg)
        self._event(call, "dial", agent_id=session.user_id, number=clean, state="agent_ringing")
        self.m._spawn(call, self._run_dial(call, session, a_leg, clean, targets))
        return call

    async def _run_dial(
        self,
        call: Call,
        session: AgentSession,
        a_leg: OutboundLeg,
        number: str,
        targets: list[tuple[str, Peer]],
    ) -> None:
        from hotline.cti.b2bua import OutboundLeg

        ctl = self.ctl(call)
        status = await self.m._invite(call, a_leg, session.extension or "", number, lambda _r: None,
                                      extra_headers=[("X-Hotline-Dial", number)])  # fmt: skip
        if not 200 <= status < 300 or call.ended:
            ctl.dial_state = "agent_no_answer"
            self._event(call, "dial", agent_id=session.user_id, number=number, state="agent_no_answer")
            await self.m._finish(call, cause="no_answer", ended_by="callee", sip_code=status)
            return
        ctl.dial_state = "customer_ringing"
        self._event(call, "dial", agent_id=session.user_id, number=number, state="customer_ringing")
        uri, peer = targets[0]
        c_leg = OutboundLeg(call=call, role="callee", peer=peer, contact_uri=uri)
        await self.m._create_endpoint(call, c_leg, None)
        call.legs.append(c_leg)
        cstatus = await self.m._invite(call, c_leg, number, session.extension or "", lambda _r: None)
        if not 200 <= cstatus < 300 or call.ended:
            ctl.dial_state = "failed"
            self._event(
                call, "dial", agent_id=session.user_id, number=number, state="failed", sip_code=cstatus
            )
            if not call.ended:
                await self.m.hangup(call, cause="no_answer", ended_by="callee")
            return
        ctl.dial_state = "connected"
        ctl.dial_legs = (a_leg, c_leg)
        call.data["connected_at"] = utcnow().isoformat()
        await self.m._connect(call, a_leg, c_leg, agent_id=session.user_id)
        self._event(call, "dial", agent_id=session.user_id, number=number, state="connected")
        self._event(call, "call_answered", agent_id=session.user_id, caller=number, agent_name=session.name)


async def wait_for(predicate: Any, seconds: float) -> bool:
    """Poll ``predicate`` (a plain function) for up to ``seconds``; tests and the API use it."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())
