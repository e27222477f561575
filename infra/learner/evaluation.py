"""The learner's periodic check: the current weights (greedy) against random and the heuristic.

Fixed deals (the same seed every time), so two evaluations differ only by the weights; enough
games for a useful interval (1000 vs random: about +-3 points at 95%).
"""

from __future__ import annotations

from zeb_core.evaluation.arena import play_match
from zeb_core.evaluation.model_players import GreedyPlayer
from zeb_core.game.players import HeuristicPlayer, RandomPlayer
from zeb_core.network.evaluator import ModelEvaluator
from zeb_core.network.model import ZebModel

EVAL_SEED = 20_261_130  # the deals every evaluation plays


def evaluate_model(model: ZebModel, random_games: int, heuristic_games: int) -> dict[str, float]:
    was_training = model.training
    greedy = GreedyPlayer(ModelEvaluator(model, next(model.parameters()).device))
    out: dict[str, float] = {}
    for name, opponent, games in (
        ("random", RandomPlayer(), random_games),
        ("heuristic", HeuristicPlayer(), heuristic_games),
    ):
        if games < 2:
            continue
        result = play_match(greedy, opponent, games - games % 2, seed=EVAL_SEED)
        lo, hi = result.a_win_rate_ci95
        out[f"eval/vs_{name}_win_rate"] = result.a_win_rate
        out[f"eval/vs_{name}_ci_lo"] = lo
        out[f"eval/vs_{name}_ci_hi"] = hi
        out[f"eval/vs_{name}_margin"] = result.a_margin
        out[f"eval/vs_{name}_games"] = float(result.games)
    model.train(was_training)
    return out
