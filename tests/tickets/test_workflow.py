"""Ticket types, forms and the workflow state machine (pure core of work orders)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from hotline.errors import Conflict, Invalid
from hotline.tickets.workflow import (
    ACTIONS,
    DEFAULT_TYPES,
    DEFAULT_WORKFLOW,
    Command,
    Outcome,
    Refused,
    StaleVersion,
    TicketState,
    allowed_actions,
    apply,
    check_form,
    clean_form,
    hold_time,
    open_ticket,
    parse_type,
    parse_workflow,
    workflow_problems,
)

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _open(tid: str = "T1") -> TicketState:
    return open_ticket(tid, "complaint", actor="agent1", now=T0).state


def _run(ticket: TicketState, *steps: tuple[str, dict[str, Any], str], at: datetime = T0) -> Outcome:
    out: Outcome | None = None
    for i, (action, payload, note) in enumerate(steps):
        out = apply(ticket, Command(action, "u", note=note, payload=payload), at + timedelta(minutes=i + 1))
        ticket = out.state
    assert out is not None
    return out


TO_IN_PROGRESS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("dispatch", {"unit": "U1"}, ""),
    ("acknowledge", {}, ""),
    ("start", {}, ""),
)
TO_REVIEWED: tuple[tuple[str, dict[str, Any], str], ...] = (
    *TO_IN_PROGRESS,
    ("reply", {}, "fixed the meter"),
    ("review", {}, ""),
)


# --- types and forms -----------------------------------------------------------------------------


def test_default_types_and_subtypes() -> None:
    assert set(DEFAULT_TYPES) == {
        "fault_repair",
        "complaint",
        "report",
        "opinion",
        "suggestion",
        "praise",
        "consultation",
        "service_application",
        "urge",
    }
    sa = DEFAULT_TYPES["service_application"]
    assert [s.code for s in sa.subtypes] == [
        "new_connection",
        "capacity_increase",
        "change_of_use",
        "transfer_of_name",
        "suspension",
    ]
    complaint = {f.name for f in DEFAULT_TYPES["complaint"].fields}
    assert {
        "intake_date",
        "number",
        "receiving_agent",
        "channel",
        "calling_number",
        "customer_name",
        "gender",
        "address",
        "contact_phone",
        "business_category",
        "nature",
        "responsible_unit",
        "subject",
        "description",
    } <= complaint
    for t in DEFAULT_TYPES.values():
        assert t.workflow == DEFAULT_WORKFLOW
        assert t.urgency(None).code == "normal"
        assert [u.code for u in t.urgencies] == ["normal", "urgent", "critical"]
    with pytest.raises(Invalid, match="unknown urgency 'asap'"):
        DEFAULT_TYPES["complaint"].urgency("asap")


def _complaint(**over: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "intake_date": "2026-03-02",
        "receiving_agent": "张三",
        "channel": "phone",
        "calling_number": "139 1234 5678",
        "customer_name": "李四",
        "address": "南京市鼓楼区",
        "contact_phone": "13912345678",
        "business_category": "service",
        "nature": "general",
        "subject": "抄表员态度差",
        "description": "……",
    }
    values.update(over)
    return values


def test_complaint_form_cleans_values() -> None:
    out = clean_form(DEFAULT_TYPES["complaint"], _complaint(intake_date=date(2026, 3, 2), number="  "))
    assert out["calling_number"] == "+8613912345678"
    assert out["intake_date"] == "2026-03-02"
    assert "number" not in out  # empty → omitted


def test_form_collects_every_problem() -> None:
    values = _complaint(
        channel="pigeon",
        intake_date="2026-02-30",
        calling_number="abc",
        subject="x" * 201,
        bogus=1,
    )
    del values["contact_phone"]
    _, problems = check_form(DEFAULT_TYPES["complaint"], values)
    got = dict(problems)
    assert got["channel"].startswith("'pigeon' is not one of: phone, web")
    assert "is not a date" in got["intake_date"]
    assert "not a phone number" in got["calling_number"]
    assert got["subject"] == "must be at most 200 characters"
    assert got["bogus"] == "unknown field for complaint"
    assert got["contact_phone"] == "联系电话 is required"
    with pytest.raises(Invalid) as exc:
        clean_form(DEFAULT_TYPES["complaint"], values)
    assert "(and 5 more)" in exc.value.detail
    assert len(exc.value.errors) == 6  # type: ignore[attr-defined]


def test_numbers_and_subtypes() -> None:
    sa = DEFAULT_TYPES["service_application"]
    base = {"contact_phone": "13912345678"}
    assert clean_form(sa, {**base, "capacity_kva": "250"}, subtype="capacity_increase")["capacity_kva"] == 250
    assert clean_form(sa, {**base, "capacity_kva": 12.5}, subtype="new_connection")["capacity_kva"] == 12.5
    got = dict(check_form(sa, {**base, "capacity_kva": 0}, subtype="new_connection")[1])
    assert got == {"capacity_kva": "must be at least 1"}
    got = dict(check_form(sa, {**base, "capacity_kva": True}, subtype="new_connection")[1])
    assert got == {"capacity_kva": "must be a number"}
    got = dict(check_form(sa, {**base, "capacity_kva": 10}, subtype="suspension")[1])
    assert got == {"capacity_kva": "only for subtypes new_connection, capacity_increase"}
    got = dict(check_form(sa, base)[1])
    assert got["subtype"].startswith("service_application needs a subtype: one of new_connection")
    got = dict(check_form(sa, base, subtype="new_connection")[1])
    assert got == {"capacity_kva": "申请容量(kVA) is required"}
    assert (
        dict(check_form(DEFAULT_TYPES["praise"], base, subtype="x")[1])["subtype"] == "praise has no subtypes"
    )


def test_type_documents_are_checked() -> None:
    doc = {
        "code": "water_leak",
        "label": "漏水",
        "fields": [{"name": "pipe", "label": "管道", "kind": "choice"}],
    }
    with pytest.raises(Invalid, match="choice field 'pipe' needs choices"):
        parse_type(doc)
    doc["fields"] = [{"name": "size", "label": "尺寸", "kind": "number", "max_length": 3}]
    with pytest.raises(Invalid, match="only text fields have max_length"):
        parse_type(doc)
    doc["fields"] = [{"name": "a", "label": "A"}, {"name": "a", "label": "B"}]
    with pytest.raises(Invalid, match="field 'a' is defined twice"):
        parse_type(doc)
    doc["fields"] = [{"name": "a", "label": "A", "kind": "phone", "required": True}]
    doc["default_urgency"] = "asap"
    with pytest.raises(Invalid, match="default_urgency 'asap' is not one of: normal, urgent, critical"):
        parse_type(doc)
    del doc["default_urgency"]
    t = parse_type(doc)
    assert t.workflow == DEFAULT_WORKFLOW
    assert clean_form(t, {"a": "025-8888 1234"}) == {"a": "+862588881234"}


# --- workflow definitions ------------------------------------------------------------------------


def _wf(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "states": ["new", "open", "done"],
        "initial": "new",
        "terminal": ["done"],
        "transitions": [
            {"action": "dispatch", "sources": ["new"], "target": "open"},
            {"action": "reply", "sources": ["open"], "target": "done"},
        ],
    }
    doc.update(over)
    return doc


def test_default_workflow_is_sound() -> None:
    assert workflow_problems(DEFAULT_WORKFLOW) == []
    assert parse_workflow(_wf()).allowed("new") == ("dispatch",)


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"initial": "nowhere"}, "initial: unknown state 'nowhere'"),
        ({"terminal": []}, "terminal: the workflow has no terminal state"),
        (
            {"transitions": [{"action": "dispatch", "sources": ["new"], "target": "gone"}]},
            "transitions[0].target: unknown state 'gone'",
        ),
        (
            {"transitions": [{"action": "dispatch", "sources": ["old"], "target": "done"}]},
            "transitions[0].sources[0]: unknown state 'old'",
        ),
        (
            {
                "states": ["new", "open", "done", "limbo"],
                "transitions": [
                    {"action": "dispatch", "sources": ["new"], "target": "open"},
                    {"action": "reply", "sources": ["open", "limbo"], "target": "done"},
                ],
            },
            "states.limbo: state 'limbo' is unreachable from 'new'",
        ),
        (
            {
                "transitions": [
                    {"action": "dispatch", "sources": ["new"], "target": "open"},
                    {"action": "reply", "sources": ["open"], "target": "done"},
                    {"action": "reopen", "sources": ["done"], "target": "open"},
                ]
            },
            "transitions[2].sources[0]: 'reopen' leaves the terminal state 'done'",
        ),
        (
            {
                "transitions": [
                    {"action": "dispatch", "sources": ["new"], "target": "open"},
                    {"action": "urge", "sources": ["open"]},
                    {"action": "reply", "sources": ["new"], "target": "done"},
                ]
            },
            "states.open: no terminal state can be reached from 'open'",
        ),
        (
            {
                "transitions": [
                    {"action": "dispatch", "sources": ["new"], "target": "open"},
                    {"action": "resume", "sources": ["open"]},
                    {"action": "reply", "sources": ["open"], "target": "done"},
                ]
            },
            "transitions[1].sources[0]: 'resume' from 'open' but no 'hold' leads there",
        ),
        (
            {
                "transitions": [
                    {"action": "dispatch", "sources": ["new"], "target": "open"},
                    {"action": "forward", "sources": ["open"], "target": "done"},
                    {"action": "reply", "sources": ["open"], "target": "done"},
                ]
            },
            "transitions[1].target: 'forward' keeps the state: leave the target out",
        ),
        (
            {
                "transitions": [
                    {"action": "dispatch", "sources": ["new"], "target": "open"},
                    {"action": "reply", "sources": ["open"]},
                ]
            },
            "transitions[1].target: 'reply' needs a target state",
        ),
        (
            {
                "transitions": [
                    {"action": "dispatch", "sources": ["new"], "target": "open"},
                    {"action": "dispatch", "sources": ["new"], "target": "done"},
                    {"action": "reply", "sources": ["open"], "target": "done"},
                ]
            },
            "transitions[1].sources[0]: 'dispatch' from 'new' is already defined by transitions[0]",
        ),
        (
            {"transitions": [{"action": "teleport", "sources": ["new"], "target": "done"}]},
            "transitions[0].action",
        ),
    ],
)
def test_workflow_validation_messages(over: dict[str, Any], message: str) -> None:
    with pytest.raises(Invalid) as exc:
        parse_workflow(_wf(**over))
    assert exc.value.detail.startswith(message) or message in exc.value.detail


# --- apply ---------------------------------------------------------------------------------------


def test_full_loop_records_history_and_versions() -> None:
    opened = open_ticket("T1", "complaint", actor="agent1", now=T0, note="来电投诉")
    assert (opened.state.state, opened.state.version, opened.entry.action) == ("accepted", 1, "accept")
    ticket = opened.state
    steps = [
        *TO_REVIEWED,
        ("revisit", {"satisfaction": "satisfied", "method": "call"}, "客户满意"),
        ("archive", {}, ""),
    ]
    entries = [opened.entry]
    for i, (action, payload, note) in enumerate(steps):
        out = apply(ticket, Command(action, f"user{i}", note=note, attachments=("a1",), payload=payload), T0)
        assert out.state.version == ticket.version + 1
        assert out.entry.from_state == ticket.state and out.entry.to_state == out.state.state
        assert out.entry.actor == f"user{i}" and out.entry.attachments == ("a1",)
        assert out.events[0].kind == "state_changed"
        entries.append(out.entry)
        ticket = out.state
    assert ticket.state == "archived" and ticket.version == 8 and ticket.satisfaction == "satisfied"
    assert [e.to_state for e in entries] == [
        "accepted",
        "dispatched",
        "acknowledged",
        "in_progress",
        "replied",
        "reviewed",
        "revisited",
        "archived",
    ]
    assert allowed_actions(ticket) == ()
    with pytest.raises(
        Refused, match=r"cannot urge in state archived; allowed: nothing \(the ticket is closed\)"
    ):
        apply(ticket, Command("urge", "u"), T0)


def test_refusal_lists_allowed_actions() -> None:
    ticket = _run(_open(), *TO_IN_PROGRESS[:2]).state
    with pytest.raises(Refused) as exc:
        apply(ticket, Command("reply", "u", note="done"), T0)
    assert exc.value.detail == "cannot reply in state acknowledged; allowed: start, hold, cancel, merge, urge"
    assert exc.value.allowed == ("start", "hold", "cancel", "merge", "urge")
    assert exc.value.status == 409


def test_return_needs_a_reason_and_goes_back_to_work() -> None:
    ticket = _run(_open(), *TO_IN_PROGRESS, ("reply", {}, "done")).state
    with pytest.raises(Invalid, match="return needs a reason"):
        apply(ticket, Command("return", "reviewer", note="  "), T0)
    out = apply(ticket, Command("return", "reviewer", note="照片不清楚"), T0)
    assert out.state.state == "in_progress" and out.state.returns == 1
    assert out.entry.note == "照片不清楚"


def test_cancel_only_before_reply_and_with_reason() -> None:
    ticket = _open()
    with pytest.raises(Invalid, match="cancel needs a reason"):
        apply(ticket, Command("cancel", "u"), T0)
    assert apply(ticket, Command("cancel", "u", note="重复来电"), T0).state.state == "cancelled"
    replied = _run(ticket, *TO_IN_PROGRESS, ("reply", {}, "done")).state
    with pytest.raises(Refused, match="cannot cancel in state replied; allowed: review, return, urge"):
        apply(replied, Command("cancel", "u", note="x"), T0)


def test_revisit_satisfaction_and_reopen() -> None:
    ticket = _run(_open(), *TO_REVIEWED).state
    with pytest.raises(
        Invalid, match="satisfaction must be one of: satisfied, basically_satisfied, dissatisfied"
    ):
        apply(ticket, Command("revisit", "u", payload={"satisfaction": "meh"}), T0)
    with pytest.raises(Invalid, match="a dissatisfied revisit needs a comment"):
        apply(ticket, Command("revisit", "u", payload={"satisfaction": "dissatisfied"}), T0)
    ok = apply(ticket, Command("revisit", "u", payload={"satisfaction": "basically_satisfied"}), T0).state
    assert allowed_actions(ok) == ("archive", "urge")
    with pytest.raises(Refused) as exc:
        apply(ok, Command("reopen", "u"), T0)
    assert exc.value.detail == (
        "cannot reopen in state revisited (only a dissatisfied revisit reopens); allowed: archive, urge"
    )
    bad = apply(
        ticket, Command("revisit", "u", payload={"satisfaction": "dissatisfied", "comment": "没修好"}), T0
    )
    assert bad.entry.data == {"satisfaction": "dissatisfied", "comment": "没修好"}
    assert allowed_actions(bad.state) == ("reopen", "archive", "urge")
    reopened = apply(bad.state, Command("reopen", "center"), T0).state
    assert (reopened.state, reopened.reopens) == ("in_progress", 1)


def test_revisit_of_a_ticket_never_replied_is_refused() -> None:
    # a workflow that (carelessly) allows revisit straight from in_progress: the guard still holds
    wf = parse_workflow(
        {
            "states": ["accepted", "in_progress", "revisited", "archived"],
            "initial": "accepted",
            "terminal": ["archived"],
            "transitions": [
                {"action": "start", "sources": ["accepted"], "target": "in_progress"},
                {"action": "revisit", "sources": ["in_progress"], "target": "revisited"},
                {"action": "archive", "sources": ["revisited"], "target": "archived"},
            ],
        }
    )
    ticket = open_ticket("T9", "opinion", actor="a", now=T0, workflow=wf).state
    ticket = apply(ticket, Command("start", "u"), T0, workflow=wf).state
    with pytest.raises(
        Refused, match=r"cannot revisit in state in_progress \(the ticket was never replied\)"
    ):
        apply(ticket, Command("revisit", "u", payload={"satisfaction": "satisfied"}), T0, workflow=wf)


def test_hold_and_resume_return_to_the_state_left() -> None:
    ticket = _run(_open(), *TO_IN_PROGRESS[:2]).state
    held = apply(ticket, Command("hold", "u", payload={"waiting_for": "third_party"}), T0)
    assert held.state.state == "on_hold" and held.state.held_from == "acknowledged"
    assert [e.kind for e in held.events] == ["state_changed", "hold_started"]
    assert hold_time(held.state, T0 + timedelta(minutes=7)) == timedelta(minutes=7)
    resumed = apply(held.state, Command("resume", "u"), T0 + timedelta(minutes=10))
    assert resumed.state.state == "acknowledged" and resumed.state.held_from is None
    assert resumed.events[1].kind == "hold_ended" and resumed.events[1].data["seconds"] == 600
    assert resumed.state.held_total == timedelta(minutes=10)
    # leaving the hold by cancel closes the interval too
    again = apply(resumed.state, Command("hold", "u"), T0 + timedelta(minutes=20)).state
    cancelled = apply(again, Command("cancel", "u", note="客户撤诉"), T0 + timedelta(minutes=25))
    assert cancelled.state.held_total == timedelta(minutes=15)
    assert [e.kind for e in cancelled.events] == ["state_changed", "hold_ended"]
    with pytest.raises(Refused, match="cannot hold in state accepted"):
        apply(_open(), Command("hold", "u"), T0)


def test_forward_urge_and_merge() -> None:
    ticket = _run(_open(), TO_IN_PROGRESS[0]).state
    fwd = apply(ticket, Command("forward", "unit-lead", payload={"unit": "U1.3", "handler": "h7"}), T0)
    assert (fwd.state.state, fwd.state.unit, fwd.state.handler) == ("dispatched", "U1.3", "h7")
    assert [e.kind for e in fwd.events] == ["assigned"]
    assert fwd.entry.from_state == fwd.entry.to_state == "dispatched"
    urged = apply(fwd.state, Command("urge", "agent2", note="客户再次来电"), T0)
    assert (urged.state.state, urged.state.urges, urged.state.version) == ("dispatched", 1, 4)
    assert urged.events == (urged.events[0],) and urged.events[0].kind == "urged"
    with pytest.raises(Refused, match="cannot be merged into itself"):
        apply(urged.state, Command("merge", "u", payload={"into": "T1"}), T0)
    merged = apply(urged.state, Command("merge", "u", payload={"into": "T0"}), T0).state
    assert (merged.state, merged.merged_into) == ("merged", "T0")


def test_bad_commands() -> None:
    ticket = _open()
    with pytest.raises(Invalid, match="unknown action 'fly'"):
        apply(ticket, Command("fly", "u"), T0)
    with pytest.raises(Invalid, match="dispatch does not take 'colour'; payload keys: unit, handler"):
        apply(ticket, Command("dispatch", "u", payload={"unit": "U", "colour": "red"}), T0)
    with pytest.raises(Invalid, match=r"payload\.unit must not be empty"):
        apply(ticket, Command("dispatch", "u"), T0)
    with pytest.raises(Invalid, match="actor must not be empty"):
        apply(ticket, Command("dispatch", "", payload={"unit": "U"}), T0)
    with pytest.raises(Invalid, match="an attachment is listed twice"):
        apply(ticket, Command("dispatch", "u", attachments=("a", "a"), payload={"unit": "U"}), T0)
    with pytest.raises(Invalid, match="now must be an aware datetime"):
        apply(ticket, Command("dispatch", "u", payload={"unit": "U"}), datetime(2026, 1, 1))
    with pytest.raises(StaleVersion, match="ticket T1 is at version 1, not 0") as exc:
        apply(ticket, Command("dispatch", "u", payload={"unit": "U"}, expected_version=0), T0)
    assert isinstance(exc.value, Conflict)
    ok = apply(ticket, Command("dispatch", "u", payload={"unit": "U"}, expected_version=1), T0)
    assert ok.state.version == 2


# --- stateful property test ----------------------------------------------------------------------

# an independent oracle of the default workflow: state → action → target (None = stays / resume)
ORACLE: dict[str, dict[str, str | None]] = {
    "accepted": {"dispatch": "dispatched", "cancel": "cancelled", "merge": "merged", "urge": None},
    "dispatched": {
        "forward": None,
        "acknowledge": "acknowledged",
        "hold": "on_hold",
        "cancel": "cancelled",
        "merge": "merged",
        "urge": None,
    },
    "acknowledged": {
        "start": "in_progress",
        "hold": "on_hold",
        "cancel": "cancelled",
        "merge": "merged",
        "urge": None,
    },
    "in_progress": {
        "reply": "replied",
        "hold": "on_hold",
        "cancel": "cancelled",
        "merge": "merged",
        "urge": None,
    },
    "on_hold": {"resume": None, "cancel": "cancelled", "merge": "merged", "urge": None},
    "replied": {"review": "reviewed", "return": "in_progress", "urge": None},
    "reviewed": {"revisit": "revisited", "urge": None},
    "revisited": {"reopen": "in_progress", "archive": "archived", "urge": None},
    "archived": {},
    "cancelled": {},
    "merged": {},
}
TERMINAL = {"archived", "cancelled", "merged"}


def _payload(action: str, sat: str, unit: str) -> dict[str, Any]:
    return {
        "dispatch": {"unit": unit},
        "forward": {"unit": unit + ".1"},
        "hold": {"waiting_for": "customer"},
        "revisit": {"satisfaction": sat, "comment": "c"},
        "merge": {"into": "OTHER"},
    }.get(action, {})


class WorkflowMachine(RuleBasedStateMachine):
    @initialize()
    def start(self) -> None:
        out = open_ticket("T1", "fault_repair", actor="agent", now=T0)
        self.ticket = out.state
        self.now = T0
        self.history = [out.entry]
        self.accepted = 1
        self.hold_started: datetime | None = None
        self.hold_sum = timedelta(0)
        self.held_from: str | None = None
        self.satisfaction: str | None = None

    @rule(
        data=st.data(),
        wait=st.integers(min_value=0, max_value=3 * 86400),
        sat=st.sampled_from(("satisfied", "basically_satisfied", "dissatisfied")),
        note=st.sampled_from(("a reason", "")),
        unit=st.sampled_from(("U1", "U2")),
    )
    def command(self, data: st.DataObject, wait: int, sat: str, note: str, unit: str) -> None:
        # mostly an action the oracle allows (rarely one that ends the ticket early), sometimes any
        mode = data.draw(st.integers(min_value=0, max_value=9), label="mode")
        table = ORACLE[self.ticket.state]
        pool = [a for a in table if mode == 1 or a not in ("cancel", "merge")]
        action = data.draw(st.sampled_from(pool if pool and mode else ACTIONS), label="action")
        self.now += timedelta(seconds=wait)
        before = self.ticket
        cmd = Command(action, "actor", note=note, attachments=("att",), payload=_payload(action, sat, unit))
        needs_note = action in ("reply", "return", "cancel")
        expect_ok = (
            action in table
            and not (needs_note and not note)
            and not (action == "reopen" and self.satisfaction != "dissatisfied")
        )
        try:
            out = apply(before, cmd, self.now)
        except (Refused, Invalid) as exc:
            assert not expect_ok, f"{action} in {before.state} refused: {exc}"
            if action not in table:
                assert isinstance(exc, Refused)
                guarded = {"reopen"} if self.satisfaction != "dissatisfied" else set()
                assert set(exc.allowed) == set(table) - guarded
            assert self.ticket is before and self.ticket == before
            return
        assert expect_ok, f"{action} in {before.state} accepted"
        target = table[action]
        if action == "resume":
            target = self.held_from
        elif target is None:
            target = before.state
        assert out.state.state == target
        assert out.state.version == before.version + 1
        assert out.entry.version == out.state.version and out.entry.at == self.now
        assert (out.entry.from_state, out.entry.to_state, out.entry.action) == (before.state, target, action)
        assert ("state_changed" in [e.kind for e in out.events]) == (target != before.state)
        # an independent account of the hold intervals
        if target == "on_hold" and before.state != "on_hold":
            self.hold_started, self.held_from = self.now, before.state
            assert [e.kind for e in out.events].count("hold_started") == 1
        if before.state == "on_hold" and target != "on_hold":
            assert self.hold_started is not None
            self.hold_sum += self.now - self.hold_started
            self.hold_started = None
            assert [e.kind for e in out.events].count("hold_ended") == 1
        if action == "revisit":
            self.satisfaction = sat
        if action == "urge":
            assert out.state.urges == before.urges + 1
        self.ticket = out.state
        self.history.append(out.entry)
        self.accepted += 1

    @invariant()
    def consistent(self) -> None:
        t = self.ticket
        assert t.state in DEFAULT_WORKFLOW.states
        assert len(self.history) == self.accepted == t.version
        assert [e.version for e in self.history] == list(range(1, t.version + 1))
        assert t.held_total == self.hold_sum
        open_part = self.now - self.hold_started if self.hold_started else timedelta(0)
        assert hold_time(t, self.now) == self.hold_sum + open_part
        assert (t.state == "on_hold") == (t.held_since is not None)
        if t.state in TERMINAL:
            assert allowed_actions(t) == ()
        if t.state == "merged":
            assert t.merged_into == "OTHER"


WorkflowMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestWorkflowMachine = WorkflowMachine.TestCase


def test_oracle_matches_default_workflow() -> None:
    for state, table in ORACLE.items():
        assert set(DEFAULT_WORKFLOW.allowed(state)) == set(table), state
