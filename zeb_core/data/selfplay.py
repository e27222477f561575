"""Self-play: MCTS games played in lock-step batches; every searched decision becomes an example.

`play_games` keeps `config.games_in_flight` games going (a finished game's place goes to a new
deal) so each search wave sends one network call for all of them. Every hand lasts exactly 28
plays, so games that start together also finish together and the batch stays aligned: the
observations of one wave hold similar numbers of tokens, which the packed forward likes.

The policy target is the search's (`SearchOutput.policy`): visit shares for a PUCT root, the
improved policy softmax(logits + sigma(completed Q)) for a Gumbel root; moves follow
`select_actions`. `original_selfplay_config()` with `deal_mode="selfplay"` reproduces the
original's self-play (one PUCT tree over the true deal, 200 simulations, visits at temperature 1
for all 28 plays, forced moves searched and recorded).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from zeb_core.data.examples import Examples, belief_posterior, belief_targets
from zeb_core.game.engine import (
    N_PLAYS,
    DealMode,
    GameState,
    concat_states,
    new_games,
    seat_outcomes,
    step,
)
from zeb_core.game.rules import N_SEATS
from zeb_core.game.tokenizer import observe
from zeb_core.search.config import Evaluator, MCTSConfig, SearchOutput
from zeb_core.search.mcts import search
from zeb_core.search.move_selection import select_actions


@dataclass(frozen=True)
class SelfPlayBatch:
    examples: Examples  # one row per searched decision (forced ones too without the shortcut)
    games: int  # complete games played
    plays: int  # decisions made, forced ones included
    seconds: float  # wall time of play_games
    network_seconds: float  # of which inside evaluator.evaluate
    network_calls: int
    network_evals: int  # observations evaluated

    @property
    def games_per_s(self) -> float:
        return self.games / self.seconds if self.seconds > 0 else float("inf")

    @property
    def network_share(self) -> float:
        return self.network_seconds / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Decisions:
    """Examples gathered so far, with the game each came from (values wait for the end)."""

    parts: list[Examples]
    game_ids: list[np.ndarray]
    root_values: list[np.ndarray]  # the search's value of each decision, the mover's team view


def original_selfplay_config(games_in_flight: int = 16) -> MCTSConfig:
    """The original's self-play search (reference README): one PUCT tree over the true deal,
    200 simulations, no Dirichlet noise, moves sampled from visits at temperature 1 for all 28
    plays, a fresh tree per move, forced moves searched and recorded. Its deals: "selfplay"."""
    return MCTSConfig(
        simulations=200,
        worlds=1,
        games_in_flight=games_in_flight,
        dirichlet_fraction=0.0,
        temperature=1.0,
        temperature_plays=N_PLAYS,
        forced_move_shortcut=False,
        true_deal=True,
    )


def play_games(
    evaluator: Evaluator,
    n: int,
    config: MCTSConfig,
    rng: np.random.Generator,
    deal_mode: DealMode = "bid",
    value_root_mix: float = 0.0,
) -> SelfPlayBatch:
    """Play `n` complete games of MCTS self-play; return their examples and timings.

    The value target is the game's outcome for the deciding seat, mixed with `value_root_mix` of
    the search's root value (at a solved root: the average exact outcome over the sampled deals,
    a low-variance estimate of the same quantity)."""
    if not 0.0 <= value_root_mix <= 1.0:
        raise ValueError("value_root_mix must be in [0, 1]")
    if n < 1:
        raise ValueError("play at least one game")
    start = time.perf_counter()
    state = new_games(rng, min(config.games_in_flight, n), deal_mode)
    game_id = np.arange(state.batch_size)
    outcomes = np.zeros((n, N_SEATS), np.float32)  # [game, seat] final outcome
    decisions = _Decisions([], [], [])
    plays, net_seconds, net_calls, net_evals = 0, 0.0, 0, 0
    while state.batch_size:
        out = search(evaluator, state, rng, config)
        net_seconds += out.network_seconds
        net_calls += out.network_calls
        net_evals += out.network_evals
        _record(decisions, state, game_id, out, rng)
        state = step(state, select_actions(out, state.n_played, config, rng))
        plays += state.batch_size
        state, game_id = _refill(state, game_id, outcomes, n, config, rng, deal_mode)
    examples = Examples.concat(decisions.parts)
    if len(examples):
        ids = np.concatenate(decisions.game_ids)
        outcome = outcomes[ids, examples.seat]
        root = np.concatenate(decisions.root_values)
        value = (1 - value_root_mix) * outcome + value_root_mix * root
        examples = replace(examples, value=np.clip(value, -1, 1).astype(np.float32))
    return SelfPlayBatch(
        examples=examples,
        games=n,
        plays=plays,
        seconds=time.perf_counter() - start,
        network_seconds=net_seconds,
        network_calls=net_calls,
        network_evals=net_evals,
    )


def _record(
    decisions: _Decisions,
    state: GameState,
    game_id: np.ndarray,
    out: SearchOutput,
    rng: np.random.Generator,
) -> None:
    """An example (value still 0) for every searched decision of this wave."""
    rows = np.flatnonzero(out.searched)
    if rows.size == 0:
        return
    movers = state.take(rows)
    obs = observe(movers)
    decisions.parts.append(
        Examples(
            tokens=obs.tokens,
            token_mask=obs.token_mask,
            legal=obs.legal,
            policy=out.policy[rows],
            value=np.zeros(rows.size, np.float32),
            belief=belief_targets(movers),
            belief_soft=belief_posterior(movers, rng),
            seat=movers.to_move.astype(np.int8),
        )
    )
    decisions.game_ids.append(game_id[rows])
    decisions.root_values.append(out.root_value[rows])


def _refill(
    state: GameState,
    game_id: np.ndarray,
    outcomes: np.ndarray,
    n: int,
    config: MCTSConfig,
    rng: np.random.Generator,
    deal_mode: DealMode,
) -> tuple[GameState, np.ndarray]:
    """Score finished games and put new deals in their places while games remain to start."""
    done = state.done
    if not done.any():
        return state, game_id
    outcomes[game_id[done]] = seat_outcomes(state.take(done), config.scoring)
    next_id = int(game_id.max()) + 1
    n_new = min(int(done.sum()), n - next_id)
    keep = state.take(~done)
    ids = game_id[~done]
    if n_new > 0:
        keep = concat_states([keep, new_games(rng, n_new, deal_mode)])
        ids = np.concatenate([ids, np.arange(next_id, next_id + n_new)])
    return keep, ids
