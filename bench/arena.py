"""Arena speed: greedy zeb-557k-1m against random, games per second.

python bench/arena.py [--games 2000] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import REFERENCE_CKPT, report, set_threads  # noqa: E402
from zeb_core.evaluation.arena import play_match  # noqa: E402
from zeb_core.evaluation.player_specs import build_player  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--games", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--checkpoint", default=str(REFERENCE_CKPT))
    args = parser.parse_args()
    set_threads(args.threads)
    greedy = build_player(f"greedy:{args.checkpoint}", "cpu")
    play_match(greedy, build_player("random"), 64, seed=1)  # warm-up
    result = play_match(greedy, build_player("random"), args.games, seed=0)
    lo, hi = result.a_win_rate_ci95
    print(
        f"greedy vs random: {result.games} games in {result.seconds:.1f}s = "
        f"{result.games_per_s:.1f} games/s; win rate {result.a_win_rate:.1%} [{lo:.1%}, {hi:.1%}]"
    )
    report(
        {
            "bench": "arena",
            "games": result.games,
            "games_per_s": round(result.games_per_s, 1),
            "a_win_rate": result.a_win_rate,
            "target_games_per_s": 180,
            "meets_target": result.games_per_s >= 180,
        }
    )


if __name__ == "__main__":
    main()
