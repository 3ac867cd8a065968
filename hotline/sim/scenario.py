"""Scenario files (TOML) of the simulator: parsing and validation.

A scenario describes skills, queues, agents (groups), arrival streams and the run
parameters.  :func:`load_scenario` / :func:`parse_scenario` return a validated
:class:`Scenario` or raise :class:`ScenarioError` listing *every* problem as
``item: reason`` (for example ``queues[1] 'billing'.handle_time: 'mean' must be > 0``).

Layout (every key except the marked ones is optional)::

    name = "example"
    skills = ["billing", "tech"]

    [simulation]
    duration_hours = 8          # or: days = 1 (24 h each); default 8 h
    warmup_minutes = 30         # tasks arriving earlier and agent time before it are not in the KPIs
    seed = 1
    answer_delay = {dist = "uniform", min = 0, max = 2}   # offer -> accept
    rona_probability = 0.0      # chance an agent lets an offer ring out (ring-no-answer)
    rona_recovery_seconds = 10  # an agent put not ready by RONA is ready again after this
    drain_hours = 4             # after the horizon: no arrivals, run until every task ended (at most this long)
    short_abandon_seconds = 5

    [[queues]]
    id = "billing"                       # required
    strategy = "longest_idle"            # any hotline.acd.Strategy
    requirements = "billing>=2"
    wrap_up = 10                         # seconds; "manual" is not supported in simulation
    pause_after_task = 0                 # default 4 (the engine's default)
    ring_timeout = 20                    # or "none"
    max_wait = 600                       # seconds, then the task exits
    sl_threshold = 20                    # seconds
    priority_aging = 0.0
    evaluation_interval = 1.0
    handle_time = {dist = "lognormal", mean = 240, sd = 120}   # talk time of tasks answered here
    rules = [
      {type = "overflow", target = "general", after = 60, when = "waiting > 5"},
      {type = "relax", after = 30, requirements = "billing"},
      {type = "priority", when = "data.vip == true", add = 20},
      {type = "route", when = "data.lang == 'en'", queue = "english"},
    ]

    [[agents]]                           # one agent, or a group with count
    id = "bill"                          # required; a group names its agents bill-001, bill-002, ...
    count = 10
    skills = {billing = 5, tech = 2}
    queues = ["billing"]                 # required
    capacity = {call = 1, chat = 2}      # overrides the engine defaults per media
    shift = ["08:00", "16:30"]           # log in / out each day; absent: logged in all the time

    [[arrivals]]
    queue = "billing"                    # required
    calls_per_interval = 40              # constant Poisson rate per 15 minutes, or:
    # rates = [10, 20, 35, ...]          # one rate per 15-minute interval from `start`, then 0
    # start = "08:00"                    # time of day of rates[0] (repeats every simulated day)
    patience = {dist = "exponential", mean = 120}   # or "none" (default)
    mix = [                              # optional task mix, weights need not sum to 1
      {weight = 0.9},
      {weight = 0.1, priority = 50, requirements = "billing>=7", data = {vip = true}},
    ]
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from hotline.acd import (
    AcdError,
    AgentConfig,
    Engine,
    Media,
    OverflowRule,
    PriorityRule,
    QueueConfig,
    RelaxRule,
    RouteRule,
    Rule,
    Strategy,
    TaskSpec,
)
from hotline.sim.distributions import (
    Distribution,
    DistributionError,
    Exponential,
    Never,
    Uniform,
    parse_distribution,
)

__all__ = [
    "DAY",
    "INTERVAL",
    "AgentGroup",
    "ArrivalStream",
    "MixEntry",
    "QueueSpec",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
]

INTERVAL = 900.0  # seconds in a reporting / arrival-rate interval (15 minutes)
DAY = 86400.0


class ScenarioError(ValueError):
    """The scenario is invalid; ``problems`` lists ``(item, reason)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "invalid scenario:\n" + "\n".join(f"  {item}: {reason}" for item, reason in problems)
        )


@dataclass(frozen=True)
class QueueSpec:
    config: QueueConfig
    handle_time: Distribution
    sl_threshold: float = 20.0


@dataclass(frozen=True)
class AgentGroup:
    id: str
    count: int
    skills: Mapping[str, int]
    queues: tuple[str, ...]
    capacity: Mapping[Media, int] | None = None
    shift: tuple[float, float] | None = None  # seconds after midnight; end <= start: next day

    def agent_ids(self) -> list[str]:
        if self.count == 1:
            return [self.id]
        width = max(3, len(str(self.count)))
        return [f"{self.id}-{i:0{width}d}" for i in range(1, self.count + 1)]

    def agent_config(self, agent_id: str) -> AgentConfig:
        if self.capacity is None:
            return AgentConfig(agent_id, skills=dict(self.skills), queues=self.queues)
        # the scenario's capacity overrides the engine's defaults media by media
        capacity = {**AgentConfig(agent_id).capacity, **self.capacity}
        return AgentConfig(agent_id, skills=dict(self.skills), queues=self.queues, capacity=capacity)


@dataclass(frozen=True)
class MixEntry:
    weight: float = 1.0
    priority: int = 0
    requirements: str | None = None
    data: Mapping[str, object] = field(default_factory=dict)
    media: Media = Media.CALL


@dataclass(frozen=True)
class ArrivalStream:
    """Poisson arrivals to ``queue``: ``rates[k]`` calls in the k-th 15-minute interval.

    ``constant``: ``rates`` has one value used at every time.  Otherwise ``rates[0]``
    applies from ``start`` (seconds after midnight) each simulated day, then one value
    per interval; outside the list the rate is 0.
    """

    queue: str
    rates: tuple[float, ...]
    constant: bool = True
    start: float = 0.0
    patience: Distribution = field(default_factory=Never)
    mix: tuple[MixEntry, ...] = (MixEntry(),)

    def rate(self, interval: int) -> float:
        """Calls per 15 minutes in absolute interval ``interval`` (0 = first 15 min of day 0)."""
        if self.constant:
            return self.rates[0]
        per_day = round(DAY / INTERVAL)
        t_in_day = (interval % per_day) * INTERVAL
        k = int((t_in_day - self.start) // INTERVAL)
        if k < 0:  # rates started on the previous day (list crossing midnight)
            k += per_day
        return self.rates[k] if 0 <= k < len(self.rates) else 0.0


@dataclass(frozen=True)
class Scenario:
    name: str
    skills: tuple[str, ...]
    queues: tuple[QueueSpec, ...]
    agents: tuple[AgentGroup, ...]
    arrivals: tuple[ArrivalStream, ...]
    horizon: float = 8 * 3600.0  # seconds of arrivals
    warmup: float = 0.0
    seed: int = 0
    answer_delay: Distribution = field(default_factory=lambda: Uniform(0.0, 2.0))
    rona_probability: float = 0.0
    rona_recovery: float = 10.0
    drain: float = 4 * 3600.0
    short_abandon: float = 5.0
    warnings: tuple[str, ...] = ()  # suspicious but valid (e.g. a queue with arrivals and no agent)

    def queue(self, queue_id: str) -> QueueSpec:
        for q in self.queues:
            if q.config.id == queue_id:
                return q
        raise KeyError(queue_id)

    def with_days(self, days: int) -> Scenario:
        return replace(self, horizon=days * DAY)

    def with_seed(self, seed: int) -> Scenario:
        return replace(self, seed=seed)


# ------------------------------------------------------------------ parsing helpers


class _Problems:
    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, item: str, reason: str) -> None:
        self.items.append((item, reason))


_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def _time_of_day(v: object) -> float:
    """'HH:MM[:SS]' or a number of hours -> seconds after midnight (24:00 allowed)."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        if not math.isfinite(v) or not 0 <= v <= 24:
            raise ValueError(f"hours must be within 0-24, got {v!r}")
        return float(v) * 3600.0
    if isinstance(v, str):
        m = _TIME.match(v)
        if m:
            h, mi, s = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
            if mi < 60 and s < 60 and (h < 24 or (h == 24 and mi == 0 and s == 0)):
                return h * 3600.0 + mi * 60.0 + s
    raise ValueError(f"expected a time of day 'HH:MM' or hours 0-24, got {v!r}")


def _num(
    p: _Problems,
    item: str,
    table: Mapping[str, object],
    key: str,
    default: float | None,
    *,
    positive: bool = False,
) -> float | None:
    if key not in table:
        return default
    v = table[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        p.add(f"{item}.{key}", f"must be a finite number, got {v!r}")
        return default
    if v < 0 or (positive and v == 0):
        p.add(f"{item}.{key}", f"must be {'> 0' if positive else '>= 0'}, got {v!r}")
        return default
    return float(v)


def _unknown_keys(p: _Problems, item: str, table: Mapping[str, object], allowed: set[str]) -> None:
    for k in sorted(set(table) - allowed):
        p.add(f"{item}.{k}", f"unknown key (expected one of {', '.join(sorted(allowed))})")


def _dist(
    p: _Problems, item: str, value: object, default: Distribution, *, allow_none: bool = False
) -> Distribution:
    if value is None:
        return default
    try:
        return parse_distribution(value, allow_none=allow_none)
    except DistributionError as e:
        p.add(item, str(e))
        return default


def _tables(p: _Problems, doc: Mapping[str, object], key: str) -> list[Mapping[str, object]]:
    raw = doc.get(key, [])
    if not isinstance(raw, list) or not all(isinstance(x, dict) for x in raw):
        p.add(key, "must be an array of tables ([[" + key + "]])")
        return []
    return raw


_SIM_KEYS = {
    "duration_hours",
    "days",
    "warmup_minutes",
    "seed",
    "answer_delay",
    "rona_probability",
    "rona_recovery_seconds",
    "drain_hours",
    "short_abandon_seconds",
}
_QUEUE_KEYS = {
    "id",
    "strategy",
    "requirements",
    "wrap_up",
    "pause_after_task",
    "ring_timeout",
    "max_wait",
    "sl_threshold",
    "priority_aging",
    "evaluation_interval",
    "handle_time",
    "rules",
}
_AGENT_KEYS = {"id", "count", "skills", "queues", "capacity", "shift"}
_ARRIVAL_KEYS = {"queue", "calls_per_interval", "rates", "start", "patience", "mix"}
_MIX_KEYS = {"weight", "priority", "requirements", "data", "media"}
_RULE_KEYS = {
    "overflow": {"type", "target", "after", "when"},
    "relax": {"type", "after", "requirements"},
    "priority": {"type", "when", "set_to", "add"},
    "route": {"type", "when", "queue"},
}


def _parse_rule(p: _Problems, item: str, raw: object) -> Rule | None:
    if not isinstance(raw, dict):
        p.add(item, f"must be a table, got {raw!r}")
        return None
    kind = raw.get("type")
    if kind not in _RULE_KEYS:
        p.add(f"{item}.type", f"must be one of {', '.join(sorted(_RULE_KEYS))}, got {kind!r}")
        return None
    _unknown_keys(p, item, raw, _RULE_KEYS[kind])
    when = raw.get("when")
    if when is not None and not isinstance(when, str):
        p.add(f"{item}.when", f"must be a condition string, got {when!r}")
        return None
    if kind == "overflow":
        target = raw.get("target")
        if not isinstance(target, str):
            p.add(f"{item}.target", f"must be a queue id, got {target!r}")
            return None
        after = _num(p, item, raw, "after", 0.0)
        return OverflowRule(target, after=after or 0.0, when=when)
    if kind == "relax":
        after = _num(p, item, raw, "after", None)
        if after is None:
            p.add(f"{item}.after", "required (seconds in queue before relaxing)")
            return None
        req = raw.get("requirements")
        if req is not None and not isinstance(req, str):
            p.add(f"{item}.requirements", f"must be a requirement string, got {req!r}")
            return None
        return RelaxRule(after, req)
    if kind == "priority":
        if when is None:
            p.add(f"{item}.when", "required")
            return None
        set_to, add = raw.get("set_to"), raw.get("add", 0)
        if (
            set_to is not None and (not isinstance(set_to, int) or isinstance(set_to, bool))
        ) or not isinstance(add, int):
            p.add(item, "set_to / add must be integers")
            return None
        return PriorityRule(when, set_to=set_to, add=add)
    queue = raw.get("queue")
    if when is None or not isinstance(queue, str):
        p.add(item, "route rule needs 'when' and 'queue'")
        return None
    return RouteRule(when, queue)


def _parse_queue(p: _Problems, i: int, raw: Mapping[str, object]) -> QueueSpec | None:
    qid = raw.get("id")
    item = f"queues[{i}]" + (f" {qid!r}" if isinstance(qid, str) else "")
    _unknown_keys(p, item, raw, _QUEUE_KEYS)
    if not isinstance(qid, str) or not qid:
        p.add(f"{item}.id", f"must be a non-empty string, got {qid!r}")
        return None
    strategy = Strategy.LONGEST_IDLE
    if "strategy" in raw:
        try:
            strategy = Strategy(str(raw["strategy"]))
        except ValueError:
            p.add(
                f"{item}.strategy",
                f"unknown strategy {raw['strategy']!r} (expected one of {', '.join(s.value for s in Strategy)})",
            )
    req = raw.get("requirements")
    if req is not None and not isinstance(req, str):
        p.add(f"{item}.requirements", f"must be a requirement string, got {req!r}")
        req = None
    if raw.get("wrap_up") == "manual":
        p.add(f"{item}.wrap_up", "manual wrap-up is not supported by the simulator; give seconds")
    wrap = _num(p, item, raw, "wrap_up", 0.0) if raw.get("wrap_up") != "manual" else 0.0
    pause = _num(p, item, raw, "pause_after_task", 4.0)
    ring: float | None = 20.0
    if raw.get("ring_timeout") == "none":
        ring = None
    else:
        ring = _num(p, item, raw, "ring_timeout", 20.0, positive=True)
    max_wait = _num(p, item, raw, "max_wait", None)
    sl = _num(p, item, raw, "sl_threshold", 20.0)
    aging = _num(p, item, raw, "priority_aging", 0.0)
    ev = _num(p, item, raw, "evaluation_interval", 1.0, positive=True)
    handle = _dist(p, f"{item}.handle_time", raw.get("handle_time"), Exponential(180.0))
    if isinstance(handle, Never):
        p.add(f"{item}.handle_time", "must be finite")
    rules: list[Rule] = []
    raw_rules = raw.get("rules", [])
    if not isinstance(raw_rules, list):
        p.add(f"{item}.rules", "must be an array of tables")
        raw_rules = []
    for j, rr in enumerate(raw_rules):
        rule = _parse_rule(p, f"{item}.rules[{j}]", rr)
        if rule is not None:
            rules.append(rule)
    cfg = QueueConfig(
        qid,
        strategy=strategy,
        requirements=req,
        ring_timeout=ring,
        wrap_up=wrap,
        pause_after_task=pause if pause is not None else 4.0,
        priority_aging=aging or 0.0,
        rules=tuple(rules),
        max_wait=max_wait,
        evaluation_interval=ev or 1.0,
    )
    return QueueSpec(cfg, handle, sl if sl is not None else 20.0)


def _parse_agent(p: _Problems, i: int, raw: Mapping[str, object], queue_ids: set[str]) -> AgentGroup | None:
    aid = raw.get("id")
    item = f"agents[{i}]" + (f" {aid!r}" if isinstance(aid, str) else "")
    _unknown_keys(p, item, raw, _AGENT_KEYS)
    ok = True
    if not isinstance(aid, str) or not aid:
        p.add(f"{item}.id", f"must be a non-empty string, got {aid!r}")
        ok = False
    count = raw.get("count", 1)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        p.add(f"{item}.count", f"must be an integer >= 1, got {count!r}")
        ok = False
    skills = raw.get("skills", {})
    if not isinstance(skills, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in skills.values()
    ):
        p.add(f"{item}.skills", f"must be a table skill = level (integers), got {skills!r}")
        ok = False
    queues = raw.get("queues")
    if not isinstance(queues, list) or not queues or not all(isinstance(q, str) for q in queues):
        p.add(f"{item}.queues", f"must be a non-empty list of queue ids, got {queues!r}")
        ok = False
    else:
        for q in queues:
            if q not in queue_ids:
                p.add(f"{item}.queues", f"unknown queue {q!r}")
                ok = False
    capacity: dict[Media, int] | None = None
    if "capacity" in raw:
        cap = raw["capacity"]
        if not isinstance(cap, dict):
            p.add(f"{item}.capacity", f"must be a table media = count, got {cap!r}")
            ok = False
        else:
            capacity = {}
            for m, c in cap.items():
                try:
                    media = Media(m)
                except ValueError:
                    p.add(f"{item}.capacity.{m}", f"unknown media (expected one of {', '.join(Media)})")
                    ok = False
                    continue
                if not isinstance(c, int) or isinstance(c, bool) or c < 0:
                    p.add(f"{item}.capacity.{m}", f"must be an integer >= 0, got {c!r}")
                    ok = False
                    continue
                capacity[media] = c
    shift: tuple[float, float] | None = None
    if "shift" in raw:
        sh = raw["shift"]
        if not isinstance(sh, list) or len(sh) != 2:
            p.add(f"{item}.shift", f"must be [start, end] times of day, got {sh!r}")
            ok = False
        else:
            try:
                shift = (_time_of_day(sh[0]), _time_of_day(sh[1]))
            except ValueError as e:
                p.add(f"{item}.shift", str(e))
                ok = False
            else:
                if shift[0] == shift[1]:
                    p.add(f"{item}.shift", "start and end are equal (empty shift)")
                    ok = False
    if not ok:
        return None
    assert (
        isinstance(aid, str)
        and isinstance(count, int)
        and isinstance(queues, list)
        and isinstance(skills, dict)
    )
    return AgentGroup(aid, count, dict(skills), tuple(queues), capacity, shift)


def _parse_mix(p: _Problems, item: str, raw: object) -> tuple[MixEntry, ...]:
    if raw is None:
        return (MixEntry(),)
    if not isinstance(raw, list) or not raw or not all(isinstance(x, dict) for x in raw):
        p.add(item, "must be a non-empty array of tables")
        return (MixEntry(),)
    out: list[MixEntry] = []
    for j, m in enumerate(raw):
        it = f"{item}[{j}]"
        _unknown_keys(p, it, m, _MIX_KEYS)
        w = _num(p, it, m, "weight", 1.0, positive=True)
        prio = m.get("priority", 0)
        if not isinstance(prio, int) or isinstance(prio, bool) or not 0 <= prio <= 100:
            p.add(f"{it}.priority", f"must be an integer 0-100, got {prio!r}")
            prio = 0
        req = m.get("requirements")
        if req is not None and not isinstance(req, str):
            p.add(f"{it}.requirements", f"must be a requirement string, got {req!r}")
            req = None
        data = m.get("data", {})
        if not isinstance(data, dict):
            p.add(f"{it}.data", f"must be a table, got {data!r}")
            data = {}
        media = Media.CALL
        if "media" in m:
            try:
                media = Media(m["media"])
            except ValueError:
                p.add(f"{it}.media", f"unknown media {m['media']!r}")
        out.append(MixEntry(w or 1.0, prio, req, data, media))
    return tuple(out)


def _parse_arrival(
    p: _Problems, i: int, raw: Mapping[str, object], queue_ids: set[str]
) -> ArrivalStream | None:
    qid = raw.get("queue")
    item = f"arrivals[{i}]" + (f" {qid!r}" if isinstance(qid, str) else "")
    _unknown_keys(p, item, raw, _ARRIVAL_KEYS)
    if not isinstance(qid, str) or qid not in queue_ids:
        p.add(f"{item}.queue", f"unknown queue {qid!r}")
        return None
    has_c, has_r = "calls_per_interval" in raw, "rates" in raw
    if has_c == has_r:
        p.add(item, "give exactly one of calls_per_interval (constant) or rates (list per 15 minutes)")
        return None
    if has_c:
        c = _num(p, item, raw, "calls_per_interval", None)
        if c is None:
            return None
        rates: tuple[float, ...] = (c,)
    else:
        lst = raw["rates"]
        if not isinstance(lst, list) or not lst:
            p.add(f"{item}.rates", "must be a non-empty list of calls per 15-minute interval")
            return None
        vals: list[float] = []
        for k, v in enumerate(lst):
            x = _num(p, item, {f"rates[{k}]": v}, f"rates[{k}]", None)
            if x is None:
                return None
            vals.append(x)
        if len(vals) > DAY / INTERVAL:
            p.add(f"{item}.rates", f"at most {round(DAY / INTERVAL)} intervals (one day), got {len(vals)}")
            return None
        rates = tuple(vals)
    start = 0.0
    if "start" in raw:
        if has_c:
            p.add(f"{item}.start", "only meaningful with rates")
        try:
            start = _time_of_day(raw["start"])
        except ValueError as e:
            p.add(f"{item}.start", str(e))
        if start % INTERVAL:
            p.add(f"{item}.start", "must be on a 15-minute boundary")
    patience = _dist(p, f"{item}.patience", raw.get("patience"), Never(), allow_none=True)
    mix = _parse_mix(p, f"{item}.mix", raw.get("mix"))
    return ArrivalStream(qid, rates, has_c, start % DAY, patience, mix)


def parse_scenario(doc: Mapping[str, object], *, name: str = "scenario") -> Scenario:
    """Validate a parsed TOML document; raises :class:`ScenarioError` with every problem."""
    p = _Problems()
    _unknown_keys(p, "scenario", doc, {"name", "skills", "simulation", "queues", "agents", "arrivals"})
    nm = doc.get("name", name)
    if not isinstance(nm, str):
        p.add("name", f"must be a string, got {nm!r}")
        nm = name
    raw_skills = doc.get("skills", [])
    if not isinstance(raw_skills, list) or not all(isinstance(s, str) and s for s in raw_skills):
        p.add("skills", f"must be a list of skill names, got {raw_skills!r}")
        raw_skills = []
    skills = tuple(raw_skills)

    sim = doc.get("simulation", {})
    if not isinstance(sim, dict):
        p.add("simulation", "must be a table")
        sim = {}
    _unknown_keys(p, "simulation", sim, _SIM_KEYS)
    horizon = 8 * 3600.0
    if "duration_hours" in sim and "days" in sim:
        p.add("simulation", "give duration_hours or days, not both")
    if "days" in sim:
        d = sim["days"]
        if not isinstance(d, int) or isinstance(d, bool) or d < 1:
            p.add("simulation.days", f"must be an integer >= 1, got {d!r}")
        else:
            horizon = d * DAY
    else:
        h = _num(p, "simulation", sim, "duration_hours", 8.0, positive=True)
        horizon = (h or 8.0) * 3600.0
    warmup = (_num(p, "simulation", sim, "warmup_minutes", 0.0) or 0.0) * 60.0
    if warmup >= horizon:
        p.add("simulation.warmup_minutes", f"warm-up ({warmup / 60:g} min) must be shorter than the run")
    seed = sim.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        p.add("simulation.seed", f"must be an integer, got {seed!r}")
        seed = 0
    answer = _dist(p, "simulation.answer_delay", sim.get("answer_delay"), Uniform(0.0, 2.0))
    rona_p = _num(p, "simulation", sim, "rona_probability", 0.0) or 0.0
    if rona_p > 1:
        p.add("simulation.rona_probability", f"must be within 0-1, got {rona_p!r}")
    rona_rec = _num(p, "simulation", sim, "rona_recovery_seconds", 10.0) or 0.0
    drain = (_num(p, "simulation", sim, "drain_hours", 4.0) or 0.0) * 3600.0
    short = _num(p, "simulation", sim, "short_abandon_seconds", 5.0) or 0.0

    queues: list[QueueSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(_tables(p, doc, "queues")):
        qs = _parse_queue(p, i, raw)
        if qs is None:
            continue
        if qs.config.id in seen:
            p.add(f"queues[{i}] {qs.config.id!r}.id", "duplicate queue id")
            continue
        seen.add(qs.config.id)
        queues.append(qs)
    if not queues and not any(it.startswith("queues") for it, _ in p.items):
        p.add("queues", "at least one [[queues]] is required")
    for i, qs in enumerate(queues):
        for j, rule in enumerate(qs.config.rules):
            tgt = (
                rule.target
                if isinstance(rule, OverflowRule)
                else rule.queue
                if isinstance(rule, RouteRule)
                else None
            )
            if tgt is not None and tgt not in seen:
                p.add(f"queues[{i}] {qs.config.id!r}.rules[{j}]", f"unknown queue {tgt!r}")

    agents: list[AgentGroup] = []
    agent_ids: set[str] = set()
    for i, raw in enumerate(_tables(p, doc, "agents")):
        ag = _parse_agent(p, i, raw, seen)
        if ag is None:
            continue
        for s in ag.skills:
            if s not in skills:
                p.add(f"agents[{i}] {ag.id!r}.skills", f"unknown skill {s!r} (not in skills)")
        dup = agent_ids.intersection(ag.agent_ids())
        if dup:
            p.add(f"agents[{i}] {ag.id!r}.id", f"duplicate agent id(s) {', '.join(sorted(dup)[:3])}")
            continue
        agent_ids.update(ag.agent_ids())
        agents.append(ag)
    if not agents and not any(it.startswith("agents") for it, _ in p.items):
        p.add("agents", "at least one [[agents]] is required")

    arrivals: list[ArrivalStream] = []
    for i, raw in enumerate(_tables(p, doc, "arrivals")):
        st = _parse_arrival(p, i, raw, seen)
        if st is not None:
            arrivals.append(st)
    if not arrivals and not any(it.startswith("arrivals") for it, _ in p.items):
        p.add("arrivals", "at least one [[arrivals]] is required")

    # let the engine validate requirements, conditions and rules (position-precise errors)
    if not p.items:
        _engine_check(p, skills, queues, agents, arrivals)
    if p.items:
        raise ScenarioError(p.items)
    return Scenario(
        name=nm,
        skills=skills,
        queues=tuple(queues),
        agents=tuple(agents),
        arrivals=tuple(arrivals),
        horizon=horizon,
        warmup=warmup,
        seed=seed,
        answer_delay=answer,
        rona_probability=rona_p,
        rona_recovery=rona_rec,
        drain=drain,
        short_abandon=short,
        warnings=tuple(_warnings(queues, agents, arrivals)),
    )


def _engine_check(
    p: _Problems,
    skills: tuple[str, ...],
    queues: list[QueueSpec],
    agents: list[AgentGroup],
    arrivals: list[ArrivalStream],
) -> None:
    eng = Engine(skills)
    try:
        eng.add_queues([q.config for q in queues])
    except AcdError as e:
        p.add("queues", str(e))
        return
    for i, ag in enumerate(agents):
        try:
            eng.add_agent(ag.agent_config(ag.agent_ids()[0]))
        except AcdError as e:
            p.add(f"agents[{i}] {ag.id!r}", str(e))
    n = 0
    for i, st in enumerate(arrivals):
        for j, m in enumerate(st.mix):
            n += 1
            try:  # requirement syntax and unknown skills of the mix
                eng.new_task(TaskSpec(f"check{n}", st.queue, media=m.media, requirements=m.requirements), 0.0)
            except AcdError as e:
                p.add(f"arrivals[{i}] {st.queue!r}.mix[{j}]", str(e))


def _warnings(queues: list[QueueSpec], agents: list[AgentGroup], arrivals: list[ArrivalStream]) -> list[str]:
    out: list[str] = []
    served = {q for g in agents for q in g.queues}
    fed = {st.queue for st in arrivals}
    moved = {
        r.target if isinstance(r, OverflowRule) else r.queue
        for q in queues
        for r in q.config.rules
        if isinstance(r, OverflowRule | RouteRule)
    }
    for i, q in enumerate(queues):
        qid = q.config.id
        if (qid in fed or qid in moved) and qid not in served:
            out.append(f"queues[{i}] {qid!r}: receives tasks but no agent serves it")
    for i, st in enumerate(arrivals):
        if isinstance(st.patience, Never) and st.queue not in served:
            out.append(f"arrivals[{i}] {st.queue!r}: callers never abandon and no agent serves the queue")
    return out


def load_scenario(path: Path | str) -> Scenario:
    """Read and validate a TOML scenario file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError([(str(path), f"cannot read: {e.strerror or e}")]) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError([(str(path), f"invalid TOML: {e}")]) from None
    return parse_scenario(doc, name=path.stem)
