"""`zeb demo`: a small experiment end to end on this machine.

Local hub (a folder), local worker processes, W&B offline (unless configured otherwise): create
the experiment from random weights, run the learner for a few cycles on self-play shards from
local workers (plus an eval-aux worker with --eval-aux), then evaluate the result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import typer
from rich.console import Console

console = Console(stderr=True)


def demo_command(
    exp: str = typer.Option("demo", "--exp", help="Experiment name."),
    home: Path = typer.Option(Path(".zeb/demo"), help="Folder for the hub, caches and logs."),
    size: str = typer.Option("small", help="Model preset of a new experiment."),
    cycles: int = typer.Option(4, help="Learner cycles to run."),
    steps_per_cycle: int = typer.Option(40, help="Training steps per cycle."),
    workers: int = typer.Option(1, help="Self-play worker processes."),
    sims: int = typer.Option(16, help="MCTS simulations per decision."),
    eval_aux: bool = typer.Option(
        False, "--eval-aux/--no-eval-aux", help="Add an eval-aux worker (stage 1)."
    ),
    eval_games: int = typer.Option(200, help="Games per evaluation matchup at the end."),
) -> None:
    """Run a small experiment end to end: local hub, local workers, W&B offline."""
    from infra.experiment import Experiment
    from infra.fleet import open_fleet
    from infra.fleet.base import FleetSpec, WorkerSettings
    from infra.hub.local import LocalHub
    from infra.settings import load_settings
    from zeb_core.checkpoint import init_checkpoint, save_checkpoint

    home = home.resolve()
    env = _demo_env(home)
    os.environ.update(env)  # the fleets' workers inherit this environment
    experiment = Experiment(LocalHub(home / "hub"), exp)
    if not experiment.exists():
        init = save_checkpoint(
            init_checkpoint(size, belief_head=True, seed=0), home / f"{exp}-init.pt"
        )
        console.print(experiment.seed(init).message)
    state = experiment.read_state()
    target = state.cycle + cycles
    console.print(f"{exp}: cycle {state.cycle} -> {target}; logs in {home / 'logs'}")
    settings = load_settings()
    worker = WorkerSettings(
        sims=sims,
        games_in_flight=16,
        games_per_batch=16,
        upload_interval_s=0,
        device="cpu",
        eq_worlds=8,
    )
    specs = [FleetSpec(experiment=exp, role="selfplay", target=workers, worker=worker)]
    if eval_aux:
        specs.append(
            FleetSpec(
                experiment=exp,
                role="evalaux",
                target=1,
                worker=worker.model_copy(update={"deals_per_batch": 4}),
            )
        )
    fleets = [open_fleet(spec, experiment, settings) for spec in specs]
    learner = _start_learner(exp, home, env, cycles, steps_per_cycle, eval_aux)
    try:
        for fleet in fleets:
            fleet.up(fleet.spec.target)
        _follow(learner, home / "cache" / exp / "status.json", target, fleets)
    finally:
        for fleet in fleets:
            fleet.down()
        if learner.poll() is None:
            learner.terminate()
            learner.wait()
    if learner.returncode != 0:
        console.print(f"[red]learner failed[/red]; see {home / 'logs' / 'learner.log'}")
        raise typer.Exit(1)
    _final_report(experiment, eval_games)


def _demo_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        ZEB_HOME=str(home), ZEB_HUB="local", ZEB_HUB_DIR=str(home / "hub"), OMP_NUM_THREADS="1"
    )
    if not env.get("WANDB_API_KEY"):
        env.setdefault("WANDB_MODE", "offline")
    env.setdefault("WANDB_DIR", str(home))
    return env


def _start_learner(
    exp: str, home: Path, env, cycles: int, steps: int, eval_aux: bool
) -> subprocess.Popen:
    args = [
        "learner", "--exp", exp, "--max-cycles", str(cycles),
        "--training-steps-per-cycle", str(steps),
        "--batch-size", "32", "--min-buffer", "500", "--replay-buffer-size", "50000",
        "--eval-aux-replay-buffer-size", "10000", "--poll-interval-s", "1", "--eval-every", "0",
        "--local-replay-cache-dir", str(home / "cache"), "--local-replay-cache-save-every", "2",
        "--device", "cpu",
    ]  # fmt: skip
    if eval_aux:
        args += ["--eval-aux-enabled", "--eval-aux-batch-fraction", "0.05"]
    (home / "logs").mkdir(parents=True, exist_ok=True)
    log = (home / "logs" / "learner.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "flows.cli", *args], stdout=log, stderr=subprocess.STDOUT, env=env
    )


def _follow(learner: subprocess.Popen, status_file: Path, target: int, fleets) -> None:
    shown = -1
    with console.status("waiting for the first self-play examples...") as status:
        while learner.poll() is None:
            time.sleep(1)
            _check_workers(fleets)
            if not status_file.is_file():
                continue
            info = json.loads(status_file.read_text())
            if info["cycle"] != shown:
                shown = info["cycle"]
                console.print(
                    f"cycle {shown}/{target}: loss {info.get('loss/total', float('nan')):.3f}, "
                    f"{info['replay_selfplay']} self-play examples, {len(info['ingested'])} shards"
                )
                status.update(f"training cycle {shown + 1}...")


def _check_workers(fleets) -> None:
    """A demo cannot go on without its workers: stop with the failed worker's last words."""
    for fleet in fleets:
        for worker in fleet.status():
            if worker.state != "running":
                log = fleet.paths.log_file(worker.label)
                tail = log.read_text().strip().splitlines()[-3:]
                console.print(f"[red]{worker.label} failed[/red] ({log}):")
                for line in tail:
                    console.print(f"  {line}", highlight=False)
                raise typer.Exit(1)


def _final_report(experiment, eval_games: int) -> None:
    from rich.table import Table

    from zeb_core.arena import play_match
    from zeb_core.checkpoint import checkpoint_from_dict
    from zeb_core.model_players import GreedyPlayer, ModelEvaluator
    from zeb_core.players import HeuristicPlayer, RandomPlayer

    snapshot = experiment.pull_weights()
    model = checkpoint_from_dict(snapshot.load_checkpoint()).build_model("cpu")
    greedy = GreedyPlayer(ModelEvaluator(model, "cpu"))
    table = Table(title=f"{experiment.name} at cycle {snapshot.state.cycle} (greedy)")
    for column in ("opponent", "games", "win rate", "95% CI", "margin"):
        table.add_column(column, justify="right")
    for name, opponent in (("random", RandomPlayer()), ("heuristic", HeuristicPlayer())):
        r = play_match(greedy, opponent, eval_games - eval_games % 2, seed=0)
        lo, hi = r.a_win_rate_ci95
        table.add_row(
            name, str(r.games), f"{r.a_win_rate:.1%}", f"{lo:.1%} - {hi:.1%}", f"{r.a_margin:+.2f}"
        )
    Console().print(table)
    Console().print(
        f"hub: {experiment.hub.description}; inspect with: zeb hub ls {experiment.name}"
    )
