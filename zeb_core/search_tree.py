"""Preallocated search trees for batched MCTS: `[T, N]` node arrays and `[T, N, 7]` edge arrays.

T trees (one per game and sampled world) of at most N nodes each. Node 0 is the root; node `k`
of tree `t` holds its game state in row `t * N + k` of `states`. A node's statistics are kept
from the view of the team to move at that node (`team`); an edge's Q value is read from the child
and negated when the child's mover is on the other team. The trick winner leads, so two plies in
a row can belong to partners: the sign follows the team, never the ply parity.

The per-simulation walks (`select_leaves`, `backward`) are numba loops over the trees: they touch
a handful of nodes per tree, which numpy would pay for with dozens of small calls per depth.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from numba import njit

from zeb_core.engine import GameState
from zeb_core.rules import HAND_SIZE

UNEXPANDED = -1  # children entry of an edge not yet expanded; parent of a root
NO_ACTION = -1  # select_leaves' action for a terminal leaf (nothing to expand)


@dataclass(frozen=True)
class SearchTree:
    """Node arrays (mutated in place by the search; the dataclass only fixes the shapes)."""

    states: GameState  # [T * N] the game state of every node (row t * N + k)
    parent: np.ndarray  # [T, N] int32 parent node, -1 for the root
    team: np.ndarray  # [T, N] int8 team to move at the node (0 or 1)
    terminal: np.ndarray  # [T, N] bool the hand is over at this node
    own_value: np.ndarray  # [T, N] float32 network value (or true outcome) at expansion
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


def add_nodes(
    tree: SearchTree,
    trees: np.ndarray,
    parents: np.ndarray,
    actions: np.ndarray,
    states: GameState,
    legal: np.ndarray,
    prior: np.ndarray,
    value: np.ndarray,
) -> np.ndarray:
    """Append one child per listed tree (parent -1 makes a root); returns the new node ids.

    `value` is the child's own evaluation from its mover's team view (unvisited: backward adds
    its first visit). At most one node per tree per call, so the ids do not collide.
    """
    nodes = tree.n_nodes[trees].copy()
    if (nodes >= tree.capacity).any():
        raise RuntimeError(f"search tree full ({tree.capacity} nodes): raise node_capacity")
    tree.n_nodes[trees] += 1
    is_child = parents >= 0
    tree.children[trees[is_child], parents[is_child], actions[is_child]] = nodes[is_child]
    tree.parent[trees, nodes] = parents
    tree.team[trees, nodes] = states.to_move % 2
    tree.terminal[trees, nodes] = states.done
    tree.own_value[trees, nodes] = value
    tree.legal[trees, nodes] = legal
    tree.prior[trees, nodes] = prior
    write_states(tree.states, tree.rows(trees, nodes), states)
    return nodes


@njit(cache=True)
def select_leaves(
    children, prior, legal, visits, value_sum, team, terminal, active, c_puct, out_node, out_action
):
    """PUCT descent from every active tree's root to an unexpanded edge or a terminal node.

    score(a) = Q(a) + c_puct * P(a) * sqrt(N) / (1 + N(a)), Q from the node's team view; an
    unvisited edge takes the node's own mean value (first-play urgency = parent value), so the
    prior alone orders the untried moves. Ties go to the lowest slot. Writes (node, action);
    action is NO_ACTION where the walk ends on a terminal node.
    """
    n_trees, _, n_actions = children.shape
    for t in range(n_trees):
        if not active[t]:
            continue
        node = 0
        while True:
            if terminal[t, node]:
                out_node[t] = node
                out_action[t] = NO_ACTION
                break
            n_visits = visits[t, node]
            sqrt_n = np.sqrt(np.float32(n_visits))
            fpu = value_sum[t, node] / max(n_visits, 1)
            best, best_score = -1, -np.inf
            for a in range(n_actions):
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
