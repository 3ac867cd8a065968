"""Realistic utility demo data, fast and deterministic: ``hotline seed utility``.

:func:`generate` creates customers spread over a tenant's supply units (the leaves of its unit
tree), each with a realistic Chinese name (surnames by frequency; company and shop names for
commercial, industrial and agricultural accounts), an address in the unit's area (city, district,
street, residential compound or village, building/unit/room), 1–3 normalised phones (about 5 % of
them shared by 2–4 accounts: family members, landlords), a class and a voltage in realistic
shares, a feeder and a transformer area (台区, a few hundred customers each), a meter and one
reading per month with a seasonal shape (summer and winter peaks; TOU registers; maximum demand
for large industry); optionally bills priced by :func:`hotline.utility.tariffs.price`, payments
allocated by :func:`hotline.utility.payments.allocate`, outages and a few service applications.

**Determinism.** Customer number ``n`` (``start_account``, ``start_account + 1``, …) is a pure
function of ``(seed, n, its unit)``: the same seed gives the same data whatever the batch size,
and account numbers are ``<city code><unit id mod 100, 2 digits><n, 7 digits>`` (13 digits, never
the 10-digit demo accounts). **Idempotence.** Accounts that already exist are skipped: a second
run with the same seed and start adds nothing (the report says so); another ``start_account``
adds more customers. Outages are generated only when customers were added.

**Speed.** Everything is computed in Python and written with
:func:`hotline.store.bulk.bulk_insert`, one transaction per batch (5,000 customers by default).
Exact-decimal columns (:class:`~hotline.store.types.Fixed2`) are written as their stored form,
integer hundredths, through a copy of the table whose Fixed2 columns are plain BIGINT: the same
bytes an ORM insert would write, without a Decimal round trip per value.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, MetaData, Table, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from hotline.store.bulk import bulk_insert
from hotline.store.models import (
    Bill,
    Customer,
    CustomerPhone,
    Meter,
    MeterReading,
    Outage,
    OutageArea,
    Payment,
    ServiceApplication,
    Unit,
)
from hotline.store.types import Fixed2
from hotline.utility.billrun import default_issued_on as issue_day
from hotline.utility.billrun import period_last_day as month_end
from hotline.utility.data import names as N
from hotline.utility.money import ZERO, fen

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): called after each batch (stage "customers", "outages")."""

CLASS_SHARES: tuple[tuple[str, float], ...] = (
    ("urban_resident", 0.62),
    ("rural_resident", 0.25),
    ("commercial", 0.09),
    ("agriculture", 0.03),
    ("large_industry", 0.01),
)
RESIDENTS = ("urban_resident", "rural_resident")
VOLTAGES: dict[str, tuple[tuple[str, float], ...]] = {
    "urban_resident": (("220V", 1.0),),
    "rural_resident": (("220V", 1.0),),
    "commercial": (("380V", 0.85), ("10kV", 0.15)),
    "agriculture": (("380V", 0.8), ("10kV", 0.2)),
    "large_industry": (("10kV", 0.7), ("35kV", 0.22), ("110kV", 0.08)),
}
# median kWh per month and the spread (sigma of the log) per class; voltage scales it up
CONSUMPTION: dict[str, tuple[float, float]] = {
    "urban_resident": (180.0, 0.4),
    "rural_resident": (140.0, 0.45),
    "commercial": (2500.0, 0.8),
    "agriculture": (700.0, 0.7),
    "large_industry": (250_000.0, 0.7),
}
VOLTAGE_SCALE = {"220V": 1.0, "380V": 1.0, "10kV": 8.0, "35kV": 4.0, "110kV": 12.0}
# month (1..12) → factor: summer air conditioning and winter heating peaks; Spring Festival dip
# for industry; irrigation for agriculture
SEASON: dict[str, tuple[float, ...]] = {
    "resident": (1.30, 1.20, 0.95, 0.80, 0.85, 1.05, 1.45, 1.55, 1.10, 0.85, 0.90, 1.15),
    "commercial": (1.10, 0.90, 0.95, 0.90, 0.95, 1.10, 1.30, 1.35, 1.10, 0.95, 0.95, 1.05),
    "large_industry": (1.00, 0.78, 0.98, 1.00, 1.00, 1.03, 1.06, 1.06, 1.02, 1.00, 1.00, 1.03),
    "agriculture": (0.50, 0.50, 0.80, 1.00, 1.40, 1.60, 1.80, 1.60, 1.20, 0.80, 0.60, 0.50),
}
# TOU register shares (sharp, peak, flat, valley) by class
TOU_SPLIT: dict[str, tuple[float, float, float]] = {
    "urban_resident": (0.0, 0.58, 0.0),
    "rural_resident": (0.0, 0.55, 0.0),
    "commercial": (0.0, 0.40, 0.35),
    "agriculture": (0.0, 0.35, 0.35),
    "large_industry": (0.07, 0.33, 0.31),
}
CHANNELS = (("bank", 0.35), ("online", 0.42), ("counter", 0.18), ("agent", 0.05))
APPLICATION_KINDS = ("new_connection", "capacity_increase", "change_of_use", "transfer_of_name", "suspension")
APPLICATION_STEPS = ("accepted", "survey", "design", "construction", "connected", "completed")
OUTAGE_CAUSES_UNPLANNED = (
    "线路故障",
    "雷击跳闸",
    "外力破坏（施工挖断电缆）",
    "配变故障",
    "树障",
    "大风异物短路",
)
OUTAGE_CAUSES_PLANNED = ("计划检修", "线路改造", "配网自动化改造", "变压器增容")
CUSTOMER_TAGS = ("独居老人", "低保户", "医疗用电", "多次投诉", "重要活动保电", "光伏并网")
TA_SIZE = 300  # customers per transformer area
TAS_PER_FEEDER = 8


@dataclass
class SeedReport:
    """What a run added (rows per table), what it skipped, how long it took."""

    customers: int = 0
    skipped: int = 0
    phones: int = 0
    meters: int = 0
    readings: int = 0
    bills: int = 0
    payments: int = 0
    outages: int = 0
    outage_areas: int = 0
    applications: int = 0
    #: bills not issued because no tariff applies (class, voltage, tariff code)
    no_tariff: int = 0
    periods: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    notes: list[str] = field(default_factory=list)

    def rows(self) -> dict[str, int]:
        return {
            "customers": self.customers,
            "customer_phones": self.phones,
            "meters": self.meters,
            "meter_readings": self.readings,
            "bills": self.bills,
            "payments": self.payments,
            "outages": self.outages,
            "outage_areas": self.outage_areas,
            "service_applications": self.applications,
        }


# -- pure generation --------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitArea:
    """A supply unit and the area its customers live in."""

    unit_id: int
    code: str
    short: str  # e.g. 东山
    city: str  # e.g. 南京
    city_code: str  # account number prefix, e.g. 3201
    area_code: str  # telephone area code without the leading 0, e.g. 25
    districts: tuple[str, ...]  # one when the unit names its district
    town: str = ""  # a station's own town (东山供电所 → 东山街道), else one per transformer area


@dataclass(frozen=True)
class TransformerArea:
    feeder: str
    name: str
    district: str
    town: str
    street: str
    compound: str
    village: str
    number_base: int


@dataclass
class Draft:
    """One generated customer with its phones, meter and readings (values in hundredths)."""

    n: int
    unit_id: int
    account_no: str
    name: str
    customer_class: str
    voltage: str
    address: str
    phones: list[tuple[str, str]]  # (phone, kind), primary first
    vip: bool
    tags: list[str]
    preferred_channel: str
    email: str
    feeder: str
    transformer_area: str
    meter_no: str
    meter_kind: str
    multiplier: int
    installed_on: date
    # per period: (period, read_on, register, total, sharp, peak, flat, valley, demand) hundredths
    readings: list[tuple[str, date, int, int, int, int, int, int, int]]
    payer: str  # on_time | late | arrears
    tariff_code: str = ""
    capacity_kva: int = 0  # contracted capacity (合同容量), whole kVA
    application: tuple[str, str, datetime, list[dict[str, str]]] | None = None


#: standard transformer sizes (kVA) a contracted capacity is chosen from
TRANSFORMER_SIZES = (315, 400, 500, 630, 800, 1000, 1250, 1600, 2000, 2500, 3150, 4000, 5000, 6300, 8000)


def contracted_capacity(readings: Sequence[tuple[Any, ...]], n: int) -> int:
    """A large customer's contracted capacity: the smallest standard size at least 1.25 × its
    highest demand (a size picked by the customer number when there are no readings yet)."""
    peak = max((r[8] for r in readings), default=0) / 100  # demand_kw in hundredths
    if peak <= 0:
        return TRANSFORMER_SIZES[n % 6 + 2]
    need = peak * 1.25
    return next((size for size in TRANSFORMER_SIZES if size >= need), TRANSFORMER_SIZES[-1])


def _weighted(table: Sequence[tuple[str, float]]) -> tuple[list[str], list[float]]:
    keys = [k for k, _ in table]
    cum = list(itertools.accumulate(w for _, w in table))
    return keys, cum


def _pick(rng: random.Random, keys: list[str], cum: list[float]) -> str:
    return keys[bisect.bisect_right(cum, rng.random() * cum[-1])]


_SURNAMES = _weighted(N.SURNAMES)
_CLASSES = _weighted(CLASS_SHARES)
_VOLTAGES = {k: _weighted(v) for k, v in VOLTAGES.items()}
_CHANNELS = _weighted(CHANNELS)


def period_of(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


def add_months(period: str, k: int) -> str:
    y, m = int(period[:4]), int(period[5:7])
    idx = y * 12 + (m - 1) + k
    return f"{idx // 12:04d}-{idx % 12 + 1:02d}"


def periods_ending(end_period: str, months: int) -> list[str]:
    return [add_months(end_period, k - months + 1) for k in range(months)]


def _stable(*parts: object) -> int:
    """A stable 64-bit number for the parts (Python's hash() is salted per process)."""
    h = hashlib.blake2b(repr(parts).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "big")


def unit_area(unit_id: int, code: str, names: Sequence[str]) -> UnitArea:
    """The area of a unit from its own and its ancestors' names (nearest first): the first known
    city, and its district when one of the names carries it (江宁区供电公司 → 江宁区)."""
    joined = " ".join(names)
    city = next((c for c in N.CITIES if c in joined), N.DEFAULT_CITY)
    city_code, area_code, districts = N.CITIES[city]
    named = tuple(d for d in districts if d[:-1] in joined)
    own = names[0] if names else code
    short = own.split()[0]
    for junk in ("国网", "国家电网", "有限公司", "供电公司", "供电所", "供电局", "分公司", "电力"):
        short = short.replace(junk, "")
    short = short[:4] or code.rsplit(".", 1)[-1]
    town = f"{short}街道" if "供电所" in own and short not in N.CITIES else ""
    return UnitArea(unit_id, code, short, city, city_code, area_code, named[:1] or districts, town)


def transformer_area(seed: int, area: UnitArea, ta: int) -> TransformerArea:
    rng = random.Random(_stable("ta", seed, area.unit_id, ta))
    compound = rng.choice(N.COMPOUND_HEAD) + rng.choice(N.COMPOUND_TAIL)
    village = rng.choice(N.VILLAGE_HEAD) + "村"
    return TransformerArea(
        feeder=f"10kV{area.short}{ta // TAS_PER_FEEDER + 1:02d}线",
        name=f"{compound}{ta % TAS_PER_FEEDER + 1}号台区",
        district=rng.choice(area.districts),
        town=area.town or rng.choice(N.TOWNS),
        street=rng.choice(N.STREETS),
        compound=compound,
        village=village,
        number_base=rng.randint(1, 200),
    )


def _mobile(seed: int, m: int, stream: int) -> str:
    """A unique-looking mobile number for (customer number m, stream); different m give different
    numbers within one prefix (an affine bijection of the 8 digits)."""
    key = _stable("phone", seed, stream)
    prefixes = N.MOBILE_PREFIXES
    prefix = prefixes[(m * 7 + key) % len(prefixes)]
    digits = (m * 3_733_913 + key) % 100_000_000
    return f"+86{prefix}{digits:08d}"


def _landline(seed: int, m: int, area_code: str) -> str:
    width = 8 if len(area_code) == 2 or area_code in ("512", "510") else 7
    digits = (m * 7_654_321 + _stable("landline", seed)) % (10**width)
    first = 2 + digits % 7  # local numbers do not start with 0 or 1
    rest = f"{digits:0{width}d}"[1:]
    return f"+86{area_code}{first}{rest}"


def _name(rng: random.Random, klass: str, area: UnitArea, ta: TransformerArea) -> str:
    if klass in RESIDENTS:
        surname = _pick(rng, *_SURNAMES)
        given = rng.choice(N.GIVEN_MALE if rng.random() < 0.52 else N.GIVEN_FEMALE)
        return surname + given
    if klass == "large_industry":
        return f"{area.city}{rng.choice(N.COMPANY_PREFIX)}{rng.choice(N.INDUSTRY_TRADES)}{rng.choice(N.INDUSTRY_SUFFIX)}"
    if klass == "agriculture":
        head = ta.village[:-1] if rng.random() < 0.6 else _pick(rng, *_SURNAMES) + "氏"
        return f"{area.city}市{ta.district}{head}{rng.choice(N.FARM_KINDS)}"
    if rng.random() < 0.65:
        owner = _pick(rng, *_SURNAMES)
        style = rng.random()
        if style < 0.4:
            return f"{owner}记{rng.choice(N.SHOP_KINDS)}"
        if style < 0.7:
            return f"老{owner}{rng.choice(N.SHOP_KINDS)}"
        return f"{ta.compound}{rng.choice(N.SHOP_KINDS)}"
    return f"{area.city}{rng.choice(N.COMPANY_PREFIX)}{rng.choice(N.COMMERCE_SUFFIX)}"


def _address(rng: random.Random, klass: str, area: UnitArea, ta: TransformerArea) -> str:
    head = f"{area.city}市{ta.district}{ta.town}"
    if klass == "rural_resident" or (klass == "agriculture" and rng.random() < 0.7):
        return f"{head}{ta.village}{rng.randint(1, 12)}组{rng.randint(1, 120)}号"
    if klass == "urban_resident":
        return (
            f"{head}{ta.street}{ta.number_base}号{ta.compound}"
            f"{rng.randint(1, 30)}栋{rng.randint(1, 4)}单元{rng.randint(1, 33)}{rng.randint(1, 4):02d}室"
        )
    if klass == "large_industry":
        return f"{area.city}市{ta.district}{rng.choice(N.INDUSTRIAL_PARKS)}{ta.street}{rng.randint(1, 300)}号"
    return f"{head}{ta.street}{ta.number_base + rng.randint(0, 80)}号"


def _lognormal_kwh(rng: random.Random, klass: str, voltage: str) -> float:
    median, sigma = CONSUMPTION[klass]
    return median * VOLTAGE_SCALE[voltage] * math.exp(rng.gauss(0.0, sigma))


def _multiplier(rng: random.Random, klass: str, voltage: str) -> int:
    if klass in RESIDENTS:
        return 1
    if voltage == "380V":
        return rng.choice((1, 1, 1, 20, 30, 40))
    if voltage == "10kV":
        return rng.choice((50, 100, 200, 500))
    if voltage == "35kV":
        return rng.choice((1000, 3500))
    return rng.choice((11000, 22000))


def _readings(
    rng: random.Random,
    klass: str,
    voltage: str,
    meter_kind: str,
    multiplier: int,
    periods: Sequence[str],
) -> list[tuple[str, date, int, int, int, int, int, int, int]]:
    base = _lognormal_kwh(rng, klass, voltage)
    season = SEASON["resident" if klass in RESIDENTS else klass]
    sharp_s, peak_s, flat_s = TOU_SPLIT[klass]
    register = rng.randint(0, 5_000_000)  # hundredths of the meter's own unit
    out = []
    for p in periods:
        factor = season[int(p[5:7]) - 1] * max(0.3, rng.gauss(1.0, 0.12))
        kwh = max(1.0, base * factor)
        inc = (
            max(1, round(kwh / multiplier)) * 100
            if multiplier == 1
            else max(1, round(kwh * 100 / multiplier))
        )
        total = inc * multiplier
        register += inc
        sharp = peak = flat = valley = 0
        demand = 0
        if meter_kind in ("tou", "demand"):
            jitter = rng.uniform(0.93, 1.07)
            sharp = round(total * sharp_s * jitter)
            peak = round(total * peak_s * jitter)
            flat = round(total * flat_s)
            valley = total - sharp - peak - flat
        if meter_kind == "demand":
            demand = round(total / rng.uniform(380.0, 560.0))  # hundredths of kW: kWh / hours of use
        out.append((p, month_end(p), register, total, sharp, peak, flat, valley, demand))
    return out


def draft_customer(
    seed: int, n: int, areas: Sequence[UnitArea], periods: Sequence[str], today: date
) -> Draft:
    """Customer number ``n``: a pure function of (seed, n, the unit areas, the periods)."""
    area = areas[n % len(areas)]
    local = n // len(areas)
    ta_index = local // TA_SIZE
    ta = transformer_area(seed, area, ta_index)
    rng = random.Random(_stable("customer", seed, n))
    klass = _pick(rng, *_CLASSES)
    voltage = _pick(rng, *_VOLTAGES[klass])
    account = f"{area.city_code}{area.unit_id % 100:02d}{n:07d}"
    # phones: the own mobile, or (about 1 in 22) the one of a neighbouring account (family,
    # landlord), so shared numbers appear; a second and third phone for some
    phones: list[tuple[str, str]] = []
    if rng.random() < 0.045:
        phones.append((_mobile(seed, n - rng.randint(1, 3), 0), "mobile"))
    elif klass not in RESIDENTS and rng.random() < 0.5:
        phones.append((_landline(seed, n, area.area_code), "landline"))
    else:
        phones.append((_mobile(seed, n, 0), "mobile"))
    extra = rng.random()
    if extra < 0.35:
        second = _landline(seed, n + 1_000_003, area.area_code) if rng.random() < 0.3 else _mobile(seed, n, 1)
        phones.append((second, "landline" if second[3] != "1" else "mobile"))
    if extra < 0.06:
        phones.append((_mobile(seed, n, 2), "mobile"))
    seen: set[str] = set()
    phones = [p for p in phones if not (p[0] in seen or seen.add(p[0]))]  # type: ignore[func-returns-value]
    if klass in RESIDENTS:
        meter_kind = "tou" if rng.random() < 0.25 and klass == "urban_resident" else "single"
    elif klass == "large_industry":
        meter_kind = "demand"
    elif klass == "agriculture":
        meter_kind = "tou" if rng.random() < 0.3 else "single"
    else:
        meter_kind = "tou"
    multiplier = _multiplier(rng, klass, voltage)
    vip_p = {"large_industry": 0.3, "commercial": 0.02, "agriculture": 0.01}.get(klass, 0.001)
    tags = [rng.choice(CUSTOMER_TAGS)] if rng.random() < 0.02 else []
    company = klass not in RESIDENTS
    channel = rng.choices(("sms", "wechat", "voice", "email"), (60, 25, 10, 5 if company else 0))[0]
    name = _name(rng, klass, area, ta)
    draft = Draft(
        n=n,
        unit_id=area.unit_id,
        account_no=account,
        name=name,
        customer_class=klass,
        voltage=voltage,
        address=_address(rng, klass, area, ta),
        phones=phones,
        vip=rng.random() < vip_p,
        tags=tags,
        preferred_channel=channel,
        email=f"dl{n}@example.com" if channel == "email" else "",
        feeder=ta.feeder,
        transformer_area=ta.name,
        meter_no=f"DB{account}",
        meter_kind=meter_kind,
        multiplier=multiplier,
        installed_on=date(2008, 1, 1) + timedelta(days=rng.randint(0, 5000)),
        readings=_readings(rng, klass, voltage, meter_kind, multiplier, periods),
        payer=rng.choices(("on_time", "late", "arrears"), (90, 8, 2))[0],
        tariff_code=RES_TOU_TARIFF if klass == "urban_resident" and meter_kind == "tou" else "",
    )
    if klass == "large_industry":
        draft.capacity_kva = contracted_capacity(draft.readings, n)
    if rng.random() < 0.004:
        kind = rng.choice(APPLICATION_KINDS)
        submitted = datetime.combine(today - timedelta(days=rng.randint(1, 120)), datetime.min.time(), UTC)
        submitted += timedelta(hours=rng.randint(1, 9))
        reached = rng.randint(0, len(APPLICATION_STEPS) - 1)
        steps = []
        at = submitted
        for step in APPLICATION_STEPS[: reached + 1]:
            steps.append({"step": step, "at": at.isoformat(), "note": ""})
            at += timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 8))
        draft.application = (kind, APPLICATION_STEPS[reached], submitted, steps)
    return draft


# -- the database shell -------------------------------------------------------------------------

_RAW = MetaData()


def raw_table(table: Table) -> Table:
    """``table`` with its Fixed2 columns as plain BIGINT: rows then carry integer hundredths."""
    if table.name in _RAW.tables:
        return _RAW.tables[table.name]
    copy = table.to_metadata(_RAW)
    for col in copy.columns:
        if isinstance(col.type, Fixed2):
            col.type = BigInteger()
    return copy


def _t(model: Any) -> Table:
    return raw_table(model.__table__)


async def leaf_areas(s: AsyncSession, tenant_id: int, codes: Sequence[str] | None = None) -> list[UnitArea]:
    """The supply units customers are spread over: the named ones, or every leaf of the tree."""
    units = list(await s.scalars(select(Unit).where(Unit.tenant_id == tenant_id).order_by(Unit.id)))
    by_id = {u.id: u for u in units}
    parents = {u.parent_id for u in units}
    if codes:
        by_code = {u.code: u for u in units}
        missing = [c for c in codes if c not in by_code]
        if missing:
            from hotline.errors import NotFound

            raise NotFound(f"no unit {', '.join(missing)}", field="unit")
        chosen = [by_code[c] for c in codes]
    else:
        chosen = [u for u in units if u.id not in parents]
    areas = []
    for u in chosen:
        names = []
        cur: Unit | None = u
        while cur is not None:
            names.append(cur.name)
            cur = by_id.get(cur.parent_id) if cur.parent_id is not None else None
        areas.append(unit_area(u.id, u.code, names))
    return areas


def _customer_row(tenant_id: int, d: Draft) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "unit_id": d.unit_id,
        "account_no": d.account_no,
        "name": d.name,
        "customer_class": d.customer_class,
        "voltage": d.voltage,
        "phone": d.phones[0][0],
        "address": d.address,
        "vip": d.vip,
        "tags": d.tags,
        "preferred_channel": d.preferred_channel,
        "email": d.email,
        "feeder": d.feeder,
        "transformer_area": d.transformer_area,
        "tariff_code": d.tariff_code,
        "capacity_kva": d.capacity_kva * 100,  # raw table: hundredths
    }


async def _ids_after(
    conn: AsyncConnection, table: Table, tenant_id: int, after: int, *cols: Any
) -> list[Any]:
    rows = await conn.execute(
        select(table.c.id, *cols).where(table.c.tenant_id == tenant_id, table.c.id > after)
    )
    return list(rows)


async def _max_id(conn: AsyncConnection, table: Table) -> int:
    return int(await conn.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0)


BillHook = Callable[[AsyncConnection, int, list[tuple[Draft, int]], SeedReport], Any]


async def write_batch(
    conn: AsyncConnection,
    tenant_id: int,
    drafts: Sequence[Draft],
    report: SeedReport,
) -> list[tuple[Draft, int]]:
    """Insert the drafts (customers, phones, meters, readings, applications); returns (draft, id)."""
    customers = _t(Customer)
    before = await _max_id(conn, customers)
    await bulk_insert(conn, customers, [_customer_row(tenant_id, d) for d in drafts])
    by_account = {d.account_no: d for d in drafts}
    pairs = [
        (by_account[acc], cid)
        for cid, acc in await _ids_after(conn, customers, tenant_id, before, customers.c.account_no)
        if acc in by_account
    ]
    report.customers += len(pairs)
    await _write_children(conn, tenant_id, pairs, report)
    return pairs


async def _write_children(
    conn: AsyncConnection, tenant_id: int, pairs: Sequence[tuple[Draft, int]], report: SeedReport
) -> None:
    """Phones, meters, readings and applications of customers already inserted."""
    phones = [
        {"tenant_id": tenant_id, "customer_id": cid, "phone": p, "kind": k}
        for d, cid in pairs
        for p, k in d.phones
    ]
    meters = [
        {
            "tenant_id": tenant_id,
            "customer_id": cid,
            "meter_no": d.meter_no,
            "kind": d.meter_kind,
            "multiplier": d.multiplier,
            "installed_on": d.installed_on,
        }
        for d, cid in pairs
    ]
    readings = [
        {
            "tenant_id": tenant_id,
            "customer_id": cid,
            "meter_no": d.meter_no,
            "period": r[0],
            "read_on": r[1],
            "register_value": r[2],
            "kwh_total": r[3],
            "kwh_sharp": r[4],
            "kwh_peak": r[5],
            "kwh_flat": r[6],
            "kwh_valley": r[7],
            "demand_kw": r[8],
            "source": "remote",
        }
        for d, cid in pairs
        for r in d.readings
    ]
    apps = [
        {
            "tenant_id": tenant_id,
            "customer_id": cid,
            "kind": d.application[0],
            "status": d.application[1],
            "submitted_at": d.application[2],
            "steps": d.application[3],
            "updated_at": d.application[2],
        }
        for d, cid in pairs
        if d.application is not None
    ]
    report.phones += await bulk_insert(conn, _t(CustomerPhone), phones)
    report.meters += await bulk_insert(conn, _t(Meter), meters)
    report.readings += await bulk_insert(conn, _t(MeterReading), readings)
    report.applications += await bulk_insert(conn, _t(ServiceApplication), apps)


def outage_plan(
    seed: int,
    areas: Sequence[UnitArea],
    grid: dict[int, list[tuple[str, str]]],
    periods: Sequence[str],
    now: datetime,
) -> list[tuple[dict[str, Any], list[tuple[str, str]]]]:
    """Outages over the generated grid: about two restored ones per unit and month in the
    periods, one or two active unplanned ones now and one planned in the coming days."""
    rng = random.Random(_stable("outages", seed, len(periods)))
    out: list[tuple[dict[str, Any], list[tuple[str, str]]]] = []

    def areas_of(unit_id: int) -> list[tuple[str, str]]:
        tas = grid[unit_id]
        feeder, _ta = rng.choice(tas)
        if rng.random() < 0.3:
            return [(feeder, "")]
        same = [t for f, t in tas if f == feeder]
        return [(feeder, t) for t in sorted(rng.sample(same, min(len(same), rng.randint(1, 3))))]

    units = [a for a in areas if grid.get(a.unit_id)]
    if not units:
        return out
    for a in units:
        for p in periods:
            for _ in range(rng.choice((1, 2, 2, 3))):
                planned = rng.random() < 0.4
                day = date(int(p[:4]), int(p[5:7]), rng.randint(1, 28))
                hour = rng.randint(0, 9) if planned else rng.randint(0, 23)  # UTC; 08:00-17:00 local
                start = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=hour)
                if start >= now - timedelta(hours=12):
                    continue
                length = timedelta(
                    hours=rng.randint(3, 9) if planned else rng.randint(1, 5),
                    minutes=rng.choice((0, 15, 30, 45)),
                )
                actual = start + length + timedelta(minutes=rng.randint(-40, 60))
                row: dict[str, Any] = {
                    "unit_id": a.unit_id,
                    "kind": "planned" if planned else "unplanned",
                    "status": "restored",
                    "cause": rng.choice(OUTAGE_CAUSES_PLANNED if planned else OUTAGE_CAUSES_UNPLANNED),
                    "start_at": start,
                    "expected_end_at": start + length,
                    "actual_end_at": max(actual, start + timedelta(minutes=20)),
                    "notice": {},
                    "created_at": start - (timedelta(days=7) if planned else timedelta(0)),
                    "updated_at": actual,
                }
                out.append((row, areas_of(a.unit_id)))
    active = rng.choice((1, 2))
    for i in range(active):
        a = units[i % len(units)]
        start = now - timedelta(minutes=rng.randint(20, 150))
        out.append(
            (
                {
                    "unit_id": a.unit_id,
                    "kind": "unplanned",
                    "status": "active",
                    "cause": rng.choice(OUTAGE_CAUSES_UNPLANNED),
                    "start_at": start,
                    "expected_end_at": start + timedelta(hours=rng.randint(3, 6)),
                    "actual_end_at": None,
                    "notice": {},
                    "created_at": start,
                    "updated_at": start,
                },
                areas_of(a.unit_id),
            )
        )
    a = units[rng.randrange(len(units))]
    day = (now + timedelta(days=rng.randint(2, 4))).date()
    start = datetime.combine(day, datetime.min.time(), UTC)  # 08:00 Beijing time
    out.append(
        (
            {
                "unit_id": a.unit_id,
                "kind": "planned",
                "status": "scheduled",
                "cause": rng.choice(OUTAGE_CAUSES_PLANNED),
                "start_at": start,
                "expected_end_at": start + timedelta(hours=rng.randint(4, 9)),
                "actual_end_at": None,
                "notice": {},
                "created_at": now - timedelta(days=3),
                "updated_at": now - timedelta(days=3),
            },
            areas_of(a.unit_id),
        )
    )
    return out


async def write_outages(
    conn: AsyncConnection, tenant_id: int, plan: Sequence[tuple[dict[str, Any], list[tuple[str, str]]]]
) -> tuple[int, int]:
    table = _t(Outage)
    before = await _max_id(conn, table)
    await bulk_insert(conn, table, [{"tenant_id": tenant_id, **row} for row, _ in plan])
    ids = [oid for (oid,) in await _ids_after(conn, table, tenant_id, before)]
    ids.sort()
    areas = [
        {"tenant_id": tenant_id, "outage_id": oid, "feeder": f, "transformer_area": t}
        for oid, (_, places) in zip(ids, plan, strict=True)
        for f, t in places
    ]
    await bulk_insert(conn, _t(OutageArea), areas)
    return len(ids), len(areas)


def _chunks(seq: Sequence[int], size: int) -> Iterable[Sequence[int]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


async def generate(
    factory: async_sessionmaker[AsyncSession],
    tenant_id: int,
    *,
    customers: int,
    months: int,
    seed: int = 0,
    start_account: int = 1,
    units: Sequence[str] | None = None,
    end_period: str | None = None,
    as_of: date | None = None,
    now: datetime | None = None,
    bills: bool = True,
    payments: bool = True,
    outages: bool = True,
    batch: int = 5000,
    progress: Progress | None = None,
) -> SeedReport:
    """Generate ``customers`` customers (numbers ``start_account`` …) with ``months`` months of
    readings ending with ``end_period`` (default: the month before ``as_of``, default today).

    ``now`` (default the current time) places the active and planned outages.
    """
    started = time.perf_counter()
    now = now or datetime.now(UTC)
    as_of = as_of or now.date()
    end_period = end_period or add_months(period_of(as_of), -1)
    periods = periods_ending(end_period, months) if months > 0 else []
    report = SeedReport(periods=periods)
    async with factory() as s:
        areas = await leaf_areas(s, tenant_id, units)
    if not areas:
        report.notes.append("the tenant has no units: nothing generated")
        return report
    billing = None
    if bills and periods:
        billing = await _billing_hook(
            factory, tenant_id, payments=payments, as_of=as_of, periods=periods, seed=seed, report=report
        )
    numbers = list(range(start_account, start_account + customers))
    grid: dict[int, set[tuple[str, str]]] = {}
    customers_t = _t(Customer)
    done = 0
    for chunk in _chunks(numbers, batch):
        drafts = [draft_customer(seed, n, areas, periods, as_of) for n in chunk]
        async with factory() as s, s.begin():
            conn = await s.connection()
            existing = set(
                await conn.scalars(
                    select(customers_t.c.account_no).where(
                        customers_t.c.tenant_id == tenant_id,
                        customers_t.c.account_no.in_([d.account_no for d in drafts]),
                    )
                )
            )
            fresh = [d for d in drafts if d.account_no not in existing]
            report.skipped += len(drafts) - len(fresh)
            if fresh:
                pairs = await write_batch(conn, tenant_id, fresh, report)
                if billing is not None:
                    await billing(conn, tenant_id, pairs, report)
                for d in fresh:
                    grid.setdefault(d.unit_id, set()).add((d.feeder, d.transformer_area))
        done += len(chunk)
        if progress is not None:
            progress("customers", done, len(numbers))
    if report.skipped and not report.customers:
        report.notes.append(
            f"all {report.skipped} accounts of this seed and start already exist: nothing added "
            "(use another --start-account to add more)"
        )
    elif report.skipped:
        report.notes.append(f"{report.skipped} accounts already existed and were left as they are")
    if report.no_tariff:
        report.notes.append(
            f"{report.no_tariff} bills not issued: no tariff for the customer's class and voltage"
        )
    if outages and report.customers:
        plan = outage_plan(seed, areas, {k: sorted(v) for k, v in grid.items()}, periods, now)
        async with factory() as s, s.begin():
            conn = await s.connection()
            report.outages, report.outage_areas = await write_outages(conn, tenant_id, plan)
        if progress is not None:
            progress("outages", 1, 1)
    report.elapsed = time.perf_counter() - started
    return report


async def _billing_hook(
    factory: async_sessionmaker[AsyncSession],
    tenant_id: int,
    *,
    payments: bool,
    as_of: date,
    periods: Sequence[str],
    seed: int,
    report: SeedReport,
) -> BillHook | None:
    """Bills (and payments) per batch, priced by :mod:`hotline.utility.tariffs` (the tenant's
    tariffs; the default set is loaded when it has none) and paid through
    :func:`hotline.utility.payments.allocate` with the tenant's late-fee rule."""
    try:
        from hotline.utility import tariffs as T
        from hotline.utility.latefees import load_rule
    except ImportError:  # pragma: no cover - the modules ship together
        report.notes.append("bills and payments: not available (hotline.utility.tariffs is missing)")
        return None
    from hotline.store.models import Tariff

    async with factory() as s, s.begin():
        if await s.scalar(select(func.count()).select_from(Tariff).where(Tariff.tenant_id == tenant_id)) == 0:
            loaded = await T.load_default_tariffs(s, tenant_id)
            report.notes.append(f"the tenant had no tariffs: {loaded} default tariff versions loaded")
        versions = await T.load_versions(s, tenant_id)
        rule = await load_rule(s, tenant_id)
    books = {p: T.TariffBook(versions, month_end(p)) for p in periods if issue_day(p) <= as_of}

    async def hook(
        conn: AsyncConnection, tenant_id: int, pairs: list[tuple[Draft, int]], report: SeedReport
    ) -> None:
        priced: list[tuple[Draft, int, list[BillDraft]]] = []
        for d, cid in pairs:
            drafts, missing = price_bills(d, books)
            report.no_tariff += missing
            priced.append((d, cid, drafts))
        paid: list[list[PaymentDraft]] = [
            simulate_payments(seed, d, b, as_of, rule) if payments else [] for d, _cid, b in priced
        ]
        await write_bills(
            conn, tenant_id, [(cid, b, p) for (_d, cid, b), p in zip(priced, paid, strict=True)], report
        )

    return hook


async def write_bills(
    conn: AsyncConnection,
    tenant_id: int,
    items: Sequence[tuple[int, list[BillDraft], list[PaymentDraft]]],
    report: SeedReport,
) -> None:
    """Insert (customer id, bills, payments) as they are after the payments; allocations get the
    real bill ids."""
    bills_t, payments_t = _t(Bill), _t(Payment)
    before = await _max_id(conn, bills_t)
    rows = [bill_row(tenant_id, cid, b) for cid, drafts, _p in items for b in drafts]
    report.bills += await bulk_insert(conn, bills_t, rows)
    if not any(p for _c, _b, p in items):
        return
    ids = {
        (cid, period): bid
        for bid, cid, period in await _ids_after(
            conn, bills_t, tenant_id, before, bills_t.c.customer_id, bills_t.c.period
        )
    }
    pay_rows = []
    for cid, drafts, pays in items:
        bill_ids = [ids[(cid, b.period)] for b in drafts]
        pay_rows += [payment_row(tenant_id, cid, p, bill_ids) for p in pays]
    report.payments += await bulk_insert(conn, payments_t, pay_rows)


# -- bills and payments (pure) --------------------------------------------------------------------

RES_TOU_TARIFF = "res-tiered-tou"  # urban residents with a TOU meter chose time-of-use pricing
DUE_DAYS = 24
PAY_TZ_HOURS = 8  # payments are made 09:00-21:00 Beijing time


@dataclass
class BillDraft:
    period: str
    tariff_id: int | None
    kwh: Decimal
    amount: Decimal
    lines: list[dict[str, str | None]]
    issued_on: date
    due_on: date
    paid: Decimal = ZERO
    late_fee_paid: Decimal = ZERO
    status: str = "open"
    settled_on: date | None = None
    #: (day, principal) of the payments on it, for the late fee
    principal_payments: list[tuple[date, Decimal]] = field(default_factory=list)


@dataclass
class PaymentDraft:
    amount: Decimal
    channel: str
    reference: str
    paid_at: datetime
    late_fee: Decimal
    credit: Decimal
    #: allocations with "bill_id" = the index of the bill in the customer's drafts
    allocations: list[dict[str, Any]]


def _h(v: int) -> Decimal:
    return Decimal(v).scaleb(-2)


def price_bills(d: Draft, books: dict[str, Any]) -> tuple[list[BillDraft], int]:
    """The customer's bills for the periods of ``books`` (those already issued), priced exactly
    like the bill run prices them (same tariff choice, year-to-date kWh of the year's earlier
    bills). Returns the bills and how many periods had no tariff."""
    from hotline.utility import tariffs as T

    out: list[BillDraft] = []
    missing = 0
    ytd: dict[str, Decimal] = {}
    for period, _read_on, _reg, total, sharp, peak, flat, valley, demand in d.readings:
        book = books.get(period)
        if book is None:
            continue
        version = book.find(d.customer_class, d.voltage, d.tariff_code)
        if version is None:
            missing += 1
            continue
        kwh = _h(total)
        year = period[:4]
        usage = T.Usage(
            period=period,
            kwh_total=kwh,
            kwh_sharp=_h(sharp),
            kwh_peak=_h(peak),
            kwh_flat=_h(flat),
            kwh_valley=_h(valley),
            demand_kw=_h(demand),
            year_to_date_kwh=ytd.get(year, ZERO),
            capacity_kva=Decimal(d.capacity_kva) if version.spec.kind == "two_part" else ZERO,
        )
        lines = T.price(version.spec, usage)
        amount = T.total(lines)
        ytd[year] = ytd.get(year, ZERO) + kwh
        issued = issue_day(period)
        b = BillDraft(
            period, version.id, kwh, amount, T.lines_json(lines), issued, issued + timedelta(days=DUE_DAYS)
        )
        if not amount:
            b.status, b.settled_on = "paid", issued
        out.append(b)
    return out, missing


def simulate_payments(
    seed: int, d: Draft, bills: list[BillDraft], as_of: date, rule: Any, *, unpaid_last: int | None = None
) -> list[PaymentDraft]:
    """How the customer paid ``bills`` up to ``as_of`` (updates the bills: paid, late fees, status).

    On-time payers pay everything owed on a day between the issue and the due date (bank
    debits on a fixed day; a few round the amount up and keep credit); late payers do that too
    but settle about a third of the bills 3-40 days after the due date, late fee included; payers
    in arrears stop paying for the last 1-6 bills (one partial payment on some); ``unpaid_last``
    leaves exactly that many last bills unpaid whatever the payer. Each payment is
    allocated by :func:`hotline.utility.payments.allocate`: oldest bill first, its fee first.
    """
    from hotline.utility.payments import OpenBill, allocate

    rng = random.Random(_stable("payments", seed, d.n))
    channel = _pick(rng, *_CHANNELS)
    bank_day = rng.randint(3, 12)
    stop = len(bills)
    if d.payer == "arrears":
        stop = max(0, len(bills) - rng.randint(1, 6))
    if unpaid_last is not None:
        stop = max(0, len(bills) - unpaid_last)
    days: list[date] = []
    for k, b in enumerate(bills):
        if k >= stop:
            break
        if d.payer == "late" and rng.random() < 0.35:
            days.append(b.due_on + timedelta(days=rng.randint(3, 40)))
        elif channel == "bank":
            days.append(b.issued_on + timedelta(days=bank_day))
        else:
            days.append(b.issued_on + timedelta(days=rng.randint(0, DUE_DAYS)))
    partial_day = None
    if d.payer == "arrears" and stop < len(bills) and rng.random() < 0.4:
        partial_day = bills[stop].due_on + timedelta(days=rng.randint(10, 60))
    round_up = rng.random() < 0.04 and channel in ("online", "counter")
    out: list[PaymentDraft] = []
    credit = ZERO
    events = sorted(set(days)) + ([partial_day] if partial_day else [])
    first_open = 0  # bills before it are all paid (bills are in period order)
    for i, day in enumerate(events):
        if day > as_of:
            break
        while first_open < len(bills) and bills[first_open].status == "paid":
            first_open += 1
        open_idx = []
        for k in range(first_open, len(bills)):
            if bills[k].issued_on > day:
                break
            if bills[k].status != "paid":
                open_idx.append(k)
        if not open_idx:
            continue
        open_bills = [
            OpenBill(
                bill_id=k,
                period=bills[k].period,
                due_on=bills[k].due_on,
                outstanding=bills[k].amount - bills[k].paid,
                late_fee_paid=bills[k].late_fee_paid,
                principal_payments=tuple(bills[k].principal_payments),
            )
            for k in open_idx
        ]
        if day == partial_day:
            owed = fen(
                sum((b.outstanding for b in open_bills), ZERO) * Decimal(rng.choice((30, 40, 50))) / 100
            )
        elif all(b.due_on >= day for b in open_bills):  # nothing overdue: no late fee
            owed = sum((b.outstanding for b in open_bills), ZERO)
        else:
            everything = allocate(Decimal(10**9), open_bills, day, d.customer_class, rule)
            owed = everything.principal + everything.late_fee
        if round_up and day != partial_day:
            owed = Decimal(math.ceil((owed - credit) / 10) * 10) + credit
        amount = fen(owed - credit)
        if amount <= 0:
            continue
        alloc = allocate(amount, open_bills, day, d.customer_class, rule, credit)
        for a in alloc.bills:
            b = bills[a.bill_id]
            b.paid += a.principal
            b.late_fee_paid += a.late_fee
            if a.principal:
                b.principal_payments.append((day, a.principal))
            if a.settled:
                b.status, b.settled_on = "paid", day
            else:
                b.status = "partial"
        credit = credit - alloc.credit_used + alloc.credit
        at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
            hours=rng.randint(9, 20) - PAY_TZ_HOURS, minutes=rng.randint(0, 59), seconds=rng.randint(0, 59)
        )
        out.append(
            PaymentDraft(
                amount=amount,
                channel="counter" if day == partial_day else channel,
                reference=f"SEED-{d.account_no}-{i + 1:03d}",
                paid_at=at,
                late_fee=fen(alloc.late_fee),
                credit=alloc.credit,
                allocations=alloc.entries(day),
            )
        )
    return out


def _cents(v: Decimal) -> int:
    return int(v.scaleb(2))


def bill_row(tenant_id: int, customer_id: int, b: BillDraft) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "period": b.period,
        "tariff_id": b.tariff_id,
        "kwh": _cents(b.kwh),
        "amount": _cents(b.amount),
        "paid": _cents(b.paid),
        "late_fee_paid": _cents(b.late_fee_paid),
        "status": b.status,
        "issued_on": b.issued_on,
        "due_on": b.due_on,
        "settled_on": b.settled_on,
        "lines": b.lines,
    }


def payment_row(tenant_id: int, customer_id: int, p: PaymentDraft, bill_ids: Sequence[int]) -> dict[str, Any]:
    allocations = [{**e, "bill_id": bill_ids[e["bill_id"]]} if "bill_id" in e else e for e in p.allocations]
    return {
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "amount": _cents(p.amount),
        "channel": p.channel,
        "reference": p.reference,
        "paid_at": p.paid_at,
        "late_fee": _cents(p.late_fee),
        "credit": _cents(p.credit),
        "allocations": allocations,
        "agent_id": None,
        "call_id": "",
    }


def digest_rows(rows: Iterable[Sequence[Any]]) -> str:
    """A digest of rows (tests compare two runs)."""
    h = hashlib.sha256()
    for r in rows:
        h.update(repr(tuple(r)).encode())
    return h.hexdigest()


# -- the demo tenant ------------------------------------------------------------------------------

DEMO_PIN = "123456"


@dataclass(frozen=True)
class DemoAccount:
    feeder: str
    transformer_area: str
    voltage: str
    meter_kind: str
    multiplier: int
    phones: tuple[str, ...]  # every phone, the primary first
    vip: bool = False
    pin: bool = False
    unpaid_last: int = 0  # how many of the last bills stay unpaid
    tariff_code: str = ""
    capacity_kva: int = 0  # contracted capacity (合同容量)


DEMO_ACCOUNTS: dict[str, DemoAccount] = {
    # PIN 123456
    "3201001001": DemoAccount("10kV东山01线", "上坊村1号台区", "220V", "single", 1, ("+8613912340001",), pin=True),
    # PIN 123456; its current bill is unpaid; its number is shared with 3201001003
    "3201001002": DemoAccount(
        "10kV东山01线", "金宝花园2号台区", "220V", "tou", 1, ("+8613912340002",), pin=True, unpaid_last=1,
        tariff_code=RES_TOU_TARIFF,
    ),
    "3201001003": DemoAccount("10kV东山01线", "金宝花园2号台区", "220V", "single", 1, ("+8613912340002", "+8613912340004")),
    "3201002001": DemoAccount(
        "10kV科学园03线", "金陵机械厂专变台区", "10kV", "demand", 200, ("+862552100001", "+8613951800001"), vip=True,
        capacity_kva=800,
    ),
    # in arrears: the last three bills unpaid, two of them overdue (late fee); the active outage is
    # on its transformer area (not on 3201001001's: the tests' usual caller would hear it on every call)
    "3201003001": DemoAccount("10kV中山北05线", "中山北路101号台区", "220V", "single", 1, ("+8613812340003",), unpaid_last=3),
    "3205001001": DemoAccount("10kV平江02线", "平江路1号台区", "380V", "tou", 1, ("+8651265200001",)),
}  # fmt: skip
#: the demo account whose transformer area has the active outage (call as +8613812340003 to hear it)
DEMO_OUTAGE_ACCOUNT = "3201003001"
# the second account on 吴秀英's number (her husband's flat in the same compound): the desk offers a choice
DEMO_SECOND = (
    "3201001003",
    "陈志强",
    "js.nj.jn.ds",
    "urban_resident",
    "南京市江宁区东山街道金宝路 8 号 5 单元 301",
)


async def seed_demo_utility(
    s: AsyncSession, tenant_id: int, *, months: int = 12, now: datetime | None = None
) -> SeedReport:
    """Utility data of the demo tenant (:func:`hotline.seed.seed_demo`): default tariffs; the
    demo customers on feeders and transformer areas with phones, meters and ``months`` months of
    readings, bills and payments; PIN 123456 on 3201001001 and 3201001002; a second account on
    +8613912340002; 3201003001 in arrears with a late fee, 3201001002 with its current bill unpaid;
    an active unplanned outage on 3201003001's transformer area. Fast: a few dozen rows."""
    from zoneinfo import ZoneInfo

    from hotline.crm.customers import add_customer
    from hotline.crm.protect import hash_pin
    from hotline.utility import tariffs as T
    from hotline.utility.latefees import load_rule

    report = SeedReport()
    now = now or datetime.now(UTC)
    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    periods = periods_ending(add_months(period_of(today), -1), months)
    report.periods = periods
    account, name, unit_code, klass, address = DEMO_SECOND
    if (
        await s.scalar(
            select(Customer.id).where(Customer.tenant_id == tenant_id, Customer.account_no == account)
        )
        is None
    ):
        unit = await s.scalar(select(Unit).where(Unit.tenant_id == tenant_id, Unit.code == unit_code))
        if unit is not None:
            await add_customer(
                s, tenant_id, unit=unit, account_no=account, name=name, customer_class=klass,
                phone=DEMO_ACCOUNTS[account].phones[0], address=address,
            )  # fmt: skip
    customers = {
        c.account_no: c
        for c in await s.scalars(
            select(Customer).where(
                Customer.tenant_id == tenant_id, Customer.account_no.in_(list(DEMO_ACCOUNTS))
            )
        )
    }
    if not customers:
        return report
    have_phones = set(
        (
            await s.execute(
                select(CustomerPhone.customer_id, CustomerPhone.phone).where(
                    CustomerPhone.tenant_id == tenant_id
                )
            )
        ).all()
    )
    pin_hash = hash_pin(DEMO_PIN)
    for acc, c in customers.items():
        spec = DEMO_ACCOUNTS[acc]
        c.feeder, c.transformer_area, c.voltage = spec.feeder, spec.transformer_area, spec.voltage
        c.vip, c.tariff_code, c.phone = spec.vip or c.vip, spec.tariff_code, spec.phones[0]
        c.capacity_kva = Decimal(spec.capacity_kva)
        if spec.pin:
            c.pin_hash = pin_hash
        for phone in spec.phones:
            if (c.id, phone) not in have_phones:
                s.add(CustomerPhone(tenant_id=tenant_id, customer_id=c.id, phone=phone, kind=_kind(phone)))
                report.phones += 1
    if await T.load_default_tariffs(s, tenant_id):
        report.notes.append("default tariffs loaded")
    versions = await T.load_versions(s, tenant_id)
    rule = await load_rule(s, tenant_id)
    await s.flush()
    conn = await s.connection()
    if await conn.scalar(
        select(func.count())
        .select_from(_t(Meter))
        .where(_t(Meter).c.customer_id.in_([c.id for c in customers.values()]))
    ):
        return report  # already there
    books = {p: T.TariffBook(versions, month_end(p)) for p in periods if issue_day(p) <= today}
    drafts: list[tuple[Draft, int]] = []
    for acc, c in sorted(customers.items()):
        spec = DEMO_ACCOUNTS[acc]
        rng = random.Random(_stable("demo", acc))
        drafts.append(
            (
                Draft(
                    n=int(acc), unit_id=c.unit_id, account_no=acc, name=c.name, customer_class=c.customer_class,
                    voltage=spec.voltage, address=c.address, phones=[], vip=c.vip,
                    tags=list(c.tags or []), preferred_channel=c.preferred_channel, email=c.email, feeder=spec.feeder,
                    transformer_area=spec.transformer_area, meter_no=f"DB{acc}", meter_kind=spec.meter_kind,
                    multiplier=spec.multiplier, installed_on=date(2015, 6, 1) + timedelta(days=rng.randint(0, 900)),
                    readings=_readings(rng, c.customer_class, spec.voltage, spec.meter_kind, spec.multiplier, periods),
                    payer="on_time", tariff_code=spec.tariff_code,
                ),
                c.id,
            )
        )  # fmt: skip
    await _write_children(conn, tenant_id, drafts, report)
    items = []
    for d, cid in drafts:
        bills, missing = price_bills(d, books)
        report.no_tariff += missing
        pays = simulate_payments(
            0, d, bills, today, rule, unpaid_last=DEMO_ACCOUNTS[d.account_no].unpaid_last
        )
        items.append((cid, bills, pays))
    await write_bills(conn, tenant_id, items, report)
    first = DEMO_ACCOUNTS[DEMO_OUTAGE_ACCOUNT]
    start = now.replace(microsecond=0) - timedelta(minutes=40)
    plan = [
        (
            {
                "unit_id": customers[DEMO_OUTAGE_ACCOUNT].unit_id,
                "kind": "unplanned",
                "status": "active",
                "cause": "10kV 线路故障，抢修人员已到达现场",
                "start_at": start,
                "expected_end_at": start + timedelta(hours=4),
                "actual_end_at": None,
                "notice": {},
                "created_at": start,
                "updated_at": start,
            },
            [(first.feeder, first.transformer_area)],
        )
    ]
    report.outages, report.outage_areas = await write_outages(conn, tenant_id, plan)
    report.customers = len(drafts)
    return report


def _kind(phone: str) -> str:
    from hotline.crm.phones import phone_kind

    return phone_kind(phone)
