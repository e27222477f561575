"""An in-memory provider for health-pass tests: workers are records the test moves along."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from infra.fleet.base import (
    LIVE_STATES,
    CreditError,
    FleetError,
    FleetSpec,
    Offer,
    WorkerRecord,
    free_indices,
)
from infra.worker.heartbeat import Heartbeat

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def beat(label: str, batches: int, phase: str = "playing", gps: float = 2.0, **kw) -> Heartbeat:
    return Heartbeat(
        worker_id=label,
        pid=1,
        phase=phase,
        started_at=T0,
        updated_at=T0,
        batches=batches,
        games=batches * 8,
        games_per_s=gps,
        **kw,
    )


@dataclass
class FakeFleet:
    """Implements the Fleet protocol over a dict of records; logs every call it gets."""

    spec: FleetSpec
    records: list[WorkerRecord] = field(default_factory=list)
    calls: list[tuple] = field(default_factory=list)
    offer_list: list[Offer] = field(default_factory=list)
    dph: float = 0.2
    credit: bool = True
    next_id: int = 100
    destroys_spool: bool = True  # as on Vast

    def status(self) -> list[WorkerRecord]:
        return sorted(self.records, key=lambda r: (r.index, r.provider_id))

    def up(self, n: int) -> list[str]:
        self.calls.append(("up", n))
        live = [r for r in self.records if r.state in LIVE_STATES]
        labels = [str(self.spec.label(i)) for i in free_indices(live, max(n - len(live), 0))]
        for label in labels:
            self._create(label)
        return labels

    def start(self, label: str) -> None:
        self.calls.append(("start", label))
        self._create(label)

    def stop(self, worker: WorkerRecord) -> None:
        self.calls.append(("stop", worker.label, worker.provider_id))
        self.records = [r for r in self.records if r.provider_id != worker.provider_id]

    def replace(self, label: str) -> None:
        self.calls.append(("replace", label))
        self.records = [r for r in self.records if r.label != label]
        self._create(label)

    def down(self) -> list[str]:
        self.calls.append(("down",))
        labels = sorted({r.label for r in self.records})
        self.records = []
        return labels

    def offers(self) -> list[Offer]:
        return list(self.offer_list)

    # -- test controls -------------------------------------------------------------------------

    def _create(self, label: str) -> None:
        if not self.credit:
            raise CreditError("insufficient credit")
        if not self.spec.owns(label):
            raise FleetError(f"{label} is not ours")
        self.next_id += 1
        self.records.append(
            WorkerRecord(
                label=label,
                provider_id=str(self.next_id),
                state="booting",
                started_at=T0,
                dph=self.dph,
                machine=f"m{self.next_id}",
                gpu="RTX 3090",
            )
        )

    def add(self, index: int, state: str = "running", **kw) -> WorkerRecord:
        self.next_id += 1
        label = str(self.spec.label(index))
        record = WorkerRecord(
            label=label,
            provider_id=str(self.next_id),
            state=state,
            started_at=T0,
            dph=self.dph,
            machine=f"m{self.next_id}",
            **kw,
        )
        self.records.append(record)
        return record

    def set(self, label: str, **changes) -> None:
        self.records = [replace(r, **changes) if r.label == label else r for r in self.records]

    def progress(self, label: str, batches: int, gps: float = 2.0) -> None:
        self.set(label, state="running", heartbeat=beat(label, batches, gps=gps))

    def actions(self) -> list[tuple]:
        return [c for c in self.calls if c[0] != "status"]
