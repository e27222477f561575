"""Model speed: evals/s of the 557k preset, packed forward vs the original's padded forward.

Observations come from random games in lock step (every row of a batch at the same decision
index), as the arena and self-play batches are; a mixed-length batch is measured too.

    python bench/model.py [--threads 2] [--seconds 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import rate, report, set_threads  # noqa: E402
from zeb_core.game.engine import legal_mask, new_games, step  # noqa: E402
from zeb_core.game.tokenizer import observe  # noqa: E402
from zeb_core.network.model import ZebModel, preset_config  # noqa: E402


def lockstep_observations(batch: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    rng = np.random.default_rng(seed)
    state = new_games(rng, batch)
    out = []
    while not state.done.all():
        obs = observe(state)
        out.append((torch.from_numpy(obs.tokens), torch.from_numpy(obs.token_mask)))
        legal = legal_mask(state)
        state = step(state, np.argmax(np.where(legal, rng.random(legal.shape), -1), axis=1))
    return out


def evals_per_s(forward, batches, seconds: float) -> float:
    def one_game_of_batches() -> int:
        with torch.inference_mode():
            for tokens, mask in batches:
                forward(tokens, mask)
        return sum(t.shape[0] for t, _ in batches)

    return rate(one_game_of_batches, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    set_threads(args.threads)
    torch.manual_seed(0)
    model = ZebModel.from_config(preset_config("medium")).eval()
    figures: dict = {"bench": "model", "threads": args.threads, "preset": "medium (557k)"}
    for batch in (64, 1024):
        lockstep = lockstep_observations(batch)
        tokens = torch.cat([t for t, _ in lockstep])
        masks = torch.cat([m for _, m in lockstep])
        perm = torch.randperm(tokens.shape[0], generator=torch.Generator().manual_seed(0))
        mixed = [
            (tokens[perm[i : i + batch]], masks[perm[i : i + batch]])
            for i in range(0, len(perm), batch)
        ]
        packed = evals_per_s(model.forward, lockstep, args.seconds)
        padded = evals_per_s(model.forward_padded, lockstep, args.seconds)
        packed_mixed = evals_per_s(model.forward, mixed, args.seconds)
        print(
            f"batch {batch}: packed {packed:,.0f} evals/s, padded {padded:,.0f} evals/s "
            f"(x{packed / padded:.2f}); mixed-length batches packed {packed_mixed:,.0f} evals/s"
        )
        figures[f"evals_per_s_b{batch}"] = round(packed)
        figures[f"padded_evals_per_s_b{batch}"] = round(padded)
        figures[f"ratio_b{batch}"] = round(packed / padded, 2)
        figures[f"mixed_evals_per_s_b{batch}"] = round(packed_mixed)
    figures["target_b64"] = 3000
    figures["meets_target"] = figures["evals_per_s_b64"] >= 3000
    report(figures)


if __name__ == "__main__":
    main()
