"""Amounts, dates, times and energy as text a TTS voice reads correctly (pure).

The IVR speaks these through espeak-ng (:mod:`hotline.media.tts`). Chinese is written out in
characters, because a TTS voice reading digits does not know the rules of money and dates;
English keeps digits, which espeak-ng's English voice reads well ("1002" → "one thousand and
two"), with the units in words.

Chinese rules (``lang`` "zh", "zh-CN"):

* numbers: sections of four digits (个, 万, 亿); one 零 for any run of zeros inside a number
  (1002 → 一千零二, 10010 → 一万零一十, 100200 → 十万零二百), none at the end (1000 → 一千);
  a number starting with 1 in the tens place drops the 一 (10 → 十, 15 → 十五, 100000 → 十万),
  inside a number it is kept (110 → 一百一十).
* **两**: a 2 directly before 千, 万 or 亿 *at the start* of the number is read 两 (2000 → 两千,
  20000 → 两万, 2亿 → 两亿) — that is how it is said; everywhere else 二 (二百, 二十, 十二, 二元,
  一千二百). Money amounts of exactly two yuan are read 二元 (the bill form); a count of two
  before a measure word is 两 (:func:`count_zh`: 两个户号).
* money: 元 / 角 / 分; 整 after whole yuan (20 → 二十元整; 10 → 十元整); a missing 角 between
  元 and 分 is read 零 (1002.05 → 一千零二元零五分); below one yuan only 角 and 分 (0.5 → 五角,
  0.05 → 五分); zero is 零元; negative amounts start with 负.
* dates digit by digit for the year (2026年11月23日 → 二零二六年十一月二十三日); times on the
  24-hour clock (14:30 → 十四点三十分, 14:00 → 十四点整, 9:05 → 九点零五分).
* energy: 千瓦时 (321 → 三百二十一千瓦时, 0.5 → 零点五千瓦时).

English (``lang`` "en"): "123 yuan 45 fen", "20 yuan", "50 fen", "minus 5 yuan";
"November 23, 2026"; "14:30"; "321 kilowatt-hours" ("1 kilowatt-hour").
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

DIGITS = "零一二三四五六七八九"
_SMALL = ("", "十", "百", "千")
_BIG = ("", "万", "亿", "万亿")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
MAX_INTEGER = 10**16 - 1
"""The largest integer :func:`chinese_number` reads (up to 万亿)."""


def is_chinese(lang: str | None) -> bool:
    """True for zh, zh-CN, cmn… (anything that is not English); the default is Chinese."""
    return not (lang or "zh").lower().startswith("en")


def _section(n: int) -> str:
    """0 < n < 10000 in characters with inner zeros (no leading 零)."""
    out: list[str] = []
    zero = False
    for pos in range(3, -1, -1):
        d = (n // 10**pos) % 10
        if d == 0:
            if out:
                zero = True
            continue
        if zero:
            out.append("零")
            zero = False
        out.append(DIGITS[d] + _SMALL[pos])
    return "".join(out)


def chinese_number(n: int) -> str:
    """A non-negative integer in Chinese characters (see the module docstring)."""
    if n < 0:
        return "负" + chinese_number(-n)
    if n > MAX_INTEGER:
        raise ValueError(f"{n} is too large to read")
    if n == 0:
        return "零"
    sections: list[int] = []
    while n:
        sections.append(n % 10000)
        n //= 10000
    out: list[str] = []
    need_zero = False
    for i in range(len(sections) - 1, -1, -1):
        sec = sections[i]
        if sec == 0:
            need_zero = bool(out)
            continue
        if out and (need_zero or sec < 1000):
            out.append("零")
        out.append(_section(sec) + _BIG[i])
        need_zero = False
    text = "".join(out)
    if text.startswith("一十"):
        text = text[1:]
    if text[0] == "二" and len(text) > 1 and text[1] in "千万亿":
        text = "两" + text[1:]
    return text


def count_zh(n: int) -> str:
    """A count before a measure word: 两个, not 二个 (otherwise :func:`chinese_number`)."""
    return "两" if n == 2 else chinese_number(n)


def _digits_zh(text: str) -> str:
    return "".join(DIGITS[int(ch)] for ch in text)


def _fen(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def money(amount: Decimal | int | str, lang: str = "zh") -> str:
    """An amount of yuan read aloud: ``一百二十三元四角五分`` / ``123 yuan 45 fen``."""
    value = _fen(Decimal(amount))
    negative = value < 0
    value = -value if negative else value
    hundredths = int(value * 100)
    yuan, rest = divmod(hundredths, 100)
    jiao, fen = divmod(rest, 10)
    if is_chinese(lang):
        if hundredths == 0:
            return "零元"
        parts: list[str] = []
        if yuan:
            # 2 yuan: the bill form 二元 (chinese_number would give 二 anyway: no 千/万/亿)
            parts.append(chinese_number(yuan) + "元")
            if not jiao and not fen:
                parts.append("整")
        if jiao:
            parts.append(DIGITS[jiao] + "角")
        if fen:
            if yuan and not jiao:
                parts.append("零")
            parts.append(DIGITS[fen] + "分")
        return ("负" if negative else "") + "".join(parts)
    sign = "minus " if negative and hundredths else ""
    if yuan and rest:
        return f"{sign}{yuan} yuan {rest} fen"
    if rest:
        return f"{sign}{rest} fen"
    return f"{sign}{yuan} yuan"


def _decimal_zh(value: Decimal) -> str:
    """A decimal number in Chinese: 三百二十一点五."""
    negative = value < 0
    value = -value if negative else value
    text = format(value.normalize(), "f") if value != value.to_integral_value() else str(int(value))
    whole, _, frac = text.partition(".")
    out = chinese_number(int(whole))
    if frac:
        out += "点" + _digits_zh(frac)
    return ("负" if negative else "") + out


def kwh(amount: Decimal | int | str, lang: str = "zh") -> str:
    """Energy: ``三百二十一千瓦时`` / ``321 kilowatt-hours`` (two places at most, trailing zeros dropped)."""
    value = _fen(Decimal(amount))
    if is_chinese(lang):
        return _decimal_zh(value) + "千瓦时"
    text = format(value.normalize(), "f") if value != value.to_integral_value() else str(int(value))
    unit = "kilowatt-hour" if value == 1 else "kilowatt-hours"
    return f"{text} {unit}"


def date(d: dt.date, lang: str = "zh") -> str:
    """``二零二六年十一月二十三日`` / ``November 23, 2026``."""
    if is_chinese(lang):
        return f"{_digits_zh(f'{d.year:04d}')}年{chinese_number(d.month)}月{chinese_number(d.day)}日"
    return f"{MONTHS[d.month - 1]} {d.day}, {d.year}"


def time_(t: dt.time, lang: str = "zh") -> str:
    """``十四点三十分`` (``十四点整``, ``九点零五分``) / ``14:30``."""
    if is_chinese(lang):
        hour = chinese_number(t.hour)
        if t.minute == 0:
            return f"{hour}点整"
        minute = chinese_number(t.minute)
        return f"{hour}点{'零' if t.minute < 10 else ''}{minute}分"
    return f"{t.hour}:{t.minute:02d}"


def datetime_(when: dt.datetime, lang: str = "zh", tz: str | dt.tzinfo = "Asia/Shanghai") -> str:
    """Date and time in the time zone ``tz`` (naive datetimes are taken as UTC)."""
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    local = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(zone)
    if is_chinese(lang):
        return date(local.date(), lang) + time_(local.time(), lang)
    return f"{date(local.date(), lang)} at {time_(local.time(), lang)}"
