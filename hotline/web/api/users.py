"""Users, their roles, password resets and unlocking; and the audit log."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import audit
from hotline.auth.policy import (
    DEFAULT_SCOPE,
    DataScope,
    Perm,
    Principal,
    Resource,
    Role,
    Scope,
    data_scope,
    grantable,
    parse_role,
    parse_scope,
)
from hotline.auth.users import GrantSpec, add_user, get_user, set_grants, set_password
from hotline.errors import Forbidden, Invalid
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.lookup import unit_path
from hotline.store.models import Unit, User
from hotline.web.api.auth import user_out
from hotline.web.api.org import scope_filter
from hotline.web.api.schemas import MAX_ID, MAX_OFFSET, AuditOut, GrantIn, Page, Strict, UserOut
from hotline.web.context import CtxDep

router = APIRouter(prefix="/api/v1", tags=["users"])


class UserIn(Strict):
    username: str = Field(examples=["zhang.wei"])
    password: str = Field(examples=["Agent-2026!pass"])
    unit: str | int = Field(examples=["js.nj"], description="unit code or id")
    display_name: str = Field("", examples=["张伟"])
    email: str = ""
    phone: str = ""
    roles: list[GrantIn] = Field(examples=[[{"role": "agent"}]])


class UserPatch(Strict):
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    active: bool | None = None
    roles: list[GrantIn] | None = None


class PasswordReset(Strict):
    password: str


async def user_resource(s: AsyncSession, user: User) -> Resource:
    path = await unit_path(s, user.unit_id)
    return Resource("user", user.tenant_id, path or "", user.id, str(user.id))


async def _specs(
    s: AsyncSession, granter: Principal, tenant_id: int, default_unit: Unit, roles: list[GrantIn]
) -> list[GrantSpec]:
    specs = []
    for i, g in enumerate(roles):
        role = parse_role(g.role)
        scope = parse_scope(g.scope) if g.scope else None
        anchor = default_unit if g.unit is None else await org.get_unit(s, tenant_id, g.unit)
        eff_scope: Scope = scope or DEFAULT_SCOPE[role]
        if not grantable(granter, role, eff_scope, anchor.path):
            raise Forbidden(
                f"roles[{i}]: you may not grant {role.value} with scope {eff_scope.value} at unit {anchor.code}"
            )
        specs.append(GrantSpec(role=role, scope=eff_scope, unit=anchor.id))
    return specs


@router.get("/users", response_model=Page[UserOut], summary="Users you may see")
async def list_users(
    ctx: CtxDep,
    unit: int | None = Query(None, ge=1, le=MAX_ID, description="only users of this unit id"),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> Page[UserOut]:
    await ctx.require_any(Perm.USER_READ, "user")
    q = select(User).join(Unit, Unit.id == User.unit_id).where(User.tenant_id == ctx.tenant_id)
    if unit is not None:
        q = q.where(User.unit_id == unit)
    scoped = scope_filter(q, data_scope(ctx.principal, Perm.USER_READ), Unit.path, User.id)
    if scoped is None:
        return Page(items=[], limit=limit, offset=offset)
    async with ctx.db() as s:
        rows = (await s.scalars(scoped.order_by(User.username).limit(limit).offset(offset))).all()
        return Page(items=[user_out(u) for u in rows], limit=limit, offset=offset)


@router.post("/users", response_model=UserOut, status_code=201, summary="Create a user with roles")
async def create_user(body: UserIn, ctx: CtxDep) -> UserOut:
    async with transaction(ctx.db) as s:
        unit = await org.get_unit(s, ctx.tenant_id, body.unit)
        await ctx.authorize(Perm.USER_WRITE, Resource("user", ctx.tenant_id, unit.path))
        if not body.roles:
            raise Invalid("a user needs at least one role", field="roles")
        specs = await _specs(s, ctx.principal, ctx.tenant_id, unit, body.roles)
        user = await add_user(
            s,
            ctx.tenant_id,
            body.username,
            unit=unit,
            password=body.password,
            grants=specs,
            display_name=body.display_name,
            email=body.email,
            phone=body.phone,
            password_min_length=ctx.state.settings.security.password_min_length,
        )
        audit.record(
            s,
            "user.create",
            principal=ctx.principal,
            resource_type="user",
            resource_id=user.id,
            detail={"username": user.username, "roles": [g.role for g in user.grants]},
        )
        return user_out(user)


@router.get("/users/{user_id}", response_model=UserOut, summary="One user")
async def get_one(user_id: int, ctx: CtxDep) -> UserOut:
    async with ctx.db() as s:
        user = await get_user(s, ctx.tenant_id, user_id)
        await ctx.authorize(Perm.USER_READ, await user_resource(s, user))
        return user_out(user)


@router.patch("/users/{user_id}", response_model=UserOut, summary="Change a user's details, status or roles")
async def patch_user(user_id: int, body: UserPatch, ctx: CtxDep) -> UserOut:
    async with transaction(ctx.db) as s:
        user = await get_user(s, ctx.tenant_id, user_id)
        await ctx.authorize(Perm.USER_WRITE, await user_resource(s, user))
        changes: dict[str, object] = {}
        for name in ("display_name", "email", "phone", "active"):
            value = getattr(body, name)
            if value is not None:
                setattr(user, name, value)
                changes[name] = value
        if body.roles is not None:
            if (
                user.id == ctx.principal.user_id
                and Role.ADMIN in ctx.principal.roles
                and not any(g.role == Role.ADMIN.value for g in body.roles)
            ):
                raise Invalid("you cannot remove your own admin role", field="roles")
            unit = await s.get_one(Unit, user.unit_id)
            await set_grants(s, user, await _specs(s, ctx.principal, ctx.tenant_id, unit, body.roles))
            changes["roles"] = [g.role for g in body.roles]
        audit.record(
            s,
            "user.update",
            principal=ctx.principal,
            resource_type="user",
            resource_id=user.id,
            detail=changes,
        )
        return user_out(user)


@router.post("/users/{user_id}/password", status_code=204, summary="Set a new password for a user")
async def reset_password(user_id: int, body: PasswordReset, ctx: CtxDep) -> None:
    async with transaction(ctx.db) as s:
        user = await get_user(s, ctx.tenant_id, user_id)
        await ctx.authorize(Perm.USER_WRITE, await user_resource(s, user))
        await set_password(s, user, body.password, min_length=ctx.state.settings.security.password_min_length)
        audit.record(
            s, "user.password_reset", principal=ctx.principal, resource_type="user", resource_id=user.id
        )


@router.post("/users/{user_id}/unlock", response_model=UserOut, summary="Lift a lockout")
async def unlock(user_id: int, ctx: CtxDep) -> UserOut:
    async with transaction(ctx.db) as s:
        user = await get_user(s, ctx.tenant_id, user_id)
        await ctx.authorize(Perm.USER_WRITE, await user_resource(s, user))
        user.locked_until = None
        user.failed_logins = 0
        audit.record(s, "user.unlock", principal=ctx.principal, resource_type="user", resource_id=user.id)
        return user_out(user)


# -- audit ------------------------------------------------------------------------------------


@router.get(
    "/audit",
    response_model=list[AuditOut],
    tags=["audit"],
    summary="Audit entries (newest first) of the users you may audit",
)
async def list_audit(
    ctx: CtxDep,
    actor: str | None = None,
    action: str | None = Query(None, examples=["customer.read"]),
    resource_type: str | None = None,
    resource_id: str | None = None,
    outcome: str | None = Query(None, examples=["denied"]),
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = Query(
        None, ge=1, le=MAX_ID, description="page backwards: entries older than this id"
    ),
    limit: int = Query(100, ge=1, le=1000),
) -> list[AuditOut]:
    await ctx.require_any(Perm.AUDIT_READ, "audit")
    scope: DataScope = data_scope(ctx.principal, Perm.AUDIT_READ)
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise Invalid("give a time zone, e.g. 2026-11-22T08:00:00+08:00", field=name)
    async with ctx.db() as s:
        rows = await audit.query(
            s,
            ctx.tenant_id,
            scope,
            actor=actor,
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            outcome=outcome,
            since=since,
            until=until,
            limit=limit,
            before_id=before_id,
        )
    return [
        AuditOut(
            id=r.id,
            at=r.at,
            actor=r.actor,
            actor_id=r.actor_id,
            ip=r.ip,
            action=r.action,
            resource_type=r.resource_type,
            resource_id=r.resource_id,
            outcome=r.outcome,
            detail=r.detail,
        )
        for r in rows
    ]
