"""Registrar against the extensions table (SQLite and PostgreSQL), through the real UDP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.sip.digest import DigestClient, parse_challenge
from hotline.sip.message import Response
from hotline.sip.server import SipServer, SipSettings
from tests.sip.scenarios.harness import LOOPBACK, PASSWORD, Db, UdpPhone, running_server, seed_extensions

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def db(engine: AsyncEngine, factory: Any) -> Db:
    tenant_id = await seed_extensions(factory)
    return Db(engine, factory, tenant_id)


@pytest.fixture
async def server(db: Db) -> AsyncIterator[SipServer]:
    settings = SipSettings(min_expires=60, max_expires=3600, keepalive_interval=0, credentials_cache_ttl=0)
    async with running_server(db, settings) as srv:
        yield srv


def _challenges(resp: Response) -> list[tuple[str, str, bool]]:
    out = []
    for value in resp.headers.get_all("WWW-Authenticate"):
        ch = parse_challenge(value)
        out.append((ch.realm, ch.algorithm, ch.stale))
    return out


async def test_register_sha256_and_md5(server: SipServer, db: Db) -> None:
    assert server.udp_address is not None
    async with UdpPhone(server.udp_address) as phone, UdpPhone(server.udp_address) as phone2:
        first = await phone.transact(phone.register_request("1001"))
        assert first is not None and first.status == 401
        assert _challenges(first) == [("demo", "MD5", False), ("demo", "SHA-256", False)]
        resp = await phone.register("1001", algorithm="SHA-256", expires=300)
        assert resp is not None and resp.status == 200
        assert resp.headers.get_all("Contact") == [f"<sip:1001@{LOOPBACK}:{phone.port}>;expires=300"]
        resp = await phone2.register("1001", algorithm="MD5", expires=600)
        assert resp is not None and resp.status == 200
        # the 200 lists every current contact of the AoR
        assert sorted(resp.headers.get_all("Contact")) == sorted(
            [
                f"<sip:1001@{LOOPBACK}:{phone.port}>;expires=300",
                f"<sip:1001@{LOOPBACK}:{phone2.port}>;expires=600",
            ]
        )
        contacts = server.lookup(db.tenant_id, "1001")
        assert {c.destination for c in contacts} == {(LOOPBACK, phone.port), (LOOPBACK, phone2.port)}
        # the domain may be an address: a single-tenant installation maps it to its tenant
        resp = await phone.register("1002", domain=LOOPBACK)
        assert resp is not None and resp.status == 200
        assert len(server.lookup(db.tenant_id, "1002")) == 1


async def test_no_user_enumeration(server: SipServer) -> None:
    assert server.udp_address is not None
    async with UdpPhone(server.udp_address) as phone:
        known = await phone.transact(phone.register_request("1001"))
        unknown = await phone.transact(phone.register_request("7777"))
        assert known is not None and unknown is not None
        assert (known.status, _challenges(known)) == (unknown.status, _challenges(unknown))
        wrong = await phone.register("1001", "Not-The-Password")
        nobody = await phone.register("7777", PASSWORD)
        assert wrong is not None and nobody is not None
        assert (wrong.status, wrong.reason) == (nobody.status, nobody.reason) == (401, "Unauthorized")
        assert _challenges(wrong) == _challenges(nobody)
    assert server.stats()["auth_failures"] == 2


async def test_disabled_extension_gets_403_only_with_the_right_password(server: SipServer, db: Db) -> None:
    await db.set_enabled("1003", False)
    assert server.udp_address is not None
    async with UdpPhone(server.udp_address) as phone:
        wrong = await phone.register("1003", "Not-The-Password")
        assert wrong is not None and wrong.status == 401
        resp = await phone.register("1003")
        assert resp is not None and (resp.status, resp.reason) == (403, "Extension Disabled")
    assert server.lookup(db.tenant_id, "1003") == []


async def test_interval_too_brief(server: SipServer) -> None:
    assert server.udp_address is not None
    async with UdpPhone(server.udp_address) as phone:
        resp = await phone.register("1001", expires=10)
        assert resp is not None and resp.status == 423
        assert resp.headers.get("Min-Expires") == "60"


async def test_stale_nonce_is_rechallenged(db: Db) -> None:
    settings = SipSettings(keepalive_interval=0, nonce_ttl=0.2)
    async with running_server(db, settings) as server, UdpPhone(server.udp_address or ("", 0)) as phone:
        first = await phone.transact(phone.register_request("1001"))
        assert first is not None
        await asyncio.sleep(0.5)
        req = phone.register_request("1001")
        challenge = first.headers.get_all("WWW-Authenticate")[0]
        req.headers.add(
            "Authorization",
            DigestClient("1001", PASSWORD).authorize(challenge, method="REGISTER", uri=str(req.uri)),
        )
        resp = await phone.transact(req)
        assert resp is not None and resp.status == 401
        assert all(stale for _r, _a, stale in _challenges(resp))
        assert server.stats()["auth_failures"] == 0  # a stale nonce is not a failed login
