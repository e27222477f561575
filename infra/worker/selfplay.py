"""Self-play producer: MCTS games with the current weights (source `selfplay-mcts`)."""

from __future__ import annotations

import numpy as np

from infra.worker.loop import Produced
from infra.worker.stopping import StopRequested
from zeb_core.examples import Examples, empty_examples
from zeb_core.mcts import Evaluator, MCTSConfig
from zeb_core.selfplay import play_games
from zeb_core.shards import SELFPLAY


class SelfPlayProducer:
    source = SELFPLAY

    def __init__(self, games_per_batch: int, config: MCTSConfig) -> None:
        self.games_per_batch = games_per_batch
        self.config = config

    def produce(self, evaluator: Evaluator, rng: np.random.Generator) -> Produced:
        """Play the batch in rounds of `games_in_flight` games. Every hand lasts 28 plays, so the
        games of a round start and finish together, exactly as one long `play_games` would play
        them; a stop request abandons only the round in progress."""
        parts: list[Examples] = []
        games = 0
        while games < self.games_per_batch:
            n = min(self.config.games_in_flight, self.games_per_batch - games)
            try:
                batch = play_games(evaluator, n, self.config, rng)
            except StopRequested:
                if not parts:
                    raise
                break
            parts.append(batch.examples)
            games += batch.games
        return Produced(
            examples=Examples.concat(parts) if parts else empty_examples(), n_games=games
        )
