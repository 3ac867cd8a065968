"""Loader and validator: every issue kind, with its line and column."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from hotline.errors import HotlineError
from hotline.ivr import (
    FlowError,
    FlowIssue,
    check_flow,
    default_registry,
    load_flow_file,
    parse_flow,
    validate_flow,
)
from tests.ivr.util import FLOWS_DIR

QUEUES = ["general", "fault", "billing", "complaint", "consult", "english"]


def issues(text: str, **kw: object) -> list[tuple[int | None, int | None, str | None, str, str]]:
    found = validate_flow(textwrap.dedent(text), source="f.yaml", **kw)  # type: ignore[arg-type]
    return [(i.line, i.column, i.node, i.message, i.severity) for i in found]


def parse_issues(text: str) -> list[FlowIssue]:
    with pytest.raises(FlowError) as info:
        parse_flow(textwrap.dedent(text), source="f.yaml")
    assert isinstance(info.value, HotlineError)
    return info.value.issues


GOOD = """\
name: good
start: menu
nodes:
  menu: {type: menu, prompt: hi, options: {"1": a}, on_max_retries: a}
  a: {type: queue, queue: general}
"""


def test_good_flow_has_no_issues() -> None:
    assert issues(GOOD) == []
    assert check_flow(GOOD).name == "good"


def test_issue_str_format() -> None:
    i = FlowIssue(12, 5, "menu", "options.3 points to unknown node 'billx'", source="flows/x.yaml")
    assert str(i) == "flows/x.yaml:12:5: node 'menu': options.3 points to unknown node 'billx'"
    w = FlowIssue(1, 2, None, "hmm", "warning")
    assert str(w) == "<flow>:1:2: warning: hmm"


def test_yaml_syntax_error_position() -> None:
    (i,) = parse_issues("name: x\nnodes: [\n  a: b\n")
    assert i.line is not None and i.line >= 2 and i.message.startswith("YAML syntax")


def test_not_a_mapping() -> None:
    (i,) = parse_issues("- 1\n- 2\n")
    assert (i.line, i.column) == (1, 1) and "mapping" in i.message


def test_model_errors_are_positioned() -> None:
    found = parse_issues(
        """\
        name: Bad Name
        start: a
        nodes:
          a: {type: play, prompt: "hi", next: b, bogus: 1}
          b:
            type: menu
            prompt: 3
            options: {"1": a}
            timeout: abc
          c: {type: nope}
          d: {type: queue}
          e: {prompt: x}
        """
    )
    got = [(i.line, i.column, i.node, i.message) for i in found]
    assert got[0][:3] == (1, 7, None) and got[0][3].startswith("name: String should match pattern")
    assert (4, 42, "a", "unknown field 'bogus'") in got
    assert (5, 3, "b", "missing field 'on_max_retries'") in got
    assert any(g[:3] == (7, 13, "b") and g[3].startswith("prompt: a prompt is text") for g in got)
    assert any(
        g[:3] == (9, 14, "b") and g[3].startswith("timeout: Input should be a valid number") for g in got
    )
    assert any(g[:3] == (10, 6, "c") and g[3].startswith("unknown node type 'nope'") for g in got)
    assert (11, 3, "d", "missing field 'queue'") in got
    assert (12, 6, "e", "missing field 'type'") in got


def test_duplicate_node_id() -> None:
    found = parse_issues(GOOD + "  a: {type: hangup}\n")
    assert [(i.line, i.column, i.node, i.message) for i in found] == [(6, 3, "a", "duplicate node id")]


def test_yes_no_are_node_ids_and_number_keys_are_text() -> None:
    f = parse_flow(
        "name: x\nstart: yes\nnodes:\n  yes: {type: menu, prompt: p, options: {1: no}, on_max_retries: no}\n  no: {type: hangup}\n"
    )
    assert f.nodes["yes"].options == {"1": "no"}  # type: ignore[union-attr]


def test_dangling_targets() -> None:
    got = issues(
        """\
        name: d
        start: nowhere
        error: gone
        nodes:
          menu: {type: menu, prompt: hi, options: {"1": a, "3": billx}, on_max_retries: a}
          a: {type: play, prompt: x, next: zz}
        """
    )
    assert (2, 8, None, "start points to unknown node 'nowhere'", "error") in got
    assert (3, 8, None, "error points to unknown node 'gone'", "error") in got
    assert (5, 57, "menu", "options.3 points to unknown node 'billx'", "error") in got
    assert (6, 36, "a", "next points to unknown node 'zz'", "error") in got


def test_unreachable_node() -> None:
    got = issues(GOOD + "  lonely: {type: hangup}\n")
    assert got == [(6, 3, "lonely", "unreachable from the start node", "error")]


def test_missing_prompt_and_prompt_files() -> None:
    got = issues(
        """\
        name: p
        start: menu
        nodes:
          menu: {type: menu, options: {"1": c}, on_max_retries: c}
          c:
            type: collect
            prompt: [{file: there.wav}, {file: missing.wav}, "  "]
            variable: v
            next: h
            on_failure: h
          h: {type: hangup}
        """,
        prompt_exists=lambda name: name == "there.wav",
    )
    assert (4, 3, "menu", "a menu node needs a prompt", "error") in got
    assert (7, 40, "c", "prompt file not found: missing.wav", "error") in got
    assert (7, 54, "c", "empty prompt text", "error") in got


def test_loop_without_caller_input() -> None:
    got = issues(
        """\
        name: l
        start: a
        nodes:
          a: {type: set, values: {x: 1}, next: b}
          b: {type: condition, when: "x == 1", then: a, else: end}
          end: {type: hangup}
        """
    )
    assert got == [(4, 3, "a", "loop without caller input (a → b → a): it would spin forever", "error")]


def test_self_loop_and_loop_with_no_way_out() -> None:
    got = issues(
        """\
        name: l
        start: m
        nodes:
          m: {type: menu, prompt: p, options: {"1": p2}, on_max_retries: m}
          p2: {type: play, prompt: again, next: m}
        """
    )
    assert got == [(4, 3, "m", "loop with no way out (m → p2 → m): no end can be reached", "error")]
    got = issues("name: s\nstart: a\nnodes:\n  a: {type: play, prompt: x, next: a}\n")
    assert got[0][2:] == ("a", "loop without caller input (a → a): it would spin forever", "error")


def test_menu_keys_and_collect_settings() -> None:
    got = issues(
        """\
        name: k
        start: m
        nodes:
          m: {type: menu, prompt: p, options: {"12": c, "A": c, "#": c}, on_max_retries: c}
          c:
            type: collect
            prompt: p
            variable: v
            min_length: 5
            max_length: 4
            terminator: "x"
            pattern: "([0-9]"
            next: h
            on_failure: h
          h: {type: hangup}
        """
    )
    assert (4, 40, "m", "option key '12' is not one of 0-9 * #", "error") in got
    assert (4, 49, "m", "option key 'A' is not one of 0-9 * #", "error") in got
    assert (9, 17, "c", "min_length 5 is greater than max_length 4", "error") in got
    assert (11, 17, "c", "terminator 'x' is not one of 0-9 * # (or empty)", "error") in got
    assert any(
        g[:3] == (12, 14, "c") and g[3].startswith("pattern is not a valid regular expression") for g in got
    )


def test_condition_syntax_error_column() -> None:
    got = issues(
        """\
        name: c
        start: c
        nodes:
          c: {type: condition, when: "a == 1 and and b", then: h, else: h}
          h: {type: hangup}
        """
    )
    # the expression starts at column 31 (after the quote); the error is at its 12th character
    assert got == [(4, 42, "c", "when: expected a value, found 'and' (column 12)", "error")]


def test_known_flows_actions_queues() -> None:
    text = """\
        name: k
        start: s
        fallback_queue: nowhere
        nodes:
          s: {type: subflow, flow: verify-pinx, next: a}
          a: {type: action, action: crm.nope, next: o}
          o: {type: action, action: outage.for_caller, optional: true, next: q}
          q: {type: queue, queue: billingx, requirements: "billing>=2 AND", data: {}}
        """
    got = issues(text, known_flows=["verify-pin"], known_actions=["echo"], known_queues=QUEUES)
    assert (3, 17, None, "unknown queue 'nowhere'", "error") in got
    assert (5, 28, "s", "unknown subflow 'verify-pinx'", "error") in got
    assert (6, 29, "a", "unknown action 'crm.nope'", "error") in got
    assert (
        7,
        29,
        "o",
        "unknown action 'outage.for_caller' (optional: without it a call continues at 'q')",
        "warning",
    ) in got
    assert (8, 27, "q", "unknown queue 'billingx'", "error") in got
    assert any(g[:3] == (8, 51, "q") and g[3].startswith("requirements:") for g in got)
    # unchecked when the known names are not given
    assert [g for g in issues(text) if g[4] == "error" and "requirements" not in g[3]] == []


def test_unknown_variables_warn_and_formats() -> None:
    got = issues(
        """\
        name: v
        start: p
        variables: {known: 1}
        nodes:
          p: {type: play, prompt: "{caller} {known} {nope} {customer.vip} {known:digits} {known:money}", next: c}
          c: {type: condition, when: "calendar.open and ghost == 1", then: h, else: h}
          h: {type: hangup}
        """
    )
    assert (5, 27, "p", "variable 'nope' is never set in this flow", "warning") in got
    assert (5, 27, "p", "variable 'customer.vip' is never set in this flow", "warning") in got
    assert (5, 27, "p", "unknown format 'money' in {known:money} (known: digits)", "error") in got
    assert (6, 30, "c", "variable 'ghost' is never set in this flow", "warning") in got
    assert not any("caller" in g[3] or "calendar" in g[3] or "'known'" in g[3] for g in got)


def test_subflow_return_values_are_known_when_flows_given() -> None:
    pin = parse_flow((FLOWS_DIR / "verify-pin.yaml").read_text(encoding="utf-8"))
    text = """\
        name: m
        start: s
        nodes:
          s: {type: subflow, flow: verify-pin, next: p}
          p: {type: play, prompt: "{verified}", next: h}
          h: {type: hangup}
        """
    assert [g[3] for g in issues(text)] == ["variable 'verified' is never set in this flow"]
    assert issues(text, flows={"verify-pin": pin}) == []


def test_validate_a_flow_object_has_no_positions() -> None:
    f = parse_flow(GOOD + "  lonely: {type: hangup}\n")
    (i,) = validate_flow(f)
    assert (i.line, i.column, i.node) == (None, None, "lonely")


def test_check_flow_raises_with_all_issues() -> None:
    with pytest.raises(FlowError) as info:
        check_flow(GOOD + "  lonely: {type: hangup}\n  alone: {type: hangup}\n", source="x.yaml")
    assert len(info.value.issues) == 2
    assert info.value.detail.startswith("x.yaml:6:3: node 'lonely'") and "(and 1 more)" in info.value.detail


def test_load_flow_file(tmp_path: Path) -> None:
    p = tmp_path / "g.yaml"
    p.write_text(GOOD, encoding="utf-8")
    assert load_flow_file(p).name == "good"
    with pytest.raises(FlowError) as info:
        load_flow_file(tmp_path / "missing.yaml")
    assert "cannot read" in info.value.issues[0].message


def test_json_is_accepted() -> None:
    f = parse_flow('{"name": "j", "start": "h", "nodes": {"h": {"type": "hangup", "prompt": "bye"}}}')
    assert f.nodes["h"].type == "hangup"


@pytest.mark.parametrize("path", sorted(FLOWS_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_demo_flows_validate_without_errors(path: Path) -> None:
    names = [parse_flow(p.read_text(encoding="utf-8")).name for p in FLOWS_DIR.glob("*.yaml")]
    found = validate_flow(
        path.read_text(encoding="utf-8"),
        known_flows=names,
        known_actions=default_registry().names(),
        known_queues=QUEUES,
        prompt_exists=lambda name: False,
        source=str(path),
    )
    assert [i for i in found if i.is_error] == []
    # only the not-yet-available optional plugins are warned about
    assert all("optional" in i.message for i in found)
