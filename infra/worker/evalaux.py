"""Eval-aux producer: the E[Q] player against the current model (greedy), on both sides.

Every decision of both players becomes an example (source `eval-eq-zeb`): the model's decisions
and the E[Q] player's, with value and belief targets defined as in self-play. The shard also
carries the E[Q] player's win rate and margin against the model, a free strength signal.
"""

from __future__ import annotations

import numpy as np

from infra.worker.loop import Produced
from zeb_core.data.recorded_games import play_recorded
from zeb_core.data.shards import EVAL_AUX
from zeb_core.evaluation.arena import deal_games
from zeb_core.evaluation.model_players import GreedyPlayer
from zeb_core.game.engine import concat_states
from zeb_core.network.evaluator import ModelEvaluator
from zeb_core.oracle.eq_player import DEFAULT_WORLDS, EQPlayer


class EvalAuxProducer:
    source = EVAL_AUX
    value_root_mix = 0.0  # the game's outcome: E[Q] games record no search value

    def __init__(self, deals_per_batch: int = 8, worlds: int = DEFAULT_WORLDS) -> None:
        self.deals_per_batch = deals_per_batch  # each deal is played twice, sides swapped
        self.eq = EQPlayer(n_worlds=worlds)

    def produce(self, evaluator: ModelEvaluator, rng: np.random.Generator) -> Produced:
        deals = deal_games(int(rng.integers(2**31)), 0, self.deals_per_batch)
        games = concat_states([deals, deals])
        eq_team = np.repeat([0, 1], self.deals_per_batch)
        record = play_recorded(self.eq, GreedyPlayer(evaluator), games, eq_team, rng)
        return Produced(
            examples=record.examples,
            n_games=games.batch_size,
            eq_wins=int(record.a_wins.sum()),
            eq_margin_sum=float(record.a_margin.sum()),
        )
