"""Authentication: bearer tokens for API clients, and the caller's own identity."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from hotline import audit
from hotline.auth import sessions
from hotline.auth.passwords import verify_password
from hotline.auth.users import get_user, set_password
from hotline.errors import Invalid, Unauthorized
from hotline.store.db import transaction
from hotline.store.models import AuthSession, User
from hotline.web.api.schemas import GrantOut, Strict, UserOut
from hotline.web.context import CtxDep, StateDep, sign_in

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenIn(Strict):
    username: str = Field(min_length=1, max_length=64, examples=["admin"])
    password: str = Field(min_length=1, max_length=256, examples=["Demo-2026!pass"])
    tenant: str | None = Field(None, description="tenant slug; needed only when the user name is in several")


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_at: datetime


class PasswordChange(Strict):
    old_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=256)


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        email=user.email,
        phone=user.phone,
        unit_id=user.unit_id,
        active=user.active,
        locked_until=user.locked_until,
        last_login_at=user.last_login_at,
        roles=[GrantOut(role=g.role, scope=g.scope, unit_id=g.unit_id) for g in user.grants],
    )


@router.post(
    "/token",
    response_model=TokenOut,
    summary="Exchange a user name and password for a bearer token",
    responses={401: {"description": "Wrong user name or password"}, 423: {"description": "Account locked"}},
)
async def token(body: TokenIn, request: Request, state: StateDep) -> TokenOut:
    issued = await sign_in(
        request, state, tenant=body.tenant, username=body.username, password=body.password, kind="api"
    )
    return TokenOut(access_token=issued.token, expires_at=issued.expires_at)


@router.delete("/token", status_code=204, summary="Revoke the token used for this request")
async def revoke(ctx: CtxDep) -> None:
    async with transaction(ctx.db) as s:
        row = await s.get_one(AuthSession, ctx.session.id)
        await sessions.revoke(s, row)
        audit.record(
            s, "auth.logout", principal=ctx.principal, resource_type="user", resource_id=ctx.principal.user_id
        )


@router.get("/me", response_model=UserOut, summary="The authenticated user and their roles")
async def me(ctx: CtxDep) -> UserOut:
    async with ctx.db() as s:
        return user_out(await get_user(s, ctx.tenant_id, ctx.principal.user_id))


@router.put("/me/password", status_code=204, summary="Change your own password")
async def change_password(body: PasswordChange, ctx: CtxDep) -> None:
    async with transaction(ctx.db) as s:
        user = await get_user(s, ctx.tenant_id, ctx.principal.user_id)
        if not verify_password(user.password_hash, body.old_password):
            raise Unauthorized("old password is wrong")
        if body.old_password == body.new_password:
            raise Invalid("new password must differ from the old one", field="new_password")
        await set_password(
            s, user, body.new_password, min_length=ctx.state.settings.security.password_min_length
        )
        audit.record(s, "user.password", principal=ctx.principal, resource_type="user", resource_id=user.id)
