"""The E[Q] player: sample worlds consistent with what the mover has seen, solve each exactly,
and play the action that does best across them.

Two ways to score an action over the N worlds (`mode`):
- "mean": the average number of points still to come for the mover's team (E[Q]).
- "win": the share of worlds in which the mover's team wins the hand (more than 21 of the 42
  points; a 21-21 tie counts for team 1, as the arena counts it), the average breaking ties.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from zeb_core.game.engine import GameState, legal_mask
from zeb_core.game.players import first_best
from zeb_core.game.rules import TOTAL_POINTS
from zeb_core.game.sampling import sample_worlds
from zeb_core.oracle.solver import TranspositionTable, default_table, solve_states

Mode = Literal["mean", "win"]
MODES: tuple[str, ...] = ("mean", "win")
DEFAULT_WORLDS = 32
DEFAULT_MODE: Mode = "mean"


def action_scores(state: GameState, worlds_values: np.ndarray, mode: Mode) -> np.ndarray:
    """[B, 7] score of each slot from solved worlds [B, N, 7] (points to come, -inf illegal)."""
    mean = worlds_values.mean(axis=1)  # [B, 7]; -inf stays on illegal slots
    if mode == "mean":
        return mean
    if mode != "win":
        raise ValueError(f"unknown E[Q] mode {mode!r}: use one of {MODES}")
    b = np.arange(state.batch_size)
    team = state.to_move % 2
    have = state.team_points[b, team].astype(np.float64)  # [B]
    # Team 0 wins with more than 21 points; a 21-21 tie goes to team 1 (as the arena counts).
    need = np.where(team == 0, TOTAL_POINTS / 2 + 0.5, TOTAL_POINTS / 2)[:, None, None]
    wins = (have[:, None, None] + worlds_values >= need).sum(axis=1)  # [B, 7]
    # Counts differ by whole worlds; a mean of at most 42 points breaks ties only.
    return wins * (TOTAL_POINTS + 1) + mean


class EQPlayer:
    """Determinized exact search: N sampled worlds per decision, each solved exactly."""

    def __init__(
        self,
        n_worlds: int = DEFAULT_WORLDS,
        mode: Mode = DEFAULT_MODE,
        table: TranspositionTable | None = None,
        threads: int | None = None,
    ) -> None:
        if n_worlds < 1:
            raise ValueError("n_worlds must be at least 1")
        if mode not in MODES:
            raise ValueError(f"unknown E[Q] mode {mode!r}: use one of {MODES}")
        self.n_worlds = n_worlds
        self.mode: Mode = mode
        self.table = table
        self.threads = threads  # solver threads (None: all of numba's); play is the same for any
        self.name = f"eq:n={n_worlds},mode={mode}"

    def act(self, state: GameState, rng: np.random.Generator) -> np.ndarray:
        legal = legal_mask(state)
        actions = first_best(np.zeros(legal.shape), legal)  # forced moves need no search
        choice = np.flatnonzero(legal.sum(axis=1) > 1)
        if choice.size:
            actions[choice] = self.choose(state.take(choice), rng)
        return actions

    def choose(self, state: GameState, rng: np.random.Generator) -> np.ndarray:
        """[B] best slot for the mover of every game (all unfinished)."""
        worlds = sample_worlds(state, self.n_worlds, rng)
        table = default_table() if self.table is None else self.table
        values = solve_states(worlds, table=table, threads=self.threads).action_values
        values = values.reshape(state.batch_size, self.n_worlds, -1)  # [B, N, 7]
        scores = action_scores(state, values.astype(np.float64), self.mode)
        return first_best(scores, legal_mask(state))
