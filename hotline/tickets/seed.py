"""Work-order data: the demo tenant's orders in every state (:func:`seed_demo_tickets`) and a fast,
deterministic generator of many orders (:func:`generate`) for benchmarks and
``hotline seed tickets``.

**Demo orders** are made through the service (:func:`hotline.tickets.service.create_ticket` and
:func:`~hotline.tickets.service.act`) with ``now`` values in the past, so their history, deadline
steps, timers and contact-history entries are the real thing. Idempotent: nothing is added when
the demo tenant already has orders.

**Generated orders** are rows for :func:`hotline.store.bulk.bulk_insert` (COPY on PostgreSQL):
order ``i`` is a pure function of ``(seed, i, the context)`` — type (realistic 95598 mix),
subject and description (from templates, with the ``search`` tokens of
:func:`hotline.tickets.search.tokens`), customer (85 %) and its supply unit, channel, urgency,
``created_at`` spread evenly over ``span_days`` (two years by default) ending at ``now``, the
state the order would have reached by ``now`` given its age (recent orders open, older ones
archived, a few cancelled, merged, stuck on hold or overdue), the workflow bookkeeping columns
(``replied_at``, ``satisfaction``, ``closed_at``, …), the deadline summary (``due_at`` of open
orders, ``overdue`` / ``overdue_seconds``) and one history row per transition on the default
workflow's path to that state. The same seed gives the same orders whatever the batch size.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.store.bulk import bulk_insert
from hotline.store.models import Customer, RoleGrant, Ticket, TicketHistory, Unit, User
from hotline.tickets.service import reserve_ids

Progress = Callable[[str, int, int | None], None]

# -- the demo's orders -------------------------------------------------------------------------

#: the demo orders: (key, type, customer account or None, unit code or None (auto / not
#: dispatched), hours ago created, subject, description, extra create arguments, steps) — a
#: step is (action, hours after creation, actor username, note, payload)
Step = tuple[str, float, str, str, dict[str, Any]]
DEMO_ORDERS: tuple[tuple[str, str, str | None, str | None, float, str, str, dict[str, Any], tuple[Step, ...]], ...] = (
    (
        "accepted", "consultation", None, None, 0.05, "峰谷电价咨询",
        "客户咨询峰谷分时电价执行时段及申请方式，需转业务部门答复", {"dispatch": False}, (),
    ),
    (
        "dispatched", "fault_repair", "3201001002", "js.nj.jn.ds", 0.1, "家中停电",
        "客户反映家中突然停电，邻居家有电，请尽快派人抢修",
        {"fields": {"fault_kind": "no_power_single", "area": "rural"}}, (),
    ),
    (
        "acknowledged", "fault_repair", "3201001001", "js.nj.jn.ds", 0.4, "电压偏低",
        "客户反映晚间电压偏低，空调无法启动，灯光闪烁",
        {"fields": {"fault_kind": "low_voltage", "area": "rural"}},
        (("acknowledge", 0.1, "liu.yang", "已接单，安排人员前往", {}),),
    ),
    (
        "in_progress", "service_application", "3201002001", "js.nj.jn.ds", 50, "增容申请",
        "企业因扩产申请增加容量至 1250 千伏安",
        {"subtype": "capacity_increase", "fields": {"capacity_kva": 1250}},
        (
            ("acknowledge", 1, "liu.yang", "", {}),
            ("start", 3, "liu.yang", "已预约现场勘查", {}),
        ),
    ),
    (
        "on_hold", "complaint", "3201001002", "js.nj.jn.ds", 96, "电费异常",
        "客户投诉本月电费突然增加，怀疑电表计量不准",
        {"fields": {"business_category": "billing", "nature": "general"}, "category": "billing"},
        (
            ("acknowledge", 2, "liu.yang", "", {}),
            ("start", 4, "liu.yang", "", {}),
            ("hold", 20, "liu.yang", "客户外出，约定下周现场校表", {"waiting_for": "customer"}),
        ),
    ),
    (
        "replied", "opinion", "3201001001", "js.nj.jn.ds", 72, "停电通知",
        "客户建议停电通知提前三天并通过短信发送",
        {},
        (
            ("acknowledge", 1, "liu.yang", "", {}),
            ("start", 2, "liu.yang", "", {}),
            ("reply", 30, "liu.yang", "已向客户说明，停电通知将通过短信提前发送", {}),
        ),
    ),
    (
        "reviewed", "suggestion", "3201002001", "js.nj.jn.ds", 150, "线上办理",
        "客户建议更多业务可在网上国网办理",
        {},
        (
            ("acknowledge", 1, "liu.yang", "", {}),
            ("start", 2, "liu.yang", "", {}),
            ("reply", 40, "liu.yang", "已转达，相关业务将陆续上线", {}),
            ("review", 60, "wang.fang", "回复内容完整", {}),
        ),
    ),
    (
        "revisited", "complaint", "3201001001", "js.nj.jn.ds", 240, "抢修超时",
        "客户投诉停电报修后抢修人员超过三小时未到达现场",
        {"fields": {"business_category": "outage", "nature": "important"}, "category": "outage"},
        (
            ("acknowledge", 0.5, "liu.yang", "", {}),
            ("start", 1, "liu.yang", "", {}),
            ("reply", 48, "liu.yang", "经核实，当日抢修车辆故障导致延误，已致歉", {"substantiated": True}),
            ("review", 60, "wang.fang", "", {}),
            (
                "revisit", 80, "li.na", "",
                {"satisfaction": "dissatisfied", "comment": "客户认为仅致歉不够，要求说明整改措施", "method": "call"},
            ),
        ),
    ),
    (
        "archived", "praise", "3201003001", "js.nj", 480, "表扬抢修",
        "客户表扬抢修人员冒雨抢修，服务热情",
        {},
        (
            ("acknowledge", 1, "wang.fang", "", {}),
            ("start", 2, "wang.fang", "", {}),
            ("reply", 20, "wang.fang", "已转达表扬", {}),
            ("review", 30, "wang.fang", "", {}),
            ("revisit", 50, "li.na", "", {"satisfaction": "satisfied", "method": "call"}),
            ("archive", 60, "wang.fang", "", {}),
        ),
    ),
    (
        "overdue", "fault_repair", "3201001002", "js.nj.jn.ds", 30, "电表故障",
        "电表显示异常，黑屏无读数",
        {"fields": {"fault_kind": "meter", "area": "rural"}, "urgency": "urgent"}, (),
    ),
    (
        "cancelled", "consultation", "3205001001", "js.sz", 20, "缴费方式",
        "客户咨询线上缴费渠道",
        {},
        (("cancel", 1, "li.na", "客户已自行解决，撤销工单", {}),),
    ),
    (
        "outage", "fault_repair", "3201003001", None, 0.2, "小区停电",
        "客户反映整个小区停电，询问恢复时间",
        {"fields": {"fault_kind": "no_power_area", "area": "urban"}}, (),
    ),
    (
        "repeat", "complaint", "3201001001", "js.nj.jn.ds", 20, "频繁停电",
        "客户再次投诉近一个月内停电多次，严重影响生活",
        {"fields": {"business_category": "outage", "nature": "important"}, "category": "outage"},
        (("acknowledge", 1, "liu.yang", "", {}),),
    ),
)  # fmt: skip


async def seed_demo_tickets(s: AsyncSession, tenant_id: int, *, now: datetime | None = None) -> int:
    """The demo orders (:data:`DEMO_ORDERS`) through the service, with past ``now`` values;
    nothing when the tenant already has orders. Returns how many were created."""
    from hotline.crm.phones import normalize_phone
    from hotline.store.models import Outage
    from hotline.tickets import service
    from hotline.tickets.workflow import Command

    if await s.scalar(select(Ticket.id).where(Ticket.tenant_id == tenant_id).limit(1)) is not None:
        return 0
    now = now or datetime.now(UTC)
    users = {
        u.username: u
        for u in await s.scalars(
            select(User).where(
                User.tenant_id == tenant_id, User.username.in_(["li.na", "liu.yang", "wang.fang"])
            )
        )
    }
    if "li.na" not in users:
        return 0
    customers = {
        c.account_no: c for c in await s.scalars(select(Customer).where(Customer.tenant_id == tenant_id))
    }

    def actor(username: str) -> Any:
        u = users.get(username) or users["li.na"]
        return service.Actor(u.id, u.username, u.unit_id)

    outage_start = await s.scalar(
        select(func.max(Outage.start_at)).where(Outage.tenant_id == tenant_id, Outage.status == "active")
    )
    made = 0
    for key, type_code, account, unit, hours_ago, subject, description, extra, steps in DEMO_ORDERS:
        created = now - timedelta(hours=hours_ago)
        if key == "outage" and outage_start is not None:
            created = min(now, max(created, outage_start + timedelta(minutes=5)))
        customer = customers.get(account) if account else None
        if account and customer is None:
            continue
        args = dict(extra)
        fields = dict(args.pop("fields", {}))
        if customer is None:
            fields.setdefault("contact_phone", normalize_phone("13912340009"))
            fields.setdefault("customer_name", "王先生")
        change = await service.create_ticket(
            s,
            tenant_id,
            type_code=type_code,
            actor=actor("li.na"),
            fields=fields,
            subject=subject,
            description=description,
            customer_id=customer.id if customer else None,
            caller_number=customer.phone if customer else "",
            unit_id=unit,
            now=created,
            **args,
        )
        row = change.ticket
        for action, after, who, note, payload in steps:
            at = min(now, created + timedelta(hours=after))
            row = (
                await service.act(
                    s,
                    tenant_id,
                    row.id,
                    Command(action, who, note=note, payload=payload, expected_version=row.version),
                    actor=actor(who),
                    now=at,
                )
            ).ticket
        made += 1
    await s.flush()
    return made


# -- the generator's vocabulary ----------------------------------------------------------------

#: type code → weight (a 95598 center: mostly repairs and consultations)
TYPE_MIX: tuple[tuple[str, int], ...] = (
    ("fault_repair", 40),
    ("consultation", 18),
    ("service_application", 10),
    ("complaint", 8),
    ("opinion", 5),
    ("urge", 5),
    ("suggestion", 4),
    ("report", 2),
    ("praise", 2),
)
CHANNEL_MIX: tuple[tuple[str, int], ...] = (
    ("phone", 70),
    ("app", 12),
    ("wechat", 8),
    ("web", 5),
    ("sms", 2),
    ("email", 1),
    ("letter", 1),
    ("visit", 1),
)
URGENCY_MIX: tuple[tuple[str, int], ...] = (("normal", 85), ("urgent", 12), ("critical", 3))
SUBTYPES = ("new_connection", "capacity_increase", "change_of_use", "transfer_of_name", "suspension")
FAULT_KINDS = ("no_power_single", "no_power_area", "low_voltage", "danger", "meter", "other")
AREA_MIX: tuple[tuple[str, int], ...] = (("urban", 60), ("rural", 32), ("remote", 8))
CATEGORIES = ("service", "business", "outage", "power_quality", "grid_construction", "billing", "other")

#: (subject, description) templates per type; ``{p}`` is a place, ``{n}`` a small number
TEXTS: dict[str, tuple[tuple[str, str], ...]] = {
    "fault_repair": (
        ("家中停电", "客户反映{p}家中突然停电，邻居家有电，请尽快派人抢修"),
        ("小区停电", "{p}整个小区停电已{n}小时，客户情绪激动，要求尽快恢复供电"),
        ("电压低", "{p}晚间电压偏低，空调无法启动，灯光闪烁"),
        ("电线断落", "{p}路边电线断落，存在安全隐患，请立即处理"),
        ("电表故障", "{p}电表显示异常，黑屏无读数"),
        ("频繁跳闸", "{p}近{n}天频繁跳闸停电，影响正常生活"),
        ("变压器异响", "{p}附近变压器有异响并冒烟，客户担心安全"),
    ),
    "consultation": (
        ("电费咨询", "客户咨询本月电费为何比上月高出{n}成，已解释阶梯电价"),
        ("峰谷电价", "客户咨询峰谷分时电价执行时段及申请方式"),
        ("停电计划", "客户咨询{p}计划停电的时间安排"),
        ("缴费方式", "客户咨询线上缴费渠道和电子发票开具"),
        ("光伏并网", "客户咨询分布式光伏并网流程和补贴政策"),
    ),
    "service_application": (
        ("新装申请", "客户申请{p}新装用电，容量{n}0千伏安"),
        ("增容申请", "{p}企业因扩产申请增加容量"),
        ("更名过户", "客户购买{p}房产，申请办理过户"),
        ("暂停用电", "{p}工厂停产检修，申请暂停用电{n}个月"),
        ("用途变更", "{p}商铺申请变更用电类别"),
    ),
    "complaint": (
        ("抢修超时", "客户投诉{p}停电报修后抢修人员超过{n}小时未到达现场"),
        ("服务态度", "客户投诉营业厅工作人员服务态度差，推诿不办理业务"),
        ("电费异常", "客户投诉{p}电费突然增加，怀疑电表计量不准"),
        ("频繁停电", "客户投诉{p}一个月内停电{n}次，严重影响生产经营"),
        ("停电未通知", "客户投诉{p}计划停电未提前通知，造成损失"),
        ("业扩时限", "客户投诉新装用电办理超过承诺时限{n}天"),
    ),
    "opinion": (
        ("停电通知", "客户建议停电通知提前{n}天并通过短信发送"),
        ("营业时间", "客户对营业厅周末不营业有意见"),
        ("线路施工", "客户对{p}线路施工占道有意见"),
    ),
    "urge": (
        ("催办抢修", "客户来电催促{p}的故障抢修进度"),
        ("催办业务", "客户催促新装用电业务办理进度，已等待{n}天"),
    ),
    "suggestion": (
        ("增加网点", "客户建议在{p}增设缴费网点"),
        ("线上办理", "客户建议更多业务可在网上国网办理"),
    ),
    "report": (
        ("窃电举报", "客户举报{p}有人私拉电线窃电"),
        ("违规收费", "客户举报有人冒充供电员工上门收费"),
    ),
    "praise": (
        ("表扬抢修", "客户表扬{p}抢修人员冒雨抢修，服务热情"),
        ("表扬客服", "客户表扬客服人员耐心细致解答问题"),
    ),
}
PLACES = (
    "江宁区东山街道",
    "鼓楼区中山北路",
    "玄武区珠江路",
    "秦淮区夫子庙",
    "建邺区河西大街",
    "栖霞区仙林",
    "浦口区江浦街道",
    "六合区雄州",
    "溧水区永阳",
    "姑苏区平江路",
    "吴中区木渎",
    "工业园区星湖街",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华玉红梅国"
SATISFACTION_MIX: tuple[tuple[str, int], ...] = (
    ("satisfied", 85),
    ("basically_satisfied", 10),
    ("dissatisfied", 5),
)

#: the default workflow's path (action, state reached) to each state
PATHS: dict[str, tuple[tuple[str, str], ...]] = {}
_MAIN = (
    ("accept", "accepted"),
    ("dispatch", "dispatched"),
    ("acknowledge", "acknowledged"),
    ("start", "in_progress"),
    ("reply", "replied"),
    ("review", "reviewed"),
    ("revisit", "revisited"),
    ("archive", "archived"),
)
for _k in range(len(_MAIN)):
    PATHS[_MAIN[_k][1]] = _MAIN[: _k + 1]
PATHS["on_hold"] = (*_MAIN[:4], ("hold", "on_hold"))
PATHS["cancelled"] = (*_MAIN[:2], ("cancel", "cancelled"))
PATHS["merged"] = (_MAIN[0], ("merge", "merged"))
OPEN_STATES = ("accepted", "dispatched", "acknowledged", "in_progress", "on_hold", "replied", "reviewed")
CLOSED_STATES = ("archived", "cancelled", "merged")

#: (age limit, state mix) — the state an order has reached by now, by its age
STATE_BY_AGE: tuple[tuple[timedelta, tuple[tuple[str, int], ...]], ...] = (
    (timedelta(hours=2), (("accepted", 10), ("dispatched", 40), ("acknowledged", 25), ("in_progress", 25))),
    (
        timedelta(days=3),
        (
            ("dispatched", 5),
            ("acknowledged", 10),
            ("in_progress", 42),
            ("on_hold", 5),
            ("replied", 25),
            ("reviewed", 10),
            ("cancelled", 3),
        ),
    ),
    (
        timedelta(days=15),
        (
            ("in_progress", 8),
            ("on_hold", 4),
            ("replied", 12),
            ("reviewed", 16),
            ("revisited", 30),
            ("archived", 26),
            ("cancelled", 3),
            ("merged", 1),
        ),
    ),
    (
        timedelta(days=100_000),
        (
            ("archived", 930),
            ("cancelled", 30),
            ("merged", 10),
            ("revisited", 15),
            ("on_hold", 5),
            ("in_progress", 10),
        ),
    ),
)
#: share of finished orders that ran past a deadline (kept on the order: it was overdue)
OVERDUE_SHARE = 0.07
#: how long after the previous transition the next one happens (seconds, low/high)
STEP_DELAY: dict[str, tuple[int, int]] = {
    "dispatch": (30, 600),
    "acknowledge": (60, 1800),
    "start": (300, 3600),
    "hold": (600, 7200),
    "reply": (1800, 3 * 86400),
    "review": (600, 86400),
    "revisit": (3600, 3 * 86400),
    "archive": (3600, 2 * 86400),
    "cancel": (300, 7200),
    "merge": (60, 1800),
}
#: how long the step running in each open state may take before it is overdue (seconds)
DUE_AFTER: dict[str, int] = {
    "accepted": 600,
    "dispatched": 1800,
    "acknowledged": 2700,
    "in_progress": 5 * 86400,
    "on_hold": 5 * 86400,
    "replied": 86400,
    "reviewed": 3 * 86400,
}


def _cum(mix: Sequence[tuple[str, int]]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    keys, cum, total = [], [], 0
    for k, w in mix:
        total += w
        keys.append(k)
        cum.append(total)
    return tuple(keys), tuple(cum)


def _pick(rng: random.Random, table: tuple[tuple[str, ...], tuple[int, ...]]) -> str:
    keys, cum = table
    x = rng.random() * cum[-1]
    for k, c in zip(keys, cum, strict=True):
        if x < c:
            return k
    return keys[-1]


_TYPES = _cum(TYPE_MIX)
_CHANNELS = _cum(CHANNEL_MIX)
_URGENCIES = _cum(URGENCY_MIX)
_AREAS = _cum(AREA_MIX)
_SATISFACTION = _cum(SATISFACTION_MIX)
_STATES = tuple((age, _cum(mix)) for age, mix in STATE_BY_AGE)


# -- context: who and where ---------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    id: int
    username: str


@dataclass(frozen=True)
class Client:
    """A customer an order may be about."""

    id: int
    account_no: str
    name: str
    phone: str
    address: str
    unit_id: int


@dataclass
class GenContext:
    """What generated orders refer to: the tenant's units, customers and staff."""

    tenant_id: int
    #: responsible units (the leaves of the unit tree), and the intake unit (the center)
    units: list[int]
    intake_unit_id: int
    customers: list[Client] = field(default_factory=list)
    #: who creates (agents), who handles per unit (handlers), who reviews (supervisors)
    agents: list[Person] = field(default_factory=list)
    handlers: dict[int, list[Person]] = field(default_factory=dict)
    reviewers: list[Person] = field(default_factory=list)


async def load_context(s: AsyncSession, tenant_id: int, *, max_customers: int = 2_000_000) -> GenContext:
    """The tenant's leaf units, customers (the first ``max_customers``) and staff by role."""
    units = list(
        (
            await s.execute(select(Unit.id, Unit.parent_id, Unit.depth).where(Unit.tenant_id == tenant_id))
        ).all()
    )
    if not units:
        raise ValueError("the tenant has no units")
    parents = {p for _i, p, _d in units if p is not None}
    leaves = sorted(i for i, _p, _d in units if i not in parents)
    intake = min(units, key=lambda u: (u[2], u[0]))[0]
    rows = await s.execute(
        select(
            Customer.id,
            Customer.account_no,
            Customer.name,
            Customer.phone,
            Customer.address,
            Customer.unit_id,
        )
        .where(Customer.tenant_id == tenant_id)
        .order_by(Customer.id)
        .limit(max_customers)
    )
    customers = [Client(*r) for r in rows.all()]
    staff = await s.execute(
        select(User.id, User.username, User.unit_id, RoleGrant.role)
        .join(RoleGrant, RoleGrant.user_id == User.id)
        .where(User.tenant_id == tenant_id, User.active.is_(True))
        .order_by(User.id)
    )
    ctx = GenContext(tenant_id, leaves, intake, customers)
    for uid, username, unit_id, role in staff.all():
        p = Person(uid, username)
        if role == "agent":
            ctx.agents.append(p)
        elif role == "handler":
            ctx.handlers.setdefault(unit_id, []).append(p)
        elif role == "supervisor":
            ctx.reviewers.append(p)
    return ctx


# -- one order ------------------------------------------------------------------------------------

SYSTEM = Person(0, "system")
_AGENT_ACTIONS = frozenset(("accept", "dispatch", "cancel", "merge", "revisit", "archive"))
_TOKENS_CACHE: dict[tuple[str, str], str] = {}


def search_text(subject: str, description: str) -> str:
    """The ``search`` column for a subject and description (cached: the texts repeat)."""
    key = (subject, description)
    hit = _TOKENS_CACHE.get(key)
    if hit is None:
        from hotline.tickets.search import document

        hit = document(subject, description)
        if len(_TOKENS_CACHE) < 200_000:
            _TOKENS_CACHE[key] = hit
    return hit


_DAY_PREFIX: dict[int, str] = {}


def ticket_number(ticket_id: int, created_at: datetime) -> str:
    """``GD`` + the local (China) date + ``-`` + the id zero-padded to 7."""
    local = created_at.astimezone(UTC) + timedelta(hours=8)
    day = local.toordinal()
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = _DAY_PREFIX[day] = f"GD{local:%Y%m%d}-"
    return f"{prefix}{ticket_id:07d}"


def _choice(rng: random.Random, seq: Sequence[Any]) -> Any:
    return seq[int(rng.random() * len(seq))]


def _between(rng: random.Random, lo: int, hi: int) -> int:
    return lo + int(rng.random() * (hi - lo + 1))


def _state_for(rng: random.Random, age: timedelta) -> str:
    for limit, table in _STATES:
        if age < limit:
            return _pick(rng, table)
    return "archived"


def order(
    ctx: GenContext,
    i: int,
    ticket_id: int,
    *,
    seed: int,
    count: int,
    now: datetime,
    span_days: float,
    history_from: datetime | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Order number ``i`` (0-based of ``count``) as a ticket row with id ``ticket_id`` and its
    history rows (without ids) — only when it was created at or after ``history_from`` (None:
    always) or is still open: the history of old closed orders is rarely read, and writing it
    costs eight rows per order."""
    rng = random.Random(seed * 1_000_003 + i * 7919 + 17)
    span = span_days * 86400.0
    created = now - timedelta(seconds=span - (i + rng.random()) * span / max(count, 1))
    type_code = _pick(rng, _TYPES)
    subj, desc = _choice(rng, TEXTS[type_code])
    place = _choice(rng, PLACES)
    n = _between(rng, 2, 9)
    subject = subj
    description = desc.format(p=place, n=n)
    client = _choice(rng, ctx.customers) if ctx.customers and rng.random() < 0.85 else None
    unit_id = client.unit_id if client is not None else _choice(rng, ctx.units)
    state = _state_for(rng, now - created)
    path = PATHS[state]
    channel = _pick(rng, _CHANNELS)
    urgency = _pick(rng, _URGENCIES)
    area = _pick(rng, _AREAS)
    agent = _choice(rng, ctx.agents) if ctx.agents else SYSTEM
    handlers = ctx.handlers.get(unit_id)
    handler = _choice(rng, handlers) if handlers else None
    reviewer = _choice(rng, ctx.reviewers) if ctx.reviewers else agent
    if client is not None:
        name, phone, address, account = client.name, client.phone, client.address, client.account_no
    else:
        name = _choice(rng, SURNAMES) + _choice(rng, GIVEN) + _choice(rng, GIVEN)
        phone = f"+86139{int(rng.random() * 10**8):08d}"
        address = f"{place}{_between(rng, 1, 300)}号"
        account = ""
    form: dict[str, Any] = {"contact_phone": phone, "customer_name": name}
    subtype = ""
    if type_code == "fault_repair":
        form.update(fault_kind=_choice(rng, FAULT_KINDS), area=area, address=address)
    elif type_code == "service_application":
        subtype = _choice(rng, SUBTYPES)
    # walk the path: one transition after the other (never after now)
    steps: list[tuple[str, str, datetime, Person]] = []
    at = last_at = created
    replied_at = closed_at = held_since = None
    n_path = len(path)
    for version, (action, to_state) in enumerate(path, start=1):
        if action != "accept":
            lo, hi = STEP_DELAY[action]
            at = at + timedelta(seconds=_between(rng, lo, hi))
            if at > now:
                at = max(now - timedelta(seconds=n_path - version + 1), last_at)
        if action in _AGENT_ACTIONS:
            who = agent
        elif action == "review":
            who = reviewer
        else:
            who = handler or agent
        steps.append((action, to_state, at, who))
        if action == "reply":
            replied_at = at
        elif action == "hold":
            held_since = at
        if to_state in CLOSED_STATES:
            closed_at = at
        last_at = at
    satisfaction = _pick(rng, _SATISFACTION) if state in ("revisited", "archived") else None
    history: list[dict[str, Any]] = []
    if history_from is None or created >= history_from or state in OPEN_STATES:
        prev: str | None = None
        for version, (action, to_state, at, who) in enumerate(steps, start=1):
            data: dict[str, Any] = {}
            note = ""
            if action == "revisit":
                data = {"satisfaction": satisfaction, "method": "call"}
            elif action == "cancel":
                note = "客户已自行解决，撤销工单"
            elif action == "merge":
                note = "重复工单，合并"
                data = {"into": max(1, ticket_id - 1)}
            history.append(
                {
                    "tenant_id": ctx.tenant_id,
                    "ticket_id": ticket_id,
                    "at": at,
                    "user_id": who.id or None,
                    "actor": who.username,
                    "action": action,
                    "from_state": prev,
                    "to_state": to_state,
                    "note": note,
                    "attachments": [],
                    "data": data,
                    "version": version,
                }
            )
            prev = to_state
    due_at = None
    overdue = False
    overdue_seconds = 0.0
    if state in OPEN_STATES:
        due_at = last_at + timedelta(seconds=DUE_AFTER[state])
        if due_at < now:
            overdue = True
    elif rng.random() < OVERDUE_SHARE:
        overdue = True
        overdue_seconds = float(_between(rng, 60, 3 * 86400))
    dispatched = len(path) > 1 and path[1][0] == "dispatch"
    row: dict[str, Any] = {
        "id": ticket_id,
        "tenant_id": ctx.tenant_id,
        "number": ticket_number(ticket_id, created),
        "type_code": type_code,
        "subtype": subtype,
        "urgency": urgency,
        "state": state,
        "version": len(path),
        "changed_at": last_at,
        "channel": channel,
        "unit_id": unit_id if dispatched else ctx.intake_unit_id,
        "handler_id": handler.id if handler is not None and len(path) > 2 and state != "cancelled" else None,
        "intake_unit_id": ctx.intake_unit_id,
        "created_by": agent.id or None,
        "customer_id": client.id if client is not None else None,
        "account_no": account,
        "call_id": f"gen-{seed}-{i}" if channel == "phone" else "",
        "caller_number": phone if channel == "phone" else "",
        "contact_name": name,
        "contact_phone": phone,
        "address": address,
        "area_class": area,
        "category": _choice(rng, CATEGORIES) if type_code == "complaint" else "",
        "subject": subject,
        "description": description,
        "form": form,
        "search": search_text(subject, description),
        "held_from": "in_progress" if state == "on_hold" else None,
        "held_since": held_since if state == "on_hold" else None,
        "held_seconds": 0.0,
        "replied_at": replied_at,
        "substantiated": (rng.random() < 0.3)
        if replied_at is not None and type_code == "complaint"
        else None,
        "returns": 0,
        "reopens": 0,
        "satisfaction": satisfaction,
        "urges": _between(rng, 1, 3) if state in OPEN_STATES and rng.random() < 0.05 else 0,
        "merged_into": None,
        "closed_at": closed_at,
        "due_at": due_at,
        "overdue": overdue,
        "overdue_seconds": overdue_seconds,
        "escalations": 1 if overdue and state in OPEN_STATES else 0,
        "repeat_of": None,
        "repeat_count": 0,
        "outage_id": None,
        "created_at": created,
    }
    return row, history


def orders(
    ctx: GenContext,
    *,
    count: int,
    seed: int = 0,
    first_id: int = 1,
    now: datetime | None = None,
    span_days: float = 730.0,
    batch: int = 10_000,
    history_days: float | None = None,
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Batches of (ticket rows, history rows) for ``count`` orders with ids from ``first_id``;
    ``history_days``: history only for orders of the last so many days and open ones (None: all)."""
    now = now or datetime.now(UTC)
    history_from = None if history_days is None else now - timedelta(days=history_days)
    if not ctx.units:
        raise ValueError("no units to make orders for")
    for start in range(0, count, batch):
        rows: list[dict[str, Any]] = []
        hist: list[dict[str, Any]] = []
        for i in range(start, min(start + batch, count)):
            row, h = order(
                ctx,
                i,
                first_id + i,
                seed=seed,
                count=count,
                now=now,
                span_days=span_days,
                history_from=history_from,
            )
            rows.append(row)
            hist.extend(h)
        yield rows, hist


@dataclass
class GenReport:
    orders: int = 0
    history: int = 0
    first_id: int = 0
    seconds: float = 0.0
    states: dict[str, int] = field(default_factory=dict)


async def generate(
    factory: async_sessionmaker[AsyncSession],
    tenant_id: int,
    *,
    count: int,
    seed: int = 0,
    now: datetime | None = None,
    span_days: float = 730.0,
    batch: int = 10_000,
    history_days: float | None = None,
    progress: Progress | None = None,
    ctx: GenContext | None = None,
) -> GenReport:
    """Write ``count`` generated orders (and their history) of ``tenant_id``, one transaction
    per batch, ids after the tenant-wide highest; moves the PostgreSQL id sequence past them."""
    t0 = time.perf_counter()
    async with factory() as s:
        if ctx is None:
            ctx = await load_context(s, tenant_id)
    engine = factory.kw["bind"]
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # the range comes from the id sequence (running servers take their ids from it too)
            first = await reserve_ids(conn, count) if count else 1
        else:  # one writer: the ids after the highest
            first = int(await conn.scalar(select(func.max(Ticket.id))) or 0) + 1
    report = GenReport(first_id=first)
    ticket_t = Ticket.__table__
    history_t = TicketHistory.__table__
    if progress:
        progress("orders", 0, count)
    batches = orders(
        ctx,
        count=count,
        seed=seed,
        first_id=first,
        now=now,
        span_days=span_days,
        batch=batch,
        history_days=history_days,
    )
    # the next batch is made in a thread while the database copies this one
    upcoming = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
    while True:
        made = await upcoming
        if made is None:
            break
        rows, hist = made
        upcoming = asyncio.ensure_future(asyncio.to_thread(next, batches, None))
        async with engine.begin() as conn:
            await bulk_insert(conn, ticket_t, rows)  # type: ignore[arg-type]
            if hist:
                await bulk_insert(conn, history_t, hist)  # type: ignore[arg-type]
        report.orders += len(rows)
        report.history += len(hist)
        for r in rows:
            report.states[r["state"]] = report.states.get(r["state"], 0) + 1
        if progress:
            progress("orders", report.orders, count)
    report.seconds = time.perf_counter() - t0
    return report
