"""The solver against a brute-force minimax over the engine, and its value identities."""

from __future__ import annotations

import numpy as np
import pytest

from zeb_core.game.engine import GameState, from_deals, legal_mask, new_games, step
from zeb_core.game.players import RandomPlayer
from zeb_core.game.rules import TOTAL_POINTS
from zeb_core.oracle.solver import SolveResult, TranspositionTable, solve_states


def random_positions(rng: np.random.Generator, n: int, n_played: int) -> GameState:
    """`n` positions reached by uniformly random play from random deals after `n_played` plays."""
    state = new_games(rng, n)
    player = RandomPlayer()
    for _ in range(n_played):
        state = step(state, player.act(state, rng))
    return state


def brute_final_team0(state: GameState) -> tuple[np.ndarray, np.ndarray]:
    """Minimax over every line of play: (final team-0 points [B], per-slot ones [B, 7]).

    Expands all legal moves of the whole batch level by level with the engine's `step`.
    """
    if state.done.all():
        final = state.team_points[:, 0].astype(np.float64)
        return final, np.full((state.batch_size, 7), np.nan)
    legal = legal_mask(state)
    games, slots = np.nonzero(legal)
    children = step(state.take(games), slots)
    child_final, _ = brute_final_team0(children)
    maximize = (state.to_move % 2 == 0)[:, None]
    per_slot = np.full((state.batch_size, 7), np.nan)
    per_slot[games, slots] = child_final
    fill = np.where(maximize, -np.inf, np.inf)
    best = np.where(
        maximize,
        np.where(legal, per_slot, fill).max(1, keepdims=True),
        np.where(legal, per_slot, fill).min(1, keepdims=True),
    )[:, 0]
    return best, per_slot


def for_mover(state: GameState, final0: np.ndarray) -> np.ndarray:
    """Final team-0 points -> the mover's team's points still to come ([B] or [B, 7])."""
    team1 = state.to_move % 2 == 1
    mine = state.team_points[np.arange(state.batch_size), state.to_move % 2]
    if final0.ndim == 2:
        team1, mine = team1[:, None], mine[:, None]
    return np.where(team1, TOTAL_POINTS - final0, final0) - mine


def brute_solve(state: GameState) -> SolveResult:
    """The brute force in the solver's terms: points to come for the mover's team."""
    final0, per_slot0 = brute_final_team0(state)
    actions = np.where(legal_mask(state), for_mover(state, per_slot0), -np.inf)
    return SolveResult(for_mover(state, final0).astype(np.float32), actions.astype(np.float32))


def final_team0(state: GameState, value: np.ndarray) -> np.ndarray:
    """Team-0 points at the end if the mover's team gets `value` more points."""
    left = TOTAL_POINTS - state.team_points.sum(axis=1)
    return state.team_points[:, 0] + np.where(state.to_move % 2 == 0, value, left - value)


@pytest.mark.parametrize(
    ("n_played", "n_positions"),
    [(20, 1200), (21, 600), (22, 600), (23, 600), (16, 250), (17, 150), (19, 150), (14, 150)],
)
def test_solver_matches_brute_force_on_endgames(n_played: int, n_positions: int) -> None:
    rng = np.random.default_rng(1000 + n_played)
    state = random_positions(rng, n_positions, n_played)
    want = brute_solve(state)
    got = solve_states(state)
    np.testing.assert_array_equal(got.value, want.value)
    np.testing.assert_array_equal(got.action_values, want.action_values)


def test_values_are_consistent_along_the_optimal_line() -> None:
    """The best action's value is the position's value, and points won plus points to come
    stay equal to the final score while both sides play optimally."""
    rng = np.random.default_rng(7)
    state = random_positions(rng, 40, 3)  # mid-trick roots
    predicted = final_team0(state, solve_states(state).value)
    while not state.done.all():
        res = solve_states(state)
        live = ~state.done
        np.testing.assert_array_equal(res.action_values[live].max(axis=1), res.value[live])
        np.testing.assert_array_equal(final_team0(state, res.value), predicted)
        state = step(state, np.argmax(res.action_values, axis=1))
    np.testing.assert_array_equal(state.team_points[:, 0], predicted)
    assert (state.team_points.sum(axis=1) == TOTAL_POINTS).all()


def test_full_deals_values_only_match_action_values_and_tiny_table() -> None:
    """Root-only search agrees with per-action search; a 16-entry table (constant collisions)
    gives the same values as the default one."""
    state = new_games(np.random.default_rng(11), 12)
    full = solve_states(state)
    root = solve_states(state, actions=False)
    tiny = solve_states(state, table=TranspositionTable(bits=4))
    np.testing.assert_array_equal(root.value, full.value)
    np.testing.assert_array_equal(tiny.action_values, full.action_values)
    assert ((full.value >= 0) & (full.value <= TOTAL_POINTS)).all()
    assert np.isnan(root.action_values).all()
    assert (np.isfinite(full.action_values) == legal_mask(state)).all()


def test_finished_games_have_no_points_to_come() -> None:
    state = random_positions(np.random.default_rng(3), 4, 28)
    res = solve_states(state)
    assert (res.value == 0).all() and np.isneginf(res.action_values).all()


def test_hand_worked_all_trumps_take_every_trick() -> None:
    """Seat 0 holds all seven 6s with 6s trump: it wins every trick whoever leads."""
    hands = [list(range(21, 28)), list(range(0, 7)), list(range(7, 14)), list(range(14, 21))]
    for leader, want in ((0, 42), (1, 0)):
        state = from_deals(np.array([hands]), 6, leader)
        res = solve_states(state)
        assert res.value[0] == want
        np.testing.assert_array_equal(res.action_values[0], np.full(7, want))
