"""Flow `fleet-health`: one health pass per fleet of an experiment (deployed every 5 minutes).

Each pass observes, classifies and acts (`infra.fleet.health`); its report is a table artifact.
The deployment's concurrency limit of 1 cancels a new run while one is still going.
"""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_table_artifact
from pydantic import Field

from flows.common import artifact_key, io_task, open_experiment, settings, step_task
from infra.fleet import fleet_store, open_fleet, stored_specs
from infra.fleet.base import Role
from infra.fleet.health import health_pass
from infra.fleet.report import health_rows, health_summary


@io_task
def fleet_roles(exp: str) -> list[Role]:
    open_experiment(exp)
    return [spec.role for spec in stored_specs(settings(), exp)]


@step_task
def health_of(exp: str, role: Role, dry_run: bool) -> dict[str, Any]:
    """One pass over one fleet (never retried: a pass acts, and the next pass comes anyway)."""
    config = settings()
    store = fleet_store(config, exp, role)
    fleet = open_fleet(store.load_spec(), open_experiment(exp), config)
    report = health_pass(fleet, store, dry_run=dry_run)
    create_table_artifact(
        health_rows(report, short=False),
        key=artifact_key(exp, role, "fleet-health"),
        description="\n\n".join(health_summary(report)),
    )
    for line in health_summary(report):
        get_run_logger().info(line)
    return report.to_json_dict()


@flow(name="fleet-health", log_prints=True)
def fleet_health(
    exp: Annotated[str, Field(description="Experiment name: the namespace on the hub")],
    dry_run: Annotated[bool, Field(description="Report what a pass would do; do nothing")] = False,
) -> list[dict[str, Any]]:
    """Keep the experiment's fleets healthy: replace broken workers, replenish to the target."""
    roles = fleet_roles(exp)
    if not roles:
        get_run_logger().warning("%s has no fleet on this machine: nothing to check", exp)
    return [health_of(exp, role, dry_run) for role in roles]
