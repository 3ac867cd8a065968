"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hotline.errors import Invalid

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

#: A well-formed hash of a random password, verified against when the user does not exist,
#: so that "no such user" and "wrong password" take the same time.
_DUMMY_HASH = _hasher.hash("dummy password for timing equalisation")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def check_password_policy(password: str, *, username: str = "", min_length: int = 10) -> None:
    """Strong passwords: minimum length, three of four character classes, not the user name."""
    if len(password) < min_length:
        raise Invalid(f"password must be at least {min_length} characters", field="password")
    if len(password) > 256:
        raise Invalid("password must be at most 256 characters", field="password")
    classes = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if classes < 3:
        raise Invalid(
            "password must mix at least three of: lower case, upper case, digits, symbols",
            field="password",
        )
    if username and username.lower() in password.lower():
        raise Invalid("password must not contain the user name", field="password")
