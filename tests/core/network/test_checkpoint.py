"""Checkpoints: init, save/load round trips, export, and one-line errors for bad files."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import EARLIER_CKPT
from zeb_core.network.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    export_checkpoint,
    init_checkpoint,
    load_checkpoint,
    save_checkpoint,
)


def test_original_checkpoints_load(reference_ckpt):
    for path, epoch in ((reference_ckpt, 3599), (EARLIER_CKPT, 2839)):
        ckpt = load_checkpoint(path)
        assert ckpt.zeb_format == 0 and ckpt.epoch == epoch
        assert ckpt.config.embed_dim == 128 and not ckpt.config.belief_head
        ckpt.build_model()


def test_init_is_seeded_and_round_trips(tmp_path):
    a, b = init_checkpoint("small", belief_head=True, seed=3), init_checkpoint("small", True, 3)
    for key in a.state_dict:
        torch.testing.assert_close(a.state_dict[key], b.state_dict[key])
    path = save_checkpoint(a, tmp_path / "sub" / "init.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["zeb_format"] == CHECKPOINT_FORMAT
    assert raw["model_config"] == {
        "embed_dim": 64, "n_heads": 2, "n_layers": 2, "ff_dim": 128,
        "tokenizer": "v1", "belief_head": True, "belief_head_type": "constrained",
        "belief_readout": "normed",
    }  # fmt: skip
    loaded = load_checkpoint(path)
    assert loaded.config == a.config and loaded.epoch == 0 and loaded.total_games == 0
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temporary file left behind


def test_export_strips_training_state(tmp_path):
    ckpt = init_checkpoint("small", seed=1)
    raw = ckpt.to_dict() | {"optimizer_state_dict": {"state": {}}, "scaler": {"scale": 1.0}}
    torch.save(raw, tmp_path / "train.pt")
    assert set(load_checkpoint(tmp_path / "train.pt").extra) == {"optimizer_state_dict", "scaler"}
    out = export_checkpoint(tmp_path / "train.pt", tmp_path / "model.pt", "warm.pt")
    raw_out = torch.load(out, weights_only=True)
    assert set(raw_out) == {
        "model_state_dict", "model_config", "epoch", "total_games", "zeb_format",
        "source_weights_name",
    }  # fmt: skip
    assert raw_out["source_weights_name"] == "warm.pt"


def _one_line(exc: pytest.ExceptionInfo, path) -> str:
    message = str(exc.value)
    assert "\n" not in message and str(path) in message
    return message


def test_bad_files_give_one_line_errors(tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(missing)
    assert "no such" in _one_line(exc, missing)

    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a torch file at all")
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(corrupt)
    assert "not a readable" in _one_line(exc, corrupt)

    good = save_checkpoint(init_checkpoint("small"), tmp_path / "good.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:5000])
    with pytest.raises(CheckpointError) as exc:
        load_checkpoint(truncated)
    _one_line(exc, truncated)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda d: d.pop("model_config"), "missing key"),
        (lambda d: d.update(zeb_format=99), "newer than"),
        (lambda d: d["model_config"].update(embed_dim=128), "shape|do not match"),
        (lambda d: d["model_config"].update(colour="red"), "unknown model_config"),
        (lambda d: d["model_state_dict"].pop("policy_proj.bias"), "missing 1"),
    ],
)
def test_incompatible_checkpoints(tmp_path, mutate, match):
    raw = init_checkpoint("small").to_dict()
    mutate(raw)
    path = tmp_path / "bad.pt"
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match=match) as exc:
        load_checkpoint(path)
    _one_line(exc, path)
