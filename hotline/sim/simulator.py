"""Discrete-event simulation of a contact centre around the real ACD engine.

The simulator owns an event calendar (a heap of ``(time, seq, kind, a, b)``) holding
arrivals, patience expiries, agents answering offers, handle completions, shift
starts/ends and RONA recoveries.  The engine's own timers (ring timeout, wrap-up,
pause after task, overflow / relaxation / max-wait rules, conditional-overflow
evaluation) are interleaved exactly: before every calendar event at time ``t`` the
loop calls ``engine.tick(d)`` for every engine deadline ``d <= t`` (engine timers win
ties), so they fire at their own time.  Every decision the engine returns is acted
on: ``Offer`` -> the agent answers after ``answer_delay`` (or lets it ring out with
``rona_probability``), ``Withdraw`` cancels the pending answer (``rona`` schedules
the agent's return to ready), ``Exit`` ends the caller's patience clock.

Pure and deterministic: no wall clock, no asyncio; four ``random.Random`` streams
(arrivals, patience, handle, agent behaviour) and the engine are all seeded from the
scenario seed.  KPIs come only from the engine events (:mod:`hotline.sim.kpi`).

Shifts: agents log in (ready) at shift start; at shift end an agent who is idle
logs out, an agent with work is set not ready (reason ``shift_end``) and logs out as
soon as the work (ringing offer, task, wrap-up) is over.  Agents without a shift are
logged in at time 0 for the whole run.

After the horizon no task arrives; the run continues until every task has ended (and
the wrap-ups then running have finished), or for at most ``scenario.drain`` seconds
(then ``end_time = horizon + drain`` and tasks still waiting are ``unfinished``).

Performance: the engine does most of the work (about 70 % of the CPU time for one
queue and 100 agents, more with conditional overflow rules, which make the engine
tick every ``evaluation_interval`` while tasks wait); see ``bench/sim_bench.py``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hotline.acd import (
    AgentState,
    AgentStateChanged,
    Decision,
    Engine,
    Exit,
    Offer,
    TaskSpec,
    Withdraw,
)
from hotline.sim.distributions import Distribution, Never
from hotline.sim.kpi import KPI_DEFINITIONS, KpiCollector
from hotline.sim.scenario import DAY, INTERVAL, ArrivalStream, Scenario

__all__ = ["SimResult", "Simulator", "run"]

# calendar event kinds (ints: cheap comparisons; ties at equal time are broken by seq)
_ARRIVAL = 0
_PATIENCE = 1
_ANSWER = 2
_COMPLETE = 3
_SHIFT_START = 4
_SHIFT_END = 5
_READY = 6


@dataclass
class SimResult:
    """Outcome of a run: the KPI collector plus run facts."""

    scenario: Scenario
    kpis: KpiCollector
    arrivals: int
    end_time: float
    commands: int
    wall_seconds: float
    event_log: list[Any] | None = None
    logins: list[tuple[float, str, str]] = field(default_factory=list)  # (t, agent, "in"/"out")

    def to_dict(self, *, intervals: bool = True) -> dict[str, Any]:
        k = self.kpis
        sc = self.scenario
        out: dict[str, Any] = {
            "scenario": sc.name,
            "seed": sc.seed,
            "horizon_seconds": sc.horizon,
            "warmup_seconds": sc.warmup,
            "end_time": self.end_time,
            "arrivals": self.arrivals,
            "engine_commands": self.commands,
            "wall_seconds": round(self.wall_seconds, 3),
            "sl_thresholds": {q.config.id: q.sl_threshold for q in sc.queues},
            "warnings": list(sc.warnings),
            "definitions": dict(KPI_DEFINITIONS),
            "total": k.total().to_dict(),
            "queues": {q: k.queue_total(q).to_dict() for q in k.queues},
            "agents": k.agents_total().to_dict(),
        }
        if intervals:
            rows = []
            for i in range(k.n_intervals):
                tot = k.interval_total(i)
                at = k.interval_agents(i)
                if tot.offered == 0 and not at.seconds:
                    continue
                rows.append(
                    {
                        "interval": i,
                        "start": i * k.interval,
                        "label": _label(i * k.interval),
                        "total": tot.to_dict(),
                        "queues": {q: k.buckets[qi][i].to_dict() for qi, q in enumerate(k.queues)},
                        "agents": at.to_dict(),
                    }
                )
            out["intervals"] = rows
        return out


def _label(t: float) -> str:
    day, s = divmod(int(t), int(DAY))
    return f"d{day + 1} {s // 3600:02d}:{s % 3600 // 60:02d}"


class Simulator:
    """One run of a :class:`Scenario`.  ``Simulator(scenario).run()`` -> :class:`SimResult`."""

    def __init__(
        self,
        scenario: Scenario,
        *,
        keep_events: bool = False,
        progress: Callable[[float], None] | None = None,
        check_invariants: bool = False,
    ) -> None:
        self.sc = scenario
        seed = scenario.seed
        self.engine = Engine(scenario.skills, [q.config for q in scenario.queues], seed=seed)
        self._rng_arr = random.Random(f"{seed}:arrivals")
        self._rng_pat = random.Random(f"{seed}:patience")
        self._rng_handle = random.Random(f"{seed}:handle")
        self._rng_agent = random.Random(f"{seed}:agents")
        self.kpis = KpiCollector(
            [q.config.id for q in scenario.queues],
            {q.config.id: q.sl_threshold for q in scenario.queues},
            horizon=scenario.horizon,
            warmup=scenario.warmup,
            short_abandon=scenario.short_abandon,
        )
        self._handle: dict[str, Distribution] = {q.config.id: q.handle_time for q in scenario.queues}
        self._mix_cum = [list(itertools.accumulate(m.weight for m in st.mix)) for st in scenario.arrivals]
        self._cal: list[tuple[float, int, int, Any, Any]] = []
        self._seq = 0
        # (task, agent) -> (queue of the offer, offer token): a stale answer never accepts a later offer
        self._offers: dict[tuple[str, str], tuple[str, int]] = {}
        self._unanswered: set[str] = set()
        self._leaving: set[str] = set()
        self._on_shift: set[str] = set()
        self._arrivals = 0
        self._commands = 0
        self._keep = keep_events
        self._log: list[Any] | None = [] if keep_events else None
        self._progress = progress
        self._check = check_invariants
        self.logins: list[tuple[float, str, str]] = []
        self.now = 0.0

    # -------------------------------------------------------------- calendar

    def _push(self, t: float, kind: int, a: Any, b: Any = None) -> None:
        self._seq += 1
        heapq.heappush(self._cal, (t, self._seq, kind, a, b))

    def _next_arrival(self, st: ArrivalStream, t: float) -> float | None:
        """Next Poisson arrival after ``t`` with a piecewise-constant (15-minute) rate."""
        horizon = self.sc.horizon
        rng = self._rng_arr
        while t < horizon:
            k = int(t // INTERVAL)
            boundary = (k + 1) * INTERVAL
            rate = st.rate(k)
            if rate > 0:
                t2 = t + rng.expovariate(rate / INTERVAL)
                if t2 < boundary:
                    return t2 if t2 < horizon else None
            t = boundary
        return None

    def _schedule_shifts(self) -> None:
        sc = self.sc
        days = max(1, math.ceil(sc.horizon / DAY))
        for g in sc.agents:
            for aid in g.agent_ids():
                self.engine.add_agent(g.agent_config(aid))
                if g.shift is None:
                    self._push(0.0, _SHIFT_START, aid)
                    continue
                start, end = g.shift
                if end <= start:
                    end += DAY
                for d in range(-1 if end > DAY else 0, days):
                    s, e = d * DAY + start, d * DAY + end
                    if e <= 0:
                        continue
                    self._push(max(0.0, s), _SHIFT_START, aid)
                    self._push(e, _SHIFT_END, aid)

    # -------------------------------------------------------------- decisions & events

    def _decisions(self, ds: list[Decision]) -> None:
        for d in ds:
            tp = type(d)
            if tp is Offer:
                assert isinstance(d, Offer)
                self._seq += 1
                token = self._seq
                self._offers[(d.task_id, d.agent_id)] = (d.queue_id, token)
                rp = self.sc.rona_probability
                if rp and self._rng_agent.random() < rp:
                    continue  # lets it ring: the engine's ring timeout withdraws it
                delay = self.sc.answer_delay.sample(self._rng_agent)
                self._push(self.now + delay, _ANSWER, (d.task_id, d.agent_id), token)
            elif tp is Withdraw:
                assert isinstance(d, Withdraw)
                self._offers.pop((d.task_id, d.agent_id), None)
                if d.reason == "rona" and d.agent_id not in self._leaving:
                    self._push(self.now + self.sc.rona_recovery, _READY, d.agent_id)
            elif tp is Exit:
                assert isinstance(d, Exit)
                self._unanswered.discard(d.task_id)

    def _events(self) -> None:
        evs = self.engine.pop_events()
        if not evs:
            return
        self.kpis.consume(evs)
        if self._log is not None:
            self._log.extend(evs)
        if self._leaving:
            for e in evs:
                if (
                    type(e) is AgentStateChanged
                    and e.agent_id in self._leaving
                    and e.new is AgentState.NOT_READY
                ):
                    self._logout(e.agent_id)

    def _logout(self, aid: str) -> None:
        self._leaving.discard(aid)
        self._on_shift.discard(aid)
        self._commands += 1
        self._decisions(self.engine.logout(aid, self.now))
        self.logins.append((self.now, aid, "out"))
        self._events()

    # -------------------------------------------------------------- handlers

    def _arrival(self, si: int) -> None:
        st = self.sc.arrivals[si]
        now = self.now
        self._arrivals += 1
        tid = f"c{self._arrivals}"
        mix = st.mix
        m = mix[0] if len(mix) == 1 else self._rng_arr.choices(mix, cum_weights=self._mix_cum[si])[0]
        spec = TaskSpec(
            tid, st.queue, media=m.media, priority=m.priority, requirements=m.requirements, data=m.data
        )
        self._unanswered.add(tid)
        if type(st.patience) is not Never:
            self._push(now + st.patience.sample(self._rng_pat), _PATIENCE, tid)
        nxt = self._next_arrival(st, now)
        if nxt is not None:
            self._push(nxt, _ARRIVAL, si)
        self._commands += 1
        self._decisions(self.engine.new_task(spec, now))

    def _dispatch(self, kind: int, a: Any, b: Any) -> None:
        eng = self.engine
        now = self.now
        if kind == _ARRIVAL:
            self._arrival(a)
        elif kind == _ANSWER:
            offer = self._offers.get(a)
            if offer is None or offer[1] != b:
                return  # withdrawn meanwhile (abandoned, answered elsewhere, ring timeout)
            del self._offers[a]
            tid, aid = a
            self._commands += 1
            self._decisions(eng.accept(aid, tid, now))
            self._unanswered.discard(tid)
            self._push(now + self._handle[offer[0]].sample(self._rng_handle), _COMPLETE, aid, tid)
        elif kind == _COMPLETE:
            self._commands += 1
            self._decisions(eng.complete(a, b, now))
        elif kind == _PATIENCE:
            if a in self._unanswered:
                self._unanswered.discard(a)
                self._commands += 1
                self._decisions(eng.abandon(a, now))
        elif kind == _SHIFT_START:
            if a in self._on_shift:  # back-to-back shifts: stay logged in, ready again
                if a in self._leaving or eng.agent_state(a) is AgentState.NOT_READY:
                    self._leaving.discard(a)
                    self._commands += 1
                    self._decisions(eng.set_ready(a, now))
                return
            self._on_shift.add(a)
            self._commands += 1
            self._decisions(eng.login(a, now, ready=True))
            self.logins.append((now, a, "in"))
        elif kind == _SHIFT_END:
            if a not in self._on_shift:
                return
            st = eng.agent_state(a)
            if st is AgentState.AVAILABLE or st is AgentState.NOT_READY:
                self._logout(a)
                return
            self._leaving.add(a)
            self._commands += 1
            self._decisions(eng.set_not_ready(a, now, "shift_end"))
        elif (
            kind == _READY
            and a in self._on_shift
            and a not in self._leaving
            and eng.agent_state(a) is AgentState.NOT_READY
            and eng.agent_reason(a) == "rona"
        ):
            self._commands += 1
            self._decisions(eng.set_ready(a, now))

    # -------------------------------------------------------------- main loop

    def run(self) -> SimResult:
        wall0 = time.perf_counter()
        sc = self.sc
        eng = self.engine
        self._schedule_shifts()
        for si, st in enumerate(sc.arrivals):
            first = self._next_arrival(st, 0.0)
            if first is not None:
                self._push(first, _ARRIVAL, si)
        cal = self._cal
        horizon = sc.horizon
        limit = horizon + sc.drain
        heappop = heapq.heappop
        progress = self._progress
        next_report = 0.0
        check = self._check
        kpis = self.kpis
        while True:
            t_cal = cal[0][0] if cal else math.inf
            nd = eng.next_deadline()
            engine_first = nd is not None and nd <= t_cal  # engine timers win ties
            t_next = nd if engine_first and nd is not None else t_cal
            if t_next >= horizon and not self._unanswered and not self._pending_work():
                break  # no more arrivals and every task has ended
            if t_next > limit:
                self.now = max(self.now, limit)  # drain time exhausted with work left
                break
            if engine_first:
                self.now = t_next
                self._commands += 1
                self._decisions(eng.tick(t_next))
            else:
                t, _, kind, a, b = heappop(cal)
                self.now = t
                self._dispatch(kind, a, b)
            self._events()
            if check:
                eng.check_invariants()
            if progress is not None and self.now >= next_report:
                progress(min(self.now, horizon))
                next_report = self.now + 60.0
        if self.now >= horizon:
            # every task ended: let running wrap-ups (and pauses) finish so AHT is complete
            while (nd := eng.next_deadline()) is not None and nd <= limit and self._wrapping():
                self.now = nd
                self._commands += 1
                self._decisions(eng.tick(nd))
                self._events()
        end = min(self.now, limit)
        kpis.close(end)
        if progress is not None:
            progress(horizon)
        return SimResult(
            sc,
            kpis,
            self._arrivals,
            end,
            self._commands,
            time.perf_counter() - wall0,
            self._log,
            self.logins,
        )

    def _wrapping(self) -> bool:
        return self.kpis.agents_in_wrap_up > 0

    def _pending_work(self) -> bool:
        """Tasks still with an agent (ringing or being handled) after the horizon."""
        return bool(self._offers) or self._arrivals > self.kpis.ended


def run(scenario: Scenario, **kwargs: Any) -> SimResult:
    """Run ``scenario`` once (see :class:`Simulator` for the keyword arguments)."""
    return Simulator(scenario, **kwargs).run()
