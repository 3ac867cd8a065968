"""Exact money: :class:`decimal.Decimal` everywhere, never floats.

Rounding rules (explicit, one place):

* every amount that is stored or shown is rounded to the fen (0.01 yuan) **half up**
  (四舍五入), the rule of Chinese electricity bills;
* a bill line is ``kWh × price`` rounded to the fen on its own; the bill total is the sum of
  the rounded lines (so the lines always add up to the total printed);
* a late fee is computed per overdue bill and per day-rate bracket and each part rounded to the
  fen half up; the parts are then added.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def fen(value: Decimal | int | str) -> Decimal:
    """Round to the fen, half up."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def parse_money(text: str | int | Decimal | float, *, field: str = "amount") -> Decimal:
    """A money amount from user input: at most two decimals, no exponent, finite.

    Raises :class:`hotline.errors.Invalid` naming ``field``.
    """
    from hotline.errors import Invalid

    if isinstance(text, float):
        raise Invalid(f"{field}: give money as a string or integer, not a float", field=field)
    try:
        d = Decimal(str(text).strip())
    except (InvalidOperation, ValueError):
        raise Invalid(f"{field}: {text!r} is not a number", field=field) from None
    if not d.is_finite():
        raise Invalid(f"{field}: {text!r} is not a finite number", field=field)
    exponent = d.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise Invalid(f"{field}: {text!r} has more than two decimal places", field=field)
    return d.quantize(CENT)


def to_str(value: Decimal) -> str:
    """Canonical text form, two places: ``"123.40"``."""
    return str(fen(value))
