"""`zeb demo`: the README's main job, a small experiment end to end through the Prefect flows.

Local hub, local worker processes, W&B offline and Prefect's temporary local API, all in this one
process (one API start-up, not one per step):

    create        from random weights (small preset, belief head)
    learn 0       self-play only, for a few minutes
    learn 1       self-play plus eval-aux, in the background while this process
                  verifies (eval-aux in the batches), rolls eval-aux back, and verifies again
                  once the learner applied it
    evaluate      the final weights and the initial ones, greedy, 1000 games each vs random
    plot          win rates and losses over cycles (PNG); the paths of the plot, the W&B
                  offline run and the hub

Every worker and learner process it started is stopped before it returns.

Stage 1 is here to show its controls at work (eval-aux in the batches, the rollback), not because
it learns faster: on one machine its E[Q] worker takes the self-play's cores, and measured over
10 and 20 minutes it learned no better than stage 0 alone (README, "Stage 1 as a lever").
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from zeb_cli.demo_steps import (
    DemoPlan,
    evaluate_weights,
    fleets_down,
    print_result,
    wait_for_status,
)

console = Console(stderr=True)

# Stage 1's learner may outlive its share of the demo by this much while the rollback is applied:
# on a busy machine the rollback flow took longer than stage 1 had left, the learner ended with
# eval-aux still on, and the verify after the rollback failed. It is stopped once both are done.
ROLLBACK_ALLOWANCE_MINUTES = 5.0


def demo_command(
    exp: str = typer.Option("demo", "--exp", help="Experiment name."),
    home: Path = typer.Option(Path(".zeb/demo"), help="Folder for the hub, caches and logs."),
    minutes: float = typer.Option(10.0, help="Learning time in all (stage 0, then stage 1)."),
    workers: int = typer.Option(1, help="Self-play worker processes."),
    eval_games: int = typer.Option(1000, help="Games per final evaluation matchup."),
) -> None:
    """Run a small experiment end to end: create, learn stage 0 and 1, verify, rollback, verify,
    evaluate, plot."""
    plan = DemoPlan.build(exp, home.resolve(), minutes, workers, eval_games)
    _demo_environment(plan.home)
    from flows.create import create_experiment
    from flows.learn import learn_experiment
    from zeb_cli.prefect_runtime import prepare_prefect

    prepare_prefect(console)
    started = time.monotonic()
    # The head shows its losses here; over 20 minutes it costs strength per minute (README,
    # "Whether the head pays"), which is why `zeb create` leaves it out by default.
    created = create_experiment(exp=exp, size="small", belief_head=True, seed=0)
    console.print(created["message"], highlight=False)
    initial = evaluate_weights(plan.initial_weights(), eval_games, console, "initial weights")
    try:
        console.rule("learn stage 0")
        learn_experiment(
            exp=exp, stage=0, learner=plan.learner(plan.stage0_minutes), selfplay=plan.selfplay
        )
        console.rule("learn stage 1 (verify, rollback, verify while it learns)")
        checks = _stage1_with_rollback(plan, learn_experiment)
    finally:
        fleets_down(exp, console)
    final = evaluate_weights(plan.final_weights(), eval_games, console, "final weights")
    ok = print_result(plan, initial, final, checks, time.monotonic() - started)
    if not ok:
        raise typer.Exit(1)


def _demo_environment(home: Path) -> None:
    """This process and every one it starts: the demo's folder, a local hub, W&B offline."""
    os.environ.update(ZEB_HOME=str(home), ZEB_HUB="local", ZEB_HUB_DIR=str(home / "hub"))
    os.environ["WANDB_DIR"] = str(home)
    if not os.environ.get("WANDB_API_KEY"):
        os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the learner and workers share the cores


def _stage1_with_rollback(plan: DemoPlan, learn_experiment) -> dict[str, Any]:
    """Stage 1 in a thread; here: verify once eval-aux rows train, rollback, verify again once
    the learner has applied it. Returns the two verify results."""
    from flows.rollback import rollback

    result: dict[str, Any] = {}

    def learn() -> None:
        try:
            result["learn"] = learn_experiment(
                exp=plan.exp,
                stage=1,
                learner=plan.learner(plan.stage1_minutes + ROLLBACK_ALLOWANCE_MINUTES),
                selfplay=plan.selfplay,
                evalaux=plan.evalaux,
            )
        except BaseException as exc:  # noqa: BLE001 - reported by the foreground
            result["error"] = exc

    thread = threading.Thread(target=learn, name="learn-stage-1")
    share_ends = time.monotonic() + 60 * plan.stage1_minutes
    thread.start()
    status = plan.status_path()
    checks: dict[str, Any] = {}
    try:
        wait_for_status(status, lambda s: s.get("train/eval_aux_fraction", 0) > 0, thread)
        checks["verify"] = _verify(plan.exp, "eval-aux training")
        rollback(exp=plan.exp)
        # Verify once a learner cycle has run with eval-aux off: counting cycles from before the
        # rollback raced it (the rollback flow can take several cycles on a busy machine).
        after = wait_for_status(status, _rolled_back, thread)
        checks["verify_after_rollback"] = _verify(plan.exp, f"rollback, cycle {after['cycle']}")
        _stop_learner_when(share_ends, status, thread)
    finally:
        thread.join()
    if "error" in result:
        raise result["error"]
    return checks


def _stop_learner_when(share_ends: float, status_path: Path, learner: threading.Thread) -> None:
    """Once stage 1's share is up, stop its learner as a user would: SIGTERM, on which it saves
    everything and exits cleanly (its supervisor then returns)."""
    from infra.learner.supervisor import read_status

    while learner.is_alive() and time.monotonic() < share_ends:
        time.sleep(1.0)
    pid = (read_status(status_path) or {}).get("pid")
    if learner.is_alive() and pid:
        try:
            os.kill(int(pid), signal.SIGTERM)
        except ProcessLookupError:
            pass  # it ended on its own meanwhile


def _rolled_back(status: dict[str, Any]) -> bool:
    """The learner's last cycle ran with eval-aux off (the controls the rollback wrote)."""
    return not status.get("controls/eval_aux_enabled", 1.0)


def _verify(exp: str, when: str) -> list[dict[str, Any]]:
    from flows.verify import VerifyFailed, verify
    from zeb_cli.flow_commands import _print_checks

    try:
        checks = verify(exp=exp)
    except VerifyFailed as exc:
        checks = exc.checks
    _print_checks(f"{exp} ({when})", checks)
    return checks
