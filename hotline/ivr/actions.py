"""Action plugins: the only asynchronous, I/O-capable part of the IVR.

A plugin is ``async def plugin(args, ctx) -> Mapping`` registered under a name. Packages
provide plugins through the entry-point group ``hotline.ivr.actions``; :func:`default_registry`
loads them plus the built-ins ``echo`` and ``time``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import entry_points
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hotline.errors import HotlineError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "hotline.ivr.actions"
DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass(frozen=True)
class ActionContext:
    """What a plugin knows about the call."""

    call_id: str
    tenant_id: int | None = None
    caller: str = ""
    dnis: str = ""
    variables: Mapping[str, Any] = field(default_factory=dict)
    #: the application's services a plugin may use: "db" (the async session factory) and
    #: "billing" (the :class:`hotline.utility.backend.BillingBackend`)
    services: Mapping[str, Any] = field(default_factory=dict)


ActionPlugin = Callable[[Mapping[str, Any], ActionContext], Awaitable[Mapping[str, Any]]]


class ActionError(HotlineError):
    """An action could not run: unknown, timed out, raised, or answered something odd."""

    status = 502
    title = "IVR action failed"


class ActionRegistry:
    """Plugins by name."""

    def __init__(self) -> None:
        self._plugins: dict[str, ActionPlugin] = {}

    def register(self, name: str, fn: ActionPlugin) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("an action needs a name")
        self._plugins[name] = fn

    def get(self, name: str) -> ActionPlugin | None:
        return self._plugins.get(name)

    def names(self) -> list[str]:
        return sorted(self._plugins)

    def __contains__(self, name: object) -> bool:
        return name in self._plugins

    async def run(
        self,
        name: str,
        args: Mapping[str, Any],
        ctx: ActionContext,
        timeout: float,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Run a plugin; raises :class:`ActionError` with a clear message on any failure."""
        fn = self._plugins.get(name)
        if fn is None:
            raise ActionError(f"unknown action '{name}'")
        try:
            async with asyncio.timeout(timeout):
                result = await fn(args, ctx)
        except TimeoutError:
            raise ActionError(f"action '{name}' timed out after {timeout:g}s") from None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise ActionError(f"action '{name}' raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(result, Mapping):
            raise ActionError(f"action '{name}' returned {type(result).__name__}, not a mapping")
        return {str(k): v for k, v in result.items()}


async def echo_action(args: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
    """Return the arguments as given (for tests and placeholders)."""
    return dict(args)


async def time_action(args: Mapping[str, Any], ctx: ActionContext) -> Mapping[str, Any]:
    """The current time in ``tz`` (default Asia/Shanghai): hour, minute, weekday (1–7), date, time, iso."""
    tz_name = str(args.get("tz") or DEFAULT_TIMEZONE)
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {tz_name!r}") from None
    now = datetime.now(tz)
    return {
        "hour": now.hour,
        "minute": now.minute,
        "weekday": now.isoweekday(),
        "date": now.date().isoformat(),
        "time": now.strftime("%H:%M"),
        "iso": now.isoformat(timespec="seconds"),
    }


BUILTINS: dict[str, ActionPlugin] = {"echo": echo_action, "time": time_action}


def default_registry() -> ActionRegistry:
    """Plugins from the ``hotline.ivr.actions`` entry points plus the built-ins."""
    registry = ActionRegistry()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            fn = ep.load()
        except Exception as exc:  # a broken plugin package must not stop the IVR
            log.warning("cannot load IVR action %s (%s): %s", ep.name, ep.value, exc)
            continue
        if callable(fn):
            registry.register(ep.name, fn)
    for name, fn in BUILTINS.items():
        if name not in registry:
            registry.register(name, fn)
    return registry
