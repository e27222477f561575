"""`zeb fleet up|status|health|down|canary` and `up --dry-run` against the fake Vast API (Vast's
documented limits at 1/100, the client paced the same) and a fake Hugging Face hub, and the
one-line errors a user can cause."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from infra.experiment import Experiment
from tests.fakes.fake_vast_server import FakeVastServer
from tests.infra.conftest import TOKEN
from tests.infra.learner_helpers import seed_experiment
from tests.infra.vast.vast_helpers import beat
from zeb_cli.app import app
from zeb_core.data.shards import SELFPLAY, shard_name

VAST_KEY = "vastCliTestKeyDoNotPrint0123456789"
IMAGE = "ghcr.io/zeb-test/zeb-worker:1"
PACE = 0.01


@pytest.fixture
def vast_env(fake_hf, hf_hub, tmp_path, monkeypatch):
    seed_experiment(hf_hub, tmp_path)
    with FakeVastServer(api_key=VAST_KEY, time_scale=PACE) as vast:
        vast.register_image(IMAGE, entrypoint=["/opt/zeb/entrypoint.sh"], cmd=[])
        offers = ((11, "RTX 3090", 0.20), (12, "RTX 4090", 0.35), (13, "RTX 3090", 0.25))
        for machine, gpu, price in offers:
            vast.add_offer(machine, gpu, price)
        vast.add_instance("zeb-exp-2-selfplay-worker-vast-0")  # another experiment's worker
        env = {
            "ZEB_HOME": str(tmp_path / "home"),
            "ZEB_HUB": "hf",
            "ZEB_HF_WEIGHTS_REPO": "zeb-test/weights",
            "ZEB_HF_EXAMPLES_REPO": "zeb-test/examples",
            "ZEB_HF_ENDPOINT": fake_hf.url,
            "HF_TOKEN": TOKEN,
            "VAST_API_KEY": VAST_KEY,
            "ZEB_VAST_URL": vast.url,
            "ZEB_VAST_TIMEOUT_S": "2",
            "ZEB_VAST_PACE_SCALE": str(PACE),
        }
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield vast


def zeb(*args: str):
    return CliRunner().invoke(app, ["fleet", *args])


def test_the_fleet_commands_drive_vast(vast_env):
    up = zeb(
        "up",
        "--exp",
        "exp",
        "--role",
        "selfplay",
        "-n",
        "2",
        "--provider",
        "vast",
        "--max-dph-fleet",
        "1.0",
        "--sims",
        "64",
        "--image",
        IMAGE,
    )
    assert up.exit_code == 0, up.output
    assert "started zeb-exp-selfplay-worker-vast-0" in up.output
    assert "started zeb-exp-selfplay-worker-vast-1" in up.output
    (status,) = json.loads(zeb("status", "--exp", "exp", "--json").stdout)
    assert [w["worker"] for w in status["workers"]] == [
        "zeb-exp-selfplay-worker-vast-0",
        "zeb-exp-selfplay-worker-vast-1",
    ]
    assert status["spec"]["worker"]["sims"] == 64 and status["cost"]["dph"] > 0
    created = [b for m, p, b in vast_env.bodies if m == "PUT" and p.startswith("/api/v0/asks/")]
    expected = ("args", ["--sims", "64", "--fleet-size", "2"])
    assert [(b["runtype"], b["args"]) for b in created] == [expected] * 2

    first = status["workers"][0]["id"]
    vast_env.instances[int(first)]["actual_status"] = "exited"
    health = zeb("health", "--exp", "exp", "--json")
    assert health.exit_code == 0, health.output
    (report,) = json.loads(health.stdout)
    assert any(a.startswith("replace zeb-exp-selfplay-worker-vast-0") for a in report["actions"])
    assert report["errors"] == []

    down = zeb("down", "--exp", "exp")
    assert down.exit_code == 0 and "stopped 2 worker(s)" in down.output
    labels = [i["label"] for i in vast_env.instances.values()]
    assert labels == ["zeb-exp-2-selfplay-worker-vast-0"]  # only the other experiment's is left
    for result in (up, health, down):
        assert VAST_KEY not in result.output and TOKEN not in result.output
    assert vast_env.violations == [] and vast_env.rate_limited == []


def test_up_dry_run_shows_offers_and_the_request_and_rents_nothing(vast_env, tmp_path):
    dry = zeb(
        *("up", "--exp", "exp", "--role", "selfplay", "-n", "2", "--provider", "vast"),
        *("--image", IMAGE, "--dry-run"),
    )
    assert dry.exit_code == 0, dry.output
    assert "would rent 2" in dry.output and "$/1000 games" in dry.output
    assert '"runtype": "args"' in dry.output and '"HF_TOKEN": "***"' in dry.output
    assert TOKEN not in dry.output and VAST_KEY not in dry.output
    assert vast_env.count("PUT", "/asks/") == 0
    assert not (tmp_path / "home" / "experiments" / "exp" / "fleets" / "selfplay").exists()


def test_canary_rents_one_waits_for_its_beat_and_shard_and_destroys_it(vast_env, hf_hub):
    label = "zeb-exp-selfplay-worker-vast-999999"
    stop = threading.Event()

    def worker() -> None:  # what the image would do once Vast runs it
        while not stop.is_set() and not vast_env.by_label(label):
            time.sleep(0.05)
        if stop.is_set():
            return
        vast_env.set_logs(vast_env.by_label(label)[0]["id"], beat(label, 1, 1.5))
        time.sleep(0.3)
        shard = shard_name(label, datetime.now(UTC), 0)
        Experiment(hf_hub, "exp").upload_examples(SELFPLAY, {shard: b"x"})

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        result = zeb(
            *("canary", "--exp", "exp", "--role", "selfplay", "--provider", "vast"),
            *("--image", IMAGE, "--poll-s", "0.2"),
        )
    finally:
        stop.set()
        thread.join(timeout=10)
    assert result.exit_code == 0, result.output
    assert "heartbeat after" in result.output and "shard after" in result.output
    assert f"destroyed {label}" in result.output and "cost about $" in result.output
    assert vast_env.by_label(label) == [] and vast_env.count("PUT", "/asks/") == 1
    created = vast_env.last_body("PUT", "/asks/")
    assert "--upload-interval-s" in created["args"]  # a first shard within a minute


def test_a_dry_run_changes_nothing(vast_env):
    up = ("up", "--exp", "exp", "--role", "selfplay", "-n", "1", "--provider", "vast")
    assert zeb(*up, "--image", IMAGE).exit_code == 0
    before = dict(vast_env.instances)
    (instance,) = [i for i in before.values() if i["label"].startswith("zeb-exp-selfplay")]
    instance["actual_status"] = "exited"
    dry = zeb("health", "--exp", "exp", "--dry-run", "--json")
    (report,) = json.loads(dry.stdout)
    assert report["dry_run"] and report["actions"][0].startswith("would replace")
    assert vast_env.instances.keys() == before.keys()


def _one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error:"), lines
    return lines[0]


def test_one_line_errors(vast_env, monkeypatch):
    assert "not found" in _one_error_line(zeb("up", "--exp", "nope", "--role", "selfplay"))
    assert "--sims" in _one_error_line(
        zeb("up", "--exp", "exp", "--role", "selfplay", "--sims", "0")
    )
    assert "only for provider vast" in _one_error_line(
        zeb("up", "--exp", "exp", "--role", "selfplay", "--max-dph-fleet", "2")
    )
    assert "no evalaux fleet" in _one_error_line(zeb("status", "--exp", "exp", "--role", "evalaux"))
    assert "a number or auto" in _one_error_line(
        zeb("up", "--exp", "exp", "--role", "selfplay", "-n", "lots")
    )
    monkeypatch.delenv("VAST_API_KEY")
    assert "VAST_API_KEY" in _one_error_line(
        zeb("up", "--exp", "exp", "--role", "selfplay", "--provider", "vast")
    )


def test_an_auto_fleet_starts_one_worker_and_waits_for_the_learners_figures(vast_env):
    up = ("up", "--exp", "exp", "--role", "selfplay", "-n", "auto", "--auto-max", "3")
    result = zeb(*up, "--provider", "vast", "--image", IMAGE)
    assert result.exit_code == 0, result.output
    assert result.output.count("started zeb-exp-selfplay-worker-vast-") == 1
    (status,) = json.loads(zeb("status", "--exp", "exp", "--json").stdout)
    assert status["spec"]["target"] == "auto" and status["spec"]["auto_max"] == 3
    assert status["sizing"] is None  # no learner has published its throughput yet
    assert zeb("down", "--exp", "exp").exit_code == 0
