"""Process-local read caches of rows that change rarely (units, calendars, tenant settings, ticket
types, dispatch rules, sessions), kept honest two ways:

- **in this process**, every ORM flush or bulk UPDATE/DELETE/INSERT touching a watched table bumps
  that table's generation, at flush time and again after commit; an entry remembers the
  generations it was read under (taken *before* the read) and is dropped when any of them moved,
  so a change made through this process is seen by the very next request;
- **from other processes** (several ``hotline serve`` on one PostgreSQL), an entry also expires
  after its ``ttl`` seconds: a change made elsewhere is seen within that time.

This is what keeps the hot paths (creating a work order, authenticating a request) to the round
trips that matter, rather than re-reading the same configuration rows on every request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session

_generations: dict[str, int] = {}

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def generation(tables: Iterable[str]) -> tuple[int, ...]:
    return tuple(_generations.get(t, 0) for t in tables)


def bump(*tables: str) -> None:
    """Invalidate every entry read from ``tables`` (done automatically for ORM writes)."""
    for t in tables:
        _generations[t] = _generations.get(t, 0) + 1


def _table_of(obj: Any) -> str | None:
    table = getattr(obj, "__table__", None)
    return getattr(table, "name", None)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _ctx: Any) -> None:
    touched: set[str] = session.info.setdefault("cache_touched", set())
    for obj in (*session.new, *session.dirty, *session.deleted):
        name = _table_of(obj)
        if name is not None:
            touched.add(name)
    if touched:
        bump(*touched)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if isinstance(name, str):
        wrote(state.session.info, name)


def wrote(session_info: dict[Any, Any], table: str) -> None:
    """A session wrote ``table`` outside the ORM's flush: entries read from it are dropped now,
    and again when the session commits or rolls back (``session_info``: the session's ``info``)."""
    session_info.setdefault("cache_touched", set()).add(table)
    bump(table)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    touched = session.info.pop("cache_touched", None)
    if touched:
        bump(*touched)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    touched = session.info.pop("cache_touched", None)
    if touched:
        bump(*touched)


_URLS: dict[int, tuple[Any, str]] = {}


def db_key(s: Any) -> str:
    """The identity of the database a session (or connection) talks to (its URL, rendered once
    per engine: rendering costs more than the cache lookups it keys)."""
    bind = s.get_bind() if hasattr(s, "get_bind") else s
    engine = getattr(bind, "engine", bind)
    hit = _URLS.get(id(engine))
    if hit is None or hit[0] is not engine:
        if len(_URLS) > 100:
            _URLS.clear()
        hit = _URLS[id(engine)] = (engine, str(engine.url))
    return hit[1]


class Cache(Generic[K, V]):
    """Entries read from ``tables``, each valid until one of those tables is written through this
    process or ``ttl`` seconds pass. Call :meth:`mark` *before* reading the rows, then :meth:`put`
    with that mark, so a write racing the read is never cached as fresh. Keys should name the
    database (:func:`db_key`): ids repeat across databases."""

    def __init__(self, tables: Iterable[str], ttl: float = 5.0, maxsize: int = 10_000) -> None:
        # ``tenants`` too: a new database (tests, a restore) starts by writing its tenant, so
        # entries keyed by ids that repeat across databases never outlive their database
        self.tables = tuple(dict.fromkeys((*tables, "tenants")))
        self.ttl = ttl
        self.maxsize = maxsize
        self._data: dict[K, tuple[tuple[int, ...], float, V]] = {}
        #: loads in flight (:meth:`fetch`), with the mark each was taken under
        self._loading: dict[K, tuple[tuple[int, ...], asyncio.Future[V]]] = {}
        self.hits = 0
        self.misses = 0

    def mark(self) -> tuple[int, ...]:
        return generation(self.tables)

    def get(self, key: K) -> V | None:
        hit = self._data.get(key)
        if hit is not None:
            gen, at, value = hit
            if gen == generation(self.tables) and time.monotonic() - at < self.ttl:
                self.hits += 1
                return value
            del self._data[key]
        self.misses += 1
        return None

    def put(self, key: K, value: V, mark: tuple[int, ...]) -> V:
        if len(self._data) >= self.maxsize:
            self._data.clear()
        self._data[key] = (mark, time.monotonic(), value)
        return value

    async def fetch(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        """The entry of ``key``, else what ``load()`` reads (marked before it reads), kept.

        One load per key at a time: when an entry expires under load, every request would
        otherwise miss together and read the same rows (24 concurrent requests, 24 reads, every
        ``ttl``). A request arriving while a load runs waits for it instead, provided no watched
        table was written since that load was marked (else it reads for itself, so a write is
        still seen by the next request); if that load fails, it reads for itself."""
        got = self.get(key)
        if got is not None:
            return got
        mark = self.mark()
        loop = asyncio.get_running_loop()
        joined = self._loading.get(key)
        if joined is not None and joined[0] == mark and joined[1].get_loop() is loop:
            try:
                return await asyncio.shield(joined[1])
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not joined[1].cancelled() or (task is not None and task.cancelling()):
                    raise
            except Exception:  # noqa: S110 - its load failed: this request reads for itself
                pass
        fut: asyncio.Future[V] = loop.create_future()
        self._loading[key] = (mark, fut)
        try:
            got = self.put(key, await load(), mark)
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: nobody may be waiting
            raise
        except BaseException:  # cancelled: the waiters read for themselves
            fut.cancel()
            raise
        else:
            fut.set_result(got)
        finally:
            if self._loading.get(key, (None, None))[1] is fut:
                del self._loading[key]
        return got

    def clear(self) -> None:
        self._data.clear()
        self._loading.clear()
