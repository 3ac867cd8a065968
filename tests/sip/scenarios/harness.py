"""Test harness for the SIP server: a database with extensions, SIPp runs, a tiny Python UA.

Everything binds to 127.0.0.1 only.  SIPp is required in CI (``CI`` set); elsewhere the
SIPp tests are skipped loudly when the ``sipp`` binary is missing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from hotline.org.service import add_tenant, add_unit
from hotline.sip.digest import DigestClient, parse_challenge
from hotline.sip.errors import SipParseError
from hotline.sip.extensions import add_extension
from hotline.sip.headers import NameAddr
from hotline.sip.helpers import generate_call_id, generate_tag
from hotline.sip.message import Request, Response, make_request, make_response, parse_message
from hotline.sip.server import SipServer, SipSettings
from hotline.sip.uri import SipURI
from hotline.store import migrate
from hotline.store.db import create_engine, session_factory, transaction
from hotline.store.models import Extension

SCENARIOS = Path(__file__).parent
PASSWORD = "Sip-Demo-2026"
TENANT = "demo"
LOOPBACK = "127.0.0.1"


# ------------------------------------------------------------------ sipp
def sipp_binary() -> str:
    """The sipp executable, or skip (fail in CI) when it is not installed."""
    path = shutil.which("sipp")
    if path is None:
        msg = "SIPp ('sipp', Debian package sip-tester) is not installed: SIP server tests against SIPp"
        if os.environ.get("CI"):
            pytest.fail(msg + " are required in CI")
        warnings.warn(msg + " are SKIPPED (apt-get install sip-tester)", stacklevel=2)
        pytest.skip("!!! " + msg + " SKIPPED — apt-get install sip-tester !!!")
    return path


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((LOOPBACK, 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((LOOPBACK, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port")


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str
    errors: str
    elapsed: float

    def explain(self) -> str:
        return f"sipp rc={self.returncode}\nstderr:\n{self.stderr[-3000:]}\nerrors:\n{self.errors[-3000:]}"


async def run_sipp(
    scenario: str,
    server: SipServer,
    workdir: Path,
    *,
    rows: list[str],
    calls: int = 1,
    transport: str = "u1",
    rate: float | None = None,
    extra: list[str] | None = None,
    duration: float = 20.0,
    local_port: int | None = None,
) -> SippResult:
    """Run SIPp (bounded in time) against ``server`` on loopback; returns its exit code and logs."""
    binary = sipp_binary()
    addr = server.tcp_address if transport.startswith("t") else server.udp_address
    assert addr is not None
    inf = workdir / f"inf_{time.monotonic_ns()}.csv"
    inf.write_text("SEQUENTIAL\n" + "\n".join(rows) + "\n")
    err_file = workdir / f"sipp_err_{time.monotonic_ns()}.log"
    args = [
        binary, f"{LOOPBACK}:{addr[1]}",
        "-sf", str(SCENARIOS / scenario),
        "-inf", str(inf),
        "-m", str(calls),
        "-t", transport,
        "-i", LOOPBACK, "-bind_local",
        "-p", str(local_port or free_port()),
        "-timeout", f"{int(duration)}s", "-timeout_error",
        "-trace_err", "-error_file", str(err_file),
        "-nostdin", "-nd",
    ]  # fmt: skip
    if rate is not None:
        args += ["-r", str(rate)]
    args += extra or []
    start = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        *args, cwd=workdir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), duration + 15)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
    errors = err_file.read_text(errors="replace") if err_file.exists() else ""
    return SippResult(
        proc.returncode if proc.returncode is not None else -1,
        out.decode(errors="replace"),
        err.decode(errors="replace"),
        errors,
        time.monotonic() - start,
    )


def auth_row(number: str, password: str = PASSWORD, *, expires: int = 120, domain: str = TENANT) -> str:
    return f"{number};{domain};[authentication username={number} password={password}];{expires}"


# ------------------------------------------------------------------ database
@dataclass
class Db:
    engine: AsyncEngine
    factory: async_sessionmaker[AsyncSession]
    tenant_id: int

    async def set_enabled(self, number: str, enabled: bool) -> None:
        async with transaction(self.factory) as s:
            await s.execute(update(Extension).where(Extension.number == number).values(enabled=enabled))


async def make_db(url: str, numbers: tuple[str, ...] = ("1001", "1002", "1003")) -> Db:
    """A migrated database with tenant ``demo`` and extensions (password :data:`PASSWORD`)."""
    engine = create_engine(url)
    await migrate.upgrade(engine)
    factory = session_factory(engine)
    return Db(engine, factory, await seed_extensions(factory, numbers))


async def seed_extensions(
    factory: async_sessionmaker[AsyncSession], numbers: tuple[str, ...] = ("1001", "1002", "1003")
) -> int:
    """Tenant ``demo`` with one unit and ``numbers`` as extensions; returns the tenant id."""
    async with transaction(factory) as s:
        tenant = await add_tenant(s, TENANT, "Demo")
        unit = await add_unit(s, tenant.id, "hq", "Head office")
        for number in numbers:
            await add_extension(s, tenant, number, PASSWORD, unit=unit)
        return tenant.id


@asynccontextmanager
async def running_server(db: Db, settings: SipSettings | None = None) -> AsyncIterator[SipServer]:
    server = SipServer(LOOPBACK, 0, db.factory, settings or SipSettings())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# ------------------------------------------------------------------ a tiny Python UA
class _Proto(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)


class UdpPhone:
    """A Python UDP endpoint speaking just enough SIP for the tests."""

    def __init__(self, server_addr: tuple[str, int]) -> None:
        self.server_addr = server_addr
        self.transport: asyncio.DatagramTransport | None = None
        self.proto = _Proto()
        self.port = 0
        self.call_id = generate_call_id(LOOPBACK)
        self.cseq = 0
        self.from_tag = generate_tag()

    async def __aenter__(self) -> UdpPhone:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self.proto, local_addr=(LOOPBACK, 0))
        self.transport = transport
        self.port = int(transport.get_extra_info("sockname")[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.transport is not None:
            self.transport.close()

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(data, self.server_addr)

    async def recv(self, wait: float = 2.0) -> bytes | None:
        try:
            return await asyncio.wait_for(self.proto.queue.get(), wait)
        except TimeoutError:
            return None

    async def recv_message(self, wait: float = 2.0) -> Request | Response | None:
        """The next parsable message (unparsable ones, e.g. echoes of torture tests, are skipped)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            data = await self.recv(max(0.0, deadline - loop.time()))
            if data is None:
                return None
            try:
                return parse_message(data)
            except SipParseError:
                continue

    def register_request(
        self, number: str, *, expires: int | None = 120, contact: str | None = None, domain: str = TENANT
    ) -> Request:
        self.cseq += 1
        aor = SipURI(host=domain, user=number)
        req = make_request(
            "REGISTER",
            f"sip:{self.server_addr[0]}:{self.server_addr[1]}",
            from_addr=NameAddr(aor, None, {"tag": self.from_tag}),
            to_addr=NameAddr(aor.copy()),
            call_id=self.call_id,
            cseq=self.cseq,
            via_host=LOOPBACK,
            via_port=self.port,
            contact=contact if contact is not None else f"<sip:{number}@{LOOPBACK}:{self.port}>",
            extra_headers=[("Expires", str(expires))] if expires is not None else [],
        )
        return req

    async def transact(self, req: Request, wait: float = 2.0) -> Response | None:
        self.send(req.to_bytes())
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            left = deadline - asyncio.get_running_loop().time()
            msg = await self.recv_message(max(0.01, left))
            if msg is None:
                return None
            if (
                isinstance(msg, Response)
                and msg.final
                and msg.headers.get("Call-ID") == req.call_id
                and msg.headers.get("CSeq") == str(req.cseq)
            ):
                return msg

    async def register(
        self,
        number: str,
        password: str = PASSWORD,
        *,
        expires: int | None = 120,
        algorithm: str = "MD5",
        contact: str | None = None,
        domain: str = TENANT,
    ) -> Response | None:
        """REGISTER, answer the 401 with digest; returns the final response."""
        first = await self.transact(
            self.register_request(number, expires=expires, contact=contact, domain=domain)
        )
        if first is None or first.status != 401:
            return first
        challenge = next(
            v for v in first.headers.get_all("WWW-Authenticate") if parse_challenge(v).algorithm == algorithm
        )
        req = self.register_request(number, expires=expires, contact=contact, domain=domain)
        auth = DigestClient(number, password).authorize(challenge, method="REGISTER", uri=str(req.uri))
        req.headers.add("Authorization", auth)
        return await self.transact(req)

    def answer(self, request: Request, status: int = 200) -> None:
        self.send(make_response(request, status).to_bytes())


def raw_request(
    method: str = "OPTIONS",
    *,
    port: int = 5060,
    headers: list[str] | None = None,
    body: str = "",
    content_length: int | None = None,
    uri: str = "sip:demo",
    version: str = "SIP/2.0",
    cseq_method: str | None = None,
) -> bytes:
    """A hand-written request (for malformed-message tests); ``headers`` replace the defaults."""
    base = [
        f"Via: SIP/2.0/UDP {LOOPBACK}:{port};branch=z9hG4bK{time.monotonic_ns()};rport",
        "Max-Forwards: 70",
        "From: <sip:tester@demo>;tag=abc123",
        "To: <sip:demo>",
        f"Call-ID: raw-{time.monotonic_ns()}@{LOOPBACK}",
        f"CSeq: 1 {cseq_method or method}",
    ]
    lines = [f"{method} {uri} {version}", *(headers if headers is not None else base)]
    cl = len(body.encode()) if content_length is None else content_length
    if content_length != -1:
        lines.append(f"Content-Length: {cl}")
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()
