"""MCTS variants against the greedy policy of the same checkpoint, on shared deals, sides swapped.

    .venv/bin/python bench/mcts_strength.py [--games 2000] [--sims 50] [--seed 13]
        [--variant worlds=2,root=puct,exact=0] [--variant worlds=2] ...

Each `--variant` is a list of `mcts:` spec options (zeb_core/evaluation/player_specs.py) added to
`mcts:CHECKPOINT,sims=SIMS`; every variant plays the same deals against greedy. The first
variant is the baseline: speed ratios are against it, measured in this run. Prints progress,
then one JSON line: per variant the win rate, its Wilson 95% interval, the margin, games/s.
The bar (issue): with zeb-e2839 at 50 simulations, the interval's lower end above 55% over
2000 games.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import BEST_ORIGINAL_CKPT, set_threads  # noqa: E402
from zeb_core.evaluation.arena import MatchResult, play_match  # noqa: E402
from zeb_core.evaluation.player_specs import build_player  # noqa: E402

DEFAULT_CKPT = BEST_ORIGINAL_CKPT
# PUCT without exact leaves (the baseline), the default search (Gumbel root, exact 5), exact 6.
DEFAULT_VARIANTS = ["worlds=2,root=puct,exact=0", "worlds=2", "worlds=2,exact=6"]


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CKPT))
    parser.add_argument("--games", type=int, default=2000)
    parser.add_argument("--sims", type=int, default=50)
    parser.add_argument("--variant", action="append", help="spec options (repeatable)")
    parser.add_argument("--batch", type=int, default=2048, help="games played at once")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    set_threads(args.threads)
    greedy = build_player(f"greedy:{args.checkpoint}", "cpu")
    results = []
    for options in args.variant or DEFAULT_VARIANTS:
        spec = f"mcts:{args.checkpoint},sims={args.sims}" + (f",{options}" if options else "")
        result = _match(build_player(spec, "cpu"), greedy, args)
        results.append({"options": options, **_figures(result)})
        _say(options, result)
    for row in results:
        row["speed_vs_first"] = round(row["games_per_s"] / results[0]["games_per_s"], 3)
    figures = {
        "checkpoint": os.path.basename(args.checkpoint),
        "games": args.games,
        "seed": args.seed,
        "sims": args.sims,
        "variants": results,
        "threads": args.threads,
        "load_avg_1min": round(os.getloadavg()[0], 2),  # other work on the CPU skews the speeds
    }
    print(json.dumps(figures))
    return figures


def _match(mcts, greedy, args: argparse.Namespace) -> MatchResult:
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"{done}/{total} games, {time.perf_counter() - start:.0f}s", file=sys.stderr)

    return play_match(
        mcts, greedy, args.games, seed=args.seed, batch_size=args.batch, progress=progress
    )


def _figures(result: MatchResult) -> dict[str, object]:
    lo, hi = result.a_win_rate_ci95
    return {
        "win_rate": round(result.a_win_rate, 4),
        "ci95": [round(lo, 4), round(hi, 4)],
        "margin": round(result.a_margin, 3),
        "games_per_s": round(result.games_per_s, 3),
    }


def _say(options: str, result: MatchResult) -> None:
    lo, hi = result.a_win_rate_ci95
    print(
        f"mcts({options or 'defaults'}) vs greedy: {result.a_win_rate:.1%} [{lo:.1%}, {hi:.1%}] "
        f"over {result.games} games, margin {result.a_margin:+.2f}, "
        f"{result.games_per_s:.1f} games/s"
    )


if __name__ == "__main__":
    main()
