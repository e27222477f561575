"""The E[Q] player: spec, scoring of sampled worlds, legality, determinism, exact endgames."""

from __future__ import annotations

import numpy as np
import pytest

from tests.core.game_helpers import random_positions
from zeb_core.evaluation.player_specs import PlayerSpecError, build_player
from zeb_core.game.engine import legal_mask, new_games, step
from zeb_core.game.players import RandomPlayer
from zeb_core.game.sampling import deal_count
from zeb_core.oracle.eq_player import EQPlayer, action_scores
from zeb_core.oracle.solver import solve_states


def test_spec_options() -> None:
    player = build_player("eq:n=4,mode=win")
    assert isinstance(player, EQPlayer) and (player.n_worlds, player.mode) == (4, "win")
    default = build_player("eq")
    assert (default.n_worlds, default.mode) == (32, "mean")
    assert build_player("eq,n=8").n_worlds == 8
    for bad in ("eq:n=0", "eq:mode=best", "eq:worlds=3", "eq:n=x", "eq:file.pt"):
        with pytest.raises(PlayerSpecError):
            build_player(bad)


def test_scores_mean_and_win_share() -> None:
    # One game, team 0 to move with 15 points already; three worlds, three legal slots.
    state = new_games(np.random.default_rng(0), 1, mode="selfplay")
    state = state.__class__(**{**state.__dict__, "team_points": np.array([[15, 0]], np.int16)})
    inf = -np.inf
    values = np.array([[[10, 4, 8, inf, inf, inf, inf],
                        [0, 7, 7, inf, inf, inf, inf],
                        [0, 7, 7, inf, inf, inf, inf]]], dtype=np.float64)  # fmt: skip
    np.testing.assert_allclose(action_scores(state, values, "mean")[0, :3], [10 / 3, 6, 22 / 3])
    win = action_scores(state, values, "win")[0]
    # slot 0 wins 1 world (25 > 21), slots 1 and 2 win 2 (22 > 21); slot 2 has the better mean
    assert np.argmax(win) == 2 and win[1] > win[0]
    with pytest.raises(ValueError):
        action_scores(state, values, "max")  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["mean", "win"])
def test_moves_are_legal_and_reproducible(mode: str) -> None:
    state = random_positions(1, 8, 5)
    player = EQPlayer(n_worlds=6, mode=mode)  # type: ignore[arg-type]
    a = player.act(state, np.random.default_rng(3))
    b = player.act(state, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    assert legal_mask(state)[np.arange(8), a].all()


def test_plays_perfectly_when_the_deal_is_known() -> None:
    """Where only one deal fits what the mover has seen, E[Q] is the exact solver."""
    state = random_positions(4, 400, 22)
    known = np.flatnonzero((deal_count(state) == 1) & (legal_mask(state).sum(axis=1) > 1))
    assert known.size >= 5
    state = state.take(known)
    truth = solve_states(state)
    for mode in ("mean", "win"):
        chosen = EQPlayer(n_worlds=4, mode=mode).act(state, np.random.default_rng(0))  # type: ignore[arg-type]
        got = truth.action_values[np.arange(known.size), chosen]
        if mode == "mean":
            np.testing.assert_array_equal(got, truth.value)
        else:  # the win share is exact, so a winning move is never passed over for a losing one
            have = state.team_points[np.arange(known.size), state.to_move % 2]
            assert ((have + got > 21) == (have + truth.value > 21)).all()


def test_full_game_against_random() -> None:
    """A whole batch of games runs to the end with E[Q] on one team."""
    rng = np.random.default_rng(8)
    state = new_games(rng, 4)
    eq, rnd = EQPlayer(n_worlds=4), RandomPlayer()
    while not state.done.all():
        live = np.flatnonzero(~state.done)
        sub = state.take(live)
        mine = sub.to_move % 2 == 0
        act = np.zeros(state.batch_size, np.int64)
        act[live[mine]] = eq.act(sub.take(mine), rng)
        act[live[~mine]] = rnd.act(sub.take(~mine), rng)
        state = step(state, act)
    assert (state.team_points.sum(axis=1) == 42).all()
