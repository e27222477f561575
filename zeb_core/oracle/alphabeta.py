"""Alpha-beta kernels of the exact solver (numba): move ordering, the transposition table probe
and store, the explicit-stack search, and the serial and parallel batch loops.

`solver.py` is the API around them (positions in, values out); see its docstring for the search
value, the table key and why parallel lanes give bit-identical values. Explicit stacks, not
recursion: a recursive numba function with cache=True crashed when loaded from the cache.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from zeb_core.game.rules import COUNT_POINTS, FOLLOWS, LED_SUIT, N_DOMINOES, RANK

FOLLOW_MASKS = (FOLLOWS.astype(np.int64) << np.arange(N_DOMINOES, dtype=np.int64)).sum(axis=2)
LED64 = LED_SUIT.astype(np.int64)  # [10, 28]
RANK64 = RANK.astype(np.int64)  # [10, 8, 28]
PTS64 = COUNT_POINTS.astype(np.int64)  # [28]
RULE_TABLES = (FOLLOW_MASKS, LED64, RANK64, PTS64)  # passed to the kernels as one tuple
_NONE = -1
_COUNT5 = int(sum(1 << d for d in range(N_DOMINOES) if COUNT_POINTS[d] == 5))
_COUNT10 = int(sum(1 << d for d in range(N_DOMINOES) if COUNT_POINTS[d] == 10))


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
def _probe(seat, remaining, alpha, beta, decl, hands, rules, tt, gen):
    """At a trick boundary: (known, value, alpha, beta, key, idx, first move to try).

    rules = (follow, ledt, rank, pts); tt = (key, lo, hi, move, nodes) of one lane.
    """
    _, ledt, rank, pts = rules
    tt_key, tt_lo, tt_hi, tt_move, _ = tt
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
def _store(fr, tt):
    tt_key, tt_lo, tt_hi, tt_move, _ = tt
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
def _frame(f, node, alpha, beta, key, idx, best, best_move, n):
    """Fill a fresh frame for `node` = (pos, seat, led, win_seat, win_rank, trick_pts, rem)."""
    pos, seat, led, ws, wr, tp, rem = node
    f[F_POS], f[F_SEAT], f[F_LED], f[F_WS] = pos, seat, led, ws
    f[F_WR], f[F_TP], f[F_REM] = wr, tp, rem
    f[F_ALPHA], f[F_BETA], f[F_A0], f[F_B0] = alpha, beta, alpha, beta
    f[F_KEY], f[F_IDX], f[F_BEST], f[F_BM], f[F_N], f[F_I] = key, idx, best, best_move, n, 0


@njit(cache=True)
def _search(pos, seat, led, ws, wr, tp, rem, alpha, beta, decl, hands, rules, tt, gen):
    """Team-0 points from the current trick on: fail-soft alpha-beta on an explicit stack.

    pos = plays already in the current trick (0: `seat` leads); `rem` excludes them.
    """
    follow, ledt, rank, pts = rules
    stats = tt[4]
    fr = np.empty((32, 18), np.int64)
    buf = np.empty((32, 14), np.int64)
    top, mode, v = -1, _ENTER, np.int64(0)
    while True:
        if mode == _ENTER:
            known, first, key, idx = False, _NONE, 0, 0
            if pos == 0:
                known, v, alpha, beta, key, idx, first = _probe(
                    seat, rem, alpha, beta, decl, hands, rules, tt, gen
                )
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
            node = (pos, seat, led, ws, wr, tp, rem)
            _frame(fr[top], node, alpha, beta, key, idx, best, buf[top, 0], n)
            mode = _NEXT
        elif mode == _NEXT:
            f = fr[top]
            if f[F_I] < f[F_N] and f[F_ALPHA] < f[F_BETA]:
                d = buf[top, f[F_I]]
                f[F_I] += 1
                node = (f[F_POS], f[F_SEAT], f[F_LED], f[F_WS], f[F_WR], f[F_TP], f[F_REM])
                pos, seat, led, ws, wr, tp, rem, gain = _child(d, *node, decl, ledt, rank, pts)
                f[F_GAIN] = gain
                alpha, beta = f[F_ALPHA] - gain, f[F_BETA] - gain
                mode = _ENTER
            else:
                if f[F_POS] == 0:
                    _store(f, tt)
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
def _solve_game(b, roots, gens, all_actions, rules, tt, value, per_domino):
    """Solve game b of the batch into value[b] (team-0 points to come) and, if all_actions,
    per_domino[b, d] after each legal domino d (left at -1 for the others)."""
    decl, hands, remaining, pos, mover, led, win_seat, win_rank, trick_pts = roots
    follow, ledt, rank, pts = rules
    if remaining[b] == 0 and pos[b] == 0:
        return
    dc, hand_sets, gen = decl[b], hands[b], gens[b]
    top = _points_left(remaining[b], pts) + trick_pts[b] + (1 if pos[b] > 0 else 0)
    node = (pos[b], mover[b], led[b], win_seat[b], win_rank[b], trick_pts[b], remaining[b])
    if not all_actions:
        value[b] = _search(*node, -1, top + 1, dc, hand_sets, rules, tt, gen)
        return
    seat = mover[b]
    hand = hand_sets[seat] & remaining[b]
    moves = hand if pos[b] == 0 else hand & follow[dc, led[b]]
    if moves == 0:
        moves = hand
    maximize = (seat & 1) == 0
    best = -1 if maximize else 1000
    for d in range(N_DOMINOES):
        if (moves >> d) & 1:
            c = _child(d, *node, dc, ledt, rank, pts)
            gain = c[7]  # exact value of the child: a full window
            v = gain + _search(*c[:7], -1 - gain, top + 1 - gain, dc, hand_sets, rules, tt, gen)
            per_domino[b, d] = v
            best = max(best, v) if maximize else min(best, v)
    value[b] = best


@njit(cache=True)
def solve_serial(roots, gens, all_actions, rules, tt):
    """Every game in turn in one lane's table: (value [B], per_domino [B, 28])."""
    n = gens.size
    value = np.zeros(n, np.int64)
    per_domino = np.full((n, N_DOMINOES), -1, np.int64)
    for b in range(n):
        _solve_game(b, roots, gens, all_actions, rules, tt, value, per_domino)
    return value, per_domino


@njit(cache=True, parallel=True)
def solve_parallel(roots, gens, all_actions, rules, tables, lanes, order):
    """Games order[lane::lanes] in lane `lane`'s table, lanes in parallel threads."""
    tt_key, tt_lo, tt_hi, tt_move, nodes = tables
    n = gens.size
    value = np.zeros(n, np.int64)
    per_domino = np.full((n, N_DOMINOES), -1, np.int64)
    for lane in prange(lanes):
        tt = (tt_key[lane], tt_lo[lane], tt_hi[lane], tt_move[lane], nodes[lane : lane + 1])
        for k in range(lane, n, lanes):
            _solve_game(order[k], roots, gens, all_actions, rules, tt, value, per_domino)
    return value, per_domino
