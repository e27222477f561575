"""Engine conformance (pgx style) and scripted corner cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.core.game_helpers import deal, ids, legal_dominoes, play, random_playout
from zeb_core.game.engine import (
    IllegalActionError,
    from_deals,
    legal_mask,
    new_games,
    seat_outcomes,
    step,
    team0_wins,
)
from zeb_core.game.rules import TOTAL_POINTS

# Used by the scripted cases below; every domino exactly once.
#   seat 0: 6-5 5-0 4-0 3-0 2-0 1-0 4-4
#   seat 1: 6-6 6-1 5-1 4-1 3-1 2-1 1-1
#   seat 2: 0-0 5-2 4-2 3-2 2-2 5-3 4-3   (no six at all)
#   seat 3: 6-0 6-2 6-3 6-4 5-5 5-4 3-3
HANDS = [
    "6-5 5-0 4-0 3-0 2-0 1-0 4-4",
    "6-6 6-1 5-1 4-1 3-1 2-1 1-1",
    "0-0 5-2 4-2 3-2 2-2 5-3 4-3",
    "6-0 6-2 6-3 6-4 5-5 5-4 3-3",
]


def test_shapes_and_dtypes(rng):
    s = new_games(rng, 5)
    assert s.hands.shape == (5, 4, 7) and s.hands.dtype == np.int8
    assert s.held.shape == (5, 4, 7) and s.held.dtype == bool
    assert s.history.shape == (5, 28) and s.team_points.shape == (5, 2)
    assert s.voids.shape == (5, 4, 8)
    assert legal_mask(s).shape == (5, 7) and legal_mask(s).dtype == bool
    assert ((s.bid >= 30) & (s.bid <= 42)).all() and (s.to_move == s.bidder).all()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.hands = s.hands  # frozen


def test_random_games_conserve_points_and_dominoes(rng):
    record: list = []
    final = random_playout(new_games(rng, 300), rng, record)
    assert (final.team_points.sum(axis=1) == TOTAL_POINTS).all()
    assert (np.sort(final.history, axis=1) == np.arange(28)).all()  # each domino played once
    assert not final.held.any()
    for state, _ in record:  # non-empty legal mask for every unfinished game
        assert legal_mask(state)[~state.done].any(axis=1).all()
        assert (state.team_points.sum(axis=1) <= TOTAL_POINTS).all()
    assert not legal_mask(final).any()


def test_terminal_states_absorb(rng):
    final = random_playout(new_games(rng, 8), rng)
    again = step(final, np.zeros(8, dtype=np.int64))
    for name in final.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(final, name), getattr(again, name))


def test_batch_matches_games_played_one_at_a_time(rng):
    batch = new_games(rng, 12)
    record: list = []
    final = random_playout(batch, rng, record)
    for g in range(12):
        single = batch.take(np.array([g]))
        for _, actions in record:
            single = step(single, actions[g : g + 1])
        np.testing.assert_array_equal(single.team_points[0], final.team_points[g])
        np.testing.assert_array_equal(single.history[0], final.history[g])
        np.testing.assert_array_equal(single.voids[0], final.voids[g])


def test_illegal_action_raises_clear_error():
    s = deal(HANDS, decl=7)
    s = play(s, "6-5")
    with pytest.raises(
        IllegalActionError, match="illegal action 0 in game 0 .*legal slots \\[1\\]"
    ):
        step(s, np.array([0]))  # seat 1 holds the 6-1 and must follow sixes
    with pytest.raises(IllegalActionError, match="illegal action 9"):
        step(s, np.array([9]))


def test_bad_deals_rejected():
    with pytest.raises(ValueError, match="exactly once"):
        from_deals(np.zeros((1, 4, 7)), [0], [0])
    with pytest.raises(ValueError, match="declarations"):
        from_deals(np.arange(28).reshape(1, 4, 7), [10], [0])


def test_doubles_trump():
    s = deal(HANDS, decl=7)
    s = play(s, "6-5")  # leads sixes (6-5 is not a double)
    # The 6-6 is a trump with doubles trump, so the 6-1 is seat 1's only six.
    assert legal_dominoes(s) == set(ids("6-1"))
    s = play(s, "6-1", "0-0")  # seat 2 has no six and trumps with the lowest double
    assert legal_dominoes(s) == set(ids("6-0 6-2 6-3 6-4"))
    s = play(s, "6-4")
    assert s.to_move[0] == 2  # 0-0 (trump) beats the 6-5 and the 6-4
    assert s.team_points[0].tolist() == [1 + 10, 0]
    assert s.voids[0, 2, 6]  # seat 2 showed it has no six


def test_doubles_are_their_own_suit_without_trump_power():
    s = deal(HANDS, decl=8, leader=1)
    s = play(s, "1-1")  # a double leads the doubles suit
    assert legal_dominoes(s) == set(ids("0-0 2-2"))
    s = play(s, "2-2", "5-5", "4-4")
    assert s.to_move[0] == 3 and s.team_points[0].tolist() == [0, 11]  # 5-5 is the top double
    t = play(deal(HANDS, decl=8), "6-5")
    assert legal_dominoes(t) == set(ids("6-1"))  # the 6-6 belongs to the doubles, not the sixes
    t = play(t, "6-1", "0-0", "6-4")  # 0-0 is off-suit and has no trump power
    assert t.to_move[0] == 0 and t.team_points[0].tolist() == [11, 0]


def test_no_trump_double_leads_its_own_pip():
    s = deal(HANDS, decl=9)
    s = play(s, "4-4")  # leads fours
    assert legal_dominoes(s) == set(ids("4-1"))
    s = play(s, "4-1")
    assert legal_dominoes(s) == set(ids("4-2 4-3"))
    s = play(s, "4-2", "6-4")
    assert s.to_move[0] == 0 and s.team_points[0].tolist() == [1 + 5 + 10, 0]


def test_following_suit_with_a_domino_that_holds_the_trump_pip():
    s = deal(HANDS, decl=1)  # ones are trump
    s = play(s, "6-5")  # leads sixes
    # The 6-1 holds the trump pip, so it is a trump and not a six: seat 1 must play the 6-6.
    assert legal_dominoes(s) == set(ids("6-6"))
    s = play(s, "6-6", "3-2", "6-4")
    assert s.to_move[0] == 1 and s.team_points[0].tolist() == [0, 1 + 5 + 10]
    t = play(deal(HANDS, decl=1), "1-0")  # a trump lead: only trumps follow
    assert legal_dominoes(t) == set(ids("6-1 5-1 4-1 3-1 2-1 1-1"))


def test_seat_outcomes_win_and_bid():
    s = deal(HANDS, decl=7, leader=1, bid=35)
    s = s.__class__(**{**s.__dict__, "team_points": np.array([[30, 12]], dtype=np.int16)})
    np.testing.assert_array_equal(seat_outcomes(s, "win")[0], [1, -1, 1, -1])
    bid = seat_outcomes(s, "bid")[0]  # team 1 bid 35 and took 12: set by 23
    assert bid[1] == pytest.approx(-0.5 - 0.5 * 23 / 42) and bid[0] == -bid[1]
    assert team0_wins(s)[0]
    with pytest.raises(ValueError):
        seat_outcomes(s, "nope")
