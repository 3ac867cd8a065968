"""Live contact-centre statistics: a pure reducer over the queue event log.

:class:`LiveStats` consumes the events :class:`~hotline.cti.acdservice.AcdService` writes to the
queue event log (``enter_queue``, ``offer``, ``connect``, ``complete``, ``abandon``, ``exit``,
``overflow``, ``requeue``, ``agent_state``, ``agent_login``/``agent_logout``, ``call_ringing``),
one at a time, in log order. It never reads a clock: every event carries its wall time ``at``
(UTC epoch seconds) and every question is asked with ``now``. Fed the stored log it rebuilds
exactly what it had live (a restart loses nothing).

Definitions (per queue; "today" = since local midnight of the tenant's time zone):

* **entry**: one stay of a call in one queue, from ``enter_queue`` to its outcome in that
  queue: *answered* (``connect``), *abandoned* (``abandon``: the caller hung up while waiting
  or while an agent's phone rang), *exited* (``exit``: max wait, closed, no agents, full) or
  *overflowed* (``overflow``: moved to another queue, where it is a new entry). A call put
  back into a queue after it was answered (``requeue`` of an answered call) is a new entry.
  Calls refused at the door (``exit`` without an entry: closed queue, full, no agents) are not
  offered.
* **offered**: entries; counted in the day and the 15-minute interval in which the entry
  *started*. Its outcome is counted in the same day and interval, even when it happens later
  (so an interval's answered + abandoned + exited + overflowed + still waiting = offered).
* **short abandon**: abandoned after waiting less than 5 s (``SHORT_ABANDON``). Counted in
  ``abandoned``, but left out of the service level.
* **service level (SL)**: ``answered within T ÷ (answered + abandoned − short abandons +
  exited + waiting now for longer than T)``, where T is the queue's ``sl_seconds`` (default
  20 s) and "within" means ``wait ≤ T``. Overflowed entries count in the queue they moved to,
  not in the one they left; entries still waiting ≤ T are not decided yet and left out.
  ``None`` when the denominator is 0. ``sl_interval`` is the same over the current interval's
  entries.
* **ASA**: mean wait (seconds in this queue, from ``enter_queue`` to ``connect``) of the
  answered entries.
* **AHT**: (talk + hold + wrap-up) ÷ handled, over the calls completed today: talk + hold is
  the ``complete`` event's ``handle_time`` (answer → hang-up), wrap-up the time the agent then
  spent in ``wrap_up``; handled = ``complete`` events. Per queue (the call's queue) and per
  agent.
* **intervals**: 15-minute buckets aligned to the local clock (:00, :15, :30, :45).
* **all queues**: the sum of the per-queue numbers (an overflowed call is offered once in each
  queue it entered; its outcome is counted once).
* **waiting / longest wait**: entries without an outcome yet (queued or ringing), and the wait
  of the oldest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

INTERVAL = 900.0
SHORT_ABANDON = 5.0
DEFAULT_SL_SECONDS = 20.0
DEFAULT_TIMEZONE = "Asia/Shanghai"
#: interval history kept (and replayed at start-up)
KEEP_HOURS = 24

ON_CALL = frozenset({"reserved", "busy", "hold", "wrap_up", "outbound"})


@dataclass(frozen=True, slots=True)
class StatEvent:
    """One queue-log event as the reducer needs it (``at``: UTC epoch seconds)."""

    type: str
    at: float
    call_id: str = ""
    queue: str = ""
    agent_id: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        type: str,
        at: datetime,
        call_id: str = "",
        queue: str = "",
        agent_id: int | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> StatEvent:
        return cls(type, at.timestamp(), call_id, queue, agent_id, data or {})


@dataclass(slots=True)
class Counts:
    offered: int = 0
    answered: int = 0
    answered_within: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    exited: int = 0
    overflowed: int = 0
    wait_sum: float = 0.0

    def add(self, o: Counts) -> None:
        self.offered += o.offered
        self.answered += o.answered
        self.answered_within += o.answered_within
        self.abandoned += o.abandoned
        self.short_abandoned += o.short_abandoned
        self.exited += o.exited
        self.overflowed += o.overflowed
        self.wait_sum += o.wait_sum

    def sl(self, waiting_over: int = 0) -> float | None:
        den = self.answered + self.abandoned - self.short_abandoned + self.exited + waiting_over
        return round(self.answered_within / den, 4) if den else None

    @property
    def asa(self) -> float | None:
        return round(self.wait_sum / self.answered, 1) if self.answered else None


@dataclass(slots=True)
class Work:
    handled: int = 0
    handle_time: float = 0.0  # talk + hold
    wrap_time: float = 0.0

    @property
    def aht(self) -> float | None:
        return round((self.handle_time + self.wrap_time) / self.handled, 1) if self.handled else None


@dataclass(slots=True)
class _Entry:
    queue: str
    start: float
    day: date
    bucket: float


@dataclass(slots=True)
class AgentLive:
    agent_id: int
    state: str = "logged_out"
    since: float | None = None
    reason: str | None = None
    queues: tuple[str, ...] = ()
    extension: str | None = None
    call_id: str = ""
    queue: str = ""
    #: the last completed call's queue and day: the wrap-up that follows is added there
    last_queue: str | None = None
    last_day: date | None = None
    wrap_start: float | None = None


def iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()


class LiveStats:
    """Statistics of one tenant. Feed :meth:`consume`; ask :meth:`queue_stats`,
    :meth:`agent_stats`, :meth:`intervals` with ``now`` (UTC epoch seconds)."""

    def __init__(
        self,
        timezone: str = DEFAULT_TIMEZONE,
        *,
        thresholds: Mapping[str, float] | None = None,
        default_sl: float = DEFAULT_SL_SECONDS,
        short_abandon: float = SHORT_ABANDON,
        keep_hours: float = KEEP_HOURS,
    ) -> None:
        self.tz = ZoneInfo(timezone)
        self.thresholds: dict[str, float] = dict(thresholds or {})
        self.default_sl = default_sl
        self.short_abandon = short_abandon
        self.keep = keep_hours * 3600.0
        self.day: date | None = None
        self.day_counts: dict[str, Counts] = {}
        self.day_work: dict[str, Work] = {}
        self.agent_work: dict[int, Work] = {}
        self.buckets: dict[tuple[str, float], Counts] = {}
        self.open: dict[str, _Entry] = {}
        self.callers: dict[str, str] = {}
        self.agents: dict[int, AgentLive] = {}
        self.queues: set[str] = set()
        self.consumed = 0

    # -- time -------------------------------------------------------------------------------------

    def local_day(self, at: float) -> date:
        return datetime.fromtimestamp(at, self.tz).date()

    def bucket_of(self, at: float) -> float:
        """Start of the local-clock 15-minute interval holding ``at`` (every real UTC offset is a
        multiple of 15 minutes, so local quarter hours are UTC quarter hours)."""
        off = datetime.fromtimestamp(at, self.tz).utcoffset() or timedelta(0)
        return at - ((at + off.total_seconds()) % INTERVAL)

    def roll(self, at: float) -> None:
        """Start a new day when ``at`` is on a later local date; drop old intervals."""
        d = self.local_day(at)
        if self.day is not None and d <= self.day:
            return
        self.day = d
        self.day_counts.clear()
        self.day_work.clear()
        self.agent_work.clear()
        oldest = self.bucket_of(at - self.keep) - INTERVAL
        for key in [k for k in self.buckets if k[1] < oldest]:
            del self.buckets[key]

    def threshold(self, queue: str) -> float:
        return self.thresholds.get(queue, self.default_sl)

    # -- consuming --------------------------------------------------------------------------------

    def consume_all(self, events: Iterable[StatEvent]) -> None:
        for e in events:
            self.consume(e)

    def consume(self, e: StatEvent) -> None:
        handler = _HANDLERS.get(e.type)
        if handler is None:
            return
        self.roll(e.at)
        self.consumed += 1
        handler(self, e)

    def _agent(self, agent_id: int | None) -> AgentLive | None:
        if agent_id is None:
            return None
        a = self.agents.get(agent_id)
        if a is None:
            a = self.agents[agent_id] = AgentLive(agent_id)
        return a

    def _counts(self, entry: _Entry) -> list[Counts]:
        out = []
        if entry.day == self.day:
            c = self.day_counts.get(entry.queue)
            if c is None:
                c = self.day_counts[entry.queue] = Counts()
            out.append(c)
        key = (entry.queue, entry.bucket)
        b = self.buckets.get(key)
        if b is None:
            b = self.buckets[key] = Counts()
        out.append(b)
        return out

    def _enter(self, e: StatEvent) -> None:
        self.queues.add(e.queue)
        entry = _Entry(e.queue, e.at, self.local_day(e.at), self.bucket_of(e.at))
        self.open[e.call_id] = entry
        for c in self._counts(entry):
            c.offered += 1
        caller = e.data.get("caller")
        if caller:
            self.callers[e.call_id] = str(caller)

    def _on_requeue(self, e: StatEvent) -> None:
        if e.call_id not in self.open:  # an answered call put back in line: a new entry
            self._enter(e)

    def _on_connect(self, e: StatEvent) -> None:
        a = self._agent(e.agent_id)
        entry = self.open.pop(e.call_id, None)
        if a is not None:
            a.call_id, a.queue = e.call_id, e.queue
        if entry is None:  # entered before the replayed window
            return
        wait = _num(e.data.get("wait"), e.at - entry.start)
        within = wait <= self.threshold(entry.queue)
        for c in self._counts(entry):
            c.answered += 1
            c.answered_within += within
            c.wait_sum += wait

    def _on_abandon(self, e: StatEvent) -> None:
        self.callers.pop(e.call_id, None)
        entry = self.open.pop(e.call_id, None)
        if entry is None:
            return
        wait = _num(e.data.get("wait"), e.at - entry.start)
        for c in self._counts(entry):
            c.abandoned += 1
            c.short_abandoned += wait < self.short_abandon

    def _on_exit(self, e: StatEvent) -> None:
        self.callers.pop(e.call_id, None)
        entry = self.open.pop(e.call_id, None)
        if entry is not None:
            for c in self._counts(entry):
                c.exited += 1

    def _on_overflow(self, e: StatEvent) -> None:
        entry = self.open.pop(e.call_id, None)
        if entry is not None:
            for c in self._counts(entry):
                c.overflowed += 1

    def _on_offer(self, e: StatEvent) -> None:
        a = self._agent(e.agent_id)
        if a is not None:
            a.call_id, a.queue = e.call_id, e.queue

    def _on_offer_withdrawn(self, e: StatEvent) -> None:
        a = self._agent(e.agent_id)
        if a is not None and a.call_id == e.call_id and a.state not in ("busy", "hold"):
            a.call_id, a.queue = "", ""

    def _on_complete(self, e: StatEvent) -> None:
        self.callers.pop(e.call_id, None)
        handle = _num(e.data.get("handle_time"), 0.0)
        works = [self.day_work.setdefault(e.queue, Work())]
        a = self._agent(e.agent_id)
        if a is not None:
            works.append(self.agent_work.setdefault(a.agent_id, Work()))
            a.last_queue, a.last_day = e.queue, self.day
        for w in works:
            w.handled += 1
            w.handle_time += handle

    def _on_agent_state(self, e: StatEvent) -> None:
        a = self._agent(e.agent_id)
        if a is None:
            return
        old, new = str(e.data.get("old", a.state)), str(e.data.get("new", a.state))
        if old == "wrap_up" and new != "wrap_up" and a.wrap_start is not None:
            secs = max(0.0, e.at - a.wrap_start)
            if a.last_queue is not None and a.last_day == self.day:
                self.day_work.setdefault(a.last_queue, Work()).wrap_time += secs
                self.agent_work.setdefault(a.agent_id, Work()).wrap_time += secs
            a.wrap_start = None
        if new == "wrap_up" and old != "wrap_up":
            a.wrap_start = e.at
        if new != a.state or a.since is None:
            a.since = e.at
        a.state = new
        reason = e.data.get("reason")
        a.reason = str(reason) if reason and new == "not_ready" else None
        a.queues = tuple(str(q) for q in e.data.get("queues", a.queues) or ())
        if new not in ON_CALL:
            a.call_id, a.queue = "", ""

    def _on_login(self, e: StatEvent) -> None:
        a = self._agent(e.agent_id)
        if a is not None:
            ext = e.data.get("extension")
            a.extension = str(ext) if ext else None

    def _on_logout(self, e: StatEvent) -> None:
        a = self._agent(e.agent_id)
        if a is not None:
            a.extension = None

    def _on_ringing(self, e: StatEvent) -> None:
        caller = e.data.get("caller")
        if caller and e.call_id:
            self.callers[e.call_id] = str(caller)

    # -- after a restart ----------------------------------------------------------------------------

    def reconcile(self, live_calls: Iterable[str], agents: Mapping[int, tuple[str, str | None]]) -> None:
        """Align with the running ACD after replaying the log at start-up: entries of calls the
        ACD does not hold any more (lost in a restart) are dropped without an outcome, and
        agents take the state the ACD has (``agents``: id → (state, reason))."""
        live = set(live_calls)
        for call_id in [c for c in self.open if c not in live]:
            del self.open[call_id]
        for aid, (state, reason) in agents.items():
            a = self._agent(aid)
            assert a is not None
            if a.state != state:
                a.state, a.reason, a.wrap_start = state, reason, None
                if state not in ON_CALL:
                    a.call_id, a.queue = "", ""
                if state == "logged_out":
                    a.extension = None

    # -- questions --------------------------------------------------------------------------------

    def queue_names(self) -> list[str]:
        return sorted(self.queues | set(self.thresholds))

    def _waiting(self) -> dict[str, list[_Entry]]:
        out: dict[str, list[_Entry]] = {}
        for entry in self.open.values():
            out.setdefault(entry.queue, []).append(entry)
        return out

    def queue_stats(self, queue: str, now: float, *, waiting: list[_Entry] | None = None) -> dict[str, Any]:
        """The statistics of one queue at ``now`` (see the module's definitions)."""
        self.roll(now)
        if waiting is None:
            waiting = [x for x in self.open.values() if x.queue == queue]
        thr = self.threshold(queue)
        bucket = self.bucket_of(now)
        day = self.day_counts.get(queue, Counts())
        cur = self.buckets.get((queue, bucket), Counts())
        over_day = sum(1 for x in waiting if x.day == self.day and now - x.start > thr)
        over_cur = sum(1 for x in waiting if x.bucket == bucket and now - x.start > thr)
        work = self.day_work.get(queue, Work())
        return {
            "queue": queue,
            "waiting": len(waiting),
            "longest_wait": round(max((now - x.start for x in waiting), default=0.0), 1),
            "offered": day.offered,
            "answered": day.answered,
            "answered_within": day.answered_within,
            "abandoned": day.abandoned,
            "short_abandoned": day.short_abandoned,
            "exited": day.exited,
            "overflowed": day.overflowed,
            "sl": day.sl(over_day),
            "sl_interval": cur.sl(over_cur),
            "interval_start": iso(bucket),
            "interval_offered": cur.offered,
            "interval_answered": cur.answered,
            "interval_abandoned": cur.abandoned,
            "asa": day.asa,
            "aht": work.aht,
            "handled": work.handled,
            "sl_seconds": thr,
            "agents": self.agent_counts(queue),
        }

    def all_queue_stats(self, now: float, queues: Iterable[str] | None = None) -> list[dict[str, Any]]:
        waiting = self._waiting()
        names = self.queue_names() if queues is None else list(queues)
        return [self.queue_stats(q, now, waiting=waiting.get(q, [])) for q in names]

    def agent_counts(self, queue: str) -> dict[str, int]:
        c = {"logged_in": 0, "ready": 0, "ringing": 0, "busy": 0, "wrap_up": 0, "not_ready": 0}
        for a in self.agents.values():
            if a.state == "logged_out" or queue not in a.queues:
                continue
            c["logged_in"] += 1
            c[_AGENT_BUCKET.get(a.state, "not_ready")] += 1
        return c

    def agent_stats(self, agent_id: int, now: float) -> dict[str, Any]:
        self.roll(now)
        a = self.agents.get(agent_id) or AgentLive(agent_id)
        w = self.agent_work.get(agent_id, Work())
        return {
            "agent_id": agent_id,
            "state": a.state,
            "since": iso(a.since),
            "reason": a.reason,
            "call_id": a.call_id or None,
            "caller": self.callers.get(a.call_id) if a.call_id else None,
            "queue": a.queue or None,
            "handled": w.handled,
            "aht": w.aht,
            "extension": a.extension,
        }

    def intervals(
        self, now: float, hours: float, queues: Iterable[str] | None = None
    ) -> list[dict[str, Any]]:
        """15-minute buckets from ``hours`` ago to the current one, oldest first, summed over
        ``queues`` (default: every queue)."""
        self.roll(now)
        names = set(self.queue_names() if queues is None else queues)
        last = self.bucket_of(now)
        first = self.bucket_of(now - hours * 3600.0)
        n = round((last - first) / INTERVAL) + 1
        starts = [first + i * INTERVAL for i in range(n)]
        sums = {s: Counts() for s in starts}
        for (q, s), c in self.buckets.items():
            if q in names and s in sums:
                sums[s].add(c)
        over: dict[float, int] = {}
        for x in self.open.values():
            if x.queue in names and now - x.start > self.threshold(x.queue):
                over[x.bucket] = over.get(x.bucket, 0) + 1
        return [
            {
                "start": iso(s),
                "offered": sums[s].offered,
                "answered": sums[s].answered,
                "abandoned": sums[s].abandoned,
                "sl": sums[s].sl(over.get(s, 0)),
                "asa": sums[s].asa,
            }
            for s in starts
        ]


_AGENT_BUCKET = {
    "available": "ready",
    "reserved": "ringing",
    "busy": "busy",
    "hold": "busy",
    "outbound": "busy",
    "wrap_up": "wrap_up",
    "not_ready": "not_ready",
}


def _num(v: Any, default: float) -> float:
    try:
        return float(v) if v is not None else default
    except (TypeError, ValueError):
        return default


_HANDLERS: dict[str, Callable[[LiveStats, StatEvent], None]] = {
    "enter_queue": LiveStats._enter,
    "requeue": LiveStats._on_requeue,
    "connect": LiveStats._on_connect,
    "abandon": LiveStats._on_abandon,
    "exit": LiveStats._on_exit,
    "overflow": LiveStats._on_overflow,
    "offer": LiveStats._on_offer,
    "offer_withdrawn": LiveStats._on_offer_withdrawn,
    "complete": LiveStats._on_complete,
    "agent_state": LiveStats._on_agent_state,
    "agent_login": LiveStats._on_login,
    "agent_logout": LiveStats._on_logout,
    "call_ringing": LiveStats._on_ringing,
}
#: event types the reducer reads (others are skipped cheaply)
EVENT_TYPES = frozenset(_HANDLERS)


# -- wallboard thresholds and levels ----------------------------------------------------------------

DEFAULT_THRESHOLDS: dict[str, list[float]] = {
    "waiting": [5.0, 10.0],
    "longest_wait": [60.0, 120.0],
    "sl": [0.8, 0.6],
}


def check_thresholds(doc: Mapping[str, Any]) -> dict[str, list[float]]:
    """Validate wallboard thresholds; raises ValueError("<field>: <reason>").

    ``waiting`` and ``longest_wait`` (seconds): ``[warn, alarm]`` with 0 ≤ warn ≤ alarm (at or
    above is bad); ``sl`` (fraction 0..1): ``[warn, alarm]`` with warn ≥ alarm (below is bad).
    """
    out: dict[str, list[float]] = {}
    for key in DEFAULT_THRESHOLDS:
        pair = doc.get(key, DEFAULT_THRESHOLDS[key])
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"{key}: must be [warn, alarm]")
        vals: list[float] = []
        for v in pair:
            if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
                raise ValueError(f"{key}: warn and alarm must be numbers")
            if v < 0:
                raise ValueError(f"{key}: numbers must be ≥ 0")
            vals.append(float(v))
        warn, alarm = vals
        if key == "sl":
            if warn > 1 or alarm > 1:
                raise ValueError("sl: service levels are fractions 0..1 (0.8 = 80%)")
            if warn < alarm:
                raise ValueError("sl: warn must be ≥ alarm (a service level below them is bad)")
        elif warn > alarm:
            raise ValueError(f"{key}: warn must be ≤ alarm")
        out[key] = vals
    extra = set(doc) - set(DEFAULT_THRESHOLDS)
    if extra:
        raise ValueError(f"{sorted(extra)[0]}: unknown threshold (known: waiting, longest_wait, sl)")
    return out


def level(value: float | None, pair: list[float], *, low_is_bad: bool = False) -> str:
    """ok | warn | alarm of ``value`` against ``[warn, alarm]``."""
    if value is None:
        return "ok"
    warn, alarm = pair
    if low_is_bad:
        return "alarm" if value < alarm else "warn" if value < warn else "ok"
    return "alarm" if value >= alarm else "warn" if value >= warn else "ok"


def levels(doc: Mapping[str, Any], thresholds: Mapping[str, list[float]]) -> dict[str, str]:
    return {
        "waiting": level(doc.get("waiting"), thresholds["waiting"]),
        "longest_wait": level(doc.get("longest_wait"), thresholds["longest_wait"]),
        "sl": level(doc.get("sl"), thresholds["sl"], low_is_bad=True),
    }
