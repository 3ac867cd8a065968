"""A tiny, safe condition language for routing rules (no ``eval``).

Grammar (keywords ``and``/``or``/``not``/``true``/``false``/``null`` are case-insensitive)::

    cond    := conj ( "or" conj )*
    conj    := neg ( "and" neg )*
    neg     := "not" neg | cmp
    cmp     := operand [ ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) operand ]
    operand := NUMBER | STRING | "true" | "false" | "null"
             | VARIABLE | "data." KEY | FUNCTION "(" QUEUE ")" | "(" cond ")"

Variables (about the task being routed and its current queue):
``wait`` (seconds this task has waited in the queue), ``total_wait`` (seconds since it
first queued), ``waiting`` (tasks waiting in the queue), ``priority``, ``media``,
``queue``, ``available``/``busy``/``not_ready``/``logged_in`` (agents of the queue),
``longest_wait`` (seconds, queue).  ``data.key`` reads call-associated data (missing
keys are ``null``).  Functions take a queue id: ``available(q)``, ``busy(q)``,
``not_ready(q)``, ``logged_in(q)``, ``waiting(q)``, ``longest_wait(q)``.

Example: ``waiting > 25 and available(group2) >= 4``; ``data.vip == true``.

Comparisons between values of different kinds are false (``"a" < 3`` is false); a
bare operand is true when it is truthy.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from hotline.acd.errors import ConditionSyntaxError

Value = float | int | str | bool | None

VARIABLES = frozenset(
    {
        "wait",
        "total_wait",
        "waiting",
        "priority",
        "media",
        "queue",
        "available",
        "busy",
        "not_ready",
        "logged_in",
        "longest_wait",
    }
)
FUNCTIONS = frozenset({"available", "busy", "not_ready", "logged_in", "waiting", "longest_wait"})


class ConditionContext(Protocol):
    """What a condition can look at; the engine provides it."""

    def variable(self, name: str) -> Value: ...

    def data(self, key: str) -> Value: ...

    def function(self, name: str, queue_id: str) -> Value: ...


_Eval = Callable[[ConditionContext], Value]


@dataclass(frozen=True)
class Condition:
    """A parsed condition; call :meth:`evaluate` with a :class:`ConditionContext`."""

    text: str
    queues: frozenset[str]
    variables: frozenset[str]
    _fn: _Eval = field(repr=False, compare=False)

    def evaluate(self, ctx: ConditionContext) -> bool:
        return bool(self._fn(ctx))

    @property
    def uses_task(self) -> bool:
        """True when the value depends on the individual task (not only on the queue)."""
        return bool(self.variables & {"wait", "total_wait", "priority", "media", "data"})

    def __str__(self) -> str:
        return self.text


_TOKEN_RE = re.compile(
    r"""(?P<ws>\s+)
      |(?P<num>[0-9]+(?:\.[0-9]+)?)
      |(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      |(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)*)
      |(?P<op>==|!=|<=|>=|<|>)
      |(?P<lp>\()|(?P<rp>\))|(?P<comma>,)""",
    re.VERBOSE,
)
_KEYWORDS = frozenset({"and", "or", "not", "true", "false", "null"})


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            ch = text[pos]
            reason = f"unexpected character {ch!r}"
            if ch == "=":
                reason += " (use '==' for equality)"
            elif ch in "\"'":
                reason = "unterminated string"
            raise ConditionSyntaxError(text, pos, reason)
        kind = m.lastgroup
        assert kind is not None
        if kind != "ws":
            value = m.group()
            if kind == "name" and value.lower() in _KEYWORDS:
                out.append(_Tok("kw", value.lower(), pos))
            else:
                out.append(_Tok(kind, value, pos))
        pos = m.end()
    out.append(_Tok("end", "", len(text)))
    return out


def _cmp(op: str, a: Value, b: Value) -> bool:
    if op == "==":
        return _same_kind(a, b) and a == b
    if op == "!=":
        return not (_same_kind(a, b) and a == b)
    if not _same_kind(a, b) or a is None or isinstance(a, bool):
        return False
    if op == "<":
        return a < b  # type: ignore[operator]
    if op == "<=":
        return a <= b  # type: ignore[operator]
    if op == ">":
        return a > b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]


def _same_kind(a: Value, b: Value) -> bool:
    def kind(v: Value) -> str:
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int | float):
            return "num"
        return "str"

    return kind(a) == kind(b)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.queues: set[str] = set()
        self.variables: set[str] = set()

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def err(self, reason: str, tok: _Tok | None = None) -> ConditionSyntaxError:
        return ConditionSyntaxError(self.text, (tok or self.tok).pos, reason)

    def describe(self, tok: _Tok) -> str:
        return "end of condition" if tok.kind == "end" else repr(tok.text)

    def parse(self) -> _Eval:
        if self.tok.kind == "end":
            raise self.err("empty condition")
        fn = self.disj()
        if self.tok.kind != "end":
            if self.tok.kind == "rp":
                raise self.err("unbalanced ')'")
            raise self.err(f"expected 'and', 'or' or end of condition, got {self.describe(self.tok)}")
        return fn

    def is_kw(self, word: str) -> bool:
        return self.tok.kind == "kw" and self.tok.text == word

    def disj(self) -> _Eval:
        parts = [self.conj()]
        while self.is_kw("or"):
            self.i += 1
            parts.append(self.conj())
        if len(parts) == 1:
            return parts[0]
        fns = tuple(parts)
        return lambda ctx: any(bool(f(ctx)) for f in fns)

    def conj(self) -> _Eval:
        parts = [self.neg()]
        while self.is_kw("and"):
            self.i += 1
            parts.append(self.neg())
        if len(parts) == 1:
            return parts[0]
        fns = tuple(parts)
        return lambda ctx: all(bool(f(ctx)) for f in fns)

    def neg(self) -> _Eval:
        if self.is_kw("not"):
            self.i += 1
            inner = self.neg()
            return lambda ctx: not inner(ctx)
        return self.cmp()

    def cmp(self) -> _Eval:
        left = self.operand()
        if self.tok.kind == "op":
            op = self.tok.text
            self.i += 1
            right = self.operand()
            return lambda ctx: _cmp(op, left(ctx), right(ctx))
        return left

    def operand(self) -> _Eval:
        tok = self.tok
        if tok.kind == "num":
            self.i += 1
            num: float | int = float(tok.text) if "." in tok.text else int(tok.text)
            return lambda ctx: num
        if tok.kind == "str":
            self.i += 1
            s = _unquote(tok.text)
            return lambda ctx: s
        if tok.kind == "kw":
            if tok.text in ("true", "false", "null"):
                self.i += 1
                const: Value = {"true": True, "false": False, "null": None}[tok.text]
                return lambda ctx: const
            raise self.err(f"expected a value, got keyword {tok.text!r}")
        if tok.kind == "lp":
            self.i += 1
            inner = self.disj()
            if self.tok.kind != "rp":
                raise self.err(
                    f"expected ')' to close '(' at position {tok.pos}, got {self.describe(self.tok)}"
                )
            self.i += 1
            return inner
        if tok.kind == "name":
            self.i += 1
            name = tok.text
            if self.tok.kind == "lp":
                return self.call(tok)
            if name.startswith("data."):
                key = name[5:]
                self.variables.add("data")
                return lambda ctx: ctx.data(key)
            if "." in name:
                raise self.err(f"unknown name {name!r} (only data.<key> may contain dots)", tok)
            if name not in VARIABLES:
                known = ", ".join(sorted(VARIABLES))
                raise self.err(f"unknown variable {name!r}; known: {known}, data.<key>", tok)
            self.variables.add(name)
            return lambda ctx: ctx.variable(name)
        if tok.kind == "end":
            raise self.err("unexpected end of condition: expected a value")
        if tok.kind == "op":
            raise self.err(f"expected a value before operator {tok.text!r}")
        raise self.err(f"unexpected {self.describe(tok)}")

    def call(self, name_tok: _Tok) -> _Eval:
        fname = name_tok.text
        if fname not in FUNCTIONS:
            raise self.err(f"unknown function {fname!r}; known: {', '.join(sorted(FUNCTIONS))}", name_tok)
        self.i += 1  # '('
        arg = self.tok
        if arg.kind == "name" and "." not in arg.text:
            queue_id = arg.text
        elif arg.kind == "str":
            queue_id = _unquote(arg.text)
        else:
            raise self.err(f"{fname}() takes one queue id, got {self.describe(arg)}")
        self.i += 1
        if self.tok.kind != "rp":
            raise self.err(
                f"{fname}() takes exactly one queue id; expected ')', got {self.describe(self.tok)}"
            )
        self.i += 1
        self.queues.add(queue_id)
        return lambda ctx: ctx.function(fname, queue_id)


def _unquote(s: str) -> str:
    body = s[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def parse_condition(text: str) -> Condition:
    """Parse ``text`` into a :class:`Condition`; raise :class:`ConditionSyntaxError` if invalid."""
    if not isinstance(text, str):
        raise TypeError(f"condition must be a str, not {type(text).__name__}")
    p = _Parser(text)
    fn = p.parse()
    return Condition(text=text, queues=frozenset(p.queues), variables=frozenset(p.variables), _fn=fn)
