"""Protected customer data: ID numbers (encrypted, searchable by a keyed hash, shown masked),
masked addresses, and the customer's authorisation PIN (argon2).

**Key.** One 32-byte key per installation: ``[crm] id_key_file`` (``HOTLINE_CRM_ID_KEY_FILE``)
or, when that is empty, ``<data_dir>/keys/customer-id.key``, created on first use with mode
0600 (its directory 0700). The file holds the key as base64 text (64 hex digits or 32 raw
bytes are read too). Losing the key loses every stored ID number (the masked form and the
search hash stay usable for display but a new key hashes differently): back it up with the
database, never in it.

- ``encrypt``/``decrypt``: AES-256-GCM with a random 96-bit nonce; the stored text is
  ``v1:`` + base64url(nonce ‖ ciphertext ‖ tag). A changed byte fails the tag check.
- ``search_hash``: HMAC-SHA256 of the canonical ID number (trimmed, upper case) under a key
  derived from the installation key with HKDF (info ``hotline customer-id search``), so an
  exact search by ID number works without decrypting anything.

**ID numbers.** :func:`check_id_number` accepts

- Chinese resident identity numbers (居民身份证号码, GB 11643): 18 characters, 17 digits and a
  check digit (0-9 or X) — the birth date (digits 7-14) must be a real date between 1900 and
  today and the check digit must match ISO 7064 MOD 11-2. An 18-character value of that shape
  that fails is refused (a typing error is far likelier than a foreign document of that form);
- anything else is treated as another document (passport, Hong Kong/Macao/Taiwan permits,
  old 15-digit IDs, foreign IDs) and only checked for shape: 5-32 letters, digits or ``-``
  (letters stored in upper case).

:func:`mask_id` shows a resident ID as the first 6 and last 4 characters
(``320102********1234``: the area code and the sequence with the check digit, never the
birth date); other documents keep at most the first 2 and last 4 characters and never more
than half of the value.

**Addresses.** :func:`mask_address` keeps the district part (up to and including the first
区/县/市/旗 after the province and city, e.g. ``南京市江宁区…``) and replaces the rest with "…";
an address without a recognisable district shows only "…". The kept part never contains a digit.

**PIN.** 4-8 digits, stored as an argon2id hash (:func:`hash_pin`, :func:`check_pin`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import secrets
import threading
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hotline.errors import Invalid

if TYPE_CHECKING:
    from hotline.config import Settings

KEY_BYTES = 32
_PREFIX = "v1:"
_AAD = b"hotline customer id v1"

# -- ID numbers (pure) ------------------------------------------------------------------------

RESIDENT_RE = re.compile(r"^[0-9]{17}[0-9X]$")
OTHER_ID_RE = re.compile(r"^[0-9A-Z-]{5,32}$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def canonical_id(value: str) -> str:
    """The canonical form of an ID number: no surrounding or inner blanks, upper case."""
    return re.sub(r"\s+", "", value).upper()


def resident_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits of a resident ID number."""
    total = sum(int(c) * w for c, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def is_resident_id(value: str) -> bool:
    """Has the shape of an 18-character resident ID number (not checked)."""
    return bool(RESIDENT_RE.match(value))


def resident_id_problem(value: str, today: date | None = None) -> str | None:
    """Why an 18-character resident ID number is wrong, or None when it is valid."""
    if not RESIDENT_RE.match(value):
        return "a resident ID number has 17 digits and a check digit (0-9 or X)"
    y, m, d = int(value[6:10]), int(value[10:12]), int(value[12:14])
    try:
        born = date(y, m, d)
    except ValueError:
        return f"birth date {value[6:14]} in the ID number is not a date"
    if born.year < 1900 or born > (today or date.today()):
        return f"birth date {value[6:14]} in the ID number is out of range"
    if resident_check_digit(value[:17]) != value[17]:
        return "check digit of the ID number is wrong"
    return None


def check_id_number(value: str, *, field: str = "id_number", today: date | None = None) -> str:
    """The canonical ID number, or :class:`Invalid` naming ``field`` (see the module doc)."""
    v = canonical_id(value)
    if len(v) == 18 and v[:17].isdigit():
        problem = resident_id_problem(v, today)
        if problem:
            raise Invalid(problem, field=field)
        return v
    if not OTHER_ID_RE.match(v):
        raise Invalid("an ID number has 5-32 letters, digits or '-'", field=field)
    return v


def mask_id(value: str) -> str:
    """Display form of an ID number (see the module doc); never more than half of it."""
    v = canonical_id(value)
    n = len(v)
    if n == 0:
        return ""
    if n == 18 and is_resident_id(v):
        return v[:6] + "*" * 8 + v[-4:]
    head, tail = 2, 4
    while head + tail > n // 2 and tail > 0:
        tail -= 1
        if head + tail > n // 2 and head > 0:
            head -= 1
    return v[:head] + "*" * (n - head - tail) + (v[n - tail :] if tail else "")


# -- addresses (pure) -------------------------------------------------------------------------

_ADDR_RE = re.compile(
    r"^\s*"
    r"(?:[^\d\s省]{1,8}?(?:省|自治区|特别行政区))?"
    r"(?:[^\d\s市]{1,10}?(?:市|自治州|盟|地区))?"
    r"[^\d\s区县市旗]{1,10}?(?:区|县|市|旗)"
)
_CITY_RE = re.compile(
    r"^\s*(?:[^\d\s省]{1,8}?(?:省|自治区|特别行政区))?[^\d\s市]{1,10}?(?:市|自治州|盟|地区)"
)


def mask_address(text: str) -> str:
    """The district part of an address followed by "…" (``南京市江宁区东山街道…`` → ``南京市江宁区…``)."""
    t = text.strip()
    if not t:
        return ""
    m = _ADDR_RE.match(t) or _CITY_RE.match(t)
    kept = m.group(0).strip() if m else ""
    if kept == t:
        return kept
    return kept + "…"


# -- PIN --------------------------------------------------------------------------------------

PIN_RE = re.compile(r"^[0-9]{4,8}$")
_pin_hasher = PasswordHasher()


def check_pin_format(pin: str, *, field: str = "pin") -> str:
    if not PIN_RE.match(pin):
        raise Invalid("a PIN has 4 to 8 digits", field=field)
    return pin


def hash_pin(pin: str) -> str:
    """argon2id hash of a PIN (4-8 digits, else :class:`Invalid`)."""
    return _pin_hasher.hash(check_pin_format(pin))


def check_pin(pin_hash: str, pin: str) -> bool:
    """Whether ``pin`` matches the stored hash (False when no PIN is set)."""
    if not pin_hash or not PIN_RE.match(pin):
        return False
    try:
        return _pin_hasher.verify(pin_hash, pin)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- the protector ----------------------------------------------------------------------------


class KeyFileError(Exception):
    """The key file cannot be read, created or parsed."""


def _parse_key(raw: bytes, source: str) -> bytes:
    if len(raw) == KEY_BYTES:
        return raw
    text = raw.strip()
    if len(text) == 2 * KEY_BYTES:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            pass
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"{source}: not a {KEY_BYTES}-byte key (base64, hex or raw bytes)")
    return key


def load_or_create_key(path: Path) -> bytes:
    """The key in ``path``; a new random one written there (mode 0600) if the file is missing."""
    try:
        return _parse_key(path.read_bytes(), str(path))
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the key file: {exc.strerror}") from None
    key = secrets.token_bytes(KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _parse_key(path.read_bytes(), str(path))
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot create the key file: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(base64.b64encode(key) + b"\n")
        f.flush()
        os.fsync(f.fileno())
    return key


def key_path(settings: Settings) -> Path:
    if settings.crm.id_key_file:
        return Path(settings.crm.id_key_file)
    return settings.data_dir / "keys" / "customer-id.key"


_cache: dict[Path, IdProtector] = {}
_cache_lock = threading.Lock()


class IdProtector:
    """Encrypts, hashes and masks ID numbers with one installation key (see the module doc)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)
        self._mac_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"hotline customer-id search"
        ).derive(key)

    @classmethod
    def from_file(cls, path: Path) -> IdProtector:
        return cls(load_or_create_key(path))

    @classmethod
    def for_settings(cls, settings: Settings) -> IdProtector:
        """The protector of this installation (cached per key file; the file made on first use)."""
        path = key_path(settings).resolve()
        with _cache_lock:
            found = _cache.get(path)
            if found is None:
                found = _cache[path] = cls.from_file(path)
            return found

    def encrypt(self, plain: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plain.encode("utf-8"), _AAD)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str) -> str:
        """The plain text; :class:`ValueError` if the token was not made with this key."""
        if not token.startswith(_PREFIX):
            raise ValueError("not an encrypted value")
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX) :].encode("ascii"))
            return self._aead.decrypt(raw[:12], raw[12:], _AAD).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError, UnicodeError) as exc:
            raise ValueError("cannot decrypt (wrong key or damaged value)") from exc

    def search_hash(self, id_number: str) -> str:
        """Hex HMAC-SHA256 of the canonical ID number (64 characters)."""
        return hmac.new(self._mac_key, canonical_id(id_number).encode("utf-8"), hashlib.sha256).hexdigest()

    @staticmethod
    def mask(id_number: str) -> str:
        return mask_id(id_number)

    def protect(self, id_number: str) -> tuple[str, str, str]:
        """(encrypted, search hash, masked) of an already checked ID number; "" → three ""."""
        if not id_number:
            return "", "", ""
        v = canonical_id(id_number)
        return self.encrypt(v), self.search_hash(v), mask_id(v)
