"""The bootstrap checkpoint of a new experiment, from one of the original's four sources:

    random              random weights of a preset (with or without the belief head)
    hf:<NAME>           warm start from weights on the hub: another experiment's `NAME.pt`, or a
                        weights file `NAME.pt` in the weights repo (`hf:large-belief.pt`)
    local:<PATH>        warm start from a local training or exported checkpoint (training state
                        stripped)

A warm start keeps the source's model config and weights and starts the new experiment's count
at zero (epoch 0, no games), recording where the weights came from (`source_weights_name`), as the
original's operating document does. A bad or unreachable source is one `SourceError` line, raised
before anything is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from infra.hub.base import Hub, HubNotFoundError
from zeb_core.network.checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_from_dict,
    init_checkpoint,
    load_checkpoint,
    save_checkpoint,
)

SourceKind = Literal["random", "hf", "local"]
SOURCES_HELP = "random, hf:<experiment or weights file> or local:<checkpoint path>"


class SourceError(ValueError):
    """A create source that cannot be used (unknown form, missing file, not a checkpoint)."""


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    ref: str = ""  # hub name or local path

    @property
    def weights_file(self) -> str:
        """The hub file of an `hf:` source (`NAME.pt`)."""
        return self.ref if self.ref.endswith(".pt") else f"{self.ref}.pt"


def parse_source(text: str) -> Source:
    text = text.strip()
    if text == "random":
        return Source("random")
    kind, _, ref = text.partition(":")
    if kind in ("hf", "local") and ref.strip():
        return Source(kind, ref.strip())  # type: ignore[arg-type]
    raise SourceError(f"unknown source {text!r}: use {SOURCES_HELP}")


def load_source(
    source: Source,
    hub: Hub,
    *,
    size: str,
    belief_head: bool,
    tokenizer: str,
    seed: int,
    belief_head_type: str = "constrained",
) -> Checkpoint:
    """The source's weights as a bootstrap checkpoint (in memory: nothing is written yet)."""
    if source.kind == "random":
        try:
            return init_checkpoint(size, belief_head, seed, tokenizer, belief_head_type)
        except ValueError as exc:
            raise SourceError(str(exc)) from None
    if source.kind == "hf":
        return _warm_start(_from_hub(source, hub), source.weights_file)
    path = Path(source.ref).expanduser()
    try:
        return _warm_start(load_checkpoint(path), path.name)
    except CheckpointError as exc:
        raise SourceError(f"local:{source.ref}: {exc}") from None


def write_bootstrap(checkpoint: Checkpoint, path: Path) -> Path:
    return save_checkpoint(checkpoint, path, include_extra=False)


def _from_hub(source: Source, hub: Hub) -> Checkpoint:
    import torch

    try:
        local = hub.download("weights", source.weights_file)
    except HubNotFoundError:
        raise SourceError(
            f"hf:{source.ref}: no weights file {source.weights_file} on {hub.description}"
        ) from None
    try:
        raw = torch.load(local, map_location="cpu", weights_only=True)
        return checkpoint_from_dict(raw, source.weights_file)
    except CheckpointError as exc:
        raise SourceError(f"hf:{source.ref}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a bad file
        raise SourceError(f"hf:{source.ref}: not a readable checkpoint ({exc})") from None


def _warm_start(checkpoint: Checkpoint, name: str) -> Checkpoint:
    """The weights and config only; the new experiment counts from zero."""
    return Checkpoint(
        state_dict=checkpoint.state_dict,
        config=checkpoint.config,
        epoch=0,
        total_games=0,
        source_weights_name=name,
    )
