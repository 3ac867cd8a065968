"""The queue event log is enough to recompute the live queue statistics (how reports work), on
SQLite and PostgreSQL: an ACD day (answers, an abandon, a ring-no-answer, a max-wait exit, agents
changing state) is run through the real AcdService, then replayed from the stored rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hotline.acd import TaskSpec
from hotline.acd.stats import QueueStats
from hotline.cti.acdservice import AcdService
from hotline.cti.eventlog import EventLog, replay
from hotline.seed import seed_demo
from hotline.store.db import transaction
from hotline.store.models import QueueDef, QueueEvent, User

FIELDS = ("offered", "answered", "answered_within", "abandoned", "abandoned_after", "exited",
          "overflowed_out", "asa", "aht", "available", "busy", "wrap_up", "not_ready", "logged_in")  # fmt: skip


async def test_queue_statistics_recomputed_from_the_log(factory: Any) -> None:
    async with transaction(factory) as s:
        await seed_demo(s)
        q = await s.scalar(select(QueueDef).where(QueueDef.name == "general"))
        assert q is not None
        q.settings = {**q.settings, "ring_timeout": 10, "wrap_up": 5, "max_wait": 90, "priority_rules": []}
        ids = {u.username: u.id for u in await s.scalars(select(User))}
    now = [1000.0]
    log = EventLog(factory)
    acd = AcdService(factory, log, clock=lambda: now[0])
    await acd.load()
    tid = 1

    def at(t: float) -> None:
        now[0] = 1000.0 + t
        acd.apply(tid, lambda e, n: e.tick(n))

    li, zhang = (acd.agent(tid, ids[n]) for n in ("li.na", "zhang.wei"))
    acd.login(li, "1001", ready=True)
    acd.login(zhang, "1002", ready=False)
    for i, t in enumerate((1, 2, 3, 4)):
        at(t)
        acd.new_task(tid, TaskSpec(f"c{i}", "general"))
    # c0 offered to li.na at once: she answers at 5 s (wait 4 s) and talks 60 s
    at(5)
    acd.apply(tid, lambda e, n: e.accept(li.agent_id, "c0", n))
    at(8)
    acd.set_ready(zhang)  # c1 rings zhang.wei, who does not answer: RONA after 10 s
    at(19)
    at(20)
    acd.apply(tid, lambda e, n: e.abandon("c2", n))  # the caller of c2 gives up after 18 s
    at(65)
    acd.apply(tid, lambda e, n: e.complete(li.agent_id, "c0", n))
    at(71)  # wrap-up over: li.na takes c1 (offered), answers
    offered = acd.tenant(tid).engine.agent_offers(li.agent_id)
    acd.apply(tid, lambda e, n: e.accept(li.agent_id, offered[0], n))
    at(100)  # c3 waited past max_wait: exit (voicemail)
    at(130)
    acd.apply(tid, lambda e, n: e.complete(li.agent_id, offered[0], n))
    acd.set_not_ready(zhang, "lunch")
    at(140)
    await log.flush()

    live = acd.tenant(tid).stats.snapshot("general", now[0])
    async with factory() as s:
        rows = [
            {"event": r.event, "call_id": r.call_id, "queue": r.queue, "agent_id": r.agent_id, "data": r.data}
            for r in await s.scalars(select(QueueEvent).order_by(QueueEvent.id))
        ]
    again = QueueStats(default_aht=120.0)
    again.consume(replay(rows))
    recomputed = again.snapshot("general", now[0])
    assert live.offered == 4 and live.answered == 2 and live.abandoned == 1 and live.exited == 1, live
    assert {f: getattr(recomputed, f) for f in FIELDS} == {f: getattr(live, f) for f in FIELDS}
    names = [r["event"] for r in rows]
    assert names.count("offer_withdrawn") == 1 and "exit" in names and "agent_login" in names
