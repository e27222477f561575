"""How every `zeb` command reports a user's mistake: one `error:` line on stderr and an exit code
(2 unless a command documents another), never a traceback."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

err = Console(stderr=True)


def fail(message: object, code: int = 2) -> typer.Exit:
    """Print the one-line error and return the exit to raise."""
    # escape: a message may hold brackets (a path, a spec) that rich would read as markup
    err.print(f"[red]error:[/red] {escape(str(message))}", highlight=False, soft_wrap=True)
    return typer.Exit(code=code)
