"""Amounts, dates, times and energy read aloud (hotline.utility.speech)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.utility import speech

DIGIT = {ch: i for i, ch in enumerate(speech.DIGITS)} | {"两": 2}
SMALL = {"十": 10, "百": 100, "千": 1000}
BIG = {"万": 10_000, "亿": 100_000_000}


def parse_number(text: str) -> int:
    """A small independent reader of Chinese integers (the round-trip oracle)."""
    total, section, digit = 0, 0, None
    for ch in text:
        if ch in DIGIT:
            digit = DIGIT[ch]
        elif ch in SMALL:
            section += (1 if digit is None else digit) * SMALL[ch]
            digit = None
        elif ch in BIG:
            section += digit or 0
            unit = BIG[ch]
            if unit > 10_000 and total % unit:  # 亿 after 万: scale what came before
                total = (total + section) * unit
            else:
                total += section * unit
            section, digit = 0, None
        else:
            raise ValueError(f"unexpected {ch!r} in {text!r}")
    return total + section + (digit or 0)


def parse_money(text: str) -> Decimal:
    negative = text.startswith("负")
    text = text.removeprefix("负").removesuffix("整")
    yuan, jiao, fen = 0, 0, 0
    if "元" in text:
        head, text = text.split("元", 1)
        yuan = parse_number(head)
    text = text.removeprefix("零")
    if "角" in text:
        head, text = text.split("角", 1)
        jiao = DIGIT[head]
    if "分" in text:
        fen = DIGIT[text.removesuffix("分")]
    value = Decimal(yuan) + Decimal(jiao) / 10 + Decimal(fen) / 100
    return -value if negative else value


@pytest.mark.parametrize(
    ("amount", "zh", "en"),
    [
        ("123.45", "一百二十三元四角五分", "123 yuan 45 fen"),
        ("1002.05", "一千零二元零五分", "1002 yuan 5 fen"),
        ("20", "二十元整", "20 yuan"),
        ("0.5", "五角", "50 fen"),
        ("0.05", "五分", "5 fen"),
        ("10", "十元整", "10 yuan"),
        ("15.30", "十五元三角", "15 yuan 30 fen"),
        ("110", "一百一十元整", "110 yuan"),
        ("2", "二元整", "2 yuan"),
        ("2000", "两千元整", "2000 yuan"),
        ("22000", "两万二千元整", "22000 yuan"),
        ("100200", "十万零二百元整", "100200 yuan"),
        ("10010", "一万零一十元整", "10010 yuan"),
        ("100000000", "一亿元整", "100000000 yuan"),
        ("100000001", "一亿零一元整", "100000001 yuan"),
        ("0", "零元", "0 yuan"),
        ("-5.5", "负五元五角", "minus 5 yuan 50 fen"),
        ("0.004", "零元", "0 yuan"),
        ("0.005", "一分", "1 fen"),  # half up to the fen
    ],
)
def test_money(amount: str, zh: str, en: str) -> None:
    assert speech.money(Decimal(amount), "zh") == zh
    assert speech.money(Decimal(amount), "zh-CN") == zh
    assert speech.money(Decimal(amount), "en") == en


def test_numbers_zero_rules() -> None:
    cases = {
        0: "零",
        10: "十",
        11: "十一",
        20: "二十",
        101: "一百零一",
        1000: "一千",
        1001: "一千零一",
        1010: "一千零一十",
        10000: "一万",
        10001: "一万零一",
        100000: "十万",
        1000000: "一百万",
        10_000_000: "一千万",
        20_000_000: "两千万",
        101_000_000: "一亿零一百万",
        110_000_000: "一亿一千万",
        200_000_000: "两亿",
    }
    for n, text in cases.items():
        assert speech.chinese_number(n) == text, n


def test_dates_times_energy() -> None:
    assert speech.date(date(2026, 11, 23), "zh") == "二零二六年十一月二十三日"
    assert speech.date(date(2026, 11, 23), "en") == "November 23, 2026"
    assert speech.date(date(2030, 1, 1), "zh") == "二零三零年一月一日"
    assert speech.time_(time(14, 30), "zh") == "十四点三十分"
    assert speech.time_(time(14, 0), "zh") == "十四点整"
    assert speech.time_(time(9, 5), "zh") == "九点零五分"
    assert speech.time_(time(9, 5), "en") == "9:05"
    at = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # 14:30 in Shanghai
    assert speech.datetime_(at, "zh") == "二零二六年十一月二十三日十四点三十分"
    assert speech.datetime_(at, "en", "UTC") == "November 23, 2026 at 6:30"
    assert speech.kwh(Decimal("321"), "zh") == "三百二十一千瓦时"
    assert speech.kwh(Decimal("321.50"), "zh") == "三百二十一点五千瓦时"
    assert speech.kwh(Decimal("0.05"), "zh") == "零点零五千瓦时"
    assert speech.kwh(Decimal("321"), "en") == "321 kilowatt-hours"
    assert speech.kwh(Decimal("1.00"), "en") == "1 kilowatt-hour"
    assert speech.kwh(Decimal("12.30"), "en") == "12.3 kilowatt-hours"


AMOUNTS = st.integers(0, 10**10).map(lambda n: Decimal(n) / 100)


@given(AMOUNTS)
def test_every_amount_has_a_reading_and_round_trips(amount: Decimal) -> None:
    zh, en = speech.money(amount, "zh"), speech.money(amount, "en")
    assert zh and en
    assert parse_money(zh) == amount
    assert "零零" not in zh and not zh.endswith("零元整")
    assert zh.endswith(("元整", "角", "分")) or zh == "零元"


@given(st.integers(0, speech.MAX_INTEGER))
def test_integers_round_trip(n: int) -> None:
    text = speech.chinese_number(n)
    assert parse_number(text) == n
    assert "零零" not in text and (n == 0 or not text.endswith("零"))


@given(st.integers(-(10**8), 10**8).map(lambda n: Decimal(n) / 100))
def test_negative_amounts(amount: Decimal) -> None:
    zh = speech.money(amount, "zh")
    assert parse_money(zh) == amount
    assert zh.startswith("负") == (amount < 0)
