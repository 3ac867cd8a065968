"""The service-number call path: number plan → IVR flow → queue → agent phone → wrap-up.

:class:`ServiceCalls` plugs into :class:`~hotline.cti.b2bua.CallManager` (calls to numbers of the
number plan) and into :class:`~hotline.cti.acdservice.AcdService` (the engine's decisions).

* **IVR**: the caller's leg is answered, the flow's pure interpreter
  (:class:`hotline.ivr.interpreter.FlowRun`) is fed DTMF, playback ends, plugin results and
  timer ticks; its effects are carried out here (TTS/file prompts, barge-in, plugin calls,
  voicemail recording, callback requests). Any runtime failure ends in the flow's error path
  or an agent queue — never silence.
* **Queue**: the call becomes an ACD task; the caller hears music on hold, a greeting,
  position / expected-wait announcements (only when the position improved), periodic
  messages, a callback offer when the wait is long, and may leave with a key.
* **Agent**: an offer calls the agent's registered phone with ``X-Hotline-*`` headers; on
  answer the agent hears the queue's name (whisper) and the legs are bridged and recorded.
  Ring-no-answer, busy or unreachable phones put the call back in line; a caller hanging up
  while the phone rings withdraws the offer at once.
* **Records**: the CDR gets the IVR path, variables, queue times and position, offers with
  their outcomes, the answering agent, wait/talk/hold/wrap-up durations and the abandon
  point; every step is also in the queue event log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hotline.acd import Exit, Media, Offer, Overflow, TaskSpec, Withdraw
from hotline.acd.errors import AcdError
from hotline.acd.model import AgentState, TaskStatus
from hotline.cti.acdservice import AcdService, AgentSession
from hotline.cti.eventlog import EventLog
from hotline.cti.flows import FlowStore, RouteChoice
from hotline.cti.queues import expected_wait_words, position_words
from hotline.ivr.actions import ActionContext, ActionRegistry
from hotline.ivr.interpreter import (
    FilePrompt,
    Finish,
    FlowRun,
    Hangup,
    Outcome,
    Play,
    Record,
    RequestCallback,
    Returned,
    RunAction,
    StopPlay,
    TextPrompt,
    ToQueue,
    ToTransfer,
)
from hotline.media.engine import EndpointId, MediaEngineError, PlayFile, PlaySource, PlayTone
from hotline.media.tones import BEEP
from hotline.sip.message import Response
from hotline.sip.transport import Peer
from hotline.store.db import transaction
from hotline.store.models import CallbackRequest, Voicemail
from hotline.store.types import utcnow

if TYPE_CHECKING:
    from hotline.cti.b2bua import Call, CallManager, InboundLeg, OutboundLeg

log = logging.getLogger("hotline.cti.inbound")

VOICES = {"zh-CN": "cmn", "en": "en"}
#: the de-facto auto-answer headers of SIP desk phones (Polycom/Yealink/Snom/Grandstream/Cisco)
AUTO_ANSWER_HEADERS = [
    ("Call-Info", "<sip:hotline>;answer-after=0"),
    ("Alert-Info", "<http://www.notused.com>;info=alert-autoanswer;delay=0"),
]
APOLOGY = {
    "zh-CN": "抱歉，系统暂时无法处理您的请求，正在为您转接人工服务。",
    "en": "Sorry, something went wrong. Connecting you to an agent.",
}
GOODBYE = {"zh-CN": "感谢您的来电，再见。", "en": "Thank you for calling. Goodbye."}
VOICEMAIL_PROMPT = {
    "zh-CN": "请在提示音后留言，按井号键结束。",
    "en": "Please leave a message after the tone, then press hash.",
}
CALLBACK_OFFER = {
    "zh-CN": "如需稍后回电，请按{key}键，您的排队位置将被保留。",
    "en": "To be called back without losing your place in line, press {key}.",
}
CALLBACK_DONE = {
    "zh-CN": "已为您登记回电，我们会尽快与您联系。再见。",
    "en": "Your callback is booked. We will call you back soon. Goodbye.",
}


@dataclass
class ServiceState:
    """Everything the call path knows about one service call (``call.service``)."""

    call: Call
    tenant_id: int
    caller: InboundLeg
    choice: RouteChoice
    language: str = "zh-CN"
    phase: str = "ivr"  # ivr | queue | connected | voicemail | ended
    inbox: asyncio.Queue[tuple[Any, ...]] = field(default_factory=asyncio.Queue)
    variables: dict[str, Any] = field(default_factory=dict)
    path: list[dict[str, Any]] = field(default_factory=list)
    plays: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    # queue
    queue: str = ""
    queue_entered: float | None = None  # monotonic, first queue
    queue_left: float | None = None
    position: int | None = None
    in_acd: bool = False
    queue_result: asyncio.Future[tuple[Any, ...]] | None = None
    moh: Any = None
    announcer: asyncio.Task[None] | None = None
    callback_offered: bool = False
    offers: list[dict[str, Any]] = field(default_factory=list)
    ringing: dict[str, OutboundLeg] = field(default_factory=dict)
    withdrawn: set[str] = field(default_factory=set)
    # connected
    agent: AgentSession | None = None
    agent_leg: OutboundLeg | None = None
    connected_at: float | None = None
    exit_reason: str = ""
    recording_stop: asyncio.Event | None = None
    #: the IVR run in progress and its flow's name (so the end of the call can collect its path)
    run: FlowRun | None = None
    run_flow: str = ""
    last_digit_at: float | None = None  # monotonic time of the caller's last DTMF digit
    collected: list[FlowRun] = field(default_factory=list)  # runs whose path/variables are on the call
    #: the call's current ACD task: the call id, then ``<call id>/t<n>`` after a transfer (a
    #: completed task id is never reused by the engine)
    task_id: str = ""
    priority: int = 0
    requirements: str | None = None
    #: the next queue entry is reserved for this agent (blind transfer to an agent)
    target_agent: str | None = None
    transfers: int = 0
    #: caller and agent (or transfer target) are bridged: call control may act on the call
    bridged: bool = False
    #: agents whose phone rang for this call (call_ringing published once per offer)
    rang: set[str] = field(default_factory=set)
    #: the call was offered with auto-answer headers (``answer``, see docs/adr/0006)
    auto_answer: set[str] = field(default_factory=set)


class ServiceCalls:
    def __init__(
        self,
        manager: CallManager,
        acd: AcdService,
        flows: FlowStore,
        actions: ActionRegistry,
        events: EventLog,
        *,
        outbound_trunk: str | None = None,
    ) -> None:
        self.m = manager
        self.acd = acd
        self.flows = flows
        self.actions = actions
        self.events = events
        self.outbound_trunk = outbound_trunk
        self.states: dict[str, ServiceState] = {}
        #: what IVR action plugins may use (ActionContext.services), from the contact center
        self.action_services: dict[str, Any] = {}
        #: agents whose offers carry auto-answer headers (tenant → user ids; docs/adr/0006)
        self.auto_answer_agents: dict[int, set[int]] = {}
        #: seconds from the caller's last DTMF digit to the agent phone's 180 Ringing (benchmarks)
        self.digit_to_ringing: list[float] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    def _background(self, coro: Any) -> None:
        """Run work that belongs to no call (kept referenced until done; failures logged)."""

        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("background task failed")

        task = asyncio.ensure_future(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def install(self) -> None:
        self.m.services = self
        self.acd.handler = self
        self.acd.agent_listener = self._agent_state_changed

    def now(self) -> float:
        return self.acd.now()

    # -- entry from the call manager -------------------------------------------------------------

    async def match(self, tenant_id: int, dialed: str) -> RouteChoice | None:
        if not dialed:
            return None
        return await self.flows.route(tenant_id, dialed, utcnow())

    async def start(self, call: Call, leg: InboundLeg, offer: Any, choice: RouteChoice) -> None:
        st = ServiceState(call, call.tenant_id, leg, choice, task_id=call.id)
        call.service = st
        self.states[call.id] = st
        await self.m._create_endpoint(call, leg, offer)
        await self.m._answer(call, leg)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(leg.acked.wait(), 5)
        self.m._spawn(call, self.m._limit_duration(call))
        self.events.append(st.tenant_id, "ivr_start", call_id=call.id, number=choice.number, flow=choice.flow)
        call.digit_sink = lambda d: self._on_digit(st, d)
        outcome: Outcome | None = await self._run_flow(st, choice.flow, first=True)
        await self.stages(st, outcome)

    async def stages(self, st: ServiceState, outcome: Outcome | None) -> None:
        """Carry out a flow's outcome and what follows (also after a blind transfer)."""
        call = st.call
        # a call may go through several stages: flow → queue → (exit) flow/voicemail → …
        for _ in range(20):
            if call.ended or outcome is None:
                return
            outcome = await self._carry_out(st, outcome)
        log.warning("call %s: too many stages; hanging up", call.id)
        await self.m.hangup(call, cause="failed", ended_by="system")

    async def _carry_out(self, st: ServiceState, outcome: Outcome) -> Outcome | None:
        call = st.call
        if isinstance(outcome, ToQueue):
            return await self._queue(st, outcome)
        if isinstance(outcome, ToTransfer):
            await self._transfer(st, outcome.target)
            return None
        if isinstance(outcome, Hangup | Returned):
            await self.m.hangup(call, cause="normal", ended_by="system")
            return None
        return None

    # -- IVR -------------------------------------------------------------------------------------

    def _builtins(self, st: ServiceState) -> dict[str, Any]:
        call = st.call
        now = datetime.now().astimezone()
        return {
            "caller": call.caller_number,
            "dnis": st.choice.number,
            "call_id": call.id,
            "language": st.language,
            "calendar.open": st.choice.calendar_open,
            "calendar.holiday": st.choice.holiday,
            "time.hour": now.hour,
            "time.weekday": now.isoweekday(),
        }

    async def _run_flow(self, st: ServiceState, name: str, *, first: bool = False) -> Outcome | None:
        call = st.call
        st.phase = "ivr"
        # a fresh inbox for this run, made before anything is awaited: digits the caller types
        # meanwhile (or already typed) carry over; stale playback/action results do not
        old, st.inbox = st.inbox, asyncio.Queue()
        while not old.empty():
            msg = old.get_nowait()
            if msg[0] == "digit":
                st.inbox.put_nowait(msg)
        try:
            snapshot = await self.flows.active(st.tenant_id)
        except Exception as exc:  # a stored flow that no longer parses, database trouble
            log.exception("call %s: cannot load flows", call.id)
            return self._fallback(st, f"flows unavailable: {exc}")
        if name not in snapshot:
            log.error("call %s: flow %r is not active", call.id, name)
            return self._fallback(st, f"flow {name!r} not active")
        version, flow = snapshot[name]
        st.language = flow.language
        if first:
            call.data["flow"] = name
            await self.m.cdr.update(call.id, flow=name, flow_version=version)
        variables = {**self._builtins(st), **st.variables}
        run = FlowRun(flow, flows={n: f for n, (_v, f) in snapshot.items()}, variables=variables)
        st.run, st.run_flow = run, name
        try:
            effects = run.start(self.now())
            while True:
                for effect in effects:
                    if isinstance(effect, Finish):
                        continue
                    await self._effect(st, run, effect)
                if run.finished:
                    break
                deadline = run.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - self.now())
                try:
                    msg = await asyncio.wait_for(st.inbox.get(), timeout)
                except TimeoutError:
                    effects = run.tick(self.now())
                    continue
                effects = self._feed(run, msg)
        except asyncio.CancelledError:
            run.hangup(self.now())
            raise
        except Exception as exc:
            log.exception("call %s: IVR failed in flow %s", call.id, name)
            self._collect(st, run, name)
            return self._fallback(st, f"IVR failure: {exc}")
        finally:
            for task in st.plays.values():
                task.cancel()
            st.plays.clear()
            if not run.finished:
                run.hangup(self.now())
            self._collect(st, run, name)
        return run.outcome

    def _collect(self, st: ServiceState, run: FlowRun, flow_name: str) -> None:
        """Copy the run's path and variables onto the call (once per run)."""
        if any(done is run for done in st.collected):
            return
        st.collected.append(run)
        builtin = set(self._builtins(st))
        for step in run.path:
            st.path.append(
                {
                    "flow": step.flow,
                    "node": step.node,
                    "digits": step.digits,
                    "result": step.result,
                }
            )
        for k, v in run.variables.items():
            if k not in builtin:
                st.variables[k] = v
        if run.errors:
            st.call.data.setdefault("ivr_errors", []).extend(run.errors)

    def _fallback(self, st: ServiceState, reason: str) -> Outcome:
        self.events.append(st.tenant_id, "ivr_error", call_id=st.call.id, reason=reason)
        st.call.data.setdefault("ivr_errors", []).append(reason)
        return ToQueue("general", 0, None, {"ivr_error": reason})

    def _feed(self, run: FlowRun, msg: tuple[Any, ...]) -> list[Any]:
        now = self.now()
        kind = msg[0]
        if kind == "digit":
            return run.digit(msg[1], now)
        if kind == "play_done":
            return run.playback_done(msg[1], now)
        if kind == "action_ok":
            return run.action_done(msg[1], msg[2], now)
        if kind == "action_failed":
            return run.action_failed(msg[1], msg[2], now)
        if kind == "record":
            return run.record_done(msg[1], msg[2], msg[3], now)
        return []

    async def _effect(self, st: ServiceState, run: FlowRun, effect: Any) -> None:
        call = st.call
        if isinstance(effect, Play):
            task = asyncio.ensure_future(self._play_prompts(st, effect))
            st.plays[effect.play_id] = task
        elif isinstance(effect, StopPlay):
            playing = st.plays.pop(effect.play_id, None)
            if playing is not None:
                playing.cancel()
        elif isinstance(effect, RunAction):
            self.m._spawn(call, self._run_action(st, effect))
        elif isinstance(effect, Record):
            self.m._spawn(call, self._record_effect(st, effect))
        elif isinstance(effect, RequestCallback):
            self.m._spawn(call, self._callback_effect(st, effect))

    async def _play_prompts(self, st: ServiceState, play: Play) -> None:
        ep = st.caller.endpoint
        try:
            for prompt in play.prompts:
                if ep is None or st.call.ended:
                    break
                path = await self._prompt_path(prompt, st.language)
                if path is None:
                    await self._play(ep.id, PlayTone(BEEP))
                else:
                    await self._play(ep.id, PlayFile(path))
        except asyncio.CancelledError:
            st.plays.pop(play.play_id, None)  # stopped (barge-in): the flow already knows
            raise
        except MediaEngineError as exc:
            log.warning("call %s: prompt failed: %s", st.call.id, exc)
        st.plays.pop(play.play_id, None)
        st.inbox.put_nowait(("play_done", play.play_id))

    async def _prompt_path(self, prompt: Any, language: str) -> Path | None:
        if isinstance(prompt, TextPrompt):
            tts = self.m.settings.tts
            if tts is None or not prompt.text.strip() or not tts.available():
                return None
            try:
                return await tts.render(prompt.text, VOICES.get(prompt.language or language, "cmn"))
            except MediaEngineError as exc:
                log.warning("TTS failed for %r: %s", prompt.text[:40], exc)
                return None
        if isinstance(prompt, FilePrompt):
            p = Path(prompt.path)
            if not p.is_absolute():
                p = self.m.settings.data_dir / "prompts" / p
            return p if p.is_file() else None
        return None

    async def _play(self, endpoint: EndpointId, source: PlaySource, *, limit: float = 120.0) -> str:
        """Play to the end (or until cancelled: then the playback is stopped too)."""
        loop = asyncio.get_running_loop()
        pid = await self.m.media.play(endpoint, source)
        fut = self.m._playbacks.get(pid)
        if fut is None:
            fut = loop.create_future()
            self.m._playbacks[pid] = fut
        try:
            return await asyncio.wait_for(asyncio.shield(fut), limit)
        except TimeoutError:
            return "timeout"
        except asyncio.CancelledError:
            with contextlib.suppress(MediaEngineError):
                await self.m.media.stop_play(endpoint, pid)
            raise
        finally:
            self.m._playbacks.pop(pid, None)

    async def _say(self, st: ServiceState, text: str) -> None:
        ep = st.caller.endpoint
        if ep is None or st.call.ended or not text:
            return
        path = await self._prompt_path(TextPrompt(text, st.language), st.language)
        await self._play(ep.id, PlayFile(path) if path is not None else PlayTone(BEEP))

    async def _run_action(self, st: ServiceState, effect: RunAction) -> None:
        ctx = ActionContext(
            call_id=st.call.id,
            tenant_id=st.tenant_id,
            caller=st.call.caller_number,
            dnis=st.choice.number,
            variables=dict(st.variables),
            services=self.action_services,
        )
        try:
            values = await self.actions.run(effect.name, effect.args, ctx, effect.timeout)
        except Exception as exc:
            log.warning("call %s: IVR action %s failed: %s", st.call.id, effect.name, exc)
            st.inbox.put_nowait(("action_failed", effect.request_id, str(exc)))
            return
        st.inbox.put_nowait(("action_ok", effect.request_id, dict(values)))

    def _on_digit(self, st: ServiceState, digit: str) -> None:
        st.last_digit_at = self.now()
        if st.phase == "ivr":
            st.inbox.put_nowait(("digit", digit))
        elif st.phase == "voicemail":
            if digit == "#" and st.recording_stop is not None:
                st.recording_stop.set()
        elif st.phase == "queue":
            self._queue_digit(st, digit)

    # -- voicemail and callbacks -----------------------------------------------------------------

    async def _record_effect(self, st: ServiceState, effect: Record) -> None:
        path, seconds = await self._voicemail(st, effect.box, effect.max_seconds, beep=effect.beep)
        st.phase = "ivr"
        st.inbox.put_nowait(("record", effect.request_id, str(path) if path else None, seconds))

    async def _voicemail(
        self, st: ServiceState, box: str, max_seconds: float, *, beep: bool = True
    ) -> tuple[Path | None, float]:
        call = st.call
        ep = st.caller.endpoint
        if ep is None or call.ended:
            return None, 0.0
        st.phase = "voicemail"
        st.recording_stop = asyncio.Event()
        if beep:
            await self._play(ep.id, PlayTone(BEEP))
        day = utcnow().strftime("%Y-%m-%d")
        folder = self.m.settings.data_dir / "voicemail" / day
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{call.id}-{len(st.path)}.wav"
        started = self.now()
        try:
            rec = await self.m.media.record_start(path, ep.id)
        except MediaEngineError as exc:
            log.error("call %s: voicemail recording failed: %s", call.id, exc)
            return None, 0.0
        call.data["voicemail_recording"] = True
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(st.recording_stop.wait(), max_seconds)
        finally:
            with contextlib.suppress(MediaEngineError):
                await self.m.media.record_stop(rec)
            seconds = round(self.now() - started, 2)
            await self._store_voicemail(st, box, path, seconds)
        return path, seconds

    async def _store_voicemail(self, st: ServiceState, box: str, path: Path, seconds: float) -> None:
        rel = str(path.relative_to(self.m.settings.data_dir))
        async with transaction(self.m.cdr._db) as s:
            s.add(
                Voicemail(
                    tenant_id=st.tenant_id,
                    call_id=st.call.id,
                    box=box[:64],
                    caller=st.call.caller_number[:64],
                    path=rel,
                    seconds=seconds,
                    status="new",
                )
            )
        st.call.data["voicemail"] = {"box": box, "path": rel, "seconds": seconds}
        self.events.append(st.tenant_id, "voicemail", call_id=st.call.id, box=box, path=rel, seconds=seconds)

    async def _callback_effect(self, st: ServiceState, effect: RequestCallback) -> None:
        try:
            cb_id = await self.request_callback(st, effect.number, effect.queue)
        except Exception as exc:
            st.inbox.put_nowait(("action_failed", effect.request_id, str(exc)))
            return
        st.inbox.put_nowait(("action_ok", effect.request_id, {"callback_id": cb_id}))

    async def request_callback(self, st: ServiceState, number: str, queue: str) -> int:
        """Store a callback request and put it in line (keeping the caller's place if queued)."""
        since_mono = st.queue_entered if st.queue_entered is not None else self.now()
        async with transaction(self.m.cdr._db) as s:
            row = CallbackRequest(
                tenant_id=st.tenant_id,
                call_id=st.call.id,
                number=number[:64],
                queue=queue[:64],
                queued_since=self.acd.wall(since_mono),
                status="pending",
                attempts=0,
            )
            s.add(row)
            await s.flush()
            cb_id = row.id
        st.call.data["callback"] = {"id": cb_id, "number": number, "queue": queue}
        self.events.append(st.tenant_id, "callback_requested", call_id=st.call.id, queue=queue, number=number)
        if self.acd.queue_info(st.tenant_id, queue) is not None:
            self.acd.new_task(
                st.tenant_id,
                TaskSpec(
                    f"cb{cb_id}",
                    queue,
                    media=Media.CALLBACK,
                    queued_since=since_mono,
                    data={"number": number, "call_id": st.call.id},
                ),
            )
        return cb_id

    # -- queue -----------------------------------------------------------------------------------

    async def _queue(self, st: ServiceState, out: ToQueue) -> Outcome | None:
        call = st.call
        info = self.acd.queue_info(st.tenant_id, out.queue)
        if info is None and out.queue != "general":
            log.error("call %s: unknown queue %r; using general", call.id, out.queue)
            info = self.acd.queue_info(st.tenant_id, "general")
        if info is None:
            log.error("call %s: no queue to take the call", call.id)
            await self._say(st, APOLOGY[st.language] if st.language in APOLOGY else APOLOGY["zh-CN"])
            await self.m.hangup(call, cause="failed", ended_by="system")
            return None
        settings = info.settings
        st.phase = "queue"
        st.queue = info.name
        first_entry = st.queue_entered is None
        if first_entry:
            st.queue_entered = self.now()
        data = {k: v for k, v in {**st.variables, **out.data}.items() if _scalar(v)}
        data.setdefault("caller", call.caller_number)
        st.queue_result = asyncio.get_running_loop().create_future()
        st.priority = max(0, min(100, int(out.priority)))
        st.requirements = out.requirements
        target, st.target_agent = st.target_agent, None
        spec = TaskSpec(
            st.task_id,
            info.name,
            priority=st.priority,
            requirements=out.requirements,
            data=data,
            queued_since=None if first_entry else st.queue_entered,
            target_agent=target,
        )
        try:
            self.acd.new_task(st.tenant_id, spec)
        except (AcdError, ValueError) as exc:
            log.error("call %s: queue %s refused the call: %s", call.id, info.name, exc)
            st.queue_result = None
            if out.queue != "general":
                return ToQueue("general", 0, None, {"queue_error": str(exc)})
            await self.m.hangup(call, cause="failed", ended_by="system")
            return None
        st.in_acd = True
        pos = self.acd.position(st.tenant_id, st.task_id)
        if first_entry:
            st.position = pos[0] if pos else 1
            await self.m.cdr.update(
                call.id,
                queue=info.name,
                queue_entered_at=self.acd.wall(st.queue_entered or self.now()),
                queue_position=st.position,
            )
        else:
            await self.m.cdr.update(call.id, queue=info.name)
        # what the IVR learned is on the record while the call waits and rings (screen pop)
        await self.m.cdr.merge_data(call.id, {**call.data, **data})
        if not st.queue_result.done():
            st.announcer = asyncio.ensure_future(self._announce(st))
        try:
            result = await st.queue_result
        finally:
            if st.announcer is not None:
                st.announcer.cancel()
                st.announcer = None
        kind = result[0]
        if kind == "connected":
            return None
        await self._stop_moh(st)
        if kind == "exit":
            action = result[1]
            st.exit_reason = result[2]
            if action.announcement:
                await self._say(st, action.announcement)
            return await self._destination(st, action.destination)
        if kind == "exit_key":
            return await self._destination(st, f"flow:{settings.exit_flow}")
        if kind == "callback":
            await self._say(st, CALLBACK_DONE.get(st.language, CALLBACK_DONE["zh-CN"]))
            await self.m.hangup(call, cause="normal", ended_by="system")
        return None

    async def _destination(self, st: ServiceState, dest: str) -> Outcome | None:
        call = st.call
        kind, _, arg = dest.partition(":")
        if kind == "flow" and arg:
            return await self._run_flow(st, arg)
        if kind == "queue" and arg:
            return ToQueue(arg, 0, None, {})
        if kind == "voicemail":
            await self._say(st, VOICEMAIL_PROMPT.get(st.language, VOICEMAIL_PROMPT["zh-CN"]))
            await self._voicemail(st, arg or st.queue or "general", 120.0)
            if not call.ended:
                await self._say(st, GOODBYE.get(st.language, GOODBYE["zh-CN"]))
        elif not call.ended:
            await self._say(st, GOODBYE.get(st.language, GOODBYE["zh-CN"]))
        await self.m.hangup(call, cause="normal", ended_by="system")
        return None

    def _resolve(self, st: ServiceState, *result: Any) -> None:
        fut = st.queue_result
        if fut is not None and not fut.done():
            fut.set_result(result)

    async def _start_moh(self, st: ServiceState) -> None:
        ep = st.caller.endpoint
        if ep is None or st.phase != "queue" or st.call.ended:
            return
        info = self.acd.queue_info(st.tenant_id, st.queue)
        source: PlaySource
        moh_file = info.settings.music_on_hold if info else None
        if moh_file and (self.m.settings.data_dir / moh_file).is_file():
            source = PlayFile(self.m.settings.data_dir / moh_file)
        elif self.m.settings.music_on_hold:
            source = PlayFile(self.m.settings.music_on_hold)
        else:
            from hotline.cti.b2bua import HOLD_TONE

            source = PlayTone(HOLD_TONE)
        with contextlib.suppress(MediaEngineError):
            st.moh = await self.m.media.play(ep.id, source, loop=True)

    async def _stop_moh(self, st: ServiceState) -> None:
        ep = st.caller.endpoint
        pid, st.moh = st.moh, None
        if ep is not None and pid is not None:
            with contextlib.suppress(MediaEngineError):
                await self.m.media.stop_play(ep.id, pid)

    async def _announce(self, st: ServiceState) -> None:
        """Music on hold with greeting, position / expected-wait and periodic announcements."""
        info = self.acd.queue_info(st.tenant_id, st.queue)
        if info is None:
            return
        cfg = info.settings
        lang = cfg.language
        if cfg.greeting:
            await self._say(st, cfg.greeting)
        await self._start_moh(st)
        entered = self.now()
        next_ann = entered + cfg.announce_first
        next_periodic = entered + cfg.periodic_every if cfg.periodic_message else math.inf
        last_pos: int | None = None
        while st.phase == "queue" and not st.call.ended:
            wake = min(next_ann, next_periodic)
            await asyncio.sleep(max(0.0, wake - self.now()))
            if st.phase != "queue" or st.ringing:
                # an agent's phone is ringing: no announcement now, try again shortly
                next_ann = max(next_ann, self.now() + 2.0)
                continue
            texts: list[str] = []
            now = self.now()
            if now >= next_ann:
                next_ann = now + cfg.announce_every
                pos = self.acd.position(st.tenant_id, st.task_id)
                if pos is not None:
                    position, ewt = pos
                    improved = last_pos is None or position < last_pos
                    if cfg.announce_position and (improved or not cfg.announce_only_improved):
                        texts.append(position_words(position, lang))
                        if cfg.announce_wait and math.isfinite(ewt) and ewt > 0:
                            words = expected_wait_words(ewt, cfg.wait_rounding, lang)
                            texts.append(
                                f"预计等待时间{words}。" if lang == "zh-CN" else f"Expected wait: {words}."
                            )
                    last_pos = position
                    if (
                        cfg.callback_offer_after is not None
                        and not st.callback_offered
                        and (not math.isfinite(ewt) or ewt > cfg.callback_offer_after)
                    ):
                        st.callback_offered = True
                        texts.append(
                            CALLBACK_OFFER.get(lang, CALLBACK_OFFER["zh-CN"]).format(key=cfg.callback_key)
                        )
            if now >= next_periodic and cfg.periodic_message:
                next_periodic = now + cfg.periodic_every
                texts.append(cfg.periodic_message)
            if texts:
                self.events.append(
                    st.tenant_id, "announcement", call_id=st.call.id, queue=st.queue, text=" ".join(texts)
                )
                await self._stop_moh(st)
                if st.phase != "queue":
                    return
                await self._say(st, " ".join(texts))
                await self._start_moh(st)

    def _queue_digit(self, st: ServiceState, digit: str) -> None:
        info = self.acd.queue_info(st.tenant_id, st.queue)
        if info is None or st.ringing:
            return
        cfg = info.settings
        if st.callback_offered and digit == cfg.callback_key:
            self._leave_queue(st, "callback")
            self.m._spawn(st.call, self._queue_callback(st))
        elif cfg.exit_key is not None and digit == cfg.exit_key and cfg.exit_flow:
            self._leave_queue(st, "exit_key")
            self._resolve(st, "exit_key")

    async def _queue_callback(self, st: ServiceState) -> None:
        number = st.call.caller_number
        try:
            await self.request_callback(st, number, st.queue)
        except Exception:
            log.exception("call %s: callback request failed", st.call.id)
        self._resolve(st, "callback")

    def _leave_queue(self, st: ServiceState, reason: str) -> None:
        """The caller leaves the line by choice (callback, exit key): not an abandon."""
        if st.in_acd:
            st.in_acd = False
            st.queue_left = self.now()
            st.exit_reason = reason
            with contextlib.suppress(AcdError):
                self.acd.apply(st.tenant_id, lambda e, now: e.abandon(st.task_id, now))
            self.events.append(
                st.tenant_id, "exit_with_key", call_id=st.call.id, queue=st.queue, reason=reason
            )

    # -- ACD decisions ---------------------------------------------------------------------------

    def on_offer(self, tenant_id: int, offer: Offer) -> None:
        if offer.task_id.startswith("cb"):
            self._background(self._ring_callback(tenant_id, offer))
            return
        st = self.states.get(offer.task_id)
        session = self.acd.tenants[tenant_id].agents.get(int(offer.agent_id))
        if st is None or st.call.ended or session is None:
            with contextlib.suppress(AcdError):
                self.acd.apply(tenant_id, lambda e, now: e.reject(offer.agent_id, offer.task_id, now))
            return
        self.m._spawn(st.call, self._ring_agent(st, session, offer))

    def on_withdraw(self, tenant_id: int, withdraw: Withdraw) -> None:
        st = self.states.get(withdraw.task_id)
        if st is None:
            return
        st.withdrawn.add(withdraw.agent_id)
        leg = st.ringing.get(withdraw.agent_id)
        if leg is not None:
            self._record_offer(st, withdraw.agent_id, withdraw.reason)
            self.m._spawn(st.call, self.m._cancel_leg(leg))

    def on_exit(self, tenant_id: int, exit_: Exit) -> None:
        st = self.states.get(exit_.task_id)
        if st is None:
            return
        st.in_acd = False
        st.queue_left = self.now()
        self._resolve(st, "exit", exit_.action, exit_.reason)

    def on_overflow(self, tenant_id: int, overflow: Overflow) -> None:
        st = self.states.get(overflow.task_id)
        if st is None:
            return
        st.queue = overflow.to_queue
        st.call.data.setdefault("overflows", []).append(
            {"from": overflow.from_queue, "to": overflow.to_queue, "reason": overflow.reason}
        )
        self.m._spawn(st.call, self.m.cdr.update(st.call.id, queue=overflow.to_queue))

    def _record_offer(self, st: ServiceState, agent_id: str, outcome: str) -> None:
        for o in reversed(st.offers):
            if o["agent"] == int(agent_id) and o["outcome"] == "ringing":
                o["outcome"] = outcome
                o["ended_at"] = utcnow().isoformat()
                return

    async def _ring_agent(self, st: ServiceState, session: AgentSession, offer: Offer) -> None:
        from hotline.cti.b2bua import OutboundLeg

        call = st.call
        tenant_id = st.tenant_id
        agent_id = offer.agent_id
        st.offers.append(
            {
                "agent": session.user_id,
                "at": utcnow().isoformat(),
                "queue": offer.queue_id,
                "outcome": "ringing",
            }
        )
        contacts = self.m.sip.lookup(tenant_id, session.extension or "")
        targets = [(c.uri, self.m.sip.peer_for(c)) for c in contacts]
        targets = [(u, p) for u, p in targets if p is not None]
        if not targets:
            self._record_offer(st, agent_id, "unreachable")
            self._phone_failed(st, session, offer, "phone_unreachable")
            return
        uri, peer = targets[0]
        assert peer is not None
        leg = OutboundLeg(call=call, role="agent", peer=peer, contact_uri=uri)
        await self.m._create_endpoint(call, leg, None)
        call.legs.append(leg)
        st.ringing[agent_id] = leg
        info = self.acd.queue_info(tenant_id, offer.queue_id)
        headers = [
            ("X-Hotline-Queue", offer.queue_id),
            ("X-Hotline-Caller", call.caller_number),
            ("X-Hotline-Wait", str(round(self.now() - (st.queue_entered or self.now())))),
        ]
        for key in ("account", "menu_choice"):
            if key in st.variables and _scalar(st.variables[key]):
                headers.append((f"X-Hotline-{key.replace('_', '-').title()}", str(st.variables[key])[:64]))
        if self.auto_answer(tenant_id, session):
            # docs/adr/0006: phones that honour it pick up by themselves (the desktop's Answer)
            st.auto_answer.add(agent_id)
            headers += AUTO_ANSWER_HEADERS
        rang = False
        pop = self.screen_pop(st, offer.queue_id, info.display_name if info else offer.queue_id)

        def provisional(resp: Response) -> None:
            nonlocal rang
            if resp.status in (180, 183) and not rang:
                rang = True
                if st.last_digit_at is not None and len(self.digit_to_ringing) < 1_000_000:
                    self.digit_to_ringing.append(self.now() - st.last_digit_at)
                self._ringing_event(st, session, pop)

        try:
            status = await self.m._invite(
                call,
                leg,
                session.extension or "",
                call.caller_number or "anonymous",
                provisional,
                extra_headers=headers,
            )
        finally:
            st.ringing.pop(agent_id, None)
        withdrawn = agent_id in st.withdrawn
        st.withdrawn.discard(agent_id)
        st.auto_answer.discard(agent_id)
        if 200 <= status < 300 and not withdrawn and not call.ended:
            self._ringing_event(st, session, pop)  # a phone answering at once never sent 180
        if 200 <= status < 300:
            if withdrawn or call.ended or st.phase != "queue":
                await self.m._bye_leg(leg)
                await self.m._close_leg(leg, reason="offer withdrawn")
                return
            try:
                self.acd.apply(tenant_id, lambda e, now: e.accept(agent_id, st.task_id, now))
            except AcdError as exc:
                log.warning("call %s: accept refused: %s", call.id, exc)
                await self.m._bye_leg(leg)
                await self.m._close_leg(leg, reason="accept refused")
                return
            await self._connected(st, session, leg, info.display_name if info else offer.queue_id)
            return
        await self.m._close_leg(leg, reason="not answered", sip_code=status)
        if withdrawn or call.ended or st.phase != "queue":
            # RONA or the caller left: the engine already moved on. A caller hanging up while
            # the phone rings ends the call first (the phone's 487 answers *our* CANCEL, and
            # call_ending withdraws the offer after the call left self.states, so it is not in
            # st.withdrawn): that is not the phone's fault -- do not make the agent not ready.
            return
        outcome = "busy" if status in (486, 600, 603) else "unreachable"
        self._record_offer(st, agent_id, outcome)
        self._phone_failed(st, session, offer, f"phone_{outcome}")

    def _phone_failed(self, st: ServiceState, session: AgentSession, offer: Offer, reason: str) -> None:
        """The agent's phone refused or cannot be reached: requeue the call, agent not ready."""
        self.events.append(
            st.tenant_id,
            "phone_failed",
            call_id=st.call.id,
            queue=offer.queue_id,
            agent_id=session.user_id,
            reason=reason,
        )
        with contextlib.suppress(AcdError):
            self.acd.apply(st.tenant_id, lambda e, now: e.reject(offer.agent_id, offer.task_id, now))
        with contextlib.suppress(AcdError):
            self.acd.apply(st.tenant_id, lambda e, now: e.set_not_ready(offer.agent_id, now, reason))

    async def _connected(
        self, st: ServiceState, session: AgentSession, leg: OutboundLeg, queue_name: str
    ) -> None:
        call = st.call
        st.phase = "connected"
        st.in_acd = False
        st.agent, st.agent_leg = session, leg
        st.connected_at = self.now()
        st.queue_left = st.connected_at
        session.current_call = call.id
        self._record_offer(st, session.agent_id, "answered")
        self._resolve(st, "connected")
        info = self.acd.queue_info(st.tenant_id, st.queue)
        if info is not None and info.settings.whisper and leg.endpoint is not None:
            tts = self.m.settings.tts
            if tts is not None and tts.available():
                with contextlib.suppress(MediaEngineError, TimeoutError):
                    path = await asyncio.wait_for(
                        tts.render(queue_name, VOICES.get(info.settings.language)), 3
                    )
                    await self._play(leg.endpoint.id, PlayFile(path), limit=5)
        if call.ended or leg.ended:
            return
        await self._stop_moh(st)
        if st.caller.endpoint is not None:
            with contextlib.suppress(MediaEngineError):
                await self.m.media.stop_play(st.caller.endpoint.id)
        await self.m._connect(call, st.caller, leg, agent_id=session.user_id)
        st.bridged = not call.ended
        self.events.append(
            st.tenant_id,
            "bridged",
            call_id=call.id,
            queue=st.queue,
            agent_id=session.user_id,
            recording=call.recording_path,
        )
        self.events.append(
            st.tenant_id,
            "call_answered",
            call_id=call.id,
            queue=st.queue,
            agent_id=session.user_id,
            caller=call.caller_number,
            agent_name=session.name,
            wait=round(st.connected_at - (st.queue_entered or st.connected_at), 1),
        )

    # -- the screen pop ---------------------------------------------------------------------------

    def screen_pop(self, st: ServiceState, queue: str, queue_name: str) -> dict[str, Any]:
        """What the desktop shows when the phone rings: everything the X-Hotline-* headers carry
        and more (IVR variables, the path through the menus, the dialled service number)."""
        call = st.call
        variables = {k: v for k, v in st.variables.items() if _scalar(v)}
        choices = [s["digits"] for s in st.path if s.get("digits")]
        return {
            "caller": call.caller_number,
            "caller_name": call.caller_name,
            "dnis": st.choice.number,
            "flow": st.choice.flow,
            "queue": queue,
            "queue_name": queue_name,
            "priority": st.priority,
            "wait": round(self.now() - (st.queue_entered or self.now()), 1),
            "account": variables.get("account"),
            "menu_choice": variables.get("menu_choice", choices[-1] if choices else None),
            "menu_path": [s["node"] for s in st.path][-10:],
            "variables": variables,
            "transferred": st.transfers > 0,
            "transfers": call.data.get("transfers", []),
        }

    def _ringing_event(self, st: ServiceState, session: AgentSession, pop: dict[str, Any]) -> None:
        if session.agent_id in st.rang:
            return
        st.rang.add(session.agent_id)
        data = {k: v for k, v in pop.items() if k != "queue"}
        data["wait"] = round(self.now() - (st.queue_entered or self.now()), 1)
        data["auto_answer"] = session.agent_id in st.auto_answer
        self.events.append(
            st.tenant_id,
            "call_ringing",
            call_id=st.call.id,
            queue=pop["queue"],
            agent_id=session.user_id,
            **data,
        )

    def auto_answer(self, tenant_id: int, session: AgentSession) -> bool:
        """Offer with auto-answer headers? (the agent asked for it at login / via the API)"""
        return session.user_id in self.auto_answer_agents.get(tenant_id, set())

    # -- the end of a call ------------------------------------------------------------------------

    async def call_ending(self, call: Call, cause: str, ended_by: str) -> None:
        """Called by the call manager before it writes the end of the CDR."""
        st = call.service
        if st is None:
            return
        if not isinstance(st, ServiceState):  # a callback call
            await st.call_ending(cause, ended_by)
            return
        for key in [k for k, v in self.states.items() if v is st]:
            del self.states[key]
        if st.run is not None:
            # A caller hanging up in the IVR (or while leaving a voicemail) ends the call while
            # the flow still runs: its task is cancelled only after the CDR is written, so take
            # the path walked so far now (collected once per run), or the CDR's ivr_path is empty.
            self._collect(st, st.run, st.run_flow)
        prev_phase = st.phase
        st.phase = "ended"
        if st.recording_stop is not None:
            st.recording_stop.set()
        now = self.now()
        abandon_point = ""
        if st.agent is None and ended_by == "caller":
            abandon_point = "ringing" if st.ringing else ("queue" if prev_phase == "queue" else "")
            if prev_phase == "ivr":
                abandon_point = "ivr"
        if st.in_acd:
            st.in_acd = False
            st.queue_left = now
            with contextlib.suppress(AcdError):
                if self.acd.tenant(st.tenant_id).engine.task_status(st.task_id) is not TaskStatus.ENDED:
                    self.acd.apply(st.tenant_id, lambda e, n: e.abandon(st.task_id, n))
        self._resolve(st, "gone")
        if st.agent is not None:
            session = st.agent
            session.current_call = None
            session.wrap_call = call.id
            session.calls_handled += 1
            with contextlib.suppress(AcdError):
                self.acd.apply(st.tenant_id, lambda e, n: e.complete(session.agent_id, st.task_id, n))
        for o in st.offers:
            if o["outcome"] == "ringing":
                o["outcome"] = "caller_left" if ended_by == "caller" else "cancelled"
        fields: dict[str, Any] = {
            "ivr_path": st.path,
            "offers": st.offers,
            "abandon_point": abandon_point,
            "hold_seconds": round(call.hold_total, 2) if st.connected_at is not None else None,
        }
        if st.queue_entered is not None:
            left = st.queue_left if st.queue_left is not None else now
            fields["wait_seconds"] = round(left - st.queue_entered, 3)
            fields["queue_left_at"] = self.acd.wall(left)
        if st.connected_at is not None:
            fields["talk_seconds"] = round(max(0.0, now - st.connected_at - call.hold_total), 3)
        if st.exit_reason:
            call.data["queue_exit"] = st.exit_reason
        call.data.update({k: v for k, v in st.variables.items() if _scalar(v)})
        await self.m.cdr.update(call.id, **fields)
        self.events.append(
            st.tenant_id,
            "call_ended",
            call_id=call.id,
            queue=st.queue,
            agent_id=st.agent.user_id if st.agent else None,
            cause=cause,
            ended_by=ended_by,
            talk_seconds=fields.get("talk_seconds"),
            hold_seconds=fields.get("hold_seconds"),
        )
        self.events.append(
            st.tenant_id,
            "call_end",
            call_id=call.id,
            queue=st.queue,
            agent_id=st.agent.user_id if st.agent else None,
            cause=cause,
            ended_by=ended_by,
            abandon_point=abandon_point,
        )

    def on_hold(self, call: Call, hold: bool) -> None:
        st = call.service
        if not isinstance(st, ServiceState) or st.agent is None:
            return
        agent_id = st.agent.agent_id
        with contextlib.suppress(AcdError):
            if hold:
                self.acd.apply(st.tenant_id, lambda e, n: e.hold(agent_id, st.task_id, n))
            else:
                self.acd.apply(st.tenant_id, lambda e, n: e.unhold(agent_id, st.task_id, n))

    def _agent_state_changed(
        self, session: AgentSession, old: AgentState, new: AgentState, seconds: float
    ) -> None:
        if old is AgentState.WRAP_UP and new is not AgentState.WRAP_UP and session.wrap_call:
            call_id = session.wrap_call
            self._background(self.m.cdr.update(call_id, wrap_up_seconds=round(seconds, 3)))

    # -- transfer out of the IVR -----------------------------------------------------------------

    async def _transfer(self, st: ServiceState, target: str) -> None:
        call = st.call
        st.phase = "transfer"
        contacts = self.m.sip.lookup(st.tenant_id, target)
        targets: list[tuple[str, Peer | None]] = [(c.uri, self.m.sip.peer_for(c)) for c in contacts]
        if not targets:
            from hotline.cti.callback import trunk_target

            outside = trunk_target(self.outbound_trunk, target)
            if outside is not None:
                targets = [outside]
        if not targets:
            await self._say(st, APOLOGY.get(st.language, APOLOGY["zh-CN"]))
            await self.m.hangup(call, cause="unreachable", ended_by="system")
            return
        winner = await self.m._dial(call, targets, target, call.caller_number)
        if call.ended:
            return
        if isinstance(winner, int):
            await self._say(st, APOLOGY.get(st.language, APOLOGY["zh-CN"]))
            await self.m.hangup(call, cause="no_answer", ended_by="system")
            return
        st.connected_at = self.now()
        await self.m._connect(call, st.caller, winner)
        st.bridged = not call.ended

    # -- call control: the agent leaves the call (blind transfer, takeover) ----------------------

    async def release_agent(self, st: ServiceState, reason: str) -> AgentSession | None:
        """Drop the agent's leg from a connected call and put the agent in wrap-up; the caller
        stays (unbridged, without music). Returns the released agent's session."""
        call = st.call
        leg, session = st.agent_leg, st.agent
        caller_ep = st.caller.endpoint
        if leg is not None and leg.held:
            await self.m._set_hold(leg, False)  # stops the music, counts the hold time
        if call.recording is not None:
            with contextlib.suppress(MediaEngineError):
                await self.m.media.record_stop(call.recording)
            call.recording = None
        if leg is not None:
            if leg.endpoint is not None and caller_ep is not None:
                with contextlib.suppress(MediaEngineError):
                    await self.m.media.unbridge(caller_ep.id, leg.endpoint.id)
            await self.m._bye_leg(leg)
            await self.m._close_leg(leg, reason=reason)
        st.agent, st.agent_leg = None, None
        st.bridged = False
        if session is not None:
            session.current_call = None
            session.wrap_call = call.id
            session.calls_handled += 1
            with contextlib.suppress(AcdError):
                self.acd.apply(st.tenant_id, lambda e, n: e.complete(session.agent_id, st.task_id, n))
        if st.connected_at is not None:
            st.call.data["talk_before_transfer"] = round(
                st.call.data.get("talk_before_transfer", 0.0) + self.now() - st.connected_at, 3
            )
        return session

    def next_task(self, st: ServiceState) -> None:
        """A fresh ACD task id for the call's next queue entry (completed ids are never reused)."""
        st.transfers += 1
        st.task_id = f"{st.call.id}/t{st.transfers}"
        self.states[st.task_id] = st

    async def blind_transfer(self, st: ServiceState, kind: str, target: str, *, by: int | None) -> None:
        """Blind transfer of a connected service call (the agent already released): ``kind`` is
        agent (target = user id: a new task in the call's queue reserved for that agent), queue,
        flow (the flow's outcome is carried out; no return to the agent) or number."""
        call = st.call
        to: Any = int(target) if kind == "agent" else target
        record = {"mode": "blind", "kind": kind, "to": to, "by": by, "at": utcnow().isoformat()}
        call.data.setdefault("transfers", []).append(record)
        self.events.append(
            st.tenant_id, "transfer", call_id=call.id, queue=st.queue, agent_id=by,
            mode="blind", to={kind: int(target) if kind == "agent" else target}, state="started",
        )  # fmt: skip
        outcome: Outcome | None
        if kind in ("agent", "queue"):
            queue = st.queue or "general"
            if kind == "agent":
                st.target_agent = target
            else:
                queue = target
            self.next_task(st)
            st.phase = "queue"
            outcome = ToQueue(queue, st.priority, st.requirements, {})
        elif kind == "flow":
            outcome = await self._run_flow(st, target)
        else:
            st.phase = "transfer"
            await self._transfer(st, target)
            outcome = None
        await self.stages(st, outcome)

    # -- callbacks -------------------------------------------------------------------------------

    async def _ring_callback(self, tenant_id: int, offer: Offer) -> None:
        """A callback task reached an agent: ring the agent, then dial the customer."""
        from hotline.cti.callback import run_callback

        await run_callback(self, tenant_id, offer)


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, str | int | float | bool)
