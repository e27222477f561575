"""The MCTS player: determinized search with a model, greedy over root visits (no noise).

Spec: `mcts:PATH[,sims=N][,worlds=W][,c=C]`, for example `mcts:zeb-557k-1m.pt,sims=50`.
Defaults: 50 simulations, one world per 25 simulations (at most 4), c_puct 1.5. Against the
greedy policy, fewer and deeper trees did better than many shallow ones (bench/mcts_strength.py).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from zeb_core.engine import GameState
from zeb_core.mcts import Evaluator, MCTSConfig, search, select_actions
from zeb_core.player_specs import PlayerSpec, PlayerSpecError

DEFAULT_SIMULATIONS = 50  # evaluation default: the strength benchmark's setting
SIMULATIONS_PER_WORLD = 25  # default worlds: one per 25 simulations, 1 to MAX_DEFAULT_WORLDS
MAX_DEFAULT_WORLDS = 4


class MCTSPlayer:
    """Searches every decision of the batch at once; plays the most visited slot."""

    def __init__(self, evaluator: Evaluator, config: MCTSConfig, name: str = "mcts"):
        self.evaluator = evaluator
        self.config = config.for_evaluation()
        self.name = name

    def act(self, state: GameState, rng: np.random.Generator) -> np.ndarray:
        out = search(self.evaluator, state, rng, self.config)
        return select_actions(out, state.n_played, self.config, rng)


def build_mcts_player(spec: PlayerSpec, device: str) -> MCTSPlayer:
    from zeb_core.model_players import load_evaluator  # torch only when a model player is built

    spec.check_options({"sims", "worlds", "c"})
    sims = spec.int_option("sims", DEFAULT_SIMULATIONS)
    default_worlds = min(max(sims // SIMULATIONS_PER_WORLD, 1), MAX_DEFAULT_WORLDS)
    worlds = spec.int_option("worlds", default_worlds)
    c_puct = spec.float_option("c", MCTSConfig.c_puct)
    try:
        config = replace(MCTSConfig(), simulations=sims, worlds=worlds, c_puct=c_puct)
    except ValueError as exc:
        raise PlayerSpecError(f"{spec}: {exc}") from None
    return MCTSPlayer(load_evaluator(spec.require_path(), device), config, name=str(spec))
