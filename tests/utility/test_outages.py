"""Outages: validation, state transitions, who is affected (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hotline.crm.customers import add_customer
from hotline.errors import Conflict, Invalid
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.utility import outages

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def _world(factory: Any) -> dict[str, Any]:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "grid", "Grid")
        u = await org.add_unit(s, t.id, "nj", "Nanjing")
        other = await org.add_tenant(s, "other", "Other")
        ou = await org.add_unit(s, other.id, "x", "X")
        ids: dict[str, int] = {}
        for acc, feeder, area in [
            ("1000000001", "F1", "T1"),
            ("1000000002", "F1", "T1"),
            ("1000000003", "F1", "T2"),
            ("1000000004", "F2", "T9"),
            ("1000000005", "", ""),
        ]:
            c = await add_customer(s, t.id, unit=u, account_no=acc, name="客户")
            c.feeder, c.transformer_area = feeder, area
            await s.flush()
            ids[acc] = c.id
        c = await add_customer(s, other.id, unit=ou, account_no="1000000001", name="别家")
        c.feeder, c.transformer_area = "F1", "T1"
        return {"tenant": t.id, "unit": u.id, "other": other.id, "customers": ids}


def test_pure_checks() -> None:
    with pytest.raises(Invalid, match="unknown outage kind"):
        outages.check_kind("rolling")
    with pytest.raises(Invalid) as e:
        outages.check_window(NOW, NOW - timedelta(hours=1))
    assert e.value.field == "expected_end_at"
    with pytest.raises(Invalid, match="time zone"):
        outages.check_window(datetime(2026, 1, 1), None)
    with pytest.raises(Invalid, match="at least one area"):
        outages.check_areas([])
    with pytest.raises(Invalid) as e:
        outages.check_areas([{"feeder": "F1"}, {"feeder": " ", "transformer_area": "T1"}])
    assert e.value.field == "areas[1].feeder"
    assert outages.check_areas([("F1", "T1"), {"feeder": "F1", "transformer_area": "T1"}, ["F2"]]) == [
        outages.Area("F1", "T1"),
        outages.Area("F2", ""),
    ]
    outages.check_transition("scheduled", "active")
    outages.check_transition("scheduled", "cancelled")
    outages.check_transition("active", "restored")
    with pytest.raises(Conflict, match="the outage is restored: it cannot become active; allowed: none"):
        outages.check_transition("restored", "active")
    with pytest.raises(Conflict, match="the outage is active: it cannot become cancelled; allowed: restored"):
        outages.check_transition("active", "cancelled")


def test_notice_wording() -> None:
    start, end = NOW - timedelta(hours=1), NOW + timedelta(hours=3)  # 09:00 → 13:00 Shanghai
    zh = outages.notice_text("unplanned", "线路故障", start, end, "active", "zh", now=NOW)
    assert zh == "您所在的区域正在故障停电，原因：线路故障，预计二零二六年十一月二十三日十三点整恢复供电。"
    en = outages.notice_text(
        "planned", "maintenance", NOW + timedelta(days=2), None, "scheduled", "en", now=NOW
    )
    assert en == (
        "There will be a planned outage in your area from November 25, 2026 at 10:00, cause: maintenance."
    )
    own = outages.notice_text("planned", "", NOW, None, "active", "en", now=NOW, custom={"en": " Our text. "})
    assert own == "Our text."


async def test_lifecycle_and_affected(factory: Any) -> None:
    w = await _world(factory)
    tid = w["tenant"]
    async with transaction(factory) as s:
        with pytest.raises(Invalid) as e:
            await outages.create_outage(s, tid, unit="nope", kind="planned", start_at=NOW, areas=[("F1", "")])
        assert e.value.field == "unit"
        with pytest.raises(Invalid):  # another tenant's unit is unknown here
            await outages.create_outage(
                s, tid, unit=w["unit"] + 1, kind="planned", start_at=NOW, areas=[("F1", "")]
            )
        whole = await outages.create_outage(
            s,
            tid,
            unit="nj",
            kind="unplanned",
            status="active",
            cause="10kV 线路故障",
            start_at=NOW - timedelta(hours=1),
            expected_end_at=NOW + timedelta(hours=2),
            areas=[{"feeder": "F1"}],
        )
        planned = await outages.create_outage(
            s,
            tid,
            unit=w["unit"],
            kind="planned",
            cause="检修",
            start_at=NOW + timedelta(days=3),
            expected_end_at=NOW + timedelta(days=3, hours=8),
            areas=[("F2", "T9"), ("F1", "T2")],
        )
        far = await outages.create_outage(
            s, tid, unit="nj", kind="planned", start_at=NOW + timedelta(days=10), areas=[("F1", "T1")]
        )
        ids = whole.id, planned.id, far.id
    async with transaction(factory) as s:
        assert await outages.affected_customers_count(s, tid, ids[0]) == 3
        assert await outages.affected_customers_count(s, tid, ids[1]) == 2
        assert await outages.affected_customers_count(s, tid, [outages.Area("F1", "T1")]) == 2
        c = {acc: cid for acc, cid in w["customers"].items()}
        from hotline.crm.customers import get_customer

        async def for_acc(acc: str, at: datetime = NOW) -> list[int]:
            cust = await get_customer(s, tid, c[acc])
            return [o.id for o in await outages.outages_for_customer(s, tid, cust, at)]

        assert await for_acc("1000000001") == [ids[0]]  # whole feeder F1; 'far' is beyond 7 days
        assert await for_acc("1000000003") == [ids[0], ids[1]]  # F1 + its own transformer area
        assert await for_acc("1000000004") == [ids[1]]
        assert await for_acc("1000000005") == []  # no grid place
        assert await for_acc("1000000001", NOW + timedelta(days=4)) == [ids[0], ids[2]]
        # other tenants' outages never match (same feeder names)
        assert await outages.outages_for_area(s, w["other"], "F1", "T1", NOW) == []
        # transitions
        with pytest.raises(Conflict, match="allowed: restored"):
            await outages.cancel(s, tid, ids[0])
        restored = await outages.restore(s, tid, ids[0], at=NOW + timedelta(minutes=30))
        assert restored.status == "restored" and restored.actual_end_at == NOW + timedelta(minutes=30)
        assert await for_acc("1000000001", NOW + timedelta(hours=1)) == []
        assert await for_acc("1000000001", NOW) == [ids[0]]  # it was on then
        with pytest.raises(Conflict, match="no longer be changed"):
            await outages.update_outage(s, tid, ids[0], cause="x")
        upd = await outages.update_outage(
            s, tid, ids[1], cause="计划检修", areas=[("F2", "")], expected_end_at=NOW + timedelta(days=4)
        )
        assert upd.cause == "计划检修" and (await outages.areas_of(s, [ids[1]]))[ids[1]] == [
            outages.Area("F2", "")
        ]
        with pytest.raises(Invalid):
            await outages.update_outage(s, tid, ids[1], start_at=NOW + timedelta(days=5))
        act = await outages.activate(s, tid, ids[1], at=NOW)
        assert act.status == "active" and act.start_at == NOW  # started early
        assert (await outages.cancel(s, tid, ids[2])).status == "cancelled"
        with pytest.raises(Conflict, match="the outage is cancelled"):
            await outages.activate(s, tid, ids[2])
        info = outages.to_info(act, [outages.Area("F2", "")], now=NOW)
        assert info.areas == (("F2", ""),) and info.notice["zh"].startswith(
            "您所在的区域正在计划停电，原因：计划检修"
        )
