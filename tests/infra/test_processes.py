"""Real processes talking only through the hub: a self-play worker and the learner end to end,
and SIGKILLs in the worst places followed by restarts."""

from __future__ import annotations

import signal

import pytest

from infra.experiment import Experiment
from infra.hub.local import LocalHub
from tests.infra.learner_helpers import seed_experiment
from tests.infra.process_helpers import (
    base_env,
    finish,
    hf_env,
    kill,
    learner_args,
    learner_status,
    start,
    wait_for,
    worker_args,
)
from zeb_core.data.shards import SELFPLAY, shard_from_bytes


def _shard_metas(experiment: Experiment) -> dict:
    files = experiment.list_examples().get(SELFPLAY, [])
    return {f.path: shard_from_bytes(experiment.read_example(f.path), f.path).meta for f in files}


@pytest.mark.slow
def test_worker_and_learner_end_to_end(tmp_path):
    hub = LocalHub(tmp_path / "hub")
    experiment, _ = seed_experiment(hub, tmp_path)
    env = base_env(tmp_path, ZEB_HUB_DIR=str(tmp_path / "hub"))
    logs = [tmp_path / "learner.log", tmp_path / "worker.log"]
    learner = start(learner_args(tmp_path, "--max-cycles", "3"), env, logs[0])
    worker = start(worker_args(tmp_path, "--max-batches", "60"), env, logs[1])
    try:
        finish(learner, 300, logs[0])
        assert experiment.read_state().cycle == 3
        # The worker picks up the published weights: its newer shards name a later cycle.
        wait_for(
            lambda: any(m.model_cycle >= 1 for m in _shard_metas(experiment).values()),
            180, "a shard played with published weights", [worker], logs,
        )  # fmt: skip
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert "weights: cycle 3" in logs[1].read_text() or "weights: cycle 2" in logs[1].read_text()
    status = learner_status(tmp_path)
    assert status["cycle"] == 3 and status["replay_selfplay"] >= 100


@pytest.mark.slow
def test_sigkill_mid_upload_and_mid_cycle_then_restart(fake_hf, hf_hub_factory, tmp_path):
    hub = hf_hub_factory(fake_hf, tmp_path)
    experiment, ckpt = seed_experiment(hub, tmp_path)
    env = hf_env(tmp_path, fake_hf.url)
    logs = {n: tmp_path / f"{n}.log" for n in ("learner1", "worker1", "worker2", "learner2")}
    args = learner_args(tmp_path, "--local-replay-cache-save-every", "2")
    learner = start([*args, "--checkpoint", str(ckpt)], env, logs["learner1"])
    worker = start(worker_args(tmp_path), env, logs["worker1"])
    all_logs = list(logs.values())
    try:
        wait_for(lambda: learner_status(tmp_path).get("cycle", 0) >= 3, 300, "3 cycles",
                 [learner, worker], all_logs)  # fmt: skip
        run_id = experiment.read_state().wandb_run_id
        assert run_id
        # The worker's next commit hangs (the server never answers it): kill it mid-upload.
        commits = fake_hf.count("POST", "examples/commit")
        fake_hf.add_fault("timeout", path="examples/commit", method="POST", times=1, delay_s=60)
        wait_for(lambda: fake_hf.count("POST", "examples/commit") > commits, 120,
                 "the worker's next upload", [worker], all_logs)  # fmt: skip
        in_flight = sorted(p.name for p in (tmp_path / "spool" / "exp" / "w1").glob("*.npz"))
        kill(worker)
        killed_cycle = learner_status(tmp_path)["cycle"]
        kill(learner)  # the learner trains without pause: this lands inside a cycle
    finally:
        for proc in (learner, worker):
            if proc.poll() is None:
                kill(proc)
    assert in_flight, "the shard being uploaded waits in the spool"

    worker = start(worker_args(tmp_path, "--max-batches", "1"), env, logs["worker2"])
    finish(worker, 300, logs["worker2"])
    learner = start([*args, "--max-cycles", "2"], env, logs["learner2"])
    finish(learner, 300, logs["learner2"])

    metas = _shard_metas(experiment)
    names = {path.rsplit("/", 1)[1] for path in metas}
    assert set(in_flight) <= names, "the shard killed mid-upload reached the hub after restart"
    status = learner_status(tmp_path)
    assert sorted(status["ingested"]) == sorted(metas)  # no shard lost
    assert status["selfplay_added"] == sum(m.n_examples for m in metas.values())  # none twice
    assert killed_cycle + 2 <= status["cycle"] <= killed_cycle + 3  # the count continued
    state = experiment.read_state()
    assert state.cycle == status["cycle"] and state.wandb_run_id == run_id
    assert "continue warm" in logs["learner2"].read_text()
    runs = list(tmp_path.glob(f"wandb/offline-run-*-{run_id}"))
    assert len(runs) == 2, runs  # both learner processes logged to the same run id
