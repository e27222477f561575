"""The Elo ladder of a kept learning run: do its checkpoints climb, and where does the final
network stand against the original's (greedy zeb-e2839)?

    python bench/learning.py --minutes 90 --home runs/
    python bench/learning_ladder.py runs/ [--checkpoints 5] [--games 400] [--without eq-n32]

The run's folder (`runs/zeb-learning-zeb-*`, or `runs/` when it holds one run) keeps its hub and
the weights it snapshotted along the way (`snapshots/cycle-*.pt`). The hub cannot list past
revisions, so the snapshots join the experiment's ladder as files; the final network comes
from the hub's latest weights, as `zeb ladder learn --update` takes it. Every rated checkpoint
plays every anchor and its --neighbours nearest checkpoints, --games games a pair on shared
deals with sides swapped (`zeb_core.evaluation.elo_ladder`). The ladder is stored on the run's
hub, so afterwards

    ZEB_HOME=RUN ZEB_HUB_DIR=RUN/hub zeb ladder learn --no-wandb

shows the same table. E[Q] n=32 is the slow anchor here (about 4 minutes per 400 games on two
cores, and its anchor pairs about 17 minutes the first time on a machine); --without eq-n32
leaves it out. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import REFERENCE_DIR, report  # noqa: E402
from bench.learning_run import EXP  # noqa: E402
from infra.experiment import Experiment  # noqa: E402
from infra.hub.local import LocalHub  # noqa: E402
from infra.ladder_store import (  # noqa: E402
    LadderSetup,
    games_missing,
    ladder_cache_root,
    open_ladder,
    play_missing,
    store_ladder,
    take_checkpoint,
    take_checkpoint_file,
)
from zeb_cli.ladder import ladder_dict  # noqa: E402
from zeb_core.evaluation.elo_ladder import Ladder, LadderConfig, default_anchors  # noqa: E402


def run_folder(path: Path) -> Path:
    """The run's own folder: `path` itself, or the one learning run kept under it."""
    if (path / "hub").is_dir():
        return path
    runs = sorted(p for p in path.glob("zeb-learning-*") if (p / "hub").is_dir())
    if len(runs) != 1:
        found = ", ".join(p.name for p in runs) or "none"
        raise SystemExit(f"{path}: give one run's folder (learning runs found: {found})")
    return runs[0]


def chosen_snapshots(run: Path, count: int) -> list[tuple[int, Path]]:
    """`count` of the run's snapshots, (cycle, file), evenly spread and always the last."""
    snapshots = sorted(
        (int(p.stem.removeprefix("cycle-")), p) for p in (run / "snapshots").glob("cycle-*.pt")
    )
    if not snapshots:
        raise SystemExit(f"{run}: no snapshots/cycle-*.pt (was it run with --home?)")
    if count >= len(snapshots):
        return snapshots
    last = len(snapshots) - 1
    picks = sorted({round(last - i * last / max(1, count - 1)) for i in range(count)})
    return [snapshots[i] for i in picks]


def rate_run(run: Path, args: argparse.Namespace) -> Ladder:
    experiment = Experiment(LocalHub(run / "hub"), EXP)
    # No cap on one update's games: every match is journaled as it ends, so a killed run keeps
    # what it finished (`open_ladder` reads the journal back).
    config = LadderConfig(
        games=args.games, neighbours=args.neighbours, every=1, games_per_run=10**9
    )
    anchors = [a for a in default_anchors() if a.name not in args.without]
    cache = ladder_cache_root(run)
    setup = LadderSetup(experiment, config, cache, REFERENCE_DIR, anchors, device=args.device)
    ladder, _ = take_checkpoint(setup, open_ladder(setup))  # the final weights, by revision
    for cycle, path in chosen_snapshots(run, args.checkpoints):
        ladder, _ = take_checkpoint_file(setup, ladder, path, cycle)
    while missing := games_missing(ladder, config):  # neighbours move as ratings settle
        print(f"{missing} games to play", flush=True)
        ladder, _, skipped = play_missing(setup, ladder, progress=_progress)
        if skipped:
            raise SystemExit("; ".join(skipped))
    return store_ladder(setup, ladder)[0]


def _progress(line: str) -> None:
    print(f"  {time.strftime('%H:%M:%S')} {line}", flush=True)


def summary(ladder: Ladder) -> dict:
    """Ratings in cycle order for the checkpoints, and the final one against greedy e2839."""
    data = ladder_dict(ladder)
    rows = {row["player"]: row for row in data["players"]}
    checkpoints = sorted((r for r in rows.values() if not r["anchor"]), key=lambda r: r["cycle"])
    for row in checkpoints + [r for r in rows.values() if r["anchor"]]:
        lo, hi = row["ci95"]
        cycle = "-" if row["cycle"] is None else row["cycle"]
        print(f"  {row['player']:>16} {cycle:>8} {row['rating']:+7.0f} [{lo:+.0f}, {hi:+.0f}]")
    final, e2839 = checkpoints[-1], rows.get("greedy-e2839")
    ratings = [r["rating"] for r in checkpoints]
    return {
        "checkpoints": [
            {"cycle": r["cycle"], "rating": r["rating"], "ci95": r["ci95"], "games": r["games"]}
            for r in checkpoints
        ],
        "anchors": {r["player"]: r["rating"] for r in rows.values() if r["anchor"]},
        "final_rating": final["rating"],
        "final_ci95": final["ci95"],
        "final_minus_e2839": None if e2839 is None else round(final["rating"] - e2839["rating"], 1),
        "climbs": ratings[-1] > ratings[0],
        "matches": data["matches"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("home", type=Path, help="the run's folder, or the --home that holds it")
    parser.add_argument("--checkpoints", type=int, default=5, help="snapshots to rate")
    parser.add_argument("--games", type=int, default=400, help="games per pair (even)")
    parser.add_argument("--neighbours", type=int, default=2, help="nearest checkpoints played")
    parser.add_argument(
        "--without", action="append", default=[], metavar="ANCHOR", help="leave an anchor out"
    )
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    args = parser.parse_args()
    known = {a.name for a in default_anchors()}
    if unknown := set(args.without) - known:
        parser.error(f"unknown anchors {sorted(unknown)}; the anchors are {sorted(known)}")
    if args.checkpoints < 1 or args.games < 2 or args.games % 2:
        parser.error("--checkpoints must be at least 1 and --games even and at least 2")
    run = run_folder(args.home)
    started = time.monotonic()
    ladder = rate_run(run, args)
    figures = summary(ladder)
    report({"run": str(run), "seconds": round(time.monotonic() - started), **figures})


if __name__ == "__main__":
    main()
