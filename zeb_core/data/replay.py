"""Replay buffer: one preallocated ring per source, mixed batches, eval-aux model-lag filtering.

Memory: the Examples fields (392 bytes) plus a float32 sample weight = 396 bytes per example, so
the default 500k self-play ring takes 198 MB and the 100k eval-aux ring 40 MB (`bench/replay.py`).

Eval-aux ingest (the original's flags): `lag = learner_cycle - shard.meta.model_cycle` (negative
lag, e.g. after a rollback, counts as 0). A shard with `lag > max_lag` is dropped whole; otherwise
each example is kept independently with probability `max(min_keep, 0.5 ** (lag / half_life))`.
Down-weighting is done by this subsampling, so kept rows enter with sample weight 1.0.

Counters (`EvalAuxStats`, cumulative since the buffer was created, saved with the cache):
    seen    = examples in every eval-aux shard offered to `ingest`
    kept    = examples written to the eval-aux ring
    dropped = examples of shards within max_lag that lost the keep-probability draw
    stale   = examples of shards dropped whole because their lag exceeded max_lag
so seen == kept + dropped + stale. Lag statistics cover ingested (not stale) shards only.

The local replay cache (`save` / `load`) is an uncompressed `.npz` (format `REPLAY_CACHE_FORMAT`)
holding each ring's filled rows, its write position and the counters, written atomically.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zeb_core.atomic_files import atomic_open
from zeb_core.data.examples import EXAMPLE_FIELDS, Examples
from zeb_core.data.shards import EVAL_AUX, SELFPLAY, Shard

REPLAY_CACHE_FORMAT = 2  # 2: examples carry belief_soft (an older cache re-ingests)
SOURCES = (SELFPLAY, EVAL_AUX)


class ReplayCacheError(ValueError):
    """The local replay cache is unreadable or of another format (discard it and start empty)."""


@dataclass(frozen=True)
class ReplayConfig:
    selfplay_capacity: int = 500_000  # --replay-buffer-size
    eval_aux_capacity: int = 100_000  # --eval-aux-replay-buffer-size
    max_lag: int = 400  # cycles; older eval-aux shards are dropped whole
    lag_half_life: float = 200.0  # cycles; keep probability halves every half-life
    min_keep: float = 0.10  # floor of the keep probability (within max_lag)


@dataclass
class EvalAuxStats:
    seen: int = 0
    kept: int = 0
    dropped: int = 0
    stale: int = 0
    shards_ingested: int = 0
    shards_stale: int = 0
    lag_sum: int = 0  # over ingested shards
    lag_max: int = 0  # over ingested shards

    @property
    def lag_mean(self) -> float:
        return self.lag_sum / self.shards_ingested if self.shards_ingested else 0.0


@dataclass(frozen=True)
class IngestResult:
    source: str
    lag: int  # 0 for self-play
    kept: int
    dropped: int
    stale: int


@dataclass(frozen=True)
class TrainBatch:
    examples: Examples  # [B, ...]
    is_eval_aux: np.ndarray  # [B] bool: the row came from the eval-aux ring
    weight: np.ndarray  # [B] float32 sample weight

    def __len__(self) -> int:
        return len(self.examples)


class Ring:
    """A fixed-capacity ring of examples; the oldest rows are overwritten first."""

    def __init__(self, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"ring capacity must be positive, got {capacity}")
        self.capacity = capacity
        self.arrays = {
            name: np.zeros((capacity, *shape), dtype=dt)
            for name, (dt, shape) in EXAMPLE_FIELDS.items()
        }
        self.arrays["weight"] = np.zeros(capacity, np.float32)
        self.size = 0  # rows filled
        self.pos = 0  # next row written
        self.total_added = 0  # rows ever added (overwritten ones included)

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.arrays.values())

    def add(self, examples: Examples, weight: float | np.ndarray = 1.0) -> None:
        n = len(examples)
        cols = {name: getattr(examples, name) for name in EXAMPLE_FIELDS}
        cols["weight"] = np.broadcast_to(np.asarray(weight, np.float32), (n,))
        self.total_added += n
        if n > self.capacity:  # only the newest `capacity` rows would survive anyway
            cols = {k: v[n - self.capacity :] for k, v in cols.items()}
            n = self.capacity
        first = min(n, self.capacity - self.pos)  # rows before the wrap
        for name, src in cols.items():
            dst = self.arrays[name]
            dst[self.pos : self.pos + first] = src[:first]
            dst[: n - first] = src[first:]
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def take(self, index: np.ndarray) -> tuple[Examples, np.ndarray]:
        ex = Examples(**{name: self.arrays[name][index] for name in EXAMPLE_FIELDS})
        return ex, self.arrays["weight"][index]


def chronological(size: int, capacity: int, pos: int) -> np.ndarray:
    """Row indices of a ring, oldest first (to move rows into a ring of another capacity)."""
    if size < capacity:
        return np.arange(size)
    return (np.arange(capacity) + pos) % capacity


def keep_probability(lag: int, config: ReplayConfig) -> float:
    """max(min_keep, 0.5 ** (lag / half_life)); 0 beyond max_lag."""
    lag = max(lag, 0)
    if lag > config.max_lag:
        return 0.0
    return max(config.min_keep, 0.5 ** (lag / config.lag_half_life))


class ReplayBuffer:
    """Both rings and the eval-aux counters. Capacities are fixed when built; the lag settings
    are read at every ingest, so the learner may swap `config` for its live controls."""

    def __init__(self, config: ReplayConfig | None = None) -> None:
        self.config = config or ReplayConfig()
        self.rings = {
            SELFPLAY: Ring(self.config.selfplay_capacity),
            EVAL_AUX: Ring(self.config.eval_aux_capacity),
        }
        self.eval_aux_stats = EvalAuxStats()

    @property
    def selfplay(self) -> Ring:
        return self.rings[SELFPLAY]

    @property
    def eval_aux(self) -> Ring:
        return self.rings[EVAL_AUX]

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in self.rings.values())

    def ingest(self, shard: Shard, learner_cycle: int, rng: np.random.Generator) -> IngestResult:
        """Add a validated shard to its source's ring (eval-aux: with the model-lag filter)."""
        if shard.meta.source == SELFPLAY:
            self.selfplay.add(shard.examples)
            return IngestResult(SELFPLAY, 0, len(shard.examples), 0, 0)
        return self.add_eval_aux(shard.examples, learner_cycle - shard.meta.model_cycle, rng)

    def add_eval_aux(self, examples: Examples, lag: int, rng: np.random.Generator) -> IngestResult:
        lag, n, stats = max(lag, 0), len(examples), self.eval_aux_stats
        stats.seen += n
        if lag > self.config.max_lag:
            stats.stale += n
            stats.shards_stale += 1
            return IngestResult(EVAL_AUX, lag, 0, 0, n)
        keep = rng.random(n) < keep_probability(lag, self.config)
        self.eval_aux.add(examples.take(keep))
        kept = int(keep.sum())
        stats.kept += kept
        stats.dropped += n - kept
        stats.shards_ingested += 1
        stats.lag_sum += lag
        stats.lag_max = max(stats.lag_max, lag)
        return IngestResult(EVAL_AUX, lag, kept, n - kept, 0)

    def sample(self, batch_size: int, eval_fraction: float, rng: np.random.Generator) -> TrainBatch:
        """Uniform with replacement; round-half-up(eval_fraction * batch) rows from eval-aux when it
        holds any, the rest from self-play. Self-play rows come first in the batch."""
        if not 0.0 <= eval_fraction <= 1.0:
            raise ValueError(f"eval_fraction must be in [0, 1], got {eval_fraction}")
        n_eval = int(np.floor(eval_fraction * batch_size + 0.5)) if len(self.eval_aux) else 0
        parts = [(self.selfplay, batch_size - n_eval), (self.eval_aux, n_eval)]
        taken = [self._draw(ring, n, rng) for ring, n in parts if n > 0]
        return TrainBatch(
            examples=Examples.concat([ex for ex, _ in taken]),
            is_eval_aux=np.arange(batch_size) >= batch_size - n_eval,
            weight=np.concatenate([w for _, w in taken]),
        )

    @staticmethod
    def _draw(ring: Ring, n: int, rng: np.random.Generator) -> tuple[Examples, np.ndarray]:
        if not len(ring):
            raise ValueError(
                f"cannot sample {n} rows from an empty ring (no self-play examples yet)"
            )
        return ring.take(rng.integers(0, len(ring), n))

    def stats(self) -> dict[str, float]:
        """Flat numbers for logging."""
        out: dict[str, float] = {f"replay/{s}_size": len(r) for s, r in self.rings.items()}
        out |= {f"replay/{s}_added": r.total_added for s, r in self.rings.items()}
        out |= {f"eval_aux/{k}": v for k, v in asdict(self.eval_aux_stats).items()}
        out["eval_aux/lag_mean"] = self.eval_aux_stats.lag_mean
        return out

    # -- the local replay cache -------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        meta = _CacheMeta(
            rings={s: _RingMeta.of(r) for s, r in self.rings.items()},
            eval_aux_stats=asdict(self.eval_aux_stats),
        )
        arrays = {
            f"{s}.{name}": arr[: len(ring)]
            for s, ring in self.rings.items()
            for name, arr in ring.arrays.items()
        }
        path = Path(path)
        with atomic_open(path) as f:  # uncompressed: a 200 MB cache saves in about a second
            np.savez(f, meta=np.array(meta.model_dump_json()), **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path, config: ReplayConfig | None = None) -> ReplayBuffer:
        """Restore a saved buffer into one of `config`'s capacities (positions kept when equal)."""
        buffer = cls(config)
        meta, arrays = _read_cache(Path(path))
        for source, ring in buffer.rings.items():
            _restore_ring(ring, meta.rings[source], arrays, source, str(path))
        buffer.eval_aux_stats = EvalAuxStats(**meta.eval_aux_stats)
        return buffer


# -- cache helpers --------------------------------------------------------------------------------


class _RingMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    capacity: int = Field(gt=0)
    size: int = Field(ge=0)
    pos: int = Field(ge=0)
    total_added: int = Field(ge=0)

    @classmethod
    def of(cls, ring: Ring) -> _RingMeta:
        return cls(
            capacity=ring.capacity, size=ring.size, pos=ring.pos, total_added=ring.total_added
        )


class _CacheMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: int = REPLAY_CACHE_FORMAT
    rings: dict[str, _RingMeta]
    eval_aux_stats: dict[str, int] = Field(default_factory=dict)


def _read_cache(path: Path) -> tuple[_CacheMeta, dict[str, np.ndarray]]:
    try:
        # Our own handle: np.load(path) leaks its file when the archive is truncated.
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # missing, truncated, corrupt: all mean "start from empty"
        raise ReplayCacheError(f"{path}: unreadable replay cache ({_first_line(exc)})") from None
    try:
        raw = json.loads(str(arrays.pop("meta")))
        if raw.get("format") != REPLAY_CACHE_FORMAT:
            raise ValueError(f"format {raw.get('format')!r}, this zeb reads {REPLAY_CACHE_FORMAT}")
        meta = _CacheMeta.model_validate(raw)
        EvalAuxStats(**meta.eval_aux_stats)
        if set(meta.rings) != set(SOURCES):
            raise ValueError(f"rings {sorted(meta.rings)}, expected {sorted(SOURCES)}")
    except (KeyError, AttributeError, TypeError, ValueError, ValidationError) as exc:
        raise ReplayCacheError(f"{path}: bad replay cache meta ({_first_line(exc)})") from None
    return meta, arrays


def _restore_ring(
    ring: Ring, meta: _RingMeta, arrays: dict[str, np.ndarray], source: str, name: str
) -> None:
    try:
        cols = {k: arrays[f"{source}.{k}"] for k in ring.arrays}
        examples = Examples(**{k: cols[k] for k in EXAMPLE_FIELDS})
        examples.validate()
        if len(examples) != meta.size or cols["weight"].shape != (meta.size,):
            raise ValueError(f"{len(examples)} rows, meta says {meta.size}")
        if meta.size > meta.capacity or meta.pos >= meta.capacity:
            raise ValueError(f"size {meta.size} / pos {meta.pos} outside capacity {meta.capacity}")
    except (KeyError, ValueError) as exc:
        raise ReplayCacheError(f"{name}: {source} ring: {_first_line(exc)}") from None
    if meta.capacity == ring.capacity:  # same layout: restore rows and positions exactly
        for k, col in cols.items():
            ring.arrays[k][: meta.size] = col
        ring.size, ring.pos = meta.size, meta.pos
    else:  # another capacity: replay the rows oldest first (the newest survive)
        order = chronological(meta.size, meta.capacity, meta.pos)
        ring.add(examples.take(order), cols["weight"][order])
    ring.total_added = meta.total_added


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:160]
