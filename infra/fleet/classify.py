"""Observe and classify one fleet worker: what a health pass sees, and what it makes of it.

`observe` folds what a pass sees into the worker's memory; `classify` then judges from the
provider's state, the worker's heartbeat and its newest shard on the hub:
    ok           producing: its batch count or its newest shard moved within `stall_s`
    booting      the provider is still starting it (replaced after `boot_timeout_s`)
    setting_up   running, no first batch yet (replaced after `setup_timeout_s`)
    waiting      running and waiting for the hub (an outage, not the worker's fault)
    stuck        billing but unable to produce (Vast: frozen, host unknown or offline); an
                 error after `error_grace_s`
    error        exited, gone, or an error in its log while it never produced
    stalled      produced before, but nothing new for `stall_s` seconds
Progress outranks the log: a worker whose heartbeat advances is ok whatever its log says. Stall
time is measured in seconds on this side's clock, never in passes. A log that could not be read
(Vast uploads it before its URL serves it) says nothing: a new worker is not replaced for "no
first batch" on an unread log until twice `setup_timeout_s`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from infra.fleet.base import LIVE_STATES, WorkerRecord
from infra.fleet.memory import FleetMemory, WorkerMemory

Health = Literal["ok", "booting", "setting_up", "waiting", "stuck", "error", "stalled"]


@dataclass(frozen=True)
class HealthConfig:
    """The classification's thresholds and the pass's limits: one config for one pass."""

    stall_s: float = 900.0  # produced before, nothing new for this long: stalled
    boot_timeout_s: float = 600.0  # booting longer than 10 minutes: replaced
    setup_timeout_s: float = 900.0  # running without a first batch for 15 minutes: replaced
    error_grace_s: float = 120.0  # an error line counts once the worker had this long to produce
    replenish_batch: int = 4  # most workers started per pass (a provider outage starts few)
    trial_gain: float = 0.15  # an offer this much cheaper per game than the worst worker
    credit_probe_s: float = 300.0  # without credit, try growing again after this long
    time_budget_s: float = 120.0  # actions not started within this are left to the next pass


def observe(record: WorkerRecord, memory: FleetMemory, now: datetime) -> WorkerMemory:
    """Fold what this pass sees of a worker into its memory: state changes and progress."""
    seen = memory.workers.get(record.label)
    if seen is None or seen.state == "" or _other_worker(seen, record):
        seen = WorkerMemory(first_seen_at=now)
    if seen.state != record.state:
        seen.state, seen.state_since = record.state, now
    batches = record.heartbeat.batches if record.heartbeat else 0
    if batches > seen.batches:
        seen.batches, seen.progress_at = batches, now
    shard = record.last_shard_at
    if shard is not None and (seen.last_shard_at is None or shard > seen.last_shard_at):
        if seen.last_shard_at is not None:
            seen.progress_at = now  # a new shard is progress too (the first only a baseline)
        seen.last_shard_at = shard
    memory.workers[record.label] = seen
    return seen


def _other_worker(seen: WorkerMemory, record: WorkerRecord) -> bool:
    """A new worker under a known label (a replacement) starts a fresh memory."""
    batches = record.heartbeat.batches if record.heartbeat else 0
    revived = record.state in LIVE_STATES and seen.state in ("exited", "gone")
    recounted = record.state == "running" and batches < seen.batches
    return revived or recounted


def classify(
    record: WorkerRecord, seen: WorkerMemory, now: datetime, config: HealthConfig
) -> tuple[Health, str]:
    in_state = (now - (seen.state_since or seen.first_seen_at)).total_seconds()
    if record.state in ("exited", "gone"):
        return "error", _why_it_ended(record)[:200]
    if record.state == "booting":
        if in_state > config.boot_timeout_s:
            return "error", f"stuck booting for {in_state:.0f}s"
        return "booting", record.detail[:200]
    if record.state == "stuck":
        why = f"{record.detail}: billing, not producing"[:200]
        if in_state > config.error_grace_s:
            return "error", f"{why} for {in_state:.0f}s"
        return "stuck", why
    if seen.progress_at is not None or seen.batches > 0:
        idle = (now - (seen.progress_at or seen.first_seen_at)).total_seconds()
        if idle <= config.stall_s:
            return "ok", ""
        return "stalled", f"no new batch for {idle:.0f}s"
    phase = record.heartbeat.phase if record.heartbeat else None
    if phase == "waiting":
        return "waiting", record.heartbeat.message[:200] if record.heartbeat else ""
    if record.error_lines and in_state > config.error_grace_s:
        return "error", record.error_lines[-1][:200]
    if not record.log_read:
        if in_state > 2 * config.setup_timeout_s:
            return "error", f"no readable log and no shard after {in_state:.0f}s"
        return "setting_up", "log not readable yet"
    if in_state > config.setup_timeout_s:
        return "error", f"no first batch after {in_state:.0f}s"
    return "setting_up", phase or "starting"


def _why_it_ended(record: WorkerRecord) -> str:
    beat = record.heartbeat
    if beat is not None and beat.phase == "error":
        return f"failed: {beat.message}"
    if beat is not None and beat.phase == "stopped":
        return "stopped"
    last = record.error_lines[-1] if record.error_lines else record.detail
    return f"{record.state} without a last heartbeat (killed?)" + (f"; log: {last}" if last else "")
