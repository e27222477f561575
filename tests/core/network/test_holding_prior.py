"""HoldingPrior: the rules' constraints, read from tokens, agree with the sampler's (from state)."""

from __future__ import annotations

import numpy as np
import torch

from tests.core.game_helpers import random_playout
from zeb_core.data.examples import belief_targets
from zeb_core.game.engine import new_games
from zeb_core.game.sampling import hidden_info
from zeb_core.game.tokenizer import observe
from zeb_core.network.holding_prior import BARRED_LOGIT, HoldingPrior, _even_spread


def _every_position(rng, games=24):
    record: list = []
    random_playout(new_games(rng, games), rng, record)
    return [state for state, _ in record]


def test_constraints_from_tokens_match_the_sampler(rng):
    prior = HoldingPrior()
    compared = barred = 0
    errors = []
    for state in _every_position(rng):
        observer = (state.to_move + rng.integers(0, 4, state.batch_size)) % 4  # any seat
        obs = observe(state, observer)
        with torch.no_grad():
            capacity, allowed, logits = prior(
                torch.from_numpy(obs.tokens), torch.from_numpy(obs.token_mask)
            )
        hidden, true_capacity, true_allowed = hidden_info(state, observer)
        b = np.arange(state.batch_size)
        for rel in (1, 2, 3):
            seat = (observer + rel) % 4
            assert (capacity[:, rel - 1].numpy() == true_capacity[b, seat]).all()
            expected = true_allowed[b, seat] & (true_capacity[b, seat] > 0)[:, None]  # [B, 28]
            got = allowed[:, :, rel - 1].numpy()
            assert (got[hidden] == expected[hidden]).all()
            compared += int(hidden.sum())
            barred += int((hidden & ~expected).sum())
        # The spread: each hidden domino has one holder, each seat holds what it holds.
        spread = np.exp(logits.numpy()) * hidden[..., None]  # [B, 28, 3]
        np.testing.assert_allclose(spread.sum(axis=2)[hidden], 1.0, atol=1e-4)
        errors.append(np.abs(spread.sum(axis=1) - capacity.numpy()))  # Sinkhorn's (see there)
        assert (logits.numpy()[~allowed.numpy()] == BARRED_LOGIT).all()
    assert compared > 10_000 and barred > 500  # voids and empty hands both occurred
    column_error = np.concatenate(errors)
    assert column_error.mean() < 0.01 and column_error.max() < 0.2


def test_the_true_holder_is_always_allowed(rng):
    prior = HoldingPrior()
    for state in _every_position(rng, games=16):
        obs = observe(state)  # the mover, which is whom belief targets are relative to
        with torch.no_grad():
            _, allowed, _ = prior(torch.from_numpy(obs.tokens), torch.from_numpy(obs.token_mask))
        holder = belief_targets(state)  # [B, 28] relative seat - 1, or -1 where visible
        rows, doms = np.nonzero(holder >= 0)
        assert allowed[rows, doms, holder[rows, doms]].all()


def test_the_even_spread_is_the_exact_posterior_of_a_last_trick():
    """Three seats hold one domino each, the left one void in the first domino's suit: of the
    four deals left, that domino goes to partner or right alike and the left seat holds one of
    the other two (where holding-size weights alone would say a third)."""
    allowed = torch.ones(1, 28, 3, dtype=torch.bool)
    allowed[0, 0, 0] = False
    hidden = torch.zeros(1, 28, dtype=torch.bool)
    hidden[0, :3] = True
    probs = _even_spread(allowed, hidden, torch.tensor([[1, 1, 1]])).exp()[0, :3]
    expected = torch.tensor([[0.0, 0.5, 0.5], [0.5, 0.25, 0.25], [0.5, 0.25, 0.25]])
    torch.testing.assert_close(probs, expected, atol=1e-4, rtol=0)
