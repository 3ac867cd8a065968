"""`hotline wfm` CLI through typer's CliRunner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from hotline.wfm.cli import app

runner = CliRunner()

_BASE_C = ["erlang-c", "--calls-per-hour", "200", "--aht", "180"]
_BASE_A = ["erlang-a", "--calls-per-hour", "200", "--aht", "180", "--patience", "60"]


def _json(args: list[str]) -> dict[str, object]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_erlang_c_textbook_json() -> None:
    data = _json([*_BASE_C, "--sl-target", "0.8", "--sl-seconds", "20"])
    assert data["agents"] == 14
    assert round(float(data["service_level"]), 3) == 0.888  # type: ignore[arg-type]
    assert round(float(data["wait_probability"]), 3) == 0.174  # type: ignore[arg-type]
    assert {"agents", "service_level", "wait_probability", "asa_seconds", "occupancy"} <= set(data)
    assert data["scheduled_agents"] is None


def test_erlang_c_options() -> None:
    data = _json([*_BASE_C, "--max-occupancy", "0.7", "--shrinkage", "0.3"])
    assert data["agents"] == 15 and data["scheduled_agents"] == 22
    data = _json([*_BASE_C, "--agents", "13"])
    assert data["agents"] == 13 and data["meets_target"] is False


def test_erlang_a_json() -> None:
    data = _json(_BASE_A)
    assert data["agents"] == 12
    assert {"agents", "service_level", "wait_probability", "asa_seconds", "occupancy", "abandon_rate"} <= set(
        data
    )
    evaluated = _json([*_BASE_A, "--agents", "8"])  # overloaded staffing is fine with abandonment
    assert evaluated["agents"] == 8 and 0.2 < float(evaluated["abandon_rate"]) < 0.4  # type: ignore[arg-type]
    inf = _json(["erlang-a", "--calls-per-hour", "200", "--aht", "180", "--patience", "inf"])
    assert inf["agents"] == 14 and inf["abandon_rate"] == 0.0


def test_erlang_b_json() -> None:
    data = _json(["erlang-b", "--erlangs", "4.46", "--blocking", "0.01"])
    assert data["trunks"] == 10 and float(data["blocking"]) <= 0.01  # type: ignore[arg-type]
    data = _json(["erlang-b", "--erlangs", "10", "--trunks", "10"])
    assert float(data["blocking"]) == pytest.approx(0.2145823, rel=1e-6)  # type: ignore[arg-type]
    assert data["meets_target"] is None


@pytest.mark.parametrize(
    "args",
    [
        [*_BASE_C],
        [*_BASE_A, "--shrinkage", "0.25"],
        ["erlang-b", "--erlangs", "10", "--blocking", "0.02"],
    ],
)
def test_table_output(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Agents" in result.output or "Trunks" in result.output
    assert "{" not in result.output


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["erlang-c", "--calls-per-hour", "-5", "--aht", "180"], "--calls-per-hour"),
        (["erlang-c", "--calls-per-hour", "200", "--aht", "0"], "--aht"),
        ([*_BASE_C, "--sl-target", "1.2"], "--sl-target"),
        ([*_BASE_C, "--sl-target", "0"], "--sl-target"),
        ([*_BASE_C, "--sl-seconds", "-1"], "--sl-seconds"),
        ([*_BASE_C, "--max-occupancy", "0"], "--max-occupancy"),
        ([*_BASE_C, "--max-occupancy", "1.5"], "--max-occupancy"),
        ([*_BASE_C, "--shrinkage", "1"], "--shrinkage"),
        ([*_BASE_C, "--agents", "10"], "--agents"),
        ([*_BASE_C, "--calls-per-hour", "nan"], "--calls-per-hour"),
        (["erlang-c", "--calls-per-hour", "1e12", "--aht", "180"], "--calls-per-hour"),
        ([*_BASE_A, "--sl-target", "-0.5"], "--sl-target"),
        (["erlang-a", "--calls-per-hour", "200", "--aht", "180", "--patience", "0"], "--patience"),
        ([*_BASE_A, "--agents", "0"], "--agents"),
        ([*_BASE_A, "--max-occupancy", "2"], "--max-occupancy"),
        (["erlang-b", "--erlangs", "-1", "--blocking", "0.01"], "--erlangs"),
        (["erlang-b", "--erlangs", "10", "--blocking", "1.5"], "--blocking"),
        (["erlang-b", "--erlangs", "10"], "--blocking"),
        (["erlang-b", "--erlangs", "10", "--trunks", "-3"], "--trunks"),
    ],
)
def test_bad_input_exits_2_naming_the_option(args: list[str], option: str) -> None:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 2, result.output
    assert option in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
