"""Helpers for the IVR tests."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from hotline.ivr import Effect, Finish, Flow, FlowRun, Play, RunAction, parse_flow

FLOWS_DIR = Path(__file__).resolve().parents[2] / "hotline" / "ivr" / "flows"


def flow(text: str) -> Flow:
    return parse_flow(textwrap.dedent(text))


def demo(name: str) -> Flow:
    return parse_flow((FLOWS_DIR / f"{name}.yaml").read_text(encoding="utf-8"))


def plays(effects: list[Effect]) -> list[Play]:
    return [e for e in effects if isinstance(e, Play)]


def only_play(effects: list[Effect]) -> Play:
    ps = plays(effects)
    assert len(ps) == 1, effects
    return ps[0]


def texts(effects: list[Effect]) -> list[str]:
    return [getattr(p, "text", getattr(p, "path", "")) for e in plays(effects) for p in e.prompts]


def finish(effects: list[Effect]) -> Any:
    fins = [e for e in effects if isinstance(e, Finish)]
    assert len(fins) == 1, effects
    return fins[0].outcome


def action(effects: list[Effect]) -> RunAction:
    acts = [e for e in effects if isinstance(e, RunAction)]
    assert len(acts) == 1, effects
    return acts[0]


def press(run: FlowRun, keys: str, now: float) -> list[Effect]:
    out: list[Effect] = []
    for k in keys:
        out.extend(run.digit(k, now))
    return out
