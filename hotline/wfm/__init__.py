"""Workforce management: Erlang B / C / A staffing mathematics (pure functions)."""

from __future__ import annotations

from hotline.wfm.erlang import (
    ErlangAResult,
    ErlangBResult,
    ErlangCResult,
    UnreachableTargetError,
    WfmInputError,
    erlang_a,
    erlang_a_required_agents,
    erlang_b,
    erlang_b_result,
    erlang_c,
    erlang_c_required_agents,
    erlang_c_wait_probability,
    offered_load,
    required_trunks,
    scheduled_agents,
)

__all__ = [
    "ErlangAResult",
    "ErlangBResult",
    "ErlangCResult",
    "UnreachableTargetError",
    "WfmInputError",
    "erlang_a",
    "erlang_a_required_agents",
    "erlang_b",
    "erlang_b_result",
    "erlang_c",
    "erlang_c_required_agents",
    "erlang_c_wait_probability",
    "offered_load",
    "required_trunks",
    "scheduled_agents",
]
