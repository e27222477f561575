"""Self-play producer: MCTS games with the current weights (source `selfplay-mcts`)."""

from __future__ import annotations

import numpy as np

from infra.worker.loop import Produced
from infra.worker.options import WorkerSettings
from infra.worker.stopping import StopRequested
from zeb_core.data.examples import Examples, empty_examples
from zeb_core.data.selfplay import play_games
from zeb_core.data.shards import SELFPLAY
from zeb_core.game.engine import DealMode
from zeb_core.search.config import Evaluator, MCTSConfig


class SelfPlayProducer:
    source = SELFPLAY

    def __init__(self, play: WorkerSettings) -> None:
        self.config = search_config(play)  # ValueError on an impossible combination
        self.games_per_batch = play.games_per_batch
        self.deal_mode: DealMode = play.deal_mode
        self.value_root_mix = play.value_root_mix  # recorded in each shard's metadata

    def produce(self, evaluator: Evaluator, rng: np.random.Generator) -> Produced:
        """Play the batch in rounds of `games_in_flight` games. Every hand lasts 28 plays, so the
        games of a round start and finish together, exactly as one long `play_games` would play
        them; a stop request abandons only the round in progress."""
        parts: list[Examples] = []
        games = 0
        while games < self.games_per_batch:
            n = min(self.config.games_in_flight, self.games_per_batch - games)
            try:
                batch = play_games(
                    evaluator, n, self.config, rng, self.deal_mode, self.value_root_mix
                )
            except StopRequested:
                if not parts:
                    raise
                break
            parts.append(batch.examples)
            games += batch.games
        return Produced(
            examples=Examples.concat(parts) if parts else empty_examples(), n_games=games
        )


def search_config(play: WorkerSettings) -> MCTSConfig:
    """The worker's search from its settings (raises ValueError on an impossible combination)."""
    return MCTSConfig(
        simulations=play.sims,
        worlds=play.worlds or min(MCTSConfig.worlds, play.sims),
        games_in_flight=play.games_in_flight,
        node_capacity=play.node_capacity,
        root=play.root,
        interior=play.interior,
        exact_tricks_left=play.exact_tricks_left,
        true_deal=play.true_deal,
        belief_worlds=play.belief_worlds,
        dirichlet_fraction=play.dirichlet_fraction,
        temperature_plays=play.temperature_plays,
        forced_move_shortcut=play.forced_move_shortcut,
    )
