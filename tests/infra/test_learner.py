"""The learner in-process on a LocalHub with synthetic shards: cycles, resume, controls, bad
shards, pruning and pausing."""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pytest
import torch

from infra.learner.options import LearnerOptions
from infra.learner.service import Learner, LearnerError
from tests.infra.learner_helpers import (
    learner_options,
    seed_experiment,
    shard_bytes,
    upload_shards,
)
from zeb_core.data.shards import EVAL_AUX, SELFPLAY
from zeb_core.data.train import LossWeights, Trainer
from zeb_core.network.checkpoint import checkpoint_from_dict
from zeb_core.network.model import ZebModel


def _status(tmp_path) -> dict:
    return json.loads((tmp_path / "cache" / "exp" / "status.json").read_text())


def test_trains_cycles_publishes_and_counts(local_hub, tmp_path):
    experiment, _ = seed_experiment(local_hub, tmp_path)
    shards = upload_shards(experiment, [40, 30, 50])
    Learner(local_hub, learner_options(tmp_path, max_cycles=3)).run()
    state = experiment.read_state()
    assert (state.cycle, state.step) == (3, 12)
    status = _status(tmp_path)
    assert sorted(status["ingested"]) == sorted(shards)
    assert status["replay_selfplay"] == sum(shards.values())
    snap = experiment.pull_weights()
    assert checkpoint_from_dict(snap.load_checkpoint()).epoch == 3
    assert state.total_games == sum(max(1, n // 28) for n in shards.values())
    # Each publish says what the learner consumes and took in, for fleet sizing.
    throughput = state.throughput
    assert throughput.capacity_samples_per_h > throughput.trained_samples_per_h > 0
    per_game = sum(shards.values()) / state.total_games
    assert throughput.examples_per_game(SELFPLAY) == pytest.approx(per_game)
    assert throughput.useful_reuse == 4.0


def test_restart_resumes_warm_without_double_ingest(local_hub, tmp_path, caplog):
    experiment, _ = seed_experiment(local_hub, tmp_path)
    shards = upload_shards(experiment, [60, 60])
    Learner(local_hub, learner_options(tmp_path, max_cycles=1)).run()
    shards |= upload_shards(experiment, [25], first_seq=10)
    caplog.set_level(logging.INFO, logger="zeb.learner")
    learner = Learner(local_hub, learner_options(tmp_path, max_cycles=1))
    learner.run()
    assert "continue warm" in caplog.text
    assert experiment.read_state().cycle == 2
    assert learner.trainer.steps == 8  # the optimizer's step count survived the restart
    assert learner.trainer.optimizer.state  # Adam moments restored
    status = _status(tmp_path)
    assert status["selfplay_added"] == status["replay_selfplay"] == sum(shards.values())


def test_bad_shards_are_set_aside_and_training_continues(local_hub, tmp_path, caplog):
    experiment, _ = seed_experiment(local_hub, tmp_path)
    upload_shards(experiment, [80])
    name, good = shard_bytes(30, 7)
    bad = {
        "w1-20260101T000100Z-000100.npz": b"this is not a zip file",
        "w1-20260101T000101Z-000101.npz": good[: len(good) // 2],
    }
    experiment.upload_examples(SELFPLAY, bad)
    caplog.set_level(logging.WARNING, logger="zeb.learner")
    Learner(local_hub, learner_options(tmp_path, max_cycles=1)).run()
    status = _status(tmp_path)
    assert len(status["rejected"]) == 2 and status["replay_selfplay"] == 80
    for path in status["rejected"]:
        assert f"set aside shard {path}" in caplog.text
    assert experiment.read_state().cycle == 1


def test_wrong_version_shard_is_set_aside(local_hub, tmp_path):
    experiment, _ = seed_experiment(local_hub, tmp_path)
    upload_shards(experiment, [80])
    name, data = shard_bytes(30, 7, shard_format=9)
    experiment.upload_examples(SELFPLAY, {name: data})
    Learner(local_hub, learner_options(tmp_path, max_cycles=1)).run()
    (reason,) = _status(tmp_path)["rejected"].values()
    assert "format" in reason and name in reason


def test_live_controls_mix_eval_aux(local_hub, tmp_path):
    experiment, _ = seed_experiment(local_hub, tmp_path)
    upload_shards(experiment, [100])
    upload_shards(experiment, [100], first_seq=50, source=EVAL_AUX)
    Learner(local_hub, learner_options(tmp_path, max_cycles=1)).run()
    assert _status(tmp_path)["train/eval_aux_fraction"] == 0.0  # stage 0: eval-aux off
    experiment.update_controls(eval_aux_enabled=True, eval_aux_batch_fraction=0.25)
    Learner(local_hub, learner_options(tmp_path, max_cycles=1)).run()
    status = _status(tmp_path)
    assert status["train/eval_aux_fraction"] == pytest.approx(0.25)
    assert status["eval_aux/seen"] == 100 and status["loss/eval_aux/policy"] >= 0


def test_flags_write_controls_and_prune_keeps_newest(local_hub, tmp_path):
    experiment, _ = seed_experiment(local_hub, tmp_path)
    shards = upload_shards(experiment, [30] * 5)
    options = learner_options(tmp_path, max_cycles=1, keep_example_files=2, eval_aux_enabled=True)
    Learner(local_hub, options).run()
    assert experiment.read_state().controls.eval_aux_enabled
    left = [f.path for f in experiment.list_examples()[SELFPLAY]]
    assert left == sorted(shards)[-2:]


def test_waits_for_min_buffer_then_pauses_without_new_shards(local_hub, tmp_path, caplog):
    experiment, _ = seed_experiment(local_hub, tmp_path)
    upload_shards(experiment, [20])
    caplog.set_level(logging.INFO, logger="zeb.learner")
    learner = Learner(local_hub, learner_options(tmp_path, min_buffer=50, max_example_age_s=60))
    learner.start()
    assert (
        not learner._ready_to_train() and "waiting for self-play examples: 20 of 50" in caplog.text
    )
    upload_shards(experiment, [40], first_seq=5)
    assert learner._ready_to_train()
    learner.intake.ingestor.last_new_at = time.monotonic() - 61
    assert not learner._ready_to_train() and "paused: no new shard" in caplog.text


def test_unknown_experiment_and_ignored_checkpoint(local_hub, tmp_path, caplog):
    with pytest.raises(LearnerError, match="not found .*--checkpoint"):
        Learner(local_hub, learner_options(tmp_path)).start()
    experiment, ckpt = seed_experiment(local_hub, tmp_path)
    other = tmp_path / "other.pt"
    torch.save(torch.load(ckpt, weights_only=True), other)
    caplog.set_level(logging.WARNING)
    Learner(local_hub, learner_options(tmp_path, checkpoint=other)).start()
    assert "ignoring checkpoint" in caplog.text and "hub is authoritative" in caplog.text


def test_options_reject_unknown_keys():
    with pytest.raises(ValueError):
        LearnerOptions(experiment="x", colour="red")
    assert np.isclose(LearnerOptions(experiment="x").lr, 1e-4)


def test_an_lr_anneal_needs_a_run_of_known_length():
    with pytest.raises(ValueError, match="max_minutes or max_cycles"):
        LearnerOptions(experiment="x", lr_anneal_start=0.5)
    assert LearnerOptions(experiment="x", lr_anneal_start=0.5, max_cycles=10).lr_anneal()


def test_the_batch_size_defaults_by_device_unless_given():
    default = LearnerOptions(experiment="x")
    assert default.on_device("cpu").batch == 64
    assert default.on_device("cuda").batch == 512
    assert LearnerOptions(experiment="x", batch_size=16).on_device("cuda").batch == 16
    with pytest.raises(ValueError, match="on_device"):
        _ = default.batch


def test_the_lr_anneals_over_the_run_cycle_by_cycle(local_hub, tmp_path):
    experiment, _ = seed_experiment(local_hub, tmp_path)
    upload_shards(experiment, [40, 30, 50])
    options = learner_options(tmp_path, lr=1e-3, max_cycles=2, lr_anneal_start=0.0)
    learner = Learner(local_hub, options)
    seen = []
    learner.tracker_factory = lambda exp: _Recorder(seen)
    learner.run()
    assert [round(m["train/lr"], 6) for m in seen] == [1e-3, 5.5e-4]  # at 0 and half the run


class _Recorder:
    def __init__(self, seen: list[dict]) -> None:
        self.seen = seen

    def log(self, metrics: dict, step: int) -> None:
        self.seen.append(metrics)

    def finish(self) -> None:
        pass


def test_the_cache_lives_under_zeb_home_unless_a_folder_is_given(tmp_path):
    home = tmp_path / "zeb-home"
    options = LearnerOptions(experiment="x").in_home(home)
    assert options.cache_folder() == home / "cache" / "learner" / "x"
    given = LearnerOptions(experiment="x", local_replay_cache_dir=tmp_path / "elsewhere")
    assert given.in_home(home).cache_folder() == tmp_path / "elsewhere" / "x"
    with pytest.raises(ValueError, match="in_home"):
        LearnerOptions(experiment="x").cache_folder()


def _games(sizes: list[int]) -> int:
    return sum(max(1, n // 28) for n in sizes)


def test_a_restart_without_a_snapshot_keeps_counting_games_from_the_weights(local_hub, tmp_path):
    """Re-ingested shards are not counted twice, and pruned shards' games are not lost (the count
    used to restart from the bootstrap's)."""
    experiment, _ = seed_experiment(local_hub, tmp_path)
    sizes = [60, 90, 120]
    upload_shards(experiment, sizes)
    no_cache = dict(local_replay_cache_enabled=False, keep_example_files=1, max_cycles=1)
    Learner(local_hub, learner_options(tmp_path, **no_cache)).run()
    assert experiment.read_state().total_games == _games(sizes)
    assert len(experiment.list_examples()[SELFPLAY]) == 1  # two were pruned
    (tmp_path / "cache" / "exp" / "training.pt").unlink()  # a new machine: only the hub
    Learner(local_hub, learner_options(tmp_path, **no_cache)).run()
    assert experiment.read_state().total_games == _games(sizes)


def test_shards_read_before_a_hub_error_mid_ingest_are_counted(local_hub, tmp_path, monkeypatch):
    from infra.experiment import Experiment
    from infra.hub.base import HubUnavailableError

    experiment, _ = seed_experiment(local_hub, tmp_path)
    upload_shards(experiment, [60, 90, 120])
    real_read, reads = Experiment.read_example, []

    def flaky(self, path, revision=None):
        reads.append(path)
        if len(reads) == 2:
            raise HubUnavailableError("503 on the second shard")
        return real_read(self, path, revision)

    monkeypatch.setattr(Experiment, "read_example", flaky)
    learner = Learner(local_hub, learner_options(tmp_path, max_cycles=1))
    learner.start()
    learner._ingest()
    assert learner.state.total_games == _games([60]) and learner.intake.last_ingest.interrupted
    learner._ingest()
    assert learner.state.total_games == _games([60, 90, 120])


def test_the_replay_ratio_makes_the_learner_wait_for_data(local_hub, tmp_path, caplog):
    experiment, _ = seed_experiment(local_hub, tmp_path)
    upload_shards(experiment, [100])
    # 4 steps x 16 rows = 64 samples a cycle; ratio 1.5 of 100 examples allows 150: two cycles
    options = learner_options(tmp_path, max_cycles=None, max_replay_ratio=1.5, min_buffer=50)
    learner = Learner(local_hub, options)
    learner.start()
    caplog.set_level(logging.INFO, logger="zeb.learner")
    for _ in range(2):
        assert learner._ready_to_train()
        learner._train_cycle()
    assert not learner._ready_to_train() and "replay ratio 1.3 of 1.5" in caplog.text
    upload_shards(experiment, [50], first_seq=9)
    assert learner._ready_to_train()
    learner._train_cycle()
    assert _status(tmp_path)["train/replay_ratio"] == pytest.approx(192 / 150)
    learner._shutdown()


def test_the_belief_weight_option_weighs_self_play_belief(local_hub, tmp_path):
    seed_experiment(local_hub, tmp_path)
    learner = Learner(local_hub, learner_options(tmp_path, belief_weight=2.0))
    learner.start()
    learner._apply_controls()  # rebuilds the weights from the live controls, keeping self-play's
    assert learner.trainer.loss_weights.selfplay == LossWeights(policy=1.0, value=1.0, belief=2.0)
    assert learner.trainer.loss_weights.eval_aux.belief == 0.5  # eval-aux has its own control
    learner._shutdown()


def test_an_optimizer_state_that_does_not_fit_starts_cold(local_hub, tmp_path, caplog):
    experiment, _ = seed_experiment(local_hub, tmp_path)
    upload_shards(experiment, [60, 60])
    first = Learner(local_hub, learner_options(tmp_path, max_cycles=1))
    first.run()
    # An older learner kept every parameter in one optimizer group; this model has two.
    payload = torch.load(first.local.training_path, weights_only=True)
    one_group = Trainer(ZebModel(64, 2, 2, 128), device="cpu").state_dict()
    first.local.save_training({**payload, "trainer": one_group})
    caplog.set_level(logging.INFO, logger="zeb.learner")
    again = Learner(local_hub, learner_options(tmp_path, max_cycles=1))
    again.run()
    assert "does not fit" in caplog.text and "optimizer starts cold" in caplog.text
    assert experiment.read_state().cycle == 2  # the weights and the count still resumed


def test_the_dropout_option_sets_the_dropout_of_every_encoder_layer(local_hub, tmp_path):
    seed_experiment(local_hub, tmp_path)
    learner = Learner(local_hub, learner_options(tmp_path, dropout=0.1))  # the original's
    learner.start()
    rates = _dropout_rates(learner.model)
    layers = [name for name in rates if ".layers." in name or "belief_queries.encoder" in name]
    assert len(layers) == 12 and all(rates[name] == 0.1 for name in layers)  # 3 layers x 4
    learner._shutdown()
    default = Learner(local_hub, learner_options(tmp_path))
    default.start()
    assert set(_dropout_rates(default.model).values()) == {0.0}  # zeb's default: none at all
    default._shutdown()


def _dropout_rates(model: torch.nn.Module) -> dict[str, float]:
    """The rate of every dropout in the model by module name, attention's included."""
    rates = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Dropout):
            rates[name] = module.p
        elif isinstance(module, torch.nn.MultiheadAttention):
            rates[name] = module.dropout
    return rates
