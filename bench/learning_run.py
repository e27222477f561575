"""One run of the learning benchmark (bench/learning.py): the pipeline for a fixed wall time with
weights snapshots along the way, then the evaluation of those snapshots."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from bench._common import BEST_ORIGINAL_CKPT
from infra.experiment import Experiment
from infra.experiment_state import Controls
from infra.fleet.base import FleetSpec
from infra.fleet.local import LocalFleet
from infra.fleet.memory import FleetPaths
from infra.hub.local import LocalHub
from infra.learner.local_state import read_history
from infra.learner.options import LearnerOptions, LearnerSettings, default_batch_size
from infra.learner.supervisor import SUPERVISOR_ENV, learner_command, stop_learner
from infra.settings import Settings
from infra.worker.options import WorkerSettings
from zeb_core.evaluation.arena import play_match
from zeb_core.evaluation.model_players import GreedyPlayer
from zeb_core.game.players import HeuristicPlayer, RandomPlayer
from zeb_core.network.checkpoint import (
    init_checkpoint,
    load_checkpoint,
    resolve_device,
    save_checkpoint,
)
from zeb_core.network.evaluator import ModelEvaluator

EXP = "learn"
EVAL_SEED = 777  # fixed deals for every evaluation of every run
# The learner as these runs use it: short cycles so weights move often, no evaluation of its own
# (the benchmark evaluates snapshots after the run, off the clock).
BENCH_LEARNER: dict[str, Any] = dict(
    training_steps_per_cycle=100,
    lr=1e-3,
    min_buffer=2000,
    eval_every=0,
    poll_interval_s=1.0,
    max_example_age_s=600.0,
    local_replay_cache_save_every=50,
)
# Self-play designs: zeb's is the worker defaults; the original's is its self-play search
# (reference README: one tree over the true deal, 200 simulations, no noise, temperature 1 for all
# 28 plays, forced moves searched, seat 0 leads with a random declaration and no bidding).
DESIGNS: dict[str, dict[str, Any]] = {
    "zeb": {},
    "original": dict(
        sims=200,
        worlds=1,
        true_deal=True,
        dirichlet_fraction=0.0,
        temperature_plays=28,
        forced_move_shortcut=False,
        deal_mode="selfplay",
        root="puct",
        interior="puct",
        exact_tricks_left=0,
    ),
}


class RunSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    design: str
    minutes: float
    size: str
    belief_head: bool
    workers: int
    points: int
    seed: int
    worker: WorkerSettings
    learner: LearnerSettings
    # Stage 1 from this minute on (None: stage 0 throughout): the controls, as the learn flow's
    # stage 1 writes them, and an eval-aux fleet on the same cores.
    stage1_after: float | None = None
    stage1_controls: Controls = Controls.stage1()
    stage1_workers: int = 1

    @classmethod
    def build(
        cls, *, design: str, worker: dict, learner: dict, stage1: dict | None = None, **values: Any
    ) -> RunSettings:
        play = WorkerSettings.model_validate(
            {"upload_interval_s": 30.0, **DESIGNS[design], **worker}
        )
        minutes = {"max_minutes": values["minutes"]}  # the run's length (an lr anneal needs it)
        train = LearnerSettings.model_validate({**BENCH_LEARNER, **minutes, **learner})
        controls = Controls.model_validate({**Controls.stage1().model_dump(), **(stage1 or {})})
        return cls(design=design, worker=play, learner=train, stage1_controls=controls, **values)

    @property
    def label(self) -> str:
        if self.stage1_after is None:
            return self.design
        return f"{self.design}, stage 1 after {self.stage1_after:g} min"


@dataclass
class Snapshot:
    minutes: float
    cycle: int
    step: int
    games: int
    path: Path


@dataclass
class Run:
    settings: RunSettings
    home: Path  # the run's hub, caches and logs
    keep_files: bool  # False: removed once evaluated
    initial: Path
    snapshots: list[Snapshot] = field(default_factory=list)
    device: str = "cpu"


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values are read as JSON when they parse (numbers, true, null)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"error: expected KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def run_pipeline(settings: RunSettings, keep: Path | None) -> Run:
    """Train from random weights for `settings.minutes`; snapshot the hub's weights along."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix=f"zeb-learning-{settings.design}-", dir=keep))
    hub = LocalHub(home / "hub")
    experiment = Experiment(hub, EXP)
    initial = save_checkpoint(
        init_checkpoint(settings.size, belief_head=settings.belief_head, seed=settings.seed),
        home / "initial.pt",
    )
    experiment.seed(initial)
    env = _child_env(home)
    os.environ.update(env)  # the fleet's workers inherit it
    fleet = _fleet(settings, experiment, home, "selfplay", settings.workers)
    options = LearnerOptions.of(
        EXP,
        settings.learner.model_copy(update={"local_replay_cache_dir": home / "cache"}),
    )
    device = str(resolve_device(settings.learner.device))
    run = Run(settings, home, keep is not None, initial, device=device)
    evalaux = _fleet(settings, experiment, home, "evalaux", settings.stage1_workers)
    fleet.up(settings.workers)
    try:
        _learn_with_snapshots(run, options, experiment, home, evalaux)
    finally:
        fleet.down()
        evalaux.down()
    return run


def _fleet(settings: RunSettings, experiment, home: Path, role: str, workers: int) -> LocalFleet:
    worker = settings.worker if role == "selfplay" else WorkerSettings(upload_interval_s=30.0)
    return LocalFleet(
        FleetSpec(experiment=EXP, role=role, target=workers, worker=worker),
        experiment,
        FleetPaths(home, EXP, role),
        Settings(home=home, hub_dir=home / "hub"),
    )


def _start_stage1(run: Run, experiment: Experiment, evalaux: LocalFleet) -> None:
    """What `learn/stage1` does to a running experiment: the stage's controls, then the eval-aux
    fleet (the learner reads the controls live, as after a rollback)."""
    controls = run.settings.stage1_controls.model_dump()
    experiment.update_controls(by="learning bench stage 1", **controls)
    evalaux.up(run.settings.stage1_workers)
    print(f"  stage 1 from here: {run.settings.stage1_workers} eval-aux worker(s)", flush=True)


def _child_env(home: Path) -> dict[str, str]:
    return {
        "ZEB_HOME": str(home),
        "ZEB_HUB": "local",
        "ZEB_HUB_DIR": str(home / "hub"),
        "WANDB_MODE": "disabled",
        "OMP_NUM_THREADS": "1",
        "NUMBA_NUM_THREADS": "1",
    }


def _learn_with_snapshots(
    run: Run, options: LearnerOptions, experiment, home: Path, evalaux: LocalFleet
) -> None:
    log = (home / "learner.log").open("ab")
    # As `supervise` does: the learner watches this process and stops itself if the bench dies
    # without stopping it (SIGKILL), instead of training on.
    env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
    learner = subprocess.Popen(
        learner_command(options), stdout=log, stderr=subprocess.STDOUT, env=env
    )
    started = time.monotonic()
    every_s = 60 * run.settings.minutes / run.settings.points
    next_at = every_s
    stage1_at = None if run.settings.stage1_after is None else 60 * run.settings.stage1_after
    try:
        while learner.poll() is None:
            time.sleep(1.0)
            elapsed = time.monotonic() - started
            if stage1_at is not None and elapsed >= stage1_at:
                _start_stage1(run, experiment, evalaux)
                stage1_at = None
            if elapsed >= next_at:
                _snapshot(run, experiment, home, elapsed / 60)
                next_at += every_s
    finally:
        stop_learner(learner, grace_s=30)
        log.close()
    _snapshot(run, experiment, home, (time.monotonic() - started) / 60)


def _snapshot(run: Run, experiment: Experiment, home: Path, minutes: float) -> None:
    weights = experiment.pull_weights()
    state = weights.state
    if run.snapshots and run.snapshots[-1].step == state.step:
        run.snapshots[-1].minutes = minutes
        return
    path = home / "snapshots" / f"cycle-{state.cycle:06d}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(weights.checkpoint_path, path)
    run.snapshots.append(Snapshot(minutes, state.cycle, state.step, state.total_games, path))
    print(f"  {minutes:5.1f} min: cycle {state.cycle}, {state.total_games} games", flush=True)


def evaluate_run(run: Run, games: int) -> dict[str, Any]:
    """Greedy snapshots against random on fixed deals; the final one also against the
    heuristic, the initial weights and greedy zeb-e2839."""
    curve = []
    for snap in run.snapshots:
        result = _greedy_match(snap.path, RandomPlayer(), games)
        curve.append(
            {
                "minutes": round(snap.minutes, 2),
                "games": snap.games,
                "steps": snap.step,
                "cycle": snap.cycle,
                "win_rate": result.a_win_rate,
                "ci95": list(result.a_win_rate_ci95),
            }
        )
    final = run.snapshots[-1] if run.snapshots else None
    vs_heuristic = _greedy_match(final.path, HeuristicPlayer(), games) if final else None
    initial_player = GreedyPlayer(_evaluator(run.initial), name="initial")
    vs_initial = _greedy_match(final.path, initial_player, games) if final else None
    vs_best = _versus_best_original(final.path, games) if final else None
    return {
        "design": run.settings.design,
        "label": run.settings.label,
        "stage1_after": run.settings.stage1_after,
        "device": run.device,
        "minutes": run.settings.minutes,
        "games": final.games if final else 0,
        "steps": final.step if final else 0,
        "curve": curve,
        "final_win_rate_vs_random": curve[-1]["win_rate"] if curve else None,
        "final_ci95": curve[-1]["ci95"] if curve else None,
        "final_win_rate_vs_heuristic": vs_heuristic.a_win_rate if vs_heuristic else None,
        "final_heuristic_ci95": list(vs_heuristic.a_win_rate_ci95) if vs_heuristic else None,
        "final_win_rate_vs_initial": vs_initial.a_win_rate if vs_initial else None,
        # The bar: rated at or above the original's best greedy network.
        "final_win_rate_vs_e2839": vs_best.a_win_rate if vs_best else None,
        "final_e2839_ci95": list(vs_best.a_win_rate_ci95) if vs_best else None,
        "evaluation_games": games,
        "eval_aux": eval_aux_summary(run) if run.settings.stage1_after is not None else None,
        "settings": run.settings.model_dump(mode="json"),
    }


def discard(run: Run) -> None:
    """Remove the run's files, unless `--home` asked to keep them."""
    if not run.keep_files:
        shutil.rmtree(run.home, ignore_errors=True)


def head_to_head(run: Run, other: Run, games: int, minute: float | None = None) -> dict[str, Any]:
    """`run`'s network against `other`'s, both greedy, on shared deals with sides swapped: at
    20,000 games its interval is about ±0.7 points, where two curves 1000 games apart are not.
    The final networks, or with `minute` the snapshots nearest it (where a stage-1 run left stage
    0: how far apart the two runs already were before the switch)."""
    mine, theirs = _snapshot_near(run, minute), _snapshot_near(other, minute)
    opponent = GreedyPlayer(_evaluator(theirs.path), name=other.settings.label)
    result = _greedy_match(mine.path, opponent, games)
    return {
        "opponent": other.settings.label,
        "minutes": [round(mine.minutes, 2), round(theirs.minutes, 2)],
        "games": result.games,
        "win_rate": result.a_win_rate,
        "ci95": list(result.a_win_rate_ci95),
    }


def _snapshot_near(run: Run, minute: float | None) -> Snapshot:
    if minute is None:
        return run.snapshots[-1]
    return min(run.snapshots, key=lambda snap: abs(snap.minutes - minute))


def eval_aux_summary(run: Run) -> dict[str, Any] | None:
    """What the E[Q] rows were, from the learner's own history: how many, how stale (the lag the
    half-life weighs), and how often each was trained on, beside the same for self-play's."""
    rows = read_history(run.home / "cache" / EXP / "history.jsonl")
    if not rows:
        return None
    batch = run.settings.learner.batch_size or default_batch_size(run.device.split(":")[0])
    trained, selfplay_trained, step = 0.0, 0.0, 0
    for row in rows:  # rows of a cycle: the steps since the last row, at that cycle's mix
        mix, steps = row.get("train/eval_aux_fraction", 0.0), row.get("step", step) - step
        trained += steps * mix * batch
        selfplay_trained += steps * (1 - mix) * batch
        step += steps
    last = rows[-1]
    kept = int(last.get("eval_aux/kept", 0))
    selfplay_added = int(last.get("selfplay_added", 0))
    return {
        "examples_seen": int(last.get("eval_aux/seen", 0)),
        "examples_kept": kept,
        "shards": int(last.get("eval_aux/shards_ingested", 0)),
        "lag_mean_cycles": last.get("eval_aux/lag_mean", 0.0),
        "lag_max_cycles": int(last.get("eval_aux/lag_max", 0)),
        "rows_trained": round(trained),
        "rows_trained_per_example": trained / kept if kept else None,
        "selfplay_rows_trained_per_example": (
            selfplay_trained / selfplay_added if selfplay_added else None
        ),
    }


def _versus_best_original(path: Path, games: int):
    """Greedy against greedy zeb-e2839, where the reference files are at hand (else None)."""
    if not BEST_ORIGINAL_CKPT.exists():
        return None
    best = GreedyPlayer(_evaluator(BEST_ORIGINAL_CKPT), name="greedy-e2839")
    return _greedy_match(path, best, games)


def _evaluator(path: Path) -> ModelEvaluator:
    return ModelEvaluator(load_checkpoint(path).build_model(), "auto")


def _greedy_match(path: Path, opponent, games: int):
    greedy = GreedyPlayer(_evaluator(path))
    return play_match(greedy, opponent, games - games % 2, seed=EVAL_SEED)
