"""A worker's heartbeat: a small JSON file beside its spool, and the same line in its log.

    <spool>/<EXP>/<worker_id>/heartbeat.json      (format `zeb-heartbeat-2`, written atomically)
    log line: `heartbeat {"format": "zeb-heartbeat-2", ...}`

Format 2 added `spooled` (shards waiting for their upload, games a replaced worker may lose);
format 1 lines still read.

Fleets read whichever they can reach: LocalFleet the file, VastFleet the provider's logs (the
worker runs under `exec`, so its output is the container's). Liveness never rests on one view:
the health pass also looks at the newest shard the hub holds from the worker.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from zeb_core.atomic_files import atomic_write_bytes

HEARTBEAT_FORMAT = "zeb-heartbeat-2"
HEARTBEAT_FILE = "heartbeat.json"
LOG_PREFIX = "heartbeat "
log = logging.getLogger("zeb.worker")

# starting: loading, waiting for the hub; waiting: no weights on the hub yet; playing: batches
# advance; stopped: exited cleanly (SIGTERM, max batches); error: exited on an error (`message`)
WorkerPhase = Literal["starting", "waiting", "playing", "stopped", "error"]


class Heartbeat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["zeb-heartbeat-1", "zeb-heartbeat-2"] = HEARTBEAT_FORMAT
    worker_id: str
    pid: int
    phase: WorkerPhase
    started_at: AwareDatetime
    updated_at: AwareDatetime
    batches: int = Field(0, ge=0)
    games: int = Field(0, ge=0)
    games_per_s: float = Field(0.0, ge=0)  # of the last batch
    model_cycle: int | None = None  # learner cycle of the weights in use
    last_batch_at: AwareDatetime | None = None
    device: str = ""
    message: str = ""  # the error that stopped it (phase `error`), or what the hub is doing
    spooled: int = Field(0, ge=0)  # shards written and not uploaded yet
    spooled_games: int = Field(0, ge=0)  # the games in them

    def line(self) -> str:
        return LOG_PREFIX + self.model_dump_json()

    def with_(self, **changes) -> Heartbeat:
        return self.model_copy(update={"updated_at": datetime.now(UTC), **changes})


def write_heartbeat(folder: Path, beat: Heartbeat, *, to_log: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(folder / HEARTBEAT_FILE, beat.model_dump_json().encode())
    if to_log:
        log.info(beat.line())


def read_heartbeat(folder: Path) -> Heartbeat | None:
    """The heartbeat file in `folder`, or None when missing or unreadable."""
    try:
        return Heartbeat.model_validate_json((folder / HEARTBEAT_FILE).read_bytes())
    except (OSError, ValidationError):
        return None


def heartbeat_from_log(text: str) -> Heartbeat | None:
    """The newest well-formed heartbeat line in a log (lines may carry a logging prefix)."""
    for line in reversed(text.splitlines()):
        at = line.find(LOG_PREFIX + "{")
        if at < 0:
            continue
        try:
            return Heartbeat.model_validate(json.loads(line[at + len(LOG_PREFIX) :]))
        except (ValueError, ValidationError):
            continue
    return None


ERROR_MARKERS = ("Traceback (most recent call last)", " ERROR ", "error:", "CUDA error", "Killed")


def error_lines(text: str, limit: int = 3) -> list[str]:
    """The last few lines of a log that look like errors (for people; progress outranks them)."""
    hits = [line.strip() for line in text.splitlines() if any(m in line for m in ERROR_MARKERS)]
    return hits[-limit:]
