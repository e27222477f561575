"""Players: anything that picks a hand slot for the mover of each game in a batch.

A player is called with a batch of unfinished games in which it is to move and returns one legal
hand slot per game. Players hold no per-game memory: everything they may know is in the state
(and a player must only use what the mover can see; `observe` and `sampling` enforce that).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from zeb_core.game.engine import GameState, legal_mask
from zeb_core.game.rules import CALLED, COUNT_POINTS, DECL_NO_TRUMP, PIP_SUM


class Player(Protocol):
    name: str

    def act(self, state: GameState, rng: np.random.Generator) -> np.ndarray:
        """[B] int64 hand slots, one legal move for the mover of each (unfinished) game."""
        ...


def first_best(key: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """[B] slot with the largest key among legal slots; ties go to the lowest slot."""
    return np.argmax(np.where(legal, key, -np.inf), axis=1).astype(np.int64)


class RandomPlayer:
    """Uniform over legal slots."""

    name = "random"

    def act(self, state: GameState, rng: np.random.Generator) -> np.ndarray:
        legal = legal_mask(state)
        return first_best(rng.random(legal.shape), legal)


class HeuristicPlayer:
    """The original rule-based player (reference README).

    Leading: a called (trump) domino if any, else the highest pip sum. Following: the fewest count
    points, then the lowest pip sum. Ties go to the lowest hand slot.
    """

    name = "heuristic"

    def act(self, state: GameState, rng: np.random.Generator) -> np.ndarray:
        legal = legal_mask(state)
        hand = state.hands[np.arange(state.batch_size), state.to_move]  # [B, 7]
        called = CALLED[state.decl[:, None], hand] & (state.decl != DECL_NO_TRUMP)[:, None]
        pips = PIP_SUM[hand].astype(np.int64)
        lead_key = called * 100 + pips
        follow_key = -(COUNT_POINTS[hand].astype(np.int64) * 100 + pips)
        leading = (state.trick_len == 0)[:, None]
        return first_best(np.where(leading, lead_key, follow_key), legal)
