"""The utility IVR plugins against a seeded database (SQLite and PostgreSQL), on their own and
through the 95598 demo flows in the text simulator (``hotline ivr simulate``'s engine)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from hotline.crm import protect
from hotline.crm.customers import add_customer
from hotline.ivr import ActionContext, ActionRegistry, default_registry, parse_flow
from hotline.ivr.interpreter import ToQueue
from hotline.ivr.simulate import simulate_async
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.models import Bill, CustomerPhone, Payment
from hotline.store.types import utcnow
from hotline.utility import ivr_actions as acts
from hotline.utility import outages
from hotline.utility.backend import BackendUnavailable, Balance, BillInfo, PaymentInfo
from hotline.utility.builtin import BuiltinBackend

FLOWS = Path(__file__).resolve().parents[2] / "hotline" / "ivr" / "flows"
ALONE = "13912340001"  # one account, on feeder F1 (an outage is on)
SHARED = "13900000002"  # two accounts (the second has PIN 123456)


def flow(name: str) -> Any:
    return parse_flow((FLOWS / f"{name}.yaml").read_text(encoding="utf-8"))


class FailingBackend:
    """A billing system that is down (connection refused): every question raises."""

    name = "down"

    def __getattr__(self, item: str) -> Any:
        async def fail(*args: Any, **kwargs: Any) -> Any:
            raise BackendUnavailable("billing system: connection refused")

        return fail


async def seed(factory: Any) -> int:
    today = datetime.now(UTC).date()
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "ivr", "IVR")
        u = await org.add_unit(s, t.id, "nj", "Nanjing")
        a = await add_customer(s, t.id, unit=u, account_no="1000000001", name="周建国", phone="+86" + ALONE)
        a.feeder, a.transformer_area = "F1", "T1"
        b = await add_customer(s, t.id, unit=u, account_no="1000000002", name="吴秀英")
        b.pin_hash = protect.hash_pin("123456")
        c = await add_customer(s, t.id, unit=u, account_no="1000000003", name="吴明")
        s.add_all(
            [
                CustomerPhone(tenant_id=t.id, customer_id=b.id, phone="+86" + SHARED),
                CustomerPhone(tenant_id=t.id, customer_id=c.id, phone="+86" + SHARED),
            ]
        )
        for cust in (a, b):
            s.add_all(
                [
                    Bill(
                        tenant_id=t.id,
                        customer_id=cust.id,
                        period="2026-09",
                        kwh=Decimal("200.00"),
                        amount=Decimal("88.00"),
                        paid=Decimal("88.00"),
                        status="paid",
                        issued_on=today - timedelta(days=40),
                        due_on=today - timedelta(days=16),
                        settled_on=today - timedelta(days=20),
                    ),
                    Bill(
                        tenant_id=t.id,
                        customer_id=cust.id,
                        period="2026-10",
                        kwh=Decimal("321.00"),
                        amount=Decimal("123.45"),
                        status="open",
                        issued_on=today - timedelta(days=2),
                        due_on=today + timedelta(days=22),
                    ),
                    Payment(
                        tenant_id=t.id,
                        customer_id=cust.id,
                        amount=Decimal("88.00"),
                        channel="bank",
                        reference=f"B-{cust.account_no}",
                        paid_at=datetime.combine(today - timedelta(days=20), datetime.min.time(), UTC)
                        + timedelta(hours=4),
                    ),
                ]
            )
        await s.flush()
        await outages.create_outage(
            s,
            t.id,
            unit=u,
            kind="unplanned",
            status="active",
            cause="线路故障",
            start_at=utcnow() - timedelta(hours=1),
            expected_end_at=utcnow() + timedelta(hours=3),
            areas=[("F1", "")],
        )
        return t.id


def ctx(tenant_id: int, services: Mapping[str, Any], caller: str = ALONE, **variables: Any) -> ActionContext:
    return ActionContext(
        call_id="c1", tenant_id=tenant_id, caller=caller, dnis="95598", variables=variables, services=services
    )


def registry(tenant_id: int, services: Mapping[str, Any]) -> ActionRegistry:
    """The installed plugins, given the tenant and services the telephony shell would give them."""
    base, reg = default_registry(), ActionRegistry()
    for name in base.names():
        fn = base.get(name)
        assert fn is not None

        async def wrapped(args: Mapping[str, Any], c: ActionContext, fn: Any = fn) -> Mapping[str, Any]:
            return dict(await fn(args, dataclasses.replace(c, tenant_id=tenant_id, services=services)))

        reg.register(name, wrapped)
    return reg


def test_wording() -> None:
    on = date(2026, 11, 23)
    b = Balance("1", on, Decimal("123.45"), Decimal("23.45"), Decimal("1.00"), Decimal(0), Decimal("124.45"))
    assert acts.say_balance(b, "zh") == (
        "截至二零二六年十一月二十三日，您应缴电费一百二十四元四角五分，其中欠费二十三元四角五分，违约金一元整。"
    )
    assert acts.say_balance(b, "en") == (
        "As of November 23, 2026, the amount due is 124 yuan 45 fen, of which 23 yuan 45 fen is overdue,"
        " plus a late fee of 1 yuan."
    )
    nothing = Balance("1", on, Decimal(0), Decimal(0), Decimal(0), Decimal("5.00"), Decimal(0))
    assert acts.say_balance(nothing, "zh") == "截至二零二六年十一月二十三日，您没有待缴电费，预存余额五元整。"
    bill = BillInfo("1", "2026-10", Decimal("321"), Decimal("123.45"), Decimal(0), "open", on, on)
    assert acts.say_last_bill(bill, "zh") == (
        "您二零二六年十月的电费账单：用电三百二十一千瓦时，电费一百二十三元四角五分，"
        "未缴一百二十三元四角五分，缴费截止日期二零二六年十一月二十三日。"
    )
    assert acts.say_last_bill(None, "en") == "There is no bill yet."
    pay = PaymentInfo("1", Decimal("50"), "online", "r", datetime(2026, 11, 22, 17, tzinfo=UTC))
    assert (
        acts.say_last_payment(pay, "zh")
        == "您最近一次缴费是二零二六年十一月二十三日，金额五十元整，缴费方式：网上缴费。"
    )
    assert acts.say_last_payment(pay, "en") == "Your last payment was 50 yuan on November 23, 2026 online."
    assert acts.say_identified(2, "", "zh") == "您的来电号码关联了两个户号。"
    assert acts.say_identified(12, "", "zh") == "您的来电号码关联了十二个户号。"


async def test_plugins(factory: Any) -> None:
    tid = await seed(factory)
    services = {"db": factory, "billing": BuiltinBackend(factory)}
    got = await acts.customer_identify({}, ctx(tid, services))
    assert got["count"] == 1 and got["account_no"] == "1000000001" and got["say"] == "您的户号尾号是0 0 0 1。"
    assert got["customer_id"] and not got["verified"]
    got = await acts.customer_identify({"lang": "en"}, ctx(tid, services, caller="0" + SHARED[:-1] + "9"))
    assert got["count"] == 0 and got["say"].startswith("We found no account")
    got = await acts.customer_identify({}, ctx(tid, services, caller=SHARED))
    assert got["count"] == 2 and got["account_no"] == "" and got["customer_id"] is None
    got = await acts.customer_identify({"account_no": "1000000002", "pin": "123456"}, ctx(tid, services))
    assert got["verified"] and got["verified_account"] == "1000000002" and got["attempts"] == 1
    got = await acts.customer_identify(
        {"account_no": "1000000002", "pin": "000000"}, ctx(tid, services, pin_attempts=2)
    )
    assert not got["verified"] and got["verified_account"] == "" and got["attempts"] == 3
    assert got["say"] == "户号或密码不正确。"
    got = await acts.customer_identify({"account_no": "9999999999", "pin": "123456"}, ctx(tid, services))
    assert got["say"] == "户号或密码不正确。" and not got["found"]
    got = await acts.customer_verify_pin({"pin": "123456"}, ctx(tid, services, account_no="1000000002"))
    assert got["verified"] and got["verified_account"] == "1000000002"
    got = await acts.customer_verify_pin({"pin": "123456"}, ctx(tid, services))  # caller's account: no PIN
    assert not got["verified"] and got["say"] == "该户号没有设置服务密码。"

    bal = await acts.billing_balance({}, ctx(tid, services, account_no="1000000001"))
    assert bal["amount_due"] == "123.45" and bal["arrears"] == "0.00" and not bal["in_arrears"]
    assert "您应缴电费一百二十三元四角五分" in bal["say"]
    last = await acts.billing_last_bill({"lang": "en"}, ctx(tid, services, account_no="1000000001"))
    assert last["period"] == "2026-10" and last["kwh"] == "321.00" and last["status"] == "open"
    assert last["say"].startswith("Your bill for October 2026: 321 kilowatt-hours, 123 yuan 45 fen")
    pay = await acts.billing_last_payment({}, ctx(tid, services, account_no="1000000001"))
    assert (
        pay["amount"] == "88.00"
        and pay["channel"] == "bank"
        and "金额八十八元整，缴费方式：银行" in pay["say"]
    )
    with pytest.raises(ValueError, match="identify the caller first"):
        await acts.billing_balance({}, ctx(tid, services))

    out = await acts.outage_for_caller({}, ctx(tid, services))
    assert (
        out["count"] == 1
        and out["active"]
        and out["notice"].startswith("您所在的区域正在故障停电，原因：线路故障")
    )
    assert "恢复供电" in out["notice"] and out["say"] == out["notice"]
    assert (await acts.outage_for_caller({}, ctx(tid, services, caller=SHARED)))["notice"] == ""
    en = await acts.outage_for_caller({"lang": "en"}, ctx(tid, services))
    assert en["notice"].startswith("There is an unplanned outage in your area, cause: 线路故障")

    down = {"db": factory, "billing": FailingBackend()}
    with pytest.raises(BackendUnavailable):
        await acts.billing_balance({}, ctx(tid, down, account_no="1000000001"))
    # the registry turns it into an ActionError, which the IVR runtime routes to the error path
    from hotline.ivr import ActionError

    with pytest.raises(ActionError, match="BackendUnavailable"):
        await registry(tid, down).run("billing.balance", {"account_no": "1000000001"}, ctx(tid, down), 2)
    with pytest.raises(BackendUnavailable):  # no services (a text simulation): unavailable too
        await acts.customer_identify({}, ctx(tid, {}))


async def test_flows_in_the_simulator(factory: Any) -> None:
    tid = await seed(factory)
    services = {"db": factory, "billing": BuiltinBackend(factory)}
    zh, en = flow("95598-zh"), flow("95598-en")

    # caller from the outage area, one account: announcement before the menu, then self-service
    t = await simulate_async(
        zh, inputs=["1", "0"], variables={"caller": ALONE}, registry=registry(tid, services)
    )
    text = t.text()
    assert [s.node for s in t.path][:5] == ["welcome", "outage", "outage-check", "outage-play", "menu"], text
    assert "[outage-play] PLAY(tts zh-CN): 您所在的区域正在故障停电，原因：线路故障" in text
    assert "[bill-known] PLAY(tts zh-CN): 您的户号尾号是0 0 0 1。" in text
    assert (
        "您应缴电费一百二十三元四角五分" in text
        and "用电三百二十一千瓦时" in text
        and "金额八十八元整" in text
    )
    assert isinstance(t.outcome, ToQueue) and t.outcome.queue == "billing" and not t.errors, text
    assert t.variables["account_no"] == "1000000001" and t.variables["customer_id"]

    # shared number: keyed account + PIN (one wrong try first), then the readings, then back to the menu
    t = await simulate_async(
        zh,
        inputs=["1", "1000000002#", "111111#", "1000000002#", "123456#", "*", "2"],
        variables={"caller": SHARED},
        registry=registry(tid, services),
    )
    text = t.text()
    assert "outage-play" not in [s.node for s in t.path]
    assert "[bill-retry] PLAY(tts zh-CN): 户号或密码不正确。请重新输入。" in text
    assert "[bill-ok] PLAY(tts zh-CN): 验证成功。" in text and "您应缴电费一百二十三元四角五分" in text
    assert t.variables["verified_account"] == "1000000002" and t.variables["pin_attempts"] == 2
    assert isinstance(t.outcome, ToQueue) and t.outcome.queue == "fault", text

    # three wrong PINs: an agent
    t = await simulate_async(
        zh,
        inputs=["1", "1000000002#", "000000#", "1000000002#", "000000#", "1000000002#", "000000#"],
        variables={"caller": SHARED},
        registry=registry(tid, services),
    )
    assert "[bill-locked] PLAY(tts zh-CN): 验证未通过" in t.text()
    assert (
        isinstance(t.outcome, ToQueue)
        and t.outcome.queue == "billing"
        and not t.variables.get("verified_account")
    )

    # the billing system is down: the outage announcement still plays; self-service apologises
    down = {"db": factory, "billing": FailingBackend()}
    t = await simulate_async(zh, inputs=["1"], variables={"caller": ALONE}, registry=registry(tid, down))
    text = t.text()
    assert "[outage-play]" in text
    assert (
        "[billing-down] PLAY(tts zh-CN): 对不起，系统繁忙，电费查询暂时无法使用，正在为您转接人工服务，请稍候。"
        in text
    )
    assert isinstance(t.outcome, ToQueue) and t.outcome.queue == "billing"
    assert t.outcome.data["billing_unavailable"] is True and "BackendUnavailable" in t.errors[0]

    # English
    t = await simulate_async(
        en, inputs=["1", "0"], variables={"caller": ALONE}, registry=registry(tid, services)
    )
    text = t.text()
    assert "[outage-play] PLAY(tts en): There is an unplanned outage in your area" in text
    assert "the amount due is 123 yuan 45 fen" in text and "Your last payment was 88 yuan" in text
    assert isinstance(t.outcome, ToQueue) and t.outcome.queue == "english"
    t = await simulate_async(en, inputs=["1"], variables={"caller": ALONE}, registry=registry(tid, down))
    assert "[billing-down] PLAY(tts en): We are sorry, the billing system is busy" in t.text()
