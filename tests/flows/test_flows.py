"""The flows under the Prefect test harness: create four ways, learn stage 0 with a real learner
and worker, verify, rollback, fleet health, and the failures users meet."""

from __future__ import annotations

import pytest
import torch
from prefect import get_client

from flows.common import UserError
from flows.create import create_experiment
from flows.fleet_health import fleet_health
from flows.fleets import fleet_down, fleet_up
from flows.learn import learn_experiment
from flows.rollback import rollback
from flows.verify import VerifyFailed, verify
from infra.experiment import Experiment
from infra.fleet import fleet_store, open_fleet
from infra.hub.local import LocalHub
from infra.learner.supervisor import LearnerCrashed
from infra.settings import load_settings
from tests.flows.flow_helpers import tiny_fleet, tiny_learner
from zeb_core.network.checkpoint import Checkpoint, init_checkpoint, save_checkpoint


def experiment(name: str) -> Experiment:
    return Experiment(LocalHub(load_settings().local_hub_dir), name)


def test_create_from_random_weights_once(zeb_home):
    summary = create_experiment(exp="a", size="small", belief_head=True, seed=3)
    assert summary["created"] and summary["model_config"]["belief_head"]
    assert summary["model_config"]["belief_head_type"] == "constrained"  # zeb's, by default
    original = create_experiment(exp="p", size="small", belief_head=True, belief_head_type="pooled")
    assert "belief_head_type" not in original["model_config"]  # a file the original can load
    state = experiment("a").read_state()
    assert state.wandb_run_id == summary["wandb_run_id"] and state.cycle == 0
    head = experiment("a").hub.head("weights")
    again = create_experiment(exp="a", size="medium")
    assert not again["created"] and "nothing changed" in again["message"]
    assert experiment("a").hub.head("weights") == head


def test_create_warm_starts_from_the_hub_and_from_a_local_checkpoint(zeb_home, tmp_path):
    create_experiment(exp="a", size="small", belief_head=True)
    b = create_experiment(exp="b", source="hf:a")
    assert b["created"] and b["source_weights_name"] == "a.pt"
    weights_a = experiment("a").pull_weights().load_checkpoint()["model_state_dict"]
    weights_b = experiment("b").pull_weights().load_checkpoint()["model_state_dict"]
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)

    trained = init_checkpoint("small", seed=9)
    training = Checkpoint(
        trained.state_dict,
        trained.config,
        epoch=77,
        total_games=5000,
        extra={"optimizer": {"step": 3}},
    )
    path = save_checkpoint(training, tmp_path / "run-epoch77.pt")
    c = create_experiment(exp="c", source=f"local:{path}")
    assert c["created"] and c["source_weights_name"] == "run-epoch77.pt"
    published = experiment("c").pull_weights().load_checkpoint()
    assert "optimizer" not in published and published["epoch"] == 0


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("s3:bucket/x.pt", "unknown source"),
        ("hf:nope", "no weights file nope.pt"),
        ("local:/no/such/file.pt", "no such checkpoint file"),
    ],
)
def test_a_bad_source_is_one_error_before_anything_is_written(zeb_home, source, message):
    with pytest.raises(Exception, match=message) as raised:
        create_experiment(exp="x", source=source)
    assert "\n" not in str(raised.value).strip()
    assert not experiment("x").exists()


def test_learn_stage_0_then_verify_rollback_and_fleet_health(zeb_home, tmp_path):
    create_experiment(exp="a", size="small", belief_head=True)
    result = learn_experiment(
        exp="a", stage=0, learner=tiny_learner(tmp_path), selfplay=tiny_fleet(), report_every=1
    )
    assert result["cycles"] == 2 and result["last_cycle"] == 2 and result["published_cycle"] == 2
    state = experiment("a").read_state()
    assert state.cycle == 2 and state.control_history[-1].by == "learn stage 0"
    with get_client(sync_client=True) as client:
        table = client.read_latest_artifacts()
    assert "a-learner-cycles" in {artifact.key for artifact in table}

    checks = verify(exp="a")
    assert all(c["ok"] for c in checks), checks
    rollback(exp="a")
    state = experiment("a").read_state()
    assert not state.controls.eval_aux_enabled and state.control_history[-1].by == "rollback"
    (report,) = fleet_health(exp="a")
    assert report["healthy"] and report["fleet"] == "zeb-a-selfplay"

    # a cancelled or finished learn run leaves its fleets producing: fleet-down stops them
    assert fleet_down(exp="a") == {"zeb-a-selfplay": ["zeb-a-selfplay-worker-local-0"]}
    settings = load_settings()
    fleet_spec = fleet_store(settings, "a", "selfplay").load_spec()
    assert fleet_spec.target == 0
    records = open_fleet(fleet_spec, experiment("a"), settings).status()
    assert not [r for r in records if r.state == "running"]
    started = fleet_up(exp="a", role="selfplay", fleet=tiny_fleet(target=1))
    assert started["started"] == ["zeb-a-selfplay-worker-local-0"]
    assert fleet_down(exp="a", role="selfplay")["zeb-a-selfplay"] == [
        "zeb-a-selfplay-worker-local-0"
    ]
    with pytest.raises(UserError, match="no evalaux fleet"):
        fleet_down(exp="a", role="evalaux")


def test_a_crashing_learner_fails_the_run_with_its_last_lines(zeb_home, tmp_path):
    create_experiment(exp="a", size="small")
    broken = tiny_learner(tmp_path, device="cuda:7")  # no such device here
    with pytest.raises(LearnerCrashed, match="exited with code") as raised:
        learn_experiment(exp="a", learner=broken, selfplay=tiny_fleet(target=0))
    assert "last lines" in str(raised.value) and "error" in str(raised.value).lower()


def test_verify_fails_naming_what_to_do(zeb_home):
    create_experiment(exp="a", size="small")
    with pytest.raises(VerifyFailed) as failed:
        verify(exp="a")
    text = str(failed.value)
    assert "fleets healthy" in text and "zeb fleet up" in text
    assert "learner alive" in text and "start learn" in text
    assert {c["name"] for c in failed.value.checks if not c["ok"]} >= {"fleets healthy"}


def test_unknown_experiment_is_a_clear_error(zeb_home):
    with pytest.raises(Exception, match="experiment nope not found"):
        rollback(exp="nope")


def test_tokens_come_from_secret_blocks_when_the_environment_lacks_them(zeb_home, monkeypatch):
    from prefect.blocks.system import Secret

    from flows import common

    Secret(value="hf_fromASecretBlock123").save("zeb-hf-token", overwrite=True)
    monkeypatch.setattr(common, "_missing_blocks", set())
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("VAST_API_KEY", "from-the-env")
    config = common.settings()
    assert config.hf_token.get_secret_value() == "hf_fromASecretBlock123"
    assert config.vast_api_key.get_secret_value() == "from-the-env"  # the environment wins
    assert "hf_fromASecretBlock123" not in repr(config)
    monkeypatch.delenv("HF_TOKEN")  # do not leak the token into later tests
