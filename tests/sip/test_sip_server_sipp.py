"""The SIP server against real SIP software: SIPp scenarios over loopback (tests/sip/scenarios)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hotline.sip.message import Response
from hotline.sip.protection import ProtectionSettings
from hotline.sip.server import SipServer, SipSettings
from tests.sip.scenarios.harness import (
    PASSWORD,
    Db,
    UdpPhone,
    auth_row,
    free_port,
    make_db,
    raw_request,
    run_sipp,
    running_server,
    sipp_binary,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _need_sipp() -> None:
    sipp_binary()


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Db]:
    d = await make_db(sqlite_url)
    yield d
    await d.engine.dispose()


@pytest.fixture
async def server(db: Db) -> AsyncIterator[SipServer]:
    settings = SipSettings(
        min_expires=30,
        max_expires=600,
        protection=ProtectionSettings(auth_fail_per_user=3, auth_fail_window=60, lockout_seconds=60),
    )
    async with running_server(db, settings) as srv:
        yield srv


async def test_register_md5_digest(server: SipServer, db: Db, tmp_path: Path) -> None:
    r = await run_sipp("register.xml", server, tmp_path, rows=[auth_row("1001", expires=120)])
    assert r.returncode == 0, r.explain()
    contacts = server.lookup(db.tenant_id, "1001")
    assert len(contacts) == 1
    c = contacts[0]
    assert c.uri.startswith("sip:1001@127.0.0.1:")
    assert c.transport == "UDP" and c.source_host == "127.0.0.1"
    assert c.user_agent == "SIPp"
    assert 118 <= c.expires_in(server.now) <= 120  # the Expires header is honoured
    stats = server.stats()
    assert stats["registrations"] == 1 and stats["responses_sent"] == {"200": 1, "401": 1}
    assert server.lookup(db.tenant_id, "1002") == []


async def test_register_expires_clamped_to_max(server: SipServer, db: Db, tmp_path: Path) -> None:
    r = await run_sipp("register.xml", server, tmp_path, rows=[auth_row("1002", expires=7200)])
    assert r.returncode == 0, r.explain()
    (c,) = server.lookup(db.tenant_id, "1002")
    assert 598 <= c.expires_in(server.now) <= 600


async def test_unregister_expires_zero_and_star(server: SipServer, db: Db, tmp_path: Path) -> None:
    port = free_port()  # the same SIPp port, so the same contact URI, in every run
    r = await run_sipp("register.xml", server, tmp_path, rows=[auth_row("1001")], local_port=port)
    assert r.returncode == 0, r.explain()
    assert len(server.lookup(db.tenant_id, "1001")) == 1
    # a new Call-ID (new SIPp run) with Expires: 0 removes the binding; the 200 lists no Contact
    r = await run_sipp(
        "unregister.xml", server, tmp_path, rows=[auth_row("1001", expires=0)], local_port=port
    )
    assert r.returncode == 0, r.explain()
    assert server.lookup(db.tenant_id, "1001") == []
    # Contact: * with Expires: 0 removes every binding of the AoR
    r = await run_sipp("register.xml", server, tmp_path, rows=[auth_row("1001")], local_port=port)
    assert r.returncode == 0, r.explain()
    r = await run_sipp("register.xml", server, tmp_path, rows=[auth_row("1001")])
    assert r.returncode == 0, r.explain()
    assert len(server.lookup(db.tenant_id, "1001")) == 2
    r = await run_sipp("unregister_star.xml", server, tmp_path, rows=[auth_row("1001")])
    assert r.returncode == 0, r.explain()
    assert server.lookup(db.tenant_id, "1001") == []
    assert server.stats()["unregistrations"] == 2


async def test_wrong_password_then_lockout(server: SipServer, db: Db, tmp_path: Path) -> None:
    wrong = auth_row("1003", "Wrong-Password-1")
    r = await run_sipp("register_rejected.xml", server, tmp_path, rows=[wrong], calls=2)
    assert r.returncode == 0, r.explain()
    assert server.stats()["auth_failures"] == 2
    # the third failure within the window (auth_fail_per_user=3) is answered 403 ...
    r = await run_sipp("register_locked.xml", server, tmp_path, rows=[wrong])
    assert r.returncode == 0, r.explain()
    # ... and from then on even the right password gets 403 straight away
    r = await run_sipp("register_forbidden.xml", server, tmp_path, rows=[auth_row("1003")])
    assert r.returncode == 0, r.explain()
    assert server.lookup(db.tenant_id, "1003") == []
    # other users from the same address are not locked (per-IP threshold is higher)
    r = await run_sipp("register.xml", server, tmp_path, rows=[auth_row("1001")])
    assert r.returncode == 0, r.explain()
    assert server.stats()["auth_lockouts"] == 1


async def test_unknown_user_gets_the_same_401(server: SipServer, db: Db, tmp_path: Path) -> None:
    r = await run_sipp("register_rejected.xml", server, tmp_path, rows=[auth_row("4242", PASSWORD)])
    assert r.returncode == 0, r.explain()
    assert server.stats()["auth_failures"] == 1


async def test_options_200(server: SipServer, tmp_path: Path) -> None:
    r = await run_sipp("options.xml", server, tmp_path, rows=["x"], calls=3)
    assert r.returncode == 0, r.explain()
    assert server.stats()["responses_sent"] == {"200": 3}


async def test_unknown_method_501(server: SipServer, tmp_path: Path) -> None:
    r = await run_sipp("unknown_method.xml", server, tmp_path, rows=["x"])
    assert r.returncode == 0, r.explain()
    assert server.stats()["responses_sent"] == {"501": 1}


async def test_register_over_tcp(server: SipServer, db: Db, tmp_path: Path) -> None:
    r = await run_sipp("register.xml", server, tmp_path, rows=[auth_row("1002")], transport="t1")
    assert r.returncode == 0, r.explain()
    (c,) = server.registrar.lookup(db.tenant_id, "1002", server.now)
    assert c.transport == "TCP" and "transport=TCP" in c.uri
    await asyncio.sleep(0.05)
    # SIPp has exited: the flow is closed, so the contact is no longer offered to calls
    assert server.lookup(db.tenant_id, "1002") == []


async def test_malformed_then_sipp_still_served(server: SipServer, db: Db, tmp_path: Path) -> None:
    assert server.udp_address is not None
    async with UdpPhone(server.udp_address) as phone:
        phone.send(b"\x00\xff garbage \r\n\r\n")
        phone.send(raw_request(port=phone.port, cseq_method="INVITE"))
        msg = await phone.recv_message()
        assert isinstance(msg, Response) and msg.status == 400
        assert msg.reason == "CSeq method does not match Request-Line method"
    r = await run_sipp("register.xml", server, tmp_path, rows=[auth_row("1001")])
    assert r.returncode == 0, r.explain()
    assert server.stats()["dropped"].get("unparsable") == 1


async def test_rate_limit_under_flood(db: Db, tmp_path: Path) -> None:
    settings = SipSettings(protection=ProtectionSettings(unauth_rate=20, unauth_burst=40))
    async with running_server(db, settings) as server:
        r = await run_sipp(
            "options.xml",
            server,
            tmp_path,
            rows=["x"],
            calls=400,
            rate=1000,
            extra=["-nr", "-recv_timeout", "1000"],
            duration=15,
        )
        assert r.returncode == 1, r.explain()  # some calls failed: their OPTIONS were dropped
        stats = server.stats()
        answered = stats["responses_sent"].get("200", 0)
        assert stats["rate_limited"] >= 200 and stats["rate_limited"] + answered == 400
        assert 40 <= answered <= 40 + 20 * (r.elapsed + 1)
        assert stats["dropped"]["rate_limited"] == stats["rate_limited"]
