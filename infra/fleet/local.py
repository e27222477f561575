"""LocalFleet: workers as local processes that outlive the command that started them.

Each worker runs detached from its caller (its own session and process group) and is recorded in
the fleet's process table (`processes.json` in the fleet folder, see `memory.py`): label, pid, the
process's start time (a reused pid is not mistaken for the worker), command and log path. Any later
process (`zeb fleet status`, a scheduled health pass, a learn flow) reads the table to see, replace
and stop the workers. Changes happen under a file lock and the table is replaced atomically, so two
`up` calls at once never start duplicates.

The label is the worker id, so a replacement finds its predecessor's spool and uploads what it left.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psutil
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.experiment import Experiment
from infra.fleet.base import FleetError, FleetSpec, Offer, WorkerRecord, free_indices
from infra.fleet.hub_view import newest_shards
from infra.fleet.memory import FleetPaths
from infra.hub.base import HubError
from infra.model_args import model_args
from infra.process_identity import is_same_process
from infra.settings import Settings
from infra.worker.heartbeat import error_lines, read_heartbeat
from infra.worker.options import UNUSED_BY_ROLE
from zeb_core.atomic_files import atomic_write_bytes

log = logging.getLogger("zeb.fleet")
PROCESS_TABLE_FORMAT = "zeb-local-fleet-1"
LOG_TAIL_BYTES = 16_384


class ProcessEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str
    pid: int
    create_time: float  # psutil's start time: with the pid and the command, names one process
    command: list[str]
    log: str
    started_at: datetime


class ProcessTable(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = PROCESS_TABLE_FORMAT
    workers: list[ProcessEntry] = Field(default_factory=list)


def process_alive(pid: int, create_time: float, command: list[str] | None = None) -> bool:
    """True while the process recorded with this pid, start time and command runs (zombies are
    dead; see `is_same_process` for why the command counts too)."""
    try:
        proc = psutil.Process(pid)
        if not is_same_process(proc, create_time, command):
            return False  # the pid was reused by another process
        if proc.status() == psutil.STATUS_ZOMBIE:
            _reap(pid)
            return False
        return True
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _reap(pid: int) -> None:
    """Collect the exit status of a worker this process started (others reap their own)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


class LocalFleet:
    """A fleet of `zeb worker` processes on this machine."""

    destroys_spool = False  # a stopped worker's spool stays; its label's next worker uploads it

    def __init__(
        self,
        spec: FleetSpec,
        experiment: Experiment,
        paths: FleetPaths,
        settings: Settings,
        stop_grace_s: float = 30.0,
    ) -> None:
        if spec.provider != "local":
            raise FleetError(f"LocalFleet cannot run a {spec.provider} fleet")
        self.spec = spec
        self.experiment = experiment
        self.paths = paths
        self.settings = settings
        self.stop_grace_s = stop_grace_s

    # -- the protocol --------------------------------------------------------------------------

    def status(self) -> list[WorkerRecord]:
        table = self._read_table()
        shards = self._newest_shards()
        records = [self._record(entry, shards) for entry in table.workers]
        return sorted(records, key=lambda r: (r.index, r.provider_id))

    def up(self, n: int) -> list[str]:
        with self._locked():
            live = [r for r in self.status() if r.state == "running"]
            missing = max(n - len(live), 0)
            labels = [str(self.spec.label(i)) for i in free_indices(live, missing)]
            for label in labels:
                self._start_locked(label)
        return labels

    def start(self, label: str) -> None:
        self._check_label(label)
        with self._locked():
            if any(r.label == label and r.state == "running" for r in self.status()):
                raise FleetError(f"{label} is already running")
            self._start_locked(label)

    def stop(self, worker: WorkerRecord) -> None:
        with self._locked():
            table = self._read_table()
            entries = [e for e in table.workers if str(e.pid) == worker.provider_id]
            self._terminate(entries)
            self._write_table([e for e in table.workers if e not in entries])

    def replace(self, label: str) -> None:
        self._check_label(label)
        with self._locked():
            table = self._read_table()
            entries = [e for e in table.workers if e.label == label]
            self._terminate(entries)
            self._write_table([e for e in table.workers if e not in entries])
            self._start_locked(label)

    def down(self) -> list[str]:
        with self._locked():
            table = self._read_table()
            self._terminate(table.workers)
            self._write_table([])
        return sorted({e.label for e in table.workers})

    def offers(self) -> list[Offer]:
        return []  # this machine is the only one a local fleet has

    # -- status helpers ------------------------------------------------------------------------

    def _record(self, entry: ProcessEntry, shards: dict[str, datetime]) -> WorkerRecord:
        alive = _alive(entry)
        beat = read_heartbeat(self._spool_folder(entry.label))
        if beat is not None and beat.pid != entry.pid:
            beat = None  # an earlier worker's heartbeat under the same label
        text = _tail(Path(entry.log))
        lines = text.strip().splitlines()
        return WorkerRecord(
            label=entry.label,
            provider_id=str(entry.pid),
            state="running" if alive else "exited",
            started_at=entry.started_at,
            heartbeat=beat,
            last_shard_at=shards.get(entry.label),
            dph=0.0,
            machine="local",
            detail=lines[-1][:200] if lines else "",
            error_lines=error_lines(text),
        )

    def _newest_shards(self) -> dict[str, datetime]:
        try:
            return newest_shards(self.experiment, self.spec.role)
        except HubError as exc:
            log.warning("could not list the hub's shards (%s); liveness from heartbeats only", exc)
            return {}

    def _spool_folder(self, label: str) -> Path:
        return self.paths.spool / self.spec.experiment / label

    def _check_label(self, label: str) -> None:
        if not self.spec.owns(label):
            raise FleetError(f"{label} is not a worker of fleet {self.spec.prefix} (local)")

    # -- processes -----------------------------------------------------------------------------

    def command(self, label: str) -> list[str]:
        """The `zeb worker` command line of a worker of this fleet."""
        role = self.spec.role
        settings = model_args(self.spec.worker_settings(), exclude=UNUSED_BY_ROLE[role])
        program = [sys.executable, "-m", "zeb_cli.worker", role]  # `zeb worker`, without the flows
        return [
            *program,
            *("--exp", self.spec.experiment, "--worker-id", label),
            *("--spool-dir", str(self.paths.spool)),
            *settings,
        ]

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["ZEB_HOME"] = str(self.paths.home)
        if self.settings.hub == "local":  # the same folder, whatever the worker's cwd
            env["ZEB_HUB_DIR"] = str(self.settings.local_hub_dir.expanduser().resolve())
        env.setdefault("OMP_NUM_THREADS", "1")  # workers share the cores; no OpenMP spinning
        env.setdefault("NUMBA_NUM_THREADS", "1")  # nor parallel E[Q] solves in every worker
        return env

    def _start_locked(self, label: str) -> None:
        self.paths.logs.mkdir(parents=True, exist_ok=True)
        log_path = self.paths.log_file(label)
        command = self.command(label)
        with log_path.open("ab") as out:
            proc = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env(),
                cwd=str(self.paths.home),
                start_new_session=True,
            )
        entry = ProcessEntry(
            label=label,
            pid=proc.pid,
            create_time=_create_time(proc.pid),
            command=command,
            log=str(log_path),
            started_at=datetime.now(UTC),
        )
        # A dead worker's entry under this label has served its purpose (status showed it).
        kept = [e for e in self._read_table().workers if e.label != label or _alive(e)]
        self._write_table([*kept, entry])
        log.info("started %s (pid %d), log %s", label, proc.pid, log_path)

    def _terminate(self, entries: list[ProcessEntry]) -> None:
        """SIGTERM every worker's process group at once, wait out the grace, then SIGKILL."""
        live = [e for e in entries if _alive(e)]
        for entry in live:
            _signal_group(entry.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_grace_s
        while live and time.monotonic() < deadline:
            time.sleep(0.1)
            live = [e for e in live if _alive(e)]
        for entry in live:
            log.warning("%s ignored SIGTERM for %.0fs: killing it", entry.label, self.stop_grace_s)
            _signal_group(entry.pid, signal.SIGKILL)
        for entry in live:
            _wait_gone(entry)

    # -- the table -----------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.paths.folder.mkdir(parents=True, exist_ok=True)
        with self.paths.lock.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read_table(self) -> ProcessTable:
        if not self.paths.processes.is_file():
            return ProcessTable()
        try:
            return ProcessTable.model_validate_json(self.paths.processes.read_bytes())
        except (ValidationError, json.JSONDecodeError) as exc:
            raise FleetError(
                f"{self.paths.processes} is unreadable: {exc}".splitlines()[0]
            ) from None

    def _write_table(self, workers: list[ProcessEntry]) -> None:
        table = ProcessTable(workers=sorted(workers, key=lambda e: (e.label, e.pid)))
        atomic_write_bytes(self.paths.processes, table.model_dump_json(indent=1).encode())


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)  # the worker leads its own group: its children go too
    except (ProcessLookupError, PermissionError):
        pass


def _create_time(pid: int) -> float:
    try:
        return psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:  # died at once: recorded as dead, its log says why
        return 0.0


def _alive(entry: ProcessEntry) -> bool:
    return process_alive(entry.pid, entry.create_time, entry.command)


def _wait_gone(entry: ProcessEntry, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _alive(entry) and time.monotonic() < deadline:
        time.sleep(0.05)


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(path.stat().st_size - LOG_TAIL_BYTES, 0))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
