"""Self-play throughput of search variants: games per second and the network's share of time.

    .venv/bin/python bench/selfplay.py [--games 48] [--sims 50] [--in-flight 16]
        [--variant worlds=2] [--variant root=gumbel,interior=gumbel,exact=3] [--variant original]

Each `--variant` is a list of `mcts:` spec options (zeb_core/evaluation/player_specs.py: sims,
worlds, root, interior, k, exact, ...) over `sims=SIMS`, or `original`: the original's self-play
(one tree over the true deal, 200 simulations, forced moves searched, seat 0 leads;
`original,sims=50` changes its budget). The first variant is the baseline of the speed ratios,
measured in this run. The 557k preset (the reference checkpoint when present, else random weights),
2 torch threads. The original's pipeline made 1.25-1.43 games/s on this machine (measured apart, so
no ratio is taken against it). The last line is one JSON object (with the load average: on a CPU
shared with other work, 2 torch threads can be several times slower than 1, because each parallel
region waits for a core that another process holds).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import REFERENCE_CKPT, set_threads  # noqa: E402
from zeb_core.data.selfplay import original_selfplay_config, play_games  # noqa: E402
from zeb_core.evaluation.player_specs import (
    config_from_spec,  # noqa: E402
    parse_player_spec,  # noqa: E402
)
from zeb_core.game.engine import DealMode  # noqa: E402
from zeb_core.network.checkpoint import init_checkpoint, load_checkpoint  # noqa: E402
from zeb_core.network.evaluator import ModelEvaluator  # noqa: E402
from zeb_core.search.config import MCTSConfig  # noqa: E402

# Not measured here: the original's self-play pipeline, measured side by side with zeb's on this
# 2-core machine (issue 12's report): 1.25-1.43 games/s. No ratio is taken against it.
ORIGINAL_GAMES_PER_S_REFERENCE = "1.25-1.43 (issue 12: the original's pipeline on this machine)"


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=48)
    parser.add_argument("--sims", type=int, default=50)
    parser.add_argument("--variant", action="append", help="spec options or 'original'")
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--checkpoint", default=str(REFERENCE_CKPT))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--random-init", action="store_true", help="ignore the checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    set_threads(args.threads)

    use_ckpt = Path(args.checkpoint).is_file() and not args.random_init
    ckpt = load_checkpoint(args.checkpoint) if use_ckpt else init_checkpoint("medium", seed=0)
    evaluator = ModelEvaluator(ckpt.build_model(), "cpu")
    # Warm-up: numba compiles (or loads its cache) and torch sizes its buffers.
    warm = MCTSConfig(simulations=4, worlds=2, games_in_flight=2, exact_tricks_left=2)
    play_games(evaluator, 2, replace(warm, root="gumbel", interior="gumbel"), _rng(1))
    rows = []
    for variant in args.variant or ["worlds=2"]:
        config, deal_mode = variant_config(variant, args.sims, args.in_flight)
        start = time.perf_counter()
        batch = play_games(evaluator, args.games, config, _rng(args.seed), deal_mode)
        seconds = time.perf_counter() - start
        rows.append(
            {
                "variant": variant,
                "games_per_s": round(batch.games / seconds, 3),
                "network_share": round(batch.network_seconds / seconds, 3),
                "examples": len(batch.examples),
                "network_evals": batch.network_evals,
                "seconds": round(seconds, 2),
            }
        )
        print(f"{variant}: {rows[-1]['games_per_s']} games/s, {len(batch.examples)} examples")
    for row in rows:
        row["speed_vs_first"] = round(row["games_per_s"] / rows[0]["games_per_s"], 3)
    figures = {
        "games": args.games,
        "sims": args.sims,
        "games_in_flight": args.in_flight,
        "variants": rows,
        "original_pipeline_games_per_s_reference": ORIGINAL_GAMES_PER_S_REFERENCE,
        "threads": args.threads,
        "load_avg_1min": round(os.getloadavg()[0], 2),  # other work on the CPU skews the figures
        "weights": Path(args.checkpoint).stem if use_ckpt else "random medium (557k)",
    }
    print(json.dumps(figures))
    return figures


def variant_config(variant: str, sims: int, in_flight: int) -> tuple[MCTSConfig, DealMode]:
    """The search a variant names, and its deals (the original's: seat 0 leads, no bid)."""
    head, _, rest = variant.partition(",")
    if head == "original":
        spec = parse_player_spec(f"mcts:x{',' + rest if rest else ''}")
        config = original_selfplay_config(in_flight)
        return replace(config, simulations=spec.int_option("sims", 200)), "selfplay"
    spec = parse_player_spec(f"mcts:x,sims={sims}{',' + variant if variant else ''}")
    return replace(config_from_spec(spec), games_in_flight=in_flight), "bid"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


if __name__ == "__main__":
    main()
