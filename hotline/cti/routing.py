"""Where a dialed number goes (pure). The IVR issue adds DNIS → flow; this knows the fixed ones."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

EXTENSION_RE = re.compile(r"^[0-9]{2,16}$")

RouteKind = Literal["echo", "record_test", "extension", "unknown"]


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    number: str


def route_number(dialed: str, *, echo: str = "*43", record_test: str = "*44") -> Route:
    """Service codes first, then extensions; anything else is unknown (404)."""
    number = dialed.strip()
    if number == echo:
        return Route("echo", number)
    if number == record_test:
        return Route("record_test", number)
    if EXTENSION_RE.match(number):
        return Route("extension", number)
    return Route("unknown", number)
