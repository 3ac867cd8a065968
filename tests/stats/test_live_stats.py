"""The statistics reducer on hand-written event sequences, with the numbers worked out by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from hotline.cti.stats import DEFAULT_THRESHOLDS, LiveStats, StatEvent, check_thresholds, iso, levels

SH = ZoneInfo("Asia/Shanghai")


def at(h: int, m: int, s: float = 0.0, day: int = 23) -> float:
    return datetime(2026, 11, day, h, m, tzinfo=SH).timestamp() + s


def ev(
    type: str, t: float, call: str = "", queue: str = "", agent: int | None = None, **data: Any
) -> StatEvent:
    return StatEvent(type, t, call, queue, agent, data)


def state(
    t: float, agent: int, old: str, new: str, reason: str | None = None, queues: tuple[str, ...] = ("q",)
) -> StatEvent:
    return ev("agent_state", t, agent=agent, old=old, new=new, reason=reason, queues=list(queues))


def call(
    live: LiveStats, cid: str, q: str, start: float, outcome: str, wait: float, agent: int | None = None
) -> None:
    live.consume(ev("enter_queue", start, cid, q, caller="139" + cid))
    end = start + wait
    if outcome == "answered":
        live.consume(ev("connect", end, cid, q, agent, wait=wait, total_wait=wait))
    elif outcome == "abandoned":
        live.consume(ev("abandon", end, cid, q, wait=wait))
    elif outcome == "exited":
        live.consume(ev("exit", end, cid, q, reason="max_wait", wait=wait))
    elif outcome == "overflowed":
        live.consume(
            ev("overflow", end, cid, q, from_queue=q, to_queue="other", reason="overflow", wait=wait)
        )


def test_service_level_asa_and_counts() -> None:
    live = LiveStats("Asia/Shanghai", thresholds={"q": 20.0})
    call(live, "c1", "q", at(10, 0), "answered", 5.0, 1)  # within
    call(live, "c2", "q", at(10, 1), "answered", 20.0, 1)  # within (wait ≤ T)
    call(live, "c3", "q", at(10, 2), "answered", 35.0, 1)  # late
    call(live, "c4", "q", at(10, 3), "abandoned", 3.0)  # short abandon: out of the SL
    call(live, "c5", "q", at(10, 4), "abandoned", 40.0)
    call(live, "c6", "q", at(10, 5), "exited", 90.0)
    call(live, "c7", "q", at(10, 6), "overflowed", 30.0)  # counted in the other queue
    live.consume(ev("enter_queue", at(10, 10), "c8", "q"))  # waiting 30 s at 10:10:30: a miss already
    live.consume(ev("enter_queue", at(10, 10, 25), "c9", "q"))  # waiting 5 s: undecided
    now = at(10, 10, 30)
    s = live.queue_stats("q", now)
    assert (s["offered"], s["answered"], s["answered_within"]) == (9, 3, 2)
    assert (s["abandoned"], s["short_abandoned"], s["exited"], s["overflowed"]) == (2, 1, 1, 1)
    assert s["waiting"] == 2 and s["longest_wait"] == 30.0
    # 2 within ÷ (3 answered + 1 long abandon + 1 exit + 1 waiting > 20 s)
    assert s["sl"] == round(2 / 6, 4)
    assert s["asa"] == round((5 + 20 + 35) / 3, 1)
    # the current interval is 10:00–10:15: the same calls
    assert s["sl_interval"] == s["sl"] and s["interval_offered"] == 9
    assert s["interval_start"] == iso(at(10, 0))


def test_aht_is_talk_hold_and_wrap_up_over_handled() -> None:
    live = LiveStats()
    live.consume(state(at(9, 0), 7, "logged_out", "available"))
    call(live, "c1", "q", at(9, 1), "answered", 4.0, 7)
    live.consume(state(at(9, 1, 4), 7, "reserved", "busy"))
    live.consume(ev("complete", at(9, 3, 4), "c1", "q", 7, handle_time=120.0))
    live.consume(state(at(9, 3, 4), 7, "busy", "wrap_up"))
    live.consume(state(at(9, 3, 34), 7, "wrap_up", "available"))  # 30 s of wrap-up
    call(live, "c2", "q", at(9, 10), "answered", 2.0, 7)
    live.consume(ev("complete", at(9, 11), "c2", "q", 7, handle_time=58.0))
    live.consume(state(at(9, 11), 7, "busy", "wrap_up"))
    now = at(9, 11, 10)  # still in wrap-up: counted when it ends
    assert live.queue_stats("q", now)["aht"] == (120 + 30 + 58) / 2
    a = live.agent_stats(7, now)
    assert a["handled"] == 2 and a["aht"] == (120 + 30 + 58) / 2 and a["state"] == "wrap_up"
    live.consume(state(at(9, 11, 20), 7, "wrap_up", "not_ready", "lunch"))
    a = live.agent_stats(7, at(9, 12))
    assert a["aht"] == (120 + 30 + 58 + 20) / 2 and a["reason"] == "lunch" and a["call_id"] is None


def test_agent_document_follows_the_call() -> None:
    live = LiveStats()
    live.consume(ev("agent_login", at(8, 0), agent=3, extension="1003"))
    live.consume(state(at(8, 0), 3, "logged_out", "available", queues=("q", "r")))
    live.consume(ev("enter_queue", at(8, 1), "c1", "r", caller="13912340001"))
    live.consume(ev("offer", at(8, 1), "c1", "r", 3))
    live.consume(state(at(8, 1), 3, "available", "reserved", queues=("q", "r")))
    a = live.agent_stats(3, at(8, 1, 5))
    assert (a["state"], a["call_id"], a["queue"], a["caller"], a["extension"]) == (
        "reserved", "c1", "r", "13912340001", "1003",
    )  # fmt: skip
    assert live.queue_stats("r", at(8, 1, 5))["agents"] == {
        "logged_in": 1, "ready": 0, "ringing": 1, "busy": 0, "wrap_up": 0, "not_ready": 0,
    }  # fmt: skip
    live.consume(ev("offer_withdrawn", at(8, 1, 15), "c1", "r", 3, reason="rona"))
    live.consume(state(at(8, 1, 15), 3, "reserved", "not_ready", "rona", queues=("q", "r")))
    a = live.agent_stats(3, at(8, 2))
    assert a["call_id"] is None and a["reason"] == "rona"
    assert a["since"] == iso(at(8, 1, 15))


def test_a_new_day_starts_at_local_midnight() -> None:
    live = LiveStats("Asia/Shanghai")
    call(live, "c1", "q", at(23, 50), "answered", 10.0, 1)
    live.consume(ev("enter_queue", at(23, 59, 50), "c2", "q"))  # answered after midnight
    live.consume(ev("complete", at(23, 55), "c1", "q", 1, handle_time=60.0))
    assert live.queue_stats("q", at(23, 59, 55))["offered"] == 2
    live.consume(ev("connect", at(0, 0, 15, day=24), "c2", "q", 1, wait=25.0))
    call(live, "c3", "q", at(0, 1, day=24), "abandoned", 8.0)
    s = live.queue_stats("q", at(0, 2, day=24))
    assert (s["offered"], s["answered"], s["abandoned"], s["handled"]) == (1, 0, 1, 0)
    # c2 belongs to yesterday's last interval, answered late
    rows = {r["start"]: r for r in live.intervals(at(0, 2, day=24), 1)}
    last = rows[iso(at(23, 45))]
    assert (last["offered"], last["answered"], last["sl"]) == (2, 2, 0.5)
    # without any event the day still turns over when asked
    assert live.queue_stats("q", at(0, 0, day=25))["offered"] == 0


def test_intervals_follow_the_local_clock() -> None:
    kolkata = LiveStats("Asia/Kolkata")  # UTC+5:30: local quarter hours
    t = datetime(2026, 11, 23, 10, 7, tzinfo=ZoneInfo("Asia/Kolkata")).timestamp()
    assert datetime.fromtimestamp(kolkata.bucket_of(t), ZoneInfo("Asia/Kolkata")).strftime("%H:%M") == "10:00"
    kolkata.consume(ev("enter_queue", t, "c1", "q"))
    rows = kolkata.intervals(t + 3600, 2)
    assert len(rows) == 9 and sum(r["offered"] for r in rows) == 1
    assert [r["start"][11:16] for r in rows][:2] == ["03:30", "03:45"]  # UTC of 09:00, 09:15 local


def test_requeued_answered_call_is_a_new_entry_and_reconcile_drops_lost_calls() -> None:
    live = LiveStats()
    call(live, "c1", "q", at(11, 0), "answered", 3.0, 1)
    live.consume(ev("requeue", at(11, 2), "c1", "q", reason="agent_requeue"))
    live.consume(ev("enter_queue", at(11, 3), "c2", "q"))
    assert live.queue_stats("q", at(11, 4))["offered"] == 3
    live.reconcile(live_calls=["c2"], agents={1: ("logged_out", None)})
    s = live.queue_stats("q", at(11, 4))
    assert s["waiting"] == 1 and live.agent_stats(1, at(11, 4))["state"] == "logged_out"


def test_thresholds_and_levels() -> None:
    assert check_thresholds({}) == DEFAULT_THRESHOLDS
    thr = check_thresholds({"waiting": [2, 4], "longest_wait": [30, 60], "sl": [0.9, 0.7]})
    doc = {"waiting": 3, "longest_wait": 61.0, "sl": 0.95}
    assert levels(doc, thr) == {"waiting": "warn", "longest_wait": "alarm", "sl": "ok"}
    assert levels({"waiting": 0, "longest_wait": 0, "sl": 0.5}, thr)["sl"] == "alarm"
    assert levels({"waiting": 0, "longest_wait": 0, "sl": None}, thr)["sl"] == "ok"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"waiting": [5, 2]}, "waiting: warn must be ≤ alarm"),
        ({"sl": [0.5, 0.8]}, "sl: warn must be ≥ alarm"),
        ({"sl": [80, 60]}, "sl: service levels are fractions"),
        ({"longest_wait": [-1, 5]}, "longest_wait: numbers must be ≥ 0"),
        ({"waiting": [1]}, "waiting: must be [warn, alarm]"),
        ({"colour": [1, 2]}, "colour: unknown threshold"),
    ]
    for bad, msg in cases:
        with pytest.raises(ValueError, match=msg.replace("[", r"\[").replace("]", r"\]")):
            check_thresholds(bad)
