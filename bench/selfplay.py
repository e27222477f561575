"""Self-play throughput: games per second and the network's share of the time.

    .venv/bin/python bench/selfplay.py [--games 48] [--sims 50] [--worlds 5] [--in-flight 16]

The 557k preset (the reference checkpoint when it is present, else random weights), 2 torch
threads. The original's pipeline makes 0.69 games/s on this 2-core CPU; the target is 2.1. The
last line of output is one JSON object with the figures (with the load average: on a CPU shared
with other work, 2 torch threads can be several times slower than 1, because each parallel
region waits for a core that another process holds; compare `--threads 1`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from zeb_core.checkpoint import init_checkpoint, load_checkpoint
from zeb_core.mcts import MCTSConfig
from zeb_core.model_players import ModelEvaluator
from zeb_core.selfplay import play_games

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "zeb-557k-1m.pt"
ORIGINAL_GAMES_PER_S = 0.69


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=48)
    parser.add_argument("--sims", type=int, default=50)
    parser.add_argument("--worlds", type=int, default=2)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--random-init", action="store_true", help="ignore the reference file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    use_ref = REFERENCE.is_file() and not args.random_init
    ckpt = load_checkpoint(REFERENCE) if use_ref else init_checkpoint("medium", seed=args.seed)
    evaluator = ModelEvaluator(ckpt.build_model(), "cpu")
    config = MCTSConfig(simulations=args.sims, worlds=args.worlds, games_in_flight=args.in_flight)
    # Warm-up: numba compiles (or loads its cache) and torch sizes its buffers.
    warm = MCTSConfig(simulations=4, worlds=2, games_in_flight=2)
    play_games(evaluator, 2, warm, np.random.default_rng(1))
    start = time.perf_counter()
    batch = play_games(evaluator, args.games, config, np.random.default_rng(args.seed))
    seconds = time.perf_counter() - start
    figures = {
        "games": batch.games,
        "games_per_s": round(batch.games / seconds, 3),
        "network_share": round(batch.network_seconds / seconds, 3),
        "examples": len(batch.examples),
        "plays": batch.plays,
        "network_calls": batch.network_calls,
        "network_evals": batch.network_evals,
        "evals_per_s": round(batch.network_evals / max(batch.network_seconds, 1e-9), 1),
        "seconds": round(seconds, 2),
        "speedup_vs_original": round(batch.games / seconds / ORIGINAL_GAMES_PER_S, 2),
        "sims": args.sims,
        "worlds": args.worlds,
        "games_in_flight": args.in_flight,
        "threads": args.threads,
        "load_avg_1min": round(os.getloadavg()[0], 2),  # other work on the CPU skews the figures
        "weights": "zeb-557k-1m" if use_ref else "random medium (557k)",
    }
    print(
        f"{figures['games_per_s']} games/s ({figures['speedup_vs_original']}x the original's "
        f"{ORIGINAL_GAMES_PER_S}), network {figures['network_share']:.0%} of the time, "
        f"{figures['examples']} examples from {batch.games} games"
    )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
