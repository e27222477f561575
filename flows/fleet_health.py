"""Flow `fleet-health`: one health pass per fleet (deployed every 5 minutes, for every fleet kept
on this machine, or for one experiment's).

Each pass observes, classifies and acts (`infra.fleet.health`); its report is a table artifact.
The deployment's concurrency limit of 1 cancels a new run while one is still going.
"""

from __future__ import annotations

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
from infra.fleet import fleet_store, learner_state, open_fleet, stored_specs
from infra.fleet.base import Role
from infra.fleet.health import health_pass
from infra.fleet.report import health_rows, health_summary


@io_task
def fleets_of(exp: str | None) -> list[tuple[str, Role]]:
    """(experiment, role) of every fleet kept on this machine (of one experiment, or of all)."""
    config = settings()
    if exp is not None:
        open_experiment(exp)
        names = [exp]
    else:
        folders = (config.home / "experiments").glob("*/fleets")
        names = sorted(p.parent.name for p in folders)
    return [(name, spec.role) for name in names for spec in stored_specs(config, name)]


@step_task
def health_of(exp: str, role: Role, dry_run: bool) -> dict[str, Any]:
    """One pass over one fleet (never retried: a pass acts, and the next pass comes anyway)."""
    config = settings()
    store = fleet_store(config, exp, role)
    experiment = open_experiment(exp)
    fleet = open_fleet(store.load_spec(), experiment, config)
    report = health_pass(fleet, store, dry_run=dry_run, state=learner_state(experiment))
    create_table_artifact(
        health_rows(report, short=False),
        key=artifact_key(exp, role, "fleet-health"),
        description="\n\n".join(health_summary(report)),
    )
    for line in health_summary(report):
        get_run_logger().info(line)
    return report.to_json_dict()


@flow(name="fleet-health", flow_run_name=run_name("fleet-health"), log_prints=True)
@documented
def fleet_health(
    exp: Annotated[
        str | None,
        Field(description="Experiment name; empty: every experiment with fleets on this machine"),
    ] = None,
    dry_run: Annotated[bool, Field(description="Report what a pass would do; do nothing")] = False,
) -> list[dict[str, Any]]:
    """Keep fleets healthy: replace broken workers, replenish to the target."""
    tag_run(exp)
    fleets = fleets_of(exp)
    if not fleets:
        get_run_logger().warning("no fleet on this machine%s", f" for {exp}" if exp else "")
    return [health_of(name, role, dry_run) for name, role in fleets]
