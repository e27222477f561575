"""Texas 42 rule tables, built once at import (see ../shared/reference/RULES.md).

Every table is indexed by domino id (0..27, `id = high*(high+1)/2 + low`), declaration id (0..9)
and, where it matters, the led suit (0..6 = that pip, 7 = the called suit).
"""

from __future__ import annotations

import numpy as np

N_DOMINOES = 28
N_SEATS = 4
HAND_SIZE = 7
N_DECLS = 10
N_SUITS = 8  # pips 0..6 and 7 = the called suit
CALLED_SUIT = 7
TOTAL_POINTS = 42
DECL_DOUBLES_TRUMP = 7
DECL_DOUBLES_SUIT = 8
DECL_NO_TRUMP = 9
DECL_NAMES = (
    "0s trump", "1s trump", "2s trump", "3s trump", "4s trump", "5s trump", "6s trump",
    "doubles trump", "doubles suit", "no trump",
)  # fmt: skip


def _build_dominoes() -> tuple[np.ndarray, np.ndarray]:
    high = np.array([h for h in range(7) for _ in range(h + 1)], dtype=np.int8)
    low = np.array([lo for h in range(7) for lo in range(h + 1)], dtype=np.int8)
    return high, low


HIGH, LOW = _build_dominoes()
IS_DOUBLE = HIGH == LOW
_COUNTS = {(5, 5): 10, (6, 4): 10, (5, 0): 5, (4, 1): 5, (3, 2): 5}
COUNT_POINTS = np.array(
    [_COUNTS.get((int(h), int(lo)), 0) for h, lo in zip(HIGH, LOW, strict=True)], dtype=np.int8
)
COUNT_CLASS = (COUNT_POINTS // 5).astype(np.int8)  # tokenizer feature: 0 / 5 / 10 points -> 0/1/2
PIP_SUM = (HIGH + LOW).astype(np.int8)


def domino_id(high: int, low: int) -> int:
    """Domino id from its two pips, in either order."""
    hi, lo = max(high, low), min(high, low)
    if not 0 <= lo <= hi <= 6:
        raise ValueError(f"no domino {high}-{low}: pips must be 0..6")
    return hi * (hi + 1) // 2 + lo


def domino_name(d: int) -> str:
    return f"{HIGH[d]}-{LOW[d]}"


def _build_called() -> np.ndarray:
    called = np.zeros((N_DECLS, N_DOMINOES), dtype=bool)
    for pip in range(7):
        called[pip] = (HIGH == pip) | (LOW == pip)
    called[DECL_DOUBLES_TRUMP] = IS_DOUBLE
    called[DECL_DOUBLES_SUIT] = IS_DOUBLE
    return called


CALLED = _build_called()  # [10, 28] the domino belongs to the called suit
# The led suit when a domino leads: the called suit if it is called (never in no trump), else its
# high pip (in no trump a double leads its own pip).
LED_SUIT = np.where(CALLED, CALLED_SUIT, HIGH[None, :]).astype(np.int8)  # [10, 28]


def _build_follows() -> np.ndarray:
    follows = np.zeros((N_DECLS, N_SUITS, N_DOMINOES), dtype=bool)
    for decl in range(N_DECLS):
        follows[decl, CALLED_SUIT] = CALLED[decl]
        for pip in range(7):
            # With 3s trump the 6-3 is a trump, never a six.
            follows[decl, pip] = ((HIGH == pip) | (LOW == pip)) & ~CALLED[decl]
    return follows


FOLLOWS = _build_follows()  # [10, 8, 28] the domino follows that led suit


def _build_rank() -> np.ndarray:
    rank = np.zeros((N_DECLS, N_SUITS, N_DOMINOES), dtype=np.int8)
    pip_rank = np.where(IS_DOUBLE, 14, PIP_SUM)  # double highest, then pip sum
    for decl in range(N_DECLS):
        for suit in range(N_SUITS):
            follow_r = HIGH if suit == CALLED_SUIT else pip_rank
            rank[decl, suit] = np.where(FOLLOWS[decl, suit], 16 + follow_r, 0)
            if decl <= DECL_DOUBLES_TRUMP:  # trump power: tier 2 beats everything
                trump_r = HIGH if decl == DECL_DOUBLES_TRUMP else pip_rank
                rank[decl, suit] = np.where(CALLED[decl], 32 + trump_r, rank[decl, suit])
    return rank


RANK = _build_rank()  # [10, 8, 28] trick rank of a domino given declaration and led suit
DOMINO_FEATURES = np.stack([HIGH, LOW, IS_DOUBLE.astype(np.int8), COUNT_CLASS], axis=1).astype(
    np.uint8
)  # [28, 4] tokenizer features 0..3

for _table in (HIGH, LOW, IS_DOUBLE, COUNT_POINTS, COUNT_CLASS, CALLED, LED_SUIT, FOLLOWS, RANK):
    _table.flags.writeable = False
assert int(COUNT_POINTS.sum()) + HAND_SIZE == TOTAL_POINTS
