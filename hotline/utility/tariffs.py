"""Tariffs as data (电价): validated documents, the version in force on a day, and pricing.

A tariff document (JSON or YAML; stored in ``tariffs.spec``) has common fields — ``code``,
``name``, ``kind``, ``customer_class``, ``voltage`` (``"*"`` = any), ``effective_from``,
``by_default`` (false: only customers whose ``tariff_code`` names it get it, e.g. residents who
opted into time-of-use) and ``surcharges`` (extra per-kWh lines such as 政府性基金及附加) — and one
of four kinds:

``tiered`` (阶梯电价, residents)
    ``tier_period``: ``annual`` (tiers compare the year-to-date kWh: this period's kWh fill the
    year's tiers from where the earlier bills of the year left off) or ``monthly``; ``tiers``: a
    list of ``{upto, price}`` with ``upto`` the cumulative kWh bound (strictly increasing), the
    last tier open (no ``upto``). Optional ``tou`` overlay for residents who chose time-of-use:
    all kWh are priced at the TOU register prices, and the kWh falling in tier *n* > 1 add the
    tier's mark-up (tier price − first tier price) as a separate line — the way Jiangsu bills
    resident TOU customers (峰谷电价 + 阶梯加价). Tier prices must then not decrease.
``tou`` (分时电价, e.g. 一般工商业)
    ``tou.windows``: register (``sharp`` 尖峰, ``peak`` 高峰, ``flat`` 平段, ``valley`` 低谷) →
    list of ``"HH:MM-HH:MM"`` windows (an end before the start wraps past midnight; ``24:00``
    allowed as an end); together they cover the 24 hours exactly once. ``tou.prices``: register →
    price for every register that has windows.
``flat``
    ``price`` per kWh.
``two_part`` (两部制, large industry)
    ``basic``: ``{basis: capacity, price}`` (yuan per kVA·month of contracted capacity) or
    ``{basis: demand, price}`` (yuan per kW·month of the month's maximum demand); ``energy``:
    ``{kind: flat, price}`` or ``{kind: tou, windows, prices}``.

Prices: decimals with at most 6 places (strings or numbers; never negative). Validation errors
name the path (``tiers[1].upto``, ``tou.windows.peak[0]``) and the reason; :func:`check`
returns all of them, :func:`parse_tariff` raises :class:`~hotline.errors.Invalid` naming the
first. Meter readings give the kWh per register; kWh of the total not attributed to a register
(a single-register meter on a TOU tariff) are priced in the ``flat`` register.

Pricing (:func:`price`) is pure and exact: each line is kWh × price rounded to the fen half up
(:mod:`hotline.utility.money`), the bill total is the sum of the lines. Not modelled (yet): the
power-factor adjustment (力调电费) and the minimum demand of 40 % of capacity.

Versions: a tariff code has one version per ``effective_from``; the version in force on a day
is the latest not after it (:func:`select_tariff`). Saving a new version never changes a bill
already issued: bills keep the version's id and their own line items.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, ValidationError

from hotline.errors import Invalid
from hotline.utility.backend import BillLine
from hotline.utility.money import ZERO, fen

KINDS = ("tiered", "tou", "flat", "two_part")
CLASSES = ("urban_resident", "rural_resident", "commercial", "large_industry", "agriculture")
VOLTAGES = ("*", "220V", "380V", "10kV", "20kV", "35kV", "110kV", "220kV")
REGISTERS = ("sharp", "peak", "flat", "valley")
REGISTER_LABELS = {"sharp": "尖峰电量", "peak": "高峰电量", "flat": "平段电量", "valley": "低谷电量"}
CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
WINDOW_RE = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
_NUMERALS = "一二三四五六七八九十"
DAY_MINUTES = 24 * 60


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("must be a number")
    if isinstance(value, float):
        value = repr(value)
    try:
        d = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise ValueError(f"{value!r} is not a number") from None
    if not d.is_finite():
        raise ValueError("must be a finite number")
    if d < 0:
        raise ValueError("must not be negative")
    exponent = d.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        raise ValueError("at most 6 decimal places")
    return d


#: a non-negative exact decimal (at most 6 places) written as a string in JSON
Dec = Annotated[
    Decimal,
    PlainValidator(_decimal),
    PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Model):
    #: cumulative kWh bound of the tier (per year or month); None = open (the last tier)
    upto: Dec | None = None
    price: Dec
    label: str = ""


class TouBlock(_Model):
    windows: dict[str, list[str]]
    prices: dict[str, Dec]


class Surcharge(_Model):
    code: str = Field(min_length=1, max_length=32)
    label: str = Field(min_length=1, max_length=100)
    #: yuan per kWh
    price: Dec


class Basic(_Model):
    basis: Literal["capacity", "demand"]
    #: yuan per kVA·month (capacity) or per kW·month (demand)
    price: Dec


class FlatEnergy(_Model):
    kind: Literal["flat"]
    price: Dec


class TouEnergy(_Model):
    kind: Literal["tou"]
    windows: dict[str, list[str]]
    prices: dict[str, Dec]


class _Common(_Model):
    code: str = Field(min_length=1, max_length=64)
    name: str = Field("", max_length=200)
    customer_class: Literal["urban_resident", "rural_resident", "commercial", "large_industry", "agriculture"]
    voltage: str = "*"
    effective_from: date
    by_default: bool = True
    surcharges: list[Surcharge] = Field(default_factory=list)


class TieredSpec(_Common):
    kind: Literal["tiered"]
    tier_period: Literal["annual", "monthly"] = "annual"
    tiers: list[Tier]
    tou: TouBlock | None = None


class TouSpec(_Common):
    kind: Literal["tou"]
    tou: TouBlock


class FlatSpec(_Common):
    kind: Literal["flat"]
    price: Dec


class TwoPartSpec(_Common):
    kind: Literal["two_part"]
    basic: Basic
    energy: Annotated[FlatEnergy | TouEnergy, Field(discriminator="kind")]


TariffSpec = Annotated[TieredSpec | TouSpec | FlatSpec | TwoPartSpec, Field(discriminator="kind")]
AnySpec = TieredSpec | TouSpec | FlatSpec | TwoPartSpec


class _Doc(BaseModel):
    spec: TariffSpec


@dataclass(frozen=True)
class Issue:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}" if self.path else self.reason


# -- validation ---------------------------------------------------------------------------------


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _loc_without_tags(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # pydantic puts the discriminator value into the location of tagged unions: drop it
    out: list[int | str] = []
    for i, part in enumerate(loc):
        prev = loc[i - 1] if i else None
        if part in KINDS and (i == 0 or prev == "energy"):
            continue
        if part in ("flat", "tou") and prev == "energy":
            continue
        out.append(part)
    return tuple(out)


def _pydantic_issues(exc: ValidationError) -> list[Issue]:
    issues = []
    for e in exc.errors():
        loc = _loc_without_tags(tuple(e["loc"])[1:])  # drop "spec"
        msg = str(e["msg"])
        kind = e["type"]
        if kind == "union_tag_invalid" or kind == "union_tag_not_found":
            where = "energy.kind" if loc and loc[-1] == "energy" else "kind"
            allowed = "flat, tou" if where == "energy.kind" else ", ".join(KINDS)
            issues.append(Issue(where, f"unknown or missing kind (one of {allowed})"))
            continue
        if kind == "extra_forbidden":
            msg = "unknown field"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        issues.append(Issue(_path(loc), msg))
    return issues


def _minutes(hh: str, mm: str) -> int | None:
    h, m = int(hh), int(mm)
    if m > 59 or h > 24 or (h == 24 and m):
        return None
    return h * 60 + m


def _fmt(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _check_tou(prefix: str, windows: Mapping[str, list[str]], prices: Mapping[str, Decimal]) -> list[Issue]:
    issues: list[Issue] = []
    owner: list[str | None] = [None] * DAY_MINUTES
    for reg, spans in windows.items():
        if reg not in REGISTERS:
            issues.append(
                Issue(f"{prefix}windows.{reg}", f"unknown register (one of {', '.join(REGISTERS)})")
            )
            continue
        if not spans:
            issues.append(Issue(f"{prefix}windows.{reg}", "no windows: leave the register out instead"))
        for i, text in enumerate(spans):
            where = f"{prefix}windows.{reg}[{i}]"
            m = WINDOW_RE.match(text.strip()) if isinstance(text, str) else None
            start = _minutes(m.group(1), m.group(2)) if m else None
            end = _minutes(m.group(3), m.group(4)) if m else None
            if start is None or end is None or start == DAY_MINUTES:
                issues.append(Issue(where, f"{text!r} is not a window like '08:00-11:00'"))
                continue
            if start == end:
                issues.append(Issue(where, f"{text!r} is empty (start equals end)"))
                continue
            minutes = range(start, end) if start < end else [*range(start, DAY_MINUTES), *range(0, end)]
            clash = next((x for x in minutes if owner[x] is not None), None)
            if clash is not None:
                issues.append(Issue(where, f"{text} overlaps {owner[clash]} at {_fmt(clash)}"))
                continue
            for x in minutes:
                owner[x] = where
    if not issues:
        gaps: list[str] = []
        x = 0
        while x < DAY_MINUTES:
            if owner[x] is None:
                y = x
                while y < DAY_MINUTES and owner[y] is None:
                    y += 1
                gaps.append(f"{_fmt(x)}-{_fmt(y)}")
                x = y
            else:
                x += 1
        if gaps:
            issues.append(
                Issue(f"{prefix}windows", f"the windows must cover 24 hours: gaps {', '.join(gaps)}")
            )
    for reg in prices:
        if reg not in REGISTERS:
            issues.append(Issue(f"{prefix}prices.{reg}", f"unknown register (one of {', '.join(REGISTERS)})"))
        elif reg not in windows:
            issues.append(Issue(f"{prefix}prices.{reg}", "price for a register without windows"))
    for reg in windows:
        if reg in REGISTERS and reg not in prices:
            issues.append(Issue(f"{prefix}prices.{reg}", "missing price for a register with windows"))
    return issues


def _semantic(spec: AnySpec) -> list[Issue]:
    issues: list[Issue] = []
    if not CODE_RE.match(spec.code):
        issues.append(Issue("code", "letters, digits, '.', '_' and '-' (at most 64)"))
    if spec.voltage not in VOLTAGES:
        issues.append(Issue("voltage", f"one of {', '.join(VOLTAGES)}"))
    seen: set[str] = set()
    for i, sc in enumerate(spec.surcharges):
        if sc.code in seen:
            issues.append(Issue(f"surcharges[{i}].code", f"duplicate surcharge code {sc.code!r}"))
        seen.add(sc.code)
    if isinstance(spec, TieredSpec):
        if not spec.tiers:
            issues.append(Issue("tiers", "at least one tier"))
        last = None
        for i, tier in enumerate(spec.tiers):
            is_last = i == len(spec.tiers) - 1
            if is_last:
                if tier.upto is not None:
                    issues.append(Issue(f"tiers[{i}].upto", "the last tier is open: leave upto out"))
                continue
            if tier.upto is None:
                issues.append(Issue(f"tiers[{i}].upto", "only the last tier may be open (give upto)"))
                continue
            if tier.upto <= 0:
                issues.append(Issue(f"tiers[{i}].upto", "must be greater than 0"))
            elif last is not None and tier.upto <= last:
                issues.append(
                    Issue(
                        f"tiers[{i}].upto",
                        f"must be greater than tiers[{i - 1}].upto ({last}): tiers overlap or are out of order",
                    )
                )
            last = tier.upto if last is None or tier.upto > last else last
        if spec.tou is not None:
            issues += _check_tou("tou.", spec.tou.windows, spec.tou.prices)
            for i in range(1, len(spec.tiers)):
                if spec.tiers[i].price < spec.tiers[i - 1].price:
                    issues.append(
                        Issue(f"tiers[{i}].price", "with a TOU overlay tier prices must not decrease")
                    )
    elif isinstance(spec, TouSpec):
        issues += _check_tou("tou.", spec.tou.windows, spec.tou.prices)
    elif isinstance(spec, TwoPartSpec) and isinstance(spec.energy, TouEnergy):
        issues += _check_tou("energy.", spec.energy.windows, spec.energy.prices)
    return issues


def check(doc: Mapping[str, Any]) -> tuple[AnySpec | None, list[Issue]]:
    """Validate a document: the spec (None when invalid) and every issue found."""
    if not isinstance(doc, Mapping):
        return None, [Issue("", "a tariff document is a mapping (JSON object)")]
    try:
        spec = _Doc.model_validate({"spec": dict(doc)}).spec
    except ValidationError as exc:
        return None, _pydantic_issues(exc)
    issues = _semantic(spec)
    return (None if issues else spec), issues


def parse_tariff(doc: Mapping[str, Any]) -> AnySpec:
    """The validated spec, or :class:`Invalid` naming the first bad path (detail lists them all)."""
    spec, issues = check(doc)
    if spec is None:
        exc = Invalid("invalid tariff: " + "; ".join(str(i) for i in issues), field=issues[0].path or None)
        exc.errors = [{"field": i.path or "body", "reason": i.reason} for i in issues]  # type: ignore[attr-defined]
        raise exc
    return spec


def dump(spec: AnySpec) -> dict[str, Any]:
    """The canonical JSON document (decimals as strings), as stored in ``tariffs.spec``: code,
    name and kind first; empty tier labels and an empty surcharge list left out."""
    body = spec.model_dump(mode="json", exclude_none=True)
    for tier in body.get("tiers", []):
        if not tier.get("label"):
            tier.pop("label", None)
    if not body.get("surcharges"):
        body.pop("surcharges", None)
    head: dict[str, Any] = {k: body.pop(k) for k in ("code", "name", "kind") if k in body}
    return {**head, **body}


def same_spec(stored: Mapping[str, Any], spec: AnySpec) -> bool:
    """Whether a stored document says the same as ``spec`` (compared parsed, not as text)."""
    old, _ = check(stored)
    return old == spec


# -- pricing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """What a period's bill is computed from (kWh and kW with 2 places)."""

    period: str
    kwh_total: Decimal
    kwh_sharp: Decimal = ZERO
    kwh_peak: Decimal = ZERO
    kwh_flat: Decimal = ZERO
    kwh_valley: Decimal = ZERO
    demand_kw: Decimal = ZERO
    #: kWh of the year's earlier periods (annual tiers)
    year_to_date_kwh: Decimal = ZERO
    months_in_period: int = 1
    #: contracted capacity (kVA) for two-part tariffs billed on capacity
    capacity_kva: Decimal = ZERO


def _tier_label(i: int, tier: Tier) -> str:
    if tier.label:
        return tier.label
    n = _NUMERALS[i] if i < len(_NUMERALS) else str(i + 1)
    return f"第{n}档电量"


def _line(code: str, label: str, kwh: Decimal | None, price: Decimal, qty: Decimal) -> BillLine:
    return BillLine(code=code, label=label, amount=fen(qty * price), kwh=kwh, price=price)


def register_kwh(usage: Usage, registers: Sequence[str]) -> dict[str, Decimal]:
    """kWh per register of a TOU block; kWh of the total not in any register go to ``flat``.

    Raises :class:`Invalid` when the registers add up to more than the total or a register with
    kWh has no price in the tariff.
    """
    given = {
        "sharp": usage.kwh_sharp,
        "peak": usage.kwh_peak,
        "flat": usage.kwh_flat,
        "valley": usage.kwh_valley,
    }
    rest = usage.kwh_total - sum(given.values(), ZERO)
    if rest < 0:
        raise Invalid("the TOU registers add up to more than the total kWh", field="kwh_total")
    given["flat"] += rest
    for reg, kwh in given.items():
        if kwh and reg not in registers:
            raise Invalid(f"{kwh} kWh in register {reg}, which the tariff does not price", field=f"kwh_{reg}")
    return {reg: given[reg] for reg in REGISTERS if reg in registers}


def _tou_lines(usage: Usage, prices: Mapping[str, Decimal]) -> list[BillLine]:
    kwh = register_kwh(usage, list(prices))
    return [
        _line(reg, REGISTER_LABELS[reg], k, prices[reg], k) for reg, k in kwh.items() if k or reg == "flat"
    ]


def tier_split(tiers: Sequence[Tier], start: Decimal, kwh: Decimal, scale: int = 1) -> list[Decimal]:
    """kWh of this period in each tier, the period's kWh lying on [start, start + kwh)."""
    out = []
    lo = ZERO
    end = start + kwh
    for tier in tiers:
        hi = None if tier.upto is None else tier.upto * scale
        top = end if hi is None else min(end, hi)
        out.append(max(ZERO, top - max(start, lo)))
        if hi is not None:
            lo = hi
    return out


def price(spec: AnySpec, usage: Usage) -> list[BillLine]:
    """The bill lines of ``usage`` under ``spec`` (pure; exact).

    Raises :class:`Invalid` for a reading that does not fit: TOU registers adding up to more
    than the total (any kind), kWh in a register the tariff does not price.
    """
    lines: list[BillLine] = []
    if usage.kwh_sharp + usage.kwh_peak + usage.kwh_flat + usage.kwh_valley > usage.kwh_total:
        raise Invalid("the TOU registers add up to more than the total kWh", field="kwh_total")
    if isinstance(spec, TieredSpec):
        if spec.tier_period == "annual":
            split = tier_split(spec.tiers, usage.year_to_date_kwh, usage.kwh_total)
        else:
            split = tier_split(spec.tiers, ZERO, usage.kwh_total, usage.months_in_period)
        if spec.tou is None:
            for i, (tier, k) in enumerate(zip(spec.tiers, split, strict=True)):
                if k or (i == 0 and not usage.kwh_total):
                    lines.append(_line(f"tier{i + 1}", _tier_label(i, tier), k, tier.price, k))
        else:
            lines += _tou_lines(usage, spec.tou.prices)
            base = spec.tiers[0].price
            for i, (tier, k) in enumerate(zip(spec.tiers, split, strict=True)):
                if i and k:
                    lines.append(
                        _line(f"tier{i + 1}_markup", _tier_label(i, tier) + "加价", k, tier.price - base, k)
                    )
    elif isinstance(spec, TouSpec):
        lines += _tou_lines(usage, spec.tou.prices)
    elif isinstance(spec, FlatSpec):
        lines.append(_line("energy", "电量电费", usage.kwh_total, spec.price, usage.kwh_total))
    else:
        months = Decimal(usage.months_in_period)
        if spec.basic.basis == "capacity":
            lines.append(
                _line(
                    "capacity",
                    f"基本电费（容量 {usage.capacity_kva} kVA）",
                    None,
                    spec.basic.price,
                    usage.capacity_kva * months,
                )
            )
        else:
            lines.append(
                _line(
                    "demand",
                    f"基本电费（需量 {usage.demand_kw} kW）",
                    None,
                    spec.basic.price,
                    usage.demand_kw * months,
                )
            )
        if isinstance(spec.energy, FlatEnergy):
            lines.append(_line("energy", "电量电费", usage.kwh_total, spec.energy.price, usage.kwh_total))
        else:
            lines += _tou_lines(usage, spec.energy.prices)
    for sc in spec.surcharges:
        lines.append(_line(f"surcharge.{sc.code}", sc.label, usage.kwh_total, sc.price, usage.kwh_total))
    return lines


def total(lines: Sequence[BillLine]) -> Decimal:
    return sum((ln.amount for ln in lines), ZERO)


def lines_json(lines: Sequence[BillLine]) -> list[dict[str, str | None]]:
    """Bill lines as stored in ``bills.lines`` (decimal strings)."""
    return [
        {
            "code": ln.code,
            "label": ln.label,
            "kwh": None if ln.kwh is None else str(ln.kwh),
            "price": None if ln.price is None else str(ln.price),
            "amount": str(ln.amount),
        }
        for ln in lines
    ]


# -- versions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TariffVersion:
    id: int | None
    spec: AnySpec

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def effective_from(self) -> date:
        return self.spec.effective_from


class TariffBook:
    """The versions in force on one day, indexed for many look-ups (the bill run)."""

    def __init__(self, versions: Sequence[TariffVersion], on: date) -> None:
        latest: dict[str, TariffVersion] = {}
        for v in versions:
            if v.effective_from <= on and (
                v.code not in latest or v.effective_from > latest[v.code].effective_from
            ):
                latest[v.code] = v
        self.by_code = latest
        self._cache: dict[tuple[str, str], TariffVersion | None] = {}

    def for_class(self, customer_class: str, voltage: str) -> TariffVersion | None:
        key = (customer_class, voltage)
        if key not in self._cache:
            found = sorted(
                (
                    v
                    for v in self.by_code.values()
                    if v.spec.by_default
                    and v.spec.customer_class == customer_class
                    and v.spec.voltage in (voltage, "*")
                ),
                key=lambda v: (v.spec.voltage == "*", v.code),
            )
            self._cache[key] = found[0] if found else None
        return self._cache[key]

    def find(self, customer_class: str, voltage: str, code: str = "") -> TariffVersion | None:
        if code:
            return self.by_code.get(code)
        return self.for_class(customer_class, voltage)


def select_tariff(
    tariffs: Sequence[TariffVersion], customer_class: str, voltage: str, code: str, on: date
) -> TariffVersion | None:
    """The version in force on ``on``: of ``code`` when given (the customer's own tariff), else
    the default tariff of the class for the voltage (an exact voltage before ``"*"``, then the
    lowest code). None when nothing applies."""
    return TariffBook(tariffs, on).find(customer_class, voltage, code)


# -- storage (async shell; the functions above stay pure) ----------------------------------------

DEFAULT_FILE = "tariffs-default.yaml"


def read_documents(text: str, *, source: str = "") -> list[dict[str, Any]]:
    """Tariff documents from YAML or JSON text: one mapping, a list, or ``{tariffs: [...]}``."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Invalid(f"{source or 'tariff file'}: not valid YAML/JSON: {exc}") from None
    if isinstance(data, Mapping) and "tariffs" in data:
        data = data["tariffs"]
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(d, Mapping) for d in data):
        raise Invalid(f"{source or 'tariff file'}: expected a tariff document or a list of them")
    return [dict(d) for d in data]


def default_documents() -> list[dict[str, Any]]:
    from importlib import resources

    text = resources.files("hotline.utility").joinpath("data", DEFAULT_FILE).read_text("utf-8")
    return read_documents(text, source=DEFAULT_FILE)


def version_of(row: Any) -> TariffVersion:
    """A stored :class:`~hotline.store.models.Tariff` row as a :class:`TariffVersion`."""
    return TariffVersion(id=row.id, spec=parse_tariff(row.spec))


async def load_versions(s: Any, tenant_id: int, code: str | None = None) -> list[TariffVersion]:
    from sqlalchemy import select

    from hotline.store.models import Tariff

    q = select(Tariff).where(Tariff.tenant_id == tenant_id)
    if code is not None:
        q = q.where(Tariff.code == code)
    rows = (await s.scalars(q.order_by(Tariff.code, Tariff.effective_from))).all()
    return [version_of(r) for r in rows]


async def save_tariff(s: Any, tenant_id: int, doc: Mapping[str, Any], *, user_id: int | None = None) -> Any:
    """Store a version (code + effective_from). Re-saving an identical version is a no-op; a
    different document for an existing version replaces it only while no bill uses it
    (:class:`~hotline.errors.Conflict` otherwise: bills never change under their tariff)."""
    from sqlalchemy import func, select

    from hotline.errors import Conflict
    from hotline.store.models import Bill, Tariff

    spec = parse_tariff(doc)
    body = dump(spec)
    row = await s.scalar(
        select(Tariff).where(
            Tariff.tenant_id == tenant_id,
            Tariff.code == spec.code,
            Tariff.effective_from == spec.effective_from,
        )
    )
    if row is not None:
        if same_spec(row.spec, spec):
            return row
        used = await s.scalar(select(func.count()).select_from(Bill).where(Bill.tariff_id == row.id))
        if used:
            raise Conflict(
                f"tariff {spec.code} from {spec.effective_from} is used by {used} bill(s): "
                "save a new version with a later effective_from instead",
                field="effective_from",
            )
    else:
        row = Tariff(tenant_id=tenant_id, code=spec.code, effective_from=spec.effective_from)
        s.add(row)
    row.name = spec.name
    row.kind = spec.kind
    row.customer_class = spec.customer_class
    row.voltage = spec.voltage
    row.spec = body
    row.created_by = user_id
    await s.flush()
    return row


async def load_default_tariffs(
    s: Any, tenant_id: int, docs: Sequence[Mapping[str, Any]] | None = None
) -> int:
    """Store the default tariffs (or ``docs``); idempotent. Returns how many versions were new
    or changed."""
    from sqlalchemy import select

    from hotline.store.models import Tariff

    changed = 0
    for doc in default_documents() if docs is None else docs:
        spec = parse_tariff(doc)
        before = await s.scalar(
            select(Tariff.spec).where(
                Tariff.tenant_id == tenant_id,
                Tariff.code == spec.code,
                Tariff.effective_from == spec.effective_from,
            )
        )
        if before is None or not same_spec(before, spec):
            await save_tariff(s, tenant_id, doc)
            changed += 1
    return changed
