"""Business calendars: open hours, holidays, make-up workdays, working-time arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.org.calendar import BusinessCalendar, CalendarError, china_2026_public_holidays

SH = ZoneInfo("Asia/Shanghai")
OFFICE = {d: [["08:30", "12:00"], ["13:30", "17:30"]] for d in ("mon", "tue", "wed", "thu", "fri")}


def cal() -> BusinessCalendar:
    holidays, workdays = china_2026_public_holidays()
    return BusinessCalendar.from_spec(week=OFFICE, holidays=holidays, workdays=workdays)


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SH)  # type: ignore[misc]


def test_open_hours_on_a_normal_week() -> None:
    c = cal()
    assert c.is_open(local(2026, 11, 23, 9, 0))  # Monday morning
    assert not c.is_open(local(2026, 11, 23, 12, 30))  # lunch
    assert c.is_open(local(2026, 11, 23, 17, 29))
    assert not c.is_open(local(2026, 11, 23, 17, 30))  # end is exclusive
    assert not c.is_open(local(2026, 11, 22, 10, 0))  # Sunday


def test_holidays_close_and_makeup_days_open() -> None:
    c = cal()
    assert not c.is_open(local(2026, 10, 5, 10, 0))  # National Day, a Monday
    assert c.is_holiday(date(2026, 10, 5))
    assert c.is_open(local(2026, 10, 10, 10, 0))  # Saturday make-up workday
    assert c.is_working_day(date(2026, 9, 20))  # Sunday make-up workday
    assert c.is_open_ts(local(2026, 10, 10, 10, 0).timestamp())


def test_next_open_skips_the_golden_week() -> None:
    c = cal()
    assert c.next_open(local(2026, 9, 30, 18, 0)) == local(2026, 10, 8, 8, 30).astimezone(UTC)
    assert c.next_open(local(2026, 11, 23, 9, 0)) == local(2026, 11, 23, 9, 0)


def test_working_time_arithmetic() -> None:
    c = cal()
    start = local(2026, 11, 20, 16, 0)  # Friday 16:00
    # 1.5 h left on Friday, then Monday 08:30 + 0.5 h
    assert c.add_working_time(start, timedelta(hours=2)) == local(2026, 11, 23, 9, 0).astimezone(UTC)
    assert c.working_time_between(start, local(2026, 11, 23, 9, 0)) == timedelta(hours=2)
    assert c.add_working_days(start, 1) == local(2026, 11, 23, 16, 0).astimezone(UTC)
    assert c.add_working_days(local(2026, 9, 30, 10, 0), 1) == local(2026, 10, 8, 10, 0).astimezone(UTC)


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"week": {"monday": [["08:00", "09:00"]]}}, "week.monday"),
        ({"week": {"mon": [["8:00", "09:00"]]}}, "week.mon[0]"),
        ({"week": {"mon": [["09:00", "09:00"]]}}, "week.mon[0]"),
        ({"week": {"mon": [["08:00", "12:00"], ["11:00", "13:00"]]}}, "week.mon"),
        ({"week": {"mon": [["08:00", "24:01"]]}}, "week.mon[0]"),
        ({"holidays": ["2026-02-30"]}, "holidays[0]"),
        ({"holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}, "workdays[0]"),
        ({"workdays": [{"date": "2026-10-10", "as": "someday"}]}, "workdays[0].as"),
    ],
)
def test_invalid_calendars_name_the_item(spec: dict, key: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(CalendarError) as info:
        BusinessCalendar.from_spec(**spec)
    assert info.value.key == key


instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(a=instants, minutes=st.integers(0, 60 * 24 * 20))
def test_add_then_measure_round_trips(a: datetime, minutes: int) -> None:
    c = cal()
    d = timedelta(minutes=minutes)
    b = c.add_working_time(a, d)
    assert b >= a
    assert c.working_time_between(a, b) == d
    if minutes:
        # the deadline lands inside or at the end of a working interval
        assert c.is_open(b - timedelta(microseconds=1))


@settings(max_examples=150, deadline=None)
@given(a=instants, b=instants)
def test_working_time_is_additive_and_antisymmetric(a: datetime, b: datetime) -> None:
    c = cal()
    mid = a + (b - a) / 2
    assert c.working_time_between(a, b) == c.working_time_between(a, mid) + c.working_time_between(mid, b)
    assert c.working_time_between(a, b) == -c.working_time_between(b, a)
    assert c.working_time_between(a, b) <= abs(b - a)


@settings(max_examples=100, deadline=None)
@given(a=instants)
def test_next_open_is_open_and_nothing_open_before_it(a: datetime) -> None:
    c = cal()
    n = c.next_open(a)
    assert n is not None and n >= a
    assert c.is_open(n)
    assert c.working_time_between(a, n) == timedelta(0)


def test_always_open() -> None:
    c = BusinessCalendar.always_open()
    t = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
    assert c.is_open(t)
    assert c.add_working_time(t, timedelta(hours=30)) == t + timedelta(hours=30)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        cal().is_open(datetime(2026, 1, 5, 9, 0))
