"""UI strings in zh-CN and English. The language comes from the ``lang`` cookie or Accept-Language.

Strings live in ``strings/*.toml`` (one file per area: ``common``, ``desk``, ``wallboard``,
``admin`` …), each key a table ``{ "zh-CN" = "…", en = "…" }``. A key defined twice, or missing
a language, is an error at import time, so an untranslated string cannot ship.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from starlette.requests import Request

LANGS = ("zh-CN", "en")
STRINGS_DIR = Path(__file__).with_name("strings")


def load_strings(
    folder: Path = STRINGS_DIR, areas: dict[str, tuple[str, ...]] | None = None
) -> dict[str, dict[str, str]]:
    """Every key of every ``*.toml`` file in ``folder`` (keys are unique across files); ``areas``,
    when given, receives the keys of each file by its stem (``desk`` → the keys of desk.toml)."""
    out: dict[str, dict[str, str]] = {}
    origin: dict[str, str] = {}
    for path in sorted(folder.glob("*.toml")):
        with path.open("rb") as f:
            table = tomllib.load(f)
        for key, texts in table.items():
            if key in out:
                raise ValueError(f"{path.name}: string {key!r} is already defined in {origin[key]}")
            if not isinstance(texts, dict) or set(texts) != set(LANGS):
                raise ValueError(f"{path.name}: string {key!r} needs exactly the languages {LANGS}")
            if not all(isinstance(v, str) and v for v in texts.values()):
                raise ValueError(f"{path.name}: string {key!r} has an empty or non-text translation")
            out[key] = texts
            origin[key] = path.name
        if areas is not None:
            areas[path.stem] = tuple(table)
    return out


_AREAS: dict[str, tuple[str, ...]] = {}
STRINGS: dict[str, dict[str, str]] = load_strings(areas=_AREAS)


def area_keys(*areas: str) -> tuple[str, ...]:
    """The keys defined in ``strings/<area>.toml`` for each area, in file order."""
    return tuple(key for area in areas for key in _AREAS[area])


def pick_lang(request: Request) -> str:
    cookie = request.cookies.get("lang")
    if cookie in LANGS:
        return cookie
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else "zh-CN"


def translator(lang: str) -> dict[str, str]:
    return {key: texts[lang] for key, texts in STRINGS.items()}
