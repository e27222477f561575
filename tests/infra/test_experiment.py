"""The experiment namespace: names, seeding, publish/pull and example shards."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from infra.experiment import Experiment, ExperimentError, list_experiments
from infra.experiment_state import Controls, ExperimentState, Origin, StateError
from infra.hub import Hub, HubNotFoundError, LocalHub

CONFIG = {"embed_dim": 8, "n_heads": 2, "n_layers": 1, "ff_dim": 16, "tokenizer": "v1"}


def make_checkpoint(path: Path, epoch: int = 7, games: int = 1234, **extra) -> Path:
    ckpt = {
        "model_state_dict": {"w": torch.arange(6, dtype=torch.float32)},
        "model_config": CONFIG,
        "epoch": epoch,
        "total_games": games,
        **extra,
    }
    torch.save(ckpt, path)
    return path


def origin() -> Origin:
    return Origin(checkpoint="boot.pt", sha256="0" * 64)


@pytest.mark.parametrize("name", ["zeb-large-belief-eq-v2", "a", "E1.v2_x", "9lives"])
def test_good_names(local_hub: LocalHub, name: str) -> None:
    exp = Experiment(local_hub, name)
    assert (exp.checkpoint_file, exp.config_file, exp.state_file) == (
        f"{name}.pt",
        f"{name}-config.json",
        f"{name}-state.json",
    )


@pytest.mark.parametrize(
    "name", ["", "-x", ".x", "a/b", "a b", "a..b", "a--b", "x.", "x-", "é", "x" * 65, "a\nb"]
)
def test_bad_names_give_a_clear_error(local_hub: LocalHub, name: str) -> None:
    with pytest.raises(ExperimentError, match="invalid experiment name"):
        Experiment(local_hub, name)


def test_seed_publishes_the_trio_once_then_the_hub_is_authoritative(
    local_hub: LocalHub, tmp_path: Path, caplog
) -> None:
    exp = Experiment(local_hub, "exp1")
    boot = make_checkpoint(tmp_path / "boot.pt", source_weights_name="large-belief.pt")
    result = exp.seed(boot, controls=Controls.stage1(), wandb_project="zeb-mcts")
    assert result.seeded and result.revision == local_hub.head("weights")
    state = exp.read_state()
    assert (state.cycle, state.step, state.total_games) == (7, 0, 1234)
    assert state.created_from.source_weights_name == "large-belief.pt"
    assert state.created_from.checkpoint == str(boot) and len(state.created_from.sha256) == 64
    assert state.controls == Controls.stage1() and state.wandb_project == "zeb-mcts"
    snap = exp.pull_weights()
    assert snap.config == CONFIG and snap.checkpoint_path.read_bytes() == boot.read_bytes()
    assert snap.load_checkpoint()["epoch"] == 7
    # A restart that passes another checkpoint does not reseed: it is ignored, and it says so.
    other = make_checkpoint(tmp_path / "other.pt", epoch=99)
    with caplog.at_level(logging.WARNING):
        again = exp.seed(other)
    assert (
        not again.seeded and "ignoring checkpoint" in again.message and str(other) in again.message
    )
    assert "ignoring checkpoint" in caplog.text
    assert local_hub.head("weights") == result.revision
    assert exp.read_state().cycle == 7


def test_a_namespace_with_only_a_checkpoint_is_not_reseeded(local_hub: LocalHub, tmp_path) -> None:
    local_hub.commit("weights", {"old.pt": b"weights from the original system"})
    result = Experiment(local_hub, "old").seed(make_checkpoint(tmp_path / "boot.pt"))
    assert not result.seeded and "state unreadable" in result.message
    assert local_hub.read("weights", "old.pt") == b"weights from the original system"


def test_seed_rejects_files_that_are_not_zeb_checkpoints(local_hub: LocalHub, tmp_path) -> None:
    exp = Experiment(local_hub, "exp1")
    torch.save({"model_state_dict": {}}, tmp_path / "partial.pt")
    with pytest.raises(ExperimentError, match="missing model_config, epoch, total_games"):
        exp.seed(tmp_path / "partial.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ExperimentError, match="not a loadable torch checkpoint"):
        exp.seed(tmp_path / "junk.pt")
    with pytest.raises(ExperimentError, match="does not exist"):
        exp.seed(tmp_path / "missing.pt")
    assert not exp.exists()


def test_publish_is_one_commit_and_pull_pins_a_revision(local_hub: LocalHub) -> None:
    exp = Experiment(local_hub, "exp1")
    s1 = ExperimentState(experiment="exp1", cycle=1, step=100, created_from=origin())
    r1 = exp.publish_weights(b"ckpt-1", CONFIG, s1)
    r2 = exp.publish_weights(
        b"ckpt-2", {**CONFIG, "n_layers": 2}, s1.model_copy(update={"step": 200})
    )
    assert all(f.revision == r2 for f in local_hub.list("weights"))  # all three in one commit
    old, new = exp.pull_weights(r1), exp.pull_weights()
    assert (old.revision, old.step, old.checkpoint_path.read_bytes()) == (r1, 100, b"ckpt-1")
    assert (new.revision, new.step, new.config["n_layers"]) == (r2, 200, 2)
    assert exp.weights_revision() == r2


def test_publish_keeps_controls_and_lineage_set_on_the_hub(local_hub: LocalHub) -> None:
    exp = Experiment(local_hub, "exp1")
    learner_state = ExperimentState(experiment="exp1", created_from=origin())
    exp.publish_weights(b"c0", CONFIG, learner_state)
    # The rollback flow turns eval-aux off while the learner runs; tracking stored a run id.
    exp.update_controls(eval_aux_enabled=False, eval_aux_batch_fraction=0.0)
    exp.write_state(exp.read_state().model_copy(update={"wandb_run_id": "abc123"}))
    stale = learner_state.model_copy(update={"step": 50, "controls": Controls.stage1()})
    exp.publish_weights(b"c1", CONFIG, stale)
    state = exp.read_state()
    assert state.step == 50 and state.controls == Controls() and state.wandb_run_id == "abc123"
    with pytest.raises(Exception, match="eval_aux_fracton"):
        exp.update_controls(eval_aux_fracton=0.2)


def test_examples_upload_list_read_and_prune(local_hub: LocalHub) -> None:
    exp = Experiment(local_hub, "exp1")
    before = local_hub.head("examples")
    rev = exp.upload_examples("selfplay-mcts", {f"w0-{t}-0.npz": b"s" * t for t in (1, 2, 3)})
    exp.upload_examples("eval-eq-zeb", {"w9-5-0.npz": b"eval"})
    assert rev != before
    assert all(f.revision == rev for f in exp.list_examples("selfplay-mcts")["selfplay-mcts"])
    shards = exp.list_examples()
    assert {k: [(f.name, f.size) for f in v] for k, v in shards.items()} == {
        "eval-eq-zeb": [("w9-5-0.npz", 4)],
        "selfplay-mcts": [("w0-1-0.npz", 1), ("w0-2-0.npz", 2), ("w0-3-0.npz", 3)],
    }
    assert exp.read_example("exp1/eval-eq-zeb/w9-5-0.npz") == b"eval"
    head = exp.delete_examples([f.path for f in shards["selfplay-mcts"][:2]])
    assert [f.name for f in exp.list_examples()["selfplay-mcts"]] == ["w0-3-0.npz"]
    assert local_hub.head("examples") == head
    with pytest.raises(ExperimentError, match="not a shard of experiment exp1"):
        exp.delete_examples(["exp2/selfplay-mcts/w0-3-0.npz"])
    with pytest.raises(ExperimentError, match="invalid example source"):
        exp.upload_examples("../weights", {"a.npz": b""})
    with pytest.raises(ExperimentError, match="no '/'"):
        exp.upload_examples("selfplay-mcts", {"a/b.npz": b""})


def test_list_experiments_inspect_and_a_corrupt_state(local_hub: LocalHub) -> None:
    for name in ("beta", "alpha-state"):
        Experiment(local_hub, name).publish_weights(
            b"c", CONFIG, ExperimentState(experiment=name, created_from=origin())
        )
    assert list_experiments(local_hub) == ["alpha-state", "beta"]
    view = Experiment(local_hub, "beta").inspect()
    assert [f.path for f in view.trio] == ["beta.pt", "beta-config.json", "beta-state.json"]
    assert view.state is not None and view.examples == {}
    local_hub.commit("weights", {"beta-state.json": b'{"format": "zeb-state-1", "oops": 1}'})
    with pytest.raises(StateError, match="beta-state.json@head is not a valid"):
        Experiment(local_hub, "beta").read_state()
    with pytest.raises(HubNotFoundError, match="experiment gamma not found"):
        Experiment(local_hub, "gamma").read_state()


def test_seed_and_pull_through_hugging_face(hf_hub: Hub, fake_hf, tmp_path: Path) -> None:
    exp = Experiment(hf_hub, "exp1")
    assert exp.seed(make_checkpoint(tmp_path / "boot.pt")).seeded
    assert fake_hf.count("POST", "/weights/commit/") == 1  # the trio in one commit
    snap = exp.pull_weights()
    assert snap.revision == fake_hf.commits("zeb-test/weights")[-1].oid
    assert snap.load_checkpoint()["total_games"] == 1234 and snap.state.cycle == 7
    assert not exp.seed(make_checkpoint(tmp_path / "other.pt")).seeded
    exp.upload_examples("selfplay-mcts", {"w0-1-0.npz": b"a", "w0-2-0.npz": b"b"})
    assert fake_hf.count("POST", "/examples/commit/") == 1
    assert [f.name for f in exp.list_examples()["selfplay-mcts"]] == ["w0-1-0.npz", "w0-2-0.npz"]
