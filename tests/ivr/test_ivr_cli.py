"""`hotline ivr …` through typer's CliRunner, and the text-mode simulator."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from hotline.cli import app as main_app
from hotline.ivr import Hangup, Returned, ToQueue, simulate, simulate_async
from hotline.ivr.cli import ivr_app
from tests.ivr.util import FLOWS_DIR, demo

runner = CliRunner()
ZH = str(FLOWS_DIR / "95598-zh.yaml")


def test_validate_demo_flows_ok() -> None:
    files = [str(p) for p in sorted(FLOWS_DIR.glob("*.yaml"))]
    result = runner.invoke(
        ivr_app, ["validate", *files, "--queues", "general,fault,billing,complaint,consult,english"]
    )
    assert result.exit_code == 0, result.output
    assert "ok: 95598-zh (" in result.output and "ok: verify-pin (5 nodes)" in result.output
    # the utility plugins (hotline.utility.ivr_actions) are installed: no unknown actions
    assert "unknown action" not in result.output


def test_validate_errors_exit_1_with_positions(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        'name: bad\nstart: m\nnodes:\n  m: {type: menu, prompt: hi, options: {"1": billx}, on_max_retries: m}\n'
        "  s: {type: subflow, flow: nope, next: m}\n",
        encoding="utf-8",
    )
    result = runner.invoke(ivr_app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:4:46: node 'm': options.1 points to unknown node 'billx'" in result.output
    assert f"{bad}:5:3: node 's': unreachable from the start node" in result.output
    assert f"{bad}:5:28: node 's': unknown subflow 'nope'" in result.output
    assert "ok:" not in result.output


def test_validate_files_know_each_other(tmp_path: Path) -> None:
    main = tmp_path / "main.yaml"
    main.write_text(
        "name: main\nstart: s\nnodes:\n  s: {type: subflow, flow: verify-pin, next: q}\n  q: {type: queue, queue: general}\n",
        encoding="utf-8",
    )
    alone = runner.invoke(ivr_app, ["validate", str(main)])
    assert alone.exit_code == 1 and "unknown subflow 'verify-pin'" in alone.output
    together = runner.invoke(ivr_app, ["validate", str(main), str(FLOWS_DIR / "verify-pin.yaml")])
    assert together.exit_code == 0, together.output
    assert "ok: main (2 nodes)" in together.output


def test_validate_syntax_error_and_unreadable(tmp_path: Path) -> None:
    bad = tmp_path / "syntax.yaml"
    bad.write_text("name: x\nnodes: [\n", encoding="utf-8")
    result = runner.invoke(ivr_app, ["validate", str(bad)])
    assert result.exit_code == 1 and f"{bad}:" in result.output and "YAML syntax" in result.output
    result = runner.invoke(ivr_app, ["validate", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2


def test_simulate_fault_via_main_cli() -> None:
    result = runner.invoke(main_app, ["ivr", "simulate", ZH, "--digits", "2"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "[welcome] PLAY(tts zh-CN): 您好，欢迎致电95598供电服务热线。" in out
    assert "[menu] INPUT 2" in out
    assert "END queue fault priority 5" in out
    assert "PATH welcome → outage → outage-check → menu → fault" in out


def test_simulate_bill_path_with_vars_and_silence() -> None:
    # no database or billing back-end in a text simulation: identification fails, the flow
    # apologises and queues the caller for an agent (tests/utility/test_ivr_actions_flows.py runs
    # the same branch with the real plugins against a seeded database)
    result = runner.invoke(
        ivr_app,
        ["simulate", ZH, "--digits", "1,-", "--var", "caller=0123", "--var", "customer.vip=true"],
    )
    assert result.exit_code == 0, result.output
    assert "[bill-identify] ACTION customer.identify" in result.output
    assert "[billing-down] PLAY(tts zh-CN): 对不起，系统繁忙，电费查询暂时无法使用" in result.output
    assert "END queue billing priority 0" in result.output and '"customer.vip": true' in result.output
    assert '"billing_unavailable": true' in result.output
    assert 'caller = "0123"' in result.output


def test_demo_flows_command() -> None:
    result = runner.invoke(ivr_app, ["demo-flows"])
    assert result.exit_code == 0 and "95598-zh.yaml" in result.output and "verify-pin.yaml" in result.output


def test_simulate_api_outcomes() -> None:
    zh, pin, after = demo("95598-zh"), demo("verify-pin"), demo("after-hours-zh")
    t = simulate(zh, inputs=["2"])
    assert isinstance(t.outcome, ToQueue) and t.outcome.queue == "fault" and t.outcome.priority == 5
    assert t.lines[-1].startswith("END queue fault")
    assert "VARIABLES" in str(t) and t.variables["menu_choice"] == "2"
    # silence: retries, then an agent
    t = simulate(zh, inputs=[])
    assert isinstance(t.outcome, ToQueue) and t.outcome.queue == "general"
    assert [s.result for s in t.path if s.node == "menu"] == ["max retries (timeout)"]
    # the PIN subflow as a top-level flow: the plugin does not exist yet, so not verified
    t = simulate(pin, inputs=["123456#"])
    assert t.outcome == Returned({"verified": False})
    t = simulate(after, inputs=["2"])
    assert t.outcome == Hangup("flow") and t.variables["voicemail.path"] == "voicemail/general/sim.wav"
    assert any("RECORD box general" in line for line in t.lines)
    t = simulate(after, inputs=["3"])
    assert t.outcome == Hangup("flow") and any(
        "CALLBACK 13800000000 queue general" in line for line in t.lines
    )


async def test_simulate_async_variant() -> None:
    t = await simulate_async(demo("95598-en"), inputs=["4"])
    assert (
        isinstance(t.outcome, ToQueue)
        and t.outcome.queue == "english"
        and t.outcome.data["topic"] == "consult"
    )
    assert t.lines[0].startswith("[welcome] PLAY(tts en): Welcome")
