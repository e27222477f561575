"""`zeb hub ls` on a LocalHub: tables for humans, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.experiment import Experiment
from infra.experiment_state import Controls, ExperimentState, Origin
from infra.hub import LocalHub
from zeb_cli.hub import hub_app

runner = CliRunner()


@pytest.fixture
def hub_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    hub = LocalHub(tmp_path / "hub")
    exp = Experiment(hub, "exp1")
    origin = Origin(checkpoint="boot.pt", sha256="0" * 64)
    state = ExperimentState(
        experiment="exp1", cycle=3, step=3000, total_games=640, created_from=origin
    )
    exp.publish_weights(b"c" * 2048, {"embed_dim": 8}, state.model_copy(update={"step": 1000}))
    exp.publish_weights(b"c" * 4096, {"embed_dim": 8}, state)
    exp.update_controls(**Controls.stage1().model_dump())
    exp.upload_examples("selfplay-mcts", {f"w0-{t}-0.npz": b"x" * 100 for t in range(5)})
    exp.upload_examples("eval-eq-zeb", {"w1-9-0.npz": b"y" * 10})
    monkeypatch.setenv("ZEB_HUB_DIR", str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_ls_lists_experiments(hub_dir: Path) -> None:
    result = runner.invoke(hub_app, ["ls", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["hub"] == f"local:{hub_dir}"
    assert data["experiments"] == [
        {
            "experiment": "exp1",
            "cycle": 3,
            "step": 3000,
            "total_games": 640,
            "wandb_run_id": None,
            "eval_aux": True,
            "shards": 6,
        }
    ]
    table = runner.invoke(hub_app, ["ls"])
    assert table.exit_code == 0 and "exp1" in table.output and "3000" in table.output


def test_ls_experiment_shows_trio_and_shards(hub_dir: Path) -> None:
    result = runner.invoke(hub_app, ["ls", "exp1", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    hub = LocalHub(hub_dir)
    weights = {f["path"]: f for f in data["weights"]}
    assert set(weights) == {"exp1.pt", "exp1-config.json", "exp1-state.json"}
    assert weights["exp1.pt"]["size"] == 4096 and weights["exp1.pt"]["step"] == 3000
    assert weights["exp1.pt"]["revision"] == hub.revision("weights", "exp1.pt")
    assert weights["exp1-state.json"]["revision"] == hub.head("weights")  # controls changed
    assert {k: (v["count"], v["bytes"]) for k, v in data["examples"].items()} == {
        "eval-eq-zeb": (1, 10),
        "selfplay-mcts": (5, 500),
    }
    assert data["state"]["controls"]["eval_aux_batch_fraction"] == 0.05
    table = runner.invoke(hub_app, ["ls", "exp1"])
    assert table.exit_code == 0
    for text in ("exp1.pt", "selfplay-mcts", "eval-eq-zeb", "4.0 KiB", "500 B"):
        assert text in table.output


def test_errors_are_one_line(hub_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = runner.invoke(hub_app, ["ls", "nope"])
    assert missing.exit_code == 1 and "experiment nope not found" in missing.output
    bad_name = runner.invoke(hub_app, ["ls", "no/pe"])
    assert bad_name.exit_code == 1 and "invalid experiment name" in bad_name.output
    monkeypatch.setenv("ZEB_HUB", "s3")
    bad = runner.invoke(hub_app, ["ls"])
    assert bad.exit_code == 2
    lines = bad.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: bad setting ZEB_HUB='s3': ")
