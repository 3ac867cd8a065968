"""Customer phone numbers, normalised exactly like the SIP layer normalises caller numbers
(:func:`hotline.sip.helpers.normalize_number`), so a caller's number finds the customer.

``13912345678``, ``+86 139 1234 5678``, ``0086-13912345678`` → ``+8613912345678``;
``025-8888 1234`` → ``+862588881234``. Local numbers without an area code stay as digits.
"""

from __future__ import annotations

import re

from hotline.errors import Invalid
from hotline.sip.helpers import normalize_number

_VALID = re.compile(r"^\+?[0-9]{5,20}$")


def normalize_phone(raw: str, *, field: str = "phone") -> str:
    """The stored form of a phone number; :class:`Invalid` (naming ``field``) if it is not one."""
    value = normalize_number(raw.strip())
    if not _VALID.match(value):
        raise Invalid(f"{field}: {raw!r} is not a phone number", field=field)
    return value


def phone_kind(normalized: str) -> str:
    """mobile (China +861…), landline (other +86), other."""
    if normalized.startswith("+861") and len(normalized) == 14:
        return "mobile"
    if normalized.startswith("+86"):
        return "landline"
    return "other"


def lookup_forms(raw: str) -> list[str]:
    """The stored forms a caller number may match (the normalised form first)."""
    value = normalize_number(raw.strip())
    forms = [value]
    if value.startswith("+86"):
        forms.append("0" + value[3:] if not value.startswith("+861") else value[3:])
    return forms
