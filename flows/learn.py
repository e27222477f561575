"""Flow `learn`: one experiment's training, stage 0 (self-play) or stage 1 (self-play + eval-aux).

    take over:    cancel any older learn run of this experiment, then hold the experiment's learner
                  slot (a global concurrency limit of 1, created if missing)
    controls:     write the stage's live controls (stage 1: the original's eval-aux values)
    fleets:       bring the stage's fleets up to their targets (fleets outlive learn runs: a
                  takeover never restarts them; `zeb fleet down` stops them)
    learner:      supervise `zeb learner` for the life of the run, reporting every cycle

Cancelling the run sends SIGTERM: the learner is stopped and saves within the 30 s Prefect grants.
A crashed learner fails the run with its last log lines.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from prefect import flow, get_run_logger
from prefect.concurrency.sync import concurrency
from pydantic import Field

from flows.common import documented, io_task, open_experiment, run_name, settings, tag_run
from flows.fleets import bring_fleet_up
from flows.learn_report import CycleReporter
from flows.takeover import cancel_older_runs, learner_limit, record_run
from infra.experiment_state import Controls
from infra.fleet.base import FleetSettings, Role
from infra.learner.options import LearnerOptions, LearnerSettings
from infra.learner.supervisor import supervise

STAGE_CONTROLS = {0: Controls(), 1: Controls.stage1()}
STAGE_ROLES: dict[int, tuple[Role, ...]] = {0: ("selfplay",), 1: ("selfplay", "evalaux")}


@io_task
def write_stage_controls(exp: str, stage: int) -> dict[str, Any]:
    controls = STAGE_CONTROLS[stage]
    state = open_experiment(exp).update_controls(by=f"learn stage {stage}", **controls.model_dump())
    return state.controls.model_dump()


@io_task
def current_cycle(exp: str) -> int:
    return open_experiment(exp).read_state().cycle


@flow(name="learn", flow_run_name=run_name("stage{stage}"), log_prints=True)
@documented
def learn_experiment(
    exp: Annotated[str, Field(description="Experiment name: the namespace on the hub")],
    stage: Annotated[
        Literal[0, 1], Field(description="0: self-play only; 1: self-play plus eval-aux")
    ] = 0,
    learner: Annotated[LearnerSettings, Field(description="The learner's options")] = (
        LearnerSettings()
    ),
    selfplay: Annotated[FleetSettings, Field(description="The self-play fleet")] = (
        FleetSettings()
    ),
    evalaux: Annotated[FleetSettings, Field(description="The eval-aux fleet (stage 1)")] = (
        FleetSettings()
    ),
    takeover_timeout_s: Annotated[
        float, Field(description="How long to wait for an older learn run to stop", gt=0)
    ] = 120.0,
    report_every: Annotated[
        int, Field(description="Cycles between the progress and table artifacts", ge=1)
    ] = 5,
) -> dict[str, Any]:
    """Train an experiment: controls for the stage, fleets up, then the learner for the life of
    this run (cancel the run to stop the learner cleanly)."""
    tag_run(exp)
    logger = get_run_logger()
    start_cycle = current_cycle(exp)
    limit = learner_limit(exp)
    cancel_older_runs(exp)
    options = LearnerOptions.of(exp, learner).in_home(settings().home)
    with concurrency(limit, occupy=1, timeout_seconds=takeover_timeout_s, strict=True):
        record_run(exp, options.cache_folder() / "status.json")
        controls = write_stage_controls(exp, stage)
        logger.info("%s at cycle %d, stage %d: controls %s", exp, start_cycle, stage, controls)
        fleets = {"selfplay": selfplay, "evalaux": evalaux}
        for role in STAGE_ROLES[stage]:
            fleet = fleets[role]
            started = bring_fleet_up(exp, role, fleet)
            logger.info("%s fleet: %s target, started %s", role, fleet.target, started or "none")
        reporter = CycleReporter(
            exp, start_cycle, options.max_cycles, report_every, logger, options.push_every
        )
        log_path = settings().home / "experiments" / exp / "learner.log"
        supervise(options, log_path, reporter.on_cycle)
    reporter.finish()
    return {"experiment": exp, "stage": stage, **reporter.summary(), "log": str(log_path)}
