"""What the learner keeps on its own disk so that a restart is fast and warm.

    <cache>/<EXP>/training.pt     model + optimizer + AMP scaler + counters, saved every cycle
    <cache>/<EXP>/replay-<n>.npz  the replay buffer at a snapshot
    <cache>/<EXP>/ledger.json     which shards that snapshot holds (ingested or set aside)

The ledger and the replay snapshot it names form one consistent snapshot: the replay file is
written first, then the ledger is replaced atomically to point at it. After a crash the learner
restores that snapshot and re-ingests every shard the ledger does not list, so no shard is lost
or counted twice; pruning only deletes shards that a saved ledger lists.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from zeb_core.atomic_files import atomic_write_bytes
from zeb_core.data.replay import ReplayBuffer, ReplayCacheError, ReplayConfig

log = logging.getLogger("zeb.learner")
LEDGER_FORMAT = "zeb-ledger-1"
TRAINING_FORMAT = 1


class LearnerLockError(RuntimeError):
    """Another learner holds this experiment's cache folder."""


class Ledger(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = LEDGER_FORMAT
    lineage: str  # the experiment's creation stamp: a recreated EXP never reuses an old cache
    replay_file: str | None = None
    ingested: list[str] = Field(default_factory=list)  # hub paths of shards in the snapshot
    rejected: dict[str, str] = Field(default_factory=dict)  # hub path -> why it was set aside
    total_games: int = 0  # self-play games behind the ingested shards (+ the origin's)


@dataclass
class Snapshot:
    ledger: Ledger
    replay: ReplayBuffer
    ingested: set[str] = field(default_factory=set)


class LocalState:
    def __init__(self, folder: Path, lineage: str) -> None:
        self.folder = folder
        self.lineage = lineage
        self.folder.mkdir(parents=True, exist_ok=True)

    # -- training checkpoint (every cycle) ---------------------------------------------------------

    @property
    def training_path(self) -> Path:
        return self.folder / "training.pt"

    def save_training(self, payload: dict[str, Any]) -> None:
        payload = {**payload, "format": TRAINING_FORMAT, "lineage": self.lineage}
        fd, tmp = tempfile.mkstemp(prefix=".training.", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "wb") as f:
                torch.save(payload, f)
            os.replace(tmp, self.training_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load_training(self) -> dict[str, Any] | None:
        """The saved training state of this lineage, or None (missing, foreign or unreadable)."""
        if not self.training_path.is_file():
            return None
        try:
            payload = torch.load(self.training_path, map_location="cpu", weights_only=True)
        except Exception as exc:  # a torn or foreign file: start from the hub's weights instead
            log.warning("ignoring unreadable %s (%s)", self.training_path, str(exc)[:120])
            return None
        if payload.get("format") != TRAINING_FORMAT or payload.get("lineage") != self.lineage:
            log.warning("ignoring %s: another format or experiment lineage", self.training_path)
            return None
        return payload

    # -- replay snapshot + ledger ------------------------------------------------------------------

    @property
    def ledger_path(self) -> Path:
        return self.folder / "ledger.json"

    def load_snapshot(self, config: ReplayConfig, use_replay: bool) -> Snapshot | None:
        if not self.ledger_path.is_file():
            return None
        try:
            ledger = Ledger.model_validate_json(self.ledger_path.read_bytes())
        except (ValidationError, OSError) as exc:
            log.warning("ignoring unreadable %s (%s)", self.ledger_path, str(exc).splitlines()[0])
            return None
        if ledger.lineage != self.lineage:
            log.warning(
                "ignoring %s: it belongs to an earlier experiment of this name", self.ledger_path
            )
            return None
        if not use_replay or ledger.replay_file is None:
            return None
        try:
            replay = ReplayBuffer.load(self.folder / ledger.replay_file, config)
        except (ReplayCacheError, OSError) as exc:
            log.warning("ignoring the replay cache (%s); re-ingesting from the hub", exc)
            return None
        return Snapshot(ledger=ledger, replay=replay, ingested=set(ledger.ingested))

    def save_snapshot(self, ledger: Ledger, replay: ReplayBuffer, tag: int) -> None:
        """Replay first, under a name no ledger has used (a second save at the same cycle must
        not overwrite the file the current ledger names), then the ledger, then old replays."""
        name = f"replay-{tag}-{uuid.uuid4().hex[:8]}.npz"
        replay.save(self.folder / name)
        ledger = ledger.model_copy(update={"replay_file": name, "lineage": self.lineage})
        atomic_write_bytes(self.ledger_path, ledger.model_dump_json(indent=1).encode())
        for old in self.folder.glob("replay-*.npz"):
            if old.name != name:
                old.unlink(missing_ok=True)

    def lock(self, wait_s: float = 60.0) -> None:
        """Hold this experiment's learner lock for the life of the process: one learner per
        experiment and cache folder. A learner being taken over may need a few seconds to save
        and exit, so a busy lock is waited for before giving up."""
        self._lock_file = (self.folder / "learner.lock").open("a+")
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = (self.folder / "learner.pid").read_text().strip() or "?"
                    raise LearnerLockError(
                        f"another learner of this experiment runs here (pid {holder}, cache "
                        f"{self.folder}); stop it first"
                    ) from None
                time.sleep(0.5)
        (self.folder / "learner.pid").write_text(str(os.getpid()))

    def unlock(self) -> None:
        lock_file = getattr(self, "_lock_file", None)
        if lock_file is not None:
            lock_file.close()  # closing the file releases the lock
            self._lock_file = None

    def write_status(self, status: dict[str, Any]) -> None:
        """A small JSON file for people and health checks (`status.json`), and the cycle's
        numbers appended to `history.jsonl` (one line per cycle: curves without W&B)."""
        atomic_write_bytes(self.folder / "status.json", json.dumps(status, indent=1).encode())
        numbers = {k: v for k, v in status.items() if isinstance(v, int | float | str)}
        with (self.folder / "history.jsonl").open("a") as history:
            history.write(json.dumps(numbers) + "\n")

    def read_history(self) -> list[dict[str, Any]]:
        """Every cycle's numbers so far (a torn last line, from a kill, is skipped)."""
        return read_history(self.folder / "history.jsonl")


def read_history(path: Path) -> list[dict[str, Any]]:
    rows = []
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return rows
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows
