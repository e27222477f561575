"""Gumbel root search (Danihelka et al., "Policy improvement by planning with Gumbel", ICLR 2022),
after mctx's `gumbel_muzero_policy`, over the determinized trees of `mcts.search`.

At the root of each decision: Gumbel noise g is drawn once per legal slot (0 in evaluation);
Sequential Halving spends the simulation budget on the slots with the best g + logits + sigma(Q),
halving the candidates in rounds (`halving_schedule`: the visit count a slot must have to be
picked at each simulation, which makes the first round the Gumbel-top-k of g + logits). The move
is the argmax of g + logits + sigma(completed Q) among the most visited slots; the policy target
is softmax(logits + sigma(completed Q)) over the legal slots, which puts more mass than the prior
on slots that searched better. sigma(q) = (c_visit + max_b N(b)) * c_scale * q; completed Q takes
the mixed value (the network's value of the node blended with the prior-weighted Q of the visited
slots) where a slot has no visit, so an unsearched position gives back its prior exactly.

Determinized: a game's W trees (one per sampled world) share its root; root visits N and Q are
summed and visit-weighted over the worlds. Each wave runs one simulation in every tree, so a game
picks W root slots per wave, one after another, counting the ones already picked this wave, and
sends each pick to the free world where that slot has been tried least (a slot's visits spread
over the deals). A root whose plays can all be solved (`mcts`, `exact_tricks_left`) needs no
halving: every play is solved in every sampled world, N(a) = worlds, and the same move and
target formulas apply.

Interior nodes (`search_tree.select_leaves`) may use mctx's deterministic selection: the slot
maximizing softmax(logits + sigma(completed Q)) - N(a) / (1 + sum N), which makes visit
frequencies follow that improved policy. `search_tree.sigma_row` is the one implementation of
the transform that both the root and the interior use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

from zeb_core.game.engine import GameState, Scoring, legal_mask
from zeb_core.game.sampling import sample_worlds
from zeb_core.search.search_tree import TINY, sigma_row, solved_outcomes, tricks_left

N_SLOTS = 7
LOW_LOGIT = -1e9  # floor of a root score, so that a slot with prior 0 can still be picked


@dataclass(frozen=True)
class GumbelConfig:
    considered_actions: int = 7  # k of the Gumbel-top-k at the root (7: every legal slot)
    gumbel_scale: float = 1.0  # scale of the root noise while exploring (evaluation draws none)
    c_visit: float = 50.0  # sigma(q) = (c_visit + max N) * c_scale * q (mctx's maxvisit_init)
    c_scale: float = 0.1  # (mctx's value_scale)
    rescale_q: bool = True  # min-max rescale the completed Q of a node to [0, 1] first (mctx)

    def __post_init__(self) -> None:
        if not 1 <= self.considered_actions <= N_SLOTS:
            raise ValueError(f"considered_actions must be 1..{N_SLOTS}")
        if self.gumbel_scale < 0 or self.c_visit < 0 or self.c_scale < 0:
            raise ValueError("gumbel_scale, c_visit and c_scale must be >= 0")


@dataclass(frozen=True)
class GumbelRoot:
    """What the root selection needs of every game, fixed for the whole search."""

    logits: np.ndarray  # [B, 7] float32 network logits minus their max over legal slots
    gumbel: np.ndarray  # [B, 7] float32 root noise (0 in evaluation)
    legal: np.ndarray  # [B, 7] bool
    prior: np.ndarray  # [B, 7] float32 softmax of the logits over legal slots
    raw_value: np.ndarray  # [B] float32 network value of the root, mover's team view
    schedule: np.ndarray  # [B, S] int32 visits a slot needs to be picked at simulation i


def halving_schedule(considered: int, simulations: int) -> tuple[int, ...]:
    """mctx's `get_sequence_of_considered_visits`: at simulation i the picked slot is the best
    of those with exactly schedule[i] visits; each round gives every candidate the same number of
    extra visits, then keeps the better half (at least 2)."""
    if considered <= 1:
        return tuple(range(simulations))
    rounds = int(math.ceil(math.log2(considered)))
    sequence: list[int] = []
    visits = [0] * considered
    n = considered
    while len(sequence) < simulations:
        extra = max(1, int(simulations / (rounds * n)))
        for _ in range(extra):
            sequence.extend(visits[:n])
            for i in range(n):
                visits[i] += 1
        n = max(2, n // 2)
    return tuple(sequence[:simulations])


@lru_cache(maxsize=64)
def _schedule_table(considered: int, simulations: int) -> np.ndarray:
    """[considered + 1, S] int32: the schedule for each number of candidates 0..considered."""
    rows = [halving_schedule(m, simulations) for m in range(considered + 1)]
    return np.array(rows, np.int32).reshape(considered + 1, simulations)


def new_root(
    logits: np.ndarray,
    legal: np.ndarray,
    raw_value: np.ndarray,
    explore: np.ndarray,
    rng: np.random.Generator,
    simulations: int,
    config: GumbelConfig,
) -> GumbelRoot:
    """The root of each game: noise where `explore` [B] (and gumbel_scale > 0), its schedule."""
    z = np.where(legal, logits, -np.inf)
    z = z - np.max(z, axis=1, keepdims=True, initial=-1e30, where=legal)
    shifted = np.where(legal, z, 0.0).astype(np.float32)  # [B, 7]
    e = np.where(legal, np.exp(shifted), 0.0)
    prior = (e / np.maximum(e.sum(axis=1, keepdims=True), TINY)).astype(np.float32)
    noise = rng.gumbel(size=legal.shape) if config.gumbel_scale > 0 else np.zeros(legal.shape)
    gumbel = np.where(explore[:, None], config.gumbel_scale * noise, 0.0).astype(np.float32)
    considered = np.minimum(legal.sum(axis=1), config.considered_actions)  # [B]
    schedule = _schedule_table(config.considered_actions, simulations)[considered]
    return GumbelRoot(shifted, gumbel, legal, prior, raw_value.astype(np.float32), schedule)


@njit(cache=True)
def _sigma_rows(q, n, prior, raw_value, legal, c_visit, c_scale, rescale, out):
    for b in range(q.shape[0]):
        sigma_row(q[b], n[b], prior[b], raw_value[b], legal[b], c_visit, c_scale, rescale, out[b])


def transformed_q(
    root: GumbelRoot, visits: np.ndarray, q: np.ndarray, config: GumbelConfig
) -> np.ndarray:
    """[B, 7] sigma(completed Q) of every root from its summed visits [B, 7] and Q [B, 7]."""
    out = np.zeros(q.shape, np.float64)
    n, prior = visits.astype(np.int64), root.prior.astype(np.float64)
    c_visit, c_scale, rescale = config.c_visit, config.c_scale, config.rescale_q
    raw = root.raw_value.astype(np.float64)
    _sigma_rows(q.astype(np.float64), n, prior, raw, root.legal, c_visit, c_scale, rescale, out)
    return out


def _scores(root: GumbelRoot, sigma: np.ndarray) -> np.ndarray:
    """[B, 7] g + logits + sigma(Q) on legal slots, -inf elsewhere."""
    score = np.maximum(root.gumbel + root.logits + sigma, LOW_LOGIT)
    return np.where(root.legal, score, -np.inf)


def root_actions(
    root: GumbelRoot,
    visits: np.ndarray,
    q: np.ndarray,
    world_visits: np.ndarray,
    active: np.ndarray,
    config: GumbelConfig,
) -> np.ndarray:
    """[B, W] int32 root slot of each world's next simulation (-1 where the tree is inactive).

    A game's picks of a wave are made one after another, each counting the ones before it, so
    its visits follow the halving schedule as if its simulations ran one by one. Each pick goes
    to the free world where that slot has the fewest visits (`world_visits` [B, W, 7]): a slot's
    visits spread over the worlds, so slots are compared on the same deals, and a world whose
    child is already settled (solved or finished) is not asked again while another is fresh.
    """
    score = _scores(root, transformed_q(root, visits, q, config))  # [B, 7]
    n = visits.astype(np.int64)  # [B, 7] completed + picked this wave
    per_world = world_visits.astype(np.int64)  # [B, W, 7]
    free = active.copy()  # [B, W] worlds still without a pick this wave
    out = np.full(active.shape, -1, np.int32)
    for _ in range(active.shape[1]):
        rows = np.flatnonzero(free.any(axis=1))
        target = root.schedule[rows, n[rows].sum(axis=1)]  # [R]
        eligible = n[rows] == target[:, None]
        choice = np.argmax(np.where(eligible, score[rows], -np.inf), axis=1)  # [R]
        counts = per_world[rows, :, choice]  # [R, W] the chosen slot's visits in each world
        world = np.argmin(np.where(free[rows], counts, np.iinfo(np.int64).max), axis=1)
        out[rows, world] = choice
        free[rows, world] = False
        n[rows, choice] += 1
        per_world[rows, world, choice] += 1
    return out


def final_actions(
    root: GumbelRoot, visits: np.ndarray, q: np.ndarray, config: GumbelConfig
) -> np.ndarray:
    """[B] the move: argmax of g + logits + sigma(completed Q) among the most visited slots."""
    score = _scores(root, transformed_q(root, visits, q, config))
    most = visits == visits.max(axis=1, keepdims=True)
    return np.argmax(np.where(most & root.legal, score, -np.inf), axis=1).astype(np.int64)


def improved_policy(
    root: GumbelRoot, visits: np.ndarray, q: np.ndarray, config: GumbelConfig
) -> np.ndarray:
    """[B, 7] softmax(logits + sigma(completed Q)) over legal slots: the policy target."""
    z = np.where(root.legal, root.logits + transformed_q(root, visits, q, config), -np.inf)
    z = z - z.max(axis=1, keepdims=True)
    e = np.where(root.legal, np.exp(z), 0.0)
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class SolvedRoots:
    """Roots searched by solving every legal play in each sampled world (no tree)."""

    root: GumbelRoot
    visits: np.ndarray  # [B, 7] int64 worlds solved, on every legal slot
    q: np.ndarray  # [B, 7] float32 mean exact outcome of each slot, mover's team view
    value: np.ndarray  # [B] float32 mean over worlds of the best slot's outcome


def solvable_roots(states: GameState, exact_tricks_left: int) -> np.ndarray:
    """[B] every play of the mover leaves at most exact_tricks_left tricks to play."""
    return tricks_left(states.n_played.astype(np.int64) + 1) <= exact_tricks_left


def solve_roots(
    states: GameState,
    logits: np.ndarray,
    raw_value: np.ndarray,
    explore: np.ndarray,
    rng: np.random.Generator,
    simulations: int,
    scoring: Scoring,
    config: GumbelConfig,
    log_weights: np.ndarray | None = None,
) -> SolvedRoots:
    """Roots whose plays can all be solved need no halving: each sampled world is solved for
    every legal play, so the plays are compared on the same deals (the E[Q] player's paired
    design, which needs far fewer deals than visits spread over trees). A play's value is one
    simulation: a game with L legal plays gets ceil(simulations / L) worlds, N(a) = worlds.
    log_weights [B, 28, 3]: the deals' tilt (`sampling.sample_worlds`), None for uniform."""
    legal = legal_mask(states)
    n_worlds = -(-simulations // legal.sum(axis=1))  # [B]
    q, best = np.zeros(legal.shape, np.float32), np.zeros(states.batch_size, np.float32)
    for n in np.unique(n_worlds).tolist():
        rows = np.flatnonzero(n_worlds == n)
        tilt = None if log_weights is None else log_weights[rows]
        worlds = sample_worlds(states.take(rows), n, rng, log_weights=tilt)
        outcomes = solved_outcomes(worlds, scoring).reshape(rows.size, n, N_SLOTS)  # [R, n, 7]
        q[rows] = outcomes.mean(axis=1)
        best[rows] = np.where(legal[rows, None], outcomes, -np.inf).max(axis=2).mean(axis=1)
    root = new_root(logits, legal, raw_value, explore, rng, 1, config)
    visits = np.where(legal, n_worlds[:, None], 0)
    return SolvedRoots(root=root, visits=visits, q=q, value=best)
