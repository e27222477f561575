"""Workers in-process: shards per upload interval and per model, the spool, hub faults."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import torch

from infra.hub.retry import RetryPolicy
from infra.worker.evalaux import EvalAuxProducer
from infra.worker.heartbeat import read_heartbeat
from infra.worker.hub_link import HubLink
from infra.worker.loop import Worker, WorkerError
from infra.worker.options import WorkerOptions, WorkerSettings
from infra.worker.spool import Spool
from tests.infra.learner_helpers import FakeProducer, seed_experiment, shard_bytes
from zeb_core.data.shards import EVAL_AUX, SELFPLAY, shard_from_bytes
from zeb_core.network.checkpoint import init_checkpoint


def _options(tmp_path, upload_interval_s: float = 0, **kw) -> WorkerOptions:
    values = dict(
        experiment="exp",
        worker_id="w1",
        seed=1,
        spool_dir=tmp_path / "spool",
        max_batches=2,
        retry_wait_s=0.01,
        play=WorkerSettings(device="cpu", upload_interval_s=upload_interval_s, weights_check_s=0),
    )
    values.update(kw)
    return WorkerOptions(**values)


def _shards(experiment, source=SELFPLAY):
    files = experiment.list_examples().get(source, [])
    return [shard_from_bytes(experiment.read_example(f.path), f.path) for f in files]


def test_evalaux_worker_plays_eq_against_the_model(local_hub, tmp_path):
    experiment, _ = seed_experiment(local_hub, tmp_path)
    Worker(local_hub, _options(tmp_path, max_batches=1), EvalAuxProducer(1, worlds=2)).run()
    (shard,) = _shards(experiment, EVAL_AUX)
    meta = shard.meta
    assert meta.source == EVAL_AUX and meta.n_games == 2 and meta.n_examples == 56
    assert meta.weights_revision == experiment.weights_revision() and meta.model_cycle == 0
    assert 0 <= meta.eq_win_rate <= 1 and meta.eq_margin is not None
    assert set(np.unique(shard.examples.value)) <= {-1.0, 0.0, 1.0}


def test_one_shard_per_interval_and_per_model(local_hub, tmp_path):
    experiment, _ = seed_experiment(local_hub, tmp_path)

    def learner_publishes():  # new weights appear while the worker plays its 3rd batch
        state = experiment.read_state().model_copy(update={"cycle": 5, "step": 500})
        buf = io.BytesIO()
        torch.save(init_checkpoint("small", belief_head=True, seed=1).to_dict(), buf)
        experiment.publish_weights(buf.getvalue(), {}, state)

    options = _options(tmp_path, max_batches=4, upload_interval_s=3600)
    Worker(local_hub, options, FakeProducer({3: learner_publishes})).run()
    shards = sorted(_shards(experiment), key=lambda s: s.meta.created_at)
    assert [(s.meta.model_cycle, s.meta.n_games) for s in shards] == [(0, 6), (5, 2)]
    assert shards[1].meta.model_step == 500
    assert all(s.meta.n_examples == len(s.examples) for s in shards)


def test_spool_leftovers_are_uploaded_first(local_hub, tmp_path):
    experiment, _ = seed_experiment(local_hub, tmp_path)
    spool = tmp_path / "spool" / "exp" / "w1"
    spool.mkdir(parents=True)
    name, data = shard_bytes(20, 3)
    (spool / name).write_bytes(data)
    Worker(local_hub, _options(tmp_path, max_batches=1), FakeProducer()).run()
    names = [f.name for f in experiment.list_examples()[SELFPLAY]]
    assert name in names and len(names) == 2
    assert not list(spool.glob("*.npz"))


def test_unknown_experiment_is_a_one_line_error(local_hub, tmp_path):
    with pytest.raises(WorkerError, match="experiment exp not found") as exc:
        Worker(local_hub, _options(tmp_path), FakeProducer()).run()
    assert "\n" not in str(exc.value)


def test_worker_rides_out_hub_faults(fake_hf, hf_hub_factory, tmp_path):
    hub = hf_hub_factory(fake_hf, tmp_path, retry=RetryPolicy(attempts=3, base_s=0.001, max_s=0.01))
    experiment, _ = seed_experiment(hub, tmp_path)
    # Start-up: the first look at the hub (a /resolve/ request: no Hub API call) meets a 429 and
    # a 503; the client retries them.
    fake_hf.add_fault("429", path="^/zeb-test/weights/resolve/", times=1)
    fake_hf.add_fault("503", path="^/zeb-test/weights/resolve/", times=1)
    # Mid-run: the first upload fails past the retries (3 x 500): its shard waits in the spool.
    fake_hf.add_fault("500", path="/api/models/zeb-test/examples/commit", method="POST", times=3)
    fake_hf.add_fault("timeout", path="/api/models/zeb-test/examples/commit", times=1, delay_s=1.5)
    Worker(hub, _options(tmp_path, max_batches=3), FakeProducer()).run()
    shards = _shards(experiment)
    assert len(shards) == 3 and sum(s.meta.n_games for s in shards) == 6
    assert fake_hf.count("POST", "examples/commit") >= 5  # the failed tries happened
    assert all(f.times == 0 for f in fake_hf.faults)  # every injected fault was met


def test_worker_plays_on_through_an_upload_storm(fake_hf, hf_hub_factory, tmp_path):
    """Every commit meets a 429 for a while: play goes on (the hub link uploads beside it), the
    heartbeat says how many games wait and why, and once the storm ends every game lands once."""
    hub = hf_hub_factory(fake_hf, tmp_path, retry=RetryPolicy(attempts=2, base_s=0.001, max_s=0.01))
    experiment, _ = seed_experiment(hub, tmp_path)
    fake_hf.add_fault("429", path="examples/(commit|preupload)", times=10**6, delay_s=0)
    spool = tmp_path / "spool" / "exp" / "w1"
    seen = {}

    def storm_met():  # before batch 4: the link says it is held up
        wait_until(lambda: worker.link.trouble)

    def storm_ends():  # before batch 6: the heartbeat of batch 5 shows the waiting games
        seen["beat"] = read_heartbeat(spool)
        with fake_hf.lock:
            fake_hf.faults.clear()

    worker = Worker(
        hub, _options(tmp_path, max_batches=8), FakeProducer({4: storm_met, 6: storm_ends})
    )
    worker.run()
    beat = seen["beat"]
    assert beat.batches == 5 and beat.spooled >= 1 and beat.spooled_games >= 2
    assert "waits on the hub" in beat.message
    shards = _shards(experiment)
    assert sum(s.meta.n_games for s in shards) == 16
    assert len({s.meta.created_at for s in shards}) == len(shards)
    assert not list(spool.glob("*.npz")) and read_heartbeat(spool).spooled == 0


def wait_until(condition, timeout_s: float = 30.0) -> None:
    end = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


def test_new_weights_are_found_while_an_upload_hangs(fake_hf, hf_hub_factory, tmp_path):
    """Uploads and weights checks have a thread each: an upload held by the hub (a commit limit,
    a slow server) does not keep the worker on old weights."""
    retry = RetryPolicy(attempts=1, base_s=0.01, max_s=0.01)
    hub = hf_hub_factory(fake_hf, tmp_path, retry=retry, timeout_s=30.0)  # the upload waits
    experiment, _ = seed_experiment(hub, tmp_path)
    spool = Spool(tmp_path / "spool")
    name, data = shard_bytes(28, 1)
    (spool.folder / name).write_bytes(data)
    fake_hf.add_fault("timeout", path="examples/(commit|preupload)", times=1, delay_s=6)
    fingerprint = experiment.weights_fingerprint().tag
    link = HubLink(experiment, spool, SELFPLAY, 3600, 0.1, 0.05, fingerprint=fingerprint).start()
    try:
        link.upload_soon()
        wait_until(lambda: fake_hf.count("POST", "examples/(commit|preupload)") >= 1)
        held_at = time.monotonic()
        state = experiment.read_state().model_copy(update={"cycle": 7})
        buf = io.BytesIO()
        torch.save(init_checkpoint("small", belief_head=True, seed=2).to_dict(), buf)
        experiment.publish_weights(buf.getvalue(), {}, state)
        found = []
        wait_until(lambda: found.append(link.take_weights()) or found[-1] is not None, 5.0)
        assert found[-1].state.cycle == 7 and time.monotonic() - held_at < 5.0
    finally:
        link.close()
    assert not spool.pending()  # the upload went through on its next try


def test_new_weights_are_pulled_without_a_hub_api_call(fake_hf, hf_hub_factory, tmp_path):
    """A worker's look and pull of new weights spend resolver requests only: the pull reads at
    the head the look's answer named, so 200 workers do not spend the Hub API quota on it."""
    hub = hf_hub_factory(fake_hf, tmp_path)
    experiment, _ = seed_experiment(hub, tmp_path)
    link = HubLink(experiment, Spool(tmp_path / "spool"), SELFPLAY, 3600, 0, 1, fingerprint=None)
    state = experiment.read_state().model_copy(update={"cycle": 3})
    buf = io.BytesIO()
    torch.save(init_checkpoint("small", belief_head=True, seed=2).to_dict(), buf)
    experiment.publish_weights(buf.getvalue(), {}, state)
    api_calls = fake_hf.count("GET", "^/api/") + fake_hf.count("POST", "^/api/")
    link.check_weights()
    assert link.take_weights().state.cycle == 3
    assert fake_hf.count("GET", "^/api/") + fake_hf.count("POST", "^/api/") == api_calls


def test_a_worker_replaced_mid_storm_leaves_no_games_behind(fake_hf, hf_hub_factory, tmp_path):
    """A worker stops (a health pass replaced it) while every upload meets 429s: its games wait
    in the spool, and the next worker under its label uploads them before its own."""
    hub = hf_hub_factory(fake_hf, tmp_path, retry=RetryPolicy(attempts=2, base_s=0.001, max_s=0.01))
    experiment, _ = seed_experiment(hub, tmp_path)
    # On the commit only: huggingface_hub waits out a 429 on preupload itself, for seconds.
    fake_hf.add_fault("429", path="examples/commit", times=10**6, delay_s=0)
    spool = tmp_path / "spool" / "exp" / "w1"
    first = Worker(hub, _options(tmp_path, max_batches=3), FakeProducer())
    first.run()  # stops mid-storm: its last upload fails too
    assert list(spool.glob("*.npz")) and _shards(experiment) == []
    with fake_hf.lock:
        fake_hf.faults.clear()  # the storm ends
    second = Worker(hub, _options(tmp_path, max_batches=1), FakeProducer())
    second.run()
    shards = _shards(experiment)
    assert sum(s.meta.n_games for s in shards) == first.games + second.games == 8
    assert not list(spool.glob("*.npz"))
