"""The screen-pop service on SQLite and PostgreSQL: the phone lookup and the pop document."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from hotline.crm import screenpop
from hotline.crm.protect import hash_pin
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import Call, ContactEntry, Customer, CustomerPhone
from hotline.store.types import utcnow
from hotline.utility.backend import (
    AccountInfo,
    ApplicationInfo,
    BackendUnavailable,
    Balance,
    BillInfo,
    OutageInfo,
    PaymentInfo,
    ReadingInfo,
)

SHARED = "+8613900000001"


class FakeCis:
    """A billing system adapter answering fixed values (or failing / hanging when told)."""

    name = "fake"

    def __init__(self, mode: str = "ok") -> None:
        self.mode = mode

    async def _maybe_fail(self) -> None:
        if self.mode == "down":
            raise BackendUnavailable("connection refused by cis.example")
        if self.mode == "slow":
            await asyncio.sleep(5)

    async def account(self, tenant_id: int, account_no: str) -> AccountInfo | None:
        return None

    async def balance(self, tenant_id: int, account_no: str, *, on: date | None = None) -> Balance:
        await self._maybe_fail()
        return Balance(
            account_no=account_no,
            as_of=date(2026, 11, 23),
            unpaid=Decimal("312.40"),
            arrears=Decimal("150.00"),
            late_fee=Decimal("4.50"),
            credit=Decimal("0.00"),
            amount_due=Decimal("316.90"),
            overdue_bills=1,
            next_due_on=date(2026, 12, 25),
            ageing={"31-90": Decimal("150.00")},
        )

    async def bills(self, tenant_id: int, account_no: str, *, limit: int = 12) -> list[BillInfo]:
        return []

    async def payments(self, tenant_id: int, account_no: str, *, limit: int = 12) -> list[PaymentInfo]:
        return []

    async def readings(self, tenant_id: int, account_no: str, *, limit: int = 12) -> list[ReadingInfo]:
        return []

    async def outages(
        self, tenant_id: int, account_no: str, *, at: datetime | None = None
    ) -> list[OutageInfo]:
        await self._maybe_fail()
        return [
            OutageInfo(
                id="7",
                kind="unplanned",
                status="active",
                cause="cable fault",
                start_at=utcnow() - timedelta(hours=1),
                expected_end_at=utcnow() + timedelta(hours=2),
                areas=(("F101", ""),),
                notice={"zh": "线路故障抢修中", "en": "Repairing a cable fault"},
            )
        ]

    async def applications(self, tenant_id: int, account_no: str) -> list[ApplicationInfo]:
        return []


async def _setup(factory: Any) -> dict[str, Any]:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "pop", "Pop")
        other = await org.add_tenant(s, "other", "Other")
        u = await org.add_unit(s, t.id, "nj", "南京")
        ou = await org.add_unit(s, other.id, "x", "X")
        rows = [
            (
                t.id,
                u.id,
                "3201000002",
                "李四",
                SHARED,
                "南京市江宁区东山街道金宝路 8 号",
                True,
                "+862588881234",
            ),
            (t.id, u.id, "3201000001", "张三", SHARED, "南京市鼓楼区中山北路 101 号", False, None),
            (t.id, u.id, "3201000003", "王五", "+8613900000003", "南京市玄武区北京东路 1 号", False, None),
            (other.id, ou.id, "9901", "别家", SHARED, "苏州市姑苏区平江路 66 号", False, None),
        ]
        ids = {}
        for tid, uid, acct, name, phone, addr, vip, extra in rows:
            c = Customer(
                tenant_id=tid,
                unit_id=uid,
                account_no=acct,
                name=name,
                phone=phone,
                address=addr,
                vip=vip,
                voltage="220V",
                tags=["低保"] if vip else [],
                id_number_mask="3201**********1234",
                email=f"{acct}@example.com",
                pin_hash=hash_pin("123456") if acct == "3201000001" else "",
            )
            s.add(c)
            await s.flush()
            ids[acct] = c.id
            s.add(CustomerPhone(tenant_id=tid, customer_id=c.id, phone=phone, kind="mobile"))
            if extra:
                s.add(CustomerPhone(tenant_id=tid, customer_id=c.id, phone=extra, kind="landline"))
        return {"tenant": t.id, "other": other.id, "unit": u.id, "ids": ids}


async def test_candidates_by_any_written_form_of_the_number(factory: Any) -> None:
    env = await _setup(factory)
    async with factory() as s:
        for raw in ("13900000001", "+86 139 0000 0001", "0086-13900000001", SHARED):
            found = await screenpop.candidates(s, env["tenant"], raw)
            assert [c.account_no for c in found] == ["3201000001", "3201000002"], raw
        first, second = await screenpop.candidates(s, env["tenant"], SHARED)
        assert first.name == "张三" and first.masked_address == "南京市鼓楼区…"
        assert second.vip and not second.blacklisted and second.unit_code == "nj"
        assert "address" not in first.doc() and "unit_path" not in first.doc()
        # a landline, written with its area code
        assert [c.account_no for c in await screenpop.candidates(s, env["tenant"], "025-8888 1234")] == [
            "3201000002"
        ]
        # another tenant's customer with the same number is not found; unknown numbers find nothing
        other = await screenpop.candidates(s, env["other"], SHARED)
        assert [c.account_no for c in other] == ["9901"]
        assert await screenpop.candidates(s, env["tenant"], "13800000000") == []


async def test_pop_hides_private_data_unless_allowed(factory: Any) -> None:
    env = await _setup(factory)
    async with factory() as s:
        c = await s.get_one(Customer, env["ids"]["3201000002"])
        doc = await screenpop.pop(s, env["tenant"], c, private=False, billing=FakeCis())
        assert doc["customer"]["account_no"] == "3201000002" and doc["customer"]["vip"]
        assert doc["customer"]["tags"] == ["低保"] and doc["customer"]["masked_address"] == "南京市江宁区…"
        assert doc["private"] is None and doc["balance"] is None and not doc["private_shown"]
        assert "金宝路" not in str(doc) and "1234" not in str(doc) and "@example.com" not in str(doc)
        # outages are not private
        assert doc["outages"][0]["cause"] == "cable fault" and doc["outages_error"] is None
        # the work-order provider is registered and this customer has no open order
        assert doc["open_orders"] == [] and doc["open_orders_source"] == "hotline.tickets.service"

        doc = await screenpop.pop(s, env["tenant"], c, private=True, billing=FakeCis(), verified="agent")
        assert doc["private"]["address"] == "南京市江宁区东山街道金宝路 8 号"
        assert doc["private"]["phones"] == [SHARED, "+862588881234"]
        assert doc["private"]["id_number"] == "3201**********1234" and not doc["private"]["id_number_full"]
        assert doc["balance"]["arrears"] == "150.00" and doc["balance"]["amount_due"] == "316.90"
        assert doc["balance"]["ageing"] == {"31-90": "150.00"}
        # verified, but without billing.read: no balance
        doc = await screenpop.pop(s, env["tenant"], c, private=True, billing=FakeCis(), billing_allowed=False)
        assert doc["balance"] is None and doc["private"]["email"] == "3201000002@example.com"


async def test_failing_or_slow_backend_gives_an_error_and_the_rest(factory: Any) -> None:
    env = await _setup(factory)
    async with factory() as s:
        c = await s.get_one(Customer, env["ids"]["3201000001"])
        doc = await screenpop.pop(s, env["tenant"], c, private=True, billing=FakeCis("down"))
        assert doc["balance"] == {"error": "billing system unavailable: connection refused by cis.example"}
        assert doc["outages"] == [] and "unavailable" in doc["outages_error"]
        assert doc["customer"]["name"] == "张三" and doc["private"]["address"]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        doc = await screenpop.pop(
            s, env["tenant"], c, private=True, billing=FakeCis("slow"), billing_timeout=0.3
        )
        assert loop.time() - t0 < 2.0  # balance and outages waited for side by side, not 5 s
        assert doc["balance"] == {"error": "billing system did not answer within 0.3 s"}
        assert doc["customer"]["has_pin"]


async def test_verification_last_contacts_and_open_order_providers(factory: Any) -> None:
    env = await _setup(factory)
    tid, ids = env["tenant"], env["ids"]
    now = utcnow()
    async with transaction(factory) as s:
        for i, (cid, data) in enumerate(
            (
                ("c-ivr", {"verified_account": "3201000001"}),
                ("c-agent", {}),
                ("c-plain", {}),
            )
        ):
            s.add(
                Call(
                    id=cid,
                    tenant_id=tid,
                    direction="inbound",
                    caller=SHARED,
                    dialed="95598",
                    started_at=now - timedelta(minutes=10 - i),
                    data=data,
                    disposition="resolved" if cid == "c-plain" else "",
                )
            )
        s.add(
            ContactEntry(
                tenant_id=tid,
                customer_id=ids["3201000002"],
                kind="verification",
                ref="c-agent",
                at=now - timedelta(minutes=9),
            )
        )
        s.add(
            ContactEntry(
                tenant_id=tid,
                customer_id=ids["3201000002"],
                kind="note",
                summary="回访",
                at=now - timedelta(hours=1),
            )
        )
    async with factory() as s:
        a = await s.get_one(Customer, ids["3201000001"])
        b = await s.get_one(Customer, ids["3201000002"])
        ivr, agent, plain = [await s.get_one(Call, x) for x in ("c-ivr", "c-agent", "c-plain")]
        assert await screenpop.verification(s, tid, a, ivr) == "ivr"
        assert await screenpop.verification(s, tid, b, ivr) is None  # verified for the other account
        assert await screenpop.verification(s, tid, b, agent) == "agent"
        assert await screenpop.verification(s, tid, a, agent) is None
        assert await screenpop.verification(s, tid, a, plain) is None
        assert await screenpop.verification(s, tid, a, None) is None

        doc = await screenpop.pop(s, tid, b, private=False)
        kinds = [(x["kind"], x["ref"], x["linked"]) for x in doc["last_contacts"]]
        # newest first: the unlinked calls from the number, the verification (its call not
        # repeated), the note
        assert kinds == [
            ("call", "c-plain", False),
            ("verification", "c-agent", True),
            ("call", "c-ivr", False),
            ("note", "", True),
        ], kinds
        assert doc["last_contacts"][0]["summary"] == "resolved"

    async def orders(s: Any, tenant_id: int, customer_id: int) -> list[dict[str, Any]]:
        return [{"id": "WO-1", "title": "停电报修", "status": "open", "customer_id": customer_id}]

    registered = list(screenpop.OPEN_ORDER_PROVIDERS)  # the work-order module's provider
    screenpop.OPEN_ORDER_PROVIDERS[:] = [orders]
    try:
        async with factory() as s:
            doc = await screenpop.pop(s, tid, await s.get_one(Customer, ids["3201000003"]), private=False)
            assert doc["open_orders"] == [
                {"id": "WO-1", "title": "停电报修", "status": "open", "customer_id": ids["3201000003"]}
            ]
            assert doc["open_orders_source"] == __name__
            assert doc["last_contacts"] == [] and doc["last_agent"] is None
    finally:
        screenpop.OPEN_ORDER_PROVIDERS[:] = registered
