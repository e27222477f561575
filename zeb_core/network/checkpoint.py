"""Checkpoints: the original's dict format plus a zeb format version.

A checkpoint is a torch file holding a dict with `model_state_dict`, `model_config` (the original's
keys, plus `tokenizer` and `belief_head`), `epoch`, `total_games`, optional `source_weights_name`,
and `zeb_format`. Files without `zeb_format` are the original's and load as format 0. A training
checkpoint may carry more (optimizer, scaler, learner state); `export` strips it.

Every failure to read a file is a `CheckpointError` whose message is one line naming the file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from zeb_core.network.model import ModelConfig, ZebModel, preset_config

CHECKPOINT_FORMAT = 1
MODEL_KEYS = ("model_state_dict", "model_config", "epoch", "total_games")
OPTIONAL_KEYS = ("source_weights_name",)


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable or incompatible (one-line message)."""


@dataclass(frozen=True)
class Checkpoint:
    state_dict: dict[str, torch.Tensor]
    config: ModelConfig
    epoch: int = 0
    total_games: int = 0
    source_weights_name: str | None = None
    zeb_format: int = CHECKPOINT_FORMAT
    extra: dict[str, Any] | None = None  # training state (optimizer, scaler, ...), if any

    def to_dict(self, include_extra: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model_state_dict": self.state_dict,
            "model_config": self.config.to_checkpoint_dict(),
            "epoch": self.epoch,
            "total_games": self.total_games,
            "zeb_format": CHECKPOINT_FORMAT,
        }
        if self.source_weights_name is not None:
            out["source_weights_name"] = self.source_weights_name
        if include_extra and self.extra:
            out.update(self.extra)
        return out

    def build_model(self, device: str | torch.device = "cpu") -> ZebModel:
        """A ZebModel with these weights, in eval mode, on `device`."""
        model = ZebModel.from_config(self.config)
        missing, unexpected = model.load_state_dict(self.state_dict, strict=False)
        if missing or unexpected:
            raise CheckpointError(
                f"weights do not fit the model config: missing {missing[:3]}, "
                f"unexpected {unexpected[:3]}"
            )
        return model.to(resolve_device(device)).eval()


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto` is CUDA when present, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def init_checkpoint(
    size: str = "medium",
    belief_head: bool = False,
    seed: int = 0,
    tokenizer: str = "v1",
    belief_head_type: str = "constrained",
) -> Checkpoint:
    """Random weights for a preset (seeded, so the same arguments give the same weights)."""
    config = preset_config(size, belief_head, tokenizer, belief_head_type)
    torch.manual_seed(seed)
    model = ZebModel.from_config(config)
    return Checkpoint(state_dict=model.state_dict(), config=config)


def checkpoint_from_model(
    model: ZebModel, epoch: int = 0, total_games: int = 0, **kwargs: Any
) -> Checkpoint:
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return Checkpoint(
        state_dict=state, config=model.config, epoch=epoch, total_games=total_games, **kwargs
    )


def save_checkpoint(checkpoint: Checkpoint, path: str | Path, include_extra: bool = True) -> Path:
    """Write atomically: a temporary file in the same folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint.to_dict(include_extra), f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read and validate a checkpoint (zeb's or the original's)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files; all mean "unreadable"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable torch checkpoint ({reason[:160]})") from None
    return checkpoint_from_dict(raw, str(path))


def checkpoint_from_dict(raw: Any, name: str = "checkpoint") -> Checkpoint:
    if not isinstance(raw, dict):
        raise CheckpointError(f"{name}: expected a dict, found {type(raw).__name__}")
    missing = [k for k in MODEL_KEYS if k not in raw]
    if missing:
        raise CheckpointError(f"{name}: missing key(s) {', '.join(missing)}")
    fmt = raw.get("zeb_format", 0)
    if not isinstance(fmt, int) or fmt > CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{name}: checkpoint format {fmt!r} is newer than this zeb reads ({CHECKPOINT_FORMAT})"
        )
    try:
        config = ModelConfig.from_dict(dict(raw["model_config"]))
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{name}: bad model_config ({exc})") from None
    state = raw["model_state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{name}: model_state_dict is not a dict of tensors")
    extra = {k: v for k, v in raw.items() if k not in (*MODEL_KEYS, *OPTIONAL_KEYS, "zeb_format")}
    ckpt = Checkpoint(
        state_dict=state,
        config=config,
        epoch=int(raw["epoch"]),
        total_games=int(raw["total_games"]),
        source_weights_name=raw.get("source_weights_name"),
        zeb_format=fmt,
        extra=extra or None,
    )
    _check_shapes(ckpt, name)
    return ckpt


def _check_shapes(ckpt: Checkpoint, name: str) -> None:
    """Every expected tensor present with the right shape (a clear error, not a torch one)."""
    expected = ZebModel.from_config(ckpt.config).state_dict()
    missing = sorted(set(expected) - set(ckpt.state_dict))
    unexpected = sorted(set(ckpt.state_dict) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{name}: weights do not match model_config "
            f"(missing {len(missing)}: {missing[:2]}, "
            f"unexpected {len(unexpected)}: {unexpected[:2]})"
        )
    for key, tensor in expected.items():
        if tuple(ckpt.state_dict[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{name}: {key} has shape {tuple(ckpt.state_dict[key].shape)}, "
                f"model_config needs {tuple(tensor.shape)}"
            )


def export_checkpoint(
    src: str | Path, dst: str | Path, source_weights_name: str | None = None
) -> Path:
    """Strip optimizer and training state: keep only what a model needs (warm starts)."""
    ckpt = load_checkpoint(src)
    stripped = Checkpoint(
        state_dict=ckpt.state_dict,
        config=ckpt.config,
        epoch=ckpt.epoch,
        total_games=ckpt.total_games,
        source_weights_name=source_weights_name or ckpt.source_weights_name,
    )
    return save_checkpoint(stripped, dst, include_extra=False)
