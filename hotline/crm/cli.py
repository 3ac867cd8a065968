"""``hotline import …``: bulk imports. (Being written.)"""

from __future__ import annotations

import typer

import_app = typer.Typer(no_args_is_help=True, help="Bulk imports (customers …), with a dry run.")
