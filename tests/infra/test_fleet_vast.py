"""VastFleet through the real `vastai` SDK against a fake Vast API (tests/fakes/fake_vast_server).

The client timeout is 1 s and retries are fast, so every fault is handled in a few seconds.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr

from infra.experiment import Experiment
from infra.fleet.base import (
    CreditError,
    FleetError,
    FleetSpec,
    VastSettings,
    WorkerLabel,
    WorkerRecord,
    WorkerSettings,
)
from infra.fleet.memory import FleetMemory, FleetPaths, FleetStore
from infra.fleet.offers import VastOffer, on_demand_dph
from infra.fleet.onstart import ONSTART_COMMAND, render_onstart
from infra.fleet.vast import CallPolicy, VastFleet
from infra.settings import Settings
from infra.worker.heartbeat import Heartbeat
from tests.conftest import REPO
from tests.fakes.fake_vast_server import FakeVastServer
from zeb_core.data.shards import SELFPLAY, shard_name

VAST_KEY = "vastKeyZebTestDoNotPrint0123456789abcdef"
HF_TOKEN = "hf_vastFleetTestTokenDoNotPrint987654"
FAST = CallPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.05)
MARKET = VastSettings(
    gpu_names=["RTX 3090", "RTX 4090", "RTX 3080"],
    disk_gb=24.0,
    max_dph_per_worker=0.40,
    max_dph_fleet=4.0,
    image="ghcr.io/zeb-ai/zeb-worker:test",
)


def ours(index: int, experiment: str = "a", role: str = "selfplay") -> str:
    return f"zeb-{experiment}-{role}-worker-vast-{index}"


@pytest.fixture
def vast():
    with FakeVastServer(api_key=VAST_KEY) as server:
        yield server


@pytest.fixture
def settings(vast: FakeVastServer, tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "zeb",
        hub="hf",
        hf_weights_repo="zeb-test/weights",
        hf_examples_repo="zeb-test/examples",
        hf_token=HF_TOKEN,
        vast_api_key=VAST_KEY,
        vast_url=vast.url,
        vast_timeout_s=1.0,
    )


@pytest.fixture
def make_fleet(settings: Settings, local_hub):
    def make(experiment="a", role="selfplay", settings=settings, **vast_changes) -> VastFleet:
        spec = FleetSpec(
            experiment=experiment,
            role=role,
            provider="vast",
            target=2,
            vast=MARKET.model_copy(update=vast_changes),
        )
        store = FleetStore(FleetPaths(settings.home, experiment, role))
        experiment_ns = Experiment(local_hub, experiment)
        return VastFleet(spec, experiment_ns, store, settings, policy=FAST, logs_budget_s=2.0)

    return make


@pytest.fixture
def fleet(make_fleet) -> VastFleet:
    return make_fleet()


def market(vast: FakeVastServer) -> dict[str, int]:
    """Three offers; at 24 GB of disk (0.1 $/GB/month) each costs base + $0.00333/h."""
    return {
        "3090": vast.add_offer(11, "RTX 3090", 0.20),
        "4090": vast.add_offer(12, "RTX 4090", 0.35),
        "3080": vast.add_offer(13, "RTX 3080", 0.18),
    }


def beat(label: str, batches: int, games_per_s: float) -> str:
    now = datetime.now(UTC)
    return Heartbeat(
        worker_id=label,
        pid=7,
        phase="playing",
        started_at=now,
        updated_at=now,
        batches=batches,
        games=batches * 128,
        games_per_s=games_per_s,
    ).line()


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


def test_a_worker_is_created_from_the_image_with_the_onstart_command_and_env(vast, fleet):
    market(vast)
    [label] = fleet.up(1)
    [row] = vast.by_label(label)
    env = dict(row["extra_env"])
    assert row["image_uuid"] == MARKET.image and row["disk_space"] == MARKET.disk_gb
    assert row["onstart"] == ONSTART_COMMAND and row["runtype"] == "args"
    assert (env["ZEB_WORKER_LABEL"], env["ZEB_EXP"], env["HF_TOKEN"]) == (label, "a", HF_TOKEN)
    assert VAST_KEY not in str(row)
    assert vast.last_body("PUT", r"^/api/v0/instances/\d+/$") == {"label": label}  # confirmed


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


def test_provider_states_are_normalized(vast, fleet):
    expected = {
        "loading": "booting",
        "created": "booting",
        "scheduling": "booting",
        None: "booting",
        "running": "running",
        "exited": "exited",
        "stopped": "exited",
        "offline": "exited",
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
    vast.page_size = 2  # and the listing comes in pages
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
    assert new["id"] != old["id"] and dict(new["extra_env"])["ZEB_WORKER_LABEL"] == label
    with pytest.raises(FleetError, match="live already"):
        fleet.start(label)


# -- offers, prices and budgets ---------------------------------------------------------------


def test_offers_rank_by_expected_cost_per_game(vast, fleet):
    ids = market(vast)
    # Priors, $/h per games/s: 4090 0.353 / 1.8 < 3090 0.203 / 1.0 < 3080 0.183 / 0.85.
    assert [o.offer_id for o in fleet.offers()] == [str(ids[g]) for g in ("4090", "3090", "3080")]
    memory = FleetMemory(
        machine_throughput={"13": 3.0},  # the 3080 machine produced very well
        gpu_throughput={"RTX 4090": 0.5},  # 4090s were measured slow
    )
    fleet.store.save_memory(memory)
    offers = fleet.offers()
    assert [o.offer_id for o in offers] == [str(ids[g]) for g in ("3080", "3090", "4090")]
    assert offers[0].expected_games_per_s == 3.0 and offers[2].expected_games_per_s == 0.5


def test_blacklisted_machines_are_never_offered_or_rented(vast, fleet):
    ids = market(vast)
    fleet.store.save_memory(FleetMemory(machine_strikes={"11": 3, "12": 2}))
    assert [o.machine for o in fleet.offers()] == ["12", "13"]
    fleet.up(3)
    assert {r.machine for r in fleet.status()} == {"12", "13"}
    assert str(ids["3090"]) not in {o.offer_id for o in fleet.offers()}


def test_offers_are_priced_at_the_rented_disk():
    # The search priced 5 GB (0.30 + 2.0 * 5 / 720); the fleet rents 24 GB.
    raw = VastOffer.model_validate(
        {"id": 1, "machine_id": 1, "gpu_name": "RTX 3090", "dph_total": 0.313889}
        | {"dph_base": 0.30, "storage_cost": 2.0, "reliability2": 0.99, "disk_space": 100}
    )
    assert on_demand_dph(raw, 24.0) == pytest.approx(0.30 + 2.0 * 24 / 720)


def test_search_prices_the_rented_disk_and_the_cap_applies_to_that_price(vast, make_fleet):
    # At 5 GB both fit under $0.35/h; at 24 GB only the second does.
    vast.add_offer(21, "RTX 3090", 0.30, storage_cost=2.0)  # 0.3139 at 5 GB, 0.3667 at 24 GB
    cheaper = vast.add_offer(22, "RTX 3090", 0.25, storage_cost=2.0)  # 0.3167 at 24 GB
    fleet = make_fleet(max_dph_per_worker=0.35)
    [offer] = fleet.offers()
    assert offer.offer_id == str(cheaper) and offer.dph == pytest.approx(0.25 + 2.0 * 24 / 720)
    assert vast.last_body("POST", "bundles")["allocated_storage"] == 24.0
    assert fleet.up(2) == [ours(0)]
    [row] = vast.by_label(ours(0))
    assert row["dph_total"] == pytest.approx(offer.dph) and row["dph_total"] <= 0.35


def test_per_worker_cap_is_never_exceeded(vast, make_fleet):
    vast.add_offer(31, "RTX 4090", 0.45)  # the best per game by far, and over the cap
    vast.add_offer(32, "RTX 3080", 0.38)
    fleet = make_fleet(max_dph_per_worker=0.40)
    assert [o.machine for o in fleet.offers()] == ["32"]
    assert fleet.up(2) == [ours(0)]
    assert {r.machine for r in fleet.status()} == {"32"}


def test_fleet_budget_counts_live_instances_and_is_never_exceeded(vast, make_fleet):
    for machine in range(41, 46):
        vast.add_offer(machine, "RTX 3090", 0.15)  # $0.1533/h each at 24 GB
    vast.add_instance(ours(0), dph_total=0.30)
    vast.add_instance(ours(1), status="exited", dph_total=1.00)  # exited: not counted
    fleet = make_fleet(max_dph_fleet=0.70)
    assert fleet.up(5) == [ours(1), ours(2)]  # $0.30 + 2 x $0.153; a third would pass $0.70
    live = [r for r in fleet.status() if r.state != "exited"]
    assert sum(r.dph for r in live) <= 0.70
    with pytest.raises(FleetError, match="no offer fits"):
        fleet.start(ours(3))


def test_an_instance_of_unknown_price_counts_at_the_worker_cap(vast, make_fleet):
    market(vast)
    vast.add_instance(ours(0), dph_total=None)
    fleet = make_fleet(max_dph_fleet=0.50, max_dph_per_worker=0.40)  # $0.10/h left, not $0.50
    assert fleet.up(3) == [] and len(vast.labels()) == 1


def test_interruptible_fleets_bid(vast, make_fleet):
    vast.add_offer(51, "RTX 3090", 0.30, min_bid=0.10)
    fleet = make_fleet(interruptible=True)
    [offer] = fleet.offers()
    assert vast.last_body("POST", "bundles")["type"] == "bid"
    assert offer.dph == pytest.approx(0.11 + 0.1 * 24 / 720)  # 10% over the minimum bid
    fleet.up(1)
    [row] = vast.by_label(ours(0))
    assert row["is_bid"] and vast.last_body("PUT", "asks")["price"] == pytest.approx(0.11)
    assert vast.last_body("PUT", "asks")["cancel_unavail"] is False  # a bid may wait its turn


def test_on_demand_is_the_default(vast, fleet):
    market(vast)
    fleet.up(1)
    assert vast.last_body("POST", "bundles")["type"] == "on-demand"
    assert vast.last_body("PUT", "asks")["price"] is None
    assert vast.last_body("PUT", "asks")["cancel_unavail"] is True


def test_a_vanished_offer_moves_on_to_the_next(vast, fleet):
    ids = market(vast)
    vast.add_fault("410", path=f"/asks/{ids['3090']}/")
    assert fleet.up(1) == [ours(0)]
    assert vast.by_label(ours(0))[0]["machine_id"] == 12


def test_lack_of_credit_is_a_credit_error(vast, fleet):
    market(vast)
    vast.lacks_credit = True
    with pytest.raises(CreditError, match="lacks credit") as err:
        fleet.up(2)
    assert "\n" not in str(err.value) and vast.labels() == []
    assert fleet.credit_ok()
    vast.credit = 0.0
    assert not fleet.credit_ok()


# -- faults -----------------------------------------------------------------------------------


def timed(call):
    started = time.monotonic()
    try:
        return call(), time.monotonic() - started
    except FleetError as exc:
        return exc, time.monotonic() - started


def test_transient_errors_are_retried(vast, fleet):
    market(vast)
    vast.add_fault("429", path="/instances/$", method="GET")
    vast.add_fault("503", path="bundles")
    vast.add_fault("reset", path="users")
    assert fleet.up(1) == [ours(0)]
    assert fleet.credit_ok()
    assert vast.count("GET", "/api/v1/instances/") == 2


@pytest.mark.parametrize(
    ("kind", "path", "call", "expected"),
    [
        ("500", "/api/v1/instances/", "status", "show_instances: HTTP 500"),
        ("429", "/api/v1/instances/", "down", "show_instances: HTTP 429"),
        ("malformed", "/api/v1/instances/", "status", "show_instances: malformed"),
        ("hang", "/api/v1/instances/", "status", "show_instances: no answer in time"),
        ("reset", "bundles", "offers", "search_offers: connection failed"),
        ("malformed", "bundles", "offers", "search_offers: malformed"),
        ("hang", "users", "credit_ok", "show_user: no answer in time"),
        ("502", "/api/v0/instances/\\d+/$", "down", "destroy_instance: HTTP 502"),
    ],
)
def test_faults_become_one_line_fleet_errors_quickly(vast, fleet, kind, path, call, expected):
    market(vast)
    vast.add_instance(ours(0))
    vast.add_fault(kind, path=path, times=10)
    error, seconds = timed(getattr(fleet, call))
    assert isinstance(error, FleetError) and expected in str(error), error
    assert seconds < 5.0 and "\n" not in str(error) and VAST_KEY not in str(error)


def test_a_create_is_not_retried_unless_rate_limited(vast, fleet):
    market(vast)
    vast.add_fault("hang", path="/asks/")
    error, seconds = timed(lambda: fleet.up(1))
    assert isinstance(error, FleetError) and "create_instance: no answer in time" in str(error)
    assert seconds < 5.0 and vast.count("PUT", "/asks/") == 1
    vast.add_fault("500", path="/asks/")
    with pytest.raises(FleetError, match="HTTP 500"):
        fleet.up(1)
    assert vast.count("PUT", "/asks/") == 2
    vast.add_fault("429", path="/asks/")
    assert fleet.up(1) == [ours(0)]


def test_hanging_logs_leave_the_heartbeat_unknown(vast, fleet, caplog):
    instance = vast.add_instance(ours(0))
    vast.set_logs(instance, beat(ours(0), 1, 1.0))
    vast.add_fault("hang", path="request_logs", times=10, delay_s=4.0)
    with caplog.at_level(logging.INFO, logger="zeb.fleet"):
        records, seconds = timed(fleet.status)
    assert seconds < 3.5 and [r.heartbeat for r in records] == [None]
    assert "logs" in caplog.text


def test_a_wrong_or_missing_key_is_a_fleet_error(vast, make_fleet, settings):
    wrong = settings.model_copy(update={"vast_api_key": SecretStr("not-the-key")})
    with pytest.raises(FleetError, match="show_instances: HTTP 401"):
        make_fleet(settings=wrong).status()
    with pytest.raises(FleetError, match="VAST_API_KEY is not set"):
        make_fleet(settings=settings.model_copy(update={"vast_api_key": None}))


def test_the_client_timeout_comes_from_the_settings(fleet):
    assert fleet.sdk.client.timeout == 1.0 and fleet.sdk.client.retry == 1


def test_the_fake_server_leaves_no_thread_behind():
    before, answers = set(threading.enumerate()), []

    def ask(url: str) -> None:
        try:
            answers.append(requests.get(url, timeout=5).status_code)
        except requests.RequestException as exc:
            answers.append(type(exc).__name__)

    with FakeVastServer(api_key=VAST_KEY) as server:
        server.add_fault("hang", path="users", delay_s=30.0)
        asking = threading.Thread(target=ask, args=(f"{server.url}/api/v0/users/current",))
        asking.start()
        time.sleep(0.2)  # the server holds the request
    asking.join(timeout=5)
    assert answers == ["ConnectionError"]  # closing the server let it go at once
    assert set(threading.enumerate()) <= before


# -- secrets ----------------------------------------------------------------------------------


def test_tokens_never_reach_logs_output_records_or_errors(vast, make_fleet, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    fleet = make_fleet()
    market(vast)
    seen: list[str] = [repr(fleet)]
    labels = fleet.up(2)
    leaky = vast.by_label(labels[0])[0]["id"]
    vast.set_logs(leaky, f"env: HF_TOKEN={HF_TOKEN}\nerror: bad token {HF_TOKEN}\n")
    seen += [repr(r) for r in fleet.status()] + [repr(o) for o in fleet.offers()]
    market(vast)
    fleet.replace(labels[1])
    faults = [
        ("500", "/api/v1/instances/", fleet.status, 2),
        ("malformed", "bundles", fleet.offers, 1),
        ("hang", "users", fleet.credit_ok, 2),
    ]
    for kind, path, call, times in faults:
        vast.add_fault(kind, path=path, times=times)
        seen.append(repr(timed(call)[0]))
    vast.lacks_credit = True
    vast.set_status(leaky, "exited", f"worker died; HF_TOKEN={HF_TOKEN}")
    seen += [repr(r) for r in fleet.status()] + [repr(timed(lambda: fleet.start(ours(7)))[0])]
    health = _health_module()
    if health is not None:  # replaces the exited worker: runs into the lack of credit
        seen.append(repr(health.health_pass(fleet, fleet.store)))
    seen.append(repr(timed(fleet.down)[0]))
    out, err = capfd.readouterr()
    text = "\n".join([*seen, caplog.text, out, err])
    assert "error: bad token ***" in text and "worker died; HF_TOKEN=***" in text  # scrubbed
    assert "lacks credit" in text and "HTTP 500" in text and "malformed" in text
    for secret in (VAST_KEY, HF_TOKEN):
        assert secret not in text


# -- onstart ----------------------------------------------------------------------------------


def test_onstart_holds_no_value_and_the_env_holds_what_the_worker_needs(fleet, settings):
    command, env = render_onstart(fleet.spec, settings, WorkerLabel.parse(ours(3)))
    assert command.startswith("exec ") and HF_TOKEN not in command
    assert env == {
        "ZEB_HUB": "hf",
        "ZEB_HF_WEIGHTS_REPO": "zeb-test/weights",
        "ZEB_HF_EXAMPLES_REPO": "zeb-test/examples",
        "HF_TOKEN": HF_TOKEN,
        "ZEB_EXP": "a",
        "ZEB_ROLE": "selfplay",
        "ZEB_WORKER_LABEL": ours(3),
        "ZEB_WORKER_ARGS": "",  # default settings: the worker's own defaults
    }
    custom = fleet.spec.model_copy(
        update={"worker": WorkerSettings(sims=50, device="cuda", upload_interval_s=60)}
    )
    _, env = render_onstart(custom, settings, WorkerLabel.parse(ours(3)))
    assert env["ZEB_WORKER_ARGS"] == "--sims 50 --upload-interval-s 60.0 --device cuda"
    with_endpoint = settings.model_copy(update={"hf_endpoint": "https://hub.example"})
    assert (
        render_onstart(fleet.spec, with_endpoint, WorkerLabel.parse(ours(3)))[1]["ZEB_HF_ENDPOINT"]
        == "https://hub.example"
    )


def test_onstart_refuses_a_local_hub_and_foreign_labels(fleet, settings):
    with pytest.raises(FleetError, match="ZEB_HUB=hf"):
        local = settings.model_copy(update={"hub": "local"})
        render_onstart(fleet.spec, local, WorkerLabel.parse(ours(0)))
    with pytest.raises(FleetError, match="not a worker of fleet"):
        render_onstart(fleet.spec, settings, WorkerLabel.parse(ours(0, experiment="a-2")))


@pytest.mark.parametrize("role", ["selfplay", "evalaux"])
def test_onstart_script_execs_the_worker_with_the_rendered_env(tmp_path, fleet, settings, role):
    stub = tmp_path / "bin" / "zeb"
    stub.parent.mkdir()
    stub.write_text('#!/usr/bin/env bash\necho "pid $$"\nprintf "%s\\n" "$@"\n')
    stub.chmod(0o755)
    worker = WorkerSettings(worlds=16, eq_worlds=24, device="cuda:1")
    spec = fleet.spec.model_copy(update={"role": role, "worker": worker})
    _, env = render_onstart(spec, settings, WorkerLabel.parse(ours(2, role=role)))
    script = REPO / "infra" / "docker" / "onstart.sh"
    shell = f'echo "pid $$"; exec bash {script}'  # exec all the way: the worker keeps the pid
    path = f"{stub.parent}{os.pathsep}{os.environ['PATH']}"
    run_env = {"PATH": path, **env}
    done = subprocess.run(
        ["bash", "-c", shell], env=run_env, capture_output=True, text=True, timeout=10, check=True
    )
    lines = done.stdout.splitlines()
    assert lines[0] == lines[2]  # the same pid before and after: exec, not a child
    args = lines[3:]
    assert args[:4] == ["worker", role, "--exp", "a"]
    assert args[args.index("--worker-id") + 1] == ours(2, role=role)
    if role == "selfplay":
        assert args[args.index("--worlds") + 1] == "16" and "--eq-worlds" not in args
    else:
        assert args[args.index("--eq-worlds") + 1] == "24" and "--worlds" not in args
    assert args[args.index("--device") + 1] == "cuda:1"
    assert ("--worlds" in args) == (role == "selfplay")
    assert "--deals-per-batch" not in args  # defaults are left to the worker
    assert HF_TOKEN not in done.stdout


# -- the health pass against the fake ---------------------------------------------------------


def _health_module():
    try:
        from infra.fleet import health
    except ImportError:
        return None
    return health if hasattr(health, "health_pass") else None


def test_health_pass_replaces_an_exited_worker_and_fills_the_target(vast, fleet):
    health = _health_module() or pytest.skip("infra/fleet/health.py is not there yet")
    market(vast)
    dead = vast.add_instance(ours(0), status="exited", machine_id=77)
    report = health.health_pass(fleet, fleet.store)
    assert not report.errors, report.errors
    live = [r for r in fleet.status() if r.state in ("booting", "running")]
    assert sorted(r.label for r in live) == [ours(0), ours(1)]
    assert str(dead) not in {r.provider_id for r in fleet.status()}
    assert fleet.store.load_memory().machine_strikes == {"77": 1}


def test_health_pass_waits_for_credit_and_survives_a_failing_api(vast, fleet):
    health = _health_module() or pytest.skip("infra/fleet/health.py is not there yet")
    market(vast)
    vast.lacks_credit = True
    health.health_pass(fleet, fleet.store)
    memory = fleet.store.load_memory()
    assert memory.credit_wait_until is not None and "lacks credit" in memory.credit_message
    vast.add_fault("503", path="/api/v1/instances/", times=10)
    report, seconds = timed(lambda: health.health_pass(fleet, fleet.store))
    assert seconds < 5.0 and any("HTTP 503" in e for e in report.errors)
