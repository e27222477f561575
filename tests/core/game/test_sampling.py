"""Determinization: sampled worlds keep what the observer knows and are exactly uniform."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from tests.core.game_helpers import random_positions
from zeb_core.game.engine import GameState, from_deals, step, with_fields
from zeb_core.game.rules import FOLLOWS, N_DOMINOES
from zeb_core.game.sampling import InconsistentStateError, deal_count, hidden_info, sample_worlds


def replay(world: GameState) -> GameState:
    """Play the recorded history again from the world's deal (raises if a play was illegal)."""
    g = world.take([0])
    state = from_deals(g.hands, g.decl, g.bidder, g.bid)
    for k in range(int(g.n_played[0])):
        seat = int(g.history_seat[0, k])
        state = step(state, np.flatnonzero(state.hands[0, seat] == g.history[0, k]))
    return state


@pytest.mark.parametrize("n_played", [1, 6, 11, 17, 22])
def test_worlds_keep_what_the_observer_knows(n_played: int) -> None:
    state = random_positions(n_played, 6, n_played)
    n = 16
    worlds = sample_worlds(state, n, np.random.default_rng(0))
    assert worlds.batch_size == state.batch_size * n
    for g in range(state.batch_size):
        me = int(state.to_move[g])
        for w in range(g * n, (g + 1) * n):
            world = worlds.take([w])
            np.testing.assert_array_equal(world.hands[0, me], state.hands[g, me])
            for field in ("held", "history", "history_seat", "voids", "team_points", "decl"):
                np.testing.assert_array_equal(getattr(world, field)[0], getattr(state, field)[g])
            assert sorted(world.hands[0].ravel().tolist()) == list(range(N_DOMINOES))
            again = replay(world)  # every recorded play, void and point is possible in it
            np.testing.assert_array_equal(again.voids, world.voids)
            np.testing.assert_array_equal(again.team_points, world.team_points)
            held = world.hands[0][world.held[0]]
            seat_of = np.repeat(np.arange(4), world.held[0].sum(axis=1))
            for d, seat in zip(held, seat_of, strict=True):
                assert not (world.voids[0, seat] & FOLLOWS[world.decl[0], :, d]).any()


def test_sampling_is_seeded_and_the_observer_can_be_any_seat() -> None:
    state = random_positions(5, 4, 9)
    a = sample_worlds(state, 8, np.random.default_rng(42), observer=2)
    b = sample_worlds(state, 8, np.random.default_rng(42), observer=2)
    np.testing.assert_array_equal(a.hands, b.hands)
    np.testing.assert_array_equal(a.hands[:, 2], np.repeat(state.hands[:, 2], 8, axis=0))
    assert not (a.hands == np.repeat(state.hands, 8, axis=0)).all()


def test_impossible_information_is_an_error() -> None:
    state = random_positions(2, 1, 4)
    voids = state.voids.copy()
    others = [s for s in range(4) if s != state.to_move[0]]
    voids[0, others] = True  # nobody else may hold anything
    with pytest.raises(InconsistentStateError):
        sample_worlds(with_fields(state, voids=voids), 4, np.random.default_rng(0))


def enumerate_deals(state: GameState) -> list[tuple[int, ...]]:
    """Every consistent owner assignment of the hidden dominoes (exhaustive)."""
    me = int(state.to_move[0])
    hidden, capacity, allowed = hidden_info(state, np.array([me]))
    doms = np.flatnonzero(hidden[0])
    others = [s for s in range(4) if s != me]
    deals = []
    for owners in itertools.product(others, repeat=doms.size):
        if all(allowed[0, s, d] for s, d in zip(owners, doms, strict=True)) and all(
            owners.count(s) == capacity[0, s] for s in others
        ):
            deals.append(owners)
    return deals


def constrained_position() -> GameState:
    """A late position where voids cut the deals down to a few dozen (found by a seeded scan)."""
    for seed in range(500):
        state = random_positions(seed, 1, 19)
        count = deal_count(state)[0]
        me = int(state.to_move[0])
        caps = [int(state.held[0, s].sum()) for s in range(4) if s != me]
        free = math.factorial(sum(caps)) // math.prod(math.factorial(c) for c in caps)
        if 20 <= count <= 120 and count < free / 2:
            return state
    raise AssertionError("no constrained position found")


def chi2_pvalue(stat: float, dof: int) -> float:
    """Upper tail of chi-square (Wilson-Hilferty normal approximation, fine for dof >= 10)."""
    z = ((stat / dof) ** (1 / 3) - (1 - 2 / (9 * dof))) / math.sqrt(2 / (9 * dof))
    return 0.5 * math.erfc(z / math.sqrt(2))


def test_sampling_is_uniform_over_consistent_deals() -> None:
    state = constrained_position()
    deals = enumerate_deals(state)
    assert len(deals) == deal_count(state)[0]
    per_deal = 150
    worlds = sample_worlds(state, per_deal * len(deals), np.random.default_rng(9))
    counts = _deal_counts(state, worlds, deals)
    stat = float(((counts - per_deal) ** 2 / per_deal).sum())
    assert chi2_pvalue(stat, len(deals) - 1) > 1e-3, (stat, len(deals))


def test_the_belief_posterior_is_the_sampled_holder_frequency_in_255ths(rng):
    from zeb_core.data.examples import belief_posterior, belief_targets
    from zeb_core.game.engine import legal_mask, new_games, step

    state = new_games(rng, 6, "bid")
    for _ in range(23):  # late in the hand: hand sizes and voids say a lot
        legal = legal_mask(state)
        state = step(state, np.argmax(np.where(legal, rng.random(legal.shape), -1), axis=1))
    soft = belief_posterior(state, np.random.default_rng(5), worlds=64)
    hidden = belief_targets(state) >= 0
    assert (soft.sum(axis=2)[hidden] == 255).all() and (soft[~hidden] == 0).all()
    truth = belief_targets(state)
    rows, doms = np.nonzero(hidden)
    assert (soft[rows, doms, truth[rows, doms]] > 0).all()  # the real holder is possible
    assert (soft.max(axis=2)[hidden] > 85).mean() > 0.5  # and mostly far from uniform


def _deal_counts(state: GameState, worlds: GameState, deals: list) -> np.ndarray:
    hidden, _, _ = hidden_info(state, np.array([int(state.to_move[0])]))
    doms = np.flatnonzero(hidden[0])
    owner = np.full((worlds.batch_size, N_DOMINOES), -1)
    for seat in range(4):
        rows, slots = np.nonzero(worlds.held[:, seat])
        owner[rows, worlds.hands[rows, seat, slots]] = seat
    index = {d: i for i, d in enumerate(deals)}
    counts = np.zeros(len(deals))
    for row in owner[:, doms]:
        counts[index[tuple(int(s) for s in row)]] += 1  # KeyError = an inconsistent deal
    return counts


def test_a_tilt_draws_consistent_deals_in_proportion_to_their_weights() -> None:
    state = constrained_position()
    deals = enumerate_deals(state)
    me = int(state.to_move[0])
    hidden, _, _ = hidden_info(state, np.array([me]))
    doms = np.flatnonzero(hidden[0])
    tilt = np.random.default_rng(4).normal(0, 1.0, (1, N_DOMINOES, 3))
    weight = np.array(
        [
            np.exp(sum(tilt[0, d, (s - me) % 4 - 1] for s, d in zip(deal, doms, strict=True)))
            for deal in deals
        ]
    )
    n = 150 * len(deals)
    expected = n * weight / weight.sum()
    worlds = sample_worlds(state, n, np.random.default_rng(9), log_weights=tilt)
    counts = _deal_counts(state, worlds, deals)
    stat = float(((counts - expected) ** 2 / expected).sum())
    assert chi2_pvalue(stat, len(deals) - 1) > 1e-3, (stat, len(deals))
    # the tilt matters: the same draws against the uniform expectation are far off
    uniform = np.full(len(deals), n / len(deals))
    assert chi2_pvalue(float(((counts - uniform) ** 2 / uniform).sum()), len(deals) - 1) < 1e-6


def test_a_flat_tilt_is_the_uniform_draw() -> None:
    state = random_positions(5, 3, 9)
    flat = np.full((3, N_DOMINOES, 3), 2.5)
    plain = sample_worlds(state, 6, np.random.default_rng(1))
    tilted = sample_worlds(state, 6, np.random.default_rng(1), log_weights=flat)
    assert (plain.hands == tilted.hands).all()
