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
import re
import weakref
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import JSON, Table, bindparam, event, insert, or_, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker
from sqlalchemy.orm import configure_mappers, make_transient_to_detached
from sqlalchemy.types import TypeDecorator

from hotline.store.cache import wrote
from hotline.store.db import reads

T_obj = TypeVar("T_obj")


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


# -- rows and ORM objects written with one INSERT ------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Column:
    key: str  # the mapped attribute
    name: str  # the table's column
    default: Callable[[], Any] | None
    #: None is this column's value when not given (no default; a JSON column would store null)
    none: bool


@dataclass(frozen=True, slots=True)
class _Model:
    table: Table
    cols: tuple[_Column, ...]
    pk: Any  # the primary-key column
    pk_key: str  # its mapped attribute
    manager: Any  # the class manager (makes instances without a constructor)


_MODELS: dict[type, _Model] = {}


def _model_of(cls: type) -> _Model:
    hit = _MODELS.get(cls)
    if hit is None:
        configure_mappers()  # instrumentation complete before objects are made without a constructor
        mapper: Any = sa_inspect(cls)
        table = mapper.local_table
        defaults = _defaults(table, set())
        cols = tuple(
            _Column(
                mapper.get_property_by_column(c).key,
                c.name,
                defaults.get(c.name),
                c.name not in defaults and not getattr(c.type, "should_evaluate_none", False),
            )
            for c in table.columns
        )
        (pk,) = table.primary_key.columns
        pk_key = next(c.key for c in cols if c.name == pk.name)
        hit = _MODELS[cls] = _Model(table, cols, pk, pk_key, mapper.class_manager)
    return hit


@dataclass(frozen=True, slots=True)
class _Unnest:
    sql: str
    converters: tuple[Callable[[Any], Any] | None, ...]
    params: int  # one array per column
    returned: str  # the quoted column of RETURNING ("" without)


_UNNEST: dict[tuple[Table, tuple[str, ...], str | None], _Unnest] = {}


def _array_params(cols: Sequence[Any], dialect: Any) -> str:
    """``$1::type[], $2::type[], …``: one array parameter per column, typed as stored."""
    types = [c.type.dialect_impl(dialect) for c in cols]
    types = [t.impl_instance if isinstance(t, TypeDecorator) else t for t in types]
    return ", ".join(f"${i}::{t.compile(dialect=dialect)}[]" for i, t in enumerate(types, 1))


def _arrays(
    rows: Sequence[Mapping[str, Any]], names: Sequence[str], converters: Sequence[Callable[[Any], Any] | None]
) -> tuple[list[Any], ...]:
    """The rows' values column by column, converted as an INSERT would."""
    return tuple(
        [r[n] for r in rows] if c is None else [c(r[n]) for r in rows]
        for n, c in zip(names, converters, strict=True)
    )


def _unnest(table: Table, names: tuple[str, ...], returning: str | None, dialect: Any) -> _Unnest:
    """``INSERT … SELECT … FROM unnest($1::type[], …)``: one parameter per column (an array of
    the batch's values, encoded by asyncpg in C), so the statement is the same for every batch
    size (prepared once per connection) and nothing is bound row by row in Python."""
    key = (table, names, returning)
    hit = _UNNEST.get(key)
    if hit is None:
        cols = [table.columns[n] for n in names]
        prep = dialect.identifier_preparer
        quoted = ", ".join(prep.quote(n) for n in names)
        arrays = _array_params(cols, dialect)
        unnamed = ", ".join(f"c{i}" for i in range(len(names)))
        # identifiers of the model, quoted by the dialect; the values are parameters
        sql = (
            f"INSERT INTO {prep.format_table(table)} ({quoted}) SELECT {unnamed} FROM unnest({arrays}) "  # noqa: S608
            f"WITH ORDINALITY AS u({unnamed}, n) ORDER BY n"
        )
        returned = prep.quote(returning) if returning is not None else ""
        if returning is not None:
            sql += f" RETURNING {returned}"
        hit = _UNNEST[key] = _Unnest(sql, tuple(_converter(c, dialect) for c in cols), len(names), returned)
    return hit


_PENDING = "hotline.bulk.pending"


@dataclass(slots=True)
class _Queued:
    unnest: _Unnest
    arrays: tuple[list[Any], ...]
    #: given the ids RETURNING assigned, in the order of the rows (None: the INSERT returns none)
    done: Callable[[list[Any]], None] | None


@asynccontextmanager
async def one_statement(s: AsyncSession) -> AsyncIterator[None]:
    """The INSERTs of :func:`insert_rows` and :func:`insert_objects` made inside the block are
    written together when it ends, with ONE statement on PostgreSQL (each INSERT a
    data-modifying CTE of it: one round trip and one statement's overhead instead of one per
    table; foreign keys between them are checked at the end of the statement). Ids the database
    assigns are set on the objects then, so read them only after the block (or after
    :func:`flush_inserts`, which writes what is queued so far: call it before a statement that
    must see the rows). Elsewhere (SQLite) each INSERT is written at once. Nothing is written
    when the block raises."""
    conn = await s.connection()
    if conn.dialect.name != "postgresql" or _PENDING in s.info:
        yield
        return
    s.info[_PENDING] = []
    try:
        yield
        await _flush(s)
    finally:
        s.info.pop(_PENDING, None)


class NotOneStatement(RuntimeError):
    """In :func:`single_statement`'s block, a statement other than the block's one INSERT was
    about to be sent. It was not sent, and neither was anything else: write in a transaction."""


#: key of a pooled connection's ``info`` while it is in :func:`single_statement`'s block:
#: "guard" (no statement may be sent), then "send" (the one statement is being sent)
_SINGLE = "hotline.bulk.single"
_GUARDED: weakref.WeakSet[Any] = weakref.WeakSet()


def _refuse_others(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
    if conn.info.get(_SINGLE) == "guard":
        raise NotOneStatement(f"only the block's INSERT may be sent here, not: {statement[:120]}")


@asynccontextmanager
async def single_statement(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """PostgreSQL: a session whose INSERTs (:func:`insert_rows`, :func:`insert_objects`) are all
    written when the block ends as ONE statement, outside any transaction. A single statement is
    atomic by itself (its data-modifying CTEs included), so this saves the BEGIN and COMMIT round
    trips of a transaction. Any other statement made through the session (a read, an UPDATE, an
    early :func:`flush_inserts`) raises :class:`NotOneStatement` before it is sent, and nothing
    has been written then: the caller writes in a transaction instead. Elsewhere (SQLite), it
    raises at once."""
    async with reads(factory) as s:
        conn = await s.connection()
        if conn.dialect.name != "postgresql":
            raise NotOneStatement("one statement outside a transaction: PostgreSQL only")
        engine = conn.sync_engine.engine
        if engine not in _GUARDED:
            event.listen(engine, "before_cursor_execute", _refuse_others)
            _GUARDED.add(engine)
        info = (await conn.get_raw_connection()).info
        info[_SINGLE] = "guard"
        s.info[_SINGLE] = info
        s.info[_PENDING] = []
        try:
            yield s
            await _flush(s)
            await s.commit()
        finally:
            info.pop(_SINGLE, None)
            s.info.pop(_PENDING, None)
            s.info.pop(_SINGLE, None)


async def flush_inserts(s: AsyncSession) -> None:
    """Write the INSERTs queued in :func:`one_statement`'s block so far (one statement)."""
    if _SINGLE in s.info and s.info.get(_PENDING):
        raise NotOneStatement("the INSERTs are written when single_statement's block ends, not before")
    await _flush(s)


async def _flush(s: AsyncSession) -> None:
    queued: list[_Queued] | None = s.info.get(_PENDING)
    if not queued:
        return
    single: dict[str, Any] | None = s.info.get(_SINGLE)
    if single is not None:
        single[_SINGLE] = "send"
    try:
        await _flush_queued(s, queued)
    finally:
        if single is not None:
            single[_SINGLE] = "guard"


async def _flush_queued(s: AsyncSession, queued: list[_Queued]) -> None:
    batch = list(queued)
    queued.clear()
    conn = await s.connection()
    if len(batch) == 1:
        await _execute(conn, batch[0])
        return
    sql = _combined(tuple(q.unnest for q in batch))
    params = tuple(a for q in batch for a in q.arrays)
    ids: dict[int, list[Any]] = {}
    returned: Any = (await conn.exec_driver_sql(sql, params)).all()
    for i, ident in returned:
        ids.setdefault(i, []).append(ident)
    for i, q in enumerate(batch):
        if q.done is not None:
            # ids from a sequence ascend in the order the rows were inserted (ORDER BY n)
            q.done(sorted(ids.get(i, [])))


async def _execute(conn: AsyncConnection, q: _Queued) -> None:
    """One INSERT on its own; ``q.done`` gets its ids."""
    result = await conn.exec_driver_sql(q.unnest.sql, q.arrays)
    if q.done is not None:
        # ids from a sequence ascend in the order the rows were inserted (ORDER BY n)
        q.done(sorted(result.scalars().all()))


_COMBINED: dict[tuple[_Unnest, ...], str] = {}
_PARAM = re.compile(r"\$(\d+)")


def _shifted(offset: int) -> Callable[[re.Match[str]], str]:
    return lambda m: f"${int(m.group(1)) + offset}"


def _combined(parts: tuple[_Unnest, ...]) -> str:
    """``WITH i0 AS (INSERT …), i1 AS (INSERT …) … SELECT i, id FROM the returning ones``, the
    parameters of each INSERT renumbered after those of the ones before it."""
    hit = _COMBINED.get(parts)
    if hit is None:
        ctes: list[str] = []
        selects: list[str] = []
        offset = 0
        for i, u in enumerate(parts):
            sql = _PARAM.sub(_shifted(offset), u.sql)
            ctes.append(f"i{i} AS ({sql})")
            if u.returned:
                # the CTE's number and a quoted identifier of the model
                selects.append(f"SELECT {i}, {u.returned}::bigint FROM i{i}")  # noqa: S608
            offset += u.params
        tail = " UNION ALL ".join(selects) if selects else "SELECT 0, 0::bigint WHERE false"
        hit = _COMBINED[parts] = "WITH " + ", ".join(ctes) + " " + tail
    return hit


async def insert_rows(
    s: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]], *, returning: str | None = None
) -> list[Any]:
    """Insert ``rows`` (mappings of column name → value, all with the same keys; no defaults are
    applied) with ONE statement in the caller's transaction; with ``returning`` (the name of a
    column the database assigns ascending, the primary key), its values in the order of ``rows``.

    PostgreSQL: ``INSERT … SELECT FROM unnest(…)`` through the driver (see :func:`_unnest`);
    elsewhere SQLAlchemy's multi-row INSERT. Caches reading ``table`` are invalidated as for any
    write through the session."""
    if not rows:
        return []
    got: list[Any] = []
    # queued inside one_statement() unless the ids are wanted now
    await _insert(
        s, table, rows, returning, got.extend if returning is not None else None, defer=returning is None
    )
    return got


async def _insert(
    s: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: str | None,
    done: Callable[[list[Any]], None] | None,
    *,
    defer: bool,
) -> None:
    """Insert ``rows``; ``done`` gets the ids RETURNING assigned. With ``defer``, inside
    :func:`one_statement` on PostgreSQL, the INSERT is queued (written when the block ends)."""
    names = tuple(rows[0])
    conn = await s.connection()
    if conn.dialect.name != "postgresql":
        if returning is None:
            await s.execute(insert(table), list(rows))
            return
        stmt = insert(table).returning(table.columns[returning], sort_by_parameter_order=True)
        ids = list((await s.execute(stmt, list(rows))).scalars().all())
        if done is not None:
            done(ids)
        return
    u = _unnest(table, names, returning, conn.dialect)
    arrays = _arrays(rows, names, u.converters)
    wrote(s.info, table.name)
    q = _Queued(u, arrays, done)
    queued: list[_Queued] | None = s.info.get(_PENDING)
    if queued is None:
        await _execute(conn, q)
        return
    queued.append(q)
    if not defer:  # the caller reads the ids now
        await flush_inserts(s)


_UPDATE: dict[tuple[Table, str, tuple[str, ...], frozenset[str], frozenset[str]], _Unnest] = {}


def _update_sql(
    table: Table, key: str, names: tuple[str, ...], add: frozenset[str], either: frozenset[str], dialect: Any
) -> _Unnest:
    """``UPDATE t SET c = u.c, … FROM unnest($1::type[], …) AS u(k, c, …) WHERE t.k = u.k``."""
    ck = (table, key, names, add, either)
    hit = _UPDATE.get(ck)
    if hit is None:
        allnames = (key, *names)
        cols = [table.columns[n] for n in allnames]
        prep = dialect.identifier_preparer
        arrays = _array_params(cols, dialect)
        alias = ", ".join(f"c{i}" for i in range(len(allnames)))
        t = prep.format_table(table)
        sets = []
        for i, n in enumerate(names, 1):
            q = prep.quote(n)
            if n in add:
                sets.append(f"{q} = {t}.{q} + u.c{i}")
            elif n in either:
                sets.append(f"{q} = {t}.{q} OR u.c{i}")
            else:
                sets.append(f"{q} = u.c{i}")
        # identifiers of the model, quoted by the dialect; the values are parameters
        sql = (
            f"UPDATE {t} SET {', '.join(sets)} FROM unnest({arrays}) AS u({alias}) "  # noqa: S608
            f"WHERE {t}.{prep.quote(key)} = u.c0"
        )
        hit = _UPDATE[ck] = _Unnest(sql, tuple(_converter(c, dialect) for c in cols), len(allnames), "")
    return hit


async def update_rows(
    s: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    key: str = "id",
    add: Sequence[str] = (),
    either: Sequence[str] = (),
) -> None:
    """Update rows of ``table`` found by ``key`` with ONE statement in the caller's transaction.
    ``rows`` are mappings of column name → value, all with the same keys, ``key`` among them; its
    values must be unique (two rows for one key would leave either). A column in ``add`` is
    incremented by the value (``c = c + value``), one in ``either`` or-ed with it (booleans); the
    others are set.

    PostgreSQL: ``UPDATE … FROM unnest(…)``, one array per column as for :func:`insert_rows`
    (one statement's overhead, not one per row); elsewhere SQLAlchemy's executemany."""
    if not rows:
        return
    names = tuple(n for n in rows[0] if n != key)
    conn = await s.connection()
    if conn.dialect.name != "postgresql":
        kc = table.columns[key]
        values: dict[str, Any] = {}
        for n in names:
            c = table.columns[n]
            b = bindparam(f"b_{n}", type_=c.type)
            values[n] = c + b if n in add else or_(c, b) if n in either else b
        stmt = update(table).where(kc == bindparam("b__key", type_=kc.type)).values(values)
        await s.execute(stmt, [{"b__key": r[key], **{f"b_{n}": r[n] for n in names}} for r in rows])
        return
    u = _update_sql(table, key, names, frozenset(add), frozenset(either), conn.dialect)
    arrays = _arrays(rows, (key, *names), u.converters)
    wrote(s.info, table.name)
    await conn.exec_driver_sql(u.sql, arrays)


async def insert_objects(s: AsyncSession, objs: Sequence[Any], *, ids: bool = True) -> None:
    """Write new ORM objects of one class with ONE INSERT (:func:`insert_rows`: no unit-of-work
    bookkeeping, which costs far more per row than the statement). Column defaults of the model
    fill the attributes left None, as an ORM flush would. Objects without a primary key get the
    one the database assigns (``RETURNING``, in the order given: on SQLite SQLAlchemy then
    inserts row by row), unless ``ids`` is false (rows nobody reads back, e.g. audit entries).
    Runs in the caller's transaction; inside :func:`one_statement` it is written (and the ids
    set) when the block ends. The objects stay transient (:func:`attach` makes them
    persistent)."""
    if not objs:
        return
    m = _model_of(type(objs[0]))
    table, cols, pk, pk_key = m.table, m.cols, m.pk, m.pk_key
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
                # into the instance's dict, as new_object does: the objects are transient (not in
                # a session), so no attribute event has anything to record
                if c.default is not None:
                    v = state[c.key] = c.default()
                elif c.key not in state:  # loaded as None (not expired) once attached
                    state[c.key] = None
            row[c.name] = v
        params.append(row)

    def assign(got: list[Any]) -> None:
        for obj, ident in zip(objs, got, strict=False):
            setattr(obj, pk_key, ident)

    returning = pk.name if missing and ids else None
    await _insert(s, table, params, returning, assign if returning is not None else None, defer=True)


def new_object(cls: type[T_obj], values: Mapping[str, Any]) -> T_obj:
    """A new (transient) ORM object of ``cls`` holding ``values`` (attribute → value; a column
    not named reads as None, and gets its default when written), made without the attribute
    events a constructor fires per column — a fraction of the cost for a wide row. Written by
    :func:`insert_objects` or an ORM flush alike."""
    m = _model_of(cls)
    obj: T_obj = m.manager.new_instance()
    d = obj.__dict__
    for c in m.cols:
        if c.none:
            d[c.key] = None
    d.update(values)
    return obj


def attach(s: AsyncSession, objs: Sequence[Any]) -> None:
    """Make objects written by :func:`insert_objects` persistent in ``s``, as if read from the
    database: later ORM work in the session (an update, a lookup by key) uses them without reading
    them back, and nothing is written again at the flush."""
    for obj in objs:
        make_transient_to_detached(obj)
    s.add_all(objs)
