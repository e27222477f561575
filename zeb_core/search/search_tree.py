"""Preallocated search trees for batched MCTS: `[T, N]` node arrays and `[T, N, 7]` edge arrays.

T trees (one per game and sampled world) of at most N nodes each. Node 0 is the root; node `k`
of tree `t` holds its game state in row `t * N + k` of `states`. A node's statistics are kept
from the view of the team to move at that node (`team`); an edge's Q value is read from the child
and negated when the child's mover is on the other team. The trick winner leads, so two plies in
a row can belong to partners: the sign follows the team, never the ply parity.

The per-simulation walks (`select_leaves`, `backward`) are numba loops over the trees: they touch
a handful of nodes per tree, which numpy would pay for with dozens of small calls per depth.
Below the root a walk follows PUCT or mctx's deterministic Gumbel selection; `sigma_row` is the
completed-Q transform that selection and the Gumbel root (gumbel.py) share. The states a walk
reaches are prepared here too: forced moves are played through (`play_forced_moves`), and a leaf
with few tricks left can take its exact outcome in its fully known world (`exact_outcomes`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numba import njit

from zeb_core.game.engine import (
    N_PLAYS,
    GameState,
    Scoring,
    legal_mask,
    seat_outcomes,
    step,
    with_fields,
)
from zeb_core.game.rules import HAND_SIZE, TOTAL_POINTS
from zeb_core.oracle.solver import solve_states

TINY = 1e-30  # floor of a prior probability in the mixed value (a visited slot may have p = 0)
RESCALE_EPS = 1e-8  # smallest Q range min-max rescaling divides by
UNEXPANDED = -1  # children entry of an edge not yet expanded; parent of a root
NO_ACTION = -1  # select_leaves' action for a terminal leaf (nothing to expand)


@dataclass(frozen=True)
class SearchTree:
    """Node arrays (mutated in place by the search; the dataclass only fixes the shapes)."""

    states: GameState  # [T * N] the game state of every node (row t * N + k)
    parent: np.ndarray  # [T, N] int32 parent node, -1 for the root
    team: np.ndarray  # [T, N] int8 team to move at the node (0 or 1)
    terminal: np.ndarray  # [T, N] bool a leaf for good: the hand is over or its value is exact
    own_value: np.ndarray  # [T, N] float32 network value (or true / exact outcome) at expansion
    visits: np.ndarray  # [T, N] int32, 1 after expansion + simulations through the node
    value_sum: np.ndarray  # [T, N] float32 sum of backed-up values, node team's view
    children: np.ndarray  # [T, N, 7] int32 child node per hand slot, -1 unexpanded
    prior: np.ndarray  # [T, N, 7] float32 policy prior over legal slots (sums to 1)
    legal: np.ndarray  # [T, N, 7] bool legal slots at the node
    n_nodes: np.ndarray  # [T] int32 nodes in use

    @property
    def n_trees(self) -> int:
        return int(self.parent.shape[0])

    @property
    def capacity(self) -> int:
        return int(self.parent.shape[1])

    def rows(self, trees: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Row of `states` holding node `nodes[i]` of tree `trees[i]`."""
        return trees.astype(np.int64) * self.capacity + nodes

    def q_values(self, node: int = 0) -> np.ndarray:
        """[T, 7] mean value of each edge of `node`, from that node's team view (0 unvisited)."""
        child = self.children[:, node]  # [T, 7]
        t = np.arange(self.n_trees)[:, None]
        safe = np.maximum(child, 0)
        n = np.where(child >= 0, self.visits[t, safe], 0)
        q = self.value_sum[t, safe] / np.maximum(n, 1)
        same = self.team[t, safe] == self.team[:, node][:, None]
        return np.where(child >= 0, np.where(same, q, -q), 0.0).astype(np.float32)

    @property
    def walk_arrays(self) -> tuple[np.ndarray, ...]:
        """What `select_leaves` reads: (children, prior, legal, visits, value_sum, team,
        own_value)."""
        return (
            self.children,
            self.prior,
            self.legal,
            self.visits,
            self.value_sum,
            self.team,
            self.own_value,
        )

    def child_visits(self, node: int = 0) -> np.ndarray:
        """[T, 7] visits of each edge of `node` (0 where unexpanded)."""
        child = self.children[:, node]
        t = np.arange(self.n_trees)[:, None]
        return np.where(child >= 0, self.visits[t, np.maximum(child, 0)], 0)


def empty_tree(n_trees: int, capacity: int) -> SearchTree:
    return SearchTree(
        states=_empty_states(n_trees * capacity),
        parent=np.full((n_trees, capacity), UNEXPANDED, np.int32),
        team=np.zeros((n_trees, capacity), np.int8),
        terminal=np.zeros((n_trees, capacity), bool),
        own_value=np.zeros((n_trees, capacity), np.float32),
        visits=np.zeros((n_trees, capacity), np.int32),
        value_sum=np.zeros((n_trees, capacity), np.float32),
        children=np.full((n_trees, capacity, HAND_SIZE), UNEXPANDED, np.int32),
        prior=np.zeros((n_trees, capacity, HAND_SIZE), np.float32),
        legal=np.zeros((n_trees, capacity, HAND_SIZE), bool),
        n_nodes=np.zeros(n_trees, np.int32),
    )


def _empty_states(n: int) -> GameState:
    """A zero-filled state batch to write nodes into (shapes and dtypes of the engine's)."""
    template = {
        "hands": ((4, 7), np.int8),
        "held": ((4, 7), bool),
        "decl": ((), np.int8),
        "bidder": ((), np.int8),
        "bid": ((), np.int8),
        "to_move": ((), np.int8),
        "history": ((28,), np.int8),
        "history_seat": ((28,), np.int8),
        "n_played": ((), np.int8),
        "team_points": ((2,), np.int16),
        "voids": ((4, 8), bool),
    }
    return GameState(**{name: np.zeros((n, *shape), dt) for name, (shape, dt) in template.items()})


def write_states(dst: GameState, rows: np.ndarray, src: GameState) -> None:
    """dst[rows] = src, field by field (GameState is frozen; its arrays are not)."""
    for f in fields(GameState):
        getattr(dst, f.name)[rows] = getattr(src, f.name)


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


def add_nodes(
    tree: SearchTree,
    trees: np.ndarray,
    parents: np.ndarray,
    actions: np.ndarray,
    states: GameState,
    legal: np.ndarray,
    prior: np.ndarray,
    value: np.ndarray,
    settled: np.ndarray | None = None,
) -> np.ndarray:
    """Append one child per listed tree (parent -1 makes a root); returns the new node ids.

    `value` is the child's own evaluation from its mover's team view (unvisited: backward adds
    its first visit). `settled` [n] marks nodes whose value is exact (default: finished hands):
    they are leaves for good. At most one node per tree per call, so the ids do not collide.
    """
    nodes = tree.n_nodes[trees].copy()
    if (nodes >= tree.capacity).any():
        raise RuntimeError(f"search tree full ({tree.capacity} nodes): raise node_capacity")
    tree.n_nodes[trees] += 1
    is_child = parents >= 0
    tree.children[trees[is_child], parents[is_child], actions[is_child]] = nodes[is_child]
    tree.parent[trees, nodes] = parents
    tree.team[trees, nodes] = states.to_move % 2
    tree.terminal[trees, nodes] = states.done if settled is None else settled
    tree.own_value[trees, nodes] = value
    tree.legal[trees, nodes] = legal
    tree.prior[trees, nodes] = prior
    write_states(tree.states, tree.rows(trees, nodes), states)
    return nodes


PUCT, GUMBEL = 0, 1  # select_leaves' interior rules


@njit(cache=True)
def _puct_action(t, node, children, prior, legal, visits, value_sum, team, c_puct):
    """score(a) = Q(a) + c_puct * P(a) * sqrt(N) / (1 + N(a)), Q from the node's team view; an
    unvisited edge takes the node's own mean value (first-play urgency = parent value), so the
    prior alone orders the untried moves. Ties go to the lowest slot."""
    n_visits = visits[t, node]
    sqrt_n = np.sqrt(np.float32(n_visits))
    fpu = value_sum[t, node] / max(n_visits, 1)
    best, best_score = -1, -np.inf
    for a in range(children.shape[2]):
        if not legal[t, node, a]:
            continue
        c = children[t, node, a]
        n, q = 0, fpu
        if c >= 0:
            n = visits[t, c]
            q = value_sum[t, c] / n
            if team[t, c] != team[t, node]:
                q = -q
        score = q + c_puct * prior[t, node, a] * sqrt_n / (1 + n)
        if score > best_score:
            best, best_score = a, score
    return best


@njit(cache=True)
def sigma_row(q, n, prior, raw_value, legal, c_visit, c_scale, rescale, out):
    """out[a] = sigma(completed Q)(a) for one node's slots (0 on illegal ones); mctx's
    `qtransform_completed_by_mix_value`. q: mean value of each slot, node's team view (read only
    where n > 0); n: visits; prior: probabilities; raw_value: the network's value of the node."""
    sum_n, max_n, sum_p, weighted = 0, 0, 0.0, 0.0
    for a in range(q.shape[0]):
        if legal[a] and n[a] > 0:
            p = max(prior[a], TINY)
            sum_n += n[a]
            max_n = max(max_n, n[a])
            sum_p += p
            weighted += p * q[a]
    mixed = raw_value
    if sum_n > 0:  # the value of the node, with the visited slots weighted by their prior
        mixed = (raw_value + sum_n * weighted / sum_p) / (sum_n + 1)
    lo, hi = np.inf, -np.inf
    for a in range(q.shape[0]):
        out[a] = 0.0
        if legal[a]:
            out[a] = q[a] if n[a] > 0 else mixed
            lo, hi = min(lo, out[a]), max(hi, out[a])
    scale = (c_visit + max_n) * c_scale
    for a in range(q.shape[0]):
        if legal[a]:
            v = (out[a] - lo) / max(hi - lo, RESCALE_EPS) if rescale else out[a]
            out[a] = scale * v


@njit(cache=True)
def _gumbel_action(t, node, tree_arrays, c_visit, c_scale, rescale, q, n, sigma):
    """mctx's deterministic interior selection: argmax of pi'(a) - N(a) / (1 + sum N) with
    pi' = softmax(logits + sigma(completed Q)), so visits follow pi'. q, n, sigma: [7] scratch."""
    children, prior, legal, visits, value_sum, team, own_value = tree_arrays
    total = 0
    for a in range(children.shape[2]):
        c = children[t, node, a]
        n[a], q[a] = 0, 0.0
        if c >= 0:
            n[a] = visits[t, c]
            q[a] = value_sum[t, c] / n[a]
            if team[t, c] != team[t, node]:
                q[a] = -q[a]
        total += n[a]
    node_prior, node_legal = prior[t, node], legal[t, node]
    sigma_row(q, n, node_prior, own_value[t, node], node_legal, c_visit, c_scale, rescale, sigma)
    top = -np.inf
    for a in range(children.shape[2]):
        if legal[t, node, a]:
            top = max(top, sigma[a])
    norm = 0.0
    for a in range(children.shape[2]):
        if legal[t, node, a]:
            sigma[a] = prior[t, node, a] * np.exp(sigma[a] - top)  # unnormalized pi'
            norm += sigma[a]
    best, best_score = -1, -np.inf
    for a in range(children.shape[2]):
        if legal[t, node, a]:
            score = sigma[a] / max(norm, TINY) - n[a] / (1 + total)
            if score > best_score:
                best, best_score = a, score
    return best


@njit(cache=True)
def select_leaves(tree_arrays, terminal, active, root_action, rule, params, out_node, out_action):
    """Descent from every active tree's root to an unexpanded edge or a terminal node.

    tree_arrays: (children, prior, legal, visits, value_sum, team, own_value) of the tree.
    root_action [T]: the slot to take at the root (-1: choose it like an interior node).
    rule: PUCT or GUMBEL at interior nodes; params: (c_puct, c_visit, c_scale, rescale).
    Writes (node, action); action is NO_ACTION where the walk ends on a terminal node.
    """
    children, prior, legal, visits, value_sum, team, _ = tree_arrays
    c_puct, c_visit, c_scale, rescale = params[0], params[1], params[2], params[3] > 0
    q, sigma = np.zeros(children.shape[2]), np.zeros(children.shape[2])
    n = np.zeros(children.shape[2], np.int64)
    for t in range(children.shape[0]):
        if not active[t]:
            continue
        node = 0
        while True:
            if terminal[t, node]:
                out_node[t] = node
                out_action[t] = NO_ACTION
                break
            if node == 0 and root_action[t] >= 0:
                best = root_action[t]
            elif rule == GUMBEL:
                best = _gumbel_action(t, node, tree_arrays, c_visit, c_scale, rescale, q, n, sigma)
            else:
                best = _puct_action(
                    t, node, children, prior, legal, visits, value_sum, team, c_puct
                )
            c = children[t, node, best]
            if c < 0:
                out_node[t] = node
                out_action[t] = best
                break
            node = c


@njit(cache=True)
def backward(parent, visits, value_sum, team, trees, leaves, leaf_values):
    """Add each leaf's value (its team's view) to every node up to the root, sign by team."""
    for i in range(trees.shape[0]):
        t, node, v = trees[i], leaves[i], leaf_values[i]
        leaf_team = team[t, node]
        while node >= 0:
            value_sum[t, node] += v if team[t, node] == leaf_team else -v
            visits[t, node] += 1
            node = parent[t, node]


def tricks_left(n_played: np.ndarray) -> np.ndarray:
    """[B] tricks still to be played (the current one included) after `n_played` plays."""
    return (N_PLAYS - np.asarray(n_played, np.int64) + 3) // 4


def exact_outcomes(
    states: GameState, scoring: Scoring = "win", to_come: np.ndarray | None = None
) -> np.ndarray:
    """[B] float32 outcome for the mover's team when the rest of this fully known deal is played
    perfectly: `to_come` [B] points still to come for that team (default: solved here), added
    to the points already won."""
    b = np.arange(states.batch_size)
    if to_come is None:
        to_come = solve_states(states, actions=False).value
    team = states.to_move.astype(np.int64) % 2
    final = states.team_points.astype(np.int64)
    final[b, team] += np.asarray(to_come, np.int64)
    final[b, 1 - team] = TOTAL_POINTS - final[b, team]
    finished = with_fields(states, team_points=final.astype(np.int16))
    return seat_outcomes(finished, scoring)[b, states.to_move].astype(np.float32)


def solved_outcomes(states: GameState, scoring: Scoring = "win") -> np.ndarray:
    """[B, 7] float32 exact outcome (mover's team view) of each legal play, 0 on illegal slots."""
    to_come = solve_states(states).action_values  # [B, 7], -inf on illegal slots
    out = np.zeros(to_come.shape, np.float32)
    for slot in range(HAND_SIZE):
        legal = np.isfinite(to_come[:, slot])
        points = np.where(legal, to_come[:, slot], 0)
        out[:, slot] = np.where(legal, exact_outcomes(states, scoring, points), 0.0)
    return out
