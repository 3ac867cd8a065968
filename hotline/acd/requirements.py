"""Requirement expressions over agent skills.

Grammar (keywords are case-insensitive, skill names are case-sensitive)::

    expr    := term ( "OR" term )*
    term    := factor ( "AND" factor )*
    factor  := skill [ ">=" LEVEL ]          LEVEL is an integer 1..9, default 1
             | "(" expr ")"
             | "NOT" skill                   only directly after AND / OR, never with a level
    skill   := [A-Za-z_][A-Za-z0-9_.-]*      not a keyword

Examples: ``billing>=3 AND (mandarin OR cantonese) AND NOT trainee``.

``AND`` binds tighter than ``OR``.  A skill *matches* an agent when the agent has it
(not excluded) at a level >= the minimum; ``NOT s`` matches when the agent does not
have ``s`` (or has it excluded).  Parsed expressions are immutable, hashable, and have
a canonical text form (``str(req)``) which parses back to an equal value.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Union

from hotline.acd.errors import RequirementSyntaxError

MIN_LEVEL = 1
MAX_LEVEL = 9
KEYWORDS = frozenset({"AND", "OR", "NOT"})
SKILL_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


@dataclass(frozen=True, slots=True)
class Skill:
    """``name>=level``: the agent has skill ``name`` at least at ``level``."""

    name: str
    level: int = MIN_LEVEL

    def matches(self, levels: Mapping[str, int]) -> bool:
        return levels.get(self.name, 0) >= self.level

    def __str__(self) -> str:
        return self.name if self.level == MIN_LEVEL else f"{self.name}>={self.level}"


@dataclass(frozen=True, slots=True)
class Not:
    """``NOT name``: the agent does not have skill ``name``."""

    name: str

    def matches(self, levels: Mapping[str, int]) -> bool:
        return self.name not in levels

    def __str__(self) -> str:
        return f"NOT {self.name}"


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Requirement, ...]

    def matches(self, levels: Mapping[str, int]) -> bool:
        return all(item.matches(levels) for item in self.items)

    def __str__(self) -> str:
        return " AND ".join(_wrap(item) for item in self.items)


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Requirement, ...]

    def matches(self, levels: Mapping[str, int]) -> bool:
        return any(item.matches(levels) for item in self.items)

    def __str__(self) -> str:
        return " OR ".join(_wrap(item) for item in self.items)


Requirement = Union[Skill, Not, And, Or]  # noqa: UP007 - used at runtime in isinstance checks


def _wrap(item: Requirement) -> str:
    return f"({item})" if isinstance(item, And | Or) else str(item)


def skills_of(req: Requirement) -> Iterator[Skill | Not]:
    """All skill atoms of ``req`` (positive and negated), left to right."""
    if isinstance(req, Skill | Not):
        yield req
    else:
        for item in req.items:
            yield from skills_of(item)


def skill_names(req: Requirement) -> frozenset[str]:
    return frozenset(atom.name for atom in skills_of(req))


def positive_skills(req: Requirement) -> tuple[Skill, ...]:
    """Positive skill atoms (used for scoring)."""
    return tuple(atom for atom in skills_of(req) if isinstance(atom, Skill))


def mandatory_skills(req: Requirement) -> frozenset[str]:
    """Skills every matching agent must have (used to pick a small candidate index)."""
    if isinstance(req, Skill):
        return frozenset({req.name})
    if isinstance(req, And):
        out: set[str] = set()
        for item in req.items:
            out |= mandatory_skills(item)
        return frozenset(out)
    if isinstance(req, Or):
        sets = [mandatory_skills(item) for item in req.items]
        return frozenset.intersection(*sets)
    return frozenset()


# --------------------------------------------------------------------------- parser

_TOKEN_RE = re.compile(
    r"(?P<ws>\s+)|(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)|(?P<num>[0-9]+)|(?P<op>>=|<=|==|!=|=|>|<)|(?P<lp>\()|(?P<rp>\))"
)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # name, kw, num, op, lp, rp, end
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise RequirementSyntaxError(text, pos, f"unexpected character {text[pos]!r}")
        kind = m.lastgroup
        assert kind is not None
        if kind != "ws":
            value = m.group()
            if kind == "name" and value.upper() in KEYWORDS:
                toks.append(_Tok("kw", value.upper(), pos))
            else:
                toks.append(_Tok(kind, value, pos))
        pos = m.end()
    toks.append(_Tok("end", "", len(text)))
    return toks


def _describe(tok: _Tok) -> str:
    if tok.kind == "end":
        return "end of expression"
    return repr(tok.text)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def error(self, reason: str, tok: _Tok | None = None) -> RequirementSyntaxError:
        return RequirementSyntaxError(self.text, (tok or self.tok).pos, reason)

    def parse(self) -> Requirement:
        if self.tok.kind == "end":
            raise self.error("empty requirement")
        req = self.expr()
        if self.tok.kind != "end":
            if self.tok.kind in ("name", "lp"):
                raise self.error(f"expected AND, OR or end of expression before {_describe(self.tok)}")
            if self.tok.kind == "rp":
                raise self.error("unbalanced ')'")
            raise self.error(f"unexpected {_describe(self.tok)}")
        return req

    def expr(self) -> Requirement:
        items = [self.term(after_op=False)]
        while self.tok.kind == "kw" and self.tok.text == "OR":
            self.i += 1
            items.append(self.term(after_op=True))
        return _join(Or, items)

    def term(self, after_op: bool) -> Requirement:
        items = [self.factor(after_op)]
        while self.tok.kind == "kw" and self.tok.text == "AND":
            self.i += 1
            items.append(self.factor(after_op=True))
        return _join(And, items)

    def factor(self, after_op: bool) -> Requirement:
        tok = self.tok
        if tok.kind == "kw" and tok.text == "NOT":
            if not after_op:
                raise self.error(
                    "NOT is only allowed directly after AND or OR (a requirement cannot be purely negative)"
                )
            self.i += 1
            name_tok = self.tok
            if name_tok.kind == "lp":
                raise self.error("NOT applies to a single skill, not to a parenthesised group")
            if name_tok.kind != "name":
                raise self.error(f"expected a skill name after NOT, got {_describe(name_tok)}")
            self.i += 1
            if self.tok.kind == "op":
                raise self.error("NOT cannot be combined with a level (use 'NOT skill')")
            return Not(name_tok.text)
        if tok.kind == "lp":
            self.i += 1
            if self.tok.kind == "rp":
                raise self.error("empty parentheses")
            inner = self.expr()
            if self.tok.kind != "rp":
                raise self.error(
                    f"expected ')' to close '(' at position {tok.pos}, got {_describe(self.tok)}"
                )
            self.i += 1
            return inner
        if tok.kind == "name":
            self.i += 1
            if self.tok.kind == "op":
                op = self.tok
                if op.text != ">=":
                    raise self.error(
                        f"unsupported operator {op.text!r}: only '>=' (minimum level) is allowed"
                    )
                self.i += 1
                num = self.tok
                if num.kind != "num":
                    raise self.error(
                        f"expected a level {MIN_LEVEL}-{MAX_LEVEL} after '>=', got {_describe(num)}"
                    )
                level = int(num.text)
                if not MIN_LEVEL <= level <= MAX_LEVEL:
                    raise self.error(f"level {num.text} out of range {MIN_LEVEL}-{MAX_LEVEL}")
                self.i += 1
                return Skill(tok.text, level)
            if self.tok.kind == "num":
                raise self.error("expected '>=' between skill name and level")
            return Skill(tok.text, MIN_LEVEL)
        if tok.kind == "kw":
            raise self.error(f"expected a skill name or '(', got keyword {tok.text}")
        if tok.kind == "num":
            raise self.error(f"expected a skill name, got number {tok.text}")
        if tok.kind == "rp":
            raise self.error("unexpected ')'")
        if tok.kind == "end":
            raise self.error("unexpected end of expression: expected a skill name or '('")
        raise self.error(f"unexpected {_describe(tok)}")


def _join(cls: type[And] | type[Or], items: list[Requirement]) -> Requirement:
    if len(items) == 1:
        return items[0]
    flat: list[Requirement] = []
    for item in items:
        if isinstance(item, cls):
            flat.extend(item.items)
        else:
            flat.append(item)
    return cls(tuple(flat))


def parse_requirement(text: str) -> Requirement:
    """Parse ``text``; raise :class:`RequirementSyntaxError` (with position) if invalid."""
    if not isinstance(text, str):
        raise TypeError(f"requirement must be a str, not {type(text).__name__}")
    return _Parser(text).parse()
