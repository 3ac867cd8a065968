"""Work-order statistics per period, unit and type (工单统计).

**Cohort.** A report covers the orders *accepted* (created) in the period ``from`` … ``to``: the
tenant's local days (the root unit's calendar zone), both inclusive. Every measure of a row is
about the orders of that cohort as they stand at ``now`` (the time the report is made): an order
accepted on the 3rd and replied on the 12th counts as handled in a report for the 1st … 5th made
on the 13th. Rows are grouped by any of ``unit`` (the responsible unit now, or its ancestor at a
given depth of the unit tree: ``unit_depth``), ``type`` and one of
``day`` / ``month`` (the local day / month of acceptance); the total row is the whole cohort.

**Measures** (per order, then summed; :func:`measure` is the definition):

* ``accepted`` — orders created in the period (every state).
* ``withdrawn`` — of those, cancelled or merged (state ``cancelled`` / ``merged``).
* ``handled`` — replied at least once (``replied_at`` set; a reopened order stays handled).
* ``pending`` — neither handled nor withdrawn.
* ``overdue`` — orders that are overdue: a deadline step ran past its due time (the ``overdue``
  flag, kept once set) or a running step is past due now (``due_at`` < now, the order not on hold
  and not closed).
* ``overdue_seconds`` — finished overdue time (``overdue_seconds``) plus the running overdue
  (now − ``due_at``, wall-clock seconds) summed over the orders; ``overdue_avg_seconds`` =
  ``overdue_seconds`` ÷ ``overdue`` (None when nothing is overdue).
* ``on_time`` — handled and not overdue (as above); ``on_time + handled∧overdue = handled``.
* ``substantiated`` — handled orders whose reply said the matter was substantiated (属实).
* ``repeat`` — orders linked to an earlier one of the same customer and type (``repeat_of``).
* ``revisited`` — orders with a revisit result; ``satisfied``, ``basically_satisfied``,
  ``dissatisfied`` split it.
* ``urges`` — urges (催办) received, summed; ``escalations`` — deadline escalations (督办) sent.

**Rates** (fractions 0 … 1, None when the denominator is 0; exports show percentages):

* ``reply_rate`` = handled ÷ (accepted − withdrawn) — a cancelled or merged order is never
  replied and does not count against the unit.
* ``on_time_rate`` = on_time ÷ handled.
* ``satisfaction_rate`` = (satisfied + basically_satisfied) ÷ revisited.
* ``substantiated_rate`` = substantiated ÷ handled.

The pure part (:class:`Facts`, :func:`measure`, :func:`aggregate`, :func:`rates`, the period
bounds) is what the tests work through by hand; :func:`compute` asks the database the same with
one ``GROUP BY`` (SQLite and PostgreSQL) and must agree with :func:`aggregate` over the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Float, and_, case, cast, extract, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.policy import DataScope
from hotline.errors import Invalid
from hotline.store.models import Ticket, TicketTypeDef, Unit
from hotline.store.types import UTCDateTime, utcnow
from hotline.tickets.workflow import DEFAULT_TYPES

GROUPS = ("unit", "type", "day", "month")
WITHDRAWN = ("cancelled", "merged")
CLOSED = ("archived", "cancelled", "merged")
#: the longest period of a report, and the most day / month rows
MAX_DAYS = 3 * 366
MAX_DAY_BUCKETS = 366
MAX_MONTH_BUCKETS = 36


# -- pure: one order, sums, rates ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """What the statistics read of one order."""

    created_at: datetime
    unit_id: int
    type_code: str
    state: str
    replied_at: datetime | None = None
    substantiated: bool | None = None
    overdue: bool = False
    overdue_seconds: float = 0.0
    due_at: datetime | None = None
    held: bool = False
    closed_at: datetime | None = None
    satisfaction: str | None = None
    urges: int = 0
    escalations: int = 0
    repeat: bool = False


@dataclass(frozen=True, slots=True)
class Counts:
    accepted: int = 0
    withdrawn: int = 0
    handled: int = 0
    pending: int = 0
    overdue: int = 0
    overdue_seconds: float = 0.0
    on_time: int = 0
    substantiated: int = 0
    repeat: int = 0
    revisited: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    dissatisfied: int = 0
    urges: int = 0
    escalations: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(Counts)})


COUNT_FIELDS = tuple(f.name for f in fields(Counts))


def running_overdue(f: Facts, now: datetime) -> float:
    """Seconds a running deadline step is past due now (0 when none, on hold or closed)."""
    if f.due_at is None or f.held or f.closed_at is not None or f.state in CLOSED or f.due_at >= now:
        return 0.0
    return (now - f.due_at).total_seconds()


def measure(f: Facts, now: datetime) -> Counts:
    """One order's contribution to every measure (see the module docstring)."""
    withdrawn = f.state in WITHDRAWN
    handled = f.replied_at is not None
    running = running_overdue(f, now)
    overdue = f.overdue or running > 0
    return Counts(
        accepted=1,
        withdrawn=int(withdrawn),
        handled=int(handled),
        pending=int(not handled and not withdrawn),
        overdue=int(overdue),
        overdue_seconds=float(f.overdue_seconds) + running,
        on_time=int(handled and not overdue),
        substantiated=int(handled and f.substantiated is True),
        repeat=int(f.repeat),
        revisited=int(f.satisfaction is not None),
        satisfied=int(f.satisfaction == "satisfied"),
        basically_satisfied=int(f.satisfaction == "basically_satisfied"),
        dissatisfied=int(f.satisfaction == "dissatisfied"),
        urges=f.urges,
        escalations=f.escalations,
    )


@dataclass(frozen=True, slots=True)
class Rates:
    reply_rate: float | None
    on_time_rate: float | None
    satisfaction_rate: float | None
    substantiated_rate: float | None
    overdue_avg_seconds: float | None


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def rates(c: Counts) -> Rates:
    return Rates(
        reply_rate=_ratio(c.handled, c.accepted - c.withdrawn),
        on_time_rate=_ratio(c.on_time, c.handled),
        satisfaction_rate=_ratio(c.satisfied + c.basically_satisfied, c.revisited),
        substantiated_rate=_ratio(c.substantiated, c.handled),
        overdue_avg_seconds=_ratio(c.overdue_seconds, c.overdue),
    )


# -- pure: periods -------------------------------------------------------------------------------


def check_groups(group_by: Iterable[str]) -> tuple[str, ...]:
    out: list[str] = []
    for g in group_by:
        g = g.strip()
        if not g:
            continue
        if g not in GROUPS:
            raise Invalid(f"unknown grouping {g!r}; one or more of: {', '.join(GROUPS)}", field="group_by")
        if g not in out:
            out.append(g)
    if "day" in out and "month" in out:
        raise Invalid("group by day or by month, not both", field="group_by")
    return tuple(out)


def period_bounds(start: date, end: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants of local midnight of ``start`` and of the day after ``end``."""
    if end < start:
        raise Invalid("to must not be before from", field="to")
    if (end - start).days + 1 > MAX_DAYS:
        raise Invalid(f"a report covers at most {MAX_DAYS} days", field="to")
    return _midnight(start, tz), _midnight(end + timedelta(days=1), tz)


def _midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tz).astimezone(UTC)


def buckets(start: date, end: date, unit: str, tz: ZoneInfo) -> list[tuple[str, datetime]]:
    """(label, UTC start) of each local day (``2026-11-23``) or month (``2026-11``) of the period;
    the first starts at ``start`` (a month bucket may begin mid-month)."""
    out: list[tuple[str, datetime]] = []
    if unit == "day":
        if (end - start).days + 1 > MAX_DAY_BUCKETS:
            raise Invalid(f"by day: at most {MAX_DAY_BUCKETS} days", field="group_by")
        d = start
        while d <= end:
            out.append((d.isoformat(), _midnight(d, tz)))
            d += timedelta(days=1)
        return out
    d = start
    while d <= end:
        out.append((f"{d.year:04d}-{d.month:02d}", _midnight(d, tz)))
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    if len(out) > MAX_MONTH_BUCKETS:
        raise Invalid(f"by month: at most {MAX_MONTH_BUCKETS} months", field="group_by")
    return out


def bucket_of(at: datetime, starts: Sequence[tuple[str, datetime]]) -> str:
    """The label of the last bucket starting at or before ``at``."""
    label = starts[0][0]
    for name, begin in starts:
        if begin <= at:
            label = name
        else:
            break
    return label


GroupKey = tuple[str | None, int | None, str | None]  # (period, unit_id, type_code)


def key_of(f: Facts, group_by: Sequence[str], starts: Sequence[tuple[str, datetime]] | None) -> GroupKey:
    period = (
        bucket_of(f.created_at, starts) if starts and ("day" in group_by or "month" in group_by) else None
    )
    return (
        period,
        f.unit_id if "unit" in group_by else None,
        f.type_code if "type" in group_by else None,
    )


def aggregate(
    facts: Iterable[Facts],
    now: datetime,
    group_by: Sequence[str] = (),
    starts: Sequence[tuple[str, datetime]] | None = None,
) -> dict[GroupKey, Counts]:
    """Sum :func:`measure` per group (the facts are the cohort already)."""
    out: dict[GroupKey, Counts] = {}
    for f in facts:
        k = key_of(f, group_by, starts)
        out[k] = out.get(k, Counts()) + measure(f, now)
    return out


def ancestor_at(path: str, depth: int) -> int:
    """The id of the unit at ``depth`` (0 = the root) on a materialised path ``/1/4/9/``; the
    unit itself when it is not that deep."""
    ids = [int(p) for p in path.strip("/").split("/") if p]
    return ids[min(depth, len(ids) - 1)]


def roll_up(groups: Mapping[GroupKey, Counts], to: Mapping[int, int]) -> dict[GroupKey, Counts]:
    """Merge unit rows into the units ``to`` maps them to (e.g. their city company)."""
    out: dict[GroupKey, Counts] = {}
    for (period, unit_id, type_code), c in groups.items():
        k = (period, to.get(unit_id, unit_id) if unit_id is not None else None, type_code)
        out[k] = out.get(k, Counts()) + c
    return out


def total(groups: Mapping[Any, Counts]) -> Counts:
    t = Counts()
    for c in groups.values():
        t = t + c
    return t


# -- the report ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    period: str | None
    unit_id: int | None
    unit_code: str | None
    unit_name: str | None
    type_code: str | None
    type_label: str | None
    counts: Counts
    rates: Rates

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "period": self.period,
            "unit_id": self.unit_id,
            "unit": self.unit_code,
            "unit_name": self.unit_name,
            "type": self.type_code,
            "type_label": self.type_label,
        }
        for name in COUNT_FIELDS:
            out[name] = getattr(self.counts, name)
        out["overdue_seconds"] = round(self.counts.overdue_seconds, 1)
        r = self.rates
        out.update(
            reply_rate=_round(r.reply_rate),
            on_time_rate=_round(r.on_time_rate),
            satisfaction_rate=_round(r.satisfaction_rate),
            substantiated_rate=_round(r.substantiated_rate),
            overdue_avg_seconds=None if r.overdue_avg_seconds is None else round(r.overdue_avg_seconds, 1),
        )
        return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


@dataclass(frozen=True)
class Report:
    start: date
    end: date
    group_by: tuple[str, ...]
    timezone: str
    generated_at: datetime
    rows: list[Row]
    total: Row
    filters: dict[str, Any] = field(default_factory=dict)


def _sort_key(r: Row) -> tuple[str, str, str]:
    return (r.period or "", r.unit_code or "", r.type_code or "")


def build_report(
    groups: Mapping[GroupKey, Counts],
    *,
    start: date,
    end: date,
    group_by: Sequence[str],
    tz: str,
    now: datetime,
    units: Mapping[int, tuple[str, str]],
    type_labels: Mapping[str, str],
    filters: Mapping[str, Any] | None = None,
) -> Report:
    """Rows (sorted by period, unit code, type) and the total, with names and rates."""
    rows = []
    for (period, unit_id, type_code), c in groups.items():
        code, name = units.get(unit_id, (None, None)) if unit_id is not None else (None, None)
        rows.append(
            Row(
                period=period,
                unit_id=unit_id,
                unit_code=code or (str(unit_id) if unit_id is not None else None),
                unit_name=name,
                type_code=type_code,
                type_label=type_labels.get(type_code, type_code) if type_code is not None else None,
                counts=c,
                rates=rates(c),
            )
        )
    rows.sort(key=_sort_key)
    t = total(groups)
    return Report(
        start=start,
        end=end,
        group_by=tuple(group_by),
        timezone=tz,
        generated_at=now,
        rows=rows,
        total=Row(None, None, None, None, None, None, t, rates(t)),
        filters=dict(filters or {}),
    )


# -- the database --------------------------------------------------------------------------------


def scope_condition(scope: DataScope | None) -> ColumnElement[bool] | None:
    """SQL over ``Unit.path`` / ``Ticket.handler_id`` for a data scope; None = everything.

    An empty scope gives a condition that is always false."""
    if scope is None or scope.everything:
        return None
    conds: list[ColumnElement[bool]] = []
    if scope.unit_paths:
        conds.append(Unit.path.in_(sorted(scope.unit_paths)))
    conds.extend(Unit.path.startswith(p, autoescape=True) for p in sorted(scope.unit_prefixes))
    if scope.owner_id is not None:
        conds.append(Ticket.handler_id == scope.owner_id)
    if not conds:
        return Ticket.id.is_(None)
    return or_(*conds)


def _bucket_expr(starts: Sequence[tuple[str, datetime]], lo: int, hi: int) -> Any:
    """Index of the bucket of ``created_at`` as a balanced CASE tree (log2(n) comparisons)."""
    if hi - lo == 1:
        return literal(lo)
    mid = (lo + hi) // 2
    return case(
        (Ticket.created_at < starts[mid][1], _bucket_expr(starts, lo, mid)),
        else_=_bucket_expr(starts, mid, hi),
    )


def fixed_offset_minutes(start: date, end: date, tz: ZoneInfo) -> int | None:
    """The zone's UTC offset in minutes when it is the same at every local midnight of the
    period (no daylight-saving change inside it), else None."""
    seen: set[int] = set()
    d = start
    while d <= end + timedelta(days=1):
        off = datetime.combine(d, time(0), tz).utcoffset()
        assert off is not None
        seen.add(int(off.total_seconds() // 60))
        if len(seen) > 1:
            return None
        d += timedelta(days=1)
    return seen.pop()


def _label_expr(
    dialect: str, period: str, tz: ZoneInfo, start: date, end: date, starts: Sequence[tuple[str, datetime]]
) -> Any:
    """The local day (``YYYY-MM-DD``) or month (``YYYY-MM``) of ``created_at`` in SQL: PostgreSQL
    converts with the zone itself; SQLite shifts by the zone's offset when it is fixed over the
    period; otherwise the bucket's index from a CASE tree over the buckets' UTC starts."""
    if dialect == "postgresql":
        fmt = "YYYY-MM-DD" if period == "day" else "YYYY-MM"
        return func.to_char(func.timezone(tz.key, Ticket.created_at), fmt)
    offset = fixed_offset_minutes(start, end, tz)
    if dialect == "sqlite" and offset is not None:
        fmt = "%Y-%m-%d" if period == "day" else "%Y-%m"
        return func.strftime(fmt, Ticket.created_at, f"{offset:+d} minutes")
    return _bucket_expr(starts, 0, len(starts))


def _seconds_since(dialect: str, now: datetime, col: Any) -> Any:
    now_lit = literal(now, UTCDateTime())
    if dialect == "sqlite":
        return (func.julianday(now_lit) - func.julianday(col)) * 86400.0
    return cast(extract("epoch", now_lit - col), Float)


async def type_labels(s: AsyncSession, tenant_id: int) -> dict[str, str]:
    """Labels of the tenant's types: the defaults overlaid by its active ``ticket_types`` rows."""
    out = {code: t.label for code, t in DEFAULT_TYPES.items()}
    rows = await s.execute(
        select(TicketTypeDef.code, TicketTypeDef.doc).where(
            TicketTypeDef.tenant_id == tenant_id, TicketTypeDef.active.is_(True)
        )
    )
    for code, doc in rows:
        label = (doc or {}).get("label")
        out[code] = label if isinstance(label, str) and label else code
    return out


async def compute(
    s: AsyncSession,
    tenant_id: int,
    *,
    start: date,
    end: date,
    tz: ZoneInfo,
    group_by: Sequence[str] = (),
    unit: Unit | None = None,
    type_code: str | None = None,
    scope: DataScope | None = None,
    unit_depth: int | None = None,
    now: datetime | None = None,
) -> Report:
    """The report of the orders accepted from ``start`` to ``end`` (local days, inclusive).

    ``unit`` limits it to that unit's subtree, ``type_code`` to one type, ``scope`` to what
    the reader may see (None: the whole tenant). With ``unit_depth`` the unit rows are rolled
    up to the units at that depth of the tree (0 = the root; 2 = e.g. the city companies of a
    province under a national root): every order counts for its responsible unit's ancestor
    at that depth (or the unit itself when it is higher up)."""
    if unit_depth is not None and not 0 <= unit_depth <= 20:
        raise Invalid("unit_depth must be 0 … 20", field="unit_depth")
    now = now or utcnow()
    groups = check_groups(group_by)
    lo, hi = period_bounds(start, end, tz)
    period = next((g for g in groups if g in ("day", "month")), None)
    starts = buckets(start, end, period, tz) if period else None
    dialect = s.get_bind().dialect.name

    running_cond = and_(
        Ticket.due_at.is_not(None),
        Ticket.due_at < now,
        Ticket.held_since.is_(None),
        Ticket.closed_at.is_(None),
        Ticket.state.not_in(CLOSED),
    )
    one, zero = literal(1), literal(0)
    handled = Ticket.replied_at.is_not(None)
    cols: list[Any] = [
        Ticket.unit_id.label("unit_id"),
        Ticket.type_code.label("type_code"),
        case((Ticket.state.in_(WITHDRAWN), one), else_=zero).label("withdrawn"),
        case((handled, one), else_=zero).label("handled"),
        case((Ticket.overdue.is_(True), one), else_=zero).label("ovf"),
        case((running_cond, one), else_=zero).label("runf"),
        case((running_cond, _seconds_since(dialect, now, Ticket.due_at)), else_=literal(0.0)).label("runs"),
        Ticket.overdue_seconds.label("ovs"),
        case((and_(handled, Ticket.substantiated.is_(True)), one), else_=zero).label("sub"),
        case((Ticket.repeat_of.is_not(None), one), else_=zero).label("rep"),
        Ticket.satisfaction.label("sat"),
        Ticket.urges.label("urges"),
        Ticket.escalations.label("esc"),
    ]
    if starts:
        assert period is not None
        cols.append(_label_expr(dialect, period, tz, start, end, starts).label("bucket"))
    inner: Any = select(*cols).where(
        Ticket.tenant_id == tenant_id, Ticket.created_at >= lo, Ticket.created_at < hi
    )
    if type_code:
        inner = inner.where(Ticket.type_code == type_code)
    cond = scope_condition(scope)
    if cond is not None or unit is not None:
        inner = inner.join(Unit, Unit.id == Ticket.unit_id)
        if cond is not None:
            inner = inner.where(cond)
        if unit is not None:
            inner = inner.where(Unit.path.startswith(unit.path, autoescape=True))
    t = inner.subquery("t")

    over = or_(t.c.ovf == 1, t.c.runf == 1)
    keys: list[Any] = []
    if starts:
        keys.append(t.c.bucket)
    if "unit" in groups:
        keys.append(t.c.unit_id)
    if "type" in groups:
        keys.append(t.c.type_code)

    def n(expr: Any) -> Any:
        return func.coalesce(func.sum(expr), 0)

    def flag(c: Any) -> Any:
        return n(case((c, one), else_=zero))

    q = select(
        *keys,
        func.count().label("accepted"),
        n(t.c.withdrawn),
        n(t.c.handled),
        flag(and_(t.c.handled == 0, t.c.withdrawn == 0)),
        flag(over),
        n(t.c.ovs + t.c.runs),
        flag(and_(t.c.handled == 1, ~over)),
        n(t.c.sub),
        n(t.c.rep),
        flag(t.c.sat.is_not(None)),
        flag(t.c.sat == "satisfied"),
        flag(t.c.sat == "basically_satisfied"),
        flag(t.c.sat == "dissatisfied"),
        n(t.c.urges),
        n(t.c.esc),
    )
    if keys:
        q = q.group_by(*keys)
    result: dict[GroupKey, Counts] = {}
    for row in (await s.execute(q)).all():
        vals = list(row)
        key_vals = vals[: len(keys)]
        nums = vals[len(keys) :]
        i = 0
        bucket_label: str | None = None
        unit_id: int | None = None
        tcode: str | None = None
        if starts:
            raw = key_vals[i]
            bucket_label = raw if isinstance(raw, str) else starts[int(raw)][0]
            i += 1
        if "unit" in groups:
            unit_id = int(key_vals[i])
            i += 1
        if "type" in groups:
            tcode = str(key_vals[i])
        c = Counts(
            **{
                name: float(v or 0) if name == "overdue_seconds" else int(v or 0)
                for name, v in zip(COUNT_FIELDS, nums, strict=True)
            }  # type: ignore[arg-type]
        )
        if c.accepted:
            result[(bucket_label, unit_id, tcode)] = c
    if unit_depth is not None and "unit" in groups:
        ids = sorted({k[1] for k in result if k[1] is not None})
        paths = (
            dict((await s.execute(select(Unit.id, Unit.path).where(Unit.id.in_(ids)))).all()) if ids else {}
        )
        result = roll_up(result, {uid: ancestor_at(path, unit_depth) for uid, path in paths.items()})
    units: dict[int, tuple[str, str]] = {}
    ids = sorted({k[1] for k in result if k[1] is not None})
    if ids:
        for uid, code, name in await s.execute(select(Unit.id, Unit.code, Unit.name).where(Unit.id.in_(ids))):
            units[uid] = (code, name)
    labels = await type_labels(s, tenant_id)
    filters: dict[str, Any] = {}
    if unit is not None:
        filters["unit"] = unit.code
    if type_code:
        filters["type"] = type_code
    if unit_depth is not None and "unit" in groups:
        filters["unit_depth"] = unit_depth
    return build_report(
        result,
        start=start,
        end=end,
        group_by=groups,
        tz=tz.key,
        now=now,
        units=units,
        type_labels=labels,
        filters=filters,
    )


def facts_of(row: Ticket) -> Facts:
    """The :class:`Facts` of a stored order (tests compare :func:`aggregate` with :func:`compute`)."""
    return Facts(
        created_at=row.created_at,
        unit_id=row.unit_id,
        type_code=row.type_code,
        state=row.state,
        replied_at=row.replied_at,
        substantiated=row.substantiated,
        overdue=bool(row.overdue),
        overdue_seconds=float(row.overdue_seconds or 0.0),
        due_at=row.due_at,
        held=row.held_since is not None,
        closed_at=row.closed_at,
        satisfaction=row.satisfaction,
        urges=row.urges or 0,
        escalations=row.escalations or 0,
        repeat=row.repeat_of is not None,
    )
