"""The built-in billing back-end: Hotline's own tables (tariffs, readings, bills, payments, outages).

(Being written in this session: the interface is in :mod:`hotline.utility.backend`.)
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class BuiltinBackend:
    name = "builtin"

    def __init__(self, factory: async_sessionmaker[AsyncSession]) -> None:
        self.factory = factory
