"""`zeb solve`: the exact value of every legal domino in a fully known position."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from zeb_cli.errors import fail
from zeb_core.game.engine import GameState
from zeb_core.game.positions import PositionError, parse_position
from zeb_core.game.rules import DECL_NAMES, domino_name
from zeb_core.oracle.solver import solve_states


def solve_command(
    source: str = typer.Argument("-", help="Position JSON file, or - to read standard input."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Print the value (points still to come for the side to move) of every legal domino.

    The position is JSON: {"hands": [[ids x7] x4], "decl": 0..9, "leader": 0..3, "plays": [ids]}.
    """
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as e:
        raise fail(f"cannot read {source}: {e.strerror}") from None
    try:
        state = parse_position(text)
    except PositionError as e:
        raise fail(str(e)) from None
    if bool(state.done[0]):
        raise fail("the hand is over: no domino left to play")
    report = solve_report(state)
    if as_json:
        typer.echo(json.dumps(report))
    else:
        _print_table(report)


def solve_report(state: GameState) -> dict[str, Any]:
    """The solved position (game 0 of the batch) as plain data, best action first."""
    result = solve_states(state.take([0]))
    mover = int(state.to_move[0])
    hand = state.hands[0, mover]
    actions = [
        {"domino": int(hand[slot]), "name": domino_name(int(hand[slot])), "slot": int(slot),
         "value": int(result.action_values[0, slot])}
        for slot in np.flatnonzero(np.isfinite(result.action_values[0]))
    ]  # fmt: skip
    actions.sort(key=lambda a: (-a["value"], a["domino"]))
    return {
        "mover": mover,
        "team": mover % 2,
        "decl": int(state.decl[0]),
        "plays": int(state.n_played[0]),
        "team_points": state.team_points[0].tolist(),
        "value": int(result.value[0]),
        "actions": actions,
    }


def _print_table(report: dict[str, Any]) -> None:
    team = report["team"]
    have = report["team_points"][team]
    table = Table(
        title=f"seat {report['mover']} to play ({DECL_NAMES[report['decl']]}); "
        f"team {team} has {have}, can still win {report['value']} with best play"
    )
    for name in ("domino", "id", "slot", "points to come", "final"):
        table.add_column(name, justify="right")
    for a in report["actions"]:
        best = a["value"] == report["value"]
        table.add_row(
            a["name"], str(a["domino"]), str(a["slot"]), str(a["value"]), str(have + a["value"]),
            style="bold green" if best else None,
        )  # fmt: skip
    Console().print(table)
