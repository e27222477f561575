"""What the belief head knows: its cross-entropy on self-play positions against the sampled
posterior's, by trick.

Positions come from the checkpoint playing itself (greedy, with random moves mixed in so hands
vary). For every hidden domino of every decision, the true holder (one of the mover's three other
seats) is scored under the head's distribution and under the posterior that
`sampling.sample_worlds` gives: the frequency of each holder over N deals drawn uniformly among
those consistent with what the mover has seen (hand sizes, plays, voids; exact for random play).
ln 3 = 1.0986 is the score of a uniform guess. The rules' prior (`HoldingPrior`: hand sizes and
voids, spread by Sinkhorn scaling) is scored too: for a constrained head it is the part the head
does not learn, so the gap between the two is what learning added.

    python bench/belief.py --checkpoint model.pt [--games 64] [--worlds 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import report  # noqa: E402
from zeb_core.data.examples import belief_targets  # noqa: E402
from zeb_core.game.engine import GameState, legal_mask, new_games, step  # noqa: E402
from zeb_core.game.players import first_best  # noqa: E402
from zeb_core.game.sampling import sample_worlds  # noqa: E402
from zeb_core.game.tokenizer import observe  # noqa: E402
from zeb_core.network.checkpoint import load_checkpoint  # noqa: E402
from zeb_core.network.holding_prior import HoldingPrior  # noqa: E402
from zeb_core.network.model import ZebModel  # noqa: E402

RANDOM_MOVE_SHARE = 0.25  # of decisions played at random, so positions vary beyond greedy lines
SMOOTHING = 0.5  # added to each holder's count of the sampled posterior (no zero probability)


def self_play_positions(model: ZebModel, games: int, rng: np.random.Generator) -> list[GameState]:
    """The state at every decision of `games` games of the model against itself."""
    state = new_games(rng, games, "bid")
    positions = []
    while not state.done.all():
        live = state.take(~state.done)
        positions.append(live)
        obs = observe(live)
        with torch.inference_mode():
            logits, _, _ = model(torch.from_numpy(obs.tokens), torch.from_numpy(obs.token_mask))
        action = first_best(logits.numpy(), obs.legal)
        explore = rng.random(live.batch_size) < RANDOM_MOVE_SHARE
        random_action = _random_legal(legal_mask(live), rng)
        action = np.where(explore, random_action, action)
        full = np.zeros(state.batch_size, np.int64)
        full[~state.done] = action
        state = _step_live(state, full)
    return positions


def _random_legal(legal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    scores = np.where(legal, rng.random(legal.shape), -1.0)
    return np.argmax(scores, axis=1)


def _step_live(state: GameState, action: np.ndarray) -> GameState:
    return step(state, action)  # finished games absorb any action


def head_probs(model: ZebModel, state: GameState) -> np.ndarray:
    obs = observe(state)
    with torch.inference_mode():
        _, _, belief = model(torch.from_numpy(obs.tokens), torch.from_numpy(obs.token_mask))
    return torch.softmax(belief.float(), dim=-1).numpy()  # [B, 28, 3]


def prior_probs(state: GameState) -> np.ndarray:
    """[B, 28, 3] the rules' prior read from the mover's tokens."""
    obs = observe(state)
    with torch.inference_mode():
        _, _, log_prior = HoldingPrior()(
            torch.from_numpy(obs.tokens), torch.from_numpy(obs.token_mask)
        )
    return torch.softmax(log_prior, dim=-1).numpy()


def posterior_probs(state: GameState, worlds: int, rng: np.random.Generator) -> np.ndarray:
    """[B, 28, 3] holder frequencies over `worlds` consistent deals (smoothed)."""
    sampled = sample_worlds(state, worlds, rng)
    holders = belief_targets(sampled).reshape(state.batch_size, worlds, -1)  # [B, W, 28]
    counts = np.stack([(holders == k).sum(axis=1) for k in range(3)], axis=-1)  # [B, 28, 3]
    return (counts + SMOOTHING) / (worlds + 3 * SMOOTHING)


def belief_report(
    checkpoint: Path, games: int = 64, worlds: int = 200, seed: int = 0
) -> dict[str, object]:
    model = load_checkpoint(checkpoint).build_model().eval()
    if not model.config.belief_head:
        raise SystemExit(f"{checkpoint} has no belief head")
    rng = np.random.default_rng(seed)
    sums = np.zeros((7, 4))  # per trick: head CE, posterior CE, prior CE, entries
    for state in self_play_positions(model, games, rng):
        truth = belief_targets(state).astype(np.int64)  # [B, 28], -1 = known to the mover
        hidden = truth >= 0
        if not hidden.any():
            continue
        rows, doms = np.nonzero(hidden)
        true_seat = truth[rows, doms]
        head = head_probs(model, state)[rows, doms, true_seat]
        post = posterior_probs(state, worlds, rng)[rows, doms, true_seat]
        prior = prior_probs(state)[rows, doms, true_seat]
        trick = np.minimum(state.n_played[rows] // 4, 6)
        np.add.at(sums, (trick, 0), -np.log(np.maximum(head, 1e-12)))
        np.add.at(sums, (trick, 1), -np.log(post))
        np.add.at(sums, (trick, 2), -np.log(np.maximum(prior, 1e-12)))
        np.add.at(sums, (trick, 3), 1.0)
    by_trick = [
        {
            "trick": t + 1,
            "entries": int(sums[t, 3]),
            "head_ce": round(sums[t, 0] / sums[t, 3], 4),
            "posterior_ce": round(sums[t, 1] / sums[t, 3], 4),
            "prior_ce": round(sums[t, 2] / sums[t, 3], 4),
        }
        for t in range(7)
        if sums[t, 3] > 0
    ]
    total = sums.sum(axis=0)
    return {
        "checkpoint": str(checkpoint),
        "games": games,
        "worlds": worlds,
        "entries": int(total[3]),
        "head_ce": round(total[0] / total[3], 4),
        "posterior_ce": round(total[1] / total[3], 4),
        "prior_ce": round(total[2] / total[3], 4),
        "uniform_ce": round(math.log(3), 4),
        "by_trick": by_trick,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True, help="a model with a belief head")
    parser.add_argument("--games", type=int, default=64)
    parser.add_argument("--worlds", type=int, default=200, help="deals of the sampled posterior")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    result = belief_report(args.checkpoint, args.games, args.worlds, args.seed)
    print("trick  entries  head CE  posterior CE  rules' prior CE   (uniform 1.0986)")
    for row in [*result["by_trick"], {**result, "trick": "all"}]:
        ces = f"{row['head_ce']:8.4f} {row['posterior_ce']:13.4f} {row['prior_ce']:16.4f}"
        print(f"{row['trick']:>5} {row['entries']:8d} {ces}")
    report(result)


if __name__ == "__main__":
    main()
