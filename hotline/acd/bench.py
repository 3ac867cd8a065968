"""Deterministic ACD benchmark: routing decisions per second and decision latency.

Scenario (seeded): ``skills`` skills, ``queues`` queues (mixed strategies and
requirement shapes), ``agents`` agents each serving 3 queues, all logged in.  The
system is filled until every agent is busy and ``waiting`` tasks wait.  Then two
regimes are measured, each command timed individually with ``perf_counter_ns``:

* ``busy`` (tasks wait, agents are the bottleneck): an agent completes a task -> the
  engine selects the best waiting task over all its queues and offers it (a routing
  decision); the agent accepts; a new task arrives and is queued (a routing decision:
  no eligible agent).
* ``idle`` (agents wait): with ``waiting`` agents free, a task arrives -> the engine
  selects the best free qualified agent and offers (a routing decision); accept and
  complete follow (completing frees the agent: also a decision, nothing to offer).

A *decision* is one ``new_task`` or ``complete`` command (each runs the routing
algorithm); ``accept`` latency is reported separately.  ``loop_wall_s`` vs
``loop_cpu_s`` per regime shows whether the machine was contended during the run
(wall much larger than CPU time means latencies include preemption).
"""

from __future__ import annotations

import gc
import platform
import random
import time
from typing import Any

from hotline.acd.engine import Engine
from hotline.acd.events import Offer
from hotline.acd.model import AgentConfig, QueueConfig, SkillEntry, Strategy, TaskSpec

_STRATEGIES = [Strategy.LONGEST_IDLE, Strategy.MOST_QUALIFIED, Strategy.FEWEST_TASKS, Strategy.ROUND_ROBIN]


def _pct(sorted_ns: list[int], p: float) -> float:
    if not sorted_ns:
        return 0.0
    i = min(len(sorted_ns) - 1, max(0, round(p / 100 * (len(sorted_ns) - 1))))
    return sorted_ns[i] / 1000.0  # microseconds


def _summary(lat_ns: list[int], decisions: int) -> dict[str, Any]:
    s = sorted(lat_ns)
    total = sum(s)
    return {
        "commands": len(s),
        "offers": decisions,
        "decisions_per_s": round(len(s) / (total / 1e9), 1) if total else 0.0,
        "p50_us": round(_pct(s, 50), 1),
        "p99_us": round(_pct(s, 99), 1),
        "max_us": round(s[-1] / 1000.0, 1) if s else 0.0,
    }


def run_bench(
    agents: int = 5000,
    skills: int = 200,
    queues: int = 100,
    waiting: int = 1000,
    seed: int = 0,
    operations: int = 20000,
) -> dict[str, Any]:
    """Run the benchmark and return a JSON-serialisable dict (see module docstring)."""
    if min(agents, skills, queues) < 1 or waiting < 0 or operations < 1:
        raise ValueError("agents, skills, queues, operations must be >= 1 and waiting >= 0")
    rng = random.Random(seed)
    skill_names = [f"s{i}" for i in range(skills)]
    qcfgs: list[QueueConfig] = []
    qskills: list[tuple[str, str, str]] = []
    for i in range(queues):
        a, b, c = (skill_names[(i * 7 + k * 13) % skills] for k in range(3))
        qskills.append((a, b, c))
        req = f"{a}>=2" if i % 3 else f"{a}>=2 AND ({b} OR {c})"
        qcfgs.append(
            QueueConfig(
                f"q{i}",
                strategy=_STRATEGIES[i % len(_STRATEGIES)],
                requirements=req,
                ring_timeout=20.0,
                wrap_up=0.0,
                pause_after_task=0.0,
                priority_aging=0.1 if i % 5 == 0 else 0.0,
            )
        )
    eng = Engine(skills=skill_names, queues=qcfgs, seed=seed)
    t0 = time.perf_counter()
    for n in range(agents):
        served = rng.sample(range(queues), k=min(3, queues))
        resume: dict[str, SkillEntry | int] = {}
        for qi in served:
            a, b, c = qskills[qi]
            resume[a] = SkillEntry(rng.randint(2, 9), rng.randint(1, 9))
            resume[rng.choice((b, c))] = rng.randint(1, 9)
        for s in rng.sample(skill_names, k=min(2, skills)):
            resume.setdefault(s, rng.randint(1, 9))
        eng.add_agent(AgentConfig(f"a{n}", skills=resume, queues=tuple(f"q{qi}" for qi in served)))
        eng.login(f"a{n}", 0.0, ready=True)
    now = 0.0
    seq = 0
    task_agent: dict[str, str] = {}
    agent_task: dict[str, str] = {}

    def accept_all(ds: list[Any], lat: list[int] | None = None) -> int:
        n_off = 0
        for d in ds:
            if isinstance(d, Offer):
                n_off += 1
                t = time.perf_counter_ns()
                eng.accept(d.agent_id, d.task_id, now)
                if lat is not None:
                    lat.append(time.perf_counter_ns() - t)
                task_agent[d.task_id] = d.agent_id
                agent_task[d.agent_id] = d.task_id
        return n_off

    def new_spec() -> TaskSpec:
        nonlocal seq
        seq += 1
        return TaskSpec(f"t{seq}", f"q{rng.randrange(queues)}", priority=rng.choice((0, 0, 0, 10, 50)))

    # fill: every agent busy and `waiting` tasks in line
    while len(eng.live_task_ids) - len(agent_task) < waiting or len(agent_task) < agents:
        now += 0.001
        accept_all(eng.new_task(new_spec(), now))
        if seq > 20 * (agents + waiting):
            break  # unreachable agents (skill mismatch); stop filling
        if seq % 1000 == 0:
            eng.pop_events()
    eng.pop_events()
    setup_s = time.perf_counter() - t0
    busy_agents = sorted(agent_task, key=lambda x: int(x[1:]))

    gc.collect()
    gc.disable()
    try:
        # --- busy regime
        w0, c0 = time.perf_counter(), time.process_time()
        lat: list[int] = []
        acc_lat: list[int] = []
        offers = 0
        for i in range(operations // 2):
            now += 0.001
            aid = busy_agents[rng.randrange(len(busy_agents))]
            tid = agent_task.get(aid)
            if tid is None:
                continue
            t = time.perf_counter_ns()
            ds = eng.complete(aid, tid, now)
            lat.append(time.perf_counter_ns() - t)
            del agent_task[aid]
            del task_agent[tid]
            offers += accept_all(ds, acc_lat)
            t = time.perf_counter_ns()
            ds = eng.new_task(new_spec(), now)
            lat.append(time.perf_counter_ns() - t)
            offers += accept_all(ds, acc_lat)
            if i % 512 == 0:
                eng.pop_events()
        busy = _summary(lat, offers)
        busy["loop_wall_s"] = round(time.perf_counter() - w0, 3)
        busy["loop_cpu_s"] = round(time.process_time() - c0, 3)
        busy["waiting_at_end"] = len(eng.live_task_ids) - len(agent_task)

        # --- drain to the idle regime: drop the waiting line, then free `waiting` agents
        eng.pop_events()
        now += 0.001
        for wt in [t for t in eng.live_task_ids if t not in task_agent]:
            eng.abandon(wt, now)
        target_busy = max(0, agents - max(waiting, 1))
        for aid in busy_agents:
            if len(agent_task) <= target_busy:
                break
            tid = agent_task.pop(aid, None)
            if tid is not None:
                del task_agent[tid]
                now += 0.001
                eng.complete(aid, tid, now)
        eng.pop_events()

        # --- idle regime
        w0, c0 = time.perf_counter(), time.process_time()
        lat2: list[int] = []
        offers2 = 0
        for i in range(operations // 2):
            now += 0.001
            t = time.perf_counter_ns()
            ds = eng.new_task(new_spec(), now)
            lat2.append(time.perf_counter_ns() - t)
            offers2 += accept_all(ds, acc_lat)
            # complete a random busy agent's task to keep the free pool stable
            if agent_task:
                for _ in range(20):  # pick a busy agent (keeps the free pool roughly stable)
                    aid = busy_agents[rng.randrange(len(busy_agents))]
                    tid = agent_task.get(aid)
                    if tid is not None:
                        break
                if tid is not None:
                    now += 0.001
                    t = time.perf_counter_ns()
                    ds = eng.complete(aid, tid, now)
                    lat2.append(time.perf_counter_ns() - t)
                    del agent_task[aid]
                    del task_agent[tid]
                    offers2 += accept_all(ds, acc_lat)
            if i % 512 == 0:
                eng.pop_events()
        idle = _summary(lat2, offers2)
        idle["loop_wall_s"] = round(time.perf_counter() - w0, 3)
        idle["loop_cpu_s"] = round(time.process_time() - c0, 3)
        idle["free_agents_at_end"] = agents - len(agent_task)
    finally:
        gc.enable()

    all_lat = sorted(lat + lat2)
    overall = _summary(all_lat, offers + offers2)
    acc = sorted(acc_lat)
    return {
        "bench": "acd",
        "agents": agents,
        "skills": skills,
        "queues": queues,
        "waiting": waiting,
        "seed": seed,
        "operations": len(all_lat),
        "setup_s": round(setup_s, 2),
        "decisions_per_s": overall["decisions_per_s"],
        "p50_us": overall["p50_us"],
        "p99_us": overall["p99_us"],
        "max_us": overall["max_us"],
        "busy_regime": busy,
        "idle_regime": idle,
        "accept_p50_us": round(_pct(acc, 50), 1),
        "accept_p99_us": round(_pct(acc, 99), 1),
        "targets": {"decisions_per_s": 20000, "p99_us": 200},
        "meets_targets": overall["decisions_per_s"] >= 20000 and overall["p99_us"] <= 200,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
