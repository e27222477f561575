"""Flows `fleet-up` and `fleet-down`: an experiment's fleets from the Prefect UI.

Fleets outlive learn runs: cancelling a learn run stops its learner and leaves the fleets
producing (a new learn run picks them up), and the scheduled health pass keeps them at their
targets. `fleet-down` is how a UI user stops them: it sets each fleet's target to 0 (so the
health pass does not start them again) and stops every worker. `fleet-up` starts a fleet, or
changes its size and settings, without a learner.
"""

from __future__ import annotations

from typing import Annotated, Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from flows.common import (
    UserError,
    artifact_key,
    documented,
    io_task,
    open_experiment,
    run_name,
    settings,
    tag_run,
)
from infra.fleet import fleet_store, merge_spec, open_fleet, stop_fleets, stored_specs
from infra.fleet.base import FleetError, FleetSettings, FleetSpec, Role


@io_task
def bring_fleet_up(exp: str, role: Role, fleet: FleetSettings) -> list[str]:
    """Save the fleet's spec and start its missing workers (running ones are left alone)."""
    config = settings()
    store = fleet_store(config, exp, role)
    spec = merge_spec(store.load_spec(), FleetSpec.of(exp, role, fleet).model_dump())
    running = open_fleet(spec, open_experiment(exp), config)
    store.save_spec(spec)
    return running.up(spec.initial_workers)


@io_task
def bring_fleets_down(exp: str, role: Role | None) -> dict[str, list[str]]:
    """Target 0 and every worker stopped, for each fleet of `exp` (of one role, or all)."""
    config = settings()
    specs = stored_specs(config, exp, role)
    if not specs:
        raise UserError(f"{exp} has no {role + ' ' if role else ''}fleet on this machine")
    stopped, failures = stop_fleets(config, open_experiment(exp), specs)
    if failures:  # the message names every instance that still bills
        raise FleetError(" | ".join(failures))
    return stopped


@flow(name="fleet-up", flow_run_name=run_name("fleet-up-{role}"), log_prints=True)
@documented
def fleet_up(
    exp: Annotated[str, Field(description="Experiment name: the namespace on the hub")],
    role: Annotated[Role, Field(description="selfplay or evalaux")],
    fleet: Annotated[FleetSettings, Field(description="The fleet: provider, size, workers")] = (
        FleetSettings()
    ),
) -> dict[str, Any]:
    """Start a fleet's missing workers (or resize it) without a learner."""
    tag_run(exp)
    started = bring_fleet_up(exp, role, fleet)
    get_run_logger().info("%s %s fleet: target %s, started %s", exp, role, fleet.target, started)
    return {"experiment": exp, "role": role, "target": fleet.target, "started": started}


@flow(name="fleet-down", flow_run_name=run_name("fleet-down"), log_prints=True)
@documented
def fleet_down(
    exp: Annotated[str, Field(description="Experiment name: the namespace on the hub")],
    role: Annotated[
        Role | None, Field(description="Only this role's fleet (empty: every fleet)")
    ] = None,
) -> dict[str, list[str]]:
    """Stop an experiment's fleets: targets 0 (no health pass restarts them), every worker
    stopped; fails naming any instance that still bills."""
    tag_run(exp)
    stopped = bring_fleets_down(exp, role)
    lines = [f"- {prefix}: stopped {len(labels)} worker(s)" for prefix, labels in stopped.items()]
    message = f"{exp}: fleets down, targets 0\n\n" + "\n".join(lines)
    get_run_logger().info(message)
    create_markdown_artifact(message, key=artifact_key(exp, "fleet-down"), description="fleets")
    return stopped
