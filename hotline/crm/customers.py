"""Customer archive (the CRM issue extends this; the foundation needs it for access and audit)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from hotline.errors import Conflict, Invalid, NotFound
from hotline.org.service import check_name
from hotline.store.models import Customer, Unit
from hotline.store.types import valid_id

ACCOUNT_RE = re.compile(r"^[0-9A-Za-z-]{4,32}$")
CUSTOMER_CLASSES = ("urban_resident", "rural_resident", "commercial", "large_industry", "agriculture")


def check_account_no(value: str) -> str:
    value = value.strip()
    if not ACCOUNT_RE.match(value):
        raise Invalid(f"account number {value!r} must be 4-32 letters, digits or '-'", field="account_no")
    return value


def check_class(value: str) -> str:
    if value not in CUSTOMER_CLASSES:
        raise Invalid(
            f"unknown customer class {value!r}; classes are: {', '.join(CUSTOMER_CLASSES)}",
            field="customer_class",
        )
    return value


async def add_customer(
    s: AsyncSession,
    tenant_id: int,
    *,
    unit: Unit,
    account_no: str,
    name: str,
    customer_class: str = "urban_resident",
    phone: str = "",
    address: str = "",
    dedicated_agent_id: int | None = None,
) -> Customer:
    account_no = check_account_no(account_no)
    name = check_name(name)
    check_class(customer_class)
    if unit.tenant_id != tenant_id:
        raise NotFound(f"no unit {unit.id}", field="unit")
    exists = await s.scalar(
        select(Customer.id).where(Customer.tenant_id == tenant_id, Customer.account_no == account_no)
    )
    if exists is not None:
        raise Conflict(f"customer account {account_no!r} already exists", field="account_no")
    c = Customer(
        tenant_id=tenant_id,
        unit_id=unit.id,
        account_no=account_no,
        name=name,
        customer_class=customer_class,
        phone=phone.strip()[:40],
        address=address.strip(),
        dedicated_agent_id=dedicated_agent_id,
    )
    s.add(c)
    await s.flush()
    return c


async def get_customer(s: AsyncSession, tenant_id: int, customer_id: int) -> Customer:
    if not valid_id(customer_id):
        raise NotFound(f"no customer {customer_id}", field="customer")
    c = await s.scalar(select(Customer).where(Customer.tenant_id == tenant_id, Customer.id == customer_id))
    if c is None:
        raise NotFound(f"no customer {customer_id}", field="customer")
    return c
