"""Run the learner as a child process (`zeb learner ...`) for as long as the caller lives.

The learn flow calls `supervise` once and it returns when the learner does: no task per cycle, so
a run that lasts days holds one flow run and no growing list of task states. While the learner
runs, every new cycle in its `status.json` is handed to `on_cycle` (the flow turns it into logs,
artifacts and events). However `supervise` ends (the learner finished, the caller was cancelled
with SIGTERM, an exception) the learner is asked to stop with SIGTERM and given `stop_grace_s` to
save its state, well inside Prefect's 30 s between SIGTERM and SIGKILL. A learner that fails
raises `LearnerCrashed` with the last lines of its log.

The child also watches its parent (`ZEB_SUPERVISOR_PID`): if the supervising process dies without
a chance to stop it (SIGKILL), the learner saves and exits instead of training on unsupervised.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.learner.options import LearnerOptions, LearnerSettings
from infra.model_args import model_args

log = logging.getLogger("zeb.learn")
SUPERVISOR_ENV = "ZEB_SUPERVISOR_PID"
LOG_TAIL_LINES = 30


class LearnerCrashed(RuntimeError):
    """The learner process exited with an error; the message ends with its last log lines."""


def learner_command(options: LearnerOptions) -> list[str]:
    """`zeb learner --exp EXP [options that differ from the defaults]`, through the learner's own
    module so the child does not load the flows (and Prefect) it does not use."""
    settings = LearnerSettings.model_validate(options.model_dump(exclude={"experiment"}))
    args = model_args(settings)
    return [sys.executable, "-m", "zeb_cli.learner", "--exp", options.experiment, *args]


def supervise(
    options: LearnerOptions,
    log_path: Path,
    on_cycle: Callable[[dict[str, Any]], None],
    poll_s: float = 1.0,
    stop_grace_s: float = 25.0,
) -> None:
    """Run the learner until it exits; stop it cleanly whatever ends the wait."""
    status_path = options.cache_folder() / "status.json"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            learner_command(options),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    log.info("learner started (pid %d); log %s", proc.pid, log_path)
    try:
        _follow(proc, status_path, started, on_cycle, poll_s)
    finally:
        stop_learner(proc, stop_grace_s)
    if proc.returncode != 0:
        raise LearnerCrashed(
            f"the learner exited with code {proc.returncode}; last lines of {log_path}:\n"
            + tail(log_path)
        )


def _follow(
    proc: subprocess.Popen,
    status_path: Path,
    started: float,
    on_cycle: Callable[[dict[str, Any]], None],
    poll_s: float,
) -> None:
    last = None
    while True:
        done = proc.poll() is not None
        status = read_status(status_path, since=started)
        # a new cycle, or weights published since (publishes go out beside training)
        seen = None if status is None else (status.get("cycle"), status.get("published_cycle"))
        if status is not None and seen != last:
            last = seen
            on_cycle(status)
        if done:
            return
        time.sleep(poll_s)


def read_status(path: Path, since: float = 0.0) -> dict[str, Any] | None:
    """The learner's status.json if it was written after `since` (a Unix time), else None."""
    try:
        status = json.loads(path.read_text())
        updated = datetime.fromisoformat(status["updated_at"]).timestamp()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return status if updated >= since else None


def stop_learner(proc: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM (the learner saves after its current step), then SIGKILL after the grace."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
        log.info("learner stopped cleanly (code %s)", proc.returncode)
    except subprocess.TimeoutExpired:
        log.warning("the learner did not stop within %.0fs: killing it", grace_s)
        proc.kill()
        proc.wait()


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:])
