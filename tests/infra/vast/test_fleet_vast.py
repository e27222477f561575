"""VastFleet's lifecycle against a fake Vast API: up, status, stop, replace, down, labels and the
provider's states (fixtures in conftest.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from infra.experiment import Experiment
from infra.fleet.base import FleetError, WorkerRecord
from tests.infra.vast.vast_helpers import ENTRYPOINT, HF_TOKEN, MARKET, VAST_KEY, beat, market, ours
from zeb_core.data.shards import SELFPLAY, shard_name

# -- up, status, stop, replace, down ----------------------------------------------------------


def test_up_numbers_into_free_indices_and_a_second_up_is_a_no_op(vast, fleet):
    market(vast)
    vast.add_instance(ours(0), status="exited")  # an exited worker frees its index
    vast.add_instance(ours(1), status="running")
    assert fleet.up(3) == [ours(0), ours(2)]
    states = [(r.label, r.state) for r in fleet.status()]
    assert sorted(states) == [
        (ours(0), "exited"),
        (ours(0), "running"),
        (ours(1), "running"),
        (ours(2), "running"),
    ]
    creates = vast.count("PUT", r"^/api/v0/asks/")
    assert fleet.up(3) == []
    assert vast.count("PUT", r"^/api/v0/asks/") == creates


def test_a_worker_starts_from_the_image_entrypoint_with_its_options_and_env(vast, make_fleet):
    market(vast)
    fleet = make_fleet(worker={"sims": 32, "device": "cuda"})
    [label] = fleet.up(1)
    [row] = vast.by_label(label)
    env = vast.env_of(row["id"])
    assert row["image_uuid"] == MARKET.image and row["disk_space"] == MARKET.disk_gb
    # Launch mode "args": the image's ENTRYPOINT runs, with the worker's options as arguments.
    launch = vast.launches[row["id"]]
    # The fleet tells each worker its size: they pace their looks for weights by it.
    assert launch.argv == [ENTRYPOINT, "--sims", "32", "--fleet-size", "2", "--device", "cuda"]
    assert not launch.onstart
    assert (env["ZEB_WORKER_LABEL"], env["ZEB_EXP"], env["HF_TOKEN"]) == (label, "a", HF_TOKEN)
    assert VAST_KEY not in str(row) and VAST_KEY not in str(env)
    assert vast.last_body("PUT", r"^/api/v0/instances/\d+/$") == {"label": label}  # confirmed
    assert vast.violations == []


def test_status_sees_only_this_fleet_by_exact_label(vast, make_fleet):
    mine = vast.add_instance(ours(0))
    others = [
        ours(0, experiment="a-2"),
        ours(1, experiment="ab"),
        ours(0, role="evalaux"),
        "zeb-a-selfplay-worker-local-0",
        ours(3) + "-old",
        "x" + ours(4),
        "my-jupyter-box",
        None,
    ]
    for label in others:
        vast.add_instance(label)
    assert [r.provider_id for r in make_fleet().status()] == [str(mine)]
    assert [r.label for r in make_fleet(experiment="a-2").status()] == [ours(0, "a-2")]
    assert make_fleet().down() == [ours(0)]
    assert vast.labels() == sorted(others, key=str)


def test_status_reports_state_heartbeat_errors_and_newest_shard(vast, fleet, local_hub):
    label = ours(0)
    instance = vast.add_instance(label, dph_total=0.21, machine_id=4242, gpu_name="RTX 4090")
    vast.set_logs(instance, "\n".join([beat(label, 3, 0.5), beat(label, 4, 0.75), "CUDA error: x"]))
    shard_at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    Experiment(local_hub, "a").upload_examples(SELFPLAY, {shard_name(label, shard_at, 0): b"x"})
    [record] = fleet.status()
    assert (record.provider_id, record.state, record.dph) == (str(instance), "running", 0.21)
    assert (record.machine, record.gpu) == ("4242", "RTX 4090")
    assert record.detail == "running since a while"  # Vast's status message
    assert record.heartbeat is not None and record.heartbeat.batches == 4
    assert record.games_per_s == 0.75 and record.error_lines == ["CUDA error: x"]
    assert record.last_shard_at == shard_at and record.started_at is not None


def test_every_documented_state_is_mapped(vast, fleet):
    # cli/reference/show-instances-v1.mdx (vast-ai/docs): actual_status and what it means
    expected = {
        None: "booting",  # being provisioned
        "loading": "booting",
        "rebooting": "booting",
        "running": "running",
        "stopped": "exited",
        "exited": "exited",
        "frozen": "stuck",  # paused: the GPU bills, nothing is produced
        "unknown": "stuck",
        "offline": "stuck",
    }
    ids = {vast.add_instance(ours(i), status=s): s for i, s in enumerate(expected)}
    outbid = vast.add_instance(ours(20), status="running", intended_status="stopped")
    states = {r.provider_id: r.state for r in fleet.status()}
    assert {str(i): expected[s] for i, s in ids.items()} | {str(outbid): "exited"} == states


def test_an_instance_stuck_loading_is_booting_and_its_log_is_not_asked_for(vast, fleet):
    market(vast)
    vast.new_status = "loading"
    fleet.up(1)
    assert [(r.state, r.heartbeat) for r in fleet.status()] == [("booting", None)]
    assert vast.count("PUT", "request_logs") == 0


def test_malformed_instances_are_skipped_or_degraded_never_fatal(vast, fleet, caplog):
    vast.add_raw_instance({"label": ours(5), "actual_status": "running", "extra_env": [["K", "v"]]})
    vast.add_raw_instance("not an instance")
    vast.add_raw_instance({"id": "seven", "label": ours(6)})
    vast.add_instance(123)  # a label that is not a string: not ours
    bad = vast.add_instance(ours(7), dph_total="cheap", start_date=1e300, machine_id={"x": 1})
    bare = 880001
    vast.add_raw_instance({"id": bare, "label": ours(8)})  # every other field missing
    with caplog.at_level(logging.WARNING, logger="zeb.fleet"):
        records = {r.provider_id: r for r in fleet.status()}
    assert set(records) == {str(bad), str(bare)}
    assert records[str(bad)].dph is None and records[str(bad)].machine is None
    assert records[str(bad)].started_at is None and records[str(bad)].state == "running"
    assert records[str(bare)].state == "booting" and records[str(bare)].detail == "scheduling"
    assert "skipping an instance" in caplog.text and "'K'" not in caplog.text
    assert sorted(fleet.down()) == [ours(7), ours(8)]


def test_duplicate_labels_are_both_reported_and_stop_takes_only_one(vast, fleet):
    first, second = vast.add_instance(ours(0)), vast.add_instance(ours(0))
    records = fleet.status()
    assert [(r.label, r.provider_id) for r in records] == [
        (ours(0), str(first)),
        (ours(0), str(second)),
    ]
    fleet.stop(records[0])
    assert [r["id"] for r in vast.by_label(ours(0))] == [second]
    fleet.stop(records[0])  # gone already: a no-op
    foreign = WorkerRecord(label=ours(0, "a-2"), provider_id=str(second), state="running")
    with pytest.raises(FleetError, match="not a worker label"):
        fleet.stop(foreign)
    assert [r["id"] for r in vast.by_label(ours(0))] == [second]


def test_replace_destroys_the_instance_and_rents_again_under_the_label(vast, fleet):
    market(vast)
    [label] = fleet.up(1)
    [old] = vast.by_label(label)
    fleet.replace(label)
    [new] = vast.by_label(label)
    assert new["id"] != old["id"] and vast.env_of(new["id"])["ZEB_WORKER_LABEL"] == label
    with pytest.raises(FleetError, match="live already"):
        fleet.start(label)
