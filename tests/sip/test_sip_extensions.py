"""Extension storage and the registrar's credential lookup, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from hotline.errors import Conflict, Invalid
from hotline.org import service as org
from hotline.sip.digest import compute_ha1
from hotline.sip.extensions import add_extension, find_credentials, get_extension, set_extension_password
from hotline.store.db import transaction


async def test_credentials_lookup_by_domain(factory: Any) -> None:
    async with transaction(factory) as s:
        t = await org.add_tenant(s, "bank", "Bank")
        root = await org.add_unit(s, t.id, "hq", "HQ")
        ext = await add_extension(s, t, "1001", "Phone-pass-1", unit=root, display_name="Seat 1")
    assert ext.ha1_md5 == compute_ha1("1001", "bank", "Phone-pass-1", "MD5")
    # the only tenant answers for any domain (phones register to an address)
    for domain in ("bank", "127.0.0.1", "pbx.example"):
        creds = await find_credentials(factory, domain, "1001")
        assert creds is not None and creds.realm == "bank" and creds.ha1("SHA-256") == ext.ha1_sha256
    assert await find_credentials(factory, "bank", "1002") is None
    async with transaction(factory) as s:
        t2 = await org.add_tenant(s, "city", "City 12345")
        r2 = await org.add_unit(s, t2.id, "hq", "HQ")
        await add_extension(s, t2, "1001", "Other-pass-2", unit=r2)
    # with two tenants the domain must name one
    assert await find_credentials(factory, "127.0.0.1", "1001") is None
    creds = await find_credentials(factory, "city", "1001")
    assert creds is not None and creds.ha1("MD5") == compute_ha1("1001", "city", "Other-pass-2", "MD5")
    async with transaction(factory) as s:
        with pytest.raises(Conflict):
            await add_extension(s, t, "1001", "Phone-pass-1", unit=root)
    async with transaction(factory) as s:
        with pytest.raises(Invalid, match="at least 8"):
            await add_extension(s, t, "1003", "short", unit=root)
    async with transaction(factory) as s:
        await set_extension_password(s, t, await get_extension(s, t.id, "1001"), "New-phone-pass")
    creds = await find_credentials(factory, "bank", "1001")
    assert creds is not None and creds.ha1("MD5") == compute_ha1("1001", "bank", "New-phone-pass", "MD5")
