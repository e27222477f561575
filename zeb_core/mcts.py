"""Batched determinized MCTS: `search(evaluator, states, rng, config) -> SearchOutput`.

Determinization, per search: each decision samples `config.worlds` deals of the hidden dominoes
consistent with what the mover has seen (`sampling.sample_worlds`: own hand, plays, voids), and
grows one ordinary perfect-information tree per world with `simulations / worlds` simulations
(root-parallel determinization). Root visits are summed over the worlds: the root's edges are the
mover's own hand slots, the same dominoes in every world, so their counts add up. Why per search
and not per simulation: inside one world every node has a single state, stored once and stepped
once when expanded (a world per simulation would replay the path from the root in every
simulation), and an edge is one domino (a world per simulation would make an opponent's slot `k`
a different domino in different simulations, so edge statistics would mix unrelated moves). Several
worlds per decision keep the search from fitting one guess of the hidden hands, and they widen
each wave's network batch (B * worlds leaves). How to split the budget was measured, not assumed:
with the reference checkpoint at 50 simulations against its greedy policy, 1 or 2 worlds (50 or
25 simulations each) won 51-53% of 600-game matches, 10 worlds of 5 won 47.5% of 400
(bench/mcts_strength.py). Its value head is weak early in a hand (no better than a constant
before the third trick), so values one ply deep say little; deeper trees help more.

Leakage is small: the network at a node sees only the observation of the seat to move there
(its own hand in that world and the public plays), so what a tree learns from the sampled world
is which actions are legal at deeper nodes (and so which moves are forced, which expansion plays
through) and the results of reaching terminal states.

Values are from the view of the team to move. Backup flips the sign by team, not by ply: the
trick winner leads, so consecutive movers can be partners. Leaves use the network's value; a leaf
where the hand is over uses the true outcome (`seat_outcomes(state, scoring)` of the mover there)
and needs no network call. Each simulation wave makes one network call for all trees in flight.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from zeb_core.engine import N_PLAYS, GameState, Scoring, legal_mask, seat_outcomes, step
from zeb_core.sampling import sample_worlds
from zeb_core.search_tree import (
    SearchTree,
    add_nodes,
    backward,
    empty_tree,
    select_leaves,
    write_states,
)
from zeb_core.tokenizer import Observation, observe

N_SLOTS = 7


class Evaluator(Protocol):
    def evaluate(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        """(policy logits [B, 7], value [B] from the observer's team view) as numpy."""
        ...


@dataclass(frozen=True)
class MCTSConfig:
    simulations: int = 200  # network-evaluated simulations per decision, over all worlds
    worlds: int = 4  # sampled deals per decision, one tree each (simulations split evenly)
    games_in_flight: int = 16  # self-play games advanced together (one network call per wave)
    node_capacity: int = 512  # most nodes a tree may hold (it needs simulations/worlds + 1)
    c_puct: float = 1.5  # exploration weight of the prior in PUCT
    dirichlet_alpha: float = 0.5  # root noise concentration (about 7 legal slots at most)
    dirichlet_fraction: float = 0.25  # share of the root prior replaced by noise; 0 = no noise
    temperature: float = 1.0  # visits ** (1 / temperature) for early moves; 0 = greedy
    temperature_plays: int = 8  # temperature applies while fewer plays than this were made
    forced_move_shortcut: bool = True  # a decision with one legal slot needs no search
    scoring: Scoring = "win"  # terminal values (the value head was trained on "win")

    def __post_init__(self) -> None:
        if self.simulations < 1 or self.worlds < 1:
            raise ValueError("simulations and worlds must be at least 1")
        if self.worlds > self.simulations:
            raise ValueError(f"worlds ({self.worlds}) cannot exceed simulations")
        if self.tree_size > self.node_capacity:
            raise ValueError(
                f"{self.simulations} simulations over {self.worlds} worlds need "
                f"{self.tree_size} nodes per tree; node_capacity is {self.node_capacity}"
            )
        if self.games_in_flight < 1 or self.c_puct < 0 or self.temperature < 0:
            raise ValueError("games_in_flight >= 1, c_puct >= 0 and temperature >= 0 required")
        if not 0 <= self.dirichlet_fraction <= 1 or self.dirichlet_alpha <= 0:
            raise ValueError("dirichlet_fraction must be in [0, 1] and dirichlet_alpha > 0")

    @property
    def tree_size(self) -> int:
        """Nodes per tree: the root plus one per simulation of the busiest world."""
        return -(-self.simulations // self.worlds) + 1

    def for_evaluation(self) -> MCTSConfig:
        """No root noise, greedy over visits: how a player searches in a match."""
        return replace(self, dirichlet_fraction=0.0, temperature_plays=0)


@dataclass(frozen=True)
class SearchOutput:
    visits: np.ndarray  # [B, 7] int32 root visits summed over worlds (1 on a forced slot)
    q: np.ndarray  # [B, 7] float32 mean value of each root slot over worlds, mover's team view
    root_value: np.ndarray  # [B] float32 mean root value over worlds (0 where not searched)
    prior: np.ndarray  # [B, 7] float32 network policy at the root, no noise (0 not searched)
    legal: np.ndarray  # [B, 7] bool legal slots of the mover
    searched: np.ndarray  # [B] bool a search ran (False: forced move, shortcut taken)
    network_seconds: float  # time spent in evaluator.evaluate
    network_calls: int
    network_evals: int  # observations evaluated


class _TimedEvaluator:
    """Counts the network's share of a search (for the benchmark and self-play metadata)."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.seconds, self.calls, self.evals = 0.0, 0, 0

    def evaluate(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        start = time.perf_counter()
        logits, values = self.evaluator.evaluate(obs)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        self.evals += int(obs.tokens.shape[0])
        return np.asarray(logits, np.float32), np.asarray(values, np.float32)


def search(
    evaluator: Evaluator, states: GameState, rng: np.random.Generator, config: MCTSConfig
) -> SearchOutput:
    """Search the mover's decision in every (unfinished) game of `states`."""
    if states.done.any():
        raise ValueError("search needs unfinished games")
    legal = legal_mask(states)
    searched = legal.sum(axis=1) > 1 if config.forced_move_shortcut else np.ones(len(legal), bool)
    b = states.batch_size
    visits = np.where(searched[:, None], 0, legal).astype(np.int32)  # forced: one visit
    q, prior = np.zeros((b, N_SLOTS), np.float32), np.zeros((b, N_SLOTS), np.float32)
    root_value = np.zeros(b, np.float32)
    timed = _TimedEvaluator(evaluator)
    if searched.any():
        tree, root_prior = _grow_trees(timed, states.take(searched), rng, config)
        stats = _root_stats(tree, config.worlds)
        visits[searched], q[searched], root_value[searched] = stats
        prior[searched] = root_prior
    return SearchOutput(
        visits=visits,
        q=q,
        root_value=root_value,
        prior=prior,
        legal=legal,
        searched=searched,
        network_seconds=timed.seconds,
        network_calls=timed.calls,
        network_evals=timed.evals,
    )


def _grow_trees(
    evaluator: _TimedEvaluator, states: GameState, rng: np.random.Generator, config: MCTSConfig
) -> tuple[SearchTree, np.ndarray]:
    """One tree per (game, world), game-major; returns the trees and the root prior [B, 7]."""
    n_worlds = config.worlds
    worlds = sample_worlds(states, n_worlds, rng)
    # Tree w of a game gets simulations // worlds, the first simulations % worlds one more.
    per_world = config.simulations // n_worlds + (
        np.arange(n_worlds) < config.simulations % n_worlds
    )
    budget = np.tile(per_world, states.batch_size)
    tree = empty_tree(worlds.batch_size, config.tree_size)
    root_prior = _add_roots(tree, evaluator, states, worlds, rng, config)
    active = np.empty(tree.n_trees, bool)
    node = np.zeros(tree.n_trees, np.int32)
    action = np.zeros(tree.n_trees, np.int32)
    for k in range(int(budget.max())):
        np.greater(budget, k, out=active)
        select_leaves(
            tree.children, tree.prior, tree.legal, tree.visits, tree.value_sum, tree.team,
            tree.terminal, active, np.float32(config.c_puct), node, action,
        )  # fmt: skip
        _expand_and_backup(tree, evaluator, np.flatnonzero(active), node, action, config)
    return tree, root_prior


def _add_roots(
    tree: SearchTree,
    evaluator: _TimedEvaluator,
    states: GameState,
    worlds: GameState,
    rng: np.random.Generator,
    config: MCTSConfig,
) -> np.ndarray:
    """Evaluate each game's root once (the mover's observation is the same in every world)."""
    obs = observe(states)
    logits, value = evaluator.evaluate(obs)
    prior = masked_softmax(logits, obs.legal)  # [B, 7]
    n_worlds = config.worlds
    tree_prior = np.repeat(prior, n_worlds, axis=0)
    legal = np.repeat(obs.legal, n_worlds, axis=0)
    if config.dirichlet_fraction > 0:
        noise = dirichlet_noise(legal, config.dirichlet_alpha, rng)
        frac = np.float32(config.dirichlet_fraction)
        tree_prior = (1 - frac) * tree_prior + frac * noise
    trees = np.arange(tree.n_trees)
    roots = np.full(tree.n_trees, -1, np.int32)
    tree_value = np.repeat(value, n_worlds)
    nodes = add_nodes(tree, trees, roots, roots, worlds, legal, tree_prior, tree_value)
    backward(tree.parent, tree.visits, tree.value_sum, tree.team, trees, nodes, tree_value)
    return prior


def _expand_and_backup(
    tree: SearchTree,
    evaluator: _TimedEvaluator,
    trees: np.ndarray,
    node: np.ndarray,
    action: np.ndarray,
    config: MCTSConfig,
) -> None:
    """Expand the selected edge of each tree (one network call for all) and back the value up."""
    leaf, act = node[trees], action[trees]
    leaf_value = tree.own_value[trees, leaf]  # terminal leaves: the stored outcome
    grow = act >= 0
    if grow.any():
        t, parents, slots = trees[grow], leaf[grow], act[grow]
        child = step(tree.states.take(tree.rows(t, parents)), slots)
        child, legal = play_forced_moves(child)
        prior, value = evaluate_states(evaluator, child, legal, config.scoring)
        leaf[grow] = add_nodes(tree, t, parents, slots, child, legal, prior, value)
        leaf_value[grow] = value
    backward(tree.parent, tree.visits, tree.value_sum, tree.team, trees, leaf, leaf_value)


def play_forced_moves(state: GameState) -> tuple[GameState, np.ndarray]:
    """Play on while the mover has a single legal slot (a node there would be a pass-through).

    A forced move has the value of its one child, so skipping it changes no value, saves a
    network call per forced ply, and lets a simulation reach the end of the hand (true outcomes)
    in fewer expansions: the last trick is always forced. The edge keeps the parent's slot.
    Returns the state and its legal mask [B, 7].
    """
    legal = legal_mask(state)
    for _ in range(N_PLAYS):
        forced = np.flatnonzero(legal.sum(axis=1) == 1)  # finished games have no legal slot
        if forced.size == 0:
            break
        moved = step(state.take(forced), np.argmax(legal[forced], axis=1))
        state = _with_rows(state, forced, moved)
        legal[forced] = legal_mask(moved)
    return state, legal


def _with_rows(state: GameState, rows: np.ndarray, src: GameState) -> GameState:
    """A copy of `state` with `rows` replaced by `src`."""
    out = GameState(**{f: getattr(state, f).copy() for f in GameState.__dataclass_fields__})
    write_states(out, rows, src)
    return out


def evaluate_states(
    evaluator: Evaluator, states: GameState, legal: np.ndarray, scoring: Scoring = "win"
) -> tuple[np.ndarray, np.ndarray]:
    """(prior [B, 7], value [B]) of each state (legal mask [B, 7]), its mover's team view.

    Finished hands take the true outcome of the seat to move and skip the network.
    """
    done = states.done
    b = np.arange(states.batch_size)
    value = seat_outcomes(states, scoring)[b, states.to_move].astype(np.float32)
    prior = np.zeros((states.batch_size, N_SLOTS), np.float32)
    live = np.flatnonzero(~done)
    if live.size:
        obs = observe(states.take(live) if live.size < states.batch_size else states)
        logits, net_value = evaluator.evaluate(obs)
        prior[live] = masked_softmax(logits, legal[live])
        value[live] = net_value
    return prior, value


def _root_stats(tree: SearchTree, n_worlds: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per game: root visits summed over worlds, visit-weighted Q, mean root value."""
    visits = tree.child_visits(0).reshape(-1, n_worlds, N_SLOTS)  # [B, W, 7]
    q = tree.q_values(0).reshape(-1, n_worlds, N_SLOTS)
    total = visits.sum(axis=1)
    mean_q = (q * visits).sum(axis=1) / np.maximum(total, 1)
    root = (tree.value_sum[:, 0] / tree.visits[:, 0]).reshape(-1, n_worlds).mean(axis=1)
    return total.astype(np.int32), mean_q.astype(np.float32), root.astype(np.float32)


def masked_softmax(logits: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """[B, 7] softmax over legal slots (0 elsewhere); rows without a legal slot stay 0."""
    z = np.where(legal, logits, -np.inf)
    z = z - np.max(z, axis=1, keepdims=True, initial=-1e30, where=legal)
    e = np.where(legal, np.exp(z), 0.0)
    return (e / np.maximum(e.sum(axis=1, keepdims=True), 1e-30)).astype(np.float32)


def dirichlet_noise(legal: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """[B, 7] a Dirichlet(alpha) draw over each row's legal slots (normalized gammas)."""
    g = np.where(legal, rng.gamma(alpha, size=legal.shape), 0.0)
    return (g / np.maximum(g.sum(axis=1, keepdims=True), 1e-30)).astype(np.float32)


def select_actions(
    output: SearchOutput,
    n_played: np.ndarray,
    config: MCTSConfig,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """[B] slots: sampled from visits ** (1 / T) while `n_played < temperature_plays`, else the
    most visited slot (ties: the better Q, then the lowest slot)."""
    visits = output.visits.astype(np.float64)
    key = np.where(output.legal, visits + (output.q + 1) / 3, -np.inf)  # (q + 1) / 3 < 1
    actions = np.argmax(key, axis=1).astype(np.int64)
    explore = (np.asarray(n_played) < config.temperature_plays) & (config.temperature > 0)
    if explore.any():
        assert rng is not None, "sampling with a temperature needs an rng"
        weights = visits[explore] ** (1.0 / config.temperature)
        cdf = np.cumsum(weights, axis=1)
        u = rng.random((int(explore.sum()), 1)) * cdf[:, -1:]  # scaled: never past the last
        actions[explore] = (cdf <= u).sum(axis=1)
    return actions
