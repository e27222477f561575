"""Learning from scratch per minute of this machine: the judge of every change to search,
targets and training.

The real pipeline, as a user runs it: a learner process (`zeb learner`) and local self-play worker
processes (LocalFleet) on a local hub, from random weights, for `--minutes` of wall time (the
learner's clock). The hub's weights are copied at regular points while it runs and evaluated after
it stops (so evaluation never takes the training's cores): greedy against random, 1000 games on
fixed deals each; the final weights also against the heuristic and against the initial weights.

    python bench/learning.py [--minutes 20] [--size small] [--workers 1] [--design zeb]
        [--compare-original] [--worker sims=32] [--learner lr=1e-3] [--points 8]

`--design original` runs the original's self-play search (one PUCT tree over the true deal, 200
simulations, temperature 1 for all 28 plays, forced moves searched; reference README);
`--compare-original` runs zeb's design and then the original's for the same budget and prints both
curves. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import report  # noqa: E402
from bench.learning_run import (  # noqa: E402
    DESIGNS,
    RunSettings,
    evaluate_run,
    parse_assignments,
    run_pipeline,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="training wall time per run")
    parser.add_argument("--size", default="small", help="model preset (small, medium, large)")
    parser.add_argument("--belief", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--workers", type=int, default=1, help="self-play worker processes")
    parser.add_argument("--design", choices=sorted(DESIGNS), default="zeb")
    parser.add_argument("--compare-original", action="store_true", help="also run the original")
    parser.add_argument("--points", type=int, default=8, help="evaluation points along the run")
    parser.add_argument("--games", type=int, default=1000, help="games per evaluation")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights")
    parser.add_argument(
        "--worker",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a WorkerSettings field (infra/worker/options.py)",
    )
    parser.add_argument(
        "--learner",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a LearnerSettings field (infra/learner/options.py)",
    )
    parser.add_argument("--home", type=Path, default=None, help="keep the runs' files here")
    args = parser.parse_args()
    designs = ["zeb", "original"] if args.compare_original else [args.design]
    results = {}
    for design in designs:
        settings = RunSettings.build(
            design=design,
            minutes=args.minutes,
            size=args.size,
            belief_head=args.belief,
            workers=args.workers,
            points=args.points,
            seed=args.seed,
            worker=parse_assignments(args.worker),
            learner=parse_assignments(args.learner),
        )
        print(f"== {design}: {args.minutes:g} minutes from random weights", flush=True)
        run = run_pipeline(settings, args.home)
        results[design] = evaluate_run(run, args.games)
        _print_curve(design, results[design])
    main_result = results[designs[0]]
    if len(results) > 1:
        main_result = {**main_result, "original": results["original"]}
        _print_side_by_side(results)
    report(main_result)


def _print_curve(design: str, result: dict) -> None:
    print(f"{design} ({result['device']}): minutes  games  steps  cycle  vs random [95% CI]")
    for p in result["curve"]:
        lo, hi = p["ci95"]
        print(
            f"  {p['minutes']:6.1f} {p['games']:6d} {p['steps']:6d} {p['cycle']:6d}  "
            f"{p['win_rate']:.1%} [{lo:.1%}, {hi:.1%}]"
        )
    print(
        f"  final: vs random {result['final_win_rate_vs_random']:.1%}, vs heuristic "
        f"{result['final_win_rate_vs_heuristic']:.1%}, vs initial "
        f"{result['final_win_rate_vs_initial']:.1%}",
        flush=True,
    )


def _print_side_by_side(results: dict) -> None:
    zeb, original = results["zeb"]["curve"], results["original"]["curve"]
    print("minutes   zeb vs random (games)      original vs random (games)")
    for a, b in zip(zeb, original, strict=False):
        print(
            f"{a['minutes']:6.1f}   {a['win_rate']:.1%} ({a['games']:6d})"
            f"            {b['win_rate']:.1%} ({b['games']:6d})"
        )


if __name__ == "__main__":
    main()
