"""Work-order statistics: hand-worked examples of the pure measures, properties (hypothesis), and the
database GROUP BY agreeing with the pure aggregation on SQLite and PostgreSQL; exports."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from hotline.auth.policy import DataScope
from hotline.errors import Invalid
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import Ticket
from hotline.tickets import export
from hotline.tickets import stats as st_
from hotline.tickets.stats import Counts, Facts

SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SH).astimezone(UTC)
START, END = date(2026, 11, 20), date(2026, 11, 22)


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH).astimezone(UTC)


# the hand-worked cohort: 6 orders in 20…22 November (local), two just outside
A, B = 1, 2
EXAMPLE: list[dict[str, Any]] = [
    # 1: replied on time, substantiated, revisited satisfied, one urge
    dict(
        created_at=local(2026, 11, 20, 9),
        unit_id=A,
        type_code="complaint",
        state="revisited",
        replied_at=local(2026, 11, 21, 9),
        substantiated=True,
        satisfaction="satisfied",
        urges=1,
    ),
    # 2: replied late (one hour overdue, finished), a repeat of 1
    dict(
        created_at=local(2026, 11, 20, 23, 30),
        unit_id=A,
        type_code="complaint",
        state="replied",
        replied_at=local(2026, 11, 22, 9),
        substantiated=False,
        overdue=True,
        overdue_seconds=3600.0,
        repeat=True,
    ),
    # 3: local 21st 00:30 (UTC still the 20th), in progress, due 30 minutes ago, escalated once
    dict(
        created_at=local(2026, 11, 21, 0, 30),
        unit_id=B,
        type_code="fault_repair",
        state="in_progress",
        due_at=NOW - timedelta(minutes=30),
        escalations=1,
    ),
    # 4: cancelled
    dict(
        created_at=local(2026, 11, 21, 12),
        unit_id=B,
        type_code="fault_repair",
        state="cancelled",
        closed_at=local(2026, 11, 21, 13),
    ),
    # 5: on hold with a due time in the past: the clock is paused, not overdue
    dict(
        created_at=local(2026, 11, 22, 8),
        unit_id=A,
        type_code="complaint",
        state="on_hold",
        due_at=NOW - timedelta(hours=2),
        held=True,
    ),
    # 6: replied on time, revisited dissatisfied, two urges
    dict(
        created_at=local(2026, 11, 22, 23, 59),
        unit_id=B,
        type_code="fault_repair",
        state="revisited",
        replied_at=local(2026, 11, 23, 8),
        satisfaction="dissatisfied",
        urges=2,
    ),
]
OUTSIDE: list[dict[str, Any]] = [
    dict(created_at=local(2026, 11, 19, 23, 59), unit_id=A, type_code="complaint", state="accepted"),
    dict(created_at=local(2026, 11, 23, 0, 0), unit_id=A, type_code="complaint", state="accepted"),
]


def facts(rows: list[dict[str, Any]]) -> list[Facts]:
    return [Facts(**r) for r in rows]


def test_measures_by_hand() -> None:
    t = st_.total(st_.aggregate(facts(EXAMPLE), NOW))
    assert t == Counts(
        accepted=6,
        withdrawn=1,
        handled=3,
        pending=2,
        overdue=2,
        overdue_seconds=3600.0 + 1800.0,
        on_time=2,
        substantiated=1,
        repeat=1,
        revisited=2,
        satisfied=1,
        basically_satisfied=0,
        dissatisfied=1,
        urges=3,
        escalations=1,
    )
    r = st_.rates(t)
    assert r.reply_rate == pytest.approx(3 / 5)
    assert r.on_time_rate == pytest.approx(2 / 3)
    assert r.satisfaction_rate == pytest.approx(1 / 2)
    assert r.substantiated_rate == pytest.approx(1 / 3)
    assert r.overdue_avg_seconds == pytest.approx(2700.0)
    assert st_.rates(Counts()).reply_rate is None


def test_groups_by_hand() -> None:
    starts = st_.buckets(START, END, "day", SH)
    assert [label for label, _ in starts] == ["2026-11-20", "2026-11-21", "2026-11-22"]
    assert starts[1][1] == datetime(2026, 11, 20, 16, 0, tzinfo=UTC)
    by_day = st_.aggregate(facts(EXAMPLE), NOW, ("day",), starts)
    assert {k[0]: c.accepted for k, c in by_day.items()} == {
        "2026-11-20": 2,
        "2026-11-21": 2,
        "2026-11-22": 2,
    }
    assert by_day[("2026-11-21", None, None)].overdue_seconds == pytest.approx(1800.0)
    by_unit_type = st_.aggregate(facts(EXAMPLE), NOW, ("unit", "type"))
    assert set(by_unit_type) == {(None, A, "complaint"), (None, B, "fault_repair")}
    a = by_unit_type[(None, A, "complaint")]
    assert (a.accepted, a.handled, a.on_time, a.overdue, a.repeat) == (3, 2, 1, 1, 1)
    months = st_.buckets(date(2026, 11, 15), date(2027, 2, 3), "month", SH)
    assert [label for label, _ in months] == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert months[0][1] == datetime(2026, 11, 14, 16, 0, tzinfo=UTC)


def test_roll_up() -> None:
    assert st_.ancestor_at("/1/4/9/", 0) == 1
    assert st_.ancestor_at("/1/4/9/", 1) == 4
    assert st_.ancestor_at("/1/4/", 3) == 4  # not that deep: itself
    groups = st_.aggregate(facts(EXAMPLE), NOW, ("unit", "type"))
    merged = st_.roll_up(groups, {A: 7, B: 7})
    assert set(merged) == {(None, 7, "complaint"), (None, 7, "fault_repair")}
    assert st_.total(merged) == st_.total(groups)


def test_bad_requests() -> None:
    with pytest.raises(Invalid, match="unknown grouping"):
        st_.check_groups(["unit", "colour"])
    with pytest.raises(Invalid, match="not both"):
        st_.check_groups(["day", "month"])
    assert st_.check_groups(["type", " ", "unit", "type"]) == ("type", "unit")
    with pytest.raises(Invalid) as e:
        st_.period_bounds(END, START, SH)
    assert e.value.field == "to"
    with pytest.raises(Invalid, match="at most"):
        st_.period_bounds(date(2020, 1, 1), date(2026, 1, 1), SH)
    with pytest.raises(Invalid, match="by day"):
        st_.buckets(date(2025, 1, 1), date(2026, 6, 1), "day", SH)


_aware = st.datetimes(min_value=datetime(2026, 11, 1), max_value=datetime(2026, 12, 31)).map(
    lambda d: d.replace(tzinfo=UTC)
)
_facts = st.builds(
    Facts,
    created_at=_aware,
    unit_id=st.sampled_from([1, 2, 3]),
    type_code=st.sampled_from(["complaint", "fault_repair"]),
    state=st.sampled_from(
        ["accepted", "in_progress", "on_hold", "replied", "revisited", "cancelled", "merged"]
    ),
    replied_at=st.none() | _aware,
    substantiated=st.none() | st.booleans(),
    overdue=st.booleans(),
    overdue_seconds=st.floats(min_value=0, max_value=1e7),
    due_at=st.none() | _aware,
    held=st.booleans(),
    satisfaction=st.none() | st.sampled_from(["satisfied", "basically_satisfied", "dissatisfied"]),
    urges=st.integers(0, 5),
    escalations=st.integers(0, 3),
    repeat=st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(_facts, max_size=40),
    now=_aware,
    group=st.sampled_from([(), ("unit",), ("type", "day"), ("month", "unit", "type")]),
)
def test_properties(rows: list[Facts], now: datetime, group: tuple[str, ...]) -> None:
    starts = st_.buckets(date(2026, 10, 31), date(2026, 12, 31), "day" if "day" in group else "month", UTC)
    groups = st_.aggregate(rows, now, group, starts)
    t = st_.total(groups)
    _same({(None, None, None): t}, {(None, None, None): st_.total(st_.aggregate(rows, now))})
    assert t.accepted == len(rows)
    for c in (*groups.values(), t):
        assert c.on_time <= c.handled <= c.accepted
        assert c.pending + c.handled + c.withdrawn >= c.accepted
        assert c.satisfied + c.basically_satisfied + c.dissatisfied == c.revisited
        assert c.overdue_seconds >= 0 and c.overdue <= c.accepted
        r = st_.rates(c)
        for value in (r.on_time_rate, r.satisfaction_rate, r.substantiated_rate):
            assert value is None or 0 <= value <= 1
        # handled orders that were withdrawn only happen with odd data; rates stay within [0, 1]
        if c.handled <= c.accepted - c.withdrawn:
            assert r.reply_rate is None or 0 <= r.reply_rate <= 1


# -- the database --------------------------------------------------------------------------------


async def _world(factory: Any) -> dict[str, Any]:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "grid", "Grid")
        root = await org.add_unit(s, t.id, "js", "Jiangsu")
        a = await org.add_unit(s, t.id, "js.a", "Unit A", parent=root)
        b = await org.add_unit(s, t.id, "js.b", "Unit B", parent=root)
        other = await org.add_tenant(s, "other", "Other")
        ou = await org.add_unit(s, other.id, "x", "X")
        return {
            "tenant": t.id,
            "units": {A: a.id, B: b.id},
            "paths": {A: a.path, B: b.path},
            "other": (other.id, ou.id),
        }


_n = 0


def ticket_row(tenant_id: int, unit_id: int, f: dict[str, Any]) -> Ticket:
    global _n
    _n += 1
    f = dict(f)
    held = f.pop("held", False)
    repeat = f.pop("repeat", False)
    f.pop("unit_id", None)
    return Ticket(
        tenant_id=tenant_id,
        number=f"T{_n:08d}",
        unit_id=unit_id,
        held_since=f["created_at"] if held else None,
        held_from="in_progress" if held else None,
        repeat_of=None,
        **f,
        **({"repeat_count": 1} if repeat else {}),
    )


async def insert(factory: Any, w: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    async with transaction(factory) as s:
        first = Ticket(
            tenant_id=w["tenant"],
            number="T-FIRST",
            unit_id=w["units"][A],
            type_code="complaint",
            state="archived",
            created_at=local(2026, 1, 1, 9),
        )
        s.add(first)
        await s.flush()
        for r in rows:
            t = ticket_row(w["tenant"], w["units"][r["unit_id"]], r)
            if r.get("repeat"):
                t.repeat_of = first.id
            s.add(t)
        oid, ou = w["other"]
        s.add(
            Ticket(
                tenant_id=oid,
                number="T-OTHER",
                unit_id=ou,
                type_code="complaint",
                state="accepted",
                created_at=local(2026, 11, 21, 9),
            )
        )


def _same(a: dict[st_.GroupKey, Counts], b: dict[st_.GroupKey, Counts]) -> None:
    assert set(a) == set(b)
    for k in a:
        x, y = a[k], b[k]
        assert x.overdue_seconds == pytest.approx(y.overdue_seconds, abs=0.01), k
        assert {n: getattr(x, n) for n in st_.COUNT_FIELDS if n != "overdue_seconds"} == {
            n: getattr(y, n) for n in st_.COUNT_FIELDS if n != "overdue_seconds"
        }, k


def _db_groups(rep: st_.Report, units: dict[int, int]) -> dict[st_.GroupKey, Counts]:
    back = {v: k for k, v in units.items()}
    return {(r.period, back.get(r.unit_id) if r.unit_id else None, r.type_code): r.counts for r in rep.rows}


async def test_database_matches_hand_example(factory: Any) -> None:
    w = await _world(factory)
    await insert(factory, w, EXAMPLE + OUTSIDE)
    async with transaction(factory) as s:
        rep = await st_.compute(s, w["tenant"], start=START, end=END, tz=SH, now=NOW)
        whole = (None, None, None)
        _same({whole: rep.total.counts}, {whole: st_.total(st_.aggregate(facts(EXAMPLE), NOW))})
        assert rep.total.rates.reply_rate == pytest.approx(0.6)
        for group in [("day",), ("unit", "type"), ("month", "unit"), ("type",)]:
            starts = st_.buckets(START, END, "month" if "month" in group else "day", SH)
            rep = await st_.compute(s, w["tenant"], start=START, end=END, tz=SH, group_by=group, now=NOW)
            _same(_db_groups(rep, w["units"]), st_.aggregate(facts(EXAMPLE), NOW, group, starts))
        rep = await st_.compute(s, w["tenant"], start=START, end=END, tz=SH, group_by=("unit",), now=NOW)
        assert [(r.unit_code, r.unit_name, r.counts.accepted) for r in rep.rows] == [
            ("js.a", "Unit A", 3),
            ("js.b", "Unit B", 3),
        ]
        # scope: unit A only (a subtree grant), a handler's own orders (none), nothing
        only_a = DataScope(False, frozenset(), frozenset({w["paths"][A]}), None)
        rep = await st_.compute(s, w["tenant"], start=START, end=END, tz=SH, scope=only_a, now=NOW)
        assert rep.total.counts.accepted == 3
        nothing = DataScope(False, frozenset(), frozenset(), None)
        rep = await st_.compute(s, w["tenant"], start=START, end=END, tz=SH, scope=nothing, now=NOW)
        assert rep.total.counts.accepted == 0 and rep.rows == []
        # filters: a unit's subtree, a type
        unit_b = await org.get_unit(s, w["tenant"], "js.b")
        rep = await st_.compute(s, w["tenant"], start=START, end=END, tz=SH, unit=unit_b, now=NOW)
        assert rep.total.counts.accepted == 3 and rep.total.counts.withdrawn == 1
        rep = await st_.compute(
            s, w["tenant"], start=START, end=END, tz=SH, type_code="complaint", group_by=("type",), now=NOW
        )
        assert [(r.type_code, r.type_label, r.counts.accepted) for r in rep.rows] == [
            ("complaint", "投诉", 3)
        ]


async def test_database_matches_pure_on_random_orders(factory: Any) -> None:
    w = await _world(factory)
    rnd = random.Random(8)
    rows: list[dict[str, Any]] = []
    base = local(2026, 10, 20, 0)
    states = [
        "accepted",
        "dispatched",
        "in_progress",
        "on_hold",
        "replied",
        "reviewed",
        "revisited",
        "archived",
        "cancelled",
        "merged",
    ]
    for _ in range(300):
        created = base + timedelta(minutes=rnd.randrange(0, 60 * 24 * 75))
        state = rnd.choice(states)
        replied = state in ("replied", "reviewed", "revisited", "archived") or rnd.random() < 0.1
        r: dict[str, Any] = dict(
            created_at=created,
            unit_id=rnd.choice([A, B]),
            type_code=rnd.choice(["complaint", "fault_repair", "opinion"]),
            state=state,
            replied_at=created + timedelta(hours=rnd.randrange(1, 100)) if replied else None,
            substantiated=rnd.choice([None, True, False]) if replied else None,
            overdue=rnd.random() < 0.3,
            overdue_seconds=float(rnd.randrange(0, 100_000)) if rnd.random() < 0.3 else 0.0,
            due_at=created + timedelta(minutes=rnd.randrange(10, 60 * 24 * 40))
            if rnd.random() < 0.6
            else None,
            held=state == "on_hold",
            closed_at=created + timedelta(days=3) if state in ("archived", "cancelled", "merged") else None,
            satisfaction=rnd.choice(["satisfied", "basically_satisfied", "dissatisfied"])
            if state in ("revisited", "archived")
            else None,
            urges=rnd.choice([0, 0, 1, 2]),
            escalations=rnd.choice([0, 0, 1]),
            repeat=rnd.random() < 0.2,
        )
        rows.append(r)
    await insert(factory, w, rows)
    now = local(2026, 12, 20, 15)
    start, end = date(2026, 10, 22), date(2027, 1, 10)
    # Shanghai: a fixed offset (SQLite shifts by it); Berlin leaves summer time on 25 October
    # (SQLite buckets by the UTC starts of the local days); PostgreSQL converts with the zone
    assert st_.fixed_offset_minutes(start, end, SH) == 480
    assert st_.fixed_offset_minutes(start, end, BERLIN) is None
    for tz in (SH, BERLIN):
        lo, hi = st_.period_bounds(start, end, tz)
        cohort = [f for f in facts(rows) if lo <= f.created_at < hi]
        assert 150 < len(cohort) < 300
        async with transaction(factory) as s:
            for group in [(), ("unit",), ("type", "day"), ("month", "unit", "type")]:
                starts = st_.buckets(start, end, "month" if "month" in group else "day", tz)
                rep = await st_.compute(s, w["tenant"], start=start, end=end, tz=tz, group_by=group, now=now)
                _same(_db_groups(rep, w["units"]), st_.aggregate(cohort, now, group, starts))
                assert sum(r.counts.accepted for r in rep.rows) == rep.total.counts.accepted == len(cohort)


# -- exports -------------------------------------------------------------------------------------


def _report() -> st_.Report:
    groups = st_.aggregate(facts(EXAMPLE), NOW, ("unit", "type"))
    return st_.build_report(
        groups,
        start=START,
        end=END,
        group_by=("unit", "type"),
        tz="Asia/Shanghai",
        now=NOW,
        units={A: ("js.a", "城区供电中心"), B: ("js.b", "东山供电所")},
        type_labels={"complaint": "投诉", "fault_repair": "故障报修"},
    )


def test_csv_export() -> None:
    data = export.to_csv(_report(), lang="zh")
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:4] == ["单位编码", "单位", "类型编码", "类型"]
    assert "回复率" in rows[0] and "满意率" in rows[0]
    head = rows[0]
    first = dict(zip(head, rows[1], strict=True))
    assert first["单位"] == "城区供电中心" and first["受理量"] == "3"
    assert first["回复率"] == "66.7%"  # 2 handled of 3 (none withdrawn)
    assert rows[-1][0] == "合计" and dict(zip(head, rows[-1], strict=True))["受理量"] == "6"
    en = list(csv.reader(io.StringIO(export.to_csv(_report(), lang="en").decode("utf-8-sig"))))
    assert en[0][:4] == ["Unit code", "Unit", "Type code", "Type"]
    assert en[1][3] == "Complaint" and en[-1][0] == "Total"


def test_xlsx_export() -> None:
    from openpyxl import load_workbook

    data = export.to_xlsx(_report(), lang="zh")
    wb = load_workbook(io.BytesIO(data))
    ws = wb.active
    assert ws is not None
    values = list(ws.iter_rows(values_only=True))
    head = list(values[0])
    i = head.index("回复率")
    assert values[1][i] == pytest.approx(2 / 3, abs=1e-4)
    assert ws.cell(row=2, column=i + 1).number_format == "0.0%"
    assert values[-1][0] == "合计"


# -- the API -------------------------------------------------------------------------------------

API_DAY = local(2025, 1, 10, 9)
API_ROWS: list[tuple[str, dict[str, Any]]] = [
    ("js.nj.jn.ds", dict(type_code="complaint", state="replied", replied_at=API_DAY + timedelta(hours=5))),
    ("js.nj.jn.ds", dict(type_code="complaint", state="in_progress", overdue=True, overdue_seconds=600.0)),
    ("js.nj", dict(type_code="fault_repair", state="cancelled")),
    ("js.sz", dict(type_code="opinion", state="revisited", replied_at=API_DAY, satisfaction="satisfied")),
    ("js.sz", dict(type_code="opinion", state="accepted")),
]


async def _api_orders(client: Any) -> None:
    db = client.app.state.hotline.db
    async with transaction(db) as s:
        from hotline.store.models import Unit

        units = {u.code: u for u in (await s.scalars(select(Unit))).all()}
        for i, (code, f) in enumerate(API_ROWS):
            u = units[code]
            s.add(
                Ticket(
                    tenant_id=u.tenant_id,
                    number=f"API{i:05d}",
                    unit_id=u.id,
                    created_at=API_DAY + timedelta(minutes=i),
                    **f,
                )
            )


async def test_stats_api(client_on: Any) -> None:
    from tests.conftest import token_for

    c = client_on
    await _api_orders(c)
    q = "/api/v1/tickets/stats?from=2025-01-10&to=2025-01-12"
    admin = await token_for(c, "admin")
    r = await c.get(q + "&group_by=unit,type", headers=admin)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["from"] == "2025-01-10" and body["to"] == "2025-01-12" and body["timezone"] == "Asia/Shanghai"
    assert body["group_by"] == ["unit", "type"]
    t = body["total"]
    assert (t["accepted"], t["withdrawn"], t["handled"], t["overdue"], t["revisited"]) == (5, 1, 2, 1, 1)
    assert t["reply_rate"] == 0.5 and t["satisfaction_rate"] == 1.0 and t["overdue_seconds"] == 600.0
    assert [(x["unit"], x["type"], x["accepted"]) for x in body["rows"]] == [
        ("js.nj", "fault_repair", 1),
        ("js.nj.jn.ds", "complaint", 2),
        ("js.sz", "opinion", 2),
    ]
    assert body["rows"][1]["type_label"] == "投诉" and body["rows"][1]["on_time_rate"] == 1.0

    # each reader counts what they may see
    for user, accepted in [("wang.fang", 3), ("liu.yang", 2), ("sun.li", 5), ("zhao.min", 5)]:
        r = await c.get(q, headers=await token_for(c, user))
        assert r.status_code == 200, (user, r.text)
        assert r.json()["total"]["accepted"] == accepted, user
        assert r.json()["rows"] == [] or len(r.json()["rows"]) == 1
    r = await c.get(q + "&group_by=unit&unit_depth=2", headers=admin)
    assert [(x["unit"], x["accepted"]) for x in r.json()["rows"]] == [("js.nj", 3), ("js.sz", 2)]
    assert r.json()["filters"] == {"unit_depth": 2}
    r = await c.get(q + "&group_by=unit&unit_depth=2", headers=await token_for(c, "liu.yang"))
    assert [(x["unit"], x["accepted"]) for x in r.json()["rows"]] == [("js.nj", 2)]
    r = await c.get(q + "&unit=js.nj.jn&group_by=day", headers=admin)
    assert [(x["period"], x["accepted"]) for x in r.json()["rows"]] == [("2025-01-10", 2)]
    r = await c.get(q + "&type=opinion&group_by=month", headers=admin)
    assert [(x["period"], x["accepted"]) for x in r.json()["rows"]] == [("2025-01", 2)]

    # files
    r = await c.get(q + "&group_by=unit&format=csv&lang=en", headers=admin)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="ticket-stats-2025-01-10-2025-01-12.csv"'
    assert r.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Unit code", "Unit", "Accepted"] and rows[-1][0] == "Total" and rows[-1][2] == "5"
    r = await c.get(q + "&format=xlsx", headers=admin)
    assert r.status_code == 200 and r.headers["content-type"] == export.XLSX_TYPE
    assert r.headers["content-disposition"].endswith('.xlsx"')
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws is not None and ws.cell(row=2, column=1).value == "合计"

    # bad requests
    for bad, field in [
        ("&group_by=colour", "group_by"),
        ("&group_by=day,month", "group_by"),
        ("&unit=nope", "unit"),
    ]:
        r = await c.get(q + bad, headers=admin)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, (bad, r.text)
    r = await c.get("/api/v1/tickets/stats?from=2025-01-12&to=2025-01-10", headers=admin)
    assert r.status_code == 422
    r = await c.get("/api/v1/tickets/stats?from=2025-01-12", headers=admin)
    assert r.status_code == 422
    r = await c.get(q)
    assert r.status_code == 401

    db = c.app.state.hotline.db
    async with transaction(db) as s:
        from hotline.store.models import AuditEntry

        n = len((await s.scalars(select(AuditEntry).where(AuditEntry.action == "ticket.stats.export"))).all())
    assert n == 2
