"""Phone extensions (SIP accounts): storage service and the registrar's credential lookup.

The digest realm of an extension is its tenant's slug, and only HA1 values are stored
(MD5 and SHA-256), so the SIP password is never kept. A REGISTER or INVITE names a domain:
the tenant whose slug equals the domain, else — when the domain is an address or unknown —
the only tenant of the installation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.errors import Conflict, Invalid, NotFound
from hotline.sip.digest import compute_ha1
from hotline.store.lookup import get_in_tenant
from hotline.store.models import Extension, Tenant, Unit

NUMBER_RE = re.compile(r"^[0-9]{2,16}$")


@dataclass(frozen=True)
class SipCredentials:
    """What the registrar needs to challenge and verify one extension."""

    tenant_id: int
    realm: str  # the tenant slug
    extension_id: int
    number: str
    ha1_md5: str
    ha1_sha256: str
    enabled: bool
    user_id: int | None

    def ha1(self, algorithm: str) -> str | None:
        alg = algorithm.upper()
        if alg == "MD5":
            return self.ha1_md5
        if alg == "SHA-256":
            return self.ha1_sha256
        return None


def check_number(number: str) -> str:
    number = number.strip()
    if not NUMBER_RE.match(number):
        raise Invalid(f"extension number {number!r} must be 2-16 digits", field="number")
    return number


def check_sip_password(password: str, number: str) -> None:
    if len(password) < 8:
        raise Invalid("SIP password must be at least 8 characters", field="password")
    if len(password) > 128:
        raise Invalid("SIP password must be at most 128 characters", field="password")
    if number in password:
        raise Invalid("SIP password must not contain the extension number", field="password")
    if password.isdigit() and len(set(password)) < 4:
        raise Invalid("SIP password is too easy to guess", field="password")


def _hashes(number: str, realm: str, password: str) -> tuple[str, str]:
    return compute_ha1(number, realm, password, "MD5"), compute_ha1(number, realm, password, "SHA-256")


async def add_extension(
    s: AsyncSession,
    tenant: Tenant,
    number: str,
    password: str,
    *,
    unit: Unit,
    display_name: str = "",
    user_id: int | None = None,
) -> Extension:
    number = check_number(number)
    check_sip_password(password, number)
    if unit.tenant_id != tenant.id:
        raise NotFound(f"no unit {unit.id}", field="unit")
    exists = await s.scalar(
        select(Extension.id).where(Extension.tenant_id == tenant.id, Extension.number == number)
    )
    if exists is not None:
        raise Conflict(f"extension {number} already exists", field="number")
    md5, sha256 = _hashes(number, tenant.slug, password)
    ext = Extension(
        tenant_id=tenant.id,
        unit_id=unit.id,
        number=number,
        display_name=display_name.strip()[:200],
        ha1_md5=md5,
        ha1_sha256=sha256,
        user_id=user_id,
        enabled=True,
    )
    s.add(ext)
    await s.flush()
    return ext


async def set_extension_password(s: AsyncSession, tenant: Tenant, ext: Extension, password: str) -> None:
    check_sip_password(password, ext.number)
    ext.ha1_md5, ext.ha1_sha256 = _hashes(ext.number, tenant.slug, password)
    await s.flush()


async def get_extension(s: AsyncSession, tenant_id: int, key: int | str) -> Extension:
    return await get_in_tenant(s, Extension, tenant_id, key, Extension.number, "extension")


async def list_extensions(s: AsyncSession, tenant_id: int) -> Sequence[Extension]:
    return (
        await s.scalars(select(Extension).where(Extension.tenant_id == tenant_id).order_by(Extension.number))
    ).all()


async def tenant_for_domain(s: AsyncSession, domain: str) -> Tenant | None:
    """The tenant a SIP domain names: slug match, else the only tenant, else none."""
    tenant = await s.scalar(select(Tenant).where(Tenant.slug == domain.lower()))
    if tenant is not None:
        return tenant
    tenants = (await s.scalars(select(Tenant).limit(2))).all()
    return tenants[0] if len(tenants) == 1 else None


async def find_credentials(
    factory: async_sessionmaker[AsyncSession], domain: str, number: str
) -> SipCredentials | None:
    """Credentials of extension ``number`` in the tenant ``domain`` names (None if unknown)."""
    async with factory() as s:
        tenant = await tenant_for_domain(s, domain)
        if tenant is None:
            return None
        ext = await s.scalar(
            select(Extension).where(Extension.tenant_id == tenant.id, Extension.number == number)
        )
        if ext is None:
            return None
        return SipCredentials(
            tenant_id=tenant.id,
            realm=tenant.slug,
            extension_id=ext.id,
            number=ext.number,
            ha1_md5=ext.ha1_md5,
            ha1_sha256=ext.ha1_sha256,
            enabled=ext.enabled,
            user_id=ext.user_id,
        )
