"""Shared bits of the benchmarks: thread setup, stopping, and the closing JSON line."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE_DIR = Path(os.environ.get("ZEB_REFERENCE_DIR", REPO.parent / "shared" / "reference"))
REFERENCE_CKPT = REFERENCE_DIR / "zeb-557k-1m.pt"
BEST_ORIGINAL_CKPT = REFERENCE_DIR / "zeb-e2839.pt"  # the original's best greedy network


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def stop_like_ctrl_c_on_sigterm() -> None:
    """Let `kill` or `timeout` stop a benchmark as Ctrl-C does: its `finally` blocks then stop
    the learner and worker processes it started. Python's default SIGTERM ends the process at
    once, and those children would go on eating the cores (main thread only)."""

    def _exit(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _exit)


def rate(fn: Callable[[], int], min_seconds: float) -> float:
    """Items per second of `fn` (which returns the items it did), run for at least min_seconds."""
    fn()  # warm-up
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < min_seconds:
        done += fn()
    return done / (time.perf_counter() - start)


def report(figures: dict) -> None:
    """The last line of every benchmark: one JSON object."""
    print(json.dumps(figures))
