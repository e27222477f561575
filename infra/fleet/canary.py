"""A canary: the one worker a user with a Vast key rents before a fleet, to see the whole path work.

It rents the best matching offer for one worker of the fleet (label index `CANARY_INDEX`, so it
never takes a fleet worker's label), waits for the instance to run, for the worker's first
heartbeat in its log and for its first shard on the hub, then destroys it, whatever happened,
Ctrl-C included. The report says how long each step took and what it cost. A health pass of the
same fleet running meanwhile counts the canary as a worker beyond its target and may stop it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from infra.fleet.base import FleetError, WorkerRecord
from infra.fleet.vast import VastFleet

CANARY_INDEX = 999999  # the largest index a label takes: no fleet grows that far
MILESTONES = ("rented", "running", "heartbeat", "shard")
DESTROY_ROUNDS = 3


@dataclass
class CanaryReport:
    label: str
    offer: str = ""  # "<offer id> on machine <m> (<gpu>)"
    dph: float = 0.0  # the rented $/h
    seconds: dict[str, float] = field(default_factory=dict)  # milestone -> seconds from the start
    total_s: float = 0.0
    failure: str = ""  # empty when every milestone was reached
    left_billing: list[str] = field(default_factory=list)  # instances it could not destroy

    @property
    def ok(self) -> bool:
        return not self.failure and not self.left_billing

    @property
    def cost(self) -> float:
        """Dollars, at the rented $/h for as long as the canary existed."""
        return self.dph * self.total_s / 3600.0


def run_canary(
    fleet: VastFleet,
    timeout_s: float = 1800.0,
    poll_s: float = 15.0,
    progress: Callable[[str], None] = lambda line: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> CanaryReport:
    label = str(fleet.spec.label(CANARY_INDEX))
    report = CanaryReport(label=label)
    started = clock()
    try:
        _rent(fleet, report, progress)
        report.seconds["rented"] = clock() - started
        _watch(fleet, report, started, timeout_s, poll_s, progress, clock, sleep)
    except FleetError as exc:
        report.failure = str(exc)
    finally:
        report.left_billing = _destroy(fleet, label, progress)
        report.total_s = clock() - started
    return report


def _rent(fleet: VastFleet, report: CanaryReport, progress: Callable[[str], None]) -> None:
    offers = fleet.offers()
    if not offers:
        raise FleetError("no offer matches the fleet's GPUs, reliability, disk and $/h a worker")
    best = offers[0]
    report.offer = f"{best.offer_id} on machine {best.machine} ({best.gpu})"
    report.dph = best.dph
    progress(f"renting {report.label}: offer {report.offer}, ${best.dph:.3f}/h")
    fleet.start(report.label)


def _watch(
    fleet: VastFleet,
    report: CanaryReport,
    started: float,
    timeout_s: float,
    poll_s: float,
    progress: Callable[[str], None],
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """Poll the canary until its first shard is on the hub; raise FleetError on its death."""
    while "shard" not in report.seconds:
        if clock() - started > timeout_s:
            missing = [m for m in MILESTONES if m not in report.seconds]
            raise FleetError(f"timed out after {timeout_s:.0f}s waiting for: {', '.join(missing)}")
        sleep(poll_s)
        record = _canary_record(fleet, report.label)
        if record is None:
            raise FleetError(f"{report.label} vanished from the account's instances")
        for milestone in _reached(record):
            if milestone not in report.seconds:
                report.seconds[milestone] = clock() - started
                progress(f"{milestone} after {report.seconds[milestone]:.0f}s")
        if record.state in ("exited", "gone"):
            last = record.error_lines[-1] if record.error_lines else record.detail
            raise FleetError(f"{report.label} {record.state}: {last}")


def _canary_record(fleet: VastFleet, label: str) -> WorkerRecord | None:
    mine = [r for r in fleet.status() if r.label == label]
    live = [r for r in mine if r.state != "gone"]
    return (live or mine or [None])[0]


def _reached(record: WorkerRecord) -> list[str]:
    reached = []
    if record.state == "running":
        reached.append("running")
    if record.heartbeat is not None:
        reached += ["running", "heartbeat"]
    if record.last_shard_at is not None:
        reached += ["running", "heartbeat", "shard"]
    return list(dict.fromkeys(reached))


def _destroy(fleet: VastFleet, label: str, progress: Callable[[str], None]) -> list[str]:
    """Destroy every instance under the canary's label until none is listed; what is left."""
    left: list[WorkerRecord] = []
    for attempt in range(DESTROY_ROUNDS + 1):
        try:
            left = [r for r in fleet.status() if r.label == label and r.state != "gone"]
        except FleetError as exc:
            progress(f"could not list instances to destroy the canary: {exc}")
            continue
        if not left:
            progress(f"destroyed {label}")
            return []
        if attempt == DESTROY_ROUNDS:
            break
        for record in left:
            try:
                fleet.stop(record)
            except FleetError as exc:
                progress(f"destroying instance {record.provider_id} failed: {exc}")
    return [f"instance {r.provider_id} (${r.dph or 0:.3f}/h)" for r in left]
