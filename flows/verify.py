"""Flow `verify`: is the experiment healthy? A pass/fail table (a table artifact here, rich in the
terminal); a failing check fails the run, naming what to do (`infra.verify`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import Field

from flows.common import (
    artifact_key,
    documented,
    io_task,
    open_experiment,
    run_name,
    settings,
    step_task,
    tag_run,
)
from flows.takeover import learner_status_path
from infra.fleet import fleet_store, open_fleet, stored_specs
from infra.fleet.health import health_pass
from infra.fleet.memory import utcnow
from infra.learner.options import learner_cache_root
from infra.learner.supervisor import read_status
from infra.verify import Check, Evidence, gather_sources, run_checks


class VerifyFailed(RuntimeError):
    """One or more checks failed; the message lists them with what to do."""

    def __init__(self, message: str, checks: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.checks = checks or []


@io_task
def gather(exp: str, recent_s: float) -> Evidence:
    experiment = open_experiment(exp)
    config = settings()
    state = experiment.read_state()
    reports = []
    for spec in stored_specs(config, exp):
        if spec.target == 0:
            continue  # a fleet that was brought down on purpose
        store = fleet_store(config, exp, spec.role)
        fleet = open_fleet(spec, experiment, config)
        reports.append(health_pass(fleet, store, dry_run=True, state=state))
    status_path = learner_status_path(exp) or learner_cache_root(config.home) / exp / "status.json"
    return Evidence(
        state=state,
        sources=gather_sources(experiment),
        status=read_status(Path(status_path)),
        fleets=reports,
        now=utcnow(),
        recent_s=recent_s,
    )


@step_task
def report(exp: str, checks: list[Check]) -> None:
    create_table_artifact(
        [c.to_json_dict() for c in checks],
        key=artifact_key(exp, "verify"),
        description=f"{exp}: {sum(c.ok for c in checks)} of {len(checks)} checks pass",
    )


@flow(name="verify", flow_run_name=run_name("verify"), log_prints=True)
@documented
def verify(
    exp: Annotated[str, Field(description="Experiment name: the namespace on the hub")],
    recent_s: Annotated[
        float, Field(description="How recent a learner cycle and a publish must be", gt=0)
    ] = 900.0,
) -> list[dict[str, Any]]:
    """Check fleets, examples, eval mix, controls, W&B lineage, learner and publishes."""
    tag_run(exp)
    checks = run_checks(gather(exp, recent_s))
    report(exp, checks)
    logger = get_run_logger()
    for check in checks:
        logger.info("%s %s: %s", "PASS" if check.ok else "FAIL", check.name, check.detail)
    failed = [c for c in checks if not c.ok]
    if failed:
        raise VerifyFailed(
            f"{exp}: {len(failed)} check(s) failed: "
            + "; ".join(f"{c.name} ({c.detail}) -> {c.fix}" for c in failed),
            [c.to_json_dict() for c in checks],
        )
    return [c.to_json_dict() for c in checks]
