"""Helpers for scripted hands: dominoes written as "6-5" strings."""

from __future__ import annotations

import numpy as np

from zeb_core.game.engine import GameState, from_deals, legal_mask, step
from zeb_core.game.rules import domino_id


def ids(text: str) -> list[int]:
    return [domino_id(*map(int, d.split("-"))) for d in text.split()]


def deal(seat_hands: list[str], decl: int, leader: int = 0, bid: int = 30) -> GameState:
    hands = np.array([[ids(h) for h in seat_hands]])
    return from_deals(hands, [decl], [leader], [bid])


def slot_of(state: GameState, domino: str, game: int = 0) -> int:
    seat = state.to_move[game]
    return int(np.flatnonzero(state.hands[game, seat] == ids(domino)[0])[0])


def play(state: GameState, *dominoes: str) -> GameState:
    """Play the named dominoes in turn (single-game state)."""
    for d in dominoes:
        state = step(state, np.array([slot_of(state, d)]))
    return state


def legal_dominoes(state: GameState, game: int = 0) -> set[int]:
    seat = state.to_move[game]
    return set(state.hands[game, seat][legal_mask(state)[game]].tolist())


def random_playout(
    state: GameState, rng: np.random.Generator, record: list | None = None
) -> GameState:
    """Play every game out with uniform legal moves; optionally record (state, actions)."""
    while not state.done.all():
        legal = legal_mask(state)
        actions = np.argmax(np.where(legal, rng.random(legal.shape), -1), axis=1)
        if record is not None:
            record.append((state, actions))
        state = step(state, actions)
    return state


def random_positions(seed: int, n: int, n_played: int) -> GameState:
    """`n` random deals after `n_played` uniform random plays."""
    from zeb_core.game.engine import new_games
    from zeb_core.game.players import RandomPlayer

    rng = np.random.default_rng(seed)
    state, player = new_games(rng, n), RandomPlayer()
    for _ in range(n_played):
        state = step(state, player.act(state, rng))
    return state
