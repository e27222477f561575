"""Solving on all cores gives bit-identical results to the serial solver: the same values, the
same action values, the same E[Q] choices, whatever the number of threads or the table size."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from tests.core.game_helpers import random_positions
from zeb_core.evaluation.player_specs import build_player
from zeb_core.game.engine import GameState, concat_states
from zeb_core.oracle.eq_player import EQPlayer
from zeb_core.oracle.solver import DEFAULT_TT_BITS, TranspositionTable, lane_tt_bits, solve_states


@pytest.fixture(scope="module")
def positions() -> GameState:
    """Openings, mid-trick and late positions, and a few finished games."""
    depths = [(1, 0), (2, 3), (3, 9), (4, 14), (5, 19), (6, 25), (7, 28)]
    return concat_states([random_positions(seed, 12, played) for seed, played in depths])


@pytest.fixture(scope="module")
def serial(positions: GameState):
    return solve_states(positions, table=TranspositionTable(), threads=1)


@pytest.mark.parametrize(("lanes", "bits"), [(2, None), (3, None), (4, 8)])
def test_parallel_values_are_the_serial_ones(positions, serial, lanes: int, bits) -> None:
    table = TranspositionTable(bits=bits, lanes=lanes)  # bits=8: collisions all the time
    got = solve_states(positions, table=table, threads=lanes)
    np.testing.assert_array_equal(got.value, serial.value)
    np.testing.assert_array_equal(got.action_values, serial.action_values)
    assert (table.nodes > 0).all()  # every lane searched


def test_parallel_root_values_only(positions, serial) -> None:
    got = solve_states(positions, actions=False, table=TranspositionTable(lanes=2), threads=2)
    np.testing.assert_array_equal(got.value, serial.value)
    assert np.isnan(got.action_values).all()


def test_eq_choices_do_not_depend_on_threads() -> None:
    state = random_positions(9, 16, 6)
    assert build_player("eq:n=8,threads=1").threads == 1
    one = EQPlayer(n_worlds=8, threads=1, table=TranspositionTable())
    many = EQPlayer(n_worlds=8, threads=3, table=TranspositionTable(lanes=3))
    a = one.act(state, np.random.default_rng(5))
    b = many.act(state, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)


def test_table_memory_stays_bounded_as_lanes_grow() -> None:
    entry_bytes = 8 + 1 + 1 + 1
    assert lane_tt_bits(1) == DEFAULT_TT_BITS
    assert [lane_tt_bits(n) for n in (2, 4, 8, 16, 64)] == [21, 20, 19, 18, 18]
    for lanes in (1, 2, 4, 16):  # up to 16 threads share the 44 MiB of one table
        assert lanes * (1 << lane_tt_bits(lanes)) * entry_bytes == 44 * 2**20
    small = TranspositionTable(bits=8, lanes=3)
    assert small.key.shape == (3, 256) and small.nbytes == 3 * 256 * entry_bytes


def test_threads_are_capped_by_the_table_and_checked(positions) -> None:
    one_lane = TranspositionTable()
    solve_states(positions.take(np.arange(4)), table=one_lane, threads=numba.get_num_threads())
    assert one_lane.nodes.shape == (1,)
    with pytest.raises(ValueError, match="threads"):
        solve_states(positions.take([0]), table=one_lane, threads=0)
