"""One learner per experiment: the learner slot and taking over from an older learn run.

The slot is a Prefect global concurrency limit named for the experiment, with a limit of 1; it
must exist before it is acquired, so `learner_limit` creates it (or leaves it as it is). A new
learn run first asks every older running learn run of the same experiment to cancel: a run that
a Prefect worker started gets SIGTERM from its worker; a run started in a shell (`zeb learn`) on
this machine gets it from us, through the run record each learn run keeps in the experiment's
local folder. Either way the older run stops its learner (which saves) and frees the slot, which
the new run is waiting for; the fleets are not touched.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from datetime import UTC, datetime
from pathlib import Path

import psutil
from prefect import get_client, get_run_logger
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.runtime import flow_run
from prefect.states import Cancelling

from flows.common import io_task, settings, step_task
from infra.process_identity import is_same_process
from zeb_core.atomic_files import atomic_write_bytes

LIMIT_PREFIX = "zeb-learner-"
# Only running learn runs are older ones to take over from: a pending one started after us.
ACTIVE = [StateType.RUNNING]


def limit_name(exp: str) -> str:
    return LIMIT_PREFIX + exp


@io_task
def learner_limit(exp: str) -> str:
    """The experiment's learner slot (created with a limit of 1 if it is missing)."""
    name = limit_name(exp)
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit=1)
    return name


@io_task
def cancel_older_runs(exp: str) -> list[str]:
    """Ask every other active learn run of `exp` to cancel; return their ids."""
    me = str(flow_run.get_id() or "")
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["learn"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ACTIVE))
            ),
        )
        older = [r for r in runs if str(r.id) != me and r.parameters.get("exp") == exp]
        for run in older:
            get_run_logger().warning("taking over from learn run %s (%s)", run.name, run.id)
            message = f"taken over by learn run {me}"
            client.set_flow_run_state(run.id, Cancelling(message=message), force=True)
            if run.deployment_id is None:  # no worker will deliver the SIGTERM
                _terminate_local_run(exp, str(run.id))
    return [str(r.id) for r in older]


@step_task
def record_run(exp: str, status_path: Path) -> Path:
    """Who runs this experiment's learner (for a later run that takes over from this one) and
    where its status is (for verify)."""
    path = _record_path(exp)
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    record = {
        "flow_run_id": str(flow_run.get_id() or ""),
        "pid": pid,
        "create_time": psutil.Process(pid).create_time(),
        "command": psutil.Process(pid).cmdline(),
        "host": socket.gethostname(),
        "started_at": datetime.now(UTC).isoformat(),
        "status": str(status_path),
    }
    atomic_write_bytes(path, json.dumps(record, indent=1).encode())
    return path


def learner_status_path(exp: str) -> Path | None:
    """Where the last learn run of `exp` on this machine keeps the learner's status.json."""
    try:
        return Path(json.loads(_record_path(exp).read_text())["status"])
    except (OSError, ValueError, KeyError):
        return None


def _record_path(exp: str) -> Path:
    return settings().home / "experiments" / exp / "learn-run.json"


def _terminate_local_run(exp: str, run_id: str) -> None:
    try:
        record = json.loads(_record_path(exp).read_text())
    except (OSError, ValueError):
        return
    if record.get("flow_run_id") != run_id or record.get("host") != socket.gethostname():
        return
    try:
        proc = psutil.Process(int(record["pid"]))
        same = is_same_process(proc, float(record["create_time"]), record.get("command"))
        if same and proc.pid != os.getpid():
            proc.send_signal(signal.SIGTERM)
    except (psutil.NoSuchProcess, KeyError, ValueError):
        pass
