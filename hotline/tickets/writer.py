"""Group commit of new work orders.

Creating an order reads what it needs (:func:`hotline.tickets.service.plan_ticket`) in the
request, then hands the :class:`~hotline.tickets.service.Draft` to the database's
:class:`TicketWriter`, which writes every draft waiting at that moment in ONE transaction
(:func:`~hotline.tickets.service.write_drafts`: on PostgreSQL one statement for the whole
batch — every table's INSERT a CTE of it, audit entries included; on SQLite one INSERT per
table — and one commit, one fsync on SQLite) and answers each request when that commit is done.
Nothing is acknowledged before it is durable; under load, the orders arriving while a batch is
being written make the next batch, so the cost of a commit is shared, and a single order waits
for nothing.

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

from hotline.store.bulk import insert_objects, one_statement
from hotline.store.db import transaction
from hotline.tickets.service import Change, Draft, write_drafts

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

    async def submit(self, draft: Draft, after: After | None = None) -> Change:
        """Write ``draft`` (with the batch it joins); its change, once committed."""
        loop = asyncio.get_running_loop()
        job = _Job(draft, after, loop.create_future())
        self._pending.append(job)
        if len(self._tasks) < self.max_inflight:
            task = loop.create_task(self._run(), name="ticket-writer")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # the write goes on if the request is cancelled: what is committed stays committed
        return await asyncio.shield(job.done)

    async def _run(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
            try:
                await self._write(batch)
            except Exception as exc:  # pragma: no cover - _write answers every job itself
                log.exception("ticket writer: a batch failed")
                for job in batch:
                    if not job.done.done():
                        job.done.set_exception(exc)

    async def _write(self, batch: list[_Job]) -> None:
        try:
            # the batch's rows, audit entries included, in one statement (PostgreSQL)
            async with transaction(self.factory) as s, one_statement(s):
                changes = await write_drafts(s, [j.draft for j in batch])
                extra: dict[type, list[Any]] = {}
                for job, change in zip(batch, changes, strict=True):
                    if job.after is not None:
                        for obj in job.after(change):
                            extra.setdefault(type(obj), []).append(obj)
                for objs in extra.values():
                    await insert_objects(s, objs, ids=False)
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


_WRITERS: weakref.WeakKeyDictionary[async_sessionmaker[AsyncSession], TicketWriter] = (
    weakref.WeakKeyDictionary()
)


def writer_for(factory: async_sessionmaker[AsyncSession]) -> TicketWriter:
    """The writer of the database ``factory`` talks to (one per session factory): two batches at
    once on PostgreSQL, one on SQLite (a single writer: a second would only wait for the lock)."""
    w = _WRITERS.get(factory)
    if w is None:
        bind = factory.kw.get("bind")
        sqlite = bind is not None and bind.dialect.name == "sqlite"
        w = _WRITERS[factory] = TicketWriter(factory, max_inflight=1 if sqlite else 2)
    return w
