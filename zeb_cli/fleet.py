"""`zeb fleet up|status|health|down`: an experiment's worker fleets, from any shell.

    zeb fleet up --exp EXP --role selfplay -n 2 [--provider local|vast] [--dry-run] [options]
    zeb fleet canary --exp EXP --role selfplay --provider vast [options]
    zeb fleet status --exp EXP [--role ROLE] [--json]
    zeb fleet health --exp EXP [--role ROLE] [--dry-run] [--json]
    zeb fleet down --exp EXP [--role ROLE]

`up --dry-run` on Vast prints the offers it would rent ($/h, $/1000 games) and the exact create
request (secrets masked) and rents nothing. `canary` rents one Vast worker, waits for its first
heartbeat and its first shard on the hub, destroys it and prints what it took and cost.

A fleet's spec is kept in the experiment's local folder (`$ZEB_HOME/experiments/EXP/fleets/ROLE`),
so `up` again changes only the options given, and `health` knows the target. `down` stops every
worker of the fleet and sets its target to 0, so a scheduled health pass does not start it again.
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from infra.experiment import Experiment, ExperimentError
from infra.fleet import (
    fleet_store,
    learner_state,
    merge_spec,
    open_fleet,
    stop_fleets,
    stored_specs,
)
from infra.fleet.base import ROLES, CostSummary, FleetError, FleetSpec
from infra.fleet.canary import run_canary
from infra.fleet.health import health_pass
from infra.fleet.memory import utcnow
from infra.fleet.report import (
    cost_line,
    health_rows,
    health_summary,
    memory_lines,
    status_rows,
)
from infra.fleet.sizing import FleetSizing, fleet_sizing
from infra.hub.base import HubError
from infra.settings import Settings, SettingsError, load_settings, make_hub
from zeb_cli.errors import err, fail
from zeb_cli.fleet_plan import print_canary, print_plan
from zeb_cli.model_options import ModelGroup, model_options, validation_message

fleet_app = typer.Typer(
    help="Start, watch, heal and stop an experiment's worker fleets (local processes or Vast.ai).",
    no_args_is_help=True,
)
out = Console()
CANARY_UPLOAD_INTERVAL_S = 60.0
RoleChoice = enum.Enum("RoleChoice", {r: r for r in ROLES}, type=str)
ExpOption = Annotated[str, typer.Option("--exp", help="Experiment name (the hub namespace).")]
RoleFilter = Annotated[
    RoleChoice | None, typer.Option("--role", help="Only this role's fleet (default: all).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _open(exp: str) -> tuple[Settings, Experiment]:
    try:
        settings = load_settings()
        experiment = Experiment(make_hub(settings), exp)
        if not experiment.exists():
            raise ExperimentError(
                f"experiment {exp} not found on {experiment.hub.description}: create it first"
            )
    except (SettingsError, ExperimentError, HubError) as exc:
        raise fail(exc) from None
    return settings, experiment


def _specs(settings: Settings, exp: str, role: RoleChoice | None) -> list[FleetSpec]:
    try:
        specs = stored_specs(settings, exp, role.value if role else None)
    except FleetError as exc:
        raise fail(exc) from None
    if not specs:
        which = f"{role.value} fleet" if role else "fleets"
        raise fail(f"{exp} has no {which} on this machine: start one with zeb fleet up")
    return specs


@fleet_app.command("up")
@model_options(
    spec=ModelGroup(FleetSpec, exclude=frozenset({"experiment", "role", "target"}), panel="Fleet")
)
def up(
    exp: ExpOption,
    role: Annotated[RoleChoice, typer.Option("--role", help="selfplay or evalaux.")],
    workers: Annotated[
        str | None,
        typer.Option(
            "-n",
            "--workers",
            help="Workers to keep running, or auto: as many as the learner can use, up to "
            "--auto-max (the health pass sizes it; one starts now).",
        ),
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show the offers it would rent and the create request; rent nothing.",
        ),
    ] = False,
    spec: dict | None = None,
) -> None:
    """Start the missing workers of a fleet (a second `up` never starts duplicates)."""
    settings, experiment = _open(exp)
    store = fleet_store(settings, exp, role.value)
    given = {"experiment": exp, "role": role.value, **(spec or {})}
    if workers is not None:
        given["target"] = workers if workers == "auto" else _count(workers)
    try:
        merged = merge_spec(store.load_spec(), given)
        fleet = open_fleet(merged, experiment, settings)
        if dry_run:
            print_plan(fleet, merged, out)
            return
        store.save_spec(merged)
        started = fleet.up(merged.initial_workers)
        records = fleet.status()
    except ValidationError as exc:
        raise fail(validation_message(exc)) from None
    except (FleetError, HubError) as exc:
        raise fail(exc) from None
    for label in started:
        err.print(f"started {label}", highlight=False)
    _print_status(merged, records, None)


@fleet_app.command("canary")
@model_options(
    spec=ModelGroup(FleetSpec, exclude=frozenset({"experiment", "role", "target"}), panel="Fleet")
)
def canary(
    exp: ExpOption,
    role: Annotated[RoleChoice, typer.Option("--role", help="selfplay or evalaux.")],
    timeout_s: Annotated[
        float, typer.Option("--timeout-s", min=60, help="Give up (and destroy it) after this.")
    ] = 1800.0,
    poll_s: Annotated[
        float, typer.Option("--poll-s", min=0.1, help="Seconds between looks at the canary.")
    ] = 15.0,
    spec: dict | None = None,
) -> None:
    """Rent one Vast worker, wait for its first heartbeat and its first shard on the hub,
    destroy it, and print what it took and cost: the check to run before a fleet."""
    settings, experiment = _open(exp)
    store = fleet_store(settings, exp, role.value)
    given = {"experiment": exp, "role": role.value, **(spec or {})}
    worker = dict(given.get("worker") or {})
    # The first shard comes one upload interval after the first batch: do not wait 8 minutes.
    worker.setdefault("upload_interval_s", CANARY_UPLOAD_INTERVAL_S)
    given["worker"] = worker
    try:
        merged = merge_spec(store.load_spec(), given)
        if merged.provider != "vast":
            raise FleetError("the canary rents a Vast machine: pass --provider vast")
        fleet = open_fleet(merged, experiment, settings)
    except ValidationError as exc:
        raise fail(validation_message(exc)) from None
    except (FleetError, HubError) as exc:
        raise fail(exc) from None
    report = run_canary(fleet, timeout_s, poll_s, progress=lambda line: err.print(line))
    print_canary(report, out)
    if not report.ok:
        raise typer.Exit(1)


@fleet_app.command("status")
def status(exp: ExpOption, role: RoleFilter = None, as_json: JsonOption = False) -> None:
    """Every worker of the experiment's fleets: state, heartbeat, newest shard, cost, memory,
    and how many workers the learner can use (the $/h spent beyond them)."""
    settings, experiment = _open(exp)
    state = learner_state(experiment)
    reports = []
    for spec in _specs(settings, exp, role):
        try:
            records = open_fleet(spec, experiment, settings).status()
        except FleetError as exc:
            raise fail(exc) from None
        memory = fleet_store(settings, exp, spec.role).load_memory()
        sizing = fleet_sizing(spec.role, records, state)
        if as_json:
            reports.append(_status_json(spec, records, memory, sizing))
        else:
            _print_status(spec, records, memory, sizing)
    if as_json:
        print(json.dumps(reports))


@fleet_app.command("health")
def health(
    exp: ExpOption,
    role: RoleFilter = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report what the pass would do; do nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """One health pass per fleet: classify every worker, replace the broken, replenish."""
    settings, experiment = _open(exp)
    reports = []
    for spec in _specs(settings, exp, role):
        try:
            fleet = open_fleet(spec, experiment, settings)
        except FleetError as exc:
            raise fail(exc) from None
        store = fleet_store(settings, exp, spec.role)
        report = health_pass(fleet, store, dry_run=dry_run, state=learner_state(experiment))
        reports.append(report)
        if not as_json:
            _print_rows(f"{spec.prefix} health", health_rows(report))
            for line in health_summary(report):
                out.print(line, highlight=False)
    if as_json:
        print(json.dumps([r.to_json_dict() for r in reports]))


@fleet_app.command("down")
def down(exp: ExpOption, role: RoleFilter = None) -> None:
    """Stop every worker of the experiment's fleets (and nothing else); targets become 0."""
    settings, experiment = _open(exp)
    stopped, failures = stop_fleets(settings, experiment, _specs(settings, exp, role))
    for prefix, labels in stopped.items():
        out.print(f"{prefix}: stopped {len(labels)} worker(s)", highlight=False)
    if failures:  # what still bills is named in each
        raise fail(" | ".join(failures))


def _count(workers: str) -> int:
    if not workers.isdigit():
        raise fail(f"--workers takes a number or auto, not {workers!r}")
    return int(workers)


def _print_status(spec: FleetSpec, records, memory, sizing: FleetSizing | None = None) -> None:
    now = utcnow()
    _print_rows(f"{spec.prefix} ({spec.provider}, target {spec.target})", status_rows(records, now))
    out.print("cost: " + cost_line(CostSummary.of(records)), highlight=False)
    for line in sizing.lines() if sizing is not None else []:
        out.print("sizing: " + line, highlight=False)
    for line in memory_lines(memory, now) if memory is not None else []:
        out.print(line, highlight=False)


def _status_json(spec: FleetSpec, records, memory, sizing: FleetSizing | None) -> dict:
    cost = CostSummary.of(records)
    return {
        "fleet": spec.prefix,
        "spec": spec.model_dump(mode="json"),
        "workers": status_rows(records, utcnow(), short=False),
        "cost": {
            "dph": cost.dph,
            "games_per_s": cost.games_per_s,
            "dollars_per_1000_games": cost.dollars_per_1000_games,
        },
        "memory": memory.model_dump(mode="json"),
        "sizing": asdict(sizing) if sizing is not None else None,
    }


def _print_rows(title: str, rows: list[dict[str, str]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in rows[0] if rows else ["worker"]:
        table.add_column(column)
    for row in rows:
        table.add_row(*row.values())
    out.print(table)
