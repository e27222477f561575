"""Batched determinized MCTS: `search(evaluator, states, rng, config) -> SearchOutput`.

Determinization, per search: each decision samples `config.worlds` deals of the hidden dominoes
consistent with what the mover has seen (`sampling.sample_worlds`) and grows one tree per world;
root visits and Q are combined over the worlds (root edges are the mover's own slots, the same
in every world). The network at a node sees only its mover's observation, so a tree learns from
its world only which moves are legal deeper down and what the states it reaches are worth. With
network values alone, 1-2 deep trees beat 10 shallow ones (51-53% against greedy, 47.5%).
`true_deal` searches the real deal instead (the original's self-play: it peeks, so no player).

Values are from the view of the team to move; backup flips the sign by team, not by ply (the
trick winner leads, so consecutive movers can be partners). A leaf takes the network's value, a
finished hand its true outcome, and (`exact_tricks_left`) a leaf with few tricks left its exact
outcome in its world (`solver.solve_states`), without a network call. Each simulation wave makes
one network call for all trees in flight.

Root rules: "puct" (visit shares are the policy target; Dirichlet noise, temperature) or "gumbel"
(gumbel.py: Sequential Halving over Gumbel-top-k slots, the improved policy as the target). A
Gumbel root whose plays all leave at most `exact_tricks_left` tricks grows no tree: every legal
play is solved in each sampled world, so the plays are compared on the same deals. Measured with
zeb-e2839 at 50 simulations against its greedy policy, 2000 games on the same deals
(bench/mcts_strength.py, seed 2026): PUCT 51.8%, Gumbel 51.7% (51.4% with Gumbel interior
selection), PUCT with exact leaves (6 tricks) 50.8%; Gumbel with exact_tricks_left 6 57.3%,
with 7 58.1%. The value head says little early in a hand; exact, paired values are what help
(without them, 200 simulations reach 53.5%, in 4 worlds or 2 alike; seed 13, README).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from zeb_core.game.engine import GameState, legal_mask, seat_outcomes, step
from zeb_core.game.sampling import sample_worlds
from zeb_core.game.tokenizer import Observation, observe
from zeb_core.search import gumbel
from zeb_core.search.config import N_SLOTS, Evaluator, MCTSConfig, SearchOutput
from zeb_core.search.gumbel import GumbelRoot
from zeb_core.search.move_selection import dirichlet_noise, masked_softmax, most_visited
from zeb_core.search.search_tree import (
    GUMBEL,
    PUCT,
    SearchTree,
    add_nodes,
    backward,
    empty_tree,
    exact_outcomes,
    play_forced_moves,
    select_leaves,
    tricks_left,
)


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

    def belief_tilt(self, obs: Observation) -> np.ndarray | None:
        """The evaluator's deal log-weights [B, 28, 3]; None where it has none to give."""
        tilt = getattr(self.evaluator, "belief_tilt", None)
        if tilt is None:
            return None
        start = time.perf_counter()
        weights = tilt(obs)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return weights


@dataclass(frozen=True)
class _Roots:
    """The network at each game's root (the mover's observation is the same in every world)."""

    logits: np.ndarray  # [B, 7] float32
    prior: np.ndarray  # [B, 7] float32 masked softmax of the logits
    value: np.ndarray  # [B] float32
    legal: np.ndarray  # [B, 7] bool


def search(
    evaluator: Evaluator, states: GameState, rng: np.random.Generator, config: MCTSConfig
) -> SearchOutput:
    """Search the mover's decision in every (unfinished) game of `states`."""
    if states.done.any():
        raise ValueError("search needs unfinished games")
    legal = legal_mask(states)
    searched = legal.sum(axis=1) > 1 if config.forced_move_shortcut else np.ones(len(legal), bool)
    b = states.batch_size
    # Forced moves: one visit and the whole policy on the one legal slot.
    stats = {
        "visits": np.where(searched[:, None], 0, legal).astype(np.int32),
        "q": np.zeros((b, N_SLOTS), np.float32),
        "root_value": np.zeros(b, np.float32),
        "prior": np.zeros((b, N_SLOTS), np.float32),
        "policy": legal.astype(np.float32),
        "action": np.argmax(legal, axis=1).astype(np.int64),
    }
    timed = _TimedEvaluator(evaluator)
    solved = searched & (config.root == "gumbel")
    solved &= gumbel.solvable_roots(states, config.exact_tricks_left)
    for rows, run in ((searched & ~solved, _search_rows), (solved, _solve_rows)):
        if rows.any():
            for name, value in run(timed, states.take(rows), rng, config).items():
                stats[name][rows] = value
    return SearchOutput(
        **stats,
        legal=legal,
        searched=searched,
        network_seconds=timed.seconds,
        network_calls=timed.calls,
        network_evals=timed.evals,
    )


def _search_rows(
    evaluator: _TimedEvaluator, states: GameState, rng: np.random.Generator, config: MCTSConfig
) -> dict[str, np.ndarray]:
    """Grow the trees of these games and summarize their roots."""
    tree, roots, gumbel_root = _grow_trees(evaluator, states, rng, config)
    visits, q = _root_totals(tree, config.worlds)
    mean = tree.value_sum[:, 0] / tree.visits[:, 0]
    root_value = mean.reshape(-1, config.worlds).mean(axis=1)
    return _summary(visits, q, root_value, roots.prior, roots.legal, gumbel_root, config)


def _solve_rows(
    evaluator: _TimedEvaluator, states: GameState, rng: np.random.Generator, config: MCTSConfig
) -> dict[str, np.ndarray]:
    """Gumbel roots whose plays can all be solved (`gumbel.solve_roots`): no trees."""
    obs = observe(states)
    logits, value = evaluator.evaluate(obs)
    explore = states.n_played < config.temperature_plays
    solved = gumbel.solve_roots(
        states,
        logits,
        value,
        explore,
        rng,
        config.simulations,
        config.scoring,
        config.gumbel,
        log_weights=_belief_tilt(evaluator, obs, config),
    )
    root = solved.root
    return _summary(solved.visits, solved.q, solved.value, root.prior, root.legal, root, config)


def _summary(
    visits: np.ndarray,
    q: np.ndarray,
    root_value: np.ndarray,
    prior: np.ndarray,
    legal: np.ndarray,
    gumbel_root: GumbelRoot | None,
    config: MCTSConfig,
) -> dict[str, np.ndarray]:
    """The SearchOutput fields of searched roots: PUCT's visit shares and most visited slot,
    or Gumbel's improved policy and move."""
    if gumbel_root is None:
        policy = visits / visits.sum(axis=1, keepdims=True)
        action = most_visited(visits, q, legal)
    else:
        policy = gumbel.improved_policy(gumbel_root, visits, q, config.gumbel)
        action = gumbel.final_actions(gumbel_root, visits, q, config.gumbel)
    return {
        "visits": visits.astype(np.int32),
        "q": q.astype(np.float32),
        "root_value": root_value.astype(np.float32),
        "prior": prior,
        "policy": policy.astype(np.float32),
        "action": action,
    }


def _grow_trees(
    evaluator: _TimedEvaluator, states: GameState, rng: np.random.Generator, config: MCTSConfig
) -> tuple[SearchTree, _Roots, GumbelRoot | None]:
    """One tree per (game, world), game-major; one network call per simulation wave."""
    n_worlds = config.worlds
    obs = observe(states)  # the movers' views: the belief tilt and the roots read them
    worlds = _worlds(states, obs, rng, config, evaluator)
    # Tree w of a game gets simulations // worlds, the first simulations % worlds one more.
    per_world = config.simulations // n_worlds + (
        np.arange(n_worlds) < config.simulations % n_worlds
    )
    budget = np.tile(per_world, states.batch_size)
    tree = empty_tree(worlds.batch_size, config.tree_size)
    roots = _add_roots(tree, evaluator, obs, worlds, rng, config)
    gumbel_root = None
    if config.root == "gumbel":
        explore = states.n_played < config.temperature_plays
        gumbel_root = gumbel.new_root(
            roots.logits, roots.legal, roots.value, explore, rng, config.simulations, config.gumbel
        )
    rule = GUMBEL if config.interior == "gumbel" else PUCT
    g = config.gumbel  # select_leaves' params
    params = np.array([config.c_puct, g.c_visit, g.c_scale, float(g.rescale_q)])
    root_action = np.full(tree.n_trees, -1, np.int32)
    active = np.empty(tree.n_trees, bool)
    node = np.zeros(tree.n_trees, np.int32)
    action = np.zeros(tree.n_trees, np.int32)
    for k in range(int(budget.max())):
        np.greater(budget, k, out=active)
        if gumbel_root is not None:
            root_action[:] = _gumbel_picks(tree, gumbel_root, active, config)
        select_leaves(
            tree.walk_arrays, tree.terminal, active, root_action, rule, params, node, action
        )
        _expand_and_backup(tree, evaluator, np.flatnonzero(active), node, action, config)
    return tree, roots, gumbel_root


def _gumbel_picks(
    tree: SearchTree, root: GumbelRoot, active: np.ndarray, config: MCTSConfig
) -> np.ndarray:
    """[T] the root slot of each active tree's simulation in this wave (-1: inactive)."""
    n_worlds = config.worlds
    visits, q = _root_totals(tree, n_worlds)
    per_world = tree.child_visits(0).reshape(-1, n_worlds, N_SLOTS)  # [B, W, 7]
    wave = active.reshape(-1, n_worlds)
    return gumbel.root_actions(root, visits, q, per_world, wave, config.gumbel).ravel()


def _worlds(
    states: GameState,
    obs: Observation,
    rng: np.random.Generator,
    config: MCTSConfig,
    evaluator: _TimedEvaluator,
) -> GameState:
    """The deals to search: sampled from the mover's view, or the real one (true_deal)."""
    if config.true_deal:
        return states.take(np.arange(states.batch_size))
    tilt = _belief_tilt(evaluator, obs, config)
    return sample_worlds(states, config.worlds, rng, log_weights=tilt)


def _belief_tilt(
    evaluator: _TimedEvaluator, obs: Observation, config: MCTSConfig
) -> np.ndarray | None:
    """The belief head's log-weights for the movers' deals where the search asks for them."""
    return evaluator.belief_tilt(obs) if config.belief_worlds else None


def _add_roots(
    tree: SearchTree,
    evaluator: _TimedEvaluator,
    obs: Observation,
    worlds: GameState,
    rng: np.random.Generator,
    config: MCTSConfig,
) -> _Roots:
    """Evaluate each game's root once (`obs`: the movers' views) and make it the root of each of
    its worlds' trees."""
    logits, value = evaluator.evaluate(obs)
    prior = masked_softmax(logits, obs.legal)  # [B, 7]
    n_worlds = config.worlds
    tree_prior = np.repeat(prior, n_worlds, axis=0)
    legal = np.repeat(obs.legal, n_worlds, axis=0)
    if config.dirichlet_fraction > 0 and config.root == "puct":  # Gumbel explores by its noise
        noise = dirichlet_noise(legal, config.dirichlet_alpha, rng)
        frac = np.float32(config.dirichlet_fraction)
        tree_prior = (1 - frac) * tree_prior + frac * noise
    trees = np.arange(tree.n_trees)
    roots = np.full(tree.n_trees, -1, np.int32)
    tree_value = np.repeat(value, n_worlds)
    nodes = add_nodes(tree, trees, roots, roots, worlds, legal, tree_prior, tree_value)
    backward(tree.parent, tree.visits, tree.value_sum, tree.team, trees, nodes, tree_value)
    return _Roots(logits=logits, prior=prior, value=value, legal=obs.legal)


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
    leaf_value = tree.own_value[trees, leaf]  # settled leaves: the stored outcome
    grow = act >= 0
    if grow.any():
        t, parents, slots = trees[grow], leaf[grow], act[grow]
        child = step(tree.states.take(tree.rows(t, parents)), slots)
        child, legal = play_forced_moves(child)
        prior, value, settled = evaluate_states(evaluator, child, legal, config)
        leaf[grow] = add_nodes(tree, t, parents, slots, child, legal, prior, value, settled)
        leaf_value[grow] = value
    backward(tree.parent, tree.visits, tree.value_sum, tree.team, trees, leaf, leaf_value)


def evaluate_states(
    evaluator: Evaluator, states: GameState, legal: np.ndarray, config: MCTSConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prior [B, 7], value [B], settled [B]) of each state (legal mask [B, 7]), its mover's
    team view. Settled states need no network: a finished hand takes its true outcome, one with
    at most `exact_tricks_left` tricks to play its solved outcome in this (fully known) deal.
    """
    done = states.done
    b = np.arange(states.batch_size)
    value = seat_outcomes(states, config.scoring)[b, states.to_move].astype(np.float32)
    solve = np.flatnonzero(~done & (tricks_left(states.n_played) <= config.exact_tricks_left))
    if solve.size:
        value[solve] = exact_outcomes(states.take(solve), config.scoring)
    settled = done.copy()
    settled[solve] = True
    prior = np.zeros((states.batch_size, N_SLOTS), np.float32)
    live = np.flatnonzero(~settled)
    if live.size:
        obs = observe(states.take(live) if live.size < states.batch_size else states)
        logits, net_value = evaluator.evaluate(obs)
        prior[live] = masked_softmax(logits, legal[live])
        value[live] = net_value
    return prior, value, settled


def _root_totals(tree: SearchTree, n_worlds: int) -> tuple[np.ndarray, np.ndarray]:
    """Per game: root visits [B, 7] summed over worlds and their visit-weighted Q [B, 7]."""
    visits = tree.child_visits(0).reshape(-1, n_worlds, N_SLOTS)  # [B, W, 7]
    q = tree.q_values(0).reshape(-1, n_worlds, N_SLOTS)
    total = visits.sum(axis=1)
    return total, (q * visits).sum(axis=1) / np.maximum(total, 1)
