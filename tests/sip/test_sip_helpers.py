"""Tests for phone-number normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.sip.helpers import normalize_number


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("01012345678", "+861012345678"),
        ("010-1234 5678", "+861012345678"),
        ("0086 10 12345678", "+861012345678"),
        ("+861012345678", "+861012345678"),
        ("13800138000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("+14155550100", "+14155550100"),
        ("0014155550100", "+14155550100"),
        ("075512345678", "+8675512345678"),
        ("*43", "*43"),
        ("#31#", "#31#"),
        ("95598", "95598"),
        ("110", "110"),
        ("1001", "1001"),
        ("12345678", "12345678"),  # local number without area code: unchanged
        ("alice", "alice"),
        ("", ""),
    ],
)
def test_normalize_examples(raw: str, expected: str) -> None:
    assert normalize_number(raw) == expected


def test_other_country() -> None:
    assert normalize_number("030123456", national_prefix="0", country_code="49") == "+4930123456"
    assert normalize_number("13800138000", country_code="49") == "13800138000"


digits = st.text(alphabet="0123456789", min_size=0, max_size=16)
numberish = st.one_of(
    digits,
    digits.map(lambda d: "+" + d),
    digits.map(lambda d: "00" + d),
    digits.map(lambda d: "0" + d),
    st.text(alphabet="0123456789*#+- ()", max_size=16),
    st.text(max_size=10),
)


@given(numberish)
def test_idempotent(raw: str) -> None:
    once = normalize_number(raw)
    assert normalize_number(once) == once


@given(numberish)
def test_result_shape(raw: str) -> None:
    out = normalize_number(raw)
    if out.startswith("+") and out != raw:
        assert out[1:].isdigit()
    compact = "".join(c for c in raw if c not in " -.()/\t")
    if compact.isdigit() and len(compact) <= 8 and not compact.startswith("00"):
        # short extensions / service codes are never rewritten (beyond separator removal)
        assert out == compact


@given(st.text(alphabet="0123456789", min_size=3, max_size=8))
def test_service_codes_unchanged(code: str) -> None:
    assert normalize_number("*" + code) == "*" + code
