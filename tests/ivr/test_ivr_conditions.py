"""The condition language: parsing, evaluation, errors with columns, and a property test."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.ivr import ConditionSyntaxError, parse_condition
from hotline.ivr.template import substitute, substitute_value

VARS: dict[str, Any] = {
    "account": "1234567890",
    "tries": 2,
    "calendar.open": True,
    "customer": {"vip": True, "level": 3},
    "menu_choice": "1",
    "empty": "",
    "score": 2.5,
}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("account != '' and tries < 3", True),
        ("tries >= 3", False),
        ("calendar.open", True),
        ("not calendar.open", False),
        ("customer.vip == true and customer.level > 2", True),
        ("customer.missing == null", True),
        ("nothing == null", True),
        ("nothing", False),
        ("menu_choice in ['1', '2']", True),
        ("menu_choice not in ['1', '2']", False),
        ("tries in [1, 2, 3]", True),
        ("'23' in account", True),
        ("account startswith '123'", True),
        ("account startswith 123", False),
        ("account matches '^[0-9]{10}$'", True),
        ("account matches '^9'", False),
        ("menu_choice == 1", False),  # different kinds are never equal
        ("menu_choice != 1", True),
        ("menu_choice < 2", False),  # different kinds do not order
        ("nothing < 1", False),
        ("true > false", False),
        ("score > 2 and score < 3.0", True),
        ("tries == -1 or (tries == 2 and not (empty != ''))", True),
        ('account == "1234567890"', True),
        ("'it\\'s' == \"it's\"", True),
        ("TRUE and Tries", False),  # keywords are case-insensitive; variable names are not
    ],
)
def test_evaluate(text: str, expected: bool) -> None:
    assert parse_condition(text).evaluate(VARS) is expected


def test_variables_are_reported() -> None:
    cond = parse_condition("a == 1 or (b.c in [d, 'x'])")
    assert cond.variables == frozenset({"a", "b.c", "d"})


@pytest.mark.parametrize(
    ("text", "column", "reason"),
    [
        ("", 1, "empty condition"),
        ("a ==", 5, "expected a value, found end of condition"),
        ("a == 1 and and b", 12, "expected a value, found 'and'"),
        ("(a == 1", 8, "expected ')', found end of condition"),
        ("a == 'x", 6, "unterminated string"),
        ("a $ b", 3, "unexpected character '$'"),
        ("a b", 3, "unexpected 'b'"),
        ("a matches b", 11, "'matches' needs a quoted regular expression, found 'b'"),
        ("a not b", 3, "unexpected 'not'"),
        ("[1, 2", 6, "expected ']', found end of condition"),
    ],
)
def test_syntax_errors_have_columns(text: str, column: int, reason: str) -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition(text)
    assert (info.value.column, info.value.reason) == (column, reason)


def test_bad_regex_and_deep_nesting() -> None:
    with pytest.raises(ConditionSyntaxError) as info:
        parse_condition("a matches '('")
    assert info.value.column == 11 and info.value.reason.startswith("invalid regular expression")
    with pytest.raises(ConditionSyntaxError):
        parse_condition("(" * 200 + "a" + ")" * 200)
    with pytest.raises(ConditionSyntaxError):
        parse_condition("not " * 200 + "a")


ATOMS = st.sampled_from(
    [
        "a",
        "b.c",
        "1",
        "-2.5",
        "'x'",
        '"y"',
        "true",
        "false",
        "null",
        "[1, 'a']",
        "calendar.open",
        "customer.vip",
    ]
)
TOKENS = st.sampled_from(
    [
        "and",
        "or",
        "not",
        "in",
        "startswith",
        "matches",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "(",
        ")",
        "[",
        "]",
        ",",
    ]
)


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    if depth > 3 or draw(st.booleans()):
        return draw(ATOMS)
    kind = draw(st.integers(0, 4))
    left = draw(expressions(depth + 1))
    right = draw(expressions(depth + 1))
    if kind == 0:
        return f"({left} {draw(st.sampled_from(['and', 'or']))} {right})"
    if kind == 1:
        return f"not {left}"
    if kind == 2:
        return f"{left} {draw(st.sampled_from(['==', '!=', '<', '<=', '>', '>=']))} {right}"
    if kind == 3:
        return f"{left} in [{right}, {draw(ATOMS)}]"
    return f"{left} startswith {right}"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TOKENS, ATOMS, st.text(max_size=3)), max_size=12).map(" ".join))
def test_random_text_only_raises_syntax_errors(text: str) -> None:
    try:
        cond = parse_condition(text)
    except ConditionSyntaxError as exc:
        assert 1 <= exc.column <= len(text) + 1
        return
    assert cond.evaluate(VARS) in (True, False)


@settings(max_examples=300, deadline=None)
@given(
    expressions(),
    st.dictionaries(
        st.sampled_from(["a", "b.c", "b"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3), st.floats(allow_nan=True)),
    ),
)
def test_well_formed_expressions_parse_and_evaluate(text: str, variables: dict[str, Any]) -> None:
    try:
        cond = parse_condition(text)
    except ConditionSyntaxError:
        # only operand-less positions (e.g. "in" after an operator chain) may fail
        return
    assert cond.evaluate(variables) in (True, False)


def test_templates() -> None:
    v = {"account": "12 34", "n": 3, "flag": True, "customer": {"name": "王"}}
    assert (
        substitute("户号{account:digits}，{n}次 {missing}{customer.name} {{x}}", v)
        == "户号1 2 3 4，3次 王 {x}"
    )
    assert substitute_value({"a": "{n}", "b": ["{flag}", "n={n}"]}, v) == {"a": 3, "b": [True, "n=3"]}
