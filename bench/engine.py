"""Engine speed: random-playout game steps per second at a large batch.

python bench/engine.py [--batch 4096] [--seconds 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import rate, report  # noqa: E402
from zeb_core.game.engine import legal_mask, new_games, step  # noqa: E402
from zeb_core.game.tokenizer import observe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    rng = np.random.default_rng(0)

    def playout(with_observe: bool) -> int:
        state = new_games(rng, args.batch)
        steps = 0
        while not state.done.all():
            legal = legal_mask(state)
            if with_observe:
                observe(state)
            state = step(state, np.argmax(np.where(legal, rng.random(legal.shape), -1), axis=1))
            steps += args.batch
        return steps

    steps_per_s = rate(lambda: playout(False), args.seconds)
    with_obs = rate(lambda: playout(True), args.seconds)
    print(f"batch {args.batch}: {steps_per_s:,.0f} game steps/s ({steps_per_s / 28:,.0f} games/s)")
    print(f"  with observe() at every step: {with_obs:,.0f} steps/s")
    report(
        {
            "bench": "engine",
            "batch": args.batch,
            "steps_per_s": round(steps_per_s),
            "games_per_s": round(steps_per_s / 28),
            "steps_per_s_with_observe": round(with_obs),
        }
    )


if __name__ == "__main__":
    main()
