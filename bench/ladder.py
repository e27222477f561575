"""Acceptance check of the ladder on its anchors alone: their order and the head-to-head win
rates it rests on, against the original system's.

    python bench/ladder.py [--games 1000] [--results bench-ladder.json] [--seed 20240]

Every pair of the five anchors (random, heuristic, greedy 557k, greedy e2839, E[Q] n=32) plays
--games games on shared deals with sides swapped. Results are kept in --results after every
match, so a rerun plays only what is missing and a larger --games only extends the matches. Then
the Elo fit (random = 0) and two checks:
- order: E[Q] above both greedy models, both above heuristic, heuristic above random, and the
  two greedy models within each other's 95% intervals (about equal);
- agreement: each win rate the original measured differs from ours by less than 1.96 standard
  errors of the difference (both samples' binomial errors; where the original's game count is
  not recorded, 1000 is assumed).
The E[Q] player solves on all of numba's threads (NUMBA_NUM_THREADS). The last line is one JSON
object.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import REFERENCE_CKPT, report  # noqa: E402
from zeb_core.atomic_files import atomic_write_bytes  # noqa: E402
from zeb_core.evaluation.arena import wilson_interval  # noqa: E402
from zeb_core.evaluation.elo_ladder import (  # noqa: E402
    Ladder,
    LadderConfig,
    add_result,
    default_anchors,
    fit,
    new_ladder,
    plan_matches,
    play_planned,
)
from zeb_core.evaluation.player_specs import build_player  # noqa: E402

# (player, opponent, the original's win rate, its games, where the figure comes from)
ORIGINAL_RATES = [
    ("greedy-557k", "random", 0.713, 1000, "original, greedy 557k"),
    ("greedy-557k", "heuristic", 0.643, 1000, "original, greedy 557k"),
    ("greedy-e2839", "random", 0.7225, 2000, "original, greedy e2839"),
    ("heuristic", "random", 0.532, 1000, "original, heuristic"),
    ("eq-n32", "random", 0.782, 1000, "original, E[Q] N=100"),
    ("eq-n32", "greedy-557k", 0.587, 1000, "original, E[Q] N=100"),
]
# zeb's own earlier measurements of eq:n=32 (1000-game matches), shown for comparison only
ZEB_EQ_RATES = {("eq-n32", "random"): 0.789, ("eq-n32", "greedy-557k"): 0.619}


def load_results(path: Path) -> Ladder:
    if path.is_file():
        return Ladder.from_json(path.read_bytes(), str(path))
    return new_ladder("anchors", default_anchors())


def play_missing(ladder: Ladder, config: LadderConfig, reference: Path, path: Path) -> Ladder:
    built = {}
    for match in plan_matches(ladder, config):
        for name in (match.a, match.b):
            if name not in built:
                player = ladder.player(name)
                ckpt = None if player.checkpoint is None else str(reference / player.checkpoint)
                built[name] = build_player(player.spec(ckpt), "auto")
        record = play_planned(match, built[match.a], built[match.b], config.batch_size)
        ladder = add_result(ladder, record)
        atomic_write_bytes(path, ladder.to_json())  # a rerun never replays a finished match
        print(f"{match.a} vs {match.b}: {record.a_wins}/{record.games} ({record.seconds:.0f} s)")
    return ladder


def win_rate(ladder: Ladder, player: str, opponent: str) -> tuple[int, int]:
    """(player's wins, games) over every match of the pair."""
    wins = games = 0
    for m in ladder.matches:
        if {m.a, m.b} == {player, opponent}:
            wins += m.a_wins if m.a == player else m.games - m.a_wins
            games += m.games
    return wins, games


def head_to_head(ladder: Ladder) -> list[dict]:
    rows = []
    for player, opponent, theirs, their_games, source in ORIGINAL_RATES:
        wins, games = win_rate(ladder, player, opponent)
        ours = wins / games if games else float("nan")
        se = math.sqrt(ours * (1 - ours) / games + theirs * (1 - theirs) / their_games)
        rows.append(
            {
                "player": player,
                "opponent": opponent,
                "ours": round(ours, 4),
                "ours_ci95": [round(x, 4) for x in wilson_interval(wins, games)],
                "games": games,
                "theirs": theirs,
                "theirs_games": their_games,
                "source": source,
                "zeb_earlier": ZEB_EQ_RATES.get((player, opponent)),
                "agree": bool(abs(ours - theirs) <= 1.96 * se),
            }
        )
    return rows


def order_checks(ladder: Ladder) -> dict[str, bool]:
    r = {x.player: x for x in ladder.ratings}
    greedy = [r["greedy-557k"], r["greedy-e2839"]]
    return {
        "eq_above_greedy": all(r["eq-n32"].rating > g.rating for g in greedy),
        "greedy_above_heuristic": all(g.rating > r["heuristic"].rating for g in greedy),
        "heuristic_above_random": r["heuristic"].rating > r["random"].rating,
        "greedy_models_about_equal": greedy[0].lo <= greedy[1].hi and greedy[1].lo <= greedy[0].hi,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", type=int, default=1000, help="games per pair (even)")
    parser.add_argument("--results", type=Path, default=Path("bench-ladder.json"))
    parser.add_argument("--seed", type=int, default=LadderConfig().seed, help="of the deals")
    parser.add_argument("--reference-dir", type=Path, default=REFERENCE_CKPT.parent)
    args = parser.parse_args()

    start = time.perf_counter()
    config = LadderConfig(games=args.games, seed=args.seed, neighbours=0)
    ladder = play_missing(load_results(args.results), config, args.reference_dir, args.results)
    ladder = fit(ladder)
    for r in ladder.ratings:
        print(f"{r.player:>13}: {r.rating:+7.1f}  [{r.lo:+7.1f}, {r.hi:+7.1f}]  {r.games} games")
    rows = head_to_head(ladder)
    order = order_checks(ladder)
    report(
        {
            "games_per_pair": args.games,
            "seed": args.seed,
            "ratings": {
                r.player: [round(x, 1) for x in (r.rating, r.lo, r.hi)] for r in ladder.ratings
            },
            "order": order,
            "order_ok": all(order.values()),
            "head_to_head": rows,
            "all_agree": all(row["agree"] for row in rows),
            "seconds": round(time.perf_counter() - start, 1),
        }
    )


if __name__ == "__main__":
    main()
