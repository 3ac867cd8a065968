"""Users and their role grants (service layer; callers own the transaction)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.auth.passwords import check_password_policy, hash_password
from hotline.auth.policy import DEFAULT_SCOPE, Grant, Principal, Role, Scope, parse_role, parse_scope
from hotline.errors import Conflict, Invalid, NotFound
from hotline.store.lookup import get_in_tenant
from hotline.store.models import RoleGrant, Unit, User

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


@dataclass(frozen=True)
class GrantSpec:
    """A role to give: ``role``, optional ``scope`` (role default) and anchor unit (user's unit)."""

    role: Role
    scope: Scope | None = None
    unit: str | int | None = None

    @classmethod
    def parse(cls, text: str) -> GrantSpec:
        """``role``, ``role:scope`` or ``role:scope@unit-code`` (as the CLI takes them)."""
        role_part, _, rest = text.partition(":")
        scope_part, _, unit_part = rest.partition("@")
        return cls(
            role=parse_role(role_part.strip()),
            scope=parse_scope(scope_part.strip()) if scope_part.strip() else None,
            unit=unit_part.strip() or None,
        )


def check_username(username: str) -> str:
    username = username.strip()
    if not USERNAME_RE.match(username):
        raise Invalid(
            f"user name {username!r} must be 1-64 characters of letters, digits, '_', '.', '@' or '-'",
            field="username",
        )
    return username


async def get_user(s: AsyncSession, tenant_id: int, key: int | str) -> User:
    return await get_in_tenant(s, User, tenant_id, key, User.username, "user")


async def _resolve_grants(
    s: AsyncSession, tenant_id: int, default_unit: Unit, specs: Sequence[GrantSpec]
) -> list[tuple[Role, Scope, Unit]]:
    from hotline.org.service import get_unit

    if not specs:
        raise Invalid("a user needs at least one role", field="roles")
    seen: set[Role] = set()
    out = []
    for spec in specs:
        if spec.role in seen:
            raise Invalid(f"role {spec.role.value!r} given twice", field="roles")
        seen.add(spec.role)
        anchor = default_unit if spec.unit is None else await get_unit(s, tenant_id, spec.unit)
        out.append((spec.role, spec.scope or DEFAULT_SCOPE[spec.role], anchor))
    return out


async def add_user(
    s: AsyncSession,
    tenant_id: int,
    username: str,
    *,
    unit: Unit,
    password: str,
    grants: Sequence[GrantSpec],
    display_name: str = "",
    email: str = "",
    phone: str = "",
    password_min_length: int = 10,
) -> User:
    username = check_username(username)
    if unit.tenant_id != tenant_id:
        raise NotFound(f"no unit {unit.id}", field="unit")
    check_password_policy(password, username=username, min_length=password_min_length)
    resolved = await _resolve_grants(s, tenant_id, unit, grants)
    if await s.scalar(select(User.id).where(User.tenant_id == tenant_id, User.username == username)):
        raise Conflict(f"user {username!r} already exists", field="username")
    user = User(
        tenant_id=tenant_id,
        unit_id=unit.id,
        username=username,
        display_name=display_name.strip()[:200],
        email=email.strip()[:200],
        phone=phone.strip()[:40],
        password_hash=hash_password(password),
        active=True,
        failed_logins=0,
    )
    user.grants = [RoleGrant(role=r.value, scope=sc.value, unit_id=u.id) for r, sc, u in resolved]
    s.add(user)
    await s.flush()
    return user


async def set_grants(s: AsyncSession, user: User, grants: Sequence[GrantSpec]) -> None:
    unit = await s.get_one(Unit, user.unit_id)
    resolved = await _resolve_grants(s, user.tenant_id, unit, grants)
    # The unit of work inserts before it deletes; drop the old rows first so that a grant of
    # the same role does not collide with the one it replaces (unique user_id, role).
    user.grants = []
    await s.flush()
    user.grants = [RoleGrant(role=r.value, scope=sc.value, unit_id=u.id) for r, sc, u in resolved]
    await s.flush()


async def set_password(s: AsyncSession, user: User, password: str, *, min_length: int = 10) -> None:
    from hotline.store.types import utcnow

    check_password_policy(password, username=user.username, min_length=min_length)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.failed_logins = 0
    user.locked_until = None
    await s.flush()


async def list_users(s: AsyncSession, tenant_id: int) -> Sequence[User]:
    return (await s.scalars(select(User).where(User.tenant_id == tenant_id).order_by(User.username))).all()


async def principal_for(s: AsyncSession, user: User, ip: str = "") -> Principal:
    """Load what the policy needs: the user's grants with their anchor units' paths."""
    unit_ids = {g.unit_id for g in user.grants}
    rows = (await s.execute(select(Unit.id, Unit.path).where(Unit.id.in_(unit_ids)))).all()
    paths = {uid: path for uid, path in rows}
    grants = tuple(
        Grant(role=Role(g.role), scope=Scope(g.scope), unit_id=g.unit_id, unit_path=paths[g.unit_id])
        for g in sorted(user.grants, key=lambda g: g.role)
    )
    return Principal(
        user_id=user.id,
        tenant_id=user.tenant_id,
        username=user.username,
        unit_id=user.unit_id,
        grants=grants,
        ip=ip,
    )
