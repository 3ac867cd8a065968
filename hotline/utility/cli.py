"""``hotline billing …``: tariffs and bill runs. (Being written.)"""

from __future__ import annotations

import typer

billing_app = typer.Typer(no_args_is_help=True, help="Utility billing: tariffs, bill runs.")
