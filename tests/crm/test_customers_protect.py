"""Protected customer data: encryption round trip, masks never reveal more than allowed, ID check
digits, address masking, PIN, the key file."""

from __future__ import annotations

import string
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.config import Settings
from hotline.crm import protect
from hotline.crm.protect import IdProtector, KeyFileError, mask_address, mask_id, resident_check_digit
from hotline.errors import Invalid

KEY = bytes(range(32))
P = IdProtector(KEY)


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    area = draw(st.integers(110000, 659999))
    born = draw(st.dates(date(1900, 1, 1), date(2025, 12, 31)))
    seq = draw(st.integers(0, 999))
    first17 = f"{area:06d}{born:%Y%m%d}{seq:03d}"
    return first17 + resident_check_digit(first17)


@given(st.text(max_size=200))
def test_encrypt_decrypt_round_trip(text: str) -> None:
    token = P.encrypt(text)
    assert P.decrypt(token) == text
    assert token != P.encrypt(text)  # a fresh nonce every time


@given(resident_ids())
def test_valid_resident_ids_pass_and_any_changed_check_digit_fails(v: str) -> None:
    assert protect.check_id_number(v) == v
    for wrong in "0123456789X":
        if wrong != v[-1]:
            with pytest.raises(Invalid, match="check digit"):
                protect.check_id_number(v[:-1] + wrong)


@given(resident_ids(), st.integers(0, 16), st.integers(1, 9))
def test_one_wrong_digit_is_caught(v: str, pos: int, delta: int) -> None:
    changed = v[:pos] + str((int(v[pos]) + delta) % 10) + v[pos + 1 :]
    ok = protect.resident_id_problem(changed) is None
    # MOD 11-2 detects every single-digit error; the birth date check may catch it first
    assert not ok


def test_known_ids_and_shapes() -> None:
    assert protect.check_id_number(" 11010519491231002x ") == "11010519491231002X"
    with pytest.raises(Invalid, match="not a date"):
        protect.check_id_number("110105194902300021")
    with pytest.raises(Invalid, match="out of range"):
        protect.check_id_number("110105209912310023", today=date(2026, 1, 1))
    assert protect.check_id_number("e12345678") == "E12345678"  # a passport
    with pytest.raises(Invalid):
        protect.check_id_number("ab")
    with pytest.raises(Invalid):
        protect.check_id_number("中文证件号码")


@given(resident_ids())
def test_resident_mask_shows_area_and_last_four_only(v: str) -> None:
    m = mask_id(v)
    assert m == v[:6] + "********" + v[-4:]
    assert v[6:14] not in m  # never the birth date


@given(st.text(alphabet=string.ascii_uppercase + string.digits + "-", min_size=1, max_size=40))
def test_other_masks_reveal_at_most_half_and_at_most_six(v: str) -> None:
    m = mask_id(v)
    assert len(m) == len(v)
    shown = [i for i, ch in enumerate(m) if ch != "*"]
    assert all(m[i] == v[i] for i in shown)
    if not (len(v) == 18 and protect.is_resident_id(v)):
        assert len(shown) <= min(6, len(v) // 2)


def test_search_hash_is_keyed_and_canonical() -> None:
    h = P.search_hash("11010519491231002x")
    assert h == P.search_hash(" 11010519491231002X") and len(h) == 64
    assert IdProtector(bytes(32)).search_hash("11010519491231002X") != h
    other = IdProtector(bytes(32))
    with pytest.raises(ValueError):
        other.decrypt(P.encrypt("x"))
    with pytest.raises(ValueError):
        P.decrypt("v1:!!!")


@given(st.text(max_size=80))
def test_masked_address_is_a_prefix_without_digits(text: str) -> None:
    m = mask_address(text)
    kept = m.removesuffix("…")
    assert text.strip().startswith(kept)
    if m != text.strip():
        assert not any(ch.isdigit() for ch in kept)
        assert len(kept) <= 40


@pytest.mark.parametrize(
    ("address", "masked"),
    [
        ("南京市江宁区东山街道上坊村 12 号", "南京市江宁区…"),
        ("苏州市姑苏区平江路 66 号", "苏州市姑苏区…"),
        ("江苏省南京市鼓楼区中山北路 101 号", "江苏省南京市鼓楼区…"),
        ("上海市浦东新区世纪大道 100 号", "上海市浦东新区…"),
        ("湖北省恩施土家族苗族自治州恩施市舞阳街道", "湖北省恩施土家族苗族自治州恩施市…"),
        ("12 Main Street", "…"),
        ("", ""),
    ],
)
def test_mask_address_examples(address: str, masked: str) -> None:
    assert mask_address(address) == masked


@settings(max_examples=5, deadline=None)
@given(st.from_regex(r"[0-9]{4,8}", fullmatch=True))
def test_pin_hash_and_check(pin: str) -> None:
    h = protect.hash_pin(pin)
    assert protect.check_pin(h, pin) and pin not in h
    assert not protect.check_pin(h, pin + "0" if len(pin) < 8 else pin[:-1])


def test_pin_rules() -> None:
    for bad in ("123", "123456789", "12a4", ""):
        with pytest.raises(Invalid):
            protect.hash_pin(bad)
    assert not protect.check_pin("", "1234")
    assert not protect.check_pin("garbage", "1234")


def test_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data")
    p1 = IdProtector.for_settings(s)
    key = tmp_path / "data" / "keys" / "customer-id.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert IdProtector.for_settings(s) is p1
    token = p1.encrypt("secret")
    assert IdProtector.from_file(key).decrypt(token) == "secret"  # the same key read back
    # a configured key file (hex) is used as it is
    own = tmp_path / "own.key"
    own.write_text(KEY.hex())
    s2 = Settings(data_dir=tmp_path / "data")
    s2.crm.id_key_file = str(own)
    assert IdProtector.for_settings(s2).decrypt(P.encrypt("x")) == "x"
    bad = tmp_path / "bad.key"
    bad.write_text("short")
    with pytest.raises(KeyFileError):
        IdProtector.from_file(bad)
