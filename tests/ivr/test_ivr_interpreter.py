"""FlowRun driven directly with explicit times: effects in, effects out."""

from __future__ import annotations

from typing import Any

from hotline.ivr import (
    Effect,
    FilePrompt,
    Finish,
    Flow,
    FlowRun,
    Hangup,
    Play,
    Record,
    RequestCallback,
    Returned,
    RunAction,
    StopPlay,
    TextPrompt,
    ToQueue,
    ToTransfer,
)
from tests.ivr.util import action, finish, flow, only_play, press, texts

MENU = flow(
    """
    name: t
    start: hello
    error: err
    variables: {tries: 0}
    nodes:
      hello: {type: play, prompt: "hello", next: menu}
      menu:
        type: menu
        prompt: "press 1 or 2"
        options: {"1": one, "2": two}
        timeout: 5
        max_retries: 2
        timeout_prompt: "nothing?"
        invalid_prompt: "wrong"
        on_max_retries: agent
        variable: choice
      one: {type: queue, queue: billing, priority: 2, requirements: "billing>=2", data: {topic: "bill {choice}"}}
      two: {type: transfer, target: "10{choice}"}
      agent: {type: queue, queue: general}
      err: {type: queue, queue: general, data: {why: error}}
    """
)


def started(f: Flow = MENU, **kw: Any) -> tuple[FlowRun, list[Effect]]:
    run = FlowRun(f, **kw)
    return run, run.start(0.0)


def test_menu_choice_ends_in_queue_with_variables_and_data() -> None:
    run, eff = started(variables={"caller": "139", "customer.vip": True})
    hello = only_play(eff)
    assert hello.prompts == (TextPrompt("hello", "zh-CN"),) and hello.barge_in is False
    assert run.waiting_for == "playback" and run.next_deadline() is None
    eff = run.playback_done(hello.play_id, 1.0)
    menu = only_play(eff)
    assert menu.barge_in is True and menu.play_id > hello.play_id
    assert run.next_deadline() is None  # the timer starts when the prompt ends
    assert run.playback_done(menu.play_id, 4.0) == []
    assert run.next_deadline() == 9.0
    out = finish(run.digit("1", 5.0))
    assert out == ToQueue(
        "billing", 2, "billing>=2", {"tries": 0, "choice": "1", "customer.vip": True, "topic": "bill 1"}
    )
    assert "caller" not in out.data and "language" not in out.data
    assert run.finished and run.outcome == out
    assert [(s.node, s.digits, s.result) for s in run.path] == [
        ("hello", None, None),
        ("menu", "1", "option 1"),
        ("one", None, None),
    ]
    assert run.variables["choice"] == "1" and run.variables["caller"] == "139"
    # nothing more after the end
    assert run.digit("2", 6.0) == [] and run.tick(100.0) == [] and run.next_deadline() is None


def test_transfer_target_substituted() -> None:
    run, eff = started()
    menu = only_play(run.playback_done(only_play(eff).play_id, 1.0))
    run.playback_done(menu.play_id, 2.0)
    assert finish(run.digit("2", 3.0)) == ToTransfer("102")


def test_barge_in_stops_prompt_and_counts() -> None:
    run, eff = started()
    menu = only_play(run.playback_done(only_play(eff).play_id, 1.0))
    eff = run.digit("2", 1.5)
    assert eff[0] == StopPlay(menu.play_id)
    assert isinstance(finish(eff), ToTransfer)
    # a stale playback_done for the stopped prompt is ignored
    assert run.playback_done(menu.play_id, 2.0) == []


def test_digits_during_non_barge_in_prompt_are_discarded() -> None:
    run, eff = started()
    hello = only_play(eff)
    assert run.digit("1", 0.5) == []
    menu = only_play(run.playback_done(hello.play_id, 1.0))
    assert run.path[-1].node == "menu" and run.path[-1].digits is None
    assert menu.prompts == (TextPrompt("press 1 or 2", "zh-CN"),)


def test_timeout_retries_then_max_retries() -> None:
    run, eff = started()
    menu = only_play(run.playback_done(only_play(eff).play_id, 1.0))
    run.playback_done(menu.play_id, 2.0)
    assert run.tick(6.9) == []
    again = only_play(run.tick(7.0))
    assert texts([again]) == ["nothing?", "press 1 or 2"]
    assert run.next_deadline() is None
    run.playback_done(again.play_id, 9.0)
    assert run.next_deadline() == 14.0
    third = only_play(run.tick(14.0))
    run.playback_done(third.play_id, 16.0)
    out = finish(run.tick(21.0))
    assert out.queue == "general"
    assert run.path[-2].result == "max retries (timeout)" and run.path[-1].node == "agent"


def test_invalid_digit_plays_invalid_prompt_then_menu() -> None:
    run, eff = started()
    menu = only_play(run.playback_done(only_play(eff).play_id, 1.0))
    run.playback_done(menu.play_id, 2.0)
    eff = run.digit("7", 3.0)
    assert texts(eff) == ["wrong", "press 1 or 2"]
    assert run.path[-1].result == "invalid"
    eff = run.digit("9", 3.5)  # barges in on the retry prompt, invalid again
    assert isinstance(eff[0], StopPlay) and texts(eff) == ["wrong", "press 1 or 2"]
    eff = run.digit("8", 4.0)
    out = finish(eff)
    assert out.queue == "general" and run.path[-2].digits == "798"


def test_non_dtmf_and_stale_events_are_ignored() -> None:
    run, _ = started()
    assert run.digit("x", 0.1) == [] and run.digit("12", 0.1) == []
    assert run.playback_done(999, 0.2) == []
    assert run.action_done(999, {}, 0.2) == [] and run.action_failed(999, "x", 0.2) == []
    assert run.record_done(999, None, 0, 0.2) == []
    assert run.tick(1000.0) == []  # no deadline while a prompt plays
    assert run.start(0.3) == []  # already started


COLLECT = flow(
    """
    name: c
    start: acct
    error: err
    nodes:
      acct:
        type: collect
        prompt: "account please"
        variable: account
        min_length: 3
        max_length: 6
        terminator: "#"
        first_digit_timeout: 8
        inter_digit_timeout: 4
        pattern: "^[0-9]+$"
        max_retries: 1
        invalid_prompt: "invalid"
        timeout_prompt: "timeout"
        next: done
        on_failure: failed
        barge_in: false
      done: {type: queue, queue: billing, data: {acct: "{account}"}}
      failed: {type: queue, queue: general}
      err: {type: queue, queue: general}
    """
)


def _collect_ready(barge_in: bool = False) -> FlowRun:
    f = COLLECT.model_copy(deep=True)
    f.nodes["acct"].barge_in = barge_in  # type: ignore[union-attr]
    run = FlowRun(f)
    prompt = only_play(run.start(0.0))
    run.playback_done(prompt.play_id, 2.0)
    return run


def test_collect_with_terminator() -> None:
    run = _collect_ready()
    assert run.next_deadline() == 10.0
    assert press(run, "1234", 3.0) == []
    assert run.next_deadline() == 7.0
    out = finish(run.digit("#", 3.5))
    assert out.data["acct"] == "1234" and run.variables["account"] == "1234"
    assert run.path[0].digits == "1234#" and run.path[0].result == "collected"


def test_collect_max_length_ends_input_and_swallows_a_late_terminator() -> None:
    run = _collect_ready()
    out = finish(press(run, "123456", 3.0))
    assert out.data["acct"] == "123456"


def test_collect_inter_digit_timeout_accepts_when_long_enough() -> None:
    run = _collect_ready()
    press(run, "123", 3.0)
    out = finish(run.tick(7.0))
    assert out.data["acct"] == "123"


def test_collect_inter_digit_timeout_too_short_is_a_retry() -> None:
    run = _collect_ready()
    press(run, "12", 3.0)
    eff = run.tick(7.0)
    assert texts(eff) == ["timeout", "account please"]
    run.playback_done(only_play(eff).play_id, 8.0)
    press(run, "1", 9.0)
    out = finish(run.tick(13.0))  # second failure: on_failure
    assert out.queue == "general" and run.path[0].result == "max retries (timeout)"


def test_collect_pattern_failure_is_invalid_retry() -> None:
    run = _collect_ready()
    eff = press(run, "12*4#", 3.0)
    assert texts(eff) == ["invalid", "account please"]
    run.playback_done(only_play(eff).play_id, 4.0)
    out = finish(press(run, "999#", 5.0))
    assert out.data["acct"] == "999"


def test_collect_terminator_too_early_is_invalid() -> None:
    run = _collect_ready()
    eff = press(run, "1#", 3.0)
    assert texts(eff) == ["invalid", "account please"]


def test_collect_first_digit_timeout() -> None:
    run = _collect_ready()
    eff = run.tick(10.0)
    assert texts(eff) == ["timeout", "account please"]


def test_collect_buffers_digits_during_non_barge_in_prompt() -> None:
    run = FlowRun(COLLECT)
    prompt = only_play(run.start(0.0))
    assert press(run, "12", 0.5) == []  # kept, prompt keeps playing
    assert run.next_deadline() is None
    assert run.playback_done(prompt.play_id, 2.0) == []
    assert run.next_deadline() == 6.0
    out = finish(press(run, "3#", 3.0))
    assert out.data["acct"] == "123"


def test_collect_barge_in_stops_prompt() -> None:
    f = COLLECT.model_copy(deep=True)
    f.nodes["acct"].barge_in = True  # type: ignore[union-attr]
    run = FlowRun(f)
    prompt = only_play(run.start(0.0))
    eff = run.digit("5", 0.5)
    assert eff == [StopPlay(prompt.play_id)]
    assert run.next_deadline() == 4.5
    out = finish(press(run, "55#", 1.0))
    assert out.data["acct"] == "555"


LOGIC = flow(
    """
    name: logic
    start: set1
    nodes:
      set1: {type: set, values: {a: "x{caller}", n: 3, copy: "{n}", flag: true}, next: cond}
      cond: {type: condition, when: "n >= 3 and a startswith 'x1' and not missing", then: sw, else: no}
      sw: {type: switch, value: "{copy}", cases: {"3": yes, "4": no}, default: no}
      yes: {type: queue, queue: yes}
      no: {type: queue, queue: no}
    """
)


def test_set_condition_switch() -> None:
    run = FlowRun(LOGIC, variables={"caller": "123"})
    out = finish(run.start(0.0))
    assert out.queue == "yes"
    assert run.variables["a"] == "x123" and run.variables["copy"] == 3 and run.variables["flag"] is True
    assert [s.result for s in run.path] == [None, "then", "case 3", None]
    run = FlowRun(LOGIC, variables={"caller": "999"})
    assert finish(run.start(0.0)).queue == "no"


SUB = flow(
    """
    name: main
    start: call
    nodes:
      call: {type: subflow, flow: pin, next: after, on_error: broken}
      after: {type: condition, when: "verified == true", then: ok, else: bad}
      ok: {type: queue, queue: vip, data: {v: "{verified}"}}
      bad: {type: queue, queue: general}
      broken: {type: queue, queue: broken}
    """
)
PIN = flow(
    """
    name: pin
    start: ask
    variables: {secret: "no"}
    nodes:
      ask: {type: collect, prompt: pin, variable: pin, min_length: 4, max_length: 4, next: check, on_failure: nope}
      check: {type: condition, when: "pin == '1234'", then: yes, else: nope}
      yes: {type: return, values: {verified: true, via: "{pin}"}}
      nope: {type: return, values: {verified: false}}
    """
)


def test_subflow_and_return() -> None:
    run = FlowRun(SUB, flows={"pin": PIN}, variables={"caller": "1"})
    prompt = only_play(run.start(0.0))
    assert run.current_flow == "pin" and run.current_node == "ask"
    run.playback_done(prompt.play_id, 1.0)
    out = finish(press(run, "1234", 2.0))
    assert out.queue == "vip" and out.data["v"] is True
    assert run.current_flow == "main"
    assert run.variables["verified"] is True and run.variables["via"] == "1234"
    assert "pin" not in run.variables and "secret" not in run.variables  # the callee's own scope
    assert [(s.flow, s.node) for s in run.path] == [
        ("main", "call"),
        ("pin", "ask"),
        ("pin", "check"),
        ("pin", "yes"),
        ("main", "after"),
        ("main", "ok"),
    ]


def test_top_level_return_finishes_with_values() -> None:
    run = FlowRun(PIN)
    run.playback_done(only_play(run.start(0.0)).play_id, 1.0)
    assert finish(press(run, "0000", 2.0)) == Returned({"verified": False})


def test_missing_subflow_goes_to_on_error() -> None:
    run = FlowRun(SUB)
    out = finish(run.start(0.0))
    assert out.queue == "broken"
    assert run.errors == ["unknown subflow 'pin'"]
    assert run.path[0].result == "error: unknown subflow 'pin'"


ACTIONS = flow(
    """
    name: a
    start: look
    error: err
    nodes:
      look: {type: action, action: crm.lookup, args: {who: "{caller}", n: 2}, assign: {name: full_name}, next: done, timeout: 3}
      done: {type: queue, queue: ok, data: {name: "{name}"}}
      err: {type: queue, queue: errq}
    """
)


def test_action_success_assigns() -> None:
    run = FlowRun(ACTIONS, variables={"caller": "555"})
    req = action(run.start(0.0))
    assert req == RunAction(req.request_id, "crm.lookup", {"who": "555", "n": 2}, 3.0)
    assert run.next_deadline() == 3.0 and run.waiting_for == "action"
    out = finish(run.action_done(req.request_id, {"full_name": "张三", "other": 1}, 1.0))
    assert out.data["name"] == "张三" and "other" not in run.variables
    assert run.path[0].result == "ok"


def test_action_without_assign_stores_every_key() -> None:
    f = ACTIONS.model_copy(deep=True)
    f.nodes["look"].assign = {}  # type: ignore[union-attr]
    run = FlowRun(f)
    req = action(run.start(0.0))
    run.action_done(req.request_id, {"full_name": "x", "other": 1}, 1.0)
    assert run.variables["full_name"] == "x" and run.variables["other"] == 1


def test_action_failure_goes_to_flow_error_node() -> None:
    run = FlowRun(ACTIONS)
    req = action(run.start(0.0))
    out = finish(run.action_failed(req.request_id, "db down", 1.0))
    assert out.queue == "errq"
    assert run.errors == ["action 'crm.lookup' failed: db down"]


def test_action_timeout_and_late_result_ignored() -> None:
    run = FlowRun(ACTIONS)
    req = action(run.start(0.0))
    assert run.tick(2.9) == []
    out = finish(run.tick(3.0))
    assert out.queue == "errq" and "timed out" in run.errors[0]
    assert run.action_done(req.request_id, {"full_name": "late"}, 4.0) == []
    assert "name" not in run.variables


def test_action_on_error_wins_and_optional_missing_continues() -> None:
    f = flow(
        """
        name: o
        start: outage
        error: err
        nodes:
          outage: {type: action, action: outage.for_caller, optional: true, next: a2}
          a2: {type: action, action: x, optional: true, on_error: handled, next: done}
          done: {type: queue, queue: done}
          handled: {type: queue, queue: handled}
          err: {type: queue, queue: err}
        """
    )
    run = FlowRun(f)
    req = action(run.start(0.0))
    req2 = action(run.action_failed(req.request_id, "unknown action", 0.1))
    assert run.path[0].result == "skipped (optional): unknown action"
    assert finish(run.action_failed(req2.request_id, "boom", 0.2)).queue == "handled"


def test_no_error_node_uses_fallback_queue_with_variables() -> None:
    f = flow(
        """
        name: nf
        start: s
        fallback_queue: backup
        nodes:
          s: {type: set, values: {account: "42"}, next: look}
          look: {type: action, action: x, next: done}
          done: {type: queue, queue: done}
        """
    )
    run = FlowRun(f)
    req = action(run.start(0.0))
    out = finish(run.action_failed(req.request_id, "nope", 1.0))
    assert out == ToQueue("backup", 0, None, {"account": "42", "ivr_error": "action 'x' failed: nope"})
    f2 = f.model_copy(update={"fallback_queue": "general"})
    run = FlowRun(f2)
    req = action(run.start(0.0))
    assert finish(run.action_failed(req.request_id, "nope", 1.0)).queue == "general"


def test_loop_detection_goes_to_error_path() -> None:
    f = flow(
        """
        name: loop
        start: a
        error: err
        nodes:
          a: {type: set, values: {x: 1}, next: b}
          b: {type: condition, when: "x == 1", then: a, else: c}
          c: {type: queue, queue: c}
          err: {type: queue, queue: err}
        """
    )
    run = FlowRun(f, max_steps=50)
    out = finish(run.start(0.0))
    assert out.queue == "err"
    assert run.errors == ["loop: 50 steps without caller input"]
    assert len(run.path) == 51


def test_loop_without_error_node_ends_in_fallback_queue() -> None:
    f = flow(
        """
        name: loop2
        start: a
        nodes:
          a: {type: set, values: {x: 1}, next: a}
        """
    )
    run = FlowRun(f, max_steps=10)
    out = finish(run.start(0.0))
    assert out.queue == "general" and out.data["ivr_error"].startswith("loop")


def test_error_inside_subflow_without_error_node_uses_callers() -> None:
    inner = flow(
        """
        name: inner
        start: act
        nodes:
          act: {type: action, action: broken, next: r}
          r: {type: return}
        """
    )
    outer = flow(
        """
        name: outer
        start: call
        error: oops
        nodes:
          call: {type: subflow, flow: inner, next: done}
          done: {type: queue, queue: done}
          oops: {type: queue, queue: oops}
        """
    )
    run = FlowRun(outer, flows={"inner": inner})
    req = action(run.start(0.0))
    assert run.current_flow == "inner"
    out = finish(run.action_failed(req.request_id, "x", 1.0))
    assert out.queue == "oops" and run.current_flow == "outer"


AFTER = flow(
    """
    name: ah
    start: menu
    nodes:
      menu: {type: menu, prompt: [{file: menu.wav}, {text: "press", language: en}], options: {"1": vm, "2": cb, "3": bye2}, on_max_retries: bye}
      vm: {type: voicemail, prompt: "after the beep", box: sales, max_seconds: 30, next: bye}
      cb: {type: callback, prompt: "we call back", queue: general, next: bye}
      bye: {type: hangup, prompt: "bye"}
      bye2: {type: hangup}
    """
)


def _after_menu() -> FlowRun:
    run = FlowRun(AFTER, variables={"caller": "13900001111"})
    p = only_play(run.start(0.0))
    assert p.prompts == (FilePrompt("menu.wav"), TextPrompt("press", "en"))
    run.playback_done(p.play_id, 1.0)
    return run


def test_voicemail() -> None:
    run = _after_menu()
    p = only_play(run.digit("1", 2.0))
    eff = run.playback_done(p.play_id, 3.0)
    rec = eff[0]
    assert isinstance(rec, Record) and (rec.max_seconds, rec.beep, rec.box) == (30.0, True, "sales")
    assert run.waiting_for == "record" and run.next_deadline() is not None
    bye = only_play(run.record_done(rec.request_id, "/var/vm/1.wav", 12.5, 20.0))
    assert run.variables["voicemail.path"] == "/var/vm/1.wav"
    assert finish(run.playback_done(bye.play_id, 21.0)) == Hangup("flow")


def test_callback() -> None:
    run = _after_menu()
    p = only_play(run.digit("2", 2.0))
    eff = run.playback_done(p.play_id, 3.0)
    assert eff == [RequestCallback(eff[0].request_id, "13900001111", "general")]  # type: ignore[union-attr]
    bye = only_play(run.action_done(eff[0].request_id, {"id": 7}, 3.5))  # type: ignore[union-attr]
    assert run.variables["callback.id"] == 7
    assert finish(run.playback_done(bye.play_id, 4.0)) == Hangup("flow")


def test_hangup_without_prompt_finishes_at_once() -> None:
    run = _after_menu()
    assert run.digit("3", 2.0) == [Finish(Hangup("flow"))]


def test_caller_hangup_mid_flow_records_abandon_point() -> None:
    run = _after_menu()
    run.tick(3.0)
    run.hangup(4.0)
    assert run.finished and run.outcome == Hangup("caller")
    assert run.path[-1].node == "menu" and run.path[-1].result == "abandon"
    assert run.next_deadline() is None and run.digit("1", 5.0) == []


def test_play_barge_in_type_ahead_reaches_the_menu() -> None:
    f = flow(
        """
        name: ta
        start: hello
        nodes:
          hello: {type: play, prompt: hi, barge_in: true, next: menu}
          menu: {type: menu, prompt: choose, options: {"1": one}, on_max_retries: one}
          one: {type: queue, queue: one}
        """
    )
    run = FlowRun(f)
    hello = only_play(run.start(0.0))
    eff = run.digit("1", 0.5)
    assert eff[0] == StopPlay(hello.play_id)
    assert finish(eff).queue == "one"
    assert not [e for e in eff if isinstance(e, Play)]  # the menu prompt was skipped
    assert run.path[1].digits == "1"


def test_play_ids_and_request_ids_increase() -> None:
    run = _after_menu()
    p = only_play(run.digit("1", 2.0))
    rec = run.playback_done(p.play_id, 3.0)[0]
    assert isinstance(rec, Record) and rec.request_id > p.play_id > 1
