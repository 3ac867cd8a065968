"""An independent recomputation of the statistics from a whole event log (the test oracle).

Written differently from the live reducer on purpose: the log is cut into per-call queue stays
(entries) first, then every figure is a filter and a sum over entries and events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from hotline.cti.stats import StatEvent

OUTCOMES = {"connect": "answered", "abandon": "abandoned", "exit": "exited", "overflow": "overflowed"}


@dataclass
class Stay:
    call: str
    queue: str
    start: float
    outcome: str | None = None  # None: still waiting
    wait: float = 0.0


def local_date(at: float, tz: ZoneInfo) -> Any:
    return datetime.fromtimestamp(at, tz).date()


def quarter(at: float, tz: ZoneInfo) -> float:
    local = datetime.fromtimestamp(at, tz)
    floored = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    return floored.timestamp()


def stays(events: list[StatEvent]) -> list[Stay]:
    by_call: dict[str, list[StatEvent]] = {}
    for e in events:
        if e.call_id and e.type in ("enter_queue", "requeue", *OUTCOMES):
            by_call.setdefault(e.call_id, []).append(e)
    out: list[Stay] = []
    for call, evs in by_call.items():
        current: Stay | None = None
        for e in evs:
            if e.type == "enter_queue" or (e.type == "requeue" and current is None):
                current = Stay(call, e.queue, e.at)
                out.append(current)
            elif e.type in OUTCOMES and current is not None:
                current.outcome = OUTCOMES[e.type]
                current.wait = float(e.data.get("wait", e.at - current.start))
                current = None
    return out


def sl(selected: list[Stay], now: float, thr: dict[str, float], default: float) -> float | None:
    def t(s: Stay) -> float:
        return thr.get(s.queue, default)

    within = sum(1 for s in selected if s.outcome == "answered" and s.wait <= t(s))
    den = sum(
        1
        for s in selected
        if s.outcome in ("answered", "exited")
        or (s.outcome == "abandoned" and s.wait >= 5.0)
        or (s.outcome is None and now - s.start > t(s))
    )
    return round(within / den, 4) if den else None


def recompute(
    events: list[StatEvent], now: float, tz_name: str, thr: dict[str, float], default: float = 20.0
) -> dict[str, Any]:
    tz = ZoneInfo(tz_name)
    today = local_date(now, tz)
    all_stays = stays(events)
    queues = sorted({s.queue for s in all_stays} | set(thr))
    # work: complete events of today; wrap-up periods after them
    completes = [e for e in events if e.type == "complete"]
    work: dict[tuple[str, Any], list[float]] = {}  # ("q", name) / ("a", id) -> [handled, handle, wrap]

    def w(key: tuple[str, Any]) -> list[float]:
        return work.setdefault(key, [0, 0.0, 0.0])

    for e in completes:
        if local_date(e.at, tz) == today:
            for key in (("q", e.queue), ("a", e.agent_id)):
                w(key)[0] += 1
                w(key)[1] += float(e.data.get("handle_time", 0.0))
    wrap_start: dict[int, float] = {}
    for e in events:
        if e.type != "agent_state" or e.agent_id is None:
            continue
        old, new = e.data["old"], e.data["new"]
        if old == "wrap_up" and new != "wrap_up" and e.agent_id in wrap_start:
            start = wrap_start.pop(e.agent_id)
            last = [c for c in completes if c.agent_id == e.agent_id and c.at <= e.at]
            if last and local_date(last[-1].at, tz) == today:
                w(("q", last[-1].queue))[2] += e.at - start
                w(("a", e.agent_id))[2] += e.at - start
        if new == "wrap_up" and old != "wrap_up":
            wrap_start[e.agent_id] = e.at
    out: dict[str, Any] = {"queues": {}, "agents": {}}
    cur = quarter(now, tz)
    for q in queues:
        mine = [s for s in all_stays if s.queue == q]
        day = [s for s in mine if local_date(s.start, tz) == today]
        interval = [s for s in mine if quarter(s.start, tz) == cur]
        answered = [s for s in day if s.outcome == "answered"]
        waiting = [s for s in mine if s.outcome is None]
        handled, handle, wrap = work.get(("q", q), [0, 0.0, 0.0])
        out["queues"][q] = {
            "offered": len(day),
            "answered": len(answered),
            "abandoned": sum(1 for s in day if s.outcome == "abandoned"),
            "short_abandoned": sum(1 for s in day if s.outcome == "abandoned" and s.wait < 5.0),
            "exited": sum(1 for s in day if s.outcome == "exited"),
            "overflowed": sum(1 for s in day if s.outcome == "overflowed"),
            "sl": sl(day, now, thr, default),
            "sl_interval": sl(interval, now, thr, default),
            "interval_offered": len(interval),
            "asa": round(sum(s.wait for s in answered) / len(answered), 1) if answered else None,
            "aht": round((handle + wrap) / handled, 1) if handled else None,
            "handled": int(handled),
            "waiting": len(waiting),
            "longest_wait": round(max((now - s.start for s in waiting), default=0.0), 1),
        }
    agents = {e.agent_id for e in events if e.agent_id is not None}
    for a in agents:
        handled, handle, wrap = work.get(("a", a), [0, 0.0, 0.0])
        states = [e.data["new"] for e in events if e.type == "agent_state" and e.agent_id == a]
        out["agents"][a] = {
            "handled": int(handled),
            "aht": round((handle + wrap) / handled, 1) if handled else None,
            "state": states[-1] if states else "logged_out",
        }
    buckets: dict[float, list[Stay]] = {}
    for s in all_stays:
        buckets.setdefault(quarter(s.start, tz), []).append(s)
    out["buckets"] = {
        datetime.fromtimestamp(b, UTC).isoformat(): {
            "offered": len(ss),
            "answered": sum(1 for s in ss if s.outcome == "answered"),
            "abandoned": sum(1 for s in ss if s.outcome == "abandoned"),
            "sl": sl(ss, now, thr, default),
        }
        for b, ss in buckets.items()
    }
    return out
