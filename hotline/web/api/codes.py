"""Disposition codes and not-ready reasons: the administrators' write API (reading the active
ones for agents is ``GET /api/v1/codes`` in :mod:`hotline.web.api.agents`)."""

from __future__ import annotations

import re

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from hotline import audit
from hotline.auth.policy import TENANT_PATH, Perm, Resource
from hotline.errors import Invalid
from hotline.store.db import transaction
from hotline.store.models import ServiceCode
from hotline.web.api.schemas import Strict
from hotline.web.context import CtxDep

router = APIRouter(prefix="/api/v1/codes", tags=["agents and queues"])

KINDS = ("disposition", "not_ready")
CODE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


class CodeIn(Strict):
    label_zh: str = Field(min_length=1, max_length=200, examples=["已解决"])
    label_en: str = Field(min_length=1, max_length=200, examples=["Resolved"])
    active: bool = Field(True, description="inactive codes stay on old calls but cannot be chosen")


class CodeAdminOut(BaseModel):
    kind: str
    code: str
    label_zh: str
    label_en: str
    active: bool


def _out(r: ServiceCode) -> CodeAdminOut:
    return CodeAdminOut(kind=r.kind, code=r.code, label_zh=r.label_zh, label_en=r.label_en, active=r.active)


@router.get(
    "/all",
    response_model=list[CodeAdminOut],
    summary="Every disposition code and not-ready reason, inactive ones too",
)
async def all_codes(ctx: CtxDep) -> list[CodeAdminOut]:
    async with ctx.db() as s:
        rows = (
            await s.scalars(
                select(ServiceCode)
                .where(ServiceCode.tenant_id == ctx.tenant_id)
                .order_by(ServiceCode.kind, ServiceCode.id)
            )
        ).all()
    return [_out(r) for r in rows]


@router.put(
    "/{kind}/{code}",
    response_model=CodeAdminOut,
    summary="Create or change a disposition code or not-ready reason",
    description="`kind` is `disposition` (wrap-up) or `not_ready` (reasons); deactivate a code with "
    "`active: false` (codes are never deleted: old calls keep naming them). Needs queue.write at "
    "tenant scope.",
)
async def put_code(kind: str, code: str, body: CodeIn, ctx: CtxDep) -> CodeAdminOut:
    await ctx.authorize(
        Perm.QUEUE_WRITE, Resource("service_code", ctx.tenant_id, TENANT_PATH, id=f"{kind}/{code}")
    )
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if not CODE.match(code):
        raise Invalid("codes: lower-case letters, digits, '.', '_' and '-' (at most 64)", field="code")
    async with transaction(ctx.db) as s:
        row = await s.scalar(
            select(ServiceCode).where(
                ServiceCode.tenant_id == ctx.tenant_id, ServiceCode.kind == kind, ServiceCode.code == code
            )
        )
        created = row is None
        if row is None:
            row = ServiceCode(tenant_id=ctx.tenant_id, kind=kind, code=code)
            s.add(row)
        row.label_zh = body.label_zh
        row.label_en = body.label_en
        row.active = body.active
        audit.record(
            s,
            "code.create" if created else "code.update",
            principal=ctx.principal,
            resource_type="service_code",
            resource_id=f"{kind}/{code}",
            detail={"label_zh": body.label_zh, "label_en": body.label_en, "active": body.active},
        )
        await s.flush()
        return _out(row)
