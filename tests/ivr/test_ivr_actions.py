"""The action plugin registry (the asynchronous part)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from hotline.ivr import ActionContext, ActionError, ActionRegistry, default_registry

CTX = ActionContext(call_id="c1", tenant_id=1, caller="139", dnis="95598", variables={})


async def test_builtins_and_entry_points() -> None:
    reg = default_registry()
    assert {"echo", "time"} <= set(reg.names())
    assert await reg.run("echo", {"value": "x", "n": 1}, CTX, 1) == {"value": "x", "n": 1}
    now = await reg.run("time", {"tz": "UTC"}, CTX, 1)
    assert set(now) == {"hour", "minute", "weekday", "date", "time", "iso"} and 1 <= now["weekday"] <= 7
    assert (await reg.run("time", {}, CTX, 1))["iso"].endswith("+08:00")


async def test_errors_are_clear() -> None:
    reg = ActionRegistry()

    async def slow(args: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        await asyncio.sleep(10)
        return {}

    async def boom(args: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
        raise RuntimeError("db down")

    async def odd(args: Mapping[str, Any], ctx: ActionContext) -> Any:
        return [1, 2]

    reg.register("slow", slow)
    reg.register("boom", boom)
    reg.register("odd", odd)
    assert reg.get("slow") is slow and reg.get("nope") is None
    for name, message in [
        ("nope", "unknown action 'nope'"),
        ("slow", "action 'slow' timed out after 0.05s"),
        ("boom", "action 'boom' raised RuntimeError: db down"),
        ("odd", "action 'odd' returned list, not a mapping"),
    ]:
        with pytest.raises(ActionError) as info:
            await reg.run(name, {}, CTX, 0.05)
        assert info.value.detail == message
    with pytest.raises(ActionError):
        await default_registry().run("time", {"tz": "Mars/Base"}, CTX, 1)
