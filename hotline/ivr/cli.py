"""`hotline ivr …` — validate and simulate IVR flows.

Exit codes: 0 success; 1 the flow has errors; 2 bad usage (unreadable file, bad option).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from hotline.ivr.actions import default_registry
from hotline.ivr.loader import FlowError, FlowIssue, parse_flow
from hotline.ivr.model import Flow
from hotline.ivr.simulate import simulate as run_simulation
from hotline.ivr.validate import validate_flow

FLOWS_DIR = Path(__file__).parent / "flows"
FLOW_SUFFIXES = (".yaml", ".yml", ".json")
STRING_VARIABLES = frozenset({"caller", "dnis", "call_id", "language"})

ivr_app = typer.Typer(no_args_is_help=True, help="IVR flows: validate, simulate, demo flows.")

out = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


def _fail(message: str, code: int) -> NoReturn:
    err.print(f"error: {message}", style="bold red", markup=False)
    raise typer.Exit(code)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {exc}", 2)


def _print_issue(issue: FlowIssue) -> None:
    out.print(str(issue), style="red" if issue.is_error else "yellow", markup=False)


def _file_checker(base: Path) -> Callable[[str], bool]:
    """Prompt files are looked up relative to the flow file."""

    def exists(name: str) -> bool:
        return (base / name).is_file()

    return exists


def demo_flow_paths() -> list[Path]:
    """The demo flows shipped with Hotline."""
    return sorted(p for p in FLOWS_DIR.iterdir() if p.suffix in FLOW_SUFFIXES)


def _load_dir(directory: Path) -> dict[str, Flow]:
    flows: dict[str, Flow] = {}
    for p in sorted(directory.iterdir()):
        if p.suffix in FLOW_SUFFIXES and p.is_file():
            try:
                flow = parse_flow(_read(p), source=str(p))
            except FlowError:
                continue
            flows[flow.name] = flow
    return flows


@ivr_app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="Flow files (YAML or JSON).")],
    queues: Annotated[
        str | None, typer.Option("--queues", help="Known queue names, comma-separated (default: unchecked).")
    ] = None,
) -> None:
    """Validate flows; files given together may call each other as subflows."""
    texts = {path: _read(path) for path in files}
    flows: dict[Path, Flow] = {}
    for path, text in texts.items():
        with contextlib.suppress(FlowError):
            flows[path] = parse_flow(text, source=str(path))
    known_flows = {f.name for f in flows.values()}
    by_name = {f.name: f for f in flows.values()}
    known_actions = default_registry().names()
    known_queues = [q.strip() for q in queues.split(",") if q.strip()] if queues is not None else None
    failed = False
    for path, text in texts.items():
        issues = validate_flow(
            text,
            known_flows=known_flows,
            known_actions=known_actions,
            known_queues=known_queues,
            prompt_exists=_file_checker(path.parent),
            source=str(path),
            flows=by_name,
        )
        for issue in issues:
            _print_issue(issue)
        if any(i.is_error for i in issues):
            failed = True
        else:
            flow = flows[path]
            out.print(f"ok: {flow.name} ({len(flow.nodes)} nodes)", style="green", markup=False)
    if failed:
        raise typer.Exit(1)


def _parse_var(item: str) -> tuple[str, Any]:
    name, sep, raw = item.partition("=")
    if not sep or not name:
        _fail(f"--var wants NAME=VALUE, got {item!r}", 2)
    if name in STRING_VARIABLES:
        return name, raw
    try:
        value = json.loads(raw)
    except ValueError:
        return name, raw
    if value is None or isinstance(value, bool | int | float):
        return name, value
    return name, raw


@ivr_app.command("simulate")
def simulate(
    file: Annotated[Path, typer.Argument(help="The flow to run.")],
    digits: Annotated[
        str,
        typer.Option(
            "--digits",
            help='Inputs, comma-separated, one per menu or collect: "1,#,123"; "-" or empty: stay silent.',
        ),
    ] = "",
    flow_dir: Annotated[
        Path | None,
        typer.Option("--flow-dir", help="Directory of subflows (default: the flow's own directory)."),
    ] = None,
    var: Annotated[
        list[str] | None,
        typer.Option("--var", help="Variable NAME=VALUE (numbers and true/false are typed), repeatable."),
    ] = None,
) -> None:
    """Run a flow in text mode and print what the caller would hear and where the call ends."""
    text = _read(file)
    try:
        flow = parse_flow(text, source=str(file))
    except FlowError as exc:
        for issue in exc.issues:
            _print_issue(issue)
        raise typer.Exit(1) from None
    directory = flow_dir or file.parent
    if not directory.is_dir():
        _fail(f"--flow-dir {directory} is not a directory", 2)
    flows = _load_dir(directory)
    flows[flow.name] = flow
    variables = dict(_parse_var(v) for v in var or [])
    inputs = digits.split(",") if digits else []
    transcript = run_simulation(flow, flows=flows, inputs=inputs, variables=variables)
    out.print(transcript.text(), markup=False)
    path = " → ".join(step.node for step in transcript.path)
    out.print(f"PATH {path}", markup=False)
    for problem in transcript.errors:
        out.print(f"runtime error: {problem}", style="yellow", markup=False)


@ivr_app.command("demo-flows")
def demo_flows() -> None:
    """Print the paths of the demo flows shipped with Hotline."""
    for p in demo_flow_paths():
        out.print(str(p), markup=False)


@ivr_app.command("push")
def push(
    files: Annotated[list[Path], typer.Argument(help="Flow files (YAML) to upload.")],
    user: Annotated[str, typer.Option("--user", "-u", help="An administrator's username.")],
    password: Annotated[
        str, typer.Option("--password", "-p", prompt=True, hide_input=True, help="Password (prompted).")
    ],
    server: Annotated[
        str, typer.Option("--server", help="URL of the running server.")
    ] = "http://127.0.0.1:8080",
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Tenant slug.")] = None,
    activate: Annotated[
        bool, typer.Option("--activate/--no-activate", help="Activate each new version.")
    ] = True,
) -> None:
    """Upload flows to a running server as new versions (validated there; refused flows keep the old one)."""
    from hotline.apiclient import ApiClient, ApiError

    try:
        client = ApiClient.login(server, user, password, tenant)
    except ApiError as exc:
        _fail(exc.detail, 2 if exc.status == 0 else 1)
    failed = False
    for path in files:
        text = _read(path)
        try:
            name = parse_flow(text, source=str(path)).name
        except FlowError as exc:
            for issue in exc.issues:
                _print_issue(issue)
            failed = True
            continue
        try:
            saved = client.request(
                "PUT",
                f"/api/v1/ivr/flows/{name}?activate={'true' if activate else 'false'}",
                text.encode(),
                content_type="application/yaml",
            )
        except ApiError as exc:
            failed = True
            err.print(f"[red]{path}: refused: {exc.detail}[/]", highlight=False)
            continue
        state = "active" if saved["active"] else "stored (inactive)"
        out.print(f"{path}: {name} version {saved['version']} {state}")
    if failed:
        raise typer.Exit(1)
