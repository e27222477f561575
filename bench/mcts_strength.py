"""MCTS against the greedy policy of the same checkpoint, on shared deals with sides swapped.

    .venv/bin/python bench/mcts_strength.py [--games 2000] [--sims 50] [--worlds 5] [--c 1.5]

Prints progress, then one JSON line: the match result (win rate, Wilson 95% interval, margin,
games/s) and the settings. The issue's bar: the interval's lower end above 50% over 2000 games.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from zeb_core.arena import play_match
from zeb_core.player_specs import build_player

DEFAULT_CKPT = Path(__file__).resolve().parents[2] / "shared" / "reference" / "zeb-557k-1m.pt"


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CKPT))
    parser.add_argument("--games", type=int, default=2000)
    parser.add_argument("--sims", type=int, default=50)
    parser.add_argument("--worlds", type=int, default=2)
    parser.add_argument("--c", type=float, default=1.5)
    parser.add_argument("--batch", type=int, default=2048, help="games played at once")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    spec = f"mcts:{args.checkpoint},sims={args.sims},worlds={args.worlds},c={args.c}"
    mcts, greedy = build_player(spec, "cpu"), build_player(f"greedy:{args.checkpoint}", "cpu")
    start = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"{done}/{total} games, {time.perf_counter() - start:.0f}s", file=sys.stderr)

    result = play_match(
        mcts, greedy, args.games, seed=args.seed, batch_size=args.batch, progress=progress
    )
    lo, hi = result.a_win_rate_ci95
    print(
        f"mcts(sims={args.sims}, worlds={args.worlds}, c={args.c}) vs greedy: "
        f"{result.a_win_rate:.1%} [{lo:.1%}, {hi:.1%}] over {result.games} games, "
        f"margin {result.a_margin:+.2f} points, {result.seconds:.0f}s"
    )
    figures = {
        **result.to_json_dict(),
        "sims": args.sims,
        "worlds": args.worlds,
        "c_puct": args.c,
        "threads": args.threads,
        "load_avg_1min": round(os.getloadavg()[0], 2),  # other work on the CPU skews the figures
    }
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
