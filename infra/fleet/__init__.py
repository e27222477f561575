"""Fleets of workers: `Fleet` has up(n), status(), replace(worker), down() (see `base.py`).

`open_fleet` builds the provider's fleet for a spec; `FleetStore` keeps each fleet's spec and
memory in the experiment's local folder, so any later process (a health pass, `zeb fleet status`,
a learn flow) works on the same fleet.
"""

from __future__ import annotations

import logging

from infra.experiment import Experiment
from infra.experiment_state import ExperimentState
from infra.fleet.base import ROLES, Fleet, FleetError, FleetSpec, Role
from infra.fleet.memory import FleetPaths, FleetStore
from infra.hub.base import HubError
from infra.settings import Settings

log = logging.getLogger("zeb.fleet")


def fleet_store(settings: Settings, experiment: str, role: Role) -> FleetStore:
    return FleetStore(FleetPaths(settings.home, experiment, role))


def open_fleet(spec: FleetSpec, experiment: Experiment, settings: Settings) -> Fleet:
    """The fleet of `spec` on its provider (Vast needs VAST_API_KEY; its SDK loads only then)."""
    store = fleet_store(settings, spec.experiment, spec.role)
    if spec.provider == "local":
        from infra.fleet.local import LocalFleet

        return LocalFleet(spec, experiment, store.paths, settings)
    if settings.vast_api_key is None:
        raise FleetError("a Vast fleet needs VAST_API_KEY in the environment (never a parameter)")
    from infra.fleet.vast import VastFleet

    return VastFleet(spec, experiment, store, settings)


def learner_state(experiment: Experiment) -> ExperimentState | None:
    """The experiment's state for sizing its fleets; None (a pass without sizing) when the hub
    cannot say now: a health pass never fails for want of it."""
    try:
        return experiment.read_state()
    except HubError as exc:
        log.warning("no fleet sizing this pass: the state is unreadable (%s)", exc)
        return None


def stored_specs(settings: Settings, experiment: str, role: Role | None = None) -> list[FleetSpec]:
    """The specs of the experiment's fleets that were brought up from this machine."""
    roles = ROLES if role is None else (role,)
    specs = [fleet_store(settings, experiment, r).load_spec() for r in roles]
    return [s for s in specs if s is not None]


def merge_spec(stored: FleetSpec | None, given: FleetSpec | dict) -> FleetSpec:
    """A stored spec updated by the fields given now (nested fields one by one)."""
    changes = given if isinstance(given, dict) else given.model_dump(exclude_unset=True)
    base = stored.model_dump() if stored is not None else {}
    if stored is not None and changes.get("provider", stored.provider) != stored.provider:
        base = {"experiment": stored.experiment, "role": stored.role}  # another provider
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return FleetSpec.model_validate(base)


def stop_fleets(
    settings: Settings, experiment: Experiment, specs: list[FleetSpec]
) -> tuple[dict[str, list[str]], list[str]]:
    """Stop every worker of these fleets, target 0 first so no health pass starts them again.
    Every fleet is tried: (fleet prefix -> labels stopped, one line per fleet that failed,
    naming what of it still bills)."""
    stopped: dict[str, list[str]] = {}
    failures = []
    for spec in specs:
        fleet_store(settings, spec.experiment, spec.role).save_spec(
            spec.model_copy(update={"target": 0})
        )
        try:
            stopped[spec.prefix] = open_fleet(spec, experiment, settings).down()
        except FleetError as exc:
            failures.append(str(exc))
    return stopped, failures
