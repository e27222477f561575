"""Exact perfect-information solver: alpha-beta over fully known Texas 42 positions.

The game is two-team zero-sum (seats 0&2 vs 1&3; the trick winner leads, so the next mover may be
a partner). The search value is *team-0 points still to come*: team-0 movers maximize it, team-1
movers minimize it. Points already won never change optimal play, so they are not part of it.

Hands are 28-bit sets of domino ids. Within one position the owner of every domino is fixed, so
the set of unplayed dominoes plus the seat to lead identifies a trick-boundary position exactly:
that is the transposition-table key (with a per-position generation tag, so the table is never
cleared). Moves are ordered: the table move first at a lead, then the strongest leads; a follower
tries to win the trick cheaply, or smears count to a partner who is winning.

Games of a batch are solved on all cores: each thread ("lane") owns a slice of the table and
solves every lanes-th game. A game's values are exact whatever the table holds (entries are
per-position and store proven bounds), so parallel results are bit-identical to serial ones;
only node counts differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from zeb_core.game.engine import GameState, legal_mask
from zeb_core.game.rules import N_DOMINOES, TOTAL_POINTS
from zeb_core.oracle.alphabeta import PTS64, RANK64, RULE_TABLES, solve_parallel, solve_serial

DEFAULT_TT_BITS = 22  # one lane: 2^22 entries x 11 bytes = 44 MiB
# A full-deal solve stores ~15k entries; 2^18 per lane costs ~1.5% more nodes than 2^22, so lanes
# share the 44 MiB until each is down to 2^18 entries (2.75 MiB per extra thread beyond 16).
MIN_LANE_TT_BITS = 18


@dataclass(frozen=True)
class SolveResult:
    value: np.ndarray  # [B] float32 points still to come for the mover's team (0 when over)
    action_values: np.ndarray  # [B, 7] float32 the same after playing each slot; -inf if illegal


def lane_tt_bits(lanes: int) -> int:
    """Entries per lane (log2): the 2^22 of one table split across lanes, at least 2^18."""
    return max(MIN_LANE_TT_BITS, DEFAULT_TT_BITS - (lanes - 1).bit_length())


class TranspositionTable:
    """Bounds on team-0 points to come at trick boundaries; reused across positions.

    One table per lane (`lanes` threads solve at once, each in its own table):
    key/lo/hi/move are [lanes, 2^bits], nodes [lanes].
    """

    def __init__(self, bits: int | None = None, lanes: int = 1) -> None:
        if lanes < 1:
            raise ValueError("a transposition table needs at least one lane")
        self.lanes = lanes
        self.bits = lane_tt_bits(lanes) if bits is None else bits
        shape = (lanes, 1 << self.bits)
        self.key = np.full(shape, -1, dtype=np.int64)
        self.lo = np.zeros(shape, dtype=np.int8)
        self.hi = np.zeros(shape, dtype=np.int8)
        self.move = np.zeros(shape, dtype=np.int8)
        self.nodes = np.zeros(lanes, dtype=np.int64)  # search nodes per lane (for benchmarks)
        self.generation = 0  # each solved position gets fresh keys

    @property
    def nbytes(self) -> int:
        return self.key.nbytes + self.lo.nbytes + self.hi.nbytes + self.move.nbytes

    def next_generations(self, n: int) -> np.ndarray:
        gens = np.arange(self.generation + 1, self.generation + 1 + n, dtype=np.int64)
        self.generation += n
        return gens

    def lane(self, i: int) -> tuple[np.ndarray, ...]:
        """The arrays of lane i, as the kernels take them: (key, lo, hi, move, nodes[1])."""
        return self.key[i], self.lo[i], self.hi[i], self.move[i], self.nodes[i : i + 1]


_default_table: TranspositionTable | None = None


def default_table() -> TranspositionTable:
    """The shared table (allocated on first use, one lane per numba thread) for callers that do
    not bring their own."""
    global _default_table
    if _default_table is None:
        _default_table = TranspositionTable(lanes=numba.get_num_threads())
    return _default_table


def solve_states(
    state: GameState,
    actions: bool = True,
    table: TranspositionTable | None = None,
    threads: int | None = None,
) -> SolveResult:
    """Exact values of every game in `state` (all four hands must be the true ones).

    With `actions=False` only the root values are searched (one alpha-beta per game) and
    action_values is all NaN. `threads` caps the lanes used (default: numba's thread count);
    the values are the same for any number of threads.
    """
    table = default_table() if table is None else table
    root = _roots(state)
    gens = table.next_generations(state.batch_size)
    lanes = _lanes(table, threads, state.batch_size)
    if lanes == 1:
        value0, per_domino = solve_serial(root, gens, actions, RULE_TABLES, table.lane(0))
    else:
        order = _largest_first(root[2])
        tables = (table.key, table.lo, table.hi, table.move, table.nodes)
        value0, per_domino = solve_parallel(root, gens, actions, RULE_TABLES, tables, lanes, order)
    return _to_mover_view(state, value0, per_domino if actions else None)


def _lanes(table: TranspositionTable, threads: int | None, batch: int) -> int:
    wanted = numba.get_num_threads() if threads is None else threads
    if wanted < 1:
        raise ValueError(f"threads must be at least 1 (got {threads})")
    return max(1, min(wanted, table.lanes, batch))


def _largest_first(remaining: np.ndarray) -> np.ndarray:
    """Games ordered by dominoes left, most first: dealt round-robin, lanes get even work."""
    left = ((remaining[:, None] >> np.arange(N_DOMINOES)) & 1).sum(axis=1)
    return np.argsort(-left, kind="stable")


def _to_mover_view(state: GameState, value0: np.ndarray, per_domino: np.ndarray | None):
    """Team-0 points to come -> the mover's team's, per game and per legal slot."""
    left = TOTAL_POINTS - state.team_points.sum(axis=1).astype(np.int64)  # not yet awarded
    team1 = (state.to_move % 2 == 1) & ~state.done
    value = np.where(team1, left - value0, value0).astype(np.float32)
    if per_domino is None:
        return SolveResult(value, np.full((state.batch_size, 7), np.nan, np.float32))
    b = np.arange(state.batch_size)
    slot_dom = state.hands[b, state.to_move].astype(np.int64)  # [B, 7]
    v0 = np.take_along_axis(per_domino, slot_dom, axis=1)
    v = np.where(team1[:, None], left[:, None] - v0, v0)
    action_values = np.where(legal_mask(state), v, -np.inf).astype(np.float32)
    return SolveResult(value, action_values)


def _roots(state: GameState) -> tuple[np.ndarray, ...]:
    """Per-game search inputs: decl, hand sets [B, 4], unplayed set, and the trick so far."""
    n = state.batch_size
    b = np.arange(n)
    bits = np.left_shift(np.int64(1), state.hands.astype(np.int64))
    hands = np.where(state.held, bits, 0).sum(axis=2)  # [B, 4] disjoint sets
    remaining = hands.sum(axis=1)
    pos = state.trick_len.astype(np.int64)
    decl = state.decl.astype(np.int64)
    led = np.maximum(state.led_suit(), 0).astype(np.int64)
    win_seat = np.zeros(n, np.int64)
    win_rank = np.full(n, -1, np.int64)
    trick_pts = np.zeros(n, np.int64)
    start = state.n_played.astype(np.int64) - pos
    for i in range(3):
        in_trick = i < pos
        k = np.minimum(start + i, N_DOMINOES - 1)
        dom = np.maximum(state.history[b, k], 0)
        r = np.where(in_trick, RANK64[decl, led, dom], -1)
        wins = r > win_rank
        win_seat = np.where(wins, state.history_seat[b, k], win_seat)
        win_rank = np.where(wins, r, win_rank)
        trick_pts += np.where(in_trick, PTS64[dom], 0)
    mover = state.to_move.astype(np.int64)
    return decl, hands, remaining, pos, mover, led, win_seat, win_rank, trick_pts
