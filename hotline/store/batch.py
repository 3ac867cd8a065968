"""Concurrent lookups by key coalesced into one query (the "data loader" pattern).

A busy server handles many requests at once that each read one row by key (the customer named
in a new work order). Each read on its own costs a round trip and a statement's worth of Python
in SQLAlchemy and the driver — more than the row itself. A :class:`KeyLoader` collects the keys
asked for while no load is running, loads them with ONE query, answers every waiting request,
and meanwhile collects the keys for the next load. A lone request waits for nothing but the
event loop's next turn; under load the cost of a query is shared by the requests of a batch.

What a loader returns is read outside any transaction (each load stands alone), so use it only
where a request would read the row in a statement of its own anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: the batch loader: the keys → the values found (missing keys: not found)
Load = Callable[[Sequence[K]], Awaitable[Mapping[K, V]]]


class KeyLoader(Generic[K, V]):
    """Coalesces :meth:`get` calls into loads of at most ``max_batch`` keys (see the module
    docstring). The loading task runs only while there is work; a loader is bound to the event
    loop that uses it."""

    def __init__(self, load: Load[K, V], *, max_batch: int = 500) -> None:
        self._load = load
        self.max_batch = max_batch
        self._waiting: dict[K, asyncio.Future[V | None]] = {}
        self._task: asyncio.Task[None] | None = None
        #: counters: loads run and keys loaded
        self.loads = 0
        self.keys = 0

    async def get(self, key: K) -> V | None:
        """The value of ``key`` (None when the load does not find it); a failed load raises its
        error in every request of its batch."""
        loop = asyncio.get_running_loop()
        fut = self._waiting.get(key)
        if fut is None:
            fut = self._waiting[key] = loop.create_future()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run(), name="key-loader")
        # a request cancelled meanwhile does not cancel the load the others wait for
        return await asyncio.shield(fut)

    async def _run(self) -> None:
        await asyncio.sleep(0)  # the other requests of this loop turn add their keys first
        while self._waiting:
            keys = list(self._waiting)[: self.max_batch]
            batch = {k: self._waiting.pop(k) for k in keys}
            try:
                found = await self._load(keys)
            except Exception as exc:
                for f in batch.values():
                    if not f.done():
                        f.set_exception(exc)
                continue
            self.loads += 1
            self.keys += len(keys)
            for k, f in batch.items():
                if not f.done():
                    f.set_result(found.get(k))
