"""The event hub without sockets: sequence numbers, the replay buffer, readers, who sees what."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.auth.policy import Grant, Perm, Principal, Role, Scope
from hotline.cti.events import Audience, EventHub, Reader

T = 1


class Paths:
    """A locator over dicts: agent id -> unit path, queue -> unit path."""

    def __init__(self, agents: dict[int, str], queues: dict[str, str]) -> None:
        self.agents, self.queues = agents, queues

    def agent_path(self, tenant_id: int, agent_id: int) -> str | None:
        return self.agents.get(agent_id)

    def queue_path(self, tenant_id: int, queue: str) -> str | None:
        return self.queues.get(queue)

    def unit_path(self, tenant_id: int, unit_id: int) -> str | None:
        return {3: NJ, 4: SZ}.get(unit_id)


NJ, SZ = "/1/2/3/", "/1/2/4/"
LOC = Paths({10: NJ, 11: NJ, 20: SZ}, {"general": NJ, "sz": SZ})


def who(uid: int, *grants: tuple[Role, Scope, str], tenant: int = T) -> Principal:
    return Principal(
        user_id=uid,
        tenant_id=tenant,
        username=f"u{uid}",
        unit_id=0,
        grants=tuple(Grant(r, s, 0, p) for r, s, p in grants),
    )


ADMIN = who(1, (Role.ADMIN, Scope.TENANT, "/1/"))
NJ_BOSS = who(2, (Role.SUPERVISOR, Scope.SUBTREE, NJ))
SZ_BOSS = who(3, (Role.SUPERVISOR, Scope.SUBTREE, SZ))
OWN_10 = who(10, (Role.AGENT, Scope.OWN, NJ))
OWN_11 = who(11, (Role.AGENT, Scope.OWN, NJ))


def texts(r: Reader) -> list[dict[str, object]]:
    return [json.loads(t) for t in r.take()]


def test_sequence_buffer_and_since() -> None:
    hub = EventHub(buffer=3)
    assert hub.last_seq(T) == 0 and hub.since(T, 0) == []
    for i in range(5):
        hub.publish(T, "x", data={"i": i})
    hub.publish(2, "x")
    assert hub.last_seq(T) == 5 and hub.last_seq(2) == 1
    got = hub.since(T, 2)
    assert got is not None and [e.seq for e in got] == [3, 4, 5]
    assert hub.since(T, 1) is None  # seq 2 is gone
    assert hub.since(T, 5) == []
    assert hub.since(T, 6) is None  # from the future: another run
    e = got[0]
    assert json.loads(e.text) == e.envelope()


def test_buffer_bounded_by_bytes_too() -> None:
    hub = EventHub(buffer=100, buffer_bytes=2000)
    for _ in range(10):
        hub.publish(T, "stats", data={"rows": "x" * 500})
    kept = hub._recent[T]
    assert 2 <= len(kept) <= 3 and sum(len(e.text) for e in kept) <= 2000
    assert kept[-1].seq == 10 and hub.since(T, 1) is None
    hub.publish(T, "big", data={"rows": "y" * 5000})  # larger than the budget: kept alone
    assert [e.type for e in hub._recent[T]] == ["big"]
    assert [e.seq for e in hub.since(T, 10) or []] == [11]


def test_encoded_once_and_shared() -> None:
    hub = EventHub(locator=LOC)
    a, b = Reader(ADMIN), Reader(NJ_BOSS)
    hub.subscribe(a)
    hub.subscribe(b)
    ev = hub.publish(T, "agent_state", agent_id=10, data={"new": "busy", "名": "李娜"})
    fa, fb = a.take(), b.take()
    assert fa == fb == [ev.text] and fa[0] is fb[0] is ev.text
    assert "李娜" in ev.text  # UTF-8 kept


def test_scope_routing() -> None:
    hub = EventHub(locator=LOC)
    readers = {p.user_id: Reader(p) for p in (ADMIN, NJ_BOSS, SZ_BOSS, OWN_10, OWN_11)}
    for r in readers.values():
        hub.subscribe(r)
    hub.publish(T, "agent_state", agent_id=10)
    hub.publish(T, "agent_state", agent_id=20)
    hub.publish(T, "enter_queue", call_id="c1", queue="sz")
    hub.publish(T, "offer", call_id="c2", queue="general", agent_id=11)
    hub.publish(T, "message", users=[10, 3])
    hub.publish(T, "tick")  # tenant-wide
    hub.publish(2, "agent_state", agent_id=10)  # another tenant
    seen = {
        uid: [(f["type"], f["agent_id"] or f["call_id"] or None) for f in texts(r)]
        for uid, r in readers.items()
    }
    assert seen[1] == [
        ("agent_state", 10),
        ("agent_state", 20),
        ("enter_queue", "c1"),
        ("offer", 11),
        ("tick", None),
    ]  # the message was for users 10 and 3 only
    assert seen[2] == [("agent_state", 10), ("offer", 11)]
    assert seen[3] == [("agent_state", 20), ("enter_queue", "c1"), ("message", None)]
    assert seen[10] == [("agent_state", 10), ("message", None)]
    assert seen[11] == [("offer", 11)]


def test_silent_listening_is_hidden_from_the_agent() -> None:
    hub = EventHub(locator=LOC)
    nj_agent = who(12, (Role.AGENT, Scope.SUBTREE, NJ))  # call.read over the whole unit
    readers = {p.user_id: Reader(p) for p in (NJ_BOSS, SZ_BOSS, OWN_11, nj_agent)}
    for r in readers.values():
        hub.subscribe(r)
    for mode in ("listen", "whisper"):
        hub.publish(T, "supervise", call_id="c2", queue="general", agent_id=11, data={"mode": mode})
    seen = {uid: [f["data"]["mode"] for f in texts(r)] for uid, r in readers.items()}  # type: ignore[index]
    assert seen == {2: ["listen", "whisper"], 3: [], 11: ["whisper"], 12: ["whisper"]}
    listen = hub.since(T, 0)
    assert listen is not None
    assert hub.frame_for(readers[11], listen[0]) is None and hub.frame_for(readers[2], listen[0])


def test_readers_skip_the_types_they_do_not_want() -> None:
    hub = EventHub(locator=LOC)
    desk = Reader(OWN_10, skip=frozenset({"stats"}))
    board = Reader(NJ_BOSS)
    for r in (desk, board):
        hub.subscribe(r)
    hub.publish(T, "stats", data={"queues": [], "agents": [{"agent_id": 10, "state": "ready"}]})
    hub.publish(T, "agent_state", agent_id=10)
    hub.publish(T, "stats", users=[10], data={"queues": [], "agents": []})
    assert [f["type"] for f in texts(desk)] == ["agent_state"]
    assert [f["type"] for f in texts(board)] == ["stats", "agent_state"]
    replay = hub.since(T, 0)
    assert replay is not None and hub.frame_for(desk, replay[0]) is None


def test_frame_for_matches_fan_out() -> None:
    hub = EventHub(locator=LOC)
    readers = [Reader(p) for p in (ADMIN, NJ_BOSS, SZ_BOSS, OWN_10, OWN_11)]
    for r in readers:
        hub.subscribe(r)
    events = [
        hub.publish(T, "agent_state", agent_id=10),
        hub.publish(T, "enter_queue", call_id="c1", queue="sz"),
        hub.publish(T, "offer", call_id="c2", queue="general", agent_id=11),
        hub.publish(T, "message", users=[10]),
        hub.publish(T, "stats", data={"queues": [{"queue": "sz"}], "agents": [{"agent_id": 10}]}),
    ]
    for r in readers:
        live = r.take()
        replayed = [t for e in events if (t := hub.frame_for(r, e)) is not None]
        assert live == replayed


def test_stats_rows_filtered_per_reader() -> None:
    hub = EventHub(locator=LOC)
    readers = {p.user_id: Reader(p) for p in (ADMIN, NJ_BOSS, SZ_BOSS, OWN_10, OWN_11)}
    for r in readers.values():
        hub.subscribe(r)
    hub.publish(
        T,
        "stats",
        data={
            "queues": [{"queue": "general", "waiting": 1}, {"queue": "sz", "waiting": 2}],
            "agents": [{"agent_id": 10, "state": "busy"}, {"agent_id": 20, "state": "ready"}],
        },
    )

    def rows(uid: int) -> tuple[list[object], list[object]] | None:
        got = texts(readers[uid])
        if not got:
            return None
        d = got[0]["data"]
        assert isinstance(d, dict)
        return [q["queue"] for q in d["queues"]], [a["agent_id"] for a in d["agents"]]

    assert rows(1) == (["general", "sz"], [10, 20])
    assert rows(2) == (["general"], [10])
    assert rows(3) == (["sz"], [20])
    assert rows(10) == ([], [10])
    assert rows(11) is None  # nothing of it is theirs: not sent


def test_reader_overflow_drops_the_backlog() -> None:
    hub = EventHub()
    r = Reader(ADMIN, limit=3)
    hub.subscribe(r)
    for _ in range(3):
        hub.publish(T, "x")
    assert len(r.frames) == 3 and not r.overflowed
    hub.publish(T, "x")
    assert r.overflowed and not r.frames and r.dropped == 4
    hub.publish(T, "x")
    assert not r.frames and r.dropped == 5
    r.resync(hub.last_seq(T))
    hub.publish(T, "x")
    assert [json.loads(t)["seq"] for t in r.take()] == [6]
    r.control('{"type":"pong"}')
    assert r.take() == ['{"type":"pong"}']
    hub.unsubscribe(r)
    hub.publish(T, "x")
    assert not r.frames


def test_sees_own_and_group() -> None:
    hub = EventHub(locator=LOC)
    r = Reader(OWN_10)
    assert hub.sees(r, Audience(Perm.AGENT_READ, "agent", NJ, 10))
    assert not hub.sees(r, Audience(Perm.AGENT_READ, "agent", NJ, 11))
    assert hub.sees(Reader(NJ_BOSS), Audience(Perm.AGENT_READ, "agent", NJ, 11))


def test_work_order_events_follow_the_orders_unit_and_handler() -> None:
    hub = EventHub(locator=LOC)
    handler = who(12, (Role.HANDLER, Scope.OWN, NJ))
    readers = {p.user_id: Reader(p) for p in (ADMIN, NJ_BOSS, SZ_BOSS, handler)}
    for r in readers.values():
        hub.subscribe(r)
    hub.publish(T, "ticket", data={"id": 1, "unit_id": 3, "handler_id": 12})
    hub.publish(T, "ticket_deadline", data={"id": 2, "unit_id": 4, "handler_id": None})
    hub.publish(T, "incident", data={"outage_id": 5})  # no unit: tenant-wide
    seen = {uid: [(f["type"], f["data"].get("id")) for f in texts(r)] for uid, r in readers.items()}
    assert seen[1] == [("ticket", 1), ("ticket_deadline", 2), ("incident", None)]
    assert seen[2] == [("ticket", 1)]
    assert seen[3] == [("ticket_deadline", 2)]
    assert seen[12] == [("ticket", 1)]


# -- the resume property ------------------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("publish"), st.integers(1, 12)),
        st.tuples(st.just("disconnect"), st.just(0)),
        st.tuples(st.just("reconnect"), st.just(0)),
        st.tuples(st.just("drain"), st.just(0)),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ops=ops, buffer=st.integers(1, 20), limit=st.integers(1, 15))
def test_resume_gets_exactly_what_was_missed_or_a_snapshot(
    ops: list[tuple[str, int]], buffer: int, limit: int
) -> None:
    """Any interleaving of publishes, disconnects, reconnects and (slow) reading: the client's
    view is every event in order, except that a snapshot at seq N may replace events ≤ N — and a
    snapshot comes only when the missed events are really gone from the buffer (or the reader
    fell behind)."""
    hub = EventHub(buffer=buffer)
    reader: Reader | None = None
    last = 0  # the client's last seq (from a snapshot or an event)

    def connect() -> None:
        nonlocal reader, last
        missed = hub.since(T, last)
        if missed is None:
            # a snapshot only when something after `last` is really gone
            assert hub._recent[T][0].seq > last + 1
            last = hub.last_seq(T)
        else:
            assert [e.seq for e in missed] == list(range(last + 1, hub.last_seq(T) + 1))
            if missed:
                last = missed[-1].seq
        reader = Reader(ADMIN, limit=limit)
        hub.subscribe(reader)
        reader.last_seq = hub.last_seq(T)

    def drain() -> None:
        nonlocal last
        assert reader is not None
        if reader.overflowed:
            seq = hub.last_seq(T)
            reader.resync(seq)
            last = seq  # the snapshot
        for text in reader.take():
            seq = json.loads(text)["seq"]
            assert seq == last + 1, (seq, last)
            last = seq

    connect()
    for op, n in ops:
        if op == "publish":
            for _ in range(n):
                hub.publish(T, "x")
        elif op == "disconnect" and reader is not None:
            drain()  # what reached the client before the connection dropped
            hub.unsubscribe(reader)
            reader = None
        elif op == "reconnect" and reader is None:
            connect()
        elif op == "drain" and reader is not None:
            drain()
    if reader is None:
        connect()
    drain()
    assert last == hub.last_seq(T)
