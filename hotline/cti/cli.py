"""``hotline agent …``: agent sessions on a running server (through its REST API)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hotline.apiclient import ApiClient, ApiError

agent_app = typer.Typer(no_args_is_help=True, help="Agents on phones: log in, ready, not ready, wrap-up.")
out = Console(soft_wrap=True)
err = Console(stderr=True)

ServerOpt = Annotated[str, typer.Option("--server", help="URL of the running Hotline server.")]
UserOpt = Annotated[str, typer.Option("--user", "-u", help="Your username.")]
PasswordOpt = Annotated[
    str, typer.Option("--password", "-p", prompt=True, hide_input=True, help="Your password (prompted).")
]
TenantOpt = Annotated[str | None, typer.Option("--tenant", "-t", help="Tenant slug (if not unique).")]
AgentOpt = Annotated[
    str | None, typer.Option("--agent", "-a", help="Act on this agent (username; default: yourself).")
]
DEFAULT_SERVER = "http://127.0.0.1:8080"


def _session(
    server: str, user: str, password: str, tenant: str | None, agent: str | None
) -> tuple[ApiClient, int]:
    try:
        client = ApiClient.login(server, user, password, tenant)
        if agent is None or agent == user:
            return client, int(client.request("GET", "/api/v1/auth/me")["id"])
        for a in client.request("GET", "/api/v1/agents"):
            if a["username"] == agent:
                return client, int(a["user_id"])
    except ApiError as exc:
        _fail(exc)
    err.print(f"[bold red]error:[/] no agent {agent!r} that you may see")
    raise typer.Exit(1)


def _fail(exc: ApiError) -> None:
    field = f" ({exc.field})" if exc.field else ""
    err.print(f"[bold red]error:[/] {exc.detail}{field}", highlight=False)
    raise typer.Exit(2 if exc.status == 0 else 1)


def _act(client: ApiClient, method: str, path: str, body: Any = None) -> dict[str, Any]:
    try:
        result: dict[str, Any] = client.request(method, path, body)
        return result
    except ApiError as exc:
        _fail(exc)
        raise  # unreachable


def _show(status: dict[str, Any]) -> None:
    reason = f" ({status['reason']})" if status.get("reason") else ""
    ext = f" at {status['extension']}" if status.get("extension") else ""
    out.print(f"{status['username']}: {status['state']}{reason}{ext}, {status['seconds_in_state']:.0f} s")


@agent_app.command("login")
def login(
    extension: Annotated[str, typer.Option("--extension", "-e", help="The phone you sit at.")],
    user: UserOpt,
    password: PasswordOpt,
    ready: Annotated[bool, typer.Option("--ready/--not-ready", help="Available at once.")] = False,
    server: ServerOpt = DEFAULT_SERVER,
    tenant: TenantOpt = None,
    agent: AgentOpt = None,
) -> None:
    """Log in at an extension."""
    client, uid = _session(server, user, password, tenant, agent)
    _show(_act(client, "POST", f"/api/v1/agents/{uid}/login", {"extension": extension, "ready": ready}))


@agent_app.command("ready")
def ready(user: UserOpt, password: PasswordOpt, server: ServerOpt = DEFAULT_SERVER, tenant: TenantOpt = None,
          agent: AgentOpt = None) -> None:  # fmt: skip
    """Available for calls."""
    client, uid = _session(server, user, password, tenant, agent)
    _show(_act(client, "POST", f"/api/v1/agents/{uid}/ready"))


@agent_app.command("not-ready")
def not_ready(
    reason: Annotated[str, typer.Option("--reason", "-r", help="A not-ready reason code (e.g. break).")],
    user: UserOpt,
    password: PasswordOpt,
    server: ServerOpt = DEFAULT_SERVER,
    tenant: TenantOpt = None,
    agent: AgentOpt = None,
) -> None:
    """Not ready, with a reason."""
    client, uid = _session(server, user, password, tenant, agent)
    _show(_act(client, "POST", f"/api/v1/agents/{uid}/not-ready", {"reason": reason}))


@agent_app.command("wrap-up")
def wrap_up(
    disposition: Annotated[str, typer.Option("--disposition", "-d", help="A disposition code.")],
    user: UserOpt,
    password: PasswordOpt,
    notes: Annotated[str, typer.Option("--notes", help="Notes on the call.")] = "",
    server: ServerOpt = DEFAULT_SERVER,
    tenant: TenantOpt = None,
    agent: AgentOpt = None,
) -> None:
    """Record the last call's disposition and end wrap-up."""
    client, uid = _session(server, user, password, tenant, agent)
    _show(_act(client, "POST", f"/api/v1/agents/{uid}/wrap-up", {"disposition": disposition, "notes": notes}))


@agent_app.command("logout")
def logout(user: UserOpt, password: PasswordOpt, server: ServerOpt = DEFAULT_SERVER, tenant: TenantOpt = None,
           agent: AgentOpt = None) -> None:  # fmt: skip
    """Log out."""
    client, uid = _session(server, user, password, tenant, agent)
    _show(_act(client, "POST", f"/api/v1/agents/{uid}/logout"))


@agent_app.command("list")
def list_agents(user: UserOpt, password: PasswordOpt, server: ServerOpt = DEFAULT_SERVER,
                tenant: TenantOpt = None) -> None:  # fmt: skip
    """Agents you may see and their live state."""
    client, _uid = _session(server, user, password, tenant, None)
    rows = client.request("GET", "/api/v1/agents")
    table = Table("agent", "name", "state", "reason", "extension", "seconds", "calls")
    for a in rows:
        table.add_row(
            a["username"], a["name"], a["state"], a["reason"] or "", a["extension"] or "",
            f"{a['seconds_in_state']:.0f}", str(a["calls_handled"]),
        )  # fmt: skip
    out.print(table)
