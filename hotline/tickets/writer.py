"""Group commit of new work orders.

Creating an order reads what it needs (:func:`hotline.tickets.service.plan_ticket`) in the
request, then hands the :class:`~hotline.tickets.service.Draft` to the database's
:class:`TicketWriter`, which writes every draft waiting at that moment at once
(:func:`~hotline.tickets.service.write_drafts`: on PostgreSQL one statement for the whole
batch — every table's INSERT a CTE of it, audit entries included — sent on its own, atomic
without a transaction around it, unless the batch needs another statement (uploads to bind, an
outage incident to count: then in a transaction); on SQLite one INSERT per table in one
transaction, one fsync) and answers each request when that is committed.
Nothing is acknowledged before it is durable; under load, the orders arriving while a batch is
being written make the next batch, so the cost of a commit is shared, and a single order waits
for nothing. On PostgreSQL batches are kept small and several are written at once, so that the
load does not gather into one group waiting on one batch (see :func:`writer_for`).

When a batch fails (one bad order: an attachment someone else just took, a customer deleted
meanwhile), each of its drafts is written again in a transaction of its own, so only the bad one
fails — with its own error — and the others are stored.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.store.bulk import NotOneStatement, insert_objects, one_statement, single_statement
from hotline.store.db import transaction
from hotline.tickets.service import Change, Draft, one_statement_draft, take_ids, write_drafts

log = logging.getLogger(__name__)

#: what the caller adds to the transaction of its order (the audit entry): called with the
#: written change before the commit; the new ORM objects it returns are written with the batch
#: (one INSERT per class)
After = Callable[[Change], Sequence[Any]]


@dataclass
class _Job:
    draft: Draft
    after: After | None
    done: asyncio.Future[Change]


class TicketWriter:
    """Writes drafts in batches of at most ``max_batch`` (see the module docstring). The writing
    task runs only while there is work; a writer is bound to the event loop that uses it."""

    def __init__(
        self, factory: async_sessionmaker[AsyncSession], *, max_batch: int = 200, max_inflight: int = 2
    ) -> None:
        self.factory = factory
        self.max_batch = max_batch
        #: batches written at once (each on its own connection): while one waits for the
        #: database, the next is sent, so the round trips of one do not hold up the other
        self.max_inflight = max_inflight
        self._pending: list[_Job] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: counters: batches committed, orders written, the largest batch
        self.batches = 0
        self.written = 0
        self.largest = 0
        #: batches written as one statement outside a transaction (PostgreSQL)
        self.single = 0

    async def submit(self, draft: Draft, after: After | None = None) -> Change:
        """Write ``draft`` (with the batch it joins); its change, once committed."""
        # the write goes on if the request is cancelled: what is committed stays committed
        return await asyncio.shield(self.enqueue(draft, after))

    def enqueue(self, draft: Draft, after: After | None = None) -> asyncio.Future[Change]:
        """Queue ``draft`` for the next batch (a writing task is started when a slot is free); the
        future of its change. :meth:`submit` is the usual way."""
        loop = asyncio.get_running_loop()
        job = _Job(draft, after, loop.create_future())
        self._pending.append(job)
        if len(self._tasks) < self.max_inflight:
            task = loop.create_task(self._run(), name="ticket-writer")
            self._tasks.add(task)
            # _run leaves the set itself; this covers a task cancelled before it ever ran
            task.add_done_callback(self._tasks.discard)
        return job.done

    async def _run(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                try:
                    await self._write(batch)
                except Exception as exc:  # pragma: no cover - _write answers every job itself
                    log.exception("ticket writer: a batch failed")
                    for job in batch:
                        if not job.done.done():
                            job.done.set_exception(exc)
        finally:
            # leave the set in the same step that finds nothing pending: a done callback runs a
            # loop turn later, and a draft submitted in between would find every slot taken and
            # wait for the next submit (for ever, when every client waits for an answer)
            task = asyncio.current_task()
            if task is not None:
                self._tasks.discard(task)

    async def _write(self, batch: list[_Job]) -> None:
        try:
            drafts = [j.draft for j in batch]
            ids = await take_ids(self.factory, len(batch))
            changes: list[Change] | None = None
            if ids is not None and all(one_statement_draft(d) for d in drafts):
                # the batch's rows, audit entries included, as one statement outside a
                # transaction (atomic by itself: no BEGIN and COMMIT round trips)
                try:
                    async with single_statement(self.factory) as s:
                        changes = await self._rows(s, batch, drafts, ids)
                    self.single += 1
                except NotOneStatement as exc:  # nothing was written
                    log.warning("ticket writer: %s; writing the batch in a transaction", exc)
                    changes = None
            if changes is None:
                # in one statement on PostgreSQL too, inside a transaction (statements before it)
                async with transaction(self.factory) as s, one_statement(s):
                    changes = await self._rows(s, batch, drafts, ids)
        except Exception as exc:
            if len(batch) == 1:
                if not batch[0].done.done():
                    batch[0].done.set_exception(exc)
                return
            log.warning("ticket writer: a batch of %d failed (%s); writing them one by one", len(batch), exc)
            for job in batch:
                await self._write([job])
            return
        self.batches += 1
        self.written += len(batch)
        self.largest = max(self.largest, len(batch))
        for job, change in zip(batch, changes, strict=True):
            if not job.done.done():
                job.done.set_result(change)

    @staticmethod
    async def _rows(
        s: AsyncSession, batch: list[_Job], drafts: list[Draft], ids: list[int] | None
    ) -> list[Change]:
        """The batch's rows and its callers' extra rows (the audit entries), queued in ``s``."""
        changes = await write_drafts(s, drafts, ids=ids)
        extra: dict[type, list[Any]] = {}
        for job, change in zip(batch, changes, strict=True):
            if job.after is not None:
                for obj in job.after(change):
                    extra.setdefault(type(obj), []).append(obj)
        for objs in extra.values():
            await insert_objects(s, objs, ids=False)
        return changes


_WRITERS: weakref.WeakKeyDictionary[async_sessionmaker[AsyncSession], TicketWriter] = (
    weakref.WeakKeyDictionary()
)


#: PostgreSQL: a batch takes at most this many drafts, and this many batches are written at once
#: (see :func:`writer_for`)
PG_MAX_BATCH = 16
PG_INFLIGHT = 3


def writer_for(factory: async_sessionmaker[AsyncSession]) -> TicketWriter:
    """The writer of the database ``factory`` talks to (one per session factory).

    On PostgreSQL batches of at most :data:`PG_MAX_BATCH` drafts, :data:`PG_INFLIGHT` at once.
    A batch that took everything waiting gathered the whole load into one group (a convoy): with
    24 concurrent creates, all 24 requests waited on one batch being written while the server's
    core was idle — 11-16 % of the time, at 24 connections and at 64 alike. Smaller batches on
    more connections keep some requests being worked on while others are written (the core was
    92-95 % busy), at a few more statements per order. On SQLite one batch at a time (a single
    writer: a second would only wait for the lock), as large as what waits."""
    w = _WRITERS.get(factory)
    if w is None:
        bind = factory.kw.get("bind")
        if bind is not None and bind.dialect.name == "sqlite":
            w = TicketWriter(factory, max_inflight=1)
        else:
            w = TicketWriter(factory, max_batch=PG_MAX_BATCH, max_inflight=PG_INFLIGHT)
        _WRITERS[factory] = w
    return w
