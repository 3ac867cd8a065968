"""Demo data: the "95598 demo" tenant with a utility's unit tree, calendars, users and customers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.policy import Role, Scope
from hotline.auth.users import GrantSpec, add_user
from hotline.crm.customers import add_customer
from hotline.org import service as org
from hotline.org.calendar import china_2026_public_holidays
from hotline.sip.extensions import add_extension
from hotline.store.models import Tenant, Unit

DEMO_TENANT = "demo"
DEMO_FLOWS = Path(__file__).parent / "ivr" / "flows"
DEMO_SIP_PASSWORD = "Sip-Demo-2026"  # noqa: S105 - demo phones' SIP password, printed by `make demo`
DEMO_PASSWORD = "Hotline-2026"  # noqa: S105 - printed by `make demo`; change it on any real installation

OFFICE_WEEK = {d: [["08:30", "12:00"], ["13:30", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri")}
ALWAYS = {d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

# code, name, kind, parent code, calendar
UNITS = [
    ("sgcc", "国网客服中心 State Grid Customer Service Center", "center", None, "24x7"),
    ("js", "国网江苏省电力有限公司 Jiangsu", "province", "sgcc", "office"),
    ("js.nj", "国网南京供电公司 Nanjing", "city", "js", None),
    ("js.nj.jn", "江宁区供电公司 Jiangning", "county", "js.nj", None),
    ("js.nj.jn.ds", "东山供电所 Dongshan station", "station", "js.nj.jn", None),
    ("js.sz", "国网苏州供电公司 Suzhou", "city", "js", None),
]

# username, display name, unit, role, scope
USERS = [
    ("admin", "系统管理员", "sgcc", Role.ADMIN, Scope.TENANT),
    ("wang.fang", "王芳", "js.nj", Role.SUPERVISOR, Scope.SUBTREE),
    ("li.na", "李娜", "js.nj", Role.AGENT, Scope.SUBTREE),
    ("zhang.wei", "张伟", "js.nj", Role.AGENT, Scope.SUBTREE),
    ("zhao.min", "赵敏", "js", Role.QA, Scope.SUBTREE),
    ("chen.jing", "陈静", "sgcc", Role.KNOWLEDGE_EDITOR, Scope.TENANT),
    ("liu.yang", "刘洋", "js.nj.jn.ds", Role.HANDLER, Scope.UNIT),
    ("sun.li", "孙丽", "js", Role.VIEWER, Scope.SUBTREE),
]

# account, name, unit, class, phone, address
CUSTOMERS = [
    (
        "3201001001",
        "周建国",
        "js.nj.jn.ds",
        "rural_resident",
        "+8613912340001",
        "南京市江宁区东山街道上坊村 12 号",
    ),
    (
        "3201001002",
        "吴秀英",
        "js.nj.jn.ds",
        "urban_resident",
        "+8613912340002",
        "南京市江宁区东山街道金宝路 8 号 3 单元 402",
    ),
    (
        "3201002001",
        "南京金陵机械厂",
        "js.nj.jn",
        "large_industry",
        "+862552100001",
        "南京市江宁区科学园 18 号",
    ),
    ("3201003001", "郑丽华", "js.nj", "urban_resident", "+8613812340003", "南京市鼓楼区中山北路 101 号"),
    ("3205001001", "苏州园林茶社", "js.sz", "commercial", "+8651265200001", "苏州市姑苏区平江路 66 号"),
]


# number, display name, owner
EXTENSIONS = [
    ("1001", "南京 1 号席 Nanjing seat 1", "li.na"),
    ("1002", "南京 2 号席 Nanjing seat 2", "zhang.wei"),
    ("1003", "班长席 Supervisor", "wang.fang"),
]


@dataclass(frozen=True)
class DemoInfo:
    tenant: str
    created: bool
    users: list[tuple[str, str, str]]  # username, display name, role
    extensions: list[tuple[str, str]]  # number, owner
    password: str = DEMO_PASSWORD
    sip_password: str = DEMO_SIP_PASSWORD


async def seed_demo(s: AsyncSession) -> DemoInfo:
    """Create the demo tenant if it does not exist (idempotent)."""
    users = [(u, n, r.value) for u, n, _unit, r, _sc in USERS]
    exts = [(num, owner) for num, _name, owner in EXTENSIONS]
    if await s.scalar(select(Tenant.id).where(Tenant.slug == DEMO_TENANT)) is not None:
        return DemoInfo(DEMO_TENANT, False, users, exts)
    tenant = await org.add_tenant(s, DEMO_TENANT, "95598 demo")
    holidays, workdays = china_2026_public_holidays()
    cals = {
        "24x7": await org.add_calendar(s, tenant.id, "24x7", week=ALWAYS),
        "office": await org.add_calendar(
            s, tenant.id, "Office hours 2026", week=OFFICE_WEEK, holidays=holidays, workdays=workdays
        ),
    }
    units: dict[str, Unit] = {}
    for code, name, kind, parent, cal in UNITS:
        units[code] = await org.add_unit(
            s,
            tenant.id,
            code,
            name,
            kind=kind,
            parent=units[parent] if parent else None,
            calendar=cals[cal] if cal else None,
        )
    user_ids = {}
    for username, display, unit, role, scope in USERS:
        user = await add_user(
            s,
            tenant.id,
            username,
            unit=units[unit],
            password=DEMO_PASSWORD,
            grants=[GrantSpec(role, scope)],
            display_name=display,
        )
        user_ids[username] = user.id
    for account, name, unit, klass, phone, address in CUSTOMERS:
        await add_customer(
            s,
            tenant.id,
            unit=units[unit],
            account_no=account,
            name=name,
            customer_class=klass,
            phone=phone,
            address=address,
            dedicated_agent_id=user_ids["li.na"] if klass == "large_industry" else None,
        )
    for number, name, owner in EXTENSIONS:
        await add_extension(
            s,
            tenant,
            number,
            DEMO_SIP_PASSWORD,
            unit=units["js.nj"],
            display_name=name,
            user_id=user_ids[owner],
        )
    await seed_contact_center(s, tenant.id, units["js.nj"].id, user_ids, cals)
    from hotline.utility.seed import seed_demo_utility

    await seed_demo_utility(s, tenant.id)  # tariffs, grid, phones, PINs, readings, bills, payments, an outage
    from hotline.tickets.seed import seed_demo_tickets

    await seed_demo_tickets(s, tenant.id)  # work orders in every state (history, deadlines, the outage)
    return DemoInfo(DEMO_TENANT, True, users, exts)


# queue name, display name, settings (see hotline.cti.queues.QueueSettings)
QUEUES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "general",
        "综合服务 General",
        {
            "wrap_up": 10,
            "ring_timeout": 15,
            "greeting": "正在为您转接人工服务，请稍候。",
            "callback_offer_after": 90,
            "max_wait": 600,
            "priority_rules": [{"when": "data.vip == true", "set_to": 50}],
        },
    ),
    (
        "fault",
        "故障报修 Fault repair",
        {
            "wrap_up": 15,
            "ring_timeout": 15,
            "requirements": "fault>=2",
            "overflow": [{"target": "general", "after": 60}],
        },
    ),
    ("billing", "电费业务 Billing", {"wrap_up": 10, "ring_timeout": 15, "requirements": "billing>=2"}),
    ("complaint", "投诉 Complaints", {"wrap_up": 30, "ring_timeout": 15, "requirements": "complaint>=3"}),
    ("consult", "业务咨询 Consultation", {"wrap_up": 10, "ring_timeout": 15}),
    (
        "english",
        "English service",
        {
            "wrap_up": 10,
            "ring_timeout": 15,
            "requirements": "english>=1",
            "language": "en",
            "greeting": "Please hold, an agent will be with you shortly.",
        },
    ),
]
# username, agent number, skills, queues
AGENTS = [
    (
        "li.na",
        "8001",
        {"billing": 5, "fault": 3, "complaint": 4, "english": 2},
        ["general", "fault", "billing", "complaint", "consult", "english"],
    ),
    ("zhang.wei", "8002", {"billing": 3, "fault": 5}, ["general", "fault", "billing", "consult"]),
    ("wang.fang", "8003", {"complaint": 5, "english": 3}, ["complaint", "english", "general"]),
]
CODES = [
    ("disposition", "resolved", "已解决", "Resolved"),
    ("disposition", "info_given", "咨询已解答", "Information given"),
    ("disposition", "work_order", "已建工单", "Work order created"),
    ("disposition", "transferred", "已转接", "Transferred"),
    ("disposition", "callback_needed", "需回访", "Callback needed"),
    ("disposition", "nuisance", "骚扰电话", "Nuisance call"),
    ("not_ready", "break", "小休", "Break"),
    ("not_ready", "lunch", "用餐", "Lunch"),
    ("not_ready", "meeting", "会议", "Meeting"),
    ("not_ready", "training", "培训", "Training"),
    ("not_ready", "after_call_work", "话后处理", "After-call work"),
]
# number, flow, calendar, after-hours flow, description
NUMBERS = [
    ("95598", "95598-zh", None, "", "95598 供电服务热线 (zh-CN)"),
    ("955981", "95598-en", None, "", "95598 English line"),
    ("95598100", "95598-zh", "office", "after-hours-zh", "Office-hours line with an after-hours flow"),
]


async def seed_contact_center(
    s: AsyncSession, tenant_id: int, unit_id: int, user_ids: dict[str, int], cals: dict[str, Any]
) -> None:
    """Queues, agents, codes, the demo IVR flows and the number plan of the demo tenant."""
    from hotline.ivr.loader import parse_flow
    from hotline.store.models import AgentProfile, IvrFlow, NumberRoute, QueueDef, ServiceCode

    for name, display, settings in QUEUES:
        s.add(
            QueueDef(tenant_id=tenant_id, unit_id=unit_id, name=name, display_name=display, settings=settings)
        )
    for username, number, skills, queues in AGENTS:
        s.add(
            AgentProfile(
                tenant_id=tenant_id,
                user_id=user_ids[username],
                agent_no=number,
                skills=skills,
                queues=queues,
                auto_ready=True,
            )
        )
    for kind, code, zh, en in CODES:
        s.add(ServiceCode(tenant_id=tenant_id, kind=kind, code=code, label_zh=zh, label_en=en, active=True))
    for path in sorted(DEMO_FLOWS.glob("*.yaml")):
        source = path.read_text(encoding="utf-8")
        flow = parse_flow(source, source=path.name)
        s.add(IvrFlow(tenant_id=tenant_id, name=flow.name, version=1, source=source, active=True))
    for number, flow_name, cal, after, desc in NUMBERS:
        s.add(
            NumberRoute(
                tenant_id=tenant_id,
                number=number,
                flow=flow_name,
                calendar_id=cals[cal].id if cal else None,
                after_hours_flow=after,
                holiday_flow=after,
                description=desc,
            )
        )
    await s.flush()
