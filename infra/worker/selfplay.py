"""Self-play producer: MCTS games with the current weights (source `selfplay-mcts`)."""

from __future__ import annotations

import numpy as np

from infra.worker.loop import Produced
from zeb_core.mcts import MCTSConfig
from zeb_core.model_players import ModelEvaluator
from zeb_core.selfplay import play_games
from zeb_core.shards import SELFPLAY


class SelfPlayProducer:
    source = SELFPLAY

    def __init__(self, games_per_batch: int, config: MCTSConfig) -> None:
        self.games_per_batch = games_per_batch
        self.config = config

    def produce(self, evaluator: ModelEvaluator, rng: np.random.Generator) -> Produced:
        batch = play_games(evaluator, self.games_per_batch, self.config, rng)
        return Produced(examples=batch.examples, n_games=batch.games)
