"""An experiment is a namespace on the hub, and this module is its only reader and writer.

    weights repo:   EXP.pt  EXP-config.json  EXP-state.json     (the "trio", one commit each time)
    examples repo:  EXP/<source>/<worker>-<time>-<seq>.<ext>    (example shards, opaque bytes here)

Rules (from the original's operating document):
- A bootstrap checkpoint seeds a namespace only if it does not exist yet; afterwards the hub is
  authoritative and a given checkpoint is ignored, saying so (`seed` returns and logs the reason).
- The trio is always published in one commit, so a reader pinned to a revision gets a checkpoint,
  config and state that belong together (`pull_weights`).
- One EXP keeps one W&B lineage: its run id lives in `EXP-state.json` (see `infra.tracking`).

What `EXP-state.json` holds, and how a bad one is rejected, is `infra.experiment_state`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.experiment_state import Controls, ExperimentState, Origin, StateError
from infra.hub.base import (
    Content,
    FileInfo,
    Fingerprint,
    Hub,
    HubError,
    HubNotFoundError,
    check_path,
)

log = logging.getLogger(__name__)

# Letters, digits, '.', '_', '-'; starts with a letter or digit. The same string must work as a file
# name, a folder in a Hugging Face repo, a W&B run name and part of a fleet label.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CHECKPOINT_KEYS = ("model_state_dict", "model_config", "epoch", "total_games")


class ExperimentError(ValueError):
    """A bad experiment, source or shard name, or a bootstrap file that is not a zeb checkpoint."""


def check_name(name: str, what: str = "experiment name") -> str:
    if not _NAME.match(name) or ".." in name or "--" in name or name[-1] in ".-":
        raise ExperimentError(
            f"invalid {what} {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit, without '..' or '--', not ending in '.' or '-'"
        )
    return name


# -- results ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightsSnapshot:
    """The trio at one revision. `checkpoint_path` is a cached, read-only local file."""

    experiment: str
    revision: str
    checkpoint_path: Path
    config: dict[str, Any]
    state: ExperimentState

    @property
    def step(self) -> int:
        return self.state.step

    def load_checkpoint(self, map_location: str = "cpu") -> dict[str, Any]:
        import torch  # only for callers that want the dict; the hub treats the file as bytes

        return torch.load(self.checkpoint_path, map_location=map_location, weights_only=True)


@dataclass(frozen=True)
class SeedResult:
    seeded: bool
    message: str
    revision: str | None


@dataclass(frozen=True)
class ExperimentView:
    """What `zeb hub ls EXP` shows."""

    name: str
    state: ExperimentState | None
    trio: list[FileInfo]  # with the revision that last wrote each file
    examples: dict[str, list[FileInfo]]  # source -> shards


# -- the namespace ------------------------------------------------------------------------------


class Experiment:
    """The namespace `name` on `hub`."""

    def __init__(self, hub: Hub, name: str) -> None:
        self.hub = hub
        self.name = check_name(name)
        self.checkpoint_file = f"{name}.pt"
        self.config_file = f"{name}-config.json"
        self.state_file = f"{name}-state.json"

    def __repr__(self) -> str:
        return f"Experiment({self.name!r} on {self.hub.description})"

    # -- weights ---------------------------------------------------------------------------------

    def exists(self) -> bool:
        """True once the namespace holds a checkpoint or a state (then it is never reseeded)."""
        return any(
            self.hub.revision("weights", f) is not None
            for f in (self.checkpoint_file, self.state_file)
        )

    def weights_revision(self) -> str | None:
        """The revision that last wrote the checkpoint."""
        return self.hub.revision("weights", self.checkpoint_file)

    def weights_fingerprint(self) -> Fingerprint | None:
        """Changes whenever the checkpoint does, by the hub's cheapest request: what workers
        poll (a Hugging Face ETag is one resolver request, the cheapest bucket of its limits)."""
        return self.hub.fingerprint("weights", self.checkpoint_file)

    def seed(
        self,
        checkpoint: Path,
        *,
        controls: Controls | None = None,
        wandb_project: str | None = None,
    ) -> SeedResult:
        """Publish `checkpoint` as this experiment's first trio, unless the namespace exists."""
        if self.exists():
            revision = self.hub.head("weights")
            try:
                state = self.read_state(revision)
                progress = f"cycle {state.cycle}, step {state.step}"
            except HubError as err:  # a namespace without (or with a foreign) state file
                progress = f"state unreadable: {err}"
            message = (
                f"{self.name} already exists on {self.hub.description} ({progress}, revision "
                f"{revision}); ignoring checkpoint {checkpoint}: the hub is authoritative"
            )
            log.warning(message)
            return SeedResult(False, message, revision)
        meta = read_checkpoint_meta(checkpoint)
        origin = Origin(
            checkpoint=str(checkpoint),
            sha256=sha256_file(checkpoint),
            source_weights_name=meta.get("source_weights_name"),
            epoch=int(meta["epoch"]),
            total_games=int(meta["total_games"]),
        )
        state = ExperimentState(
            experiment=self.name,
            cycle=origin.epoch,
            total_games=origin.total_games,
            wandb_project=wandb_project,
            created_from=origin,
            controls=controls or Controls(),
        )
        revision = self.publish_weights(checkpoint, meta["model_config"], state, keep_hub=False)
        message = f"seeded {self.name} on {self.hub.description} from {checkpoint} ({revision})"
        log.info(message)
        return SeedResult(True, message, revision)

    def publish_weights(
        self,
        checkpoint: Content,
        config: Mapping[str, Any],
        state: ExperimentState,
        *,
        keep_hub: bool = True,
    ) -> str | None:
        """Write checkpoint, config and state in one commit; return its revision.

        With `keep_hub` (the default), the controls and W&B lineage already on the hub win over
        those in `state`: the rollback flow may have changed the controls since the learner read
        them, and a publish must not undo that.
        """
        if state.experiment != self.name:
            raise ExperimentError(f"state of {state.experiment!r} published to {self.name!r}")
        if keep_hub and (current := self._state_or_none()) is not None:
            state = state.model_copy(
                update={
                    "controls": current.controls,
                    "control_history": current.control_history,
                    "wandb_run_id": current.wandb_run_id or state.wandb_run_id,
                    "wandb_project": current.wandb_project or state.wandb_project,
                }
            )
        puts: dict[str, Content] = {
            self.checkpoint_file: checkpoint,
            self.config_file: json.dumps(dict(config), indent=2, sort_keys=True).encode(),
            self.state_file: state.to_json(),
        }
        message = f"{self.name}: weights at cycle {state.cycle}, step {state.step}"
        return self.hub.commit("weights", puts, message=message)

    def pull_weights(self, revision: str | None = None) -> WeightsSnapshot:
        """Read the trio at one revision (default: the current head, resolved once)."""
        rev = revision or self.hub.head("weights")
        if rev is None:
            raise HubNotFoundError(f"experiment {self.name} not found: the weights repo is empty")
        state = self.read_state(rev)
        config = json.loads(self.hub.read("weights", self.config_file, rev))
        path = self.hub.download("weights", self.checkpoint_file, rev)
        return WeightsSnapshot(self.name, rev, path, config, state)

    # -- state and controls ----------------------------------------------------------------------

    def read_state(self, revision: str | None = None) -> ExperimentState:
        try:
            data = self.hub.read("weights", self.state_file, revision)
        except HubNotFoundError:
            at = "" if revision is None else f" at revision {revision} (unknown or collected)"
            raise HubNotFoundError(
                f"experiment {self.name} not found on {self.hub.description}{at}"
            ) from None
        state = ExperimentState.from_json(data, f"{self.state_file}@{revision or 'head'}")
        if state.experiment != self.name:
            raise StateError(f"{self.state_file} belongs to experiment {state.experiment!r}")
        return state

    def write_state(self, state: ExperimentState) -> str | None:
        """Commit the state file alone (lineage or controls changed, weights did not)."""
        if state.experiment != self.name:
            raise ExperimentError(f"state of {state.experiment!r} written to {self.name!r}")
        return self.hub.commit(
            "weights", {self.state_file: state.to_json()}, message=f"{self.name}: state"
        )

    def update_controls(self, by: str = "update", **changes: Any) -> ExperimentState:
        """Change some controls (validated: unknown names and bad values are rejected), recorded
        in the state's control history as made `by` someone."""
        state = self.read_state()
        controls = Controls.model_validate({**state.controls.model_dump(), **changes})
        state = state.with_controls(controls, by)
        self.write_state(state)
        return state

    def _state_or_none(self) -> ExperimentState | None:
        try:
            return self.read_state()
        except HubNotFoundError:
            return None

    # -- examples --------------------------------------------------------------------------------

    def shard_path(self, source: str, shard: str) -> str:
        check_name(source, "example source")
        if "/" in shard:
            raise ExperimentError(f"invalid shard name {shard!r}: no '/' allowed")
        return check_path(f"{self.name}/{source}/{shard}")

    def upload_examples(self, source: str, shards: Mapping[str, Content]) -> str | None:
        """Upload several shards (name -> bytes or file) under `EXP/<source>/` in one commit."""
        puts = {self.shard_path(source, name): data for name, data in shards.items()}
        message = f"{self.name}/{source}: {len(puts)} shard(s)"
        return self.hub.commit("examples", puts, message=message)

    def list_examples(self, source: str | None = None) -> dict[str, list[FileInfo]]:
        """Shards per source (only sources that have shards), each list sorted by path."""
        folder = self.name if source is None else f"{self.name}/{check_name(source, 'source')}"
        by_source: dict[str, list[FileInfo]] = {}
        for info in self.hub.list("examples", folder):
            parts = info.path.split("/")
            if len(parts) == 3:  # EXP/<source>/<shard>; anything else is not ours
                by_source.setdefault(parts[1], []).append(info)
        return by_source

    @property
    def examples_by_cursor(self) -> bool:
        """True when the examples store lists what is new by cursor (object storage)."""
        return hasattr(self.hub, "list_after")

    def list_new_examples(
        self, sources: Iterable[str], cursor: dict[str, Any] | None
    ) -> tuple[list[FileInfo], dict[str, Any] | None]:
        """The shards written since `cursor` (None: all of them), and the next cursor. With
        object storage only each worker's new keys are listed; a repo lists whole folders, and
        the caller keeps what it has seen."""
        if not self.examples_by_cursor:
            return [f for files in self.list_examples().values() for f in files], None
        cursor = dict(cursor or {})
        found: list[FileInfo] = []
        for source in sources:
            folder = f"{self.name}/{check_name(source, 'source')}"
            files, cursor[source] = self.hub.list_after(folder, cursor.get(source, {}))
            found += [f for f in files if f.path.count("/") == 2]
        return found, cursor

    def read_example(self, path: str, revision: str | None = None) -> bytes:
        return self.hub.read("examples", self._own(path), revision)

    def delete_examples(self, paths: Iterable[str]) -> str | None:
        """Delete many shards (full paths from `list_examples`) in one commit (pruning)."""
        own = [self._own(p) for p in paths]
        return self.hub.commit("examples", deletes=own, message=f"{self.name}: prune {len(own)}")

    def _own(self, path: str) -> str:
        if not path.startswith(f"{self.name}/") or path.count("/") != 2:
            raise ExperimentError(f"{path!r} is not a shard of experiment {self.name}")
        return check_path(path)

    # -- inspection ------------------------------------------------------------------------------

    def inspect(self) -> ExperimentView:
        state = self._state_or_none()
        files = {f.path: f for f in self.hub.list("weights")}
        trio = [
            FileInfo(p, files[p].size, self.hub.revision("weights", p))
            for p in (self.checkpoint_file, self.config_file, self.state_file)
            if p in files
        ]
        return ExperimentView(self.name, state, trio, self.list_examples())


def list_experiments(hub: Hub) -> list[str]:
    """Names of the experiments in the weights repo (those with a state file or a checkpoint)."""
    names = set()
    for info in hub.list("weights"):
        if "/" in info.path:
            continue
        for suffix in ("-state.json", ".pt"):
            stem = info.path.removesuffix(suffix)
            if stem != info.path and _NAME.match(stem):
                names.add(stem)
    return sorted(names)


def read_checkpoint_meta(path: Path) -> dict[str, Any]:
    """Load a bootstrap checkpoint (weights only) and check it has the keys zeb needs."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ExperimentError(f"bootstrap checkpoint {path} does not exist") from None
    except Exception as err:  # noqa: BLE001 - pickle/zip errors vary; the message says what failed
        raise ExperimentError(f"{path} is not a loadable torch checkpoint: {err}") from None
    missing = [k for k in CHECKPOINT_KEYS if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise ExperimentError(f"{path} is not a zeb checkpoint: missing {', '.join(missing)}")
    if not isinstance(ckpt["model_config"], dict):
        raise ExperimentError(f"{path}: model_config must be a dict")
    return ckpt


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
