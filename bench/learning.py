"""Learning from scratch per minute of this machine: the judge of every change to search,
targets and training.

The real pipeline, as a user runs it: a learner process (`zeb learner`) and local self-play worker
processes (LocalFleet) on a local hub, from random weights, for `--minutes` of wall time (the
learner's clock). The hub's weights are copied at regular points while it runs and evaluated after
it stops (so evaluation never takes the training's cores): greedy against random, 1000 games on
fixed deals each; the final weights also against the heuristic, the initial weights and greedy
zeb-e2839 (the original's best network, where `../shared/reference/` is at hand).

    python bench/learning.py [--minutes 20] [--size small] [--belief] [--workers 1] [--design zeb]
        [--compare-original] [--worker sims=32] [--learner lr=1e-3] [--points 8]
        [--stage1-after 10 [--stage1 eval_aux_batch_fraction=0.1] [--stage1-workers 1]]

`--design original` runs the original's self-play search (one PUCT tree over the true deal, 200
simulations, temperature 1 for all 28 plays, forced moves searched; reference README);
`--compare-original` runs zeb's design and then the original's for the same budget and prints both
curves.

`--stage1-after MINUTES` measures the seed's stage 1 as a lever: a run of stage 0 throughout, then
a run from the same random weights that switches to stage 1 at that minute, as `learn/stage1` does
(the stage's controls, `--stage1 KEY=VALUE` to change one, e.g. eval_aux_batch_fraction=0.1, and
`--stage1-workers` eval-aux workers on the same cores); both curves side by side, with what the
E[Q] rows were (how many, their model lag, how often each was trained on).

With two runs the second's final network also plays the first's, greedy, over
`--head-to-head-games` (20,000) on shared deals with sides swapped; with stage 1, so do their
snapshots at the switch, where both were still stage 0 (how far apart two runs drift on their
own). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import report, stop_like_ctrl_c_on_sigterm  # noqa: E402
from bench.learning_run import (  # noqa: E402
    DESIGNS,
    RunSettings,
    discard,
    evaluate_run,
    head_to_head,
    parse_assignments,
    run_pipeline,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("--minutes", type=float, default=20.0, help="training wall time per run")
    parser.add_argument(
        "--size",
        default="small",
        help="model preset (small, medium, large); small learns fastest over 20 minutes, medium"
        " (zeb create's default) is ahead by 90 (README, 'Over 90 minutes the medium preset wins')",
    )
    parser.add_argument(
        "--belief",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="give the model a belief head (off, as in `zeb create`: at 20 minutes the head's "
        "cost in learner steps lost strength; README, 'Whether the head pays')",
    )
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
    parser.add_argument(
        "--stage1-after",
        type=float,
        default=None,
        metavar="MINUTES",
        help="also run stage 0 then stage 1 from this minute, and compare",
    )
    parser.add_argument(
        "--stage1",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a stage-1 control (infra/experiment_state.py Controls), over the stage's own",
    )
    parser.add_argument("--stage1-workers", type=int, default=1, help="eval-aux workers")
    parser.add_argument(
        "--head-to-head-games",
        type=int,
        default=20_000,
        metavar="N",
        help="with two runs, the second's final network plays the first's, greedy, over N games "
        "on shared deals (sides swapped): the verdict 1000 games against random cannot give",
    )
    parser.add_argument("--home", type=Path, default=None, help="keep the runs' files here")
    args = parser.parse_args()
    if args.stage1_after is not None and not 0 <= args.stage1_after < args.minutes:
        parser.error("--stage1-after must be at least 0 and less than --minutes")
    if args.head_to_head_games < 2:
        parser.error("--head-to-head-games must be at least 2")
    stop_like_ctrl_c_on_sigterm()
    runs, results = {}, {}
    try:
        for name, settings in _runs(args).items():
            print(f"== {settings.label}: {args.minutes:g} minutes from random weights", flush=True)
            runs[name] = run_pipeline(settings, args.home)
            results[name] = evaluate_run(runs[name], args.games)
            _print_curve(settings.label, results[name])
        first, *others = results
        for name in others:  # each later run's final network against the first's
            games = args.head_to_head_games
            print(f"== head to head: {name} vs {first}, {games} games", flush=True)
            results[name]["head_to_head"] = head_to_head(runs[name], runs[first], games)
            switch = runs[name].settings.stage1_after
            if switch:  # and where it left stage 0: the spread of two runs before the switch
                results[name]["head_to_head_at_switch"] = head_to_head(
                    runs[name], runs[first], games, minute=switch
                )
    finally:
        for run in runs.values():
            discard(run)
    main_result = {**results[first], **{name: results[name] for name in others}}
    if others:
        _print_side_by_side(results)
    report(main_result)


def _runs(args: argparse.Namespace) -> dict[str, RunSettings]:
    """The runs to compare, by name: one design, zeb and the original, or stage 0 and stage 1."""
    common = dict(
        minutes=args.minutes,
        size=args.size,
        belief_head=args.belief,
        workers=args.workers,
        points=args.points,
        seed=args.seed,
        worker=parse_assignments(args.worker),
        learner=parse_assignments(args.learner),
    )
    if args.stage1_after is not None:
        stage1 = dict(
            stage1=parse_assignments(args.stage1),
            stage1_after=args.stage1_after,
            stage1_workers=args.stage1_workers,
        )
        return {
            "stage0": RunSettings.build(design=args.design, **common),
            "stage1": RunSettings.build(design=args.design, **common, **stage1),
        }
    designs = ["zeb", "original"] if args.compare_original else [args.design]
    return {design: RunSettings.build(design=design, **common) for design in designs}


def _print_curve(design: str, result: dict) -> None:
    print(f"{design} ({result['device']}): minutes  games  steps  cycle  vs random [95% CI]")
    for p in result["curve"]:
        lo, hi = p["ci95"]
        print(
            f"  {p['minutes']:6.1f} {p['games']:6d} {p['steps']:6d} {p['cycle']:6d}  "
            f"{p['win_rate']:.1%} [{lo:.1%}, {hi:.1%}]"
        )
    print(f"  final: vs random {_rate(result, 'random', 'final_ci95')}", flush=True)
    print(f"  final: vs heuristic {_rate(result, 'heuristic', 'final_heuristic_ci95')}")
    print(f"  final: vs greedy zeb-e2839 {_rate(result, 'e2839', 'final_e2839_ci95')}")
    print(f"  final: vs initial {_rate(result, 'initial', None)}", flush=True)


def _rate(result: dict, opponent: str, ci_key: str | None) -> str:
    """A final win rate with its 95% interval, or "not played"."""
    rate = result.get(f"final_win_rate_vs_{opponent}")
    if rate is None:
        return "not played"
    interval = result.get(ci_key) if ci_key else None
    return f"{rate:.1%}" + (f" [{interval[0]:.1%}, {interval[1]:.1%}]" if interval else "")


def _print_side_by_side(results: dict) -> None:
    (name_a, a_run), (name_b, b_run) = list(results.items())[:2]
    print(f"minutes   {name_a} vs random (games)      {name_b} vs random (games)")
    for a, b in zip(a_run["curve"], b_run["curve"], strict=False):
        print(
            f"{a['minutes']:6.1f}   {a['win_rate']:.1%} ({a['games']:6d})"
            f"            {b['win_rate']:.1%} ({b['games']:6d})"
        )
    for name, run in ((name_a, a_run), (name_b, b_run)):
        print(
            f"final {name}: vs random {run['final_win_rate_vs_random']:.1%}, vs heuristic "
            f"{run['final_win_rate_vs_heuristic']:.1%}"
        )
    for key, when in (("head_to_head_at_switch", "at the switch"), ("head_to_head", "final")):
        duel = b_run.get(key)
        if duel:
            lo, hi = duel["ci95"]
            print(
                f"{when}: {name_b} vs {name_a} (minutes {duel['minutes'][0]:g}, "
                f"{duel['minutes'][1]:g}), greedy, {duel['games']} games: "
                f"{duel['win_rate']:.1%} [{lo:.1%}, {hi:.1%}]"
            )
    aux = b_run.get("eval_aux")
    if aux:
        per_example = aux["rows_trained_per_example"] or 0.0
        print(
            f"eval-aux: {aux['examples_kept']} of {aux['examples_seen']} E[Q] examples kept "
            f"(model lag {aux['lag_mean_cycles']:.1f} cycles on average, "
            f"at most {aux['lag_max_cycles']}), each trained on {per_example:.1f} times "
            f"(a self-play example {aux['selfplay_rows_trained_per_example'] or 0.0:.1f})"
        )


if __name__ == "__main__":
    main()
