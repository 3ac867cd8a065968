"""A throwaway PostgreSQL server for the tests (Debian's postgresql package).

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user
in a temporary directory it owns. It listens on 127.0.0.1 on a free port and is stopped (and
its directory removed) when the test session ends.
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass


class PostgresUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _bindir() -> str:
    override = os.environ.get("TEST_PG_BINDIR")
    candidates = [override] if override else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for d in candidates:
        if d and os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    raise PostgresUnavailable(
        "PostgreSQL server binaries not found (install Debian's 'postgresql' package; `make test` does)"
    )


@dataclass
class PgServer:
    bindir: str
    datadir: str
    port: int
    as_user: list[str]

    @property
    def admin_url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    async def create_database(self, prefix: str = "t_") -> str:
        """A new empty database with a unique name (returned) starting with ``prefix``."""
        from sqlalchemy.ext.asyncio import create_async_engine

        name = prefix + uuid.uuid4().hex[:12]
        admin = create_async_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        await admin.dispose()
        return name

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, *args], capture_output=True, text=True, timeout=120, check=False
        )

    def stop(self) -> None:
        if os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
            self._run(os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-m", "fast", "-w", "stop")
        shutil.rmtree(os.path.dirname(self.datadir), ignore_errors=True)


def start() -> PgServer:
    bindir = _bindir()
    base = tempfile.mkdtemp(prefix="hotline-pg-")
    datadir = os.path.join(base, "data")
    as_user: list[str] = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres", "postgres")
        os.chmod(base, 0o700)
    server = PgServer(bindir, datadir, free_port(), as_user)
    r = server._run(
        os.path.join(bindir, "initdb"),
        "-D",
        datadir,
        "-A",
        "trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
        "--no-sync",
    )
    if r.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed: {r.stderr.strip()[-500:]}")
    opts = (
        f"-p {server.port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    r = server._run(
        os.path.join(bindir, "pg_ctl"),
        "-D",
        datadir,
        "-o",
        opts,
        "-l",
        os.path.join(base, "log"),
        "-w",
        "-t",
        "60",
        "start",
    )
    if r.returncode != 0:
        log = ""
        try:
            with open(os.path.join(base, "log")) as fh:
                log = fh.read()[-800:]
        except OSError:
            pass
        server.stop()
        raise PostgresUnavailable(f"pg_ctl start failed: {r.stderr.strip()} {log}")
    atexit.register(server.stop)
    return server
