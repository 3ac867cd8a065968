"""The pure core of call control: state words, which action is allowed in which state, mixes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hotline.cti.control import (
    RULES,
    STATES,
    Facts,
    allowed,
    check,
    check_digits,
    check_mute,
    live_state,
    mix_plan,
    supervisor_extension,
)
from hotline.errors import Conflict, Invalid
from hotline.media.engine import Conference, Supervision
from hotline.media.mixer import MixMatrix


def test_state_words() -> None:
    assert live_state(Facts(phase="ivr")) == "ivr"
    assert live_state(Facts(phase="voicemail")) == "ivr"
    assert live_state(Facts(phase="queue")) == "queued"
    assert live_state(Facts(phase="queue", ringing=True)) == "ringing"
    assert live_state(Facts(phase="connected", bridged=True)) == "connected"
    assert live_state(Facts(phase="connected", bridged=True, held=True)) == "held"
    assert live_state(Facts(phase="connected", bridged=True, held=True, consulting=True)) == "consulting"
    assert (
        live_state(Facts(phase="connected", bridged=True, consulting=True, conference=True)) == "conference"
    )
    assert live_state(Facts(phase="connected", bridged=True, ended=True)) == "ended"
    assert live_state(Facts(phase="", bridged=False, ringing=True)) == "ringing"


@given(
    st.sampled_from(["", "ivr", "queue", "connected", "transfer", "voicemail", "ended"]),
    st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans(),
)  # fmt: skip
def test_every_snapshot_has_a_contract_state(
    phase: str, bridged: bool, ringing: bool, held: bool, consulting: bool, conference: bool, ended: bool
) -> None:
    state = live_state(Facts(phase, bridged, ringing, held, consulting, conference, ended))
    assert state in STATES
    for action in RULES:
        if ended:
            assert not allowed(action, state)
        if allowed(action, state):
            check(action, "c-1", state)
        else:
            with pytest.raises(Conflict) as exc:
                check(action, "c-1", state)
            assert f"(state: {state})" in exc.value.detail and "c-1" in exc.value.detail


def test_conflict_messages_name_the_state() -> None:
    with pytest.raises(Conflict, match=r"call c-12 is not connected \(state: queued\)"):
        check("hold", "c-12", "queued")
    with pytest.raises(Conflict, match=r"is not on hold \(state: connected\)"):
        check("resume", "c-12", "connected")
    with pytest.raises(Conflict, match=r"not in a consultation \(state: held\)"):
        check("transfer_complete", "c-12", "held")
    check("hold", "c-12", "connected")
    check("resume", "c-12", "held")
    check("pickup", "c-12", "ringing")


def _hears(spec: Supervision | Conference | None, caller: str, agent: str) -> dict[str, set[str]]:
    if spec is None:
        return {caller: {agent}, agent: {caller}}
    if isinstance(spec, Conference):
        m = MixMatrix.conference(spec.participants)
    else:
        m = MixMatrix.supervised(spec.parties, spec.agent, spec.supervisor, spec.mode)
    out: dict[str, set[str]] = {}
    for i, listener in enumerate(m.participants):
        out[listener] = {s for j, s in enumerate(m.participants) if m.gains[i, j] > 0}
    return out


def test_mix_plan_who_hears_whom() -> None:
    assert mix_plan("c", "a") is None
    assert mix_plan("c", "a", held=True, supervisor=("s", "barge")) is None
    assert _hears(mix_plan("c", "a", muted=True), "c", "a") == {"c": set(), "a": {"c"}}
    assert _hears(mix_plan("c", "a", supervisor=("s", "listen")), "c", "a") == {
        "c": {"a"}, "a": {"c"}, "s": {"c", "a"},
    }  # fmt: skip
    assert _hears(mix_plan("c", "a", supervisor=("s", "whisper")), "c", "a") == {
        "c": {"a"}, "a": {"c", "s"}, "s": {"c", "a"},
    }  # fmt: skip
    assert _hears(mix_plan("c", "a", supervisor=("s", "barge")), "c", "a") == {
        "c": {"a", "s"}, "a": {"c", "s"}, "s": {"c", "a"},
    }  # fmt: skip
    assert _hears(mix_plan("c", "a", conference=("t",)), "c", "a") == {
        "c": {"a", "t"}, "a": {"c", "t"}, "t": {"c", "a"},
    }  # fmt: skip


def test_small_checks() -> None:
    assert check_digits(" 12#a ") == "12#A"
    for bad in ("", "12x", "1" * 33):
        with pytest.raises(Invalid):
            check_digits(bad)
    check_mute("c-1", False, supervised=True, conference=False)
    with pytest.raises(Conflict, match="supervised"):
        check_mute("c-1", True, supervised=True, conference=False)
    assert supervisor_extension(None, "1003") == "1003"
    assert supervisor_extension(" 1009 ", "1003") == "1009"
    with pytest.raises(Invalid):
        supervisor_extension("", None)
