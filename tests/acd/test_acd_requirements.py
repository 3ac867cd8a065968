"""Requirement expression parser: examples, precise errors, and hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.acd.errors import RequirementSyntaxError
from hotline.acd.requirements import (
    And,
    Not,
    Or,
    Requirement,
    Skill,
    mandatory_skills,
    parse_requirement,
    skill_names,
)


def test_issue_example() -> None:
    req = parse_requirement("billing>=3 AND (mandarin OR cantonese) AND NOT trainee")
    assert req == And((Skill("billing", 3), Or((Skill("mandarin"), Skill("cantonese"))), Not("trainee")))
    assert str(req) == "billing>=3 AND (mandarin OR cantonese) AND NOT trainee"
    assert req.matches({"billing": 3, "cantonese": 1})
    assert not req.matches({"billing": 2, "cantonese": 1})
    assert not req.matches({"billing": 5, "mandarin": 9, "trainee": 1})
    assert not req.matches({"billing": 5})
    assert mandatory_skills(req) == {"billing"}


def test_precedence_and_binds_tighter() -> None:
    assert parse_requirement("a OR b AND c") == Or((Skill("a"), And((Skill("b"), Skill("c")))))


def test_keywords_case_insensitive_and_flattening() -> None:
    assert parse_requirement("a and (b and c)") == And((Skill("a"), Skill("b"), Skill("c")))
    assert parse_requirement("x>=1") == Skill("x", 1)
    assert str(parse_requirement("x >= 1")) == "x"


def test_not_after_or() -> None:
    req = parse_requirement("a OR NOT b")
    assert req.matches({}) and req.matches({"a": 1, "b": 1}) and not req.matches({"b": 2})


@pytest.mark.parametrize(
    ("text", "pos", "fragment"),
    [
        ("", 0, "empty requirement"),
        ("NOT a", 0, "only allowed directly after AND or OR"),
        ("a AND (NOT b)", 7, "only allowed directly after AND or OR"),
        ("a AND NOT b>=2", 11, "cannot be combined with a level"),
        ("a AND NOT (b OR c)", 10, "single skill"),
        ("a AND", 5, "unexpected end"),
        ("a >= 10", 5, "out of range 1-9"),
        ("a>=0", 3, "out of range 1-9"),
        ("a > 3", 2, "only '>=' "),
        ("a = 3", 2, "only '>=' "),
        ("a 3", 2, "expected '>='"),
        ("a >= b", 5, "expected a level"),
        ("(a", 2, "expected ')' to close '(' at position 0"),
        ("a)", 1, "unbalanced ')'"),
        ("()", 1, "empty parentheses"),
        ("a b", 2, "expected AND, OR or end"),
        ("a AND OR b", 6, "got keyword OR"),
        ("a & b", 2, "unexpected character '&'"),
        ("3", 0, "got number 3"),
    ],
)
def test_errors_have_position_and_reason(text: str, pos: int, fragment: str) -> None:
    with pytest.raises(RequirementSyntaxError) as ei:
        parse_requirement(text)
    assert ei.value.position == pos, str(ei.value)
    assert fragment in ei.value.reason
    assert f"position {pos}" in str(ei.value)


def test_non_string_rejected() -> None:
    with pytest.raises(TypeError):
        parse_requirement(3)  # type: ignore[arg-type]


# --------------------------------------------------------------- hypothesis

SKILLS = ["a", "b", "c", "d", "billing", "x_1", "es-mx", "lvl.2"]
names = st.sampled_from(SKILLS)
atoms: st.SearchStrategy[Requirement] = st.builds(Skill, names, st.integers(1, 9))


def _compound(children: st.SearchStrategy[Requirement]) -> st.SearchStrategy[Requirement]:
    def build(cls: type[And] | type[Or], first: Requirement, rest: list[Requirement]) -> Requirement:
        items: list[Requirement] = []
        for it in [first, *rest]:
            if isinstance(it, cls):  # canonical: no directly nested same operator
                items.extend(it.items)
            else:
                items.append(it)
        return cls(tuple(items))

    rest_item = st.one_of(children, st.builds(Not, names))
    return st.builds(
        build,
        st.sampled_from([And, Or]),
        children,
        st.lists(rest_item, min_size=1, max_size=3),
    )


requirements = st.recursive(atoms, _compound, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(requirements)
def test_roundtrip_canonical_text(req: Requirement) -> None:
    text = str(req)
    assert parse_requirement(text) == req
    assert str(parse_requirement(text)) == text


def _reference(req: Requirement, levels: dict[str, int]) -> bool:
    if isinstance(req, Skill):
        return levels.get(req.name, 0) >= req.level
    if isinstance(req, Not):
        return req.name not in levels
    vals = [_reference(i, levels) for i in req.items]
    return all(vals) if isinstance(req, And) else any(vals)


@settings(max_examples=300, deadline=None)
@given(requirements, st.dictionaries(names, st.integers(1, 9)))
def test_matches_agrees_with_reference(req: Requirement, levels: dict[str, int]) -> None:
    assert req.matches(levels) == _reference(req, levels)
    mand = mandatory_skills(req)
    assert mand <= skill_names(req)
    if req.matches(levels):
        assert mand <= set(levels)  # index soundness: matching agents have every mandatory skill


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="abNOTANDR ()>=0123456789\t&", max_size=30))
def test_random_text_parses_or_raises_precisely(text: str) -> None:
    try:
        req = parse_requirement(text)
    except RequirementSyntaxError as e:
        assert 0 <= e.position <= len(text)
        assert e.reason
    else:
        assert parse_requirement(str(req)) == req


@settings(max_examples=200, deadline=None)
@given(requirements, st.sampled_from([" ", "  ", "\t"]))
def test_whitespace_and_case_insensitive(req: Requirement, ws: str) -> None:
    text = (
        str(req).replace(" AND ", f"{ws}and{ws}").replace(" OR ", f"{ws}Or{ws}").replace("NOT ", f"not{ws}")
    )
    assert parse_requirement(text) == req
