"""The customer archive service on SQLite and PostgreSQL: fields, phones, ID numbers, PIN, search,
timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hotline.crm import customers as crm
from hotline.crm import timeline
from hotline.crm.protect import IdProtector
from hotline.errors import Conflict, Invalid
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import Call, Customer, CustomerPhone

ID_OK = "11010519491231002X"


@pytest.fixture
def protector(tmp_path: Path) -> IdProtector:
    return IdProtector.from_file(tmp_path / "keys" / "id.key")


async def _world(factory: Any) -> tuple[int, int]:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "t1", "T1")
        u = await org.add_unit(s, t.id, "nj", "Nanjing", kind="city")
        return t.id, u.id


async def test_full_fields_phones_and_protected_id(factory: Any, protector: IdProtector) -> None:
    tid, uid = await _world(factory)
    async with transaction(factory) as s:
        unit = await org.get_unit(s, tid, uid)
        c = await crm.add_customer(
            s,
            tid,
            unit=unit,
            account_no="3201000001",
            name="周建国",
            customer_class="large_industry",
            phone="139 1234 0001",
            phones=["025-5210 0001", "+8613912340001"],
            voltage="10KV",
            id_number=ID_OK.lower(),
            vip=True,
            tags="重点, 双电源 ,重点",
            addresses=[{"kind": "mailing", "text": "南京市鼓楼区中山北路 1 号"}, "other place"],
            email="Zhou@Example.COM",
            preferred_channel="wechat",
            feeder="F-101",
            transformer_area="TA-7",
            protector=protector,
            pin="123456",
        )
        cid = c.id
    async with transaction(factory) as s:
        c = await crm.get_customer(s, tid, cid)
        assert c.phone == "+8613912340001"
        assert await crm.phones_of(s, c) == ["+8613912340001", "+862552100001"]
        assert c.voltage == "10kV" and c.tags == ["重点", "双电源"] and c.vip
        assert c.email == "Zhou@example.com"
        assert c.addresses == [
            {"kind": "mailing", "text": "南京市鼓楼区中山北路 1 号"},
            {"kind": "other", "text": "other place"},
        ]
        assert ID_OK not in c.id_number_enc and c.id_number_mask == "110105********002X"
        assert crm.reveal_id_number(c, protector) == ID_OK
        assert crm.check_pin(c, "123456") and not crm.check_pin(c, "654321")
        kinds = {p: k for p, k in (await s.execute(select(CustomerPhone.phone, CustomerPhone.kind))).all()}
        assert kinds == {"+8613912340001": "mobile", "+862552100001": "landline"}

        # search by every key; phones in any written form
        for kw in (
            {"phone": "13912340001"},
            {"phone": "02552100001"},
            {"account_no": "3201000001"},
            {"name": "周"},
            {"id_number": ID_OK},
        ):
            found = await crm.search(s, tid, protector=protector, **kw)
            assert [x.id for x in found] == [cid], kw
        assert await crm.search(s, tid, name="%", protector=protector) == []
        assert [x.id for x in await crm.find_by_phone(s, tid, "0086 139-1234-0001")] == [cid]
        assert await crm.find_by_phone(s, tid, "not a phone") == []
        assert (await crm.get_by_account(s, tid, "3201000001")) is c
        assert await crm.get_by_account(s, tid, "nope") is None


async def test_update_reports_changes_and_checks_everything(factory: Any, protector: IdProtector) -> None:
    tid, uid = await _world(factory)
    async with transaction(factory) as s:
        unit = await org.get_unit(s, tid, uid)
        c = await crm.add_customer(s, tid, unit=unit, account_no="A-0001", name="x", phone="13900000001")
        await crm.add_customer(s, tid, unit=unit, account_no="A-0002", name="y", phone="13900000001")
        cid = c.id
    async with transaction(factory) as s:
        c = await crm.get_customer(s, tid, cid)
        assert await crm.update_customer(s, c, {"name": "x", "phones": ["+8613900000001"]}) == []
        changed = await crm.update_customer(
            s,
            c,
            {"phones": ["13900000002", "13900000001"], "id_number": ID_OK, "blacklisted": True,
             "blacklist_reason": "abusive calls"},
            protector=protector,
        )  # fmt: skip
        assert changed == ["blacklist_reason", "blacklisted", "id_number", "phones"]
        assert c.phone == "+8613900000002"
        # the same ID number again is no change (the hash decides, not the random ciphertext)
        assert await crm.update_customer(s, c, {"id_number": ID_OK}, protector=protector) == []
        # all problems at once, nothing written
        with pytest.raises(Invalid) as err:
            await crm.update_customer(
                s, c, {"voltage": "11kV", "phones": ["x"], "email": "no", "id_number": "110105194912310021"}
            )
        fields = [e["field"] for e in err.value.errors]  # type: ignore[attr-defined]
        assert fields == ["voltage", "phones[0]", "id_number", "email"]
        assert c.voltage == "220V"
        with pytest.raises(Invalid, match="needs a reason"):
            await crm.update_customer(s, c, {"blacklist_reason": ""})
        assert await crm.update_customer(s, c, {"blacklisted": False}) == ["blacklist_reason", "blacklisted"]
        with pytest.raises(Conflict):
            await crm.update_customer(s, c, {"account_no": "A-0002"})
        with pytest.raises(Invalid, match="at most 5"):
            await crm.update_customer(s, c, {"phones": [f"1390000000{i}" for i in range(6)]})
        # a shared phone finds both accounts
        assert len(await crm.find_by_phone(s, tid, "13900000001")) == 2
        await crm.set_pin(s, c, "2468")
        assert crm.check_pin(c, "2468")
        with pytest.raises(Invalid):
            await crm.set_pin(s, c, "12a4")
        await crm.set_pin(s, c, None)
        assert not crm.check_pin(c, "2468")


async def test_add_customer_stays_backward_compatible(factory: Any) -> None:
    tid, uid = await _world(factory)
    async with transaction(factory) as s:
        unit = await org.get_unit(s, tid, uid)
        c = await crm.add_customer(s, tid, unit=unit, account_no="OLD-1", name="Old style", address="x")
        assert (c.phone, c.customer_class, c.voltage, c.status) == ("", "urban_resident", "220V", "active")
        with pytest.raises(Conflict):
            await crm.add_customer(s, tid, unit=unit, account_no="OLD-1", name="again")
        with pytest.raises(ValueError, match="IdProtector"):
            await crm.add_customer(s, tid, unit=unit, account_no="OLD-2", name="n", id_number=ID_OK)
        assert (await s.scalar(select(Customer.id).where(Customer.account_no == "OLD-2"))) is None


async def test_timeline_pages_newest_first_and_joins_calls(factory: Any) -> None:
    tid, uid = await _world(factory)
    t0 = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    async with transaction(factory) as s:
        unit = await org.get_unit(s, tid, uid)
        c = await crm.add_customer(s, tid, unit=unit, account_no="T-0001", name="t")
        s.add(
            Call(
                id="call-1",
                tenant_id=tid,
                direction="inbound",
                started_at=t0,
                ended_at=t0 + timedelta(seconds=95),
                talk_seconds=80.0,
                disposition="resolved",
            )
        )
        await s.flush()
        for i in range(5):
            await timeline.add_entry(s, tid, c.id, kind="note", summary=f"n{i}", at=t0 + timedelta(minutes=i))
        # two entries at the same instant: the id breaks the tie
        same = t0 + timedelta(minutes=10)
        await timeline.add_entry(s, tid, c.id, kind="call", ref="call-1", at=same)
        again = await timeline.add_entry(s, tid, c.id, kind="call", ref="call-1", at=same)
        await timeline.add_entry(s, tid, c.id, kind="call", ref="unknown-call", at=same)
        with pytest.raises(Invalid):
            await timeline.add_entry(s, tid, c.id, kind="gossip")
        cid = c.id
        assert again.ref == "call-1"
    async with transaction(factory) as s:
        seen: list[str] = []
        cursor = None
        while True:
            page, cursor = await timeline.entries(s, tid, cid, limit=3, before=cursor)
            seen += [e.summary or e.ref for e in page]
            if cursor is None:
                break
        assert seen == ["unknown-call", "call-1", "n4", "n3", "n2", "n1", "n0"]
        page, _ = await timeline.entries(s, tid, cid, limit=2)
        call = page[1].call
        assert call is not None and call["duration_seconds"] == 95.0 and call["disposition"] == "resolved"
        assert page[0].call is None
        assert await timeline.last_agent(s, tid, cid) is None
        with pytest.raises(Invalid):
            await timeline.entries(s, tid, cid, before="garbage")


async def test_customer_rows_read_what_an_order_needs_of_the_tenant_only(
    factory: Any, protector: IdProtector
) -> None:
    from hotline.crm.facts import CustomerRow, customer_rows

    tid, uid = await _world(factory)
    async with transaction(factory) as s:
        unit = await org.get_unit(s, tid, uid)
        c = await crm.add_customer(
            s, tid, unit=unit, account_no="3201000009", name="钱多多", phone="13912340009",
            address="南京市玄武区 9 号", feeder="F-9", transformer_area="TA-9", protector=protector,
        )  # fmt: skip
        other = await org.add_tenant(s, "t2", "T2")
    async with factory() as s:
        got = await customer_rows(s, tid, [c.id, 999_999])
        assert got == {
            c.id: CustomerRow(
                c.id, tid, uid, "3201000009", "钱多多", c.phone, "南京市玄武区 9 号", "F-9", "TA-9", None
            )
        }
        assert await customer_rows(s, other.id, [c.id]) == {}
