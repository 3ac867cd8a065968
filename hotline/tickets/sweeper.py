"""Uploads never attached to a work order are removed after a while.

An attachment is uploaded first and bound when a create or an action names its id
(:mod:`hotline.tickets.attachments`). An upload nobody names — the agent closed the form, the
integration failed half-way — would otherwise keep its row and its bytes for ever. The
:class:`UploadSweeper` deletes, every ``every`` seconds, the rows still unbound after
``[tickets] upload_max_age_hours``, then the files no row names any more.

Files are stored once per content (``attachments/<sha[:2]>/<sha256>``), so a file is removed only
when no row (bound or not) has its digest, and only when it was not touched within the age
limit: an upload of the same bytes touches the existing file before its row is committed
(:func:`hotline.tickets.attachments._place`). The file is first renamed aside and its time looked
at again, so an upload touching it in between gets it back; one arriving after the rename finds
no file and places its own copy. Nothing a committed row names is ever removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hotline.store.db import transaction
from hotline.store.models import TicketAttachment
from hotline.store.types import utcnow
from hotline.tickets.attachments import attachments_dir

log = logging.getLogger(__name__)

#: rows deleted per transaction
BATCH = 500


@dataclass
class Swept:
    rows: int = 0
    files: int = 0
    bytes: int = 0


def _remove_unused(base: Path, digest: str, cutoff: float) -> int:
    """Remove the file of ``digest`` unless it was touched at or after ``cutoff`` (a timestamp);
    the bytes freed (0 when kept or already gone)."""
    final = base / digest[:2] / digest
    try:
        if final.stat().st_mtime >= cutoff:
            return 0
        aside = final.with_name(digest + ".del")
        os.replace(final, aside)
    except FileNotFoundError:
        return 0
    st = aside.stat()
    if st.st_mtime >= cutoff:  # an upload of the same bytes touched it just before: it stays
        os.replace(aside, final)
        return 0
    aside.unlink()
    return st.st_size


async def sweep_uploads(
    factory: async_sessionmaker[AsyncSession],
    data_dir: Path,
    *,
    max_age: timedelta,
    now: datetime | None = None,
) -> Swept:
    """Delete the uploads unbound for longer than ``max_age`` and the files no row names any
    more (see the module docstring); what was removed."""
    now = now or utcnow()
    cutoff = now - max_age
    base = attachments_dir(data_dir)
    out = Swept()
    while True:
        async with transaction(factory) as s:
            ids = list(
                await s.scalars(
                    select(TicketAttachment.id)
                    .where(TicketAttachment.ticket_id.is_(None), TicketAttachment.created_at < cutoff)
                    .limit(BATCH)
                )
            )
            if not ids:
                break
            # bound meanwhile (a create naming it): the condition keeps it
            gone = list(
                await s.scalars(
                    delete(TicketAttachment)
                    .where(TicketAttachment.id.in_(ids), TicketAttachment.ticket_id.is_(None))
                    .returning(TicketAttachment.sha256)
                )
            )
        out.rows += len(gone)
        digests = set(gone)
        async with factory() as s:
            used = set(
                await s.scalars(select(TicketAttachment.sha256).where(TicketAttachment.sha256.in_(digests)))
            )
        for digest in digests - used:
            freed = await asyncio.to_thread(_remove_unused, base, digest, cutoff.timestamp())
            if freed:
                out.files += 1
                out.bytes += freed
        if len(ids) < BATCH:
            break
    if out.rows:
        log.info("uploads: removed %d never attached (%d files, %d bytes)", out.rows, out.files, out.bytes)
    return out


class UploadSweeper:
    """Runs :func:`sweep_uploads` every ``every`` seconds (the first a minute after the start)."""

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        data_dir: Path,
        *,
        max_age: timedelta,
        every: float = 3600.0,
        first: float = 60.0,
    ) -> None:
        self.factory = factory
        self.data_dir = data_dir
        self.max_age = max_age
        self.every = every
        self.first = first
        self.runs = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="upload-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        await asyncio.sleep(self.first)
        while True:
            try:
                await sweep_uploads(self.factory, self.data_dir, max_age=self.max_age)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("uploads: the sweep failed (tried again in %.0f s)", self.every)
            self.runs += 1
            await asyncio.sleep(self.every)
