"""What a search is asked and what it answers: `MCTSConfig`, `SearchOutput`, and the `Evaluator`
protocol a network (or any stand-in) meets. The search (`mcts.py`) and the policies over its
output (`move_selection.py`) both read these, so they live apart from either.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal, Protocol

import numpy as np

from zeb_core.game.engine import Scoring
from zeb_core.game.tokenizer import Observation
from zeb_core.search.gumbel import GumbelConfig

N_SLOTS = 7
Rule = Literal["puct", "gumbel"]

# The search zeb plays by default, in self-play (WorkerSettings) and wherever a player is named
# `mcts:` (evaluation, the ladder's MCTS rungs): one place, so what is rated is what trains.
# Gumbel at the root with exact leaves beat PUCT without them over 2,000 games against greedy
# zeb-e2839 at 50 simulations (55.1% at exact 5, 57.3% at 6, 51.2% for PUCT without; README).
DEFAULT_ROOT: Rule = "gumbel"
DEFAULT_INTERIOR: Rule = "puct"
DEFAULT_EXACT_TRICKS_LEFT = 5


class Evaluator(Protocol):
    def evaluate(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        """(policy logits [B, 7], value [B] from the observer's team view) as numpy."""
        ...


@dataclass(frozen=True)
class MCTSConfig:
    simulations: int = 200  # leaf evaluations per decision over all worlds (network or exact)
    worlds: int = 4  # sampled deals per decision, one tree each (simulations split evenly)
    games_in_flight: int = 16  # self-play games advanced together (one network call per wave)
    node_capacity: int = 512  # most nodes a tree may hold (it needs simulations/worlds + 1)
    root: Rule = "puct"  # root: PUCT + visit-count target, or Gumbel (gumbel.py) + improved policy
    interior: Rule = "puct"  # below the root: PUCT, or mctx's deterministic Gumbel selection
    gumbel: GumbelConfig = field(default_factory=GumbelConfig)  # used where a rule is "gumbel"
    c_puct: float = 1.5  # exploration weight of the prior in PUCT
    dirichlet_alpha: float = 0.5  # root noise concentration (about 7 legal slots at most)
    dirichlet_fraction: float = 0.25  # PUCT root: share of the prior replaced by noise; 0 = none
    temperature: float = 1.0  # PUCT: visits ** (1 / temperature) for early moves; 0 = greedy
    temperature_plays: int = 8  # explore (temperature, Gumbel noise) while fewer plays were made
    forced_move_shortcut: bool = True  # a decision with one legal slot needs no search
    exact_tricks_left: int = 0  # leaves with at most this many tricks to play are solved; 0 = off
    true_deal: bool = False  # search the real deal, not sampled ones (self-play only: it peeks)
    belief_worlds: bool = False  # tilt sampled deals by the belief head (evaluator.belief_tilt)
    scoring: Scoring = "win"  # terminal values (the value head was trained on "win")

    def __post_init__(self) -> None:
        if self.simulations < 1 or self.worlds < 1:
            raise ValueError("simulations and worlds must be at least 1")
        if self.worlds > self.simulations:
            raise ValueError(f"worlds ({self.worlds}) cannot exceed simulations")
        if self.tree_size > self.node_capacity:
            raise ValueError(
                f"{self.simulations} simulations over {self.worlds} worlds need "
                f"{self.tree_size} nodes per tree; node_capacity is {self.node_capacity}"
            )
        if self.games_in_flight < 1 or self.c_puct < 0 or self.temperature < 0:
            raise ValueError("games_in_flight >= 1, c_puct >= 0 and temperature >= 0 required")
        if not 0 <= self.dirichlet_fraction <= 1 or self.dirichlet_alpha <= 0:
            raise ValueError("dirichlet_fraction must be in [0, 1] and dirichlet_alpha > 0")
        if self.root not in ("puct", "gumbel") or self.interior not in ("puct", "gumbel"):
            raise ValueError("root and interior must each be 'puct' or 'gumbel'")
        if not 0 <= self.exact_tricks_left <= 7:
            raise ValueError("exact_tricks_left must be 0..7")
        if self.true_deal and self.worlds != 1:
            raise ValueError("true_deal searches the one real deal: worlds must be 1")

    @property
    def tree_size(self) -> int:
        """Nodes per tree: the root plus one per simulation of the busiest world."""
        return -(-self.simulations // self.worlds) + 1

    def for_evaluation(self) -> MCTSConfig:
        """No root noise, greedy over the search's choice: how a player searches in a match."""
        return replace(self, dirichlet_fraction=0.0, temperature_plays=0)


@dataclass(frozen=True)
class SearchOutput:
    visits: np.ndarray  # [B, 7] int32 root visits summed over worlds (1 on a forced slot)
    q: np.ndarray  # [B, 7] float32 mean value of each root slot over worlds, mover's team view
    root_value: np.ndarray  # [B] float32 mean root value over worlds (0 where not searched)
    prior: np.ndarray  # [B, 7] float32 network policy at the root, no noise (0 not searched)
    policy: np.ndarray  # [B, 7] float32 target: visit shares (PUCT), improved policy (Gumbel)
    action: np.ndarray  # [B] int64 the search's move (PUCT: most visited; Gumbel: its argmax)
    legal: np.ndarray  # [B, 7] bool legal slots of the mover
    searched: np.ndarray  # [B] bool a search ran (False: forced move, shortcut taken)
    network_seconds: float  # time spent in evaluator.evaluate
    network_calls: int
    network_evals: int  # observations evaluated
