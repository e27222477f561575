"""Replay buffer memory and sampling throughput at the real capacity (500k self-play rows).

    .venv/bin/python bench/replay.py [--capacity 500000] [--eval-capacity 100000]

Allocates the rings, fills them with synthetic examples, and reports bytes per example (array
nbytes and the RSS growth), the buffer's MB, and batches/s for `sample(64, 0.05)`. Target: at most
600 bytes per example (a 500k buffer in at most 300 MB). Also times the local replay cache's save
and load (the full buffer, about 240 MB on disk). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from zeb_core.data.examples import bytes_per_example
from zeb_core.data.replay import ReplayBuffer, ReplayConfig
from zeb_core.data.shards import synthetic_examples

TARGET_BYTES_PER_EXAMPLE = 600


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found")


def fill(buffer: ReplayBuffer, rng: np.random.Generator, chunk: int = 20_000) -> None:
    """Fill both rings, cycling one synthetic chunk (generating 600k rows would dominate)."""
    block = synthetic_examples(chunk, rng)
    for ring in buffer.rings.values():
        while ring.total_added < ring.capacity:
            ring.add(block.take(slice(0, min(chunk, ring.capacity - ring.total_added))))


def sample_rate(buffer: ReplayBuffer, rng: np.random.Generator, seconds: float) -> float:
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        buffer.sample(64, 0.05, rng)
        n += 1
    return n / (time.perf_counter() - start)


def cache_round_trip(buffer: ReplayBuffer) -> tuple[float, float, float]:
    """Seconds to save and to load (with validation) the local replay cache, and its MB."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "replay.npz"
        start = time.perf_counter()
        buffer.save(path)
        saved = time.perf_counter()
        ReplayBuffer.load(path, buffer.config)
        return saved - start, time.perf_counter() - saved, path.stat().st_size / 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--capacity", type=int, default=500_000)
    parser.add_argument("--eval-capacity", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    rss0 = rss_bytes()
    buffer = ReplayBuffer(ReplayConfig(args.capacity, args.eval_capacity))
    fill(buffer, rng)
    rows = args.capacity + args.eval_capacity
    rss_per_row = (rss_bytes() - rss0) / rows  # includes the synthetic chunk (~8 MB)
    nbytes_per_row = buffer.nbytes / rows
    selfplay_mb = buffer.selfplay.nbytes / 1e6
    rate = sample_rate(buffer, rng, args.seconds)
    save_s, load_s, cache_mb = cache_round_trip(buffer)

    print(
        f"example fields: {bytes_per_example()} B, ring row (with sample weight): "
        f"{nbytes_per_row:.0f} B, RSS growth per row: {rss_per_row:.0f} B"
    )
    print(
        f"self-play ring {args.capacity} rows: {selfplay_mb:.1f} MB; "
        f"both rings {buffer.nbytes / 1e6:.1f} MB"
    )
    print(f"sample(64, eval 5%): {rate:.0f} batches/s")
    print(f"replay cache: {cache_mb:.0f} MB, save {save_s:.1f} s, load {load_s:.1f} s")
    result = {
        "bench": "replay",
        "capacity": args.capacity,
        "eval_capacity": args.eval_capacity,
        "bytes_per_example": round(nbytes_per_row, 1),
        "rss_bytes_per_example": round(rss_per_row, 1),
        "selfplay_buffer_mb": round(selfplay_mb, 1),
        "total_buffer_mb": round(buffer.nbytes / 1e6, 1),
        "sample_batches_per_s": round(rate, 1),
        "cache_mb": round(cache_mb, 1),
        "cache_save_s": round(save_s, 2),
        "cache_load_s": round(load_s, 2),
        "target_bytes_per_example": TARGET_BYTES_PER_EXAMPLE,
        "meets_target": nbytes_per_row <= TARGET_BYTES_PER_EXAMPLE
        and rss_per_row <= TARGET_BYTES_PER_EXAMPLE,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
