"""Example shards: round trips, atomic writes, and a clear rejection for every kind of bad shard."""

from __future__ import annotations

import io
import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from zeb_core.atomic_files import atomic_open
from zeb_core.data.examples import EXAMPLE_FIELDS, Examples
from zeb_core.data.shards import (
    EVAL_AUX,
    SELFPLAY,
    ShardError,
    ShardMeta,
    read_shard,
    shard_from_bytes,
    shard_name,
    shard_to_bytes,
    synthetic_examples,
    write_shard,
)

NOW = datetime(2026, 11, 25, 12, 0, 5, tzinfo=UTC)


def meta_for(examples: Examples, source: str = SELFPLAY, **changes: object) -> ShardMeta:
    eq = {"eq_win_rate": 0.6, "eq_margin": 3.5} if source == EVAL_AUX else {}
    base = dict(
        source=source,
        model_cycle=12,
        model_step=12_000,
        weights_revision="abc123",
        worker_id="exp-worker-vast-3",
        created_at=NOW,
        n_games=5,
        n_examples=len(examples),
        **eq,
    )
    return ShardMeta(**{**base, **changes})


@pytest.fixture
def examples() -> Examples:
    return synthetic_examples(40, np.random.default_rng(7))


def raw_shard(arrays: dict[str, np.ndarray], meta: dict | str) -> bytes:
    """Encode without the writer's checks, to build bad shards."""
    buf = io.BytesIO()
    text = meta if isinstance(meta, str) else json.dumps(meta)
    np.savez_compressed(buf, meta=np.array(text), **arrays)
    return buf.getvalue()


def arrays_of(examples: Examples) -> dict[str, np.ndarray]:
    return {f.name: getattr(examples, f.name) for f in fields(Examples)}


def assert_equal_examples(a: Examples, b: Examples) -> None:
    for f in fields(Examples):
        x, y = getattr(a, f.name), getattr(b, f.name)
        assert x.dtype == y.dtype and np.array_equal(x, y), f.name


@pytest.mark.parametrize("source", [SELFPLAY, EVAL_AUX])
def test_round_trip_through_bytes_and_file(tmp_path: Path, examples: Examples, source: str) -> None:
    meta = meta_for(examples, source)
    back = shard_from_bytes(shard_to_bytes(examples, meta), "x")
    assert back.meta == meta
    assert_equal_examples(back.examples, examples)
    path = write_shard(tmp_path / "sub" / "s.npz", examples, meta)
    again = read_shard(path)
    assert again.meta == meta
    assert_equal_examples(again.examples, examples)
    assert [p.name for p in path.parent.iterdir()] == ["s.npz"]  # no temporary file left


def test_compact_on_disk(examples: Examples) -> None:
    data = shard_to_bytes(examples, meta_for(examples))
    assert len(data) < 200 * len(examples)  # tokens compress well; the arrays hold 392 B/row


def test_file_name_sorts_by_time_and_is_utc() -> None:
    plus2 = NOW.astimezone(timezone(timedelta(hours=2)))
    assert shard_name("w-0", plus2, 7) == "w-0-20261125T120005Z-000007.npz"
    later = shard_name("w-0", NOW + timedelta(seconds=1), 0)
    assert sorted([later, shard_name("w-0", NOW, 9)])[-1] == later
    with pytest.raises(ValueError):
        shard_name("bad/worker", NOW, 0)


def test_writer_refuses_bad_data_and_leaves_no_file(tmp_path: Path, examples: Examples) -> None:
    with pytest.raises(ValueError, match="n_examples"):
        write_shard(tmp_path / "a.npz", examples, meta_for(examples, n_examples=3))
    bad = Examples(**{**arrays_of(examples), "value": examples.value * 5})
    with pytest.raises(ValueError, match="value"):
        write_shard(tmp_path / "b.npz", bad, meta_for(examples))
    assert list(tmp_path.iterdir()) == []


def test_meta_schema(examples: Examples) -> None:
    fields = meta_for(examples).model_dump()
    with pytest.raises(ValidationError, match="extra"):
        ShardMeta(**fields, x=1)
    with pytest.raises(ValidationError, match="eq_win_rate"):
        ShardMeta(**{**fields, "source": EVAL_AUX})  # eval-aux must report the E[Q] figures
    with pytest.raises(ValidationError, match="worker_id"):
        ShardMeta(**{**fields, "worker_id": "a/b"})


def good_meta_dict(examples: Examples) -> dict:
    return json.loads(meta_for(examples).model_dump_json())


BAD_META = {
    "newer format": ({"format": 3}, "shard format 3"),
    "other tokenizer": ({"tokenizer_version": "v2"}, "tokenizer_version"),
    "other engine": ({"engine_version": 0}, "engine_version"),
    "unknown key": ({"colour": "red"}, "colour"),
    "unknown source": ({"source": "selfplay-greedy"}, "source"),
    "negative cycle": ({"model_cycle": -1}, "model_cycle"),
    "naive time": ({"created_at": "2026-11-25T12:00:00"}, "created_at"),
    "count mismatch": ({"n_examples": 39}, "39 examples"),
    "bad value target": ({"value_target": "points"}, "value_target"),
}


@pytest.mark.parametrize("case", sorted(BAD_META))
def test_bad_meta_is_rejected(examples: Examples, case: str) -> None:
    change, reason = BAD_META[case]
    data = raw_shard(arrays_of(examples), {**good_meta_dict(examples), **change})
    check_rejected(data, reason)


def with_field(examples: Examples, **changes: np.ndarray) -> dict[str, np.ndarray]:
    return {**arrays_of(examples), **changes}


def bad_arrays(ex: Examples) -> dict[str, tuple[dict[str, np.ndarray], str]]:
    value_out = ex.value.copy()
    value_out[3] = 1.5
    belief_out = ex.belief.copy()
    belief_out[0, 0] = 3
    tokens_out = ex.tokens.copy()
    tokens_out[0, 0, 2] = 2  # is_double has 2 values
    missing = arrays_of(ex)
    del missing["seat"]
    return {
        "value out of range": (with_field(ex, value=value_out), "field value"),
        "belief out of range": (with_field(ex, belief=belief_out), "field belief"),
        "token feature out of range": (with_field(ex, tokens=tokens_out), "field tokens"),
        "wrong dtype": (with_field(ex, policy=ex.policy.astype(np.float64)), "field policy"),
        "wrong shape": (with_field(ex, seat=ex.seat[:-1]), "field seat"),
        "missing array": (missing, "missing ['seat']"),
        "extra array": (with_field(ex, extra=ex.seat), "unexpected ['extra']"),
        "pickled object": (with_field(ex, seat=ex.seat.astype(object)), "readable"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "value out of range",
        "belief out of range",
        "token feature out of range",
        "wrong dtype",
        "wrong shape",
        "missing array",
        "extra array",
        "pickled object",
    ],
)
def test_bad_arrays_are_rejected(examples: Examples, case: str) -> None:
    arrays, reason = bad_arrays(examples)[case]
    if case == "pickled object":  # savez pickles object arrays; reading must refuse them
        buf = io.BytesIO()
        np.savez(buf, meta=np.array(json.dumps(good_meta_dict(examples))), **arrays)
        data = buf.getvalue()
    else:
        data = raw_shard(arrays, good_meta_dict(examples))
    check_rejected(data, reason)


def test_corrupt_truncated_and_garbage_are_rejected(examples: Examples) -> None:
    data = shard_to_bytes(examples, meta_for(examples))
    check_rejected(data[: len(data) // 2], "readable")  # truncated upload
    check_rejected(b"not a zip at all", "readable")
    middle = bytearray(data)
    middle[len(data) // 3 : len(data) // 3 + 64] = bytes(64)  # flipped bytes inside a member
    check_rejected(bytes(middle), "")
    check_rejected(raw_shard(arrays_of(examples), "{not json"), "not JSON")
    check_rejected(raw_shard(arrays_of(examples), "[1, 2]"), "not a JSON object")


def test_unreadable_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ShardError, match="missing.npz"):
        read_shard(tmp_path / "missing.npz")


def check_rejected(data: bytes, reason: str) -> None:
    with pytest.raises(ShardError) as info:
        shard_from_bytes(data, "EXP/selfplay-mcts/w0-x-000001.npz")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("EXP/selfplay-mcts/w0-x-000001.npz: ")
    assert reason in message


def test_an_interrupted_write_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "s.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_open(target) as f:
        f.write(b"half a shard")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["s.npz"]


def test_a_format_1_shard_still_reads_with_the_true_holder_as_soft_target(rng):
    """Shards written before belief_soft (format 1): the learner reads them, and their soft
    belief target puts all the mass on the true holder."""
    examples = synthetic_examples(20, rng)
    meta = ShardMeta(
        source=SELFPLAY,
        model_cycle=0,
        model_step=0,
        worker_id="w",
        created_at=datetime.now(UTC),
        n_games=1,
        n_examples=20,
        format=1,
    )
    arrays = {f: getattr(examples, f) for f in EXAMPLE_FIELDS if f != "belief_soft"}
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.array(meta.model_dump_json()), **arrays)
    shard = shard_from_bytes(buf.getvalue(), "old.npz")
    assert shard.meta.format == 1
    np.testing.assert_array_equal(shard.examples.belief_soft, examples.belief_soft)
    hidden = examples.belief >= 0
    assert (shard.examples.belief_soft.max(axis=2)[hidden] == 255).all()
