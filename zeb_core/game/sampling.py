"""Determinization: deals of the hidden dominoes that agree with everything one seat has seen.

The observer knows its own hand, every play so far, how many dominoes each seat still holds, and
the voids (`GameState.voids`: a seat that failed to follow a led suit holds no domino that follows
it). Every deal of the hidden dominoes to the other three seats that respects the hand sizes and
the voids is equally likely a priori, so the posterior is uniform over exactly those deals.

Sampling is exact: a counting DP over the hidden dominoes (in a fixed order) gives, for each
suffix of them and each remaining capacity of the three seats, the number of consistent ways to
deal that suffix; each domino then goes to an allowed seat with probability proportional to the
number of completions. Every consistent deal comes out with probability 1 / (number of deals).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from zeb_core.game.engine import GameState, with_fields
from zeb_core.game.rules import FOLLOWS, HAND_SIZE, N_DOMINOES, N_SEATS

MAX_HIDDEN = 3 * HAND_SIZE  # the observer's own 7 are never hidden


class InconsistentStateError(ValueError):
    """No deal of the hidden dominoes agrees with the observer's information."""


def hidden_info(
    state: GameState, observer: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What the observer may use: hidden dominoes [B, 28] bool, the other seats' capacities
    [B, 4] (0 for the observer) and which seat may hold which domino [B, 4, 28] (voids)."""
    b = np.arange(state.batch_size)
    own = np.zeros((state.batch_size, N_DOMINOES), bool)
    mine = state.hands[b, observer]  # [B, 7]
    own[b[:, None], mine] = state.held[b, observer]
    played = np.zeros((state.batch_size, N_DOMINOES), bool)
    rows, cols = np.nonzero(state.history >= 0)
    played[rows, state.history[rows, cols]] = True
    hidden = ~own & ~played
    capacity = state.held.sum(axis=2).astype(np.int64)  # public: 7 - plays by the seat
    capacity[b, observer] = 0
    follows = FOLLOWS[state.decl]  # [B, 8, 28]
    barred = (state.voids[:, :, :, None] & follows[:, None, :, :]).any(axis=2)  # [B, 4, 28]
    return hidden, capacity, ~barred


@njit(cache=True)
def _count_table(weight, caps):
    """count[i, a, b]: the weighted number of ways to deal hidden dominoes i.. with a left for
    the first other seat, b for the second (the third takes the rest); a deal's weight is the
    product of its dominoes' weights. weight: [H, 3] float64, 0 where the seat cannot hold it
    (all ones where allowed: plain counting)."""
    h = weight.shape[0]
    count = np.zeros((h + 1, caps[0] + 1, caps[1] + 1), np.float64)
    count[h, 0, 0] = 1.0
    for i in range(h - 1, -1, -1):
        for a in range(caps[0] + 1):
            for b in range(caps[1] + 1):
                c = h - i - a - b
                if c < 0 or c > caps[2]:
                    continue
                ways = 0.0
                if a > 0:
                    ways += weight[i, 0] * count[i + 1, a - 1, b]
                if b > 0:
                    ways += weight[i, 1] * count[i + 1, a, b - 1]
                if c > 0:
                    ways += weight[i, 2] * count[i + 1, a, b]
                count[i, a, b] = ways
    return count


@njit(cache=True)
def _sample_owners(weight, caps, uniforms):
    """[W, H] index (0..2) of the other seat that gets each hidden domino, one row per world."""
    h = weight.shape[0]
    count = _count_table(weight, caps)
    n_worlds = uniforms.shape[0]
    owners = np.zeros((n_worlds, h), np.int64)
    if count[0, caps[0], caps[1]] == 0.0:
        return owners, False
    for w in range(n_worlds):
        a, b = caps[0], caps[1]
        for i in range(h):
            c = h - i - a - b
            w0 = weight[i, 0] * count[i + 1, a - 1, b] if a > 0 else 0.0
            w1 = weight[i, 1] * count[i + 1, a, b - 1] if b > 0 else 0.0
            w2 = weight[i, 2] * count[i + 1, a, b] if c > 0 else 0.0
            u = uniforms[w, i] * (w0 + w1 + w2)
            if u < w0:
                owners[w, i] = 0
                a -= 1
            elif u < w0 + w1:
                owners[w, i] = 1
                b -= 1
            else:
                owners[w, i] = 2
    return owners, True


def deal_count(state: GameState, observer: int | np.ndarray | None = None) -> np.ndarray:
    """[B] number of consistent deals of the hidden dominoes (for tests and diagnostics)."""
    obs = _observers(state, observer)
    hidden, capacity, allowed = hidden_info(state, obs)
    weights = _deal_weights(allowed, obs, None)  # [B, 28, 3]: 1 where a seat may hold it
    out = np.zeros(state.batch_size)
    for g in range(state.batch_size):
        others, doms = _others(obs[g]), np.flatnonzero(hidden[g])
        caps = capacity[g, others]
        out[g] = _count_table(np.ascontiguousarray(weights[g, doms]), caps)[0, caps[0], caps[1]]
    return out


def sample_worlds(
    state: GameState,
    n_worlds: int,
    rng: np.random.Generator,
    observer: int | np.ndarray | None = None,
    log_weights: np.ndarray | None = None,
) -> GameState:
    """A state of batch B * n_worlds (game-major: world w of game g is row g * n_worlds + w).

    Every seat but the observer (default: the mover of each game) gets hidden dominoes dealt
    uniformly at random among the deals consistent with what the observer knows, into its held
    slots (sorted by id); everything else (own hand, plays, voids, points) is kept.

    log_weights [B, 28, 3] (the observer's relative seats 1..3), when given, tilt the draw: a
    consistent deal comes out with probability proportional to exp(the sum of its dominoes'
    log-weights for their holders); inconsistent deals still never do.
    """
    obs = _observers(state, observer)
    hidden, capacity, allowed = hidden_info(state, obs)
    weights = _deal_weights(allowed, obs, log_weights)  # [B, 28, 3]
    worlds = state.take(np.repeat(np.arange(state.batch_size), n_worlds))
    hands = worlds.hands.copy()
    uniforms = rng.random((state.batch_size, n_worlds, MAX_HIDDEN))
    for g in range(state.batch_size):
        others, doms = _others(obs[g]), np.flatnonzero(hidden[g])
        owners, ok = _sample_owners(
            np.ascontiguousarray(weights[g, doms]),
            capacity[g, others],
            np.ascontiguousarray(uniforms[g, :, : doms.size]),
        )
        if not ok:
            raise InconsistentStateError(
                f"game {g}: no deal of the hidden dominoes fits seat {obs[g]}'s information"
            )
        rows = slice(g * n_worlds, (g + 1) * n_worlds)
        for k, seat in enumerate(others):
            slots = np.flatnonzero(state.held[g, seat])
            # row-major boolean indexing keeps each world's dominoes sorted by id
            dealt = np.broadcast_to(doms, owners.shape)[owners == k].reshape(n_worlds, -1)
            hands[rows, seat][:, slots] = dealt
    return with_fields(worlds, hands=hands)


# A tilt's weights are scaled to at most 1 per domino and floored here, so a confident head can
# make a consistent deal rare but not impossible, and 21 dominoes' product stays a float64.
MIN_TILT = float(np.exp(-20.0))


def _deal_weights(
    allowed: np.ndarray, observers: np.ndarray, log_weights: np.ndarray | None
) -> np.ndarray:
    """[B, 28, 3] float64: each domino's weight for the observer's relative seats 1..3, 0 where
    that seat cannot hold it (1 where it can, without log_weights)."""
    b = np.arange(allowed.shape[0])
    seats = (observers[:, None] + np.arange(1, N_SEATS)) % N_SEATS  # [B, 3]
    weight = allowed[b[:, None], seats].transpose(0, 2, 1).astype(np.float64)  # [B, 28, 3]
    if log_weights is None:
        return weight
    tilt = np.asarray(log_weights, np.float64)
    tilt = np.maximum(np.exp(tilt - tilt.max(axis=2, keepdims=True)), MIN_TILT)
    return weight * tilt


def _observers(state: GameState, observer: int | np.ndarray | None) -> np.ndarray:
    if observer is None:
        return state.to_move.astype(np.int64)
    obs = np.broadcast_to(np.asarray(observer, dtype=np.int64), (state.batch_size,))
    if ((obs < 0) | (obs >= N_SEATS)).any():
        raise ValueError("observers must be seats 0..3")
    return obs


def _others(observer: int) -> np.ndarray:
    return np.array([(observer + k) % N_SEATS for k in (1, 2, 3)])
