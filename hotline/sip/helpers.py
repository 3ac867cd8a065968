"""Small helpers: identifiers and phone-number normalisation."""

from __future__ import annotations

import random
import secrets
import string

from hotline.sip.headers import BRANCH_MAGIC_COOKIE

_ALPHABET = string.ascii_lowercase + string.digits
_SYSTEM_RANDOM = secrets.SystemRandom()


def _rand(n: int, rng: random.Random | None) -> str:
    r = rng if rng is not None else _SYSTEM_RANDOM
    return "".join(r.choice(_ALPHABET) for _ in range(n))


def generate_branch(rng: random.Random | None = None) -> str:
    """A fresh RFC 3261 branch (``z9hG4bK`` + 20 random chars)."""
    return BRANCH_MAGIC_COOKIE + _rand(20, rng)


def generate_tag(rng: random.Random | None = None) -> str:
    """A From/To tag with ~62 bits of randomness."""
    return _rand(12, rng)


def generate_call_id(host: str | None = None, rng: random.Random | None = None) -> str:
    """A globally unique Call-ID (``random[@host]``)."""
    cid = _rand(24, rng)
    return f"{cid}@{host}" if host else cid


_DIAL_SEPARATORS = str.maketrans("", "", " -.()/\t")


def normalize_number(raw: str, national_prefix: str = "0", country_code: str = "86") -> str:
    """Normalise a dialled number / user part to E.164-like ``+<cc>...`` form.

    Rules (applied after removing visual separators `` -.()/``):

    1. Anything that is not ``[+]digits`` (e.g. ``*43``, ``#1``, ``alice``) is returned
       unchanged (original string, separators kept).
    2. ``+...`` is kept as is (already international).
    3. ``00<cc>...`` (international prefix) becomes ``+<cc>...``.
    4. ``<cc>...`` is *not* assumed: only exact national forms are converted:
       * ``<national_prefix><area/number>`` (e.g. ``010 12345678``) becomes
         ``+<country_code><number without national prefix>`` when at least 9 digits
         long (shorter strings are local service numbers and stay as they are);
       * for country code 86, an 11-digit mobile number starting with ``1``
         (``13800138000``) becomes ``+8613800138000``; a 13-digit ``86`` + mobile
         becomes ``+86...``.
    5. Everything else (short extensions ``1001``, service codes ``95598``, ``110``,
       local numbers without area code) is returned unchanged.

    The function is idempotent: ``normalize_number(normalize_number(x)) == normalize_number(x)``.
    """
    compact = raw.strip().translate(_DIAL_SEPARATORS)
    if not compact:
        return raw
    digits = compact[1:] if compact.startswith("+") else compact
    if not digits.isdigit() or not digits.isascii():
        return raw
    if compact.startswith("+"):
        return compact
    if digits.startswith("00") and len(digits) > 4:
        return "+" + digits[2:]
    if national_prefix and digits.startswith(national_prefix) and len(digits) >= 9:
        return f"+{country_code}{digits[len(national_prefix) :]}"
    if country_code == "86":
        if len(digits) == 11 and digits[0] == "1":
            return f"+86{digits}"
        if len(digits) == 13 and digits.startswith("861"):
            return "+" + digits
    return compact
