"""Batched Texas 42 engine: a frozen struct of `[B, ...]` arrays and pure functions over it.

Terminal behaviour: a game is over after 28 plays (`state.done`). A finished game has an all-False
legal mask, and `step` leaves it unchanged whatever action is given for it (terminal states
absorb), so a batch can keep stepping while some of its games are over.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from zeb_core.game.rules import (
    COUNT_POINTS,
    FOLLOWS,
    HAND_SIZE,
    LED_SUIT,
    N_DECLS,
    N_DOMINOES,
    N_SEATS,
    N_SUITS,
    RANK,
    TOTAL_POINTS,
)

ENGINE_VERSION = 1
N_PLAYS = N_DOMINOES  # a hand is 28 plays
DealMode = Literal["bid", "selfplay"]
Scoring = Literal["win", "bid"]


class IllegalActionError(ValueError):
    """An action is out of range or breaks the follow-suit rule."""


@dataclass(frozen=True)
class GameState:
    hands: np.ndarray  # [B, 4, 7] int8 domino id in each hand slot (deal order)
    held: np.ndarray  # [B, 4, 7] bool, the slot still holds its domino
    decl: np.ndarray  # [B] int8 declaration 0..9
    bidder: np.ndarray  # [B] int8 seat that won the (skipped) bidding and led the first trick
    bid: np.ndarray  # [B] int8 bid 30..42 (0 when the deal had no bid)
    to_move: np.ndarray  # [B] int8 seat to play next (after the end: the last trick's winner)
    history: np.ndarray  # [B, 28] int8 domino ids in play order, -1 after n_played
    history_seat: np.ndarray  # [B, 28] int8 seat of each play, -1 after n_played
    n_played: np.ndarray  # [B] int8 plays so far, 0..28
    team_points: np.ndarray  # [B, 2] int16 points won so far by team 0 (seats 0, 2) and team 1
    voids: np.ndarray  # [B, 4, 8] bool, the seat failed to follow that led suit (pips, 7 = called)

    @property
    def batch_size(self) -> int:
        return int(self.decl.shape[0])

    @property
    def done(self) -> np.ndarray:
        return self.n_played >= N_PLAYS

    @property
    def trick_len(self) -> np.ndarray:
        """Plays in the current trick so far (0 = the mover leads)."""
        return np.where(self.done, 0, self.n_played % 4)

    def led_suit(self) -> np.ndarray:
        """[B] suit of the current trick (0..7), -1 when the mover leads or the game is over."""
        b = np.arange(self.batch_size)
        lead_pos = np.clip(self.n_played - self.n_played % 4, 0, N_PLAYS - 1)
        led = LED_SUIT[self.decl, np.maximum(self.history[b, lead_pos], 0)]
        return np.where(self.trick_len > 0, led, -1).astype(np.int8)

    def take(self, index: np.ndarray) -> GameState:
        """A new state holding the games at `index` (any int index or boolean mask)."""
        return GameState(**{f: getattr(self, f)[index] for f in _FIELDS})


_FIELDS = tuple(GameState.__dataclass_fields__)


def from_deals(
    hands: np.ndarray,
    decl: np.ndarray,
    leader: np.ndarray,
    bid: np.ndarray | None = None,
) -> GameState:
    """Start games from given hands `[B, 4, 7]`, declarations and first leaders (the bidder)."""
    hands = np.asarray(hands, dtype=np.int8)
    batch = hands.shape[0]
    if hands.shape[1:] != (N_SEATS, HAND_SIZE):
        raise ValueError(f"hands must be [B, 4, 7], got {list(hands.shape)}")
    if not (np.sort(hands.reshape(batch, -1), axis=1) == np.arange(N_DOMINOES)).all():
        raise ValueError("each deal must hold every domino 0..27 exactly once")
    decl = np.broadcast_to(np.asarray(decl, dtype=np.int8), (batch,)).copy()
    leader = np.broadcast_to(np.asarray(leader, dtype=np.int8), (batch,)).copy()
    if ((decl < 0) | (decl >= N_DECLS)).any():
        raise ValueError("declarations must be 0..9")
    if ((leader < 0) | (leader >= N_SEATS)).any():
        raise ValueError("leaders must be seats 0..3")
    bid_arr = np.zeros(batch, np.int8) if bid is None else np.asarray(bid, np.int8).copy()
    return GameState(
        hands=hands.copy(),
        held=np.ones((batch, N_SEATS, HAND_SIZE), dtype=bool),
        decl=decl,
        bidder=leader.copy(),
        bid=np.broadcast_to(bid_arr, (batch,)).copy(),
        to_move=leader,
        history=np.full((batch, N_PLAYS), -1, dtype=np.int8),
        history_seat=np.full((batch, N_PLAYS), -1, dtype=np.int8),
        n_played=np.zeros(batch, dtype=np.int8),
        team_points=np.zeros((batch, 2), dtype=np.int16),
        voids=np.zeros((batch, N_SEATS, N_SUITS), dtype=bool),
    )


def new_games(rng: np.random.Generator, batch_size: int, mode: DealMode = "bid") -> GameState:
    """Deal `batch_size` random hands (each hand sorted by domino id).

    mode "bid" (evaluation, the golden games): a uniform random bidder leads, bid 30..42,
    declaration 0..9. mode "selfplay" (the original's self-play): seat 0 leads, no bid.
    """
    deck = rng.permuted(np.tile(np.arange(N_DOMINOES, dtype=np.int8), (batch_size, 1)), axis=1)
    hands = np.sort(deck.reshape(batch_size, N_SEATS, HAND_SIZE), axis=2)
    if mode == "bid":
        leader = rng.integers(0, N_SEATS, batch_size)
        bid = rng.integers(30, 43, batch_size)
        decl = rng.integers(0, N_DECLS, batch_size)
    elif mode == "selfplay":
        leader = np.zeros(batch_size, np.int8)
        bid = None
        decl = rng.integers(0, N_DECLS, batch_size)
    else:
        raise ValueError(f"unknown deal mode {mode!r}: use 'bid' or 'selfplay'")
    return from_deals(hands, decl, leader, bid)


def legal_mask(state: GameState) -> np.ndarray:
    """[B, 7] bool: True where the mover may play that hand slot (all False once over)."""
    b = np.arange(state.batch_size)
    hand = state.hands[b, state.to_move]  # [B, 7]
    held = state.held[b, state.to_move] & ~state.done[:, None]
    led = state.led_suit()
    follows = FOLLOWS[state.decl[:, None], np.maximum(led, 0)[:, None], hand] & held
    must_follow = (led >= 0) & follows.any(axis=1)
    return np.where(must_follow[:, None], follows, held)


def step(state: GameState, actions: np.ndarray) -> GameState:
    """Play hand slot `actions[b]` for the mover of every unfinished game; return the new state."""
    actions = np.asarray(actions)
    if actions.shape != (state.batch_size,):
        raise IllegalActionError(
            f"actions must have shape [{state.batch_size}], got {actions.shape}"
        )
    active = ~state.done
    in_range = (actions >= 0) & (actions < HAND_SIZE)
    slot = np.where(in_range, actions, 0).astype(np.int64)
    b = np.arange(state.batch_size)
    ok = in_range & legal_mask(state)[b, slot]
    bad = np.flatnonzero(active & ~ok)
    if bad.size:
        g = int(bad[0])
        raise IllegalActionError(
            f"illegal action {int(actions[g])} in game {g} (seat {int(state.to_move[g])}, "
            f"legal slots {np.flatnonzero(legal_mask(state)[g]).tolist()}); "
            f"{bad.size} illegal action(s) in the batch"
        )
    if not active.any():
        return state
    return _apply(state, b[active], slot[active])


def _apply(state: GameState, b: np.ndarray, slot: np.ndarray) -> GameState:
    """Play the (legal) slots for games `b`; copy-on-write of every array."""
    s = {f: getattr(state, f).copy() for f in _FIELDS}
    seat = state.to_move[b]
    dom = state.hands[b, seat, slot]
    k = state.n_played[b].astype(np.int64)
    led = state.led_suit()[b]
    s["held"][b, seat, slot] = False
    s["history"][b, k] = dom
    s["history_seat"][b, k] = seat
    failed = (led >= 0) & ~FOLLOWS[state.decl[b], np.maximum(led, 0), dom]
    s["voids"][b[failed], seat[failed], led[failed]] = True
    s["n_played"][b] = k + 1
    s["to_move"][b] = (seat + 1) % N_SEATS

    closes = (k % 4) == 3
    if closes.any():
        bc, kc = b[closes], k[closes]
        first = kc - 3
        plays = np.stack([s["history"][bc, first + i] for i in range(4)], axis=1)  # [C, 4]
        seats = np.stack([s["history_seat"][bc, first + i] for i in range(4)], axis=1)
        trick_suit = LED_SUIT[state.decl[bc], plays[:, 0]]
        ranks = RANK[state.decl[bc, None], trick_suit[:, None], plays]  # [C, 4]
        winner = seats[np.arange(bc.size), np.argmax(ranks, axis=1)]  # ties: earliest play
        points = 1 + COUNT_POINTS[plays].sum(axis=1)
        s["team_points"][bc, winner % 2] += points
        s["to_move"][bc] = winner
    return GameState(**s)


def seat_outcomes(state: GameState, scoring: Scoring = "win") -> np.ndarray:
    """[B, 4] float32 outcome of each seat at the end of the hand.

    "win": +1 for the team with more of the 42 points, -1 for the other, 0 for 21-21 (the
    original's self-play value target). "bid": the original's bid-graded outcome (reference
    README), which the golden games record as `outcome_by_seat`.
    """
    seat_team = np.arange(N_SEATS) % 2
    mine = state.team_points[:, seat_team].astype(np.float32)  # [B, 4]
    theirs = TOTAL_POINTS - mine
    if scoring == "win":
        return np.sign(mine - theirs).astype(np.float32)
    if scoring != "bid":
        raise ValueError(f"unknown scoring {scoring!r}: use 'win' or 'bid'")
    bidder_team = (state.bidder % 2)[:, None]
    m = state.team_points[np.arange(state.batch_size)[:, None], bidder_team].astype(np.float32)
    bid = state.bid[:, None].astype(np.float32)
    made = 0.5 + 0.5 * np.minimum((m - bid) / TOTAL_POINTS + 0.5, 1.0)
    set_ = -0.5 - 0.5 * np.minimum((bid - m) / TOTAL_POINTS, 1.0)
    bidder_score = np.where(m >= bid, made, set_)  # [B, 1]
    on_bidding_team = seat_team[None, :] == bidder_team
    return np.where(on_bidding_team, bidder_score, -bidder_score).astype(np.float32)


def team0_wins(state: GameState) -> np.ndarray:
    """[B] bool: team 0 took more of the 42 points (a 21-21 tie counts for team 1)."""
    return state.team_points[:, 0] > state.team_points[:, 1]


def concat_states(states: list[GameState]) -> GameState:
    """One batch of the games of several (in order)."""
    fields = GameState.__dataclass_fields__
    return GameState(**{f: np.concatenate([getattr(s, f) for s in states]) for f in fields})


def with_fields(state: GameState, **changes: np.ndarray) -> GameState:
    """A copy of `state` with some arrays replaced (for tests and determinization)."""
    return replace(state, **changes)
