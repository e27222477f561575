"""Running flows from the command line: say what Prefect is about to do when it will be slow."""

from __future__ import annotations

from rich.console import Console


def prepare_prefect(console: Console) -> None:
    """Tell the user when Prefect must start a temporary local API (10-40 s here)."""
    from prefect.settings import get_current_settings

    if get_current_settings().api.url:
        return
    console.print(
        "[dim]No Prefect server configured (PREFECT_API_URL): starting Prefect's temporary local "
        "API first (10-40 s). For instant starts: `prefect server start`, then "
        "`export PREFECT_API_URL=http://127.0.0.1:4200/api`.[/dim]",
        highlight=False,
    )
