"""The pieces of `zeb demo` (demo.py): its settings, evaluations, the plot and the report."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from infra.fleet.base import FleetSettings
from infra.learner.local_state import read_history
from infra.learner.options import LearnerSettings
from infra.learner.supervisor import read_status
from infra.worker.options import WorkerSettings

STAGE0_SHARE = 0.65  # of the learning minutes (stage 1 needs only a few cycles to show eval-aux)
PERIODIC_EVAL_GAMES = 400  # the learner's own evaluations along the way (the plot's points)


@dataclass(frozen=True)
class DemoPlan:
    exp: str
    home: Path
    minutes: float
    workers: int
    eval_games: int
    selfplay: FleetSettings
    evalaux: FleetSettings

    @classmethod
    def build(cls, exp: str, home: Path, minutes: float, workers: int, games: int) -> DemoPlan:
        # The workers' default search (bench/learning.py chose it), shorter uploads for a short run.
        selfplay = WorkerSettings(upload_interval_s=5, device="cpu")
        evalaux = WorkerSettings(eq_worlds=8, deals_per_batch=2, upload_interval_s=5, device="cpu")
        return cls(
            exp,
            home,
            minutes,
            workers,
            games,
            FleetSettings(target=workers, worker=selfplay),
            FleetSettings(target=1, worker=evalaux),
        )

    @property
    def stage0_minutes(self) -> float:
        return self.minutes * STAGE0_SHARE

    @property
    def stage1_minutes(self) -> float:
        return self.minutes - self.stage0_minutes

    def learner(self, minutes: float) -> LearnerSettings:
        return LearnerSettings(
            training_steps_per_cycle=100,
            lr=1e-3,
            min_buffer=2000,
            replay_buffer_size=200_000,
            eval_aux_replay_buffer_size=20_000,
            poll_interval_s=1.0,
            eval_every=25,
            eval_games=PERIODIC_EVAL_GAMES,
            eval_heuristic_games=200,
            local_replay_cache_dir=self.home / "cache",
            local_replay_cache_save_every=25,
            device="cpu",
            max_minutes=minutes,
        )

    def status_path(self) -> Path:
        return self.home / "cache" / self.exp / "status.json"

    def initial_weights(self) -> Path:
        return self.home / "experiments" / self.exp / "bootstrap.pt"

    def final_weights(self) -> Path:
        from infra.experiment import Experiment
        from infra.hub.local import LocalHub

        return Experiment(LocalHub(self.home / "hub"), self.exp).pull_weights().checkpoint_path


def wait_for_status(
    path: Path, ready: Callable[[dict[str, Any]], bool], learner: threading.Thread
) -> dict[str, Any]:
    """The learner's status once `ready` holds (or the last one, if the learner stopped)."""
    since = time.time()
    while True:
        status = read_status(path, since=since - 3600) or {}
        if status and ready(status):
            return status
        if not learner.is_alive():
            return status
        time.sleep(1.0)


def evaluate_weights(path: Path, games: int, console: Console, what: str) -> dict[str, Any]:
    """Greedy against random (`games`) and the heuristic, on the learner's fixed deals."""
    from infra.learner.evaluation import evaluate_model
    from zeb_core.network.checkpoint import load_checkpoint

    with console.status(f"evaluating the {what}: {games} games vs random..."):
        model = load_checkpoint(path).build_model("cpu")
        numbers = evaluate_model(model, games, max(games // 2, 2))
    cycle = int(load_checkpoint(path).epoch)
    return {"cycle": cycle, **numbers}


def fleets_down(exp: str, console: Console) -> None:
    from flows.common import open_experiment, settings
    from infra.fleet import open_fleet, stored_specs

    config = settings()
    for spec in stored_specs(config, exp):
        stopped = open_fleet(spec, open_experiment(exp), config).down()
        console.print(f"{spec.prefix}: stopped {len(stopped)} worker(s)", highlight=False)


def print_result(
    plan: DemoPlan,
    initial: dict[str, Any],
    final: dict[str, Any],
    checks: dict[str, Any],
    seconds: float,
) -> bool:
    """The evaluation table, the plot, the paths; True when both verifies passed."""
    out = Console()
    table = Table(title=f"{plan.exp}: greedy weights ({plan.eval_games} games vs random)")
    for column in ("weights", "cycle", "vs random", "95% CI", "vs heuristic"):
        table.add_column(column, justify="right")
    for name, row in (("initial", initial), ("final", final)):
        table.add_row(
            name,
            str(row["cycle"]),
            _pct(row["eval/vs_random_win_rate"]),
            f"{_pct(row['eval/vs_random_ci_lo'])} - {_pct(row['eval/vs_random_ci_hi'])}",
            _pct(row["eval/vs_heuristic_win_rate"]),
        )
    out.print(table)
    learned = final["eval/vs_random_ci_lo"] > initial["eval/vs_random_ci_hi"]
    relation = "lies" if learned else "does NOT lie"
    out.print(
        f"learned: {'yes' if learned else 'no'} (the final weights' 95% interval vs random "
        f"{relation} above the initial weights')"
    )
    verified = {k: all(c["ok"] for c in v) for k, v in checks.items()}
    out.print(
        f"verify during eval-aux: {_passed(verified.get('verify'))}; after the rollback: "
        f"{_passed(verified.get('verify_after_rollback'))}"
    )
    out.print(
        "stage 1 shows eval-aux and its rollback; on one machine it learns no faster than stage 0 "
        "(README, 'Stage 1 as a lever')",
        highlight=False,
    )
    plot = _plot(plan, initial, final)
    out.print(f"plot:       {plot}", highlight=False)
    out.print(f"W&B run:    {_wandb_run(plan)}", highlight=False)
    out.print(f"hub:        {plan.home / 'hub'} (zeb hub ls {plan.exp})", highlight=False)
    out.print(f"took {seconds / 60:.1f} minutes", highlight=False)
    if not learned:
        out.print("[yellow]the run was too short to show learning: try --minutes 20[/yellow]")
    return all(verified.values()) and len(verified) == 2


def _plot(plan: DemoPlan, initial: dict[str, Any], final: dict[str, Any]) -> Path:
    from zeb_cli.plots import WinRate, history_win_rates, learning_plot

    history = read_history(plan.home / "cache" / plan.exp / "history.jsonl")
    points = history_win_rates(history)
    for row in (initial, final):
        for opponent in ("random", "heuristic"):
            points.append(
                WinRate(
                    row["cycle"],
                    opponent,
                    row[f"eval/vs_{opponent}_win_rate"],
                    row[f"eval/vs_{opponent}_ci_lo"],
                    row[f"eval/vs_{opponent}_ci_hi"],
                )
            )
    title = f"{plan.exp}: {plan.minutes:g} minutes of learning on this machine"
    return learning_plot(history, points, plan.home / "learning.png", title)


def _wandb_run(plan: DemoPlan) -> str:
    from flows.common import open_experiment

    run_id = open_experiment(plan.exp).read_state().wandb_run_id
    found = sorted((plan.home / "wandb").glob(f"offline-run-*-{run_id}"))
    return str(found[-1]) if found else f"{run_id} (online)"


def _pct(value: float) -> str:
    return f"{value:.1%}"


def _passed(ok: bool | None) -> str:
    return {True: "passed", False: "FAILED", None: "not run"}[ok]
