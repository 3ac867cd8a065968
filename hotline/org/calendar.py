"""Business calendars: weekly working hours, holidays and make-up workdays (调休), in a time zone.

Pure and I/O-free. Used by ACD routing (open hours) and by work-order deadlines (working time).

Rules:
- A date listed as a holiday is closed all day, whatever its weekday.
- A date listed as a make-up workday is open with the hours of the weekday named in ``as``
  (default: the first of Monday..Friday that has hours), even on a weekend.
- Otherwise the weekday's intervals apply. Intervals are half-open ``[start, end)`` in local
  wall-clock time; ``24:00`` is allowed as an end.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SEARCH_DAYS = 800  # how far next_open / add_working_time look before giving up


class CalendarError(ValueError):
    """An invalid calendar definition; ``key`` names the offending item."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}")


def _parse_hhmm(value: Any, key: str) -> int:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise CalendarError(key, f"expected HH:MM, got {value!r}")
    hh, mm = value[:2], value[3:]
    if not (hh.isdecimal() and mm.isdecimal()):
        raise CalendarError(key, f"expected HH:MM, got {value!r}")
    minutes = int(hh) * 60 + int(mm)
    if int(mm) > 59 or minutes > 24 * 60:
        raise CalendarError(key, f"time out of range: {value!r}")
    return minutes


def _parse_date(value: Any, key: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise CalendarError(key, f"expected a date YYYY-MM-DD, got {value!r}") from None


@dataclass(frozen=True)
class BusinessCalendar:
    """A validated calendar. Build it with :meth:`from_spec`."""

    timezone: str = "Asia/Shanghai"
    #: weekday index (0=Monday) → sorted, non-overlapping (start_minute, end_minute) intervals
    week: Mapping[int, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    holidays: frozenset[date] = frozenset()
    #: make-up workday → weekday index whose hours apply
    workdays: Mapping[date, int] = field(default_factory=dict)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def always_open(cls, timezone: str = "Asia/Shanghai") -> BusinessCalendar:
        return cls(timezone=timezone, week={d: ((0, 24 * 60),) for d in range(7)})

    @classmethod
    def from_spec(
        cls,
        *,
        timezone: str = "Asia/Shanghai",
        week: Mapping[str, Sequence[Sequence[str]]] | None = None,
        holidays: Sequence[Any] = (),
        workdays: Sequence[Any] = (),
    ) -> BusinessCalendar:
        """Validate a calendar given as plain data (as stored in the database or sent to the API).

        ``holidays`` items are ``"YYYY-MM-DD"`` or ``{"date": ..., "name": ...}``; ``workdays``
        items are ``"YYYY-MM-DD"`` or ``{"date": ..., "as": "mon"}``.
        """
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CalendarError("timezone", f"unknown time zone {timezone!r}") from None
        parsed_week: dict[int, tuple[tuple[int, int], ...]] = {}
        for name, intervals in (week or {}).items():
            if name not in WEEKDAYS:
                raise CalendarError(f"week.{name}", f"unknown weekday; use one of {', '.join(WEEKDAYS)}")
            spans: list[tuple[int, int]] = []
            for i, span in enumerate(intervals):
                key = f"week.{name}[{i}]"
                if not isinstance(span, Sequence) or isinstance(span, str) or len(span) != 2:
                    raise CalendarError(key, 'expected ["HH:MM", "HH:MM"]')
                start, end = _parse_hhmm(span[0], key), _parse_hhmm(span[1], key)
                if start >= end:
                    raise CalendarError(key, f"start {span[0]} is not before end {span[1]}")
                spans.append((start, end))
            spans.sort()
            for (_, e1), (s2, _) in pairwise(spans):
                if s2 < e1:
                    raise CalendarError(f"week.{name}", "intervals overlap")
            parsed_week[WEEKDAYS.index(name)] = tuple(spans)
        hol: set[date] = set()
        for i, item in enumerate(holidays):
            raw = item.get("date") if isinstance(item, Mapping) else item
            hol.add(_parse_date(raw, f"holidays[{i}]"))
        default_as = next((d for d in range(5) if parsed_week.get(d)), 0)
        wd: dict[date, int] = {}
        for i, item in enumerate(workdays):
            key = f"workdays[{i}]"
            as_day = default_as
            if isinstance(item, Mapping):
                raw = item.get("date")
                if "as" in item:
                    if item["as"] not in WEEKDAYS:
                        raise CalendarError(f"{key}.as", f"unknown weekday {item['as']!r}")
                    as_day = WEEKDAYS.index(item["as"])
            else:
                raw = item
            d = _parse_date(raw, key)
            if d in hol:
                raise CalendarError(key, f"{d} is also listed as a holiday")
            wd[d] = as_day
        return cls(timezone=timezone, week=parsed_week, holidays=frozenset(hol), workdays=wd)

    # -- queries ------------------------------------------------------------------------------

    def hours_on(self, day: date) -> tuple[tuple[int, int], ...]:
        """Working intervals (minutes since local midnight) on a local date."""
        if day in self.holidays:
            return ()
        if day in self.workdays:
            return self.week.get(self.workdays[day], ())
        return self.week.get(day.weekday(), ())

    def is_working_day(self, day: date) -> bool:
        return bool(self.hours_on(day))

    def is_holiday(self, day: date) -> bool:
        return day in self.holidays

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """Working intervals on a local date as aware UTC datetimes."""
        tz = self.tz
        midnight = datetime.combine(day, time(0), tzinfo=tz)
        out = []
        for start, end in self.hours_on(day):
            s = (midnight + timedelta(minutes=start)).astimezone(UTC)
            e = (midnight + timedelta(minutes=end)).astimezone(UTC)
            out.append((s, e))
        return out

    def _local_date(self, at: datetime) -> date:
        if at.tzinfo is None:
            raise ValueError("naive datetime; pass a timezone-aware datetime")
        return at.astimezone(self.tz).date()

    def _intervals_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Working intervals that end after ``at``, in order, starting with ``at``'s local day."""
        day = self._local_date(at) - timedelta(days=1)  # intervals may cross midnight in UTC
        for _ in range(_SEARCH_DAYS):
            for s, e in self.intervals_on(day):
                if e > at:
                    yield s, e
            day += timedelta(days=1)

    def is_open(self, at: datetime) -> bool:
        return any(s <= at < e for s, e in self.intervals_on(self._local_date(at)))

    def is_open_ts(self, t: float) -> bool:
        """Open at a UNIX timestamp (the ACD passes time as float seconds)."""
        return self.is_open(datetime.fromtimestamp(t, UTC))

    def next_open(self, at: datetime) -> datetime | None:
        """``at`` itself if open, else the start of the next working interval (None if none)."""
        for s, _e in self._intervals_from(at):
            return max(s, at)
        return None

    def add_working_time(self, start: datetime, duration: timedelta) -> datetime:
        """The instant when ``duration`` of working time has elapsed after ``start``."""
        if duration < timedelta(0):
            raise ValueError("duration must not be negative")
        remaining = duration
        for s, e in self._intervals_from(start):
            s = max(s, start)
            if s + remaining <= e:
                return s + remaining
            remaining -= e - s
        raise CalendarError("week", f"no working time within {_SEARCH_DAYS} days")

    def working_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time in ``[a, b)``; negative when ``b`` is before ``a``."""
        if b < a:
            return -self.working_time_between(b, a)
        total = timedelta(0)
        for s, e in self._intervals_from(a):
            if s >= b:
                break
            total += min(e, b) - max(s, a)
        return total

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The same local wall-clock time on the ``days``-th working day after ``start``'s date."""
        if days < 0:
            raise ValueError("days must not be negative")
        local = start.astimezone(self.tz)
        day = local.date()
        for _ in range(_SEARCH_DAYS):
            if days == 0:
                return datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=self.tz).astimezone(
                    UTC
                )
            day += timedelta(days=1)
            if self.is_working_day(day):
                days -= 1
        raise CalendarError("week", f"no working day within {_SEARCH_DAYS} days")


def china_2026_public_holidays() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Demo data: mainland China statutory holidays and make-up workdays for 2026.

    Transcribed for the demo tenant; operators maintain their own lists (the State Council
    publishes them each year).
    """

    def span(first: str, last: str, name: str) -> list[dict[str, str]]:
        d, end = date.fromisoformat(first), date.fromisoformat(last)
        out = []
        while d <= end:
            out.append({"date": d.isoformat(), "name": name})
            d += timedelta(days=1)
        return out

    holidays = [
        *span("2026-01-01", "2026-01-03", "New Year 元旦"),
        *span("2026-02-15", "2026-02-23", "Spring Festival 春节"),
        *span("2026-04-04", "2026-04-06", "Qingming 清明节"),
        *span("2026-05-01", "2026-05-05", "Labour Day 劳动节"),
        *span("2026-06-19", "2026-06-21", "Dragon Boat 端午节"),
        *span("2026-09-25", "2026-09-27", "Mid-Autumn 中秋节"),
        *span("2026-10-01", "2026-10-07", "National Day 国庆节"),
    ]
    workdays = [
        {"date": d, "as": "mon"}
        for d in ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10")
    ]
    return holidays, workdays
