"""Bulk loading for generators, imports and bill runs: ``COPY`` on PostgreSQL (asyncpg's binary
copy, an order of magnitude faster than INSERTs), one ``executemany`` on SQLite.

Rows are mappings of column name → Python value, exactly as for an ORM insert; column defaults
of the model (scalar or callable, e.g. ``created_at``) fill missing keys, because COPY does not
run SQLAlchemy's defaults. Type decorators (:class:`~hotline.store.types.Fixed2`,
:class:`~hotline.store.types.UTCDateTime`) and JSON columns are converted the same way an
INSERT would.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeDecorator


def _defaults(table: Table, present: set[str]) -> dict[str, Callable[[], Any]]:
    out: dict[str, Callable[[], Any]] = {}
    for col in table.columns:
        if col.name in present or col.default is None:
            continue
        default: Any = col.default
        if getattr(default, "is_scalar", False):
            out[col.name] = _constant(default.arg)
        elif getattr(default, "is_callable", False):
            out[col.name] = _called(default.arg)
    return out


def _constant(value: Any) -> Callable[[], Any]:
    return lambda: value


def _called(fn: Callable[[Any], Any]) -> Callable[[], Any]:
    return lambda: fn(None)


def _converter(col: Any, dialect: Any) -> Callable[[Any], Any] | None:
    t = col.type
    if isinstance(t, TypeDecorator):
        td = t

        def convert(v: Any) -> Any:
            return td.process_bind_param(v, dialect)

        return convert
    if isinstance(t, JSON) or "JSON" in type(t).__name__.upper():
        return lambda v: None if v is None else json.dumps(v, ensure_ascii=False, separators=(",", ":"))
    return None


async def bulk_insert(conn: AsyncConnection, table: Table, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert ``rows`` (all with the same keys) into ``table`` on ``conn``; returns the count.

    Runs inside the caller's transaction. Ids not given are assigned by the database.
    """
    if not rows:
        return 0
    keys = list(rows[0])
    defaults = _defaults(table, set(keys))
    if conn.dialect.name != "postgresql":
        if defaults:
            rows = [{**r, **{k: f() for k, f in defaults.items()}} for r in rows]
        await conn.execute(table.insert(), list(rows))
        return len(rows)
    columns = keys + list(defaults)
    convs = [_converter(table.columns[c], conn.dialect) for c in columns]
    fixed = [f() for f in defaults.values()]  # defaults are evaluated once per batch on COPY
    records = []
    for r in rows:
        values = [r[k] for k in keys] + fixed
        records.append(tuple(v if c is None else c(v) for v, c in zip(values, convs, strict=True)))
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    await driver.copy_records_to_table(table.name, records=records, columns=columns)
    return len(rows)
