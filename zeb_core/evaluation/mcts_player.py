"""The MCTS player: determinized search with a model, no noise, the search's move.

Its spec (`mcts:PATH,sims=N,...`) and defaults are read by `player_specs.build_mcts_player`.
"""

from __future__ import annotations

import numpy as np

from zeb_core.game.engine import GameState
from zeb_core.search.config import Evaluator, MCTSConfig
from zeb_core.search.mcts import search
from zeb_core.search.move_selection import select_actions


class MCTSPlayer:
    """Searches every decision of the batch at once; plays the search's move."""

    def __init__(self, evaluator: Evaluator, config: MCTSConfig, name: str = "mcts"):
        if config.true_deal:
            raise ValueError("a player may not search the true deal: it would see hidden hands")
        self.evaluator = evaluator
        self.config = config.for_evaluation()
        self.name = name

    def act(self, state: GameState, rng: np.random.Generator) -> np.ndarray:
        out = search(self.evaluator, state, rng, self.config)
        return select_actions(out, state.n_played, self.config, rng)
