"""LocalFleet: workers as local processes (the default fleet).

Workers are named `<fleet>-worker-local-<i>`; the name is also the worker id, so a replaced
worker finds its predecessor's spool and uploads what it left. Each worker logs to
`<log_dir>/<name>.log`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

WorkerState = Literal["running", "exited", "error"]


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    state: WorkerState
    pid: int | None
    exit_code: int | None
    log: Path


class LocalFleet:
    def __init__(
        self,
        fleet: str,
        worker_args: list[str],
        log_dir: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        self.fleet = fleet
        self.worker_args = worker_args  # `zeb` arguments after the program, without --worker-id
        self.log_dir = log_dir
        self.env = env
        self.procs: dict[str, subprocess.Popen] = {}

    def name(self, index: int) -> str:
        return f"{self.fleet}-worker-local-{index}"

    def up(self, n: int) -> list[str]:
        """Make sure workers 0..n-1 run (starting the missing ones); return their names."""
        names = [self.name(i) for i in range(n)]
        for name in names:
            proc = self.procs.get(name)
            if proc is None or proc.poll() is not None:
                self._start(name)
        return names

    def status(self) -> list[WorkerStatus]:
        out = []
        for name, proc in sorted(self.procs.items()):
            code = proc.poll()
            state: WorkerState = "running" if code is None else ("exited" if code == 0 else "error")
            out.append(WorkerStatus(name, state, proc.pid, code, self._log(name)))
        return out

    def replace(self, name: str) -> None:
        """Stop a worker (if it still runs) and start a new one under the same name."""
        self._stop(name)
        self._start(name)

    def down(self, timeout: float = 30.0) -> None:
        for name in list(self.procs):
            self._stop(name, timeout)
        self.procs.clear()

    def _log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _start(self, name: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self._log(name).open("ab")
        command = [sys.executable, "-m", "flows.cli", *self.worker_args, "--worker-id", name]
        self.procs[name] = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=self.env or dict(os.environ)
        )
        log.close()

    def _stop(self, name: str, timeout: float = 30.0) -> None:
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
