"""Batched determinized MCTS: hand-worked trees, forced moves, a known best move, batch
independence, the value sign across a trick won by the partner, and seeded determinism."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from zeb_core.data.examples import belief_targets
from zeb_core.data.selfplay import original_selfplay_config
from zeb_core.evaluation.mcts_player import MCTSPlayer
from zeb_core.evaluation.player_specs import PlayerSpecError, build_player
from zeb_core.game.engine import GameState, from_deals, legal_mask, new_games, step
from zeb_core.game.positions import position_from_dict
from zeb_core.game.rules import HIGH, LOW, domino_id
from zeb_core.game.sampling import deal_count, sample_worlds
from zeb_core.game.tokenizer import Observation
from zeb_core.network.checkpoint import init_checkpoint
from zeb_core.network.evaluator import ModelEvaluator
from zeb_core.oracle.solver import solve_states
from zeb_core.search.config import MCTSConfig, SearchOutput
from zeb_core.search.mcts import search
from zeb_core.search.move_selection import (
    dirichlet_noise,
    masked_softmax,
    most_visited,
    select_actions,
)
from zeb_core.search.search_tree import PUCT, backward, empty_tree, select_leaves

EXACT = MCTSConfig(simulations=8, worlds=1, dirichlet_fraction=0.0, temperature_plays=0)


class ConstantEvaluator:
    """Uniform policy and a fixed value (mover's team view); counts what it is asked."""

    def __init__(self, value: float = 0.0) -> None:
        self.value, self.calls, self.evals = value, 0, 0

    def evaluate(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        self.evals += len(obs.tokens)
        n = len(obs.tokens)
        return np.zeros((n, 7), np.float32), np.full(n, self.value, np.float32)


class TokenEvaluator:
    """A deterministic function of each observation alone (exact batch independence)."""

    def evaluate(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        hand = obs.tokens[:, 1:8, :2].sum(axis=2).astype(np.float32)  # pip sums of held slots
        plays = obs.token_mask[:, 8:].sum(axis=1)
        return hand / 4, np.tanh((hand.sum(axis=1) - 3 * plays) / 20).astype(np.float32)


def positions(seed: int, n: int, n_played: int) -> GameState:
    rng = np.random.default_rng(seed)
    state = new_games(rng, n)
    for _ in range(n_played):
        legal = legal_mask(state)
        state = step(state, np.argmax(np.where(legal, rng.random(legal.shape), -1), axis=1))
    return state


def ids(text: str) -> list[int]:
    return [domino_id(*map(int, d.split("-"))) for d in text.split()]


def slot_of(state: GameState, domino: str) -> int:
    return int(np.flatnonzero(state.hands[0, state.to_move[0]] == ids(domino)[0])[0])


# Doubles are a suit; seat 1 leads the sixth trick holding the 1-0 and the 3-0, with team 1 on 18
# of 42 points. In every one of the 6 deals consistent with what seat 1 has seen, leading the 1-0
# takes 11 more points (a win) and the 3-0 none (a loss).
KNOWN_BEST = {
    "hands": [
        [4, 8, 10, 17, 19, 21, 25], [1, 3, 6, 11, 15, 24, 27],
        [0, 2, 7, 12, 14, 18, 26], [5, 9, 13, 16, 20, 22, 23],
    ],
    "decl": 8,
    "leader": 0,
    "plays": [10, 11, 12, 13, 22, 21, 24, 26, 18, 16, 19, 15, 4, 3, 7, 23, 20, 17, 27, 2],
}  # fmt: skip


def test_select_and_backward_by_hand() -> None:
    # root (team 0) -> slot 2 -> child (team 0: partner leads after a trick) -> slot 0 -> grandchild
    # (team 1). A value v for the grandchild's team counts -v for both team-0 nodes above it.
    tree = empty_tree(1, 4)
    tree.legal[0, :3, :3] = True
    tree.prior[0, 0, :3] = [0.2, 0.3, 0.5]
    tree.prior[0, 1, :3] = [1.0, 0.0, 0.0]
    tree.children[0, 0, 2], tree.children[0, 1, 0] = 1, 2
    tree.parent[0, :3] = [-1, 0, 1]
    tree.team[0, :3] = [0, 0, 1]
    trees, v = np.array([0]), np.array([0.5], np.float32)
    for node in range(3):  # each node's own first visit, as expansion does
        backward(tree.parent, tree.visits, tree.value_sum, tree.team, trees, np.array([node]), v)
    np.testing.assert_array_equal(tree.visits[0, :3], [3, 2, 1])
    np.testing.assert_allclose(tree.value_sum[0, :3], [0.5 + 0.5 - 0.5, 0.5 - 0.5, 0.5])
    # Root: slot 2 has N=2, Q = 0/2 = 0; unvisited slots take the root mean 0.5/3.
    # scores: slot0 1/6 + c*0.2*sqrt3, slot1 1/6 + c*0.3*sqrt3, slot2 0 + c*0.5*sqrt3/3.
    node, action = np.zeros(1, np.int32), np.zeros(1, np.int32)

    def walk(c_puct: float) -> tuple[int, int]:
        params = np.array([c_puct, 50.0, 0.1, 1.0])  # c_puct, then Gumbel's (unused here)
        walk_from_root = (tree.walk_arrays, tree.terminal, np.ones(1, bool), np.full(1, -1))
        select_leaves(*walk_from_root, PUCT, params, node, action)
        return int(node[0]), int(action[0])

    assert walk(1.0) == (0, 1)
    # Make Q(slot 2) = 1 (node 1 won both its visits): with c = 0.1 the walk now descends to
    # node 1, where the expanded slot 0 is worth -0.5 (node 2 is the other team's, at +0.5) and
    # the untried slots 1 and 2 take node 1's mean 1.0; the tie goes to slot 1.
    tree.value_sum[0, 1] = 2.0
    assert walk(0.1) == (1, 1)


def test_forced_moves_need_no_network() -> None:
    state = positions(0, 6, 24)  # the last trick: every move is forced
    evaluator = ConstantEvaluator()
    out = search(evaluator, state, np.random.default_rng(0), EXACT)
    assert evaluator.calls == 0 and not out.searched.any()
    np.testing.assert_array_equal(out.visits, legal_mask(state))
    forced = select_actions(out, state.n_played, EXACT, None)
    np.testing.assert_array_equal(forced, np.argmax(legal_mask(state), axis=1))
    full = search(
        evaluator, state, np.random.default_rng(0), replace(EXACT, forced_move_shortcut=False)
    )
    assert full.searched.all() and (full.visits.sum(axis=1) == EXACT.simulations).all()
    np.testing.assert_array_equal(full.visits > 0, legal_mask(state))


def test_known_best_move_from_terminal_outcomes() -> None:
    state = position_from_dict(KNOWN_BEST)
    assert legal_mask(state)[0].tolist() == [True, False, True, False, False, False, False]
    assert deal_count(state)[0] == 6
    solved = solve_states(sample_worlds(state, 60, np.random.default_rng(1))).action_values
    assert (solved[:, 0] == 11).all() and (solved[:, 2] == 0).all()
    # A network that knows nothing (uniform prior, value 0): only the true outcomes at the end
    # of the hand, reached through the forced last trick, can tell the moves apart.
    config = replace(EXACT, simulations=24, worlds=2)
    out = search(ConstantEvaluator(0.0), state, np.random.default_rng(0), config)
    assert select_actions(out, state.n_played, config, None)[0] == 0
    assert out.visits[0, 0] > out.visits[0, 2] and out.q[0, 0] > 0 > out.q[0, 2]


def test_exact_leaves_need_no_network() -> None:
    # Two tricks to play after seat 1 leads: every child is solved in its world, so the
    # network sees only the root, and Q is the exact outcome: +1 (1-0 takes 11, 29 points in
    # all) and -1 (3-0 takes none, 18).
    state = position_from_dict(KNOWN_BEST)
    evaluator = ConstantEvaluator(0.0)
    config = replace(EXACT, simulations=8, worlds=2, exact_tricks_left=2)
    out = search(evaluator, state, np.random.default_rng(0), config)
    assert evaluator.calls == 1
    assert (out.q[0, 0], out.q[0, 2]) == (1.0, -1.0)


def test_true_deal_search_plays_the_real_hands() -> None:
    # Three tricks left, all solved below the root: over the true deal, each root slot's Q is
    # the exact outcome of that play in the real deal.
    state = positions(6, 5, 16)
    config = replace(EXACT, simulations=14, c_puct=100.0, exact_tricks_left=3, true_deal=True)
    out = search(ConstantEvaluator(0.0), state, np.random.default_rng(0), config)
    to_come = solve_states(state).action_values  # [B, 7] mover's team points after each slot
    b = np.arange(state.batch_size)
    have = state.team_points[b, state.to_move % 2][:, None]
    outcome = np.sign(2 * (have + to_come) - 42)
    visited = out.searched[:, None] & (out.visits > 0)
    assert visited.sum() > 2 * out.searched.sum()
    np.testing.assert_array_equal(out.q[visited], outcome[visited])


class PeekingBelief(ConstantEvaluator):
    """A belief tilt that puts each hidden domino with its real holder (the tests' states)."""

    def __init__(self, state: GameState) -> None:
        super().__init__(0.0)
        holder = belief_targets(state)
        self.tilt = np.where(holder[..., None] == np.arange(3), 20.0, 0.0)
        self.tilt_calls = 0

    def belief_tilt(self, obs: Observation) -> np.ndarray:
        self.tilt_calls += 1
        assert len(obs.tokens) == len(self.tilt)  # asked about the movers' roots
        return self.tilt


@pytest.mark.parametrize("root", ["puct", "gumbel"])
def test_a_belief_tilt_toward_the_real_hands_searches_the_real_deal(root: str) -> None:
    # As in the true-deal search above, but the deals are sampled: a tilt that names the real
    # holders makes every sampled world the real deal (Gumbel: the roots are solved, no tree).
    state = positions(6, 5, 16)
    config = replace(EXACT, simulations=14, c_puct=100.0, exact_tricks_left=3, root=root)
    peeking = PeekingBelief(state)
    out = search(peeking, state, np.random.default_rng(0), replace(config, belief_worlds=True))
    assert peeking.tilt_calls == 1
    to_come = solve_states(state).action_values
    b = np.arange(state.batch_size)
    outcome = np.sign(2 * (state.team_points[b, state.to_move % 2][:, None] + to_come) - 42)
    visited = out.searched[:, None] & (out.visits > 0)
    np.testing.assert_array_equal(out.q[visited], outcome[visited])
    # without belief_worlds the tilt is not asked for, and sampled deals differ from the real one
    plain = PeekingBelief(state)
    out = search(plain, state, np.random.default_rng(0), config)
    assert plain.tilt_calls == 0
    assert (out.q[visited] != outcome[visited]).any()


def test_original_selfplay_config() -> None:
    config = original_selfplay_config()
    assert (config.simulations, config.worlds, config.true_deal) == (200, 1, True)
    assert config.dirichlet_fraction == 0 and config.temperature_plays == 28
    assert not config.forced_move_shortcut and config.root == "puct"
    with pytest.raises(ValueError, match="true deal"):
        MCTSPlayer(ConstantEvaluator(), config)
    with pytest.raises(ValueError, match="worlds"):
        replace(config, worlds=2)


@pytest.mark.parametrize("partner_trumps", [False, True])
def test_value_sign_follows_the_team_across_a_trick(partner_trumps: bool) -> None:
    # 6s trump. Seat 0 leads the 5-5, seat 1 trumps it with the 6-1 or sloughs the 3-0, seat 2
    # follows with the 5-0, and seat 3 (void in fives) closes the trick. A constant value of +0.5
    # for the team to move must count +0.5 for seat 3 when seat 3 or its partner seat 1 leads
    # next and -0.5 when an opponent does: the sign follows the team, not the ply.
    hands = ["5-5 0-0 1-0 1-1 2-0 2-1 2-2", "6-1 3-0 3-1 3-2 3-3 4-0 4-1",
             "5-0 5-4 4-3 4-4 5-1 5-2 5-3", "6-6 4-2 6-0 6-2 6-3 6-4 6-5"]  # fmt: skip
    state = from_deals(np.array([[ids(h) for h in hands]]), [6], [0], [30])
    for d in ["5-5", "6-1" if partner_trumps else "3-0", "5-0"]:
        state = step(state, np.array([slot_of(state, d)]))
    assert state.to_move[0] == 3 and legal_mask(state)[0].all()
    # c_puct 100: the prior term dominates, so each of the 7 slots gets exactly one visit.
    config = replace(EXACT, simulations=7, c_puct=100.0)
    out = search(ConstantEvaluator(0.5), state, np.random.default_rng(0), config)
    assert (out.visits[0] == 1).all()
    # Seat 3 or seat 1 leads next unless seat 0's 5-5 stands: the 3-0 sloughed, no trump after.
    for slot, dom in enumerate(state.hands[0, 3]):
        name = f"{HIGH[dom]}-{LOW[dom]}"
        team_keeps = partner_trumps or HIGH[dom] == 6
        assert out.q[0, slot] == pytest.approx(0.5 if team_keeps else -0.5), name


def test_batch_games_do_not_affect_each_other() -> None:
    early, late, forced = positions(1, 1, 5), positions(2, 1, 18), positions(3, 1, 25)
    config = replace(EXACT, simulations=24, worlds=3)
    evaluator = TokenEvaluator()

    def run(*games: GameState):
        fields = GameState.__dataclass_fields__
        batch = GameState(**{f: np.concatenate([getattr(g, f) for g in games]) for f in fields})
        return search(evaluator, batch, np.random.default_rng(7), config)

    alone = run(early)
    assert alone.searched[0]
    for other in (late, forced):
        paired = run(early, other)
        np.testing.assert_array_equal(paired.visits[0], alone.visits[0])
        np.testing.assert_allclose(paired.q[0], alone.q[0], rtol=0, atol=1e-6)
        assert paired.root_value[0] == pytest.approx(alone.root_value[0])


def test_same_seed_same_search() -> None:
    evaluator = ModelEvaluator(init_checkpoint("small", seed=3).build_model(), "cpu")
    state = positions(4, 5, 9)
    config = MCTSConfig(simulations=16, worlds=2)  # noise on: the seed must fix it too
    a = search(evaluator, state, np.random.default_rng(11), config)
    b = search(evaluator, state, np.random.default_rng(11), config)
    for name in ("visits", "q", "root_value", "prior"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.searched.any() and (a.visits.sum(axis=1)[a.searched] == 16).all()
    assert not (a.visits * ~a.legal).any()
    assert a.network_calls == 1 + 8  # the roots, then one call per simulation wave


def test_select_actions_temperature_and_ties() -> None:
    legal = np.array([[True, True, True, False, False, False, False]] * 2)
    visits = np.array([[3, 3, 0, 0, 0, 0, 0], [0, 10, 30, 0, 0, 0, 0]], np.int32)
    q = np.array([[0.1, 0.4, 0, 0, 0, 0, 0], [0] * 7], np.float32)
    most = most_visited(visits, q, legal)
    assert most.tolist() == [1, 2]  # a visit tie goes to the better Q
    out = SearchOutput(
        visits=visits,
        q=q,
        root_value=np.zeros(2, np.float32),
        prior=np.zeros_like(q),
        policy=visits / visits.sum(axis=1, keepdims=True),
        action=most,
        legal=legal,
        searched=np.ones(2, bool),
        network_seconds=0.0,
        network_calls=0,
        network_evals=0,
    )
    assert select_actions(out, np.array([20, 20]), EXACT, None).tolist() == [1, 2]
    hot = replace(EXACT, temperature_plays=4)
    rng = np.random.default_rng(0)
    picks = np.stack([select_actions(out, np.array([0, 0]), hot, rng) for _ in range(2000)])
    assert set(picks[:, 0]) == {0, 1} and set(picks[:, 1]) == {1, 2}
    assert np.mean(picks[:, 1] == 2) == pytest.approx(0.75, abs=0.04)
    # A Gumbel search explored through its noise: its move is played as it is.
    gumbel_hot = replace(hot, root="gumbel")
    assert select_actions(out, np.array([0, 0]), gumbel_hot, rng).tolist() == [1, 2]


def test_softmax_and_noise_stay_on_legal_slots() -> None:
    legal = np.array([[True, False, True, False, False, False, False]])
    p = masked_softmax(np.array([[1.0, 9.0, 1.0, 0, 0, 0, 0]]), legal)
    np.testing.assert_allclose(p[0], [0.5, 0, 0.5, 0, 0, 0, 0])
    noise = dirichlet_noise(np.repeat(legal, 3, axis=0), 0.5, np.random.default_rng(0))
    np.testing.assert_allclose(noise.sum(axis=1), 1, atol=1e-6)
    assert not (noise * ~legal).any()


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="node_capacity"):
        MCTSConfig(simulations=600, worlds=1)
    with pytest.raises(ValueError):
        MCTSConfig(simulations=4, worlds=8)
    assert MCTSConfig(simulations=50, worlds=8).tree_size == 8  # 7 simulations + the root


def test_player_spec(tmp_path) -> None:
    from zeb_core.network.checkpoint import save_checkpoint

    path = save_checkpoint(init_checkpoint("small", seed=1), tmp_path / "m.pt")
    player = build_player(f"mcts:{path},sims=6,worlds=2,c=2", "cpu")
    assert isinstance(player, MCTSPlayer)
    cfg = player.config
    assert (cfg.simulations, cfg.worlds, cfg.c_puct, cfg.dirichlet_fraction) == (6, 2, 2.0, 0.0)
    default = build_player(f"mcts:{path}", "cpu").config
    assert (default.simulations, default.worlds) == (50, 2)  # 25 simulations per world
    # By default the search self-play uses (zeb_core.search.config).
    assert (default.root, default.interior, default.exact_tricks_left) == ("gumbel", "puct", 5)
    assert (
        not default.belief_worlds
        and build_player(f"mcts:{path},belief=1", "cpu").config.belief_worlds
    )
    spec = f"mcts:{path},sims=8,root=gumbel,interior=gumbel,k=4,exact=6,cscale=0.3,rescale=0"
    gumbel = build_player(spec, "cpu").config
    assert (gumbel.root, gumbel.interior, gumbel.exact_tricks_left) == ("gumbel", "gumbel", 6)
    g = gumbel.gumbel
    assert (g.considered_actions, g.c_scale, g.rescale_q, g.c_visit) == (4, 0.3, False, 50.0)
    state = positions(5, 4, 3)
    actions = player.act(state, np.random.default_rng(0))
    assert legal_mask(state)[np.arange(4), actions].all()
    for bad in (
        "mcts",
        f"mcts:{path},sims=0",
        f"mcts:{path},depth=3",
        f"mcts:{path},sims=2,worlds=3",
        f"mcts:{path},root=alphabeta",
        f"mcts:{path},k=8",
        f"mcts:{path},exact=8",
    ):
        with pytest.raises(PlayerSpecError):
            build_player(bad, "cpu")
