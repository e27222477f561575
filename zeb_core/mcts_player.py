"""The MCTS player: determinized search with a model, no noise, the search's move.

Spec: `mcts:PATH[,sims=N][,worlds=W][,c=C][,root=R][,interior=R][,k=K][,exact=T][,cvisit=X]
[,cscale=X][,rescale=0|1][,belief=0|1]`, for example
`mcts:zeb-e2839.pt,sims=50,root=gumbel,exact=6`.
Defaults: 50 simulations, one world per 25 simulations (at most 4), PUCT with c_puct 1.5 at the
root and below, no exact values. R is `puct` or `gumbel`; k, cvisit, cscale and rescale are the
Gumbel settings (`gumbel.GumbelConfig`); exact=T solves leaves with at most T tricks to play
(and, with root=gumbel, every play of a root within reach); belief=1 tilts the sampled deals by
the model's constrained belief head (`MCTSConfig.belief_worlds`). Against greedy zeb-e2839 over 2000
games: the default 51.8%, `root=gumbel,exact=6` 57.3%, `root=gumbel,exact=7` 58.1%
(bench/mcts_strength.py).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from zeb_core.engine import GameState
from zeb_core.gumbel import GumbelConfig
from zeb_core.mcts import Evaluator, MCTSConfig, search
from zeb_core.move_selection import select_actions
from zeb_core.player_specs import PlayerSpec, PlayerSpecError

DEFAULT_SIMULATIONS = 50  # evaluation default: the strength benchmark's setting
SIMULATIONS_PER_WORLD = 25  # default worlds: one per 25 simulations, 1 to MAX_DEFAULT_WORLDS
MAX_DEFAULT_WORLDS = 4
OPTIONS = set("sims worlds c root interior k exact cvisit cscale rescale belief".split())


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


def build_mcts_player(spec: PlayerSpec, device: str) -> MCTSPlayer:
    from zeb_core.model_players import load_evaluator  # torch only when a model player is built

    spec.check_options(OPTIONS)
    try:
        config = config_from_spec(spec)
    except ValueError as exc:
        raise PlayerSpecError(f"{spec}: {exc}") from None
    return MCTSPlayer(load_evaluator(spec.require_path(), device), config, name=str(spec))


def config_from_spec(spec: PlayerSpec) -> MCTSConfig:
    """The search settings a spec names (defaults for the rest)."""
    sims = spec.int_option("sims", DEFAULT_SIMULATIONS)
    default_worlds = min(max(sims // SIMULATIONS_PER_WORLD, 1), MAX_DEFAULT_WORLDS)
    base = GumbelConfig()
    gumbel = GumbelConfig(
        considered_actions=spec.int_option("k", base.considered_actions),
        c_visit=spec.float_option("cvisit", base.c_visit),
        c_scale=spec.float_option("cscale", base.c_scale),
        rescale_q=spec.int_option("rescale", int(base.rescale_q), minimum=0) > 0,
    )
    return replace(
        MCTSConfig(),
        simulations=sims,
        worlds=spec.int_option("worlds", default_worlds),
        c_puct=spec.float_option("c", MCTSConfig.c_puct),
        root=spec.options.get("root", "puct"),  # type: ignore[arg-type]  # checked by the config
        interior=spec.options.get("interior", "puct"),  # type: ignore[arg-type]
        gumbel=gumbel,
        exact_tricks_left=spec.int_option("exact", 0, minimum=0),
        belief_worlds=spec.int_option("belief", 0, minimum=0) > 0,
    )
