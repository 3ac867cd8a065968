"""The routing-condition language: parsing, errors, evaluation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.acd.conditions import Value, parse_condition
from hotline.acd.errors import ConditionSyntaxError


class Ctx:
    def __init__(
        self, variables: dict[str, Value], data: dict[str, Value], fns: dict[tuple[str, str], Value]
    ) -> None:
        self.variables = variables
        self.d = data
        self.fns = fns

    def variable(self, name: str) -> Value:
        return self.variables[name]

    def data(self, key: str) -> Value:
        return self.d.get(key)

    def function(self, name: str, queue_id: str) -> Value:
        return self.fns[(name, queue_id)]


def test_issue_example() -> None:
    c = parse_condition("waiting > 25 and available(group2) >= 4")
    assert c.queues == {"group2"}
    assert c.variables == {"waiting"}
    assert not c.uses_task
    ctx = Ctx({"waiting": 26}, {}, {("available", "group2"): 4})
    assert c.evaluate(ctx)
    assert not c.evaluate(Ctx({"waiting": 25}, {}, {("available", "group2"): 9}))
    assert not c.evaluate(Ctx({"waiting": 30}, {}, {("available", "group2"): 3}))


def test_data_and_strings() -> None:
    c = parse_condition("data.vip == true or (data.region == 'north' and not data.blocked)")
    assert c.uses_task
    assert c.evaluate(Ctx({}, {"vip": True}, {}))
    assert c.evaluate(Ctx({}, {"region": "north"}, {}))
    assert not c.evaluate(Ctx({}, {"region": "north", "blocked": True}, {}))
    assert not c.evaluate(Ctx({}, {"region": "south"}, {}))


def test_mixed_kinds_compare_false() -> None:
    c = parse_condition('data.x < 3 or data.x == "3"')
    assert not c.evaluate(Ctx({}, {"x": "2"}, {}))
    assert c.evaluate(Ctx({}, {"x": "3"}, {}))
    assert c.evaluate(Ctx({}, {"x": 2}, {}))
    assert not parse_condition("data.missing > 0").evaluate(Ctx({}, {}, {}))
    assert parse_condition("data.missing == null").evaluate(Ctx({}, {}, {}))
    assert parse_condition("data.missing != 1").evaluate(Ctx({}, {}, {}))


@pytest.mark.parametrize(
    ("text", "pos", "fragment"),
    [
        ("", 0, "empty condition"),
        ("waiting = 3", 8, "use '=='"),
        ("foo > 1", 0, "unknown variable 'foo'"),
        ("bogus(q1) > 1", 0, "unknown function 'bogus'"),
        ("available(a, b) > 1", 11, "exactly one queue id"),
        ("available() > 1", 10, "takes one queue id"),
        ("(wait > 1", 9, "expected ')' to close '(' at position 0"),
        ("wait > 1)", 8, "unbalanced ')'"),
        ("wait >", 6, "unexpected end"),
        ("> 3", 0, "expected a value before operator"),
        ('data.x == "abc', 10, "unterminated string"),
        ("wait > 1 wait", 9, "expected 'and', 'or'"),
        ("wait and or", 9, "keyword 'or'"),
        ("__import__('os')", 0, "unknown function"),
        ("wait.real > 1", 0, "only data.<key>"),
    ],
)
def test_errors(text: str, pos: int, fragment: str) -> None:
    with pytest.raises(ConditionSyntaxError) as ei:
        parse_condition(text)
    assert ei.value.position == pos, str(ei.value)
    assert fragment in ei.value.reason


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 100), st.integers(0, 100), st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
def test_comparisons_match_python(a: int, b: int, op: str) -> None:
    c = parse_condition(f"wait {op} {b}")
    expected = {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]
    assert c.evaluate(Ctx({"wait": a}, {}, {})) is expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="waitng ()<>=!andornt0123.'\"data", max_size=30))
def test_random_text_never_crashes(text: str) -> None:
    try:
        parse_condition(text)
    except ConditionSyntaxError as e:
        assert 0 <= e.position <= len(text)
