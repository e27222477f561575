"""The learner on a flaky Hugging Face hub (fake server on 127.0.0.1): it waits out 429s, 5xx
and timeouts at start-up and mid-run, and loses no shard."""

from __future__ import annotations

import json
import threading
import time

from infra.hub.retry import RetryPolicy
from infra.learner.service import Learner
from infra.worker.loop import Worker
from infra.worker.options import WorkerOptions, WorkerSettings
from tests.infra.learner_helpers import (
    FakeProducer,
    learner_options,
    seed_experiment,
    upload_shards,
)
from zeb_core.data.shards import SELFPLAY


def test_learner_rides_out_hub_faults(fake_hf, hf_hub_factory, tmp_path):
    hub = hf_hub_factory(fake_hf, tmp_path, retry=RetryPolicy(attempts=3, base_s=0.001, max_s=0.01))
    experiment, _ = seed_experiment(hub, tmp_path)
    shards = upload_shards(experiment, [40, 40, 40])
    weights, examples = "/api/models/zeb-test/weights", "zeb-test/examples"
    # Start-up: reading the state meets a 429 then a 502 (retried inside the hub client).
    fake_hf.add_fault("429", path=weights, times=1)
    fake_hf.add_fault("502", path=weights, times=1)
    # Mid-run: listing shards fails past the retries once, a download times out once, and the
    # first publish fails past the retries (the next cycle publishes again).
    fake_hf.add_fault("500", path=f"{examples}/tree", times=3)
    fake_hf.add_fault("timeout", path=f"{examples}/resolve", times=1, delay_s=1.5)
    fake_hf.add_fault("503", path="weights/commit", method="POST", times=3)
    learner = Learner(hub, learner_options(tmp_path, max_cycles=3, poll_interval_s=0.01))
    learner.run()
    assert all(f.times == 0 for f in fake_hf.faults)
    status = json.loads((tmp_path / "cache" / "exp" / "status.json").read_text())
    assert sorted(status["ingested"]) == sorted(shards)
    assert status["replay_selfplay"] == sum(shards.values())
    state = experiment.read_state()
    assert state.cycle == 3 and state.step == 12  # published despite the failed first push


def test_training_goes_on_while_a_publish_waits_for_the_hub(fake_hf, hf_hub_factory, tmp_path):
    """A weights-repo outage (every commit refused) stalls publishing only: the learner trains
    its cycles, the offers coalesce, and the newest weights go out once the hub is back."""
    hub = hf_hub_factory(fake_hf, tmp_path, retry=RetryPolicy(attempts=2, base_s=0.05, max_s=0.1))
    experiment, _ = seed_experiment(hub, tmp_path)
    upload_shards(experiment, [40, 40, 40])
    fake_hf.add_fault("503", path="weights/commit", method="POST", times=10_000)
    learner = Learner(hub, learner_options(tmp_path, max_cycles=6, poll_interval_s=0.01))
    learner.start()
    while learner.state.cycle < 6:
        if learner._ready_to_train():
            learner._train_cycle()
    assert learner.publisher.waiting == 6  # every cycle trained; the newest waits to go out
    assert fake_hf.count("POST", "weights/commit") > 2  # the hub refused while it trained
    assert experiment.read_state().cycle == 0
    fake_hf.faults.clear()  # the hub is back
    learner._shutdown()
    assert experiment.read_state().cycle == 6


def test_training_goes_on_through_a_hub_outage(fake_hf, hf_hub_factory, tmp_path):
    """Every hub request fails for a while: the learner trains on what it holds (its reads and
    publishes wait in their threads), then takes new shards once the hub is back."""
    hub = hf_hub_factory(fake_hf, tmp_path, retry=RetryPolicy(attempts=2, base_s=0.1, max_s=0.2))
    experiment, _ = seed_experiment(hub, tmp_path)
    upload_shards(experiment, [80, 80])
    learner = Learner(hub, learner_options(tmp_path, max_cycles=None, poll_interval_s=0.05))
    learner.start()
    learner._ingest()
    learner.intake.start_fetching()
    fake_hf.add_fault("503", times=10**6)  # the hub is down, every request
    before, started = learner.state.cycle, time.monotonic()
    while time.monotonic() - started < 2.0:
        if learner._ready_to_train():
            learner._train_cycle()
    assert learner.state.cycle >= before + 3  # trained through the outage
    assert learner.intake.fetcher.trouble  # and knew about it
    fake_hf.faults.clear()  # the hub is back
    late = upload_shards(experiment, [40], first_seq=50)
    deadline = time.monotonic() + 10
    while not set(late) <= learner.intake.ingestor.ingested and time.monotonic() < deadline:
        learner._ready_to_train()
    assert set(late) <= learner.intake.ingestor.ingested
    learner._shutdown()
    assert experiment.read_state().cycle == learner.state.cycle


def test_a_429_storm_on_every_endpoint_loses_and_duplicates_nothing(
    fake_hf, hf_hub_factory, tmp_path
):
    """A worker uploads and a learner ingests and publishes, on one hub, while 429s hit every
    endpoint: every game the worker played is ingested exactly once."""
    hub = hf_hub_factory(fake_hf, tmp_path, retry=RetryPolicy(attempts=3, base_s=0.01, max_s=0.05))
    experiment, _ = seed_experiment(hub, tmp_path)
    options = WorkerOptions(
        experiment="exp",
        worker_id="w1",
        seed=1,
        spool_dir=tmp_path / "spool",
        max_batches=12,
        retry_wait_s=0.05,
        play=WorkerSettings(device="cpu", upload_interval_s=0, weights_check_s=0.2),
    )

    def storm() -> None:  # 429s on every path, for whichever requests come next
        fake_hf.add_fault("429", times=6, delay_s=0)

    worker = Worker(hub, options, FakeProducer({3: storm, 9: storm}))
    playing = threading.Thread(target=worker.run, name="worker")
    learner = Learner(hub, learner_options(tmp_path, max_cycles=None, poll_interval_s=0.05))
    learner.start()
    learner.intake.start_fetching()
    playing.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if learner._ready_to_train():
            learner._train_cycle()
        if not playing.is_alive() and _all_listed_ingested(experiment, learner):
            break
    playing.join(5)
    learner._shutdown()
    assert all(f.times == 0 for f in fake_hf.faults)  # the storms were met
    listed = {f.path for f in experiment.list_examples()[SELFPLAY]}
    assert learner.intake.ingestor.ingested == listed and not learner.intake.ingestor.rejected
    assert worker.games == 24 == experiment.read_state().total_games
    assert learner.intake.replay.selfplay.total_added == 12 * 30  # no shard twice
    assert not list((tmp_path / "spool" / "exp" / "w1").glob("*.npz"))


def _all_listed_ingested(experiment, learner) -> bool:
    listed = {f.path for f in experiment.list_examples().get(SELFPLAY, [])}
    return bool(listed) and listed <= learner.intake.ingestor.ingested
