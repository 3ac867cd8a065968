"""hotline.store.batch.KeyLoader: concurrent reads by key coalesced into one load."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from hotline.store.batch import KeyLoader


class Source:
    def __init__(self, *, delay: float = 0.0, fail: set[int] | None = None) -> None:
        self.calls: list[list[int]] = []
        self.delay = delay
        self.fail = fail or set()

    async def load(self, keys: Sequence[int]) -> Mapping[int, str]:
        self.calls.append(list(keys))
        await asyncio.sleep(self.delay)
        if self.fail & set(keys):
            raise RuntimeError("database gone")
        return {k: f"v{k}" for k in keys if k % 10 != 0}  # multiples of 10 do not exist


async def test_concurrent_gets_are_one_load_and_missing_keys_are_none() -> None:
    src = Source()
    loader = KeyLoader(src.load)
    got = await asyncio.gather(*(loader.get(k) for k in (1, 2, 3, 2, 10)))
    assert got == ["v1", "v2", "v3", "v2", None]
    assert src.calls == [[1, 2, 3, 10]]  # the repeated key is asked for once
    assert (loader.loads, loader.keys) == (1, 4)


async def test_keys_asked_during_a_load_make_the_next_batch() -> None:
    src = Source(delay=0.02)
    loader = KeyLoader(src.load)
    first = [asyncio.create_task(loader.get(k)) for k in (1, 2)]
    await asyncio.sleep(0.005)  # the first load is running
    later = [asyncio.create_task(loader.get(k)) for k in (3, 4, 5)]
    assert await asyncio.gather(*first, *later) == ["v1", "v2", "v3", "v4", "v5"]
    assert src.calls == [[1, 2], [3, 4, 5]]


async def test_a_lone_get_waits_for_no_batch() -> None:
    src = Source()
    loader = KeyLoader(src.load)
    assert await asyncio.wait_for(loader.get(7), 1) == "v7"
    assert await loader.get(8) == "v8"
    assert src.calls == [[7], [8]]


async def test_max_batch_splits_the_keys() -> None:
    src = Source()
    loader = KeyLoader(src.load, max_batch=2)
    assert await asyncio.gather(*(loader.get(k) for k in (1, 2, 3))) == ["v1", "v2", "v3"]
    assert src.calls == [[1, 2], [3]]


async def test_a_failed_load_fails_its_batch_only_and_the_loader_goes_on() -> None:
    src = Source(fail={13})
    loader = KeyLoader(src.load)
    results = await asyncio.gather(loader.get(12), loader.get(13), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    assert await loader.get(12) == "v12"


async def test_a_cancelled_request_does_not_cancel_the_others() -> None:
    src = Source(delay=0.02)
    loader = KeyLoader(src.load)
    a = asyncio.create_task(loader.get(1))
    b = asyncio.create_task(loader.get(1))
    await asyncio.sleep(0.005)
    a.cancel()
    with pytest.raises(asyncio.CancelledError):
        await a
    assert await b == "v1"
