"""Replay buffer: rings, mixed sampling, eval-aux model lag, and the local cache round trip."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from zeb_core.data.examples import Examples
from zeb_core.data.replay import (
    EvalAuxStats,
    ReplayBuffer,
    ReplayCacheError,
    ReplayConfig,
    Ring,
    keep_probability,
)
from zeb_core.data.shards import EVAL_AUX, SELFPLAY, Shard, ShardMeta, synthetic_examples

SMALL = ReplayConfig(selfplay_capacity=50, eval_aux_capacity=20)


def numbered(n: int, start: int = 0, seat: int = 0) -> Examples:
    """Examples whose `value` encodes an id (start + i) / 1000, so rows can be traced."""
    ex = synthetic_examples(n, np.random.default_rng(start))
    value = ((start + np.arange(n)) / 1000).astype(np.float32)
    return Examples(**{**_arrays(ex), "value": value, "seat": np.full(n, seat, np.int8)})


def _arrays(ex: Examples) -> dict[str, np.ndarray]:
    return {f.name: getattr(ex, f.name) for f in fields(Examples)}


def ids(ring: Ring, index: np.ndarray | None = None) -> list[int]:
    index = np.arange(len(ring)) if index is None else index
    return np.rint(ring.arrays["value"][index] * 1000).astype(int).tolist()


def shard(examples: Examples, source: str, model_cycle: int) -> Shard:
    eq = {"eq_win_rate": 0.5, "eq_margin": 0.0} if source == EVAL_AUX else {}
    meta = ShardMeta(
        source=source,
        model_cycle=model_cycle,
        model_step=model_cycle * 1000,
        worker_id="w0",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        n_games=1,
        n_examples=len(examples),
        **eq,
    )
    return Shard(examples=examples, meta=meta)


def test_ring_wraps_and_overwrites_the_oldest() -> None:
    ring = Ring(10)
    ring.add(numbered(7, 0))
    ring.add(numbered(5, 7))
    assert (len(ring), ring.pos, ring.total_added) == (10, 2, 12)
    assert ids(ring) == [10, 11, 2, 3, 4, 5, 6, 7, 8, 9]
    ring.add(numbered(25, 100))  # more than the capacity: only the newest 10 survive
    assert sorted(ids(ring)) == list(range(115, 125))
    assert (len(ring), ring.pos, ring.total_added) == (10, 2, 37)


def test_sample_mixes_sources_by_fraction() -> None:
    buffer = ReplayBuffer(SMALL)
    buffer.selfplay.add(numbered(30, 0, seat=0))
    rng = np.random.default_rng(0)
    only_self = buffer.sample(16, 0.25, rng)  # no eval-aux rows yet: all self-play
    assert not only_self.is_eval_aux.any() and (only_self.examples.seat == 0).all()
    buffer.eval_aux.add(numbered(10, 500, seat=3))
    batch = buffer.sample(64, 0.05, rng)  # round(3.2) = 3 eval-aux rows
    assert len(batch) == 64 and batch.is_eval_aux.sum() == 3
    assert (batch.examples.seat[batch.is_eval_aux] == 3).all()
    assert (batch.examples.seat[~batch.is_eval_aux] == 0).all()
    assert batch.weight.dtype == np.float32 and (batch.weight == 1).all()
    assert buffer.sample(10, 0.25, rng).is_eval_aux.sum() == 3  # 2.5 rounds half up
    batch.examples.validate()


def test_sample_edge_cases() -> None:
    buffer = ReplayBuffer(SMALL)
    buffer.eval_aux.add(numbered(5, 0, seat=3))
    assert buffer.sample(8, 1.0, np.random.default_rng(0)).is_eval_aux.all()
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(8, 0.5, np.random.default_rng(0))


def test_keep_probability_half_life_floor_and_max_lag() -> None:
    c = ReplayConfig()
    assert keep_probability(0, c) == 1.0
    assert keep_probability(200, c) == pytest.approx(0.5)
    assert keep_probability(400, c) == pytest.approx(0.25)
    assert keep_probability(401, c) == 0.0
    assert keep_probability(-5, c) == 1.0  # weights newer than the learner (after a rollback)
    fast = ReplayConfig(max_lag=1000, lag_half_life=10.0, min_keep=0.1)
    assert keep_probability(100, fast) == pytest.approx(0.1)  # 0.5**10 < floor


def test_eval_aux_ingest_applies_lag_and_counts() -> None:
    config = ReplayConfig(selfplay_capacity=10, eval_aux_capacity=4000)
    buffer, rng = ReplayBuffer(config), np.random.default_rng(1)
    fresh = buffer.ingest(shard(synthetic_examples(1000, rng), EVAL_AUX, 500), 500, rng)
    assert (fresh.lag, fresh.kept, fresh.dropped, fresh.stale) == (0, 1000, 0, 0)
    half = buffer.ingest(shard(synthetic_examples(2000, rng), EVAL_AUX, 300), 500, rng)
    assert half.lag == 200 and abs(half.kept - 1000) < 4 * np.sqrt(2000 * 0.25)
    stale = buffer.ingest(shard(synthetic_examples(300, rng), EVAL_AUX, 99), 500, rng)
    assert (stale.lag, stale.kept, stale.stale) == (401, 0, 300)
    s = buffer.eval_aux_stats
    assert (s.seen, s.kept, s.stale) == (3300, 1000 + half.kept, 300)
    assert s.seen == s.kept + s.dropped + s.stale
    assert (s.shards_ingested, s.shards_stale, s.lag_max, s.lag_mean) == (2, 1, 200, 100.0)
    assert len(buffer.eval_aux) == s.kept and len(buffer.selfplay) == 0
    logged = buffer.stats()
    assert logged["eval_aux/stale"] == 300 and logged["eval_aux/lag_mean"] == 100.0


def test_selfplay_ingest_keeps_everything_whatever_the_lag() -> None:
    buffer, rng = ReplayBuffer(SMALL), np.random.default_rng(2)
    result = buffer.ingest(shard(numbered(12), SELFPLAY, 0), 10_000, rng)
    assert (result.source, result.kept) == (SELFPLAY, 12)
    assert ids(buffer.selfplay) == list(range(12))
    assert buffer.eval_aux_stats == EvalAuxStats()


def filled_buffer() -> ReplayBuffer:
    buffer, rng = ReplayBuffer(SMALL), np.random.default_rng(3)
    buffer.selfplay.add(numbered(70, 0))  # wrapped: pos 20
    buffer.ingest(shard(numbered(15, 500), EVAL_AUX, 90), 100, rng)
    buffer.ingest(shard(numbered(5, 600), EVAL_AUX, 0), 500, rng)  # stale
    return buffer


def test_cache_round_trip_restores_rows_positions_and_counters(tmp_path: Path) -> None:
    buffer = filled_buffer()
    path = buffer.save(tmp_path / "cache" / "replay.npz")
    assert [p.name for p in path.parent.iterdir()] == ["replay.npz"]
    back = ReplayBuffer.load(path, SMALL)
    for source, ring in buffer.rings.items():
        other = back.rings[source]
        assert (other.size, other.pos, other.total_added) == (ring.size, ring.pos, ring.total_added)
        for name, arr in ring.arrays.items():
            assert np.array_equal(other.arrays[name][: ring.size], arr[: ring.size]), name
    assert asdict(back.eval_aux_stats) == asdict(buffer.eval_aux_stats)
    a = buffer.sample(32, 0.25, np.random.default_rng(9))
    b = back.sample(32, 0.25, np.random.default_rng(9))
    assert np.array_equal(a.examples.tokens, b.examples.tokens)
    assert np.array_equal(a.examples.value, b.examples.value)


def test_cache_loads_into_another_capacity_keeping_the_newest(tmp_path: Path) -> None:
    path = filled_buffer().save(tmp_path / "replay.npz")
    smaller = ReplayBuffer.load(path, ReplayConfig(selfplay_capacity=8, eval_aux_capacity=20))
    assert sorted(ids(smaller.selfplay)) == list(range(62, 70))
    assert smaller.selfplay.total_added == 70


def test_bad_caches_are_rejected(tmp_path: Path) -> None:
    path = filled_buffer().save(tmp_path / "replay.npz")
    data = path.read_bytes()
    (tmp_path / "truncated.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ReplayCacheError, match="truncated.npz"):
        ReplayBuffer.load(tmp_path / "truncated.npz", SMALL)
    with pytest.raises(ReplayCacheError, match="unreadable"):
        ReplayBuffer.load(tmp_path / "absent.npz", SMALL)
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays.pop("meta")))
    newer = tmp_path / "newer.npz"
    np.savez(newer, meta=np.array(json.dumps({**meta, "format": 99})), **arrays)
    with pytest.raises(ReplayCacheError, match="format 99"):
        ReplayBuffer.load(newer, SMALL)
    arrays[f"{SELFPLAY}.value"] = arrays[f"{SELFPLAY}.value"] + 5
    out_of_range = tmp_path / "range.npz"
    np.savez(out_of_range, meta=np.array(json.dumps(meta)), **arrays)
    with pytest.raises(ReplayCacheError, match="value"):
        ReplayBuffer.load(out_of_range, SMALL)
