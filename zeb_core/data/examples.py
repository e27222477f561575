"""Training examples: one row per decision, a struct of arrays with a shared leading dimension.

Compact dtypes by design (a 500k replay buffer must fit in 300 MB): tokens fit in uint8, the
belief target is a small int with -1 for "masked".
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from zeb_core.game.engine import GameState
from zeb_core.game.rules import N_DOMINOES, N_SEATS
from zeb_core.game.sampling import sample_worlds
from zeb_core.game.tokenizer import N_FEATURES, N_TOKENS

N_SLOTS = 7
BELIEF_MASKED = -1  # belief target for a domino the observer can see (own hand or played)

# name -> (dtype, shape after the leading N)
EXAMPLE_FIELDS: dict[str, tuple[np.dtype, tuple[int, ...]]] = {
    "tokens": (np.dtype(np.uint8), (N_TOKENS, N_FEATURES)),  # tokenizer v1 observation
    "token_mask": (np.dtype(np.bool_), (N_TOKENS,)),  # True = a real token
    "legal": (np.dtype(np.bool_), (N_SLOTS,)),  # legal hand slots at the decision
    "policy": (np.dtype(np.float32), (N_SLOTS,)),  # search target: visit shares or Gumbel's
    "value": (np.dtype(np.float32), ()),  # the deciding seat's final outcome, in [-1, 1]
    "belief": (np.dtype(np.int8), (N_DOMINOES,)),  # holder as relative seat - 1 (0..2), or -1
    # The sampled posterior of each hidden domino's holder, in 255ths (0 where masked): what the
    # mover can know, a target without the deal's noise (`belief_posterior`).
    "belief_soft": (np.dtype(np.uint8), (N_DOMINOES, N_SEATS - 1)),
    "seat": (np.dtype(np.int8), ()),  # absolute seat that decided (0..3)
}
SOFT_SCALE = 255  # belief_soft units per probability 1
POSTERIOR_WORLDS = 32  # deals sampled per decision for the posterior


@dataclass(frozen=True)
class Examples:
    tokens: np.ndarray  # [N, 36, 8] uint8
    token_mask: np.ndarray  # [N, 36] bool
    legal: np.ndarray  # [N, 7] bool
    policy: np.ndarray  # [N, 7] float32
    value: np.ndarray  # [N] float32
    belief: np.ndarray  # [N, 28] int8
    belief_soft: np.ndarray  # [N, 28, 3] uint8
    seat: np.ndarray  # [N] int8

    def __len__(self) -> int:
        return int(self.value.shape[0])

    def take(self, index: np.ndarray | slice) -> Examples:
        return Examples(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(parts: list[Examples]) -> Examples:
        if not parts:
            return empty_examples()
        names = [f.name for f in fields(Examples)]
        return Examples(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})

    def validate(self) -> None:
        """Shapes, dtypes and ranges; raises ValueError naming the first bad field."""
        n = len(self)
        for name, (dtype, shape) in EXAMPLE_FIELDS.items():
            arr = getattr(self, name)
            if arr.dtype != dtype or arr.shape != (n, *shape):
                raise ValueError(
                    f"field {name}: expected {dtype}{[n, *shape]}, got {arr.dtype}{list(arr.shape)}"
                )
        if n and not (self.legal.any(axis=1)).all():
            raise ValueError("field legal: a decision with no legal slot")
        if not np.isfinite(self.policy).all() or (self.policy < 0).any():
            raise ValueError("field policy: negative or non-finite entries")
        if n and (np.abs(self.policy.sum(axis=1) - 1) > 1e-3).any():
            raise ValueError("field policy: rows must sum to 1")
        if (self.policy * ~self.legal).any():
            raise ValueError("field policy: mass on illegal slots")
        if not np.isfinite(self.value).all() or (np.abs(self.value) > 1).any():
            raise ValueError("field value: entries outside [-1, 1]")
        if ((self.belief < -1) | (self.belief > 2)).any():
            raise ValueError("field belief: entries outside -1..2")
        soft = self.belief_soft.sum(axis=2, dtype=np.int64)  # [N, 28]
        hidden = self.belief >= 0
        if (soft[~hidden] != 0).any() or (np.abs(soft[hidden] - SOFT_SCALE) > 2).any():
            raise ValueError("field belief_soft: rows must sum to 255 exactly where hidden")
        if ((self.seat < 0) | (self.seat > 3)).any():
            raise ValueError("field seat: entries outside 0..3")


def empty_examples(n: int = 0) -> Examples:
    return Examples(
        **{name: np.zeros((n, *shape), dtype=dt) for name, (dt, shape) in EXAMPLE_FIELDS.items()}
    )


def bytes_per_example() -> int:
    return sum(
        int(np.prod(shape, dtype=np.int64)) * dt.itemsize for dt, shape in EXAMPLE_FIELDS.values()
    )


def belief_targets(state: GameState) -> np.ndarray:
    """[B, 28] int8: which other seat holds each domino, as relative seat - 1 (0 left,
    1 partner, 2 right), from the mover's view; -1 where the mover knows it (own or played)."""
    b = state.batch_size
    owner = np.full((b, N_DOMINOES), -1, np.int64)  # absolute seat holding the domino now
    rows, seats, slots = np.nonzero(state.held)
    owner[rows, state.hands[rows, seats, slots]] = seats
    relative = (owner - state.to_move[:, None].astype(np.int64)) % N_SEATS
    hidden = (owner >= 0) & (relative != 0)
    return np.where(hidden, relative - 1, BELIEF_MASKED).astype(np.int8)


def one_hot_soft(belief: np.ndarray) -> np.ndarray:
    """[N, 28, 3] uint8 soft targets that put all the mass on the true holder (0 if masked)."""
    soft = np.zeros((*belief.shape, N_SEATS - 1), np.uint8)
    rows, doms = np.nonzero(belief >= 0)
    soft[rows, doms, belief[rows, doms]] = SOFT_SCALE
    return soft


def belief_posterior(
    state: GameState, rng: np.random.Generator, worlds: int = POSTERIOR_WORLDS
) -> np.ndarray:
    """[B, 28, 3] uint8: how often each other seat holds each hidden domino over `worlds` deals
    drawn uniformly among those consistent with what the mover has seen, in 255ths."""
    holders = belief_targets(sample_worlds(state, worlds, rng)).reshape(
        state.batch_size, worlds, -1
    )
    counts = np.stack([(holders == k).sum(axis=1) for k in range(N_SEATS - 1)], axis=-1)
    return _to_255ths(counts, worlds)


def _to_255ths(counts: np.ndarray, total: int) -> np.ndarray:
    """Counts of `total` as 255ths that sum to exactly 255 (largest remainders get the rest)."""
    exact = counts * (SOFT_SCALE / total)
    units = np.floor(exact).astype(np.int64)
    short = SOFT_SCALE - units.sum(axis=-1, keepdims=True)  # [.., 1], 0 where masked (all 0)
    short = np.where(counts.sum(axis=-1, keepdims=True) > 0, short, 0)
    order = np.argsort(-(exact - units), axis=-1, kind="stable")
    bump = np.zeros_like(units)
    np.put_along_axis(bump, order, (np.arange(counts.shape[-1]) < short).astype(np.int64), -1)
    return (units + bump).astype(np.uint8)
