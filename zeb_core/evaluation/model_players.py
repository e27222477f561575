"""The greedy player: the policy head's best legal slot, no search."""

from __future__ import annotations

import numpy as np

from zeb_core.game.engine import GameState
from zeb_core.game.players import first_best
from zeb_core.game.tokenizer import observe
from zeb_core.network.evaluator import ModelEvaluator


class GreedyPlayer:
    """Argmax of the policy over legal slots, no search."""

    def __init__(self, evaluator: ModelEvaluator, name: str = "greedy"):
        self.evaluator = evaluator
        self.name = name

    def act(self, state: GameState, rng: np.random.Generator) -> np.ndarray:
        obs = observe(state)
        logits, _ = self.evaluator.evaluate(obs)
        return first_best(logits, obs.legal)
