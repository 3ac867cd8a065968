"""Logins, lockout, browser sessions and API bearer tokens.

Secrets are random 256-bit tokens; only their SHA-256 is stored, so a database dump does not
leak usable tokens. Browser sessions carry a CSRF token that unsafe requests must echo.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline import audit
from hotline.auth.passwords import hash_password, needs_rehash, verify_password
from hotline.config import SecuritySettings
from hotline.errors import Invalid, Locked, Unauthorized
from hotline.store.db import transaction
from hotline.store.models import AuthSession, Tenant, User
from hotline.store.types import utcnow

BAD_CREDENTIALS = "wrong user name or password"


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Issued:
    token: str
    csrf_token: str
    expires_at: datetime
    session_id: int


@dataclass(frozen=True)
class _Outcome:
    user_id: int | None
    error: Exception | None


async def _find_user(s: AsyncSession, tenant: str | None, username: str) -> User | None:
    q = select(User).where(User.username == username)
    if tenant:
        q = q.join(Tenant, Tenant.id == User.tenant_id).where(Tenant.slug == tenant)
    users = (await s.scalars(q)).all()
    if len(users) > 1:
        raise Invalid("this user name exists in several tenants; name the tenant", field="tenant")
    return users[0] if users else None


async def authenticate(
    factory: async_sessionmaker[AsyncSession],
    *,
    tenant: str | None,
    username: str,
    password: str,
    ip: str,
    security: SecuritySettings,
    now: datetime | None = None,
) -> int:
    """Check a password; return the user id. Failures are counted and audited, then raised.

    After ``lockout_threshold`` consecutive failures the account is locked for
    ``lockout_minutes``; while locked, even the right password is refused.
    """
    now = now or utcnow()
    async with transaction(factory) as s:
        outcome = await _authenticate(s, tenant, username, password, ip, security, now)
    if outcome.error is not None:
        raise outcome.error
    assert outcome.user_id is not None
    return outcome.user_id


async def _authenticate(
    s: AsyncSession,
    tenant: str | None,
    username: str,
    password: str,
    ip: str,
    security: SecuritySettings,
    now: datetime,
) -> _Outcome:
    user = await _find_user(s, tenant, username)
    if user is None:
        verify_password(None, password)  # same work as for a real user
        audit.record(
            s, "auth.login", actor=username, ip=ip, outcome="fail", detail={"reason": "unknown user"}
        )
        return _Outcome(None, Unauthorized(BAD_CREDENTIALS))
    base: dict[str, Any] = {
        "tenant_id": user.tenant_id,
        "actor": username,
        "actor_id": user.id,
        "ip": ip,
        "resource_type": "user",
    }
    if user.locked_until is not None and user.locked_until > now:
        audit.record(s, "auth.login", **base, resource_id=user.id, outcome="locked")
        return _Outcome(
            None, Locked(f"account locked until {user.locked_until.isoformat(timespec='seconds')}")
        )
    if not verify_password(user.password_hash, password):
        user.failed_logins += 1
        detail = {"failed_logins": user.failed_logins}
        if user.failed_logins >= security.lockout_threshold:
            user.locked_until = now + timedelta(minutes=security.lockout_minutes)
            user.failed_logins = 0
            audit.record(s, "auth.lockout", **base, resource_id=user.id, outcome="locked", detail=detail)
            return _Outcome(
                None, Locked(f"too many failed logins; account locked for {security.lockout_minutes} minutes")
            )
        audit.record(s, "auth.login", **base, resource_id=user.id, outcome="fail", detail=detail)
        return _Outcome(None, Unauthorized(BAD_CREDENTIALS))
    if not user.active:
        audit.record(
            s, "auth.login", **base, resource_id=user.id, outcome="fail", detail={"reason": "disabled"}
        )
        return _Outcome(None, Unauthorized("account is disabled"))
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit.record(s, "auth.login", **base, resource_id=user.id)
    return _Outcome(user.id, None)


async def issue(
    s: AsyncSession,
    user: User,
    *,
    kind: str,
    lifetime: timedelta,
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
) -> Issued:
    now = now or utcnow()
    raw = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(24) if kind == "browser" else ""
    row = AuthSession(
        token_hash=token_hash(raw),
        kind=kind,
        user_id=user.id,
        tenant_id=user.tenant_id,
        csrf_token=csrf,
        ip=ip[:64],
        user_agent=user_agent[:300],
        created_at=now,
        expires_at=now + lifetime,
    )
    s.add(row)
    await s.flush()
    return Issued(token=raw, csrf_token=csrf, expires_at=row.expires_at, session_id=row.id)


async def resolve(
    s: AsyncSession, raw: str, *, kind: str | None = None, now: datetime | None = None
) -> tuple[AuthSession, User]:
    now = now or utcnow()
    row = await s.scalar(select(AuthSession).where(AuthSession.token_hash == token_hash(raw)))
    if row is None:
        raise Unauthorized("invalid token")
    user = await s.get_one(User, row.user_id)
    check(row, user, kind=kind, now=now)
    return row, user


def check(row: AuthSession, user: User, *, kind: str | None, now: datetime) -> None:
    """Whether a session (and its user) may be used now: Unauthorized / Locked otherwise."""
    if kind is not None and row.kind != kind:
        raise Unauthorized("invalid token")
    if row.revoked_at is not None:
        raise Unauthorized("token revoked")
    if row.expires_at <= now:
        raise Unauthorized("token expired")
    if not user.active:
        raise Unauthorized("account is disabled")
    if user.locked_until is not None and user.locked_until > now:
        raise Locked("account locked")


async def revoke(s: AsyncSession, row: AuthSession, now: datetime | None = None) -> None:
    row.revoked_at = now or utcnow()
    await s.flush()


def csrf_ok(row: AuthSession, presented: str | None) -> bool:
    return bool(row.csrf_token) and presented is not None and hmac.compare_digest(row.csrf_token, presented)
