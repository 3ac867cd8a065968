"""Random events on the demo flows: never raises, and never waits for nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hotline.ivr import (
    Effect,
    Finish,
    FlowRun,
    Play,
    Record,
    RequestCallback,
    RunAction,
    StopPlay,
)
from tests.ivr.util import demo

FLOWS = {name: demo(name) for name in ("95598-zh", "95598-en", "after-hours-zh", "verify-pin")}


class Shell:
    """A fake shell that remembers what it was asked to do."""

    def __init__(self, run: FlowRun) -> None:
        self.run = run
        self.plays: set[int] = set()
        self.requests: set[int] = set()
        self.finished = False
        self.ids: list[int] = []

    def take(self, effects: list[Effect]) -> None:
        assert not self.finished or effects == []
        for e in effects:
            if isinstance(e, Play):
                self.plays.add(e.play_id)
                self.ids.append(e.play_id)
            elif isinstance(e, StopPlay):
                assert e.play_id in self.plays
                self.plays.discard(e.play_id)
            elif isinstance(e, RunAction | Record | RequestCallback):
                self.requests.add(e.request_id)
                self.ids.append(e.request_id)
            elif isinstance(e, Finish):
                assert e is effects[-1]
                self.finished = True
        assert self.ids == sorted(set(self.ids))

    def check(self) -> None:
        run = self.run
        if self.finished or run.finished:
            assert run.finished and run.outcome is not None and run.next_deadline() is None
            return
        # something must be under way: a prompt, a request, or a timer
        assert self.plays or self.requests or run.next_deadline() is not None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(FLOWS)), st.data())
def test_random_events_never_raise_and_never_hang(name: str, data: st.DataObject) -> None:
    run = FlowRun(FLOWS[name], flows=FLOWS, variables={"caller": "13900000000", "calendar.open": True})
    shell = Shell(run)
    now = 0.0
    shell.take(run.start(now))
    shell.check()
    for _ in range(80):
        if run.finished:
            break
        now += data.draw(st.floats(0, 12), label="dt")
        kind = data.draw(
            st.sampled_from(
                [
                    "digit",
                    "digit",
                    "digit",
                    "play",
                    "play",
                    "ok",
                    "fail",
                    "record",
                    "tick",
                    "tick",
                    "stale",
                    "hangup",
                ]
            ),
            label="event",
        )
        if kind == "digit":
            shell.take(run.digit(data.draw(st.sampled_from("0123456789*#AD"), label="key"), now))
        elif kind == "play" and shell.plays:
            pid = data.draw(st.sampled_from(sorted(shell.plays)), label="pid")
            shell.plays.discard(pid)
            shell.take(run.playback_done(pid, now))
        elif kind in ("ok", "fail", "record") and shell.requests:
            rid = data.draw(st.sampled_from(sorted(shell.requests)), label="rid")
            shell.requests.discard(rid)
            if kind == "ok":
                values = data.draw(
                    st.dictionaries(
                        st.sampled_from(["notice", "verified", "account", "id"]),
                        st.one_of(st.none(), st.booleans(), st.text(max_size=5)),
                    ),
                    label="values",
                )
                shell.take(run.action_done(rid, values, now))
            elif kind == "fail":
                shell.take(run.action_failed(rid, "unknown action", now))
            else:
                shell.take(run.record_done(rid, "/tmp/vm.wav", 3.0, now))
        elif kind == "tick":
            deadline = run.next_deadline()
            if deadline is not None and data.draw(st.booleans(), label="jump"):
                now = max(now, deadline)
            shell.take(run.tick(now))
            # a request whose deadline passed is given up by the run: late answers are ignored
            if run.waiting_for not in ("action", "record", "callback"):
                shell.requests.clear()
        elif kind == "stale":
            assert run.playback_done(10_000, now) == [] and run.action_done(10_000, {}, now) == []
        elif kind == "hangup" and data.draw(st.integers(0, 5), label="rare") == 0:
            run.hangup(now)
            assert run.finished
            break
        shell.check()
    shell.check()


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(FLOWS)), st.lists(st.sampled_from("0123456789*#"), max_size=30))
def test_a_patient_shell_always_reaches_an_end(name: str, keys: list[str]) -> None:
    """Answer every prompt, fail every action, press random keys: the run ends within bounds."""
    run = FlowRun(FLOWS[name], flows=FLOWS, variables={"caller": "1"})
    now = 0.0
    effects = run.start(now)
    pending = list(keys)
    for _ in range(500):
        if run.finished:
            break
        now += 1.0
        nxt: list[Effect] = []
        for e in effects:
            if isinstance(e, Play):
                nxt += run.playback_done(e.play_id, now)
            elif isinstance(e, RunAction | RequestCallback):
                nxt += run.action_failed(e.request_id, "unknown action", now)
            elif isinstance(e, Record):
                nxt += run.record_done(e.request_id, None, 0.0, now)
        if not nxt and not run.finished:
            if pending and run.waiting_for == "input":
                nxt = run.digit(pending.pop(0), now)
            else:
                deadline = run.next_deadline()
                assert deadline is not None, run.path
                now = max(now, deadline)
                nxt = run.tick(now)
        effects = nxt
    assert run.finished and run.outcome is not None
