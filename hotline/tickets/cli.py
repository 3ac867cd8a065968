"""``hotline tickets …`` and ``hotline seed tickets`` (H-bench fills these in)."""

from __future__ import annotations

import typer

tickets_app = typer.Typer(no_args_is_help=True, help="Work orders: statistics export, maintenance.")


def seed_tickets_cmd() -> None:
    """Work-order demo data (not yet)."""
    raise typer.Exit(1)
