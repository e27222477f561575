"""W&B tracking, one lineage per experiment.

The first run of an experiment draws a run id and stores it (with the project) in `EXP-state.json`;
every later run of that experiment, in any process or machine, resumes the same run
(`resume="allow"`) and logs at `step = learner cycle`. A new lineage therefore needs a new EXP.

Modes: `online`, `offline` (the default without an API key: runs are written under `WANDB_DIR`,
else zeb's home folder, and can be uploaded later with `wandb sync`, keeping the same id) and
`disabled` (nothing is written and no id is drawn, so a later online run still starts the lineage).
"""

from __future__ import annotations

import logging
import os
import secrets
import string
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from infra.experiment import Experiment
from infra.settings import TrackingMode

log = logging.getLogger(__name__)


class Tracker(Protocol):
    run_id: str | None

    def log(self, metrics: Mapping[str, float], step: int) -> None: ...

    def finish(self) -> None: ...


class NullTracker:
    """Tracking disabled: every call is a no-op (and wandb is never imported)."""

    run_id: str | None = None

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        pass

    def finish(self) -> None:
        pass


class WandbTracker:
    """A live wandb run."""

    def __init__(self, run: Any) -> None:
        self._run = run
        self.run_id: str | None = run.id

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        # W&B drops points whose step goes backwards; cycles only grow, so a restarted learner
        # continues the curve where the stored state left it.
        self._run.log(dict(metrics), step=step)

    def finish(self) -> None:
        self._run.finish()


def new_run_id(length: int = 8) -> str:
    """A W&B-style run id: lowercase letters and digits."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(length))


def code_version(cwd: Path | None = None) -> str | None:
    """The git commit of the code (with `-dirty` if there are local changes), if known."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def open_run(
    experiment: Experiment,
    *,
    mode: TrackingMode,
    project: str = "zeb",
    config: Mapping[str, Any] | None = None,
    job_type: str = "learn",
    wandb_dir: Path | None = None,
) -> Tracker:
    """Start or resume the experiment's W&B run.

    The run id and project come from the experiment's state; if it has none yet, a new id is drawn
    and committed to the state *before* wandb starts, so that a crash right after still leaves one
    lineage. `project` only applies to a new lineage: an existing one keeps its stored project.
    """
    if mode == "disabled":
        return NullTracker()
    # W&B's banner about offline runs would interleave with the flows' and the learner's progress
    # lines; the learner's log and the main job's summary say where the run is. A user's value wins.
    os.environ.setdefault("WANDB_SILENT", "true")
    import wandb  # heavy: imported only when tracking is on

    state = experiment.read_state()
    if state.wandb_run_id is None:
        state = state.model_copy(update={"wandb_run_id": new_run_id(), "wandb_project": project})
        experiment.write_state(state)
        log.info("%s: new W&B lineage %s in %s", experiment.name, state.wandb_run_id, project)
    elif state.wandb_project and state.wandb_project != project:
        log.warning(
            "%s: resuming W&B run %s in its project %s (not %s)",
            experiment.name,
            state.wandb_run_id,
            state.wandb_project,
            project,
        )
    run_config = {
        **(config or {}),
        "experiment": experiment.name,
        "code_version": code_version(),
        "hub": experiment.hub.description,
    }
    run = wandb.init(
        project=state.wandb_project or project,
        id=state.wandb_run_id,
        name=experiment.name,
        resume="allow",
        mode=mode,
        job_type=job_type,
        config=run_config,
        # WANDB_DIR, when the user set it, wins over zeb's default (its home folder)
        dir=os.environ.get("WANDB_DIR") or (str(wandb_dir) if wandb_dir else None),
        # The config is re-sent on every resume; later values (a changed flag) overwrite earlier.
        allow_val_change=True,
    )
    return WandbTracker(run)
