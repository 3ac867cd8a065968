"""Customer records. Every read is written to the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline import audit
from hotline.auth.policy import Perm, Resource, data_scope
from hotline.crm import customers as crm
from hotline.org import service as org
from hotline.store.db import transaction
from hotline.store.lookup import unit_path
from hotline.store.models import Customer, Unit
from hotline.web.api.org import scope_filter
from hotline.web.api.schemas import MAX_OFFSET, Page, Strict
from hotline.web.context import CtxDep

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


class CustomerIn(Strict):
    account_no: str = Field(examples=["3201001234"])
    name: str = Field(examples=["王芳"])
    unit: str | int = Field(examples=["js.nj.jn"], description="supply unit code or id")
    customer_class: str = Field("urban_resident", examples=["urban_resident"])
    phone: str = Field("", examples=["13912345678"])
    address: str = ""
    dedicated_agent_id: int | None = None


class CustomerPatch(Strict):
    name: str | None = None
    phone: str | None = None
    address: str | None = None
    customer_class: str | None = None


class CustomerOut(BaseModel):
    id: int
    account_no: str
    name: str
    unit_id: int
    customer_class: str
    phone: str
    address: str
    dedicated_agent_id: int | None


def customer_out(c: Customer) -> CustomerOut:
    return CustomerOut(
        id=c.id,
        account_no=c.account_no,
        name=c.name,
        unit_id=c.unit_id,
        customer_class=c.customer_class,
        phone=c.phone,
        address=c.address,
        dedicated_agent_id=c.dedicated_agent_id,
    )


async def customer_resource(s: AsyncSession, c: Customer) -> Resource:
    path = await unit_path(s, c.unit_id)
    return Resource("customer", c.tenant_id, path or "", c.dedicated_agent_id, str(c.id))


@router.get("", response_model=Page[CustomerOut], summary="Search customers you may see (audited)")
async def search(
    ctx: CtxDep,
    phone: str | None = Query(None, examples=["13912345678"]),
    account_no: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> Page[CustomerOut]:
    await ctx.require_any(Perm.CUSTOMER_READ, "customer")
    q = select(Customer).join(Unit, Unit.id == Customer.unit_id).where(Customer.tenant_id == ctx.tenant_id)
    if phone:
        q = q.where(Customer.phone == phone)
    if account_no:
        q = q.where(Customer.account_no == account_no)
    scoped = scope_filter(
        q, data_scope(ctx.principal, Perm.CUSTOMER_READ), Unit.path, Customer.dedicated_agent_id
    )
    async with transaction(ctx.db) as s:
        rows = (
            []
            if scoped is None
            else (await s.scalars(scoped.order_by(Customer.id).limit(limit).offset(offset))).all()
        )
        audit.record(
            s,
            "customer.search",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=",".join(str(c.id) for c in rows[:10]),
            detail={
                "phone": phone,
                "account_no": account_no,
                "returned": len(rows),
                "ids": [c.id for c in rows],
            },
        )
    return Page(items=[customer_out(c) for c in rows], limit=limit, offset=offset)


@router.post("", response_model=CustomerOut, status_code=201, summary="Create a customer record")
async def create(body: CustomerIn, ctx: CtxDep) -> CustomerOut:
    async with transaction(ctx.db) as s:
        unit = await org.get_unit(s, ctx.tenant_id, body.unit)
        await ctx.authorize(
            Perm.CUSTOMER_WRITE, Resource("customer", ctx.tenant_id, unit.path, body.dedicated_agent_id)
        )
        if body.dedicated_agent_id is not None:
            from hotline.auth.users import get_user

            await get_user(s, ctx.tenant_id, body.dedicated_agent_id)
        c = await crm.add_customer(
            s,
            ctx.tenant_id,
            unit=unit,
            account_no=body.account_no,
            name=body.name,
            customer_class=body.customer_class,
            phone=body.phone,
            address=body.address,
            dedicated_agent_id=body.dedicated_agent_id,
        )
        audit.record(
            s, "customer.create", principal=ctx.principal, resource_type="customer", resource_id=c.id
        )
        return customer_out(c)


@router.get("/{customer_id}", response_model=CustomerOut, summary="One customer record (audited)")
async def read(customer_id: int, ctx: CtxDep) -> CustomerOut:
    async with transaction(ctx.db) as s:
        c = await crm.get_customer(s, ctx.tenant_id, customer_id)
        await ctx.authorize(Perm.CUSTOMER_READ, await customer_resource(s, c))
        audit.record(s, "customer.read", principal=ctx.principal, resource_type="customer", resource_id=c.id)
        return customer_out(c)


@router.patch("/{customer_id}", response_model=CustomerOut, summary="Change a customer record")
async def patch(customer_id: int, body: CustomerPatch, ctx: CtxDep) -> CustomerOut:
    async with transaction(ctx.db) as s:
        c = await crm.get_customer(s, ctx.tenant_id, customer_id)
        await ctx.authorize(Perm.CUSTOMER_WRITE, await customer_resource(s, c))
        changes = body.model_dump(exclude_none=True)
        if "name" in changes:
            changes["name"] = org.check_name(changes["name"])
        if "customer_class" in changes:
            crm.check_class(changes["customer_class"])
        for k, v in changes.items():
            setattr(c, k, v)
        audit.record(
            s,
            "customer.update",
            principal=ctx.principal,
            resource_type="customer",
            resource_id=c.id,
            detail={"fields": sorted(changes)},
        )
        return customer_out(c)
