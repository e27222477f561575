"""The Fleet protocol: what every provider (local processes, Vast.ai) offers the health pass.

A fleet belongs to one experiment and one role. Its workers are labelled

    zeb-<EXP>-<role>-worker-<provider>-<i>

and a label is matched by parsing it and comparing fields, never by prefix or substring: the
fleet of experiment `a` never touches a worker of `a-2`. The label is also the worker's id, so a
replacement under the same label finds its predecessor's spool (and names its shards the same way).

Every call is short, idempotent and safe to retry: no call blocks for the life of a worker. Flows
call these as small tasks; the health pass (`health.py`) is the only thing that loops, and only by
being called again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from infra.worker.heartbeat import Heartbeat
from infra.worker.options import Role, WorkerSettings

ROLES: tuple[Role, ...] = ("selfplay", "evalaux")
Provider = Literal["local", "vast"]
# The provider's own view of a worker, normalized:
#   booting     rented / started, not running our code yet (Vast: scheduling, loading the image)
#   running     the process or instance runs
#   exited      it stopped (cleanly or not): it will not produce again
#   gone        the provider no longer knows it (process vanished, instance destroyed)
# booting: rented, not running yet; running; stuck: billing but unable to produce (frozen, host
# unheard from); exited: ended (the disk may still bill until destroyed); gone: no such worker.
ProviderState = Literal["booting", "running", "stuck", "exited", "gone"]
LIVE_STATES: tuple[ProviderState, ...] = ("booting", "running", "stuck")  # rented and billing

_LABEL = re.compile(
    r"^zeb-(?P<experiment>[A-Za-z0-9][A-Za-z0-9._-]*)-(?P<role>selfplay|evalaux)"
    r"-worker-(?P<provider>local|vast)-(?P<index>0|[1-9][0-9]{0,5})$"
)


class FleetError(RuntimeError):
    """A fleet cannot do what was asked (bad spec, missing key, provider refused); one line."""


class CreditError(FleetError):
    """The provider account lacks credit: the fleet stops growing until a later probe."""


@dataclass(frozen=True, order=True)
class WorkerLabel:
    experiment: str
    role: Role
    provider: Provider
    index: int

    def __str__(self) -> str:
        return f"zeb-{self.experiment}-{self.role}-worker-{self.provider}-{self.index}"

    @classmethod
    def parse(cls, label: str | None) -> WorkerLabel | None:
        """The fields of a zeb worker label, or None for anything else (other tools' labels)."""
        match = _LABEL.match(label or "")
        if match is None:
            return None
        return cls(
            match["experiment"],
            match["role"],  # type: ignore[arg-type]
            match["provider"],  # type: ignore[arg-type]
            int(match["index"]),
        )


def fleet_prefix(experiment: str, role: Role) -> str:
    return f"zeb-{experiment}-{role}"


# -- the spec --------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VastSettings(_Strict):
    """Where and at what price a Vast.ai fleet rents machines."""

    gpu_names: list[str] = Field(
        default_factory=lambda: ["RTX 3090", "RTX 4090", "RTX 3080", "RTX A4000"],
        min_length=1,
        description="GPU models to rent (Vast's gpu_name spelling)",
    )
    min_reliability: float = Field(0.98, ge=0, le=1, description="Lowest host reliability")
    disk_gb: float = Field(
        24.0, gt=0, description="Disk rented per worker (GB); offers are priced at this size"
    )
    image: str | None = Field(
        None,
        min_length=1,
        description="Worker image, REGISTRY/NAME:TAG (build and push: infra/docker/publish.sh);"
        " needed to rent",
    )
    max_dph_per_worker: float = Field(0.40, gt=0, description="Most $/h for one worker")
    max_dph_fleet: float = Field(4.0, gt=0, description="Hard budget: most $/h for the fleet")
    interruptible: bool = Field(False, description="Rent interruptible (bid) instead of on demand")


class FleetSettings(_Strict):
    """A fleet's provider, size and worker settings: what the learn flow takes per role."""

    provider: Provider = Field("local", description="local processes or Vast.ai")
    target: Annotated[int, Field(ge=0, le=1000)] | Literal["auto"] = Field(
        1,
        description="Workers the health pass keeps running, or auto: as many as the learner "
        "can use (infra.fleet.sizing), from 1 up to auto_max",
    )
    auto_max: int = Field(8, ge=1, le=1000, description="With target auto: the most workers")
    worker: WorkerSettings = WorkerSettings()
    vast: VastSettings | None = None  # required (and only allowed) for provider "vast"

    @model_validator(mode="before")
    @classmethod
    def _vast_defaults(cls, data: object) -> object:
        if isinstance(data, dict) and data.get("provider") == "vast" and data.get("vast") is None:
            return {**data, "vast": {}}
        return data

    @model_validator(mode="after")
    def _vast_settings_match_provider(self) -> FleetSettings:
        if self.provider != "vast" and self.vast is not None:
            raise ValueError(
                "vast settings (--gpu-names, --max-dph-fleet, ...) are only for provider vast"
            )
        return self

    @property
    def initial_workers(self) -> int:
        """Workers to start before any health pass has sized an auto fleet."""
        return 1 if self.target == "auto" else self.target


class FleetSpec(FleetSettings):
    """One fleet: the experiment and role it serves, and its settings."""

    experiment: str
    role: Role

    @classmethod
    def of(cls, experiment: str, role: Role, settings: FleetSettings) -> FleetSpec:
        return cls(experiment=experiment, role=role, **settings.model_dump())

    def settings(self) -> FleetSettings:
        return FleetSettings.model_validate(self.model_dump(exclude={"experiment", "role"}))

    @property
    def prefix(self) -> str:
        return fleet_prefix(self.experiment, self.role)

    def worker_settings(self) -> WorkerSettings:
        """What each worker gets: the fleet's settings, told the most workers the fleet may
        hold (they share the hub's rate limits and pace their looks for weights by it)."""
        most = self.auto_max if self.target == "auto" else self.target
        return self.worker.model_copy(update={"fleet_size": max(most, 1)})

    def label(self, index: int) -> WorkerLabel:
        return WorkerLabel(self.experiment, self.role, self.provider, index)

    def owns(self, label: str | None) -> bool:
        """True exactly for this fleet's labels: same experiment, role and provider."""
        parsed = WorkerLabel.parse(label)
        return parsed is not None and (parsed.experiment, parsed.role, parsed.provider) == (
            self.experiment,
            self.role,
            self.provider,
        )


# -- what status() returns -------------------------------------------------------------------------


@dataclass
class WorkerRecord:
    """One worker as a fleet sees it. Liveness comes from three places: the provider's state, the
    worker's own heartbeat (file or log line) and the newest shard the hub has from it."""

    label: str
    provider_id: str  # pid (local) or instance id (Vast)
    state: ProviderState
    started_at: datetime | None = None
    heartbeat: Heartbeat | None = None  # the newest heartbeat the fleet could read
    log_read: bool = True  # False: the log could not be read this pass (heartbeat unknown)
    last_shard_at: datetime | None = None  # the newest shard on the hub from this worker id
    dph: float | None = None  # $/h where known (local: 0)
    machine: str | None = None  # the host (Vast machine id), for strikes and throughput
    gpu: str | None = None
    detail: str = ""  # the provider's status message or the last log line, for people
    error_lines: list[str] = field(default_factory=list)  # recent error lines from its log

    @property
    def index(self) -> int:
        parsed = WorkerLabel.parse(self.label)
        return parsed.index if parsed else -1

    @property
    def games_per_s(self) -> float:
        return self.heartbeat.games_per_s if self.heartbeat else 0.0


@dataclass(frozen=True)
class Offer:
    """A machine a fleet could rent, priced at the disk the fleet actually rents."""

    offer_id: str
    machine: str
    gpu: str
    dph: float  # $/h including the rented disk
    expected_games_per_s: float  # from the observed throughput table, else the GPU's default

    @property
    def dollars_per_1000_games(self) -> float:
        return self.dph / max(self.expected_games_per_s, 1e-9) / 3.6


@dataclass(frozen=True)
class CostSummary:
    dph: float  # $/h of the fleet now
    games_per_s: float  # the fleet's games/s now (from heartbeats)
    dollars_per_1000_games: float | None  # None while nothing is produced

    @classmethod
    def of(cls, records: list[WorkerRecord]) -> CostSummary:
        live = [r for r in records if r.state in LIVE_STATES]
        dph = sum(r.dph or 0.0 for r in live)
        rate = sum(r.games_per_s for r in live if r.state == "running")
        per_1000 = dph / rate / 3.6 if rate > 0 else None
        return cls(dph, rate, per_1000)


class Fleet(Protocol):
    """A fleet of one experiment's workers of one role, on one provider."""

    spec: FleetSpec
    # Whether stopping a worker destroys its spool with its machine (Vast: the instance and its
    # disk go; local: the spool folder stays and the next worker of the label uploads it).
    destroys_spool: bool

    def status(self) -> list[WorkerRecord]:
        """Every worker of this fleet (and nothing else), sorted by label."""
        ...

    def up(self, n: int) -> list[str]:
        """Start workers until n of this fleet are alive, numbering into free indices and never
        reusing a live label; return the labels started (may be fewer: budget, credit)."""
        ...

    def start(self, label: str) -> None:
        """Start one worker under `label` (a free label of this fleet)."""
        ...

    def stop(self, worker: WorkerRecord) -> None:
        """Stop this one worker (it spools what it played first; a duplicate label's other
        worker is left alone); a no-op if it no longer runs."""
        ...

    def replace(self, label: str) -> None:
        """Stop the worker and start a new one under the same label."""
        ...

    def down(self) -> list[str]:
        """Stop every worker of this fleet and nothing else; return the labels stopped."""
        ...

    def offers(self) -> list[Offer]:
        """Machines this fleet could rent now, best value first (local: none)."""
        ...


def free_indices(
    records: list[WorkerRecord], count: int, taken: set[int] = frozenset()
) -> list[int]:
    """The `count` lowest worker indices that no live worker of the fleet uses."""
    used = {r.index for r in records if r.state in LIVE_STATES} | set(taken)
    out, i = [], 0
    while len(out) < count:
        if i not in used:
            out.append(i)
        i += 1
    return out
