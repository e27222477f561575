"""Examples in S3-compatible object storage (ZEB_EXAMPLES=s3), on a real S3 server on loopback
(moto's server mode) behind a proxy that injects S3's documented faults: the per-worker layout,
listing by cursor, real deletes, the learner's exactly-once ingest and `zeb hub ls`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from infra.experiment import Experiment
from infra.hub.object_examples import ObjectExamplesHub
from infra.learner.ingest import Ingestor
from infra.learner.service import Learner
from infra.settings import Settings, make_hub
from tests.fakes.s3_server import BUCKET, KEYS, s3_server
from tests.infra.learner_helpers import learner_options, seed_experiment, shard_bytes
from zeb_cli.hub import hub_app
from zeb_core.data.replay import ReplayBuffer, ReplayConfig
from zeb_core.data.shards import SELFPLAY

RNG = np.random.default_rng(0)


@pytest.fixture
def s3():
    with s3_server() as server:
        yield server


def s3_settings(tmp_path: Path, s3, **changes) -> Settings:
    values = dict(
        home=tmp_path / "home",
        examples="s3",
        s3_bucket=BUCKET,
        s3_prefix="runs",
        s3_endpoint=s3.url,
        s3_access_key_id=KEYS["aws_access_key_id"],
        s3_secret_access_key=KEYS["aws_secret_access_key"],
        hf_retry_base_s=0.01,
        hf_retry_attempts=6,
    )
    return Settings(**(values | changes))


@pytest.fixture
def hub(tmp_path: Path, s3) -> ObjectExamplesHub:
    made = make_hub(s3_settings(tmp_path, s3))
    assert isinstance(made, ObjectExamplesHub)
    return made


def keys(s3) -> list[str]:
    found = s3.client().list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return sorted(obj["Key"] for obj in found)


def upload(exp: Experiment, worker: str, seq: int, n: int = 40) -> str:
    name, data = shard_bytes(n, seq, worker=worker)
    exp.upload_examples(SELFPLAY, {name: data})
    return f"{exp.name}/{SELFPLAY}/{name}"


def test_shards_live_under_a_prefix_per_experiment_source_and_worker(hub, s3, tmp_path):
    exp, _ = seed_experiment(hub, tmp_path)
    paths = [upload(exp, "w1", 1), upload(exp, "w2", 1), upload(exp, "w1", 2)]
    assert keys(s3) == sorted(
        f"runs/{p.rsplit('/', 1)[0]}/{p.rsplit('/', 1)[1].split('-')[0]}/{p.rsplit('/', 1)[1]}"
        for p in paths
    )
    listed = exp.list_examples()[SELFPLAY]
    assert [f.path for f in listed] == sorted(paths) and all(f.size > 0 for f in listed)
    assert exp.read_example(paths[0]) == shard_bytes(40, 1, worker="w1")[1]
    assert exp.weights_revision() is not None  # the weights keep their commits


def test_listing_by_cursor_asks_only_for_what_is_new(hub, s3, tmp_path):
    exp, _ = seed_experiment(hub, tmp_path)
    first = {upload(exp, "w1", 1), upload(exp, "w2", 1)}
    found, cursor = exp.list_new_examples([SELFPLAY], None)
    assert {f.path for f in found} == first
    again, cursor = exp.list_new_examples([SELFPLAY], cursor)
    assert again == []
    newer = {upload(exp, "w1", 2), upload(exp, "w3", 1)}  # an old worker and a new one
    found, cursor = exp.list_new_examples([SELFPLAY], cursor)
    assert {f.path for f in found} == newer
    starts = [p for m, p in s3.requests if m == "GET" and "start-after" in p]
    assert starts  # each worker's listing resumes after its last key


def test_shards_listed_but_not_read_yet_are_read_by_the_next_fetch(hub, s3, tmp_path):
    """A fetch reads at most its limit; the cursor has moved past the rest, so the ingestor
    keeps them for the next fetch (found by bench/hub_scale.py: they were never read)."""
    exp, _ = seed_experiment(hub, tmp_path)
    shards = {upload(exp, "w1", seq, n=28) for seq in range(1, 8)}
    ingestor = Ingestor(exp, set(), {})
    first, _ = ingestor.fetch(limit=5)
    second, _ = ingestor.fetch(limit=5)
    assert [len(first), len(second)] == [5, 2]
    assert {f.path for f in first + second} == shards
    assert ingestor.fetch(limit=5)[0] == []


def test_a_pruned_shard_frees_its_bytes(hub, s3, tmp_path):
    exp, _ = seed_experiment(hub, tmp_path)
    paths = [upload(exp, "w1", i, n=200) for i in range(1, 4)]
    exp.delete_examples(paths[:2])
    assert keys(s3) == [f"runs/{exp.name}/{SELFPLAY}/w1/{paths[2].rsplit('/', 1)[1]}"]


def test_the_learner_ingests_every_shard_once_and_prunes_from_its_ledger(hub, s3, tmp_path):
    exp, _ = seed_experiment(hub, tmp_path)
    for seq in range(1, 6):
        upload(exp, "w1", seq)
        upload(exp, "w2", seq)
    options = learner_options(tmp_path, keep_example_files=3, max_cycles=2, min_buffer=10)
    Learner(hub, options).run()
    ingested = json.loads((options.cache_folder() / "status.json").read_text())["ingested"]
    assert len(ingested) == 10 == len(set(ingested))
    assert len(keys(s3)) == 3  # pruned beyond keep, bytes freed
    listings = [p for m, p in s3.requests if m == "GET" and "list-type=2" in p]
    restart = Learner(hub, learner_options(tmp_path, keep_example_files=3, max_cycles=1))
    restart.run()  # its snapshot holds the ledger: nothing is ingested twice
    assert len(restart.intake.ingestor.ingested) == 10
    assert len([p for m, p in s3.requests if m == "GET" and "list-type=2" in p]) > len(listings)


def test_s3_slowdown_and_resets_lose_and_duplicate_nothing(hub, s3, tmp_path):
    exp, _ = seed_experiment(hub, tmp_path)
    s3.add_fault("SlowDown", method="PUT", times=3)
    s3.add_fault("InternalError", method="GET", times=2)
    s3.add_fault("reset", method="GET", path="list-type", times=2)
    paths = {upload(exp, f"w{i}", 1) for i in range(4)}
    found, _ = exp.list_new_examples([SELFPLAY], None)
    assert {f.path for f in found} == paths
    assert all(exp.read_example(p) for p in paths)
    assert sum(1 for f in s3.faults if f.times == 0) == 3  # every fault was met and ridden out


def test_hub_ls_shows_the_object_store(hub, s3, tmp_path, monkeypatch):
    exp, _ = seed_experiment(hub, tmp_path)
    upload(exp, "w1", 1)
    for var, value in {
        "ZEB_HOME": str(tmp_path / "home"),
        "ZEB_EXAMPLES": "s3",
        "ZEB_S3_BUCKET": BUCKET,
        "ZEB_S3_PREFIX": "runs",
        "ZEB_S3_ENDPOINT": s3.url,
        "AWS_ACCESS_KEY_ID": KEYS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": KEYS["aws_secret_access_key"],
    }.items():
        monkeypatch.setenv(var, value)
    result = CliRunner().invoke(hub_app, ["ls", exp.name, "--json"])
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["examples"][SELFPLAY]["count"] == 1 and "s3://" in view["hub"]
    assert KEYS["aws_secret_access_key"] not in result.output


def test_shards_beyond_what_the_learner_can_use_are_set_aside_as_surplus(hub, s3, tmp_path):
    """A fleet making more than the learner trains on: the fetcher reads the newest shards and
    sets the older ones aside, counted in the ledger, never read and never read twice."""
    exp, _ = seed_experiment(hub, tmp_path)
    first = upload(exp, "w1", 1, n=100)
    ingestor = Ingestor(exp, set(), {})
    fetched, _ = ingestor.fetch(keep_examples=250)  # learns the bytes per example
    assert [f.path for f in fetched] == [first]
    older = [upload(exp, "w1", seq, n=100) for seq in range(2, 8)]
    newest = [upload(exp, "w2", seq, n=100) for seq in range(8, 11)]
    fetched, trouble = ingestor.fetch(keep_examples=250)
    assert trouble == ""
    assert [f.path for f in fetched if f.surplus] == older  # three newest hold 300 > 250
    assert [f.path for f in fetched if f.shard is not None] == newest
    report = ingestor.apply(fetched, ReplayBuffer(ReplayConfig(selfplay_capacity=1000)), 0, RNG)
    assert (report.shards, report.surplus, report.rejected) == (3, 6, 0)
    assert set(ingestor.rejected) == set(older)
    assert all(reason.startswith("surplus") for reason in ingestor.rejected.values())
    assert ingestor.fetch(keep_examples=250) == ([], "")  # never listed or read again
