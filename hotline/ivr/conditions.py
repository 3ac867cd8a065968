"""The safe condition language of ``condition`` nodes (parsed, never ``eval``-ed).

Grammar (keywords are case-insensitive)::

    expr    := conj ( "or" conj )*
    conj    := neg ( "and" neg )*
    neg     := "not" neg | test
    test    := operand [ OP operand | ["not"] "in" operand | "startswith" operand | "matches" STRING ]
    OP      := "==" | "!=" | "<" | "<=" | ">" | ">="
    operand := NUMBER | STRING | "true" | "false" | "null" | NAME | "[" [operand ("," operand)*] "]"
             | "(" expr ")"
    NAME    := [A-Za-z_][A-Za-z0-9_]* ( "." [A-Za-z0-9_]+ )*

Strings are 'single' or "double" quoted (backslash escapes the next character). Variables
are looked up by their full dotted name first (``calendar.open``), then by walking nested
mappings (``customer.vip`` in ``{"customer": {"vip": true}}``); missing variables are null.

Values are of four kinds: null, boolean, number and string. ``==`` between different kinds
is false (``!=`` true); ``<`` ``<=`` ``>`` ``>=`` between different kinds, or on null or
booleans, are false. ``x in [..]`` is list membership (``x in s`` for a string ``s`` is
substring); ``s startswith p`` and ``s matches 're'`` (``re.search``) need strings. A bare
operand is true when truthy. Evaluation never raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hotline.errors import HotlineError

_Eval = Callable[[Mapping[str, Any]], Any]


class ConditionSyntaxError(HotlineError):
    """A condition could not be parsed; ``column`` is 1-based."""

    status = 422
    title = "Invalid condition"

    def __init__(self, text: str, column: int, reason: str) -> None:
        super().__init__(f"column {column}: {reason}")
        self.text = text
        self.column = column
        self.reason = reason


@dataclass(frozen=True)
class Condition:
    """A parsed condition: ``evaluate(variables) -> bool``."""

    text: str
    variables: frozenset[str]
    _fn: _Eval = field(repr=False, compare=False)

    def evaluate(self, variables: Mapping[str, Any]) -> bool:
        try:
            return _truthy(self._fn(variables))
        except Exception:  # defensive: evaluation is documented never to raise
            return False


def lookup(variables: Mapping[str, Any], name: str) -> Any:
    """The value of a (possibly dotted) variable; missing → None."""
    if name in variables:
        return variables[name]
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:i])
        if head in variables:
            value: Any = variables[head]
            for part in parts[i:]:
                if isinstance(value, Mapping) and part in value:
                    value = value[part]
                else:
                    return None
            return value
    return None


# -- tokens -----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<op>==|!=|<=|>=|<|>)
  | (?P<punct>[()\[\],])
  | (?P<quote>['"])
    """,
    re.VERBOSE,
)
MAX_DEPTH = 32
_KEYWORDS = {"and", "or", "not", "in", "startswith", "matches", "true", "false", "null"}


@dataclass(frozen=True)
class _Tok:
    kind: str  # number, string, name, keyword, op, punct, end
    value: Any
    pos: int  # 0-based


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    n = len(text)
    while i < n:
        m = _TOKEN.match(text, i)
        if m is None:
            raise ConditionSyntaxError(text, i + 1, f"unexpected character {text[i]!r}")
        kind = m.lastgroup
        if kind == "ws":
            i = m.end()
        elif kind == "number":
            raw = m.group()
            toks.append(_Tok("number", float(raw) if "." in raw else int(raw), i))
            i = m.end()
        elif kind == "name":
            word = m.group()
            if word.lower() in _KEYWORDS:
                toks.append(_Tok("keyword", word.lower(), i))
            else:
                toks.append(_Tok("name", word, i))
            i = m.end()
        elif kind == "quote":
            quote = m.group()
            j = i + 1
            chars: list[str] = []
            while True:
                if j >= n:
                    raise ConditionSyntaxError(text, i + 1, "unterminated string")
                c = text[j]
                if c == "\\" and j + 1 < n:
                    chars.append(text[j + 1])
                    j += 2
                elif c == quote:
                    j += 1
                    break
                else:
                    chars.append(c)
                    j += 1
            toks.append(_Tok("string", "".join(chars), i))
            i = j
        else:
            toks.append(_Tok(kind or "?", m.group(), i))
            i = m.end()
    toks.append(_Tok("end", None, n))
    return toks


def _describe(tok: _Tok) -> str:
    if tok.kind == "end":
        return "end of condition"
    if tok.kind == "string":
        return f"string {tok.value!r}"
    return repr(str(tok.value))


# -- values -----------------------------------------------------------------------------------


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple):
        return "list"
    return "other"


def _truthy(v: Any) -> bool:
    try:
        return bool(v)
    except Exception:
        return False


def _equal(a: Any, b: Any) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka != kb or ka == "other":
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


def _order(op: str, a: Any, b: Any) -> bool:
    ka = _kind(a)
    if ka != _kind(b) or ka not in ("number", "string"):
        return False
    if op == "<":
        return bool(a < b)
    if op == "<=":
        return bool(a <= b)
    if op == ">":
        return bool(a > b)
    return bool(a >= b)


def _contains(item: Any, container: Any) -> bool:
    if isinstance(container, list | tuple):
        return any(_equal(item, x) for x in container)
    if isinstance(container, str) and isinstance(item, str):
        return item in container
    return False


# -- parser -----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.names: set[str] = set()
        self.depth = 0

    def nest(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"nested more than {MAX_DEPTH} levels deep")

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def error(self, reason: str, tok: _Tok | None = None) -> ConditionSyntaxError:
        t = tok or self.tok
        return ConditionSyntaxError(self.text, t.pos + 1, reason)

    def take(self) -> _Tok:
        t = self.toks[self.i]
        if t.kind != "end":
            self.i += 1
        return t

    def at(self, kind: str, value: Any = None) -> bool:
        t = self.tok
        return t.kind == kind and (value is None or t.value == value)

    def expect(self, kind: str, value: Any) -> _Tok:
        if not self.at(kind, value):
            raise self.error(f"expected {value!r}, found {_describe(self.tok)}")
        return self.take()

    def parse(self) -> _Eval:
        if self.at("end"):
            raise self.error("empty condition")
        fn = self.expr()
        if not self.at("end"):
            raise self.error(f"unexpected {_describe(self.tok)}")
        return fn

    def expr(self) -> _Eval:
        items = [self.conj()]
        while self.at("keyword", "or"):
            self.take()
            items.append(self.conj())
        if len(items) == 1:
            return items[0]
        parts = tuple(items)
        return lambda v: any(_truthy(p(v)) for p in parts)

    def conj(self) -> _Eval:
        items = [self.neg()]
        while self.at("keyword", "and"):
            self.take()
            items.append(self.neg())
        if len(items) == 1:
            return items[0]
        parts = tuple(items)
        return lambda v: all(_truthy(p(v)) for p in parts)

    def neg(self) -> _Eval:
        if self.at("keyword", "not"):
            self.take()
            self.nest()
            inner = self.neg()
            self.depth -= 1
            return lambda v: not _truthy(inner(v))
        return self.test()

    def test(self) -> _Eval:
        left = self.operand()
        t = self.tok
        if t.kind == "op":
            self.take()
            right = self.operand()
            op = str(t.value)
            if op == "==":
                return lambda v: _equal(left(v), right(v))
            if op == "!=":
                return lambda v: not _equal(left(v), right(v))
            return lambda v: _order(op, left(v), right(v))
        if t.kind == "keyword" and t.value in ("in", "not"):
            negate = False
            if t.value == "not":
                # only "not in" may follow an operand
                if not (self.toks[self.i + 1].kind == "keyword" and self.toks[self.i + 1].value == "in"):
                    raise self.error(f"unexpected {_describe(t)}")
                self.take()
                negate = True
            self.take()
            right = self.operand()
            if negate:
                return lambda v: not _contains(left(v), right(v))
            return lambda v: _contains(left(v), right(v))
        if t.kind == "keyword" and t.value == "startswith":
            self.take()
            right = self.operand()

            def starts(v: Mapping[str, Any]) -> bool:
                a, b = left(v), right(v)
                return isinstance(a, str) and isinstance(b, str) and a.startswith(b)

            return starts
        if t.kind == "keyword" and t.value == "matches":
            self.take()
            pat = self.tok
            if pat.kind != "string":
                raise self.error(f"'matches' needs a quoted regular expression, found {_describe(pat)}")
            self.take()
            try:
                rx = re.compile(str(pat.value))
            except re.error as exc:
                raise self.error(f"invalid regular expression: {exc}", pat) from None

            def match(v: Mapping[str, Any]) -> bool:
                a = left(v)
                return isinstance(a, str) and rx.search(a) is not None

            return match
        return left

    def operand(self) -> _Eval:
        t = self.tok
        if t.kind in ("number", "string"):
            self.take()
            value = t.value
            return lambda v: value
        if t.kind == "keyword" and t.value in ("true", "false", "null"):
            self.take()
            const = {"true": True, "false": False, "null": None}[str(t.value)]
            return lambda v: const
        if t.kind == "name":
            self.take()
            name = str(t.value)
            self.names.add(name)
            return lambda v: lookup(v, name)
        if t.kind == "punct" and t.value == "(":
            self.take()
            self.nest()
            inner = self.expr()
            self.expect("punct", ")")
            self.depth -= 1
            return inner
        if t.kind == "punct" and t.value == "[":
            self.take()
            self.nest()
            items: list[_Eval] = []
            if not self.at("punct", "]"):
                items.append(self.operand())
                while self.at("punct", ","):
                    self.take()
                    items.append(self.operand())
            self.expect("punct", "]")
            self.depth -= 1
            parts = tuple(items)
            return lambda v: [p(v) for p in parts]
        raise self.error(f"expected a value, found {_describe(t)}")


def parse_condition(text: str) -> Condition:
    """Parse a condition; raises :class:`ConditionSyntaxError` (with a 1-based column)."""
    if not isinstance(text, str):
        raise ConditionSyntaxError(str(text), 1, "a condition must be text")
    p = _Parser(text)
    fn = p.parse()
    return Condition(text, frozenset(p.names), fn)
