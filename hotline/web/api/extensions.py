"""Phone extensions (SIP accounts) that agents' phones register as."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import audit
from hotline.auth.policy import Perm, Resource, data_scope
from hotline.auth.users import get_user
from hotline.org import service as org
from hotline.sip import extensions as ext_service
from hotline.store.db import transaction
from hotline.store.lookup import unit_path
from hotline.store.models import Extension, Tenant, Unit
from hotline.web.api.org import scope_filter
from hotline.web.api.schemas import MAX_OFFSET, Page, Strict
from hotline.web.context import CtxDep

router = APIRouter(prefix="/api/v1/extensions", tags=["extensions"])


class ExtensionIn(Strict):
    number: str = Field(examples=["1001"])
    password: str = Field(
        examples=["Phone-secret-1"], description="SIP password; only digest hashes are kept"
    )
    unit: str | int = Field(examples=["js.nj"], description="unit code or id")
    display_name: str = Field("", examples=["南京 1 号席"])
    user_id: int | None = Field(None, description="the user who sits at this phone")


class ExtensionPatch(Strict):
    display_name: str | None = None
    enabled: bool | None = None
    user_id: int | None = None


class ExtensionPassword(Strict):
    password: str


class ExtensionOut(BaseModel):
    id: int
    number: str
    display_name: str
    unit_id: int
    user_id: int | None
    enabled: bool
    realm: str


async def _resource(s: AsyncSession, e: Extension) -> Resource:
    path = await unit_path(s, e.unit_id)
    return Resource("extension", e.tenant_id, path or "", e.user_id, str(e.id))


def _out(e: Extension, realm: str) -> ExtensionOut:
    return ExtensionOut(
        id=e.id,
        number=e.number,
        display_name=e.display_name,
        unit_id=e.unit_id,
        user_id=e.user_id,
        enabled=e.enabled,
        realm=realm,
    )


@router.get("", response_model=Page[ExtensionOut], summary="Extensions you may see")
async def list_extensions(
    ctx: CtxDep, limit: int = Query(200, ge=1, le=1000), offset: int = Query(0, ge=0, le=MAX_OFFSET)
) -> Page[ExtensionOut]:
    await ctx.require_any(Perm.EXTENSION_READ, "extension")
    q = select(Extension).join(Unit, Unit.id == Extension.unit_id).where(Extension.tenant_id == ctx.tenant_id)
    scoped = scope_filter(q, data_scope(ctx.principal, Perm.EXTENSION_READ), Unit.path, Extension.user_id)
    if scoped is None:
        return Page(items=[], limit=limit, offset=offset)
    async with ctx.db() as s:
        realm = (await s.get_one(Tenant, ctx.tenant_id)).slug
        rows = (await s.scalars(scoped.order_by(Extension.number).limit(limit).offset(offset))).all()
        return Page(items=[_out(e, realm) for e in rows], limit=limit, offset=offset)


@router.post("", response_model=ExtensionOut, status_code=201, summary="Create an extension")
async def create_extension(body: ExtensionIn, ctx: CtxDep) -> ExtensionOut:
    async with transaction(ctx.db) as s:
        unit = await org.get_unit(s, ctx.tenant_id, body.unit)
        await ctx.authorize(
            Perm.EXTENSION_WRITE, Resource("extension", ctx.tenant_id, unit.path, body.user_id)
        )
        if body.user_id is not None:
            await get_user(s, ctx.tenant_id, body.user_id)
        tenant = await s.get_one(Tenant, ctx.tenant_id)
        e = await ext_service.add_extension(
            s,
            tenant,
            body.number,
            body.password,
            unit=unit,
            display_name=body.display_name,
            user_id=body.user_id,
        )
        audit.record(
            s,
            "extension.create",
            principal=ctx.principal,
            resource_type="extension",
            resource_id=e.id,
            detail={"number": e.number},
        )
        return _out(e, tenant.slug)


@router.get("/{extension_id}", response_model=ExtensionOut, summary="One extension")
async def get_extension(extension_id: int, ctx: CtxDep) -> ExtensionOut:
    async with ctx.db() as s:
        e = await ext_service.get_extension(s, ctx.tenant_id, extension_id)
        await ctx.authorize(Perm.EXTENSION_READ, await _resource(s, e))
        return _out(e, (await s.get_one(Tenant, ctx.tenant_id)).slug)


@router.patch("/{extension_id}", response_model=ExtensionOut, summary="Rename, enable/disable or reassign")
async def patch_extension(extension_id: int, body: ExtensionPatch, ctx: CtxDep) -> ExtensionOut:
    async with transaction(ctx.db) as s:
        e = await ext_service.get_extension(s, ctx.tenant_id, extension_id)
        await ctx.authorize(Perm.EXTENSION_WRITE, await _resource(s, e))
        changes = body.model_dump(exclude_unset=True)
        if changes.get("user_id") is not None:
            await get_user(s, ctx.tenant_id, changes["user_id"])
        if "display_name" in changes:
            changes["display_name"] = (changes["display_name"] or "").strip()[:200]
        if changes.get("enabled") is None:
            changes.pop("enabled", None)
        for k, v in changes.items():
            setattr(e, k, v)
        audit.record(
            s,
            "extension.update",
            principal=ctx.principal,
            resource_type="extension",
            resource_id=e.id,
            detail={"fields": sorted(changes)},
        )
        return _out(e, (await s.get_one(Tenant, ctx.tenant_id)).slug)


@router.post("/{extension_id}/password", status_code=204, summary="Set an extension's SIP password")
async def set_password(extension_id: int, body: ExtensionPassword, ctx: CtxDep) -> None:
    async with transaction(ctx.db) as s:
        e = await ext_service.get_extension(s, ctx.tenant_id, extension_id)
        await ctx.authorize(Perm.EXTENSION_WRITE, await _resource(s, e))
        await ext_service.set_extension_password(s, await s.get_one(Tenant, ctx.tenant_id), e, body.password)
        audit.record(
            s, "extension.password", principal=ctx.principal, resource_type="extension", resource_id=e.id
        )
