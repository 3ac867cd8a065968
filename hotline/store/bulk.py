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
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Table, insert
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import make_transient_to_detached
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


# -- ORM objects written with one Core INSERT ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Column:
    key: str  # the mapped attribute
    name: str  # the table's column
    default: Callable[[], Any] | None


_COLUMNS: dict[type, tuple[Table, tuple[_Column, ...], Any]] = {}


def _columns_of(cls: type) -> tuple[Table, tuple[_Column, ...], Any]:
    hit = _COLUMNS.get(cls)
    if hit is None:
        mapper: Any = sa_inspect(cls)
        table = mapper.local_table
        defaults = _defaults(table, set())
        cols = tuple(
            _Column(mapper.get_property_by_column(c).key, c.name, defaults.get(c.name)) for c in table.columns
        )
        (pk,) = table.primary_key.columns
        hit = _COLUMNS[cls] = (table, cols, pk)
    return hit


async def insert_objects(s: AsyncSession, objs: Sequence[Any], *, ids: bool = True) -> None:
    """Write new ORM objects of one class with ONE Core ``INSERT`` (a multi-row statement, without
    the unit-of-work bookkeeping, which costs far more per row than the statement). Column
    defaults of the model fill the attributes left None, as an ORM flush would. Objects without a
    primary key get the one the database assigns (``RETURNING``, in the order given: on SQLite
    SQLAlchemy then inserts row by row), unless ``ids`` is false (rows nobody reads back, e.g.
    audit entries). Runs in the caller's
    transaction; the objects stay transient (:func:`attach` makes them persistent)."""
    if not objs:
        return
    table, cols, pk = _columns_of(type(objs[0]))
    pk_key = next(c.key for c in cols if c.name == pk.name)
    missing = any(o.__dict__.get(pk_key) is None for o in objs)
    if missing and not all(o.__dict__.get(pk_key) is None for o in objs):
        raise ValueError("insert_objects: either every object has its primary key or none has")
    params: list[dict[str, Any]] = []
    for obj in objs:
        state = obj.__dict__
        row: dict[str, Any] = {}
        for c in cols:
            v = state.get(c.key)
            if v is None:
                if c.name == pk.name:
                    continue
                if c.default is not None:
                    v = c.default()
                    setattr(obj, c.key, v)
                elif c.key not in state:  # loaded as None (not expired) once attached
                    setattr(obj, c.key, None)
            row[c.name] = v
        params.append(row)
    if missing and ids:
        result = await s.execute(insert(table).returning(pk, sort_by_parameter_order=True), params)
        for obj, ident in zip(objs, result.scalars().all(), strict=True):
            setattr(obj, pk_key, ident)
    else:
        await s.execute(insert(table), params)


def attach(s: AsyncSession, objs: Sequence[Any]) -> None:
    """Make objects written by :func:`insert_objects` persistent in ``s``, as if read from the
    database: later ORM work in the session (an update, a lookup by key) uses them without reading
    them back, and nothing is written again at the flush."""
    for obj in objs:
        make_transient_to_detached(obj)
    s.add_all(objs)
