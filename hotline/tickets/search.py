"""Full-text tokens of work orders — pure.

A ticket's ``search`` column holds the distinct tokens of its subject and description, sorted and
wrapped in spaces (``" a b c "``); a query matches when each of its tokens occurs as
``search LIKE '% tok %'`` (the same on SQLite and PostgreSQL, no extension needed).

Tokens (after NFKC normalisation, so full-width letters and digits count as ASCII):

- runs of ASCII letters, lower-cased, and runs of digits, each a token of its own
  (``"GD20261123"`` → ``gd``, ``20261123``);
- runs of CJK characters (ideographs, kana, hangul) give their overlapping character bigrams
  (``"停电报修"`` → ``停电``, ``电报``, ``报修``); a run of one character gives that character.

So any CJK substring of two or more characters of a text, and any whole ASCII word or number of
it, finds the text; a single CJK character finds only texts where it stands alone.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_CJK = (
    "\u3040-\u30ff"  # hiragana, katakana
    "\u3400-\u4dbf"  # CJK extension A
    "\u4e00-\u9fff"  # CJK unified ideographs
    "\uac00-\ud7af"  # hangul syllables
    "\uf900-\ufaff"  # compatibility ideographs
    "\U00020000-\U0002ffff"  # extensions B-F
)
_TOKEN = re.compile(rf"[a-z]+|[0-9]+|[{_CJK}]+")
_CJK_RUN = re.compile(rf"[{_CJK}]+")
#: the longest token kept (longer ASCII runs are cut: they are never typed as queries)
MAX_TOKEN = 40


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def tokens(text: str) -> list[str]:
    """The tokens of ``text`` in order of appearance (repeats kept)."""
    out: list[str] = []
    for m in _TOKEN.finditer(normalize(text)):
        run = m.group()
        if _CJK_RUN.fullmatch(run):
            if len(run) == 1:
                out.append(run)
            else:
                out.extend(run[i : i + 2] for i in range(len(run) - 1))
        else:
            out.append(run[:MAX_TOKEN])
    return out


def document(*texts: str) -> str:
    """The ``search`` column for ``texts``: distinct tokens, sorted, wrapped in spaces."""
    words = sorted({t for text in texts for t in tokens(text)})
    return f" {' '.join(words)} " if words else ""


def query_tokens(q: str) -> list[str]:
    """The distinct tokens a query needs, in order of appearance (at most 16)."""
    return list(dict.fromkeys(tokens(q)))[:16]


def matches(doc: str, q: str) -> bool:
    """Whether a ``search`` column value matches the query (what the SQL LIKEs compute)."""
    want = query_tokens(q)
    return bool(want) and all(f" {t} " in doc for t in want)


def like_patterns(q: str) -> Iterable[str]:
    """The LIKE patterns of a query, one per token."""
    return [f"% {t} %" for t in query_tokens(q)]
