"""Observation tokenizer v1: what one seat sees, as 36 tokens of 8 small-integer features.

Token 0 is the declaration, tokens 1..7 the observer's hand slots, tokens 8..35 every play of the
hand so far (oldest first). Features, in order: high pip, low pip, is_double, count class, relative
player, is_in_hand, declaration, token type. Padding tokens are all zeros and masked out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zeb_core.game.engine import GameState, legal_mask
from zeb_core.game.rules import DOMINO_FEATURES, HAND_SIZE, N_SEATS

TOKENIZER_VERSION = "v1"
N_TOKENS = 36
N_FEATURES = 8
FEATURE_CARDINALITY = (7, 7, 2, 3, 4, 2, 10, 3)
FEATURE_NAMES = (
    "high_pip", "low_pip", "is_double", "count", "player", "is_in_hand", "decl", "token_type",
)  # fmt: skip
HAND_TOKENS = slice(1, 1 + HAND_SIZE)
PLAY_TOKENS = slice(1 + HAND_SIZE, N_TOKENS)
TYPE_DECL, TYPE_HAND, TYPE_PLAY = 0, 1, 2


@dataclass(frozen=True)
class Observation:
    tokens: np.ndarray  # [B, 36, 8] uint8
    token_mask: np.ndarray  # [B, 36] bool, True = a real token
    legal: np.ndarray  # [B, 7] bool legal hand slots (all False where the observer is not to move)


def observe(state: GameState, seat: np.ndarray | int | None = None) -> Observation:
    """Tokenize what `seat` (default: the mover of each game) sees."""
    batch = state.batch_size
    b = np.arange(batch)
    seat_arr = state.to_move if seat is None else np.broadcast_to(np.asarray(seat), (batch,))
    seat_arr = seat_arr.astype(np.int64)
    tokens = np.zeros((batch, N_TOKENS, 8), dtype=np.uint8)
    decl = state.decl.astype(np.uint8)

    tokens[:, 0, 6] = decl
    held = state.held[b, seat_arr]  # [B, 7]
    hand_feats = DOMINO_FEATURES[state.hands[b, seat_arr]]  # [B, 7, 4]
    hand = tokens[:, HAND_TOKENS]
    hand[..., 0:4] = hand_feats * held[..., None]
    hand[..., 5] = held
    hand[..., 6] = decl[:, None] * held
    hand[..., 7] = TYPE_HAND * held

    played = np.arange(state.history.shape[1])[None, :] < state.n_played[:, None]  # [B, 28]
    play_feats = DOMINO_FEATURES[np.maximum(state.history, 0)]  # [B, 28, 4]
    plays = tokens[:, PLAY_TOKENS]
    plays[..., 0:4] = play_feats * played[..., None]
    plays[..., 4] = ((state.history_seat - seat_arr[:, None]) % N_SEATS) * played
    plays[..., 6] = decl[:, None] * played
    plays[..., 7] = TYPE_PLAY * played

    token_mask = np.concatenate([np.ones((batch, 1), dtype=bool), held, played], axis=1)
    legal = legal_mask(state) & (seat_arr == state.to_move)[:, None]
    return Observation(tokens=tokens, token_mask=token_mask, legal=legal)
