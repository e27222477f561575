"""Fully known positions as JSON, for `zeb solve` and tests.

    {"hands": [[7 ids], [7 ids], [7 ids], [7 ids]],  # seat 0..3, domino ids 0..27
     "decl": 0..9, "leader": 0..3,                    # declaration and first leader
     "plays": [ids...]}                               # every play so far, in order (optional)

`hands` may be the deal (7 dominoes each, the plays among them) or what each seat holds now
(the plays left out: each seat then holds 7 minus the number of its plays). The plays are replayed
through the engine, so an illegal play is reported at the play where it happens.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from zeb_core.game.engine import GameState, from_deals, legal_mask, step
from zeb_core.game.rules import HAND_SIZE, LED_SUIT, N_DECLS, N_DOMINOES, N_SEATS, RANK, domino_name

POSITION_KEYS = ("hands", "decl", "leader", "plays")


class PositionError(ValueError):
    """A position that cannot be read or is not a legal Texas 42 position (one-line message)."""


def parse_position(text: str) -> GameState:
    """A batch-1 GameState from the JSON text of a position."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise PositionError(f"bad JSON: {e.msg} (line {e.lineno}, column {e.colno})") from None
    return position_from_dict(obj)


def position_from_dict(obj: Any) -> GameState:
    if not isinstance(obj, Mapping):
        raise PositionError("a position must be a JSON object with hands, decl, leader, plays")
    unknown = sorted(set(obj) - set(POSITION_KEYS))
    if unknown:
        raise PositionError(
            f"unknown key(s) {', '.join(unknown)} (known: {', '.join(POSITION_KEYS)})"
        )
    for key in ("hands", "decl", "leader"):
        if key not in obj:
            raise PositionError(f"missing key {key!r}")
    decl = _int_in(obj["decl"], "decl", N_DECLS)
    leader = _int_in(obj["leader"], "leader", N_SEATS)
    hands = _hands(obj["hands"])
    plays_raw = obj.get("plays", [])
    if not isinstance(plays_raw, list):
        raise PositionError("plays must be a list of domino ids")
    plays = [_int_in(p, f"play {k + 1}", N_DOMINOES) for k, p in enumerate(plays_raw)]
    if len(set(plays)) != len(plays):
        raise PositionError("a domino is played twice")
    deal = _deal(hands, plays, decl, leader)
    return _replay(from_deals(deal[None], decl, leader), plays)


def position_to_dict(state: GameState, game: int = 0) -> dict[str, Any]:
    """The JSON form (the deal and the plays) of one game of a batch."""
    n = int(state.n_played[game])
    return {
        "hands": state.hands[game].tolist(),
        "decl": int(state.decl[game]),
        "leader": int(state.bidder[game]),
        "plays": state.history[game, :n].tolist(),
    }


def _int_in(value: Any, what: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < limit:
        raise PositionError(f"{what} must be an integer 0..{limit - 1}, got {value!r}")
    return value


def _hands(raw: Any) -> list[list[int]]:
    if (
        not isinstance(raw, list)
        or len(raw) != N_SEATS
        or not all(isinstance(h, list) for h in raw)
    ):
        raise PositionError("hands must be a list of 4 lists of domino ids (seats 0..3)")
    hands = [[_int_in(d, f"seat {s}'s domino", N_DOMINOES) for d in h] for s, h in enumerate(raw)]
    seen: dict[int, int] = {}
    for seat, hand in enumerate(hands):
        for d in hand:
            if d in seen:
                raise PositionError(f"domino {domino_name(d)} (id {d}) appears twice in the hands")
            seen[d] = seat
    return hands


def _deal(hands: list[list[int]], plays: list[int], decl: int, leader: int) -> np.ndarray:
    """The [4, 7] deal: the hands as given, or the current holdings plus each seat's plays."""
    held = {d for hand in hands for d in hand}
    overlap = [d for d in plays if d in held]
    if len(overlap) == len(plays) and all(len(h) == HAND_SIZE for h in hands):
        return np.array(hands, dtype=np.int8)  # the deal, plays included
    if overlap:
        name = domino_name(overlap[0])
        raise PositionError(
            f"domino {name} is both played and held: give either the full deal (7 each) "
            "or what each seat holds now"
        )
    seats = _play_seats(plays, decl, leader)
    deal = [
        sorted(list(h) + [d for d, s in zip(plays, seats, strict=True) if s == seat])
        for seat, h in enumerate(hands)
    ]  # fmt: skip  (slot order is not known: by id)
    for seat, hand in enumerate(deal):
        if len(hand) != HAND_SIZE:
            now = len(hands[seat])
            raise PositionError(
                f"seat {seat} holds {now} domino(es) and played {len(hand) - now}: "
                f"expected {HAND_SIZE} in all"
            )
    return np.array(deal, dtype=np.int8)


def _play_seats(plays: list[int], decl: int, leader: int) -> list[int]:
    """Who made each play: turn order follows from the plays alone (the trick winner leads)."""
    seats, seat = [], leader
    for start in range(0, len(plays), 4):
        trick = plays[start : start + 4]
        led = LED_SUIT[decl, trick[0]]
        order = [(seat + k) % N_SEATS for k in range(len(trick))]
        seats += order
        if len(trick) == 4:
            seat = order[int(np.argmax([RANK[decl, led, d] for d in trick]))]
    return seats


def _replay(state: GameState, plays: list[int]) -> GameState:
    for k, d in enumerate(plays):
        seat = int(state.to_move[0])
        slots = np.flatnonzero((state.hands[0, seat] == d) & state.held[0, seat])
        if slots.size == 0:
            raise PositionError(
                f"play {k + 1}: seat {seat} is to play but does not hold {domino_name(d)}"
            )
        if not legal_mask(state)[0, slots[0]]:
            raise PositionError(
                f"play {k + 1}: {domino_name(d)} by seat {seat} does not follow suit"
            )
        state = step(state, slots)
    return state
