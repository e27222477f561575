"""Exact perfect-information solver: alpha-beta over fully known Texas 42 positions.

The game is two-team zero-sum (seats 0&2 vs 1&3; the trick winner leads, so the next mover may be
a partner). The search value is *team-0 points still to come*: team-0 movers maximize it, team-1
movers minimize it. Points already won never change optimal play, so they are not part of it.

Hands are 28-bit sets of domino ids. Within one position the owner of every domino is fixed, so
the set of unplayed dominoes plus the seat to lead identifies a trick-boundary position exactly:
that is the transposition-table key (with a per-position generation tag, so the table is never
cleared). Moves are ordered: the table move first at a lead, then the strongest leads; a follower
tries to win the trick cheaply, or smears count to a partner who is winning.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from zeb_core.engine import GameState, legal_mask
from zeb_core.rules import COUNT_POINTS, FOLLOWS, LED_SUIT, N_DOMINOES, RANK, TOTAL_POINTS

DEFAULT_TT_BITS = 22  # 2^22 entries x 11 bytes = 46 MB
_FOLLOW_MASKS = (FOLLOWS.astype(np.int64) << np.arange(N_DOMINOES, dtype=np.int64)).sum(axis=2)
_LED = LED_SUIT.astype(np.int64)  # [10, 28]
_RANK = RANK.astype(np.int64)  # [10, 8, 28]
_PTS = COUNT_POINTS.astype(np.int64)  # [28]
_NONE = -1
_COUNT5 = int(sum(1 << d for d in range(N_DOMINOES) if COUNT_POINTS[d] == 5))
_COUNT10 = int(sum(1 << d for d in range(N_DOMINOES) if COUNT_POINTS[d] == 10))


@dataclass(frozen=True)
class SolveResult:
    value: np.ndarray  # [B] float32 points still to come for the mover's team (0 when over)
    action_values: np.ndarray  # [B, 7] float32 the same after playing each slot; -inf if illegal


class TranspositionTable:
    """Bounds on team-0 points to come at trick boundaries; reused across positions."""

    def __init__(self, bits: int = DEFAULT_TT_BITS) -> None:
        size = 1 << bits
        self.key = np.full(size, -1, dtype=np.int64)
        self.lo = np.zeros(size, dtype=np.int8)
        self.hi = np.zeros(size, dtype=np.int8)
        self.move = np.zeros(size, dtype=np.int8)
        self.nodes = np.zeros(1, dtype=np.int64)  # search nodes so far (for benchmarks)
        self.generation = 0  # each solved position gets fresh keys

    @property
    def nbytes(self) -> int:
        return self.key.nbytes + self.lo.nbytes + self.hi.nbytes + self.move.nbytes

    def next_generations(self, n: int) -> np.ndarray:
        gens = np.arange(self.generation + 1, self.generation + 1 + n, dtype=np.int64)
        self.generation += n
        return gens


_default_table: TranspositionTable | None = None


def default_table() -> TranspositionTable:
    """The shared table (allocated on first use) for callers that do not bring their own."""
    global _default_table
    if _default_table is None:
        _default_table = TranspositionTable()
    return _default_table


@njit(cache=True)
def _popcount(x):
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F
    return (x * 0x01010101 & 0xFFFFFFFF) >> 24


@njit(cache=True)
def _slot(key, mask):
    h = (key * 0x9E3779B97F4A7C15) & 0x7FFFFFFFFFFFFFFF
    return (h >> 17) & mask


@njit(cache=True)
def _points_left(remaining, pts):
    """Points of the tricks still to play: one a trick plus the count dominoes among them."""
    return (
        _popcount(remaining) // 4
        + 5 * _popcount(remaining & _COUNT5)
        + 10 * _popcount(remaining & _COUNT10)
    )


@njit(cache=True)
def _order(moves, pos, seat, led, win_seat, win_rank, first, decl, ledt, rank, pts, buf):
    """Write the dominoes of `moves` into buf[:7], most promising first (their scores into
    buf[7:]); return how many."""
    n = 0
    m = moves
    while m:
        low = m & -m
        m ^= low
        d = _popcount(low - 1)
        if d == first:
            s = 1000
        elif pos == 0:
            s = rank[decl, ledt[decl, d], d]  # strong leads first (fewest nodes of those tried)
        else:
            r = rank[decl, led, d]
            if (win_seat & 1) == (seat & 1):  # partner winning: smear count, do not overtake
                s = 300 + 10 * pts[d] - r if r <= win_rank else 100 - r
            elif r > win_rank:  # take the trick with the cheapest winner, preferring count
                s = 500 - r + 10 * pts[d]
            else:  # cannot win: throw the least valuable
                s = 200 - 10 * pts[d] - r
        j = n
        while j > 0 and buf[6 + j] < s:  # insertion sort, descending
            buf[7 + j] = buf[6 + j]
            buf[j] = buf[j - 1]
            j -= 1
        buf[7 + j] = s
        buf[j] = d
        n += 1
    return n


@njit(cache=True)
def _last_trick(remaining, leader, decl, hands, ledt, rank, pts):
    """Team-0 points of the final trick, where every seat holds one domino."""
    d0 = 0
    while not ((hands[leader] & remaining) >> d0) & 1:
        d0 += 1
    led = ledt[decl, d0]
    best, winner, total = rank[decl, led, d0], leader, 1 + pts[d0]
    for k in range(1, 4):
        seat = (leader + k) & 3
        d = 0
        while not ((hands[seat] & remaining) >> d) & 1:
            d += 1
        total += pts[d]
        r = rank[decl, led, d]
        if r > best:
            best, winner = r, seat
    return total if (winner & 1) == 0 else 0


@njit(cache=True)
def _child(d, pos, seat, led, win_seat, win_rank, trick_pts, remaining, decl, ledt, rank, pts):
    """The node after `seat` plays d: (pos, seat, led, win_seat, win_rank, trick_pts, remaining,
    gain), where gain = team-0 points of a trick that d completes."""
    rest = remaining & ~(np.int64(1) << d)
    if pos == 0:
        led = ledt[decl, d]
        return 1, (seat + 1) & 3, led, seat, rank[decl, led, d], pts[d], rest, 0
    r = rank[decl, led, d]
    if r > win_rank:
        win_seat, win_rank = seat, r
    trick_pts += pts[d]
    if pos < 3:
        return pos + 1, (seat + 1) & 3, led, win_seat, win_rank, trick_pts, rest, 0
    gain = trick_pts + 1 if (win_seat & 1) == 0 else 0
    return 0, win_seat, 0, 0, 0, 0, rest, gain


# Fields of a search frame (one per ply on the explicit stack: numba cannot cache recursion).
F_POS, F_SEAT, F_LED, F_WS, F_WR, F_TP, F_REM, F_ALPHA, F_BETA, F_A0, F_B0 = range(11)
F_BEST, F_BM, F_N, F_I, F_KEY, F_IDX, F_GAIN = range(11, 18)
_ENTER, _NEXT, _RETURN = 0, 1, 2


@njit(cache=True)
def _probe(pos, seat, remaining, alpha, beta, decl, hands, ledt, rank, pts, tt_key, tt_lo,
           tt_hi, tt_move, gen):  # fmt: skip
    """At a trick boundary: (known, value, alpha, beta, key, idx, first move to try)."""
    if remaining == 0:
        return True, 0, alpha, beta, 0, 0, _NONE
    if _popcount(remaining) == 4:
        value = _last_trick(remaining, seat, decl, hands, ledt, rank, pts)
        return True, value, alpha, beta, 0, 0, _NONE
    top = _points_left(remaining, pts)
    if alpha >= top:
        return True, top, alpha, beta, 0, 0, _NONE
    if beta <= 0:
        return True, 0, alpha, beta, 0, 0, _NONE
    key = (gen << 30) | (remaining << 2) | seat
    idx = _slot(key, tt_key.size - 1)
    first = _NONE
    if tt_key[idx] == key:
        lo, hi = np.int64(tt_lo[idx]), np.int64(tt_hi[idx])
        if lo >= beta or lo == hi:
            return True, lo, alpha, beta, key, idx, _NONE
        if hi <= alpha:
            return True, hi, alpha, beta, key, idx, _NONE
        alpha, beta, first = max(alpha, lo), min(beta, hi), np.int64(tt_move[idx])
    return False, 0, alpha, beta, key, idx, first


@njit(cache=True)
def _store(fr, tt_key, tt_lo, tt_hi, tt_move):
    key, idx, best = fr[F_KEY], fr[F_IDX], fr[F_BEST]
    lo, hi = np.int64(0), np.int64(127)
    if tt_key[idx] == key:
        lo, hi = np.int64(tt_lo[idx]), np.int64(tt_hi[idx])
    if best <= fr[F_A0]:
        hi = min(hi, best)
    elif best >= fr[F_B0]:
        lo = max(lo, best)
    else:
        lo, hi = best, best
    tt_key[idx], tt_lo[idx], tt_hi[idx], tt_move[idx] = key, lo, hi, fr[F_BM]


@njit(cache=True)
def _frame(f, pos, seat, led, ws, wr, tp, rem, alpha, beta, key, idx, best, best_move, n):
    f[F_POS], f[F_SEAT], f[F_LED], f[F_WS], f[F_WR] = pos, seat, led, ws, wr
    f[F_TP], f[F_REM] = tp, rem
    f[F_ALPHA], f[F_BETA], f[F_A0], f[F_B0] = alpha, beta, alpha, beta
    f[F_KEY], f[F_IDX], f[F_BEST], f[F_BM], f[F_N], f[F_I] = key, idx, best, best_move, n, 0


@njit(cache=True)
def _search(
    pos, seat, led, ws, wr, tp, rem, alpha, beta,
    decl, hands, follow, ledt, rank, pts, tt_key, tt_lo, tt_hi, tt_move, stats, gen,
):  # fmt: skip
    """Team-0 points from the current trick on: fail-soft alpha-beta on an explicit stack.

    pos = plays already in the current trick (0: `seat` leads); `rem` excludes them.
    """
    fr = np.empty((32, 18), np.int64)
    buf = np.empty((32, 14), np.int64)
    top, mode, v = -1, _ENTER, np.int64(0)
    while True:
        if mode == _ENTER:
            known, first, key, idx = False, _NONE, 0, 0
            if pos == 0:
                known, v, alpha, beta, key, idx, first = _probe(
                    pos, seat, rem, alpha, beta, decl, hands, ledt, rank, pts,
                    tt_key, tt_lo, tt_hi, tt_move, gen,
                )  # fmt: skip
            if known:
                mode = _RETURN
                continue
            top += 1
            stats[0] += 1
            hand = hands[seat] & rem
            moves = hand if pos == 0 else hand & follow[decl, led]
            if moves == 0:
                moves = hand
            n = _order(moves, pos, seat, led, ws, wr, first, decl, ledt, rank, pts, buf[top])
            best = -1 if (seat & 1) == 0 else 1000
            _frame(
                fr[top],
                pos,
                seat,
                led,
                ws,
                wr,
                tp,
                rem,
                alpha,
                beta,
                key,
                idx,
                best,
                buf[top, 0],
                n,
            )
            mode = _NEXT
        elif mode == _NEXT:
            f = fr[top]
            if f[F_I] < f[F_N] and f[F_ALPHA] < f[F_BETA]:
                d = buf[top, f[F_I]]
                f[F_I] += 1
                pos, seat, led, ws, wr, tp, rem, gain = _child(
                    d, f[F_POS], f[F_SEAT], f[F_LED], f[F_WS], f[F_WR], f[F_TP], f[F_REM],
                    decl, ledt, rank, pts,
                )  # fmt: skip
                f[F_GAIN] = gain
                alpha, beta = f[F_ALPHA] - gain, f[F_BETA] - gain
                mode = _ENTER
            else:
                if f[F_POS] == 0:
                    _store(f, tt_key, tt_lo, tt_hi, tt_move)
                v = f[F_BEST]
                top -= 1
                mode = _RETURN
        else:
            if top < 0:
                return v
            f = fr[top]
            v += f[F_GAIN]
            if (f[F_SEAT] & 1) == 0:
                if v > f[F_BEST]:
                    f[F_BEST], f[F_BM] = v, buf[top, f[F_I] - 1]
                    f[F_ALPHA] = max(f[F_ALPHA], v)
            elif v < f[F_BEST]:
                f[F_BEST], f[F_BM] = v, buf[top, f[F_I] - 1]
                f[F_BETA] = min(f[F_BETA], v)
            mode = _NEXT


@njit(cache=True)
def _solve_batch(
    decl, hands, remaining, pos, mover, led, win_seat, win_rank, trick_pts, gens, all_actions,
    follow, ledt, rank, pts, tt_key, tt_lo, tt_hi, tt_move, stats,
):  # fmt: skip
    """Team-0 points to come at each root (value [B]) and, if all_actions, after each legal
    domino (per_domino [B, 28], -1 where the domino is not a legal play)."""
    n = decl.size
    value = np.zeros(n, np.int64)
    per_domino = np.full((n, N_DOMINOES), -1, np.int64)
    for b in range(n):
        if remaining[b] == 0 and pos[b] == 0:
            continue
        args = (decl[b], hands[b], follow, ledt, rank, pts, tt_key, tt_lo, tt_hi, tt_move, stats,
                gens[b])  # fmt: skip
        top = _points_left(remaining[b], pts) + trick_pts[b] + (1 if pos[b] > 0 else 0)
        if not all_actions:
            value[b] = _search(
                pos[b], mover[b], led[b], win_seat[b], win_rank[b], trick_pts[b], remaining[b],
                -1, top + 1, *args,
            )  # fmt: skip
            continue
        seat, p, dc = mover[b], pos[b], decl[b]
        hand = hands[b, seat] & remaining[b]
        moves = hand if p == 0 else hand & follow[dc, led[b]]
        if moves == 0:
            moves = hand
        maximize = (seat & 1) == 0
        best = -1 if maximize else 1000
        for d in range(N_DOMINOES):
            if (moves >> d) & 1:
                c = _child(d, p, seat, led[b], win_seat[b], win_rank[b], trick_pts[b], remaining[b],
                           dc, ledt, rank, pts)  # fmt: skip
                gain = c[7]  # exact value of the child: a full window
                v = gain + _search(*c[:7], -1 - gain, top + 1 - gain, *args)
                per_domino[b, d] = v
                best = max(best, v) if maximize else min(best, v)
        value[b] = best
    return value, per_domino


def solve_states(
    state: GameState, actions: bool = True, table: TranspositionTable | None = None
) -> SolveResult:
    """Exact values of every game in `state` (all four hands must be the true ones).

    With `actions=False` only the root values are searched (one alpha-beta per game) and
    action_values is all NaN.
    """
    table = default_table() if table is None else table
    root = _roots(state)
    value0, per_domino = _solve_batch(
        *root, table.next_generations(state.batch_size), actions,
        _FOLLOW_MASKS, _LED, _RANK, _PTS, table.key, table.lo, table.hi, table.move, table.nodes,
    )  # fmt: skip
    left = TOTAL_POINTS - state.team_points.sum(axis=1).astype(np.int64)  # not yet awarded
    team1 = (state.to_move % 2 == 1) & ~state.done
    value = np.where(team1, left - value0, value0).astype(np.float32)
    b = np.arange(state.batch_size)
    if not actions:
        return SolveResult(value, np.full((state.batch_size, 7), np.nan, np.float32))
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
        r = np.where(in_trick, _RANK[decl, led, dom], -1)
        wins = r > win_rank
        win_seat = np.where(wins, state.history_seat[b, k], win_seat)
        win_rank = np.where(wins, r, win_rank)
        trick_pts += np.where(in_trick, _PTS[dom], 0)
    mover = state.to_move.astype(np.int64)
    return decl, hands, remaining, pos, mover, led, win_seat, win_rank, trick_pts
