"""What fleets remember between health passes and process restarts, on local disk.

    <home>/experiments/<EXP>/fleets/<role>/spec.json       the FleetSpec (`zeb fleet up`, learn)
    <home>/experiments/<EXP>/fleets/<role>/memory.json     FleetMemory, after every pass
    <home>/experiments/<EXP>/fleets/<role>/processes.json  LocalFleet's process table
    <home>/experiments/<EXP>/fleets/<role>/logs/<label>.log

A pass writes one small local file, never a hub commit (the hub's commit budget is for shards and
weights). Files are written atomically and carry a format; an unreadable memory file starts a
fresh memory (saying so) rather than stopping the fleet.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from infra.fleet.base import FleetError, FleetSpec, Role
from zeb_core.atomic_files import atomic_write_bytes

log = logging.getLogger("zeb.fleet")
MEMORY_FORMAT = "zeb-fleet-memory-2"  # 2 added lost_games; 1 still reads
STRIKES_TO_BLACKLIST = 3
# Blending of a newly observed games/s into the per-GPU and per-machine throughput tables.
THROUGHPUT_BLEND = 0.3


class FleetPaths:
    """The local folder of one fleet."""

    def __init__(self, home: Path, experiment: str, role: Role) -> None:
        self.home = home.expanduser().resolve()
        self.folder = self.home / "experiments" / experiment / "fleets" / role
        self.spec = self.folder / "spec.json"
        self.memory = self.folder / "memory.json"
        self.processes = self.folder / "processes.json"
        self.lock = self.folder / ".lock"
        self.logs = self.folder / "logs"
        self.spool = self.home / "spool"  # workers' spools: <spool>/<EXP>/<label>/

    def log_file(self, label: str) -> Path:
        return self.logs / f"{label}.log"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkerMemory(_Model):
    first_seen_at: AwareDatetime
    state: str = ""  # the provider state seen last (booting, running, ...)
    state_since: AwareDatetime | None = None  # when it was first seen in that state
    batches: int = 0  # the highest batch count its heartbeat reported
    progress_at: AwareDatetime | None = None  # when that count last went up (or a shard landed)
    last_shard_at: AwareDatetime | None = None


class TrialMemory(_Model):
    replaces: str  # the label of the worst worker, stopped once the trial produces
    started_at: AwareDatetime


class FleetMemory(_Model):
    format: Literal["zeb-fleet-memory-1", "zeb-fleet-memory-2"] = MEMORY_FORMAT
    passes: int = 0
    last_pass_at: AwareDatetime | None = None
    workers: dict[str, WorkerMemory] = Field(default_factory=dict)
    machine_strikes: dict[str, int] = Field(default_factory=dict)  # machine -> failures seen
    gpu_throughput: dict[str, float] = Field(default_factory=dict)  # GPU model -> games/s
    machine_throughput: dict[str, float] = Field(default_factory=dict)  # machine -> games/s
    trials: dict[str, TrialMemory] = Field(default_factory=dict)  # trial label -> what it swaps
    credit_wait_until: AwareDatetime | None = None
    credit_message: str = ""
    # Games that were still in the spool of a worker whose machine this fleet destroyed (its
    # last heartbeat's count): played, paid for, and never uploaded.
    lost_games: int = Field(0, ge=0)

    def blacklisted(self, machine: str | None) -> bool:
        return machine is not None and self.machine_strikes.get(machine, 0) >= STRIKES_TO_BLACKLIST

    def strike(self, machine: str | None) -> None:
        if machine:
            self.machine_strikes[machine] = self.machine_strikes.get(machine, 0) + 1

    def observe_throughput(self, gpu: str | None, machine: str | None, games_per_s: float) -> None:
        for table, key in ((self.gpu_throughput, gpu), (self.machine_throughput, machine)):
            if key and games_per_s > 0:
                old = table.get(key)
                table[key] = (
                    games_per_s if old is None else old + THROUGHPUT_BLEND * (games_per_s - old)
                )

    def waiting_for_credit(self, now: datetime) -> bool:
        return self.credit_wait_until is not None and now < self.credit_wait_until

    def start_credit_wait(self, now: datetime, message: str, probe_every_s: float) -> None:
        self.credit_wait_until = now + timedelta(seconds=probe_every_s)
        self.credit_message = message


class FleetStore:
    """Reads and writes one fleet's spec and memory."""

    def __init__(self, paths: FleetPaths) -> None:
        self.paths = paths

    def save_spec(self, spec: FleetSpec) -> None:
        self.paths.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.paths.spec, spec.model_dump_json(indent=1).encode())

    def load_spec(self) -> FleetSpec | None:
        if not self.paths.spec.is_file():
            return None
        try:
            return FleetSpec.model_validate_json(self.paths.spec.read_bytes())
        except ValidationError as exc:
            first = exc.errors()[0]
            raise FleetError(f"{self.paths.spec}: bad fleet spec: {first['msg']}") from None

    def load_memory(self) -> FleetMemory:
        if not self.paths.memory.is_file():
            return FleetMemory()
        try:
            return FleetMemory.model_validate_json(self.paths.memory.read_bytes())
        except (ValidationError, OSError) as exc:
            log.warning(
                "starting a fresh fleet memory: %s unreadable (%s)",
                self.paths.memory,
                str(exc).splitlines()[0],
            )
            return FleetMemory()

    def save_memory(self, memory: FleetMemory) -> None:
        self.paths.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(self.paths.memory, memory.model_dump_json(indent=1).encode())


def utcnow() -> datetime:
    return datetime.now(UTC)
