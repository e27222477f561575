"""Positions as JSON (zeb_core.game.positions) and the `zeb solve` command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from zeb_cli.solve import solve_command
from zeb_core.game.engine import legal_mask, new_games, step
from zeb_core.game.players import RandomPlayer
from zeb_core.game.positions import PositionError, parse_position, position_to_dict
from zeb_core.oracle.solver import solve_states

app = typer.Typer()
app.command()(solve_command)
runner = CliRunner()


def position(n_played: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    state, player = new_games(rng, 1), RandomPlayer()
    for _ in range(n_played):
        state = step(state, player.act(state, rng))
    return position_to_dict(state)


def current_holdings(pos: dict) -> dict:
    """The same position with each hand listing only what the seat still holds."""
    played = set(pos["plays"])
    return {**pos, "hands": [[d for d in h if d not in played] for h in pos["hands"]]}


@pytest.mark.parametrize("n_played", [0, 6, 13, 27])
def test_positions_round_trip_in_both_hand_forms(n_played: int) -> None:
    pos = position(n_played, seed=n_played)
    for form in (pos, current_holdings(pos)):
        got = position_to_dict(parse_position(json.dumps(form)))
        assert {**got, "hands": None} == {**pos, "hands": None}
        assert [sorted(h) for h in got["hands"]] == [sorted(h) for h in pos["hands"]]
        assert len(got["plays"]) == n_played


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: {**p, "hands": [p["hands"][0][:6] + [p["hands"][1][0]]] + p["hands"][1:]},
         "appears twice"),
        (lambda p: {**p, "hands": p["hands"][:3]}, "list of 4 lists"),
        (lambda p: {**p, "decl": 10}, "decl must be an integer 0..9"),
        (lambda p: {**p, "leader": "0"}, "leader must be"),
        (lambda p: {**p, "plays": p["plays"] + p["plays"][:1]}, "played twice"),
        (lambda p: {**p, "extra": 1}, "unknown key"),
        (lambda p: {k: v for k, v in p.items() if k != "decl"}, "missing key 'decl'"),
        (lambda p: {**current_holdings(p), "hands": [h[:-1] for h in current_holdings(p)["hands"]]},
         "expected 7 in all"),
    ],
)  # fmt: skip
def test_bad_positions_are_rejected(change, message: str) -> None:
    with pytest.raises(PositionError, match=message):
        parse_position(json.dumps(change(position(5))))


def test_illegal_plays_are_rejected() -> None:
    pos = position(0, seed=3)
    leader = pos["leader"]
    with pytest.raises(PositionError, match="does not hold"):
        parse_position(json.dumps({**pos, "plays": [pos["hands"][(leader + 1) % 4][0]]}))
    # find a deal where the second seat holds both a domino that follows and one that does not
    for seed in range(200):
        pos = position(1, seed=seed)
        state = parse_position(json.dumps(pos))
        legal = legal_mask(state)[0]
        if not legal.all():
            seat = int(state.to_move[0])
            bad = int(state.hands[0, seat][np.flatnonzero(~legal)[0]])
            with pytest.raises(PositionError, match="does not follow suit"):
                parse_position(json.dumps({**pos, "plays": pos["plays"] + [bad]}))
            return
    raise AssertionError("no deal with a follow-suit constraint found")


def test_solve_prints_every_legal_domino_as_json() -> None:
    pos = position(9, seed=1)
    result = runner.invoke(app, ["-", "--json"], input=json.dumps(pos))
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    truth = solve_states(parse_position(json.dumps(pos)))
    legal = np.flatnonzero(np.isfinite(truth.action_values[0]))
    assert sorted(a["slot"] for a in report["actions"]) == legal.tolist()
    assert report["value"] == truth.value[0] == report["actions"][0]["value"]
    for a in report["actions"]:
        assert a["value"] == truth.action_values[0, a["slot"]]


def test_solve_prints_a_table_from_a_file(tmp_path) -> None:
    path = tmp_path / "pos.json"
    path.write_text(json.dumps(position(0, seed=2)))
    result = runner.invoke(app, [str(path)])
    assert result.exit_code == 0, result.output
    assert "points to come" in result.stdout and "to play" in result.stdout


@pytest.mark.parametrize(
    "text", ["{not json", json.dumps({"hands": [], "decl": 0, "leader": 0}), "[1, 2]"]
)
def test_bad_input_is_one_line_and_exit_2(text: str) -> None:
    result = runner.invoke(app, ["-"], input=text)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output


def test_missing_file_and_finished_hand_exit_2(tmp_path) -> None:
    assert runner.invoke(app, [str(tmp_path / "nope.json")]).exit_code == 2
    result = runner.invoke(app, ["-"], input=json.dumps(position(28)))
    assert result.exit_code == 2 and "over" in result.output
