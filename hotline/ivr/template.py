"""``{var}`` placeholders in prompt texts and node values.

``{name}`` is replaced by ``str(value)`` (empty for null or unknown variables); ``{name:digits}`` separates the characters by spaces so TTS reads them one
by one. ``{{`` and ``}}`` stand for literal braces. Names may contain dots (``customer.name``).

:func:`substitute_value` keeps the type of a value that is exactly one placeholder
(``"{tries}"`` → ``3``); other strings are substituted as text, lists and mappings recursively.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from hotline.ivr.conditions import lookup

FORMATS = frozenset({"digits"})
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.]*)(?::([A-Za-z_]+))?\}")


def placeholders(text: str) -> list[tuple[str, str | None, int]]:
    """``(name, format, 0-based offset)`` of every placeholder in ``text``."""
    out: list[tuple[str, str | None, int]] = []
    for m in _PLACEHOLDER.finditer(text):
        if m.group(1):
            out.append((m.group(1), m.group(2), m.start()))
    return out


def render(value: Any, fmt: str | None = None) -> str:
    text = "" if value is None else str(value)
    if fmt == "digits":
        return " ".join(ch for ch in text if not ch.isspace())
    return text


def substitute(text: str, variables: Mapping[str, Any]) -> str:
    """Replace the placeholders of ``text`` with variable values."""

    def repl(m: re.Match[str]) -> str:
        whole = m.group()
        if whole == "{{":
            return "{"
        if whole == "}}":
            return "}"
        return render(lookup(variables, m.group(1)), m.group(2))

    return _PLACEHOLDER.sub(repl, text)


def substitute_value(value: Any, variables: Mapping[str, Any]) -> Any:
    """Substitute placeholders in a node value (keeping the type of a lone ``{var}``)."""
    if isinstance(value, str):
        m = _PLACEHOLDER.fullmatch(value)
        if m and m.group(1) and not m.group(2):
            return lookup(variables, m.group(1))
        return substitute(value, variables)
    if isinstance(value, list):
        return [substitute_value(v, variables) for v in value]
    if isinstance(value, Mapping):
        return {str(k): substitute_value(v, variables) for k, v in value.items()}
    return value
