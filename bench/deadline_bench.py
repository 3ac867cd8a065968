"""Deadline scheduler benchmark (pure core, simulated clock): prints one JSON object.

Schedules ``--timers`` timers (one per open ticket; fire times spread over ``--horizon`` seconds,
``--burst`` of them at one instant, as when every order accepted over a weekend falls due at
Monday's opening), reschedules ``--reschedule`` of them (holds, resumes) and cancels ``--cancel``
(steps done), then fires everything in time order. The simulated clock jumps to the next timer
when idle and advances by the real processing time, so ``lag`` (processing time − fire_at) is
what a shell on one core would see. With ``--clock N`` it also times ``TicketClock.fire`` (the due
and escalation computation on the office calendar) for N tickets.

Usage: python bench/deadline_bench.py [--timers 1000000] [--horizon 86400] [--burst 0.05] [--seed 0]
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from datetime import UTC, datetime, timedelta

from hotline.org.calendar import BusinessCalendar, china_2026_public_holidays
from hotline.tickets.deadlines import TicketClock, TimerHeap, TimerRequest, default_policy


def _quantile(xs: list[float], q: float) -> float:
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0.0


def heap_bench(
    n: int, horizon: float, burst: float, reschedule: float, cancel: float, seed: int
) -> dict[str, object]:
    rnd = random.Random(seed)
    base = datetime(2026, 3, 9, 0, 30, tzinfo=UTC).timestamp()
    burst_at = base + horizon / 3
    tickets = [f"T{i:07d}" for i in range(n)]
    fire = [burst_at if rnd.random() < burst else base + rnd.random() * horizon for _ in range(n)]
    reqs = [
        TimerRequest(t, "reply", "due", datetime.fromtimestamp(f, UTC), 1)
        for t, f in zip(tickets, fire, strict=True)
    ]
    heap = TimerHeap()
    gc.disable()
    t0 = time.perf_counter()
    for r in reqs:
        heap.schedule(r)
    schedule_s = time.perf_counter() - t0

    moved = rnd.sample(range(n), int(n * reschedule))
    new = [
        TimerRequest(
            tickets[i], "reply", "due", datetime.fromtimestamp(fire[i] + rnd.random() * 3600, UTC), 2
        )
        for i in moved
    ]
    t0 = time.perf_counter()
    for r in new:
        heap.schedule(r)
    reschedule_s = time.perf_counter() - t0
    gone = rnd.sample(range(n), int(n * cancel))
    t0 = time.perf_counter()
    cancelled = sum(heap.cancel(tickets[i], "reply") for i in gone)
    cancel_s = time.perf_counter() - t0
    live = len(heap)

    sim = base
    fired = 0
    lags: list[float] = []
    busy = 0.0
    last_at = 0.0
    in_order = True
    while True:
        nxt = heap.next_at()
        if nxt is None:
            break
        sim = max(sim, nxt)
        t0 = time.perf_counter()
        batch = heap.due(sim)
        elapsed = time.perf_counter() - t0
        busy += elapsed
        sim += elapsed
        for r in batch:
            at = r.fire_at.timestamp()
            in_order = in_order and at >= last_at
            last_at = at
            lags.append(sim - at)
        fired += len(batch)
    gc.enable()
    lags.sort()
    return {
        "timers": n,
        "schedule_ops_per_s": round(n / schedule_s),
        "reschedule_ops_per_s": round(len(new) / reschedule_s) if new else None,
        "cancel_ops_per_s": round(len(gone) / cancel_s) if gone else None,
        "cancelled": cancelled,
        "live_before_firing": live,
        "fired": fired,
        "fired_all_live_once": fired == live,
        "fired_in_order": in_order,
        "fire_ops_per_s": round(fired / busy) if busy else None,
        "burst_timers": sum(1 for f in fire if f == burst_at),
        "lag_s": {
            "p50": round(_quantile(lags, 0.5), 6),
            "p99": round(_quantile(lags, 0.99), 6),
            "max": round(lags[-1], 6) if lags else 0.0,
        },
    }


def clock_bench(n: int, seed: int) -> dict[str, object]:
    """Complaints' reply deadlines on the office calendar; half are accepted over a weekend, so
    their warnings, due times and escalations fall due at the same instants (opening times)."""
    rnd = random.Random(seed)
    holidays, workdays = china_2026_public_holidays()
    week = {d: [["08:30", "12:00"], ["13:30", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    cal = BusinessCalendar.from_spec(week=week, holidays=holidays, workdays=workdays)
    steps = default_policy().steps_for("complaint", "normal")
    start = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # Monday 09:00 in Beijing
    weekend = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)  # Friday 18:00 in Beijing
    heap = TimerHeap()
    clocks: dict[str, TicketClock] = {}
    t0 = time.perf_counter()
    for i in range(n):
        c = clocks[f"C{i}"] = TicketClock(f"C{i}", steps, cal)
        if i % 2:
            at = weekend + timedelta(seconds=rnd.randint(0, 2 * 86400))
        else:
            at = start + timedelta(seconds=rnd.randint(0, 5 * 86400))
        heap.apply(c.start("reply", at))
    start_s = time.perf_counter() - t0
    fired = events = 0
    busy = 0.0
    lags: list[float] = []
    sim = 0.0
    while (nxt := heap.next_at()) is not None:
        sim = max(sim, nxt)
        t0 = time.perf_counter()
        for timer in heap.due(sim):
            now = datetime.fromtimestamp(sim, UTC)
            dec = clocks[timer.ticket].fire(timer, now)
            events += len(dec.events)
            heap.apply(dec)
            fired += 1
            lags.append(sim + (time.perf_counter() - t0) - timer.fire_at.timestamp())
        elapsed = time.perf_counter() - t0
        busy += elapsed
        sim += elapsed
    lags.sort()
    return {
        "tickets": n,
        "start_per_s": round(n / start_s),
        "fires": fired,
        "events": events,
        "fire_per_s": round(fired / busy),
        "lag_s": {
            "p50": round(_quantile(lags, 0.5), 6),
            "p99": round(_quantile(lags, 0.99), 6),
            "max": round(lags[-1], 6) if lags else 0.0,
        },
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--timers", type=int, default=1_000_000)
    p.add_argument("--horizon", type=float, default=86400.0)
    p.add_argument("--burst", type=float, default=0.05)
    p.add_argument("--reschedule", type=float, default=0.2)
    p.add_argument("--cancel", type=float, default=0.1)
    p.add_argument("--clock", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    out: dict[str, object] = {
        "heap": heap_bench(a.timers, a.horizon, a.burst, a.reschedule, a.cancel, a.seed)
    }
    if a.clock:
        out["clock"] = clock_bench(a.clock, a.seed)
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
