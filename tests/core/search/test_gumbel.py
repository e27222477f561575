"""Gumbel root search: mctx's halving schedule, the completed-Q transform worked by hand, root
bandits with known arm values, the improved policy, interior selection, and the full search."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from tests.core.game_helpers import random_positions
from tests.core.search.test_mcts import KNOWN_BEST, ConstantEvaluator, TokenEvaluator
from zeb_core.game.engine import GameState, legal_mask, new_games, step
from zeb_core.game.positions import position_from_dict
from zeb_core.game.tokenizer import Observation
from zeb_core.search import gumbel
from zeb_core.search.config import MCTSConfig
from zeb_core.search.gumbel import GumbelConfig, halving_schedule
from zeb_core.search.mcts import search
from zeb_core.search.move_selection import select_actions
from zeb_core.search.search_tree import (
    GUMBEL,
    NO_ACTION,
    empty_tree,
    exact_outcomes,
    play_forced_moves,
    select_leaves,
    sigma_row,
    solved_outcomes,
)

CONFIG = GumbelConfig()  # c_visit 50, c_scale 0.1, rescaled Q
GUMBEL_SEARCH = MCTSConfig(
    simulations=24, worlds=2, root="gumbel", interior="gumbel", temperature_plays=0
)


def test_halving_schedule_matches_mctx() -> None:
    # mctx's seq_halving_test: 7 candidates over 24 simulations, then 8 over 24.
    assert halving_schedule(7, 24) == (
        (0,) * 7 + (1, 1, 1, 2, 2, 2) + (3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8)
    )
    assert halving_schedule(8, 24) == ((0,) * 8 + (1,) * 4 + (2,) * 4 + (3, 3, 4, 4, 5, 5, 6, 6))
    assert halving_schedule(1, 5) == (0, 1, 2, 3, 4)  # one candidate takes every simulation


def test_sigma_of_completed_q_by_hand() -> None:
    q = np.array([0.5, -0.5, 9.0, 9.0, 0, 0, 0])  # slots 2, 3 unvisited: their q is unread
    n = np.array([2, 1, 0, 0, 0, 0, 0])
    prior = np.array([0.4, 0.2, 0.3, 0.1, 0, 0, 0])
    legal = np.array([True] * 4 + [False] * 3)
    out = np.zeros(7)
    # Mixed value: (0.1 + 3 * (0.4 * 0.5 + 0.2 * -0.5) / 0.6) / (3 + 1) = 0.15 for slots 2, 3;
    # the scale is (50 + max N = 2) * 0.1 = 5.2.
    sigma_row(q, n, prior, 0.1, legal, 50.0, 0.1, False, out)
    np.testing.assert_allclose(out, 5.2 * np.array([0.5, -0.5, 0.15, 0.15, 0, 0, 0]))
    # Rescaled to [0, 1] over the legal slots first: (-0.5, 0.5) -> (0, 1), 0.15 -> 0.65.
    sigma_row(q, n, prior, 0.1, legal, 50.0, 0.1, True, out)
    np.testing.assert_allclose(out, 5.2 * np.array([1, 0, 0.65, 0.65, 0, 0, 0]))


def bandit_root(logits: list[float], explore: bool = False, seed: int = 0) -> gumbel.GumbelRoot:
    row = np.zeros(7)
    row[: len(logits)] = logits
    legal = np.arange(7) < len(logits)
    rng = np.random.default_rng(seed)
    return gumbel.new_root(
        row[None], legal[None], np.zeros(1), np.array([explore]), rng, 50, CONFIG
    )


def run_bandit(root: gumbel.GumbelRoot, arm_values: list[float], worlds: int = 2):
    """Pull arms as the root picks them (two worlds a wave); each pull returns the arm's value."""
    value = np.zeros(7)
    value[: len(arm_values)] = arm_values
    visits, q = np.zeros((1, 7), np.int64), np.zeros((1, 7))
    per_world = np.zeros((1, worlds, 7), np.int64)
    active = np.ones((1, worlds), bool)
    for _ in range(50 // worlds):
        picks = gumbel.root_actions(root, visits, q, per_world, active, CONFIG)[0]
        for world, arm in enumerate(picks):
            visits[0, arm] += 1
            per_world[0, world, arm] += 1
            q[0, arm] = value[arm]
    # Each arm's visits are spread over the worlds as evenly as the picks allow.
    assert (np.ptp(per_world[0], axis=0) <= 1).all()
    return visits, q


def test_sequential_halving_picks_the_best_arm() -> None:
    # The prior likes arm 0 best and arm 3 least; arm 3 is the best arm.
    root = bandit_root([2.0, 1.0, 0.5, 0.0, -0.5])
    visits, q = run_bandit(root, [-0.6, 0.2, -0.1, 0.8, 0.0])
    assert visits.sum() == 50
    assert gumbel.final_actions(root, visits, q, CONFIG)[0] == 3
    assert visits[0].argmax() == 3
    # Halving 5 candidates over 50 simulations: 3 visits each (15), then the best 2 by
    # logits + sigma(Q) (arms 3 and 1) get 8 + 8 more each (47), and the last 3 go 1, 1 and
    # then to the better of the two.
    np.testing.assert_array_equal(visits[0, :5], [3, 20, 3, 21, 3])


def test_gumbel_noise_samples_among_good_arms() -> None:
    # Two equally good arms and a bad one: the noise decides between the good ones.
    picks = []
    for seed in range(40):
        root = bandit_root([0.0, 0.0, 0.0], explore=True, seed=seed)
        visits, q = run_bandit(root, [0.5, 0.5, -0.5])
        picks.append(int(gumbel.final_actions(root, visits, q, CONFIG)[0]))
    assert set(picks) == {0, 1}


def test_improved_policy_moves_mass_to_better_arms() -> None:
    root = bandit_root([1.0, 0.5, 0.0, -0.5])
    visits = np.array([[4, 4, 4, 4, 0, 0, 0]])
    q = np.array([[-0.2, 0.1, 0.6, 0.3, 0, 0, 0]])
    policy = gumbel.improved_policy(root, visits, q, CONFIG)[0, :4]
    prior = root.prior[0, :4]
    np.testing.assert_allclose(policy.sum(), 1, atol=1e-6)
    assert policy.argmax() == 2 and policy[2] > prior[2]  # the best arm gains the most
    assert policy[0] < prior[0]  # the prior's favourite searched worst
    ratio = policy / prior  # grows with Q: -0.2 < 0.1 < 0.3 < 0.6
    assert ratio[0] < ratio[1] < ratio[3] < ratio[2]


@pytest.mark.parametrize("rescale", [True, False])
def test_no_value_information_returns_the_prior(rescale: bool) -> None:
    config = replace(CONFIG, rescale_q=rescale)
    root = bandit_root([1.0, 0.5, 0.0, -0.5])
    zero = np.zeros((1, 7))
    np.testing.assert_allclose(
        gumbel.improved_policy(root, np.zeros((1, 7), np.int64), zero, config), root.prior
    )
    # Every arm searched, all as good as the root's value (0): nothing learned either.
    visits = np.array([[5, 3, 1, 1, 0, 0, 0]])
    np.testing.assert_allclose(gumbel.improved_policy(root, visits, zero, config), root.prior)


def test_interior_selection_follows_the_improved_policy() -> None:
    # Node 0 (team 0) has two legal slots, prior 0.5 each; slot 0 leads to node 1, visited once.
    # Node 1's mover is on the other team, so its value v counts -v for node 0.
    def select(child_value: float) -> tuple[int, int]:
        tree = empty_tree(1, 4)
        tree.terminal[0, 1] = True  # the walk stops there if it takes slot 0
        tree.legal[0, 0, :2] = True
        tree.prior[0, 0, :2] = 0.5
        tree.children[0, 0, 0], tree.parent[0, 1], tree.team[0, 1] = 1, 0, 1
        tree.visits[0, :2], tree.value_sum[0, 1] = [2, 1], child_value
        node, action = np.zeros(1, np.int32), np.zeros(1, np.int32)
        params = np.array([1.5, 50.0, 0.1, 1.0])
        walk_from_root = (tree.walk_arrays, tree.terminal, np.ones(1, bool), np.full(1, -1))
        select_leaves(*walk_from_root, GUMBEL, params, node, action)
        return int(node[0]), int(action[0])

    # Slot 0 worth +1 to node 0: the mixed value of slot 1 is (0 + 1 * 1) / 2 = 0.5; rescaled
    # (1, 0), sigma (5.1, 0), pi' = (0.994, 0.006); scores 0.994 - 1/2 and 0.006 - 0: slot 0.
    assert select(child_value=-1.0) == (1, NO_ACTION)
    # Slot 0 worth -1: pi' = (0.006, 0.994); slot 1 is next.
    assert select(child_value=1.0) == (0, 1)


def test_gumbel_search_finds_the_known_best_move() -> None:
    state = position_from_dict(KNOWN_BEST)
    out = search(ConstantEvaluator(0.0), state, np.random.default_rng(0), GUMBEL_SEARCH)
    assert select_actions(out, state.n_played, GUMBEL_SEARCH, None)[0] == 0
    assert out.policy[0, 0] > 0.9 > out.prior[0, 0]
    assert out.q[0, 0] >= 0 > out.q[0, 2]


class UninformedEvaluator:
    """A fixed, non-uniform policy and value 0 everywhere: search learns nothing but outcomes."""

    def evaluate(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        n = len(obs.tokens)
        return np.tile(np.linspace(1, -1, 7, dtype=np.float32), (n, 1)), np.zeros(n, np.float32)


def test_gumbel_search_without_value_information_keeps_the_prior() -> None:
    rng = np.random.default_rng(3)
    state = new_games(rng, 6)
    for _ in range(3):  # early in the hand: no simulation of 24 reaches its end
        state = step(state, np.argmax(legal_mask(state), axis=1))
    out = search(UninformedEvaluator(), state, rng, GUMBEL_SEARCH)
    rows = out.searched
    assert rows.sum() >= 3 and (out.visits[rows].sum(axis=1) == 24).all()
    np.testing.assert_allclose(out.policy[rows], out.prior[rows], atol=1e-6)


def test_gumbel_batch_rows_are_independent() -> None:
    early, late = random_positions(1, 1, 5), random_positions(2, 1, 14)

    def run(*games: GameState):
        fields = GameState.__dataclass_fields__
        batch = GameState(**{f: np.concatenate([getattr(g, f) for g in games]) for f in fields})
        return search(TokenEvaluator(), batch, np.random.default_rng(7), GUMBEL_SEARCH)

    alone, paired = run(early), run(early, late)
    np.testing.assert_array_equal(paired.visits[0], alone.visits[0])
    np.testing.assert_allclose(paired.policy[0], alone.policy[0], atol=1e-6)


def test_solved_root_compares_every_play_on_the_same_deals() -> None:
    # Every play from here leaves two tricks: with exact_tricks_left=2 the Gumbel root solves
    # each sampled world for both legal plays (ceil(24 / 2) = 12 worlds) and builds no tree.
    state = position_from_dict(KNOWN_BEST)
    evaluator = ConstantEvaluator(0.0)
    config = replace(GUMBEL_SEARCH, exact_tricks_left=2)
    out = search(evaluator, state, np.random.default_rng(0), config)
    assert evaluator.calls == 1  # the root's prior only
    assert out.visits[0].tolist() == [12, 0, 12, 0, 0, 0, 0]
    assert (out.q[0, 0], out.q[0, 2]) == (1.0, -1.0)
    assert out.action[0] == 0 and out.policy[0, 0] > 0.99


def test_solved_outcomes_agree_with_solving_each_play() -> None:
    state = random_positions(8, 6, 14)
    by_play = solved_outcomes(state)  # [B, 7] one solve of every legal play
    legal = legal_mask(state)
    for slot in range(7):
        rows = np.flatnonzero(legal[:, slot])
        after = play_forced_moves(step(state.take(rows), np.full(rows.size, slot)))[0]
        same_team = after.to_move % 2 == state.to_move[rows] % 2
        outcome = exact_outcomes(after)  # the next mover's view
        np.testing.assert_array_equal(np.where(same_team, outcome, -outcome), by_play[rows, slot])
    assert (by_play[~legal] == 0).all()
