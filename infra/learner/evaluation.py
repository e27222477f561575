"""The learner's periodic check: the current weights (greedy) against random and the heuristic."""

from __future__ import annotations

from zeb_core.arena import play_match
from zeb_core.model import ZebModel
from zeb_core.model_players import GreedyPlayer, ModelEvaluator
from zeb_core.players import HeuristicPlayer, RandomPlayer


def evaluate_model(model: ZebModel, games: int, seed: int) -> dict[str, float]:
    was_training = model.training
    greedy = GreedyPlayer(ModelEvaluator(model, next(model.parameters()).device))
    out: dict[str, float] = {}
    for name, opponent in (("random", RandomPlayer()), ("heuristic", HeuristicPlayer())):
        result = play_match(greedy, opponent, games - games % 2, seed=seed)
        out[f"eval/vs_{name}_win_rate"] = result.a_win_rate
        out[f"eval/vs_{name}_margin"] = result.a_margin
    model.train(was_training)
    return out
