"""Games between two players that record an example for every decision (eval-aux data).

The policy target of a recorded decision is the move that was played (one-hot): the learner trains
eval-aux policy with weight 0 by default, so it is kept for analysis and for runs that opt in. The
value target is the deciding seat's final outcome under the same definition as self-play
(`seat_outcomes(final, "win")`), and the belief target is where every hidden domino really was.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from zeb_core.data.examples import Examples, belief_posterior, belief_targets
from zeb_core.game.engine import GameState, seat_outcomes, step
from zeb_core.game.players import Player
from zeb_core.game.tokenizer import observe


@dataclass(frozen=True)
class RecordedGames:
    examples: Examples  # every decision of the recorded side(s)
    final: GameState
    a_team: np.ndarray  # [G] team A played in each game
    by_a: np.ndarray  # [N] bool: the example is one of A's decisions

    @property
    def a_wins(self) -> np.ndarray:
        winner = np.where(self.final.team_points[:, 0] > self.final.team_points[:, 1], 0, 1)
        return winner == self.a_team

    @property
    def a_margin(self) -> np.ndarray:
        rows = np.arange(self.final.batch_size)
        return 2 * self.final.team_points[rows, self.a_team].astype(np.int64) - 42


def play_recorded(
    a: Player,
    b: Player,
    state: GameState,
    a_team: np.ndarray,
    rng: np.random.Generator,
) -> RecordedGames:
    """Play every game out (A moves for team `a_team[g]`) recording both players' decisions."""
    parts: list[tuple[np.ndarray, np.ndarray, Examples]] = []  # (game, is_a, partial examples)
    while not state.done.all():
        live = ~state.done
        a_turn = live & (state.to_move % 2 == a_team)
        actions = np.zeros(state.batch_size, dtype=np.int64)
        for mine, player in ((a_turn, a), (live & ~a_turn, b)):
            if mine.any():
                sub = state.take(mine)
                chosen = player.act(sub, rng)
                actions[mine] = chosen
                decision = _decision(sub, chosen, rng)
                parts.append((np.flatnonzero(mine), np.full(mine.sum(), player is a), decision))
        state = step(state, actions)
    outcomes = seat_outcomes(state, "win")
    games = np.concatenate([g for g, _, _ in parts])
    examples = Examples.concat([e for _, _, e in parts])
    value = outcomes[games, examples.seat.astype(np.int64)].astype(np.float32)
    examples = replace(examples, value=value)
    return RecordedGames(examples, state, a_team, np.concatenate([w for _, w, _ in parts]))


def _decision(state: GameState, chosen: np.ndarray, rng: np.random.Generator) -> Examples:
    """The example of each mover's decision (value filled in once the games end)."""
    obs = observe(state)
    policy = np.zeros(obs.legal.shape, dtype=np.float32)
    policy[np.arange(state.batch_size), chosen] = 1.0
    return Examples(
        tokens=obs.tokens,
        token_mask=obs.token_mask,
        legal=obs.legal,
        policy=policy,
        value=np.zeros(state.batch_size, dtype=np.float32),
        belief=belief_targets(state),
        belief_soft=belief_posterior(state, rng),
        seat=state.to_move.astype(np.int8),
    )
