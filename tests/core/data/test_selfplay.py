"""Self-play: examples for every searched decision, value and belief targets, refills, seeds."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from zeb_core.data.examples import belief_targets
from zeb_core.data.selfplay import original_selfplay_config, play_games
from zeb_core.game.engine import legal_mask, new_games, step
from zeb_core.game.tokenizer import Observation
from zeb_core.network.checkpoint import init_checkpoint
from zeb_core.network.evaluator import ModelEvaluator
from zeb_core.search.config import MCTSConfig

FAST = MCTSConfig(simulations=6, worlds=2, games_in_flight=3)


class HandEvaluator:
    """Policy and value from the observation alone: cheap and exactly reproducible."""

    def evaluate(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        hand = obs.tokens[:, 1:8, :2].sum(axis=2).astype(np.float32)
        return hand / 3, np.tanh(hand.sum(axis=1) / 30 - 1).astype(np.float32)


def test_examples_cover_every_searched_decision() -> None:
    batch = play_games(HandEvaluator(), 5, FAST, np.random.default_rng(0))
    ex = batch.examples
    ex.validate()
    assert batch.games == 5 and batch.plays == 5 * 28  # 3 in flight, 2 refills
    # Forced decisions are not examples; searched ones carry the full visit budget.
    assert 0 < len(ex) < batch.plays
    assert (ex.legal.sum(axis=1) > 1).all()
    visits = ex.policy * FAST.simulations
    np.testing.assert_allclose(visits, np.round(visits), atol=1e-4)
    assert set(np.unique(ex.value)) <= {-1.0, 0.0, 1.0}
    assert batch.network_calls > 0 and batch.network_evals >= batch.network_calls
    assert 0 < batch.network_share < 1


def test_value_target_is_each_seats_final_outcome() -> None:
    config = MCTSConfig(simulations=4, worlds=2, games_in_flight=1)
    batch = play_games(HandEvaluator(), 1, config, np.random.default_rng(3), deal_mode="selfplay")
    ex = batch.examples
    team0 = ex.value[ex.seat % 2 == 0]
    team1 = ex.value[ex.seat % 2 == 1]
    assert team0.size and team1.size
    assert len(set(team0)) == 1 and len(set(team1)) == 1 and team0[0] == -team1[0]


def test_belief_target_names_the_hidden_holders() -> None:
    state = new_games(np.random.default_rng(5), 2)
    rng = np.random.default_rng(6)
    for _ in range(6):  # a trick and a half in: some dominoes are played
        legal = legal_mask(state)
        state = step(state, np.argmax(np.where(legal, rng.random(legal.shape), -1), axis=1))
    target = belief_targets(state)
    for g in range(2):
        mover = state.to_move[g]
        for seat in range(4):
            for slot in range(7):
                d = state.hands[g, seat, slot]
                if not state.held[g, seat, slot]:
                    assert target[g, d] == -1  # played: seen by everyone
                elif seat == mover:
                    assert target[g, d] == -1  # the mover's own hand
                else:
                    assert target[g, d] == (seat - mover) % 4 - 1
        assert (target[g] >= 0).sum() == state.held[g].sum() - state.held[g, mover].sum()


def test_same_seed_same_examples_with_a_model() -> None:
    evaluator = ModelEvaluator(init_checkpoint("small", seed=2).build_model(), "cpu")
    a = play_games(evaluator, 2, FAST, np.random.default_rng(9)).examples
    b = play_games(evaluator, 2, FAST, np.random.default_rng(9)).examples
    a.validate()
    for name in ("tokens", "policy", "value", "belief", "seat"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_gumbel_target_is_the_improved_policy() -> None:
    config = replace(FAST, root="gumbel", interior="gumbel", exact_tricks_left=2)
    batch = play_games(HandEvaluator(), 2, config, np.random.default_rng(4))
    ex = batch.examples
    ex.validate()
    # Not visit shares: softmax(logits + sigma(completed Q)) is positive on every legal slot.
    assert ((ex.policy > 0) == ex.legal).all()
    visits = ex.policy * config.simulations
    assert not np.allclose(visits, np.round(visits), atol=1e-3)


def test_original_design_records_every_decision() -> None:
    config = replace(original_selfplay_config(games_in_flight=2), simulations=8)
    batch = play_games(HandEvaluator(), 2, config, np.random.default_rng(5), deal_mode="selfplay")
    ex = batch.examples
    ex.validate()
    assert len(ex) == batch.plays == 2 * 28  # forced moves searched and recorded
    forced = ex.legal.sum(axis=1) == 1
    assert forced.any() and (ex.policy[forced] == ex.legal[forced]).all()
    visits = ex.policy * config.simulations
    np.testing.assert_allclose(visits, np.round(visits), atol=1e-4)


def test_rejects_no_games() -> None:
    with pytest.raises(ValueError):
        play_games(HandEvaluator(), 0, FAST, np.random.default_rng(0))


def test_the_value_target_mixes_the_outcome_and_the_root_value():
    from zeb_core.network.evaluator import ModelEvaluator

    model = init_checkpoint("small", seed=0).build_model()
    config = MCTSConfig(simulations=4, worlds=1, games_in_flight=4)

    def values(mix: float) -> np.ndarray:  # the same games each time: the mix does not change play
        evaluator = ModelEvaluator(model, "cpu")
        rng = np.random.default_rng(1)
        return play_games(evaluator, 4, config, rng, value_root_mix=mix).examples.value

    outcome, root, half = values(0.0), values(1.0), values(0.5)
    assert set(np.unique(outcome)) <= {-1.0, 0.0, 1.0}
    assert not np.isin(root, [-1.0, 0.0, 1.0]).all()  # the search's own values
    np.testing.assert_allclose(half, 0.5 * outcome + 0.5 * root, atol=1e-6)
