"""The action → deadline steps map (pure)."""

from __future__ import annotations

import pytest

from hotline.errors import Invalid
from hotline.tickets.steps import (
    DEFAULT_STEP_MAP,
    ClockInput,
    StepRules,
    check_step_map,
    inputs_for,
    parse_step_map,
)
from hotline.tickets.workflow import Event


def ops(inputs: list[ClockInput]) -> list[tuple[str, str | None]]:
    return [(i.op, i.step) for i in inputs]


def test_default_map_as_in_the_contract() -> None:
    assert ops(inputs_for("accept")) == [("start", "dispatch"), ("start", "reply"), ("start", "contact")]
    assert ops(inputs_for("dispatch")) == [
        ("done", "dispatch"),
        ("start", "acknowledge"),
        ("start", "arrive"),
    ]
    assert ops(inputs_for("forward")) == [("restart", "acknowledge")]
    assert ops(inputs_for("acknowledge")) == [("done", "acknowledge"), ("done", "contact")]
    assert ops(inputs_for("start")) == [("done", "arrive")]
    assert ops(inputs_for("reply")) == [
        ("done", "reply"),
        ("done", "restore"),
        ("done", "contact"),
        ("done", "arrive"),
        ("start", "review"),
    ]
    assert ops(inputs_for("review")) == [("done", "review"), ("start", "revisit")]
    assert ops(inputs_for("return")) == [("done", "review"), ("start", "reply")]
    assert ops(inputs_for("revisit")) == [("done", "revisit")]
    assert ops(inputs_for("reopen")) == [("start", "reply")]
    for a in ("cancel", "merge", "archive"):
        assert ops(inputs_for(a)) == [("cancel", None)]
    assert inputs_for("urge") == []


def test_holds_and_moves_come_from_the_workflow_events() -> None:
    hold = inputs_for("hold", [Event("state_changed", {}), Event("hold_started", {})])
    assert ops(hold) == [("hold", None)]
    assert ops(inputs_for("resume", ["hold_ended"])) == [("resume", None)]
    # cancel from on_hold: the hold ends, then every step is cancelled
    assert ops(inputs_for("cancel", ["hold_ended"])) == [("resume", None), ("cancel", None)]
    # forward to another unit: measured again on its calendar before the restart
    assert ops(inputs_for("forward", ["assigned"], unit_changed=True)) == [
        ("reconfigure", None),
        ("restart", "acknowledge"),
    ]
    # dispatch: the dispatch step ends on the old calendar, the new ones start on the new
    assert ops(inputs_for("dispatch", unit_changed=True))[:2] == [("done", "dispatch"), ("reconfigure", None)]


def test_a_custom_map_as_data() -> None:
    m = parse_step_map({"accept": {"start": ["contact"]}, "reply": {"done": ["contact"], "cancel_all": True}})
    assert m["accept"] == StepRules(start=("contact",))
    assert ops(inputs_for("accept", step_map=m)) == [("start", "contact")]
    assert ops(inputs_for("dispatch", step_map=m)) == []
    assert ops(inputs_for("reply", step_map=m)) == [("done", "contact"), ("cancel", None)]


def test_bad_maps_name_every_path() -> None:
    m, problems = check_step_map(
        {"acept": {}, "reply": {"done": ["reply", "lunch"], "later": 1}, "dispatch": {"start": ["nap"]}}
    )
    assert m is None
    paths = [p for p, _ in problems]
    assert "acept" in paths
    assert "reply.later" in paths
    assert "dispatch.start[0]" in paths
    with pytest.raises(Invalid) as exc:
        parse_step_map({"dispatch": {"start": ["nap"]}})
    assert exc.value.field == "dispatch.start[0]"
    # the defaults are valid data
    assert check_step_map({k: v.model_dump() for k, v in DEFAULT_STEP_MAP.items()})[1] == []
