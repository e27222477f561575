"""`zeb fleet up|status|health|down` against the fake Vast API and a fake Hugging Face hub, and the
one-line errors a user can cause."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.fakes.fake_vast_server import FakeVastServer
from tests.infra.conftest import TOKEN
from tests.infra.learner_helpers import seed_experiment
from zeb_cli.app import app

VAST_KEY = "vastCliTestKeyDoNotPrint0123456789"


@pytest.fixture
def vast_env(fake_hf, hf_hub, tmp_path, monkeypatch):
    seed_experiment(hf_hub, tmp_path)
    with FakeVastServer(api_key=VAST_KEY) as vast:
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
    assert all(dict(b["env"])["ZEB_WORKER_ARGS"] == "--sims 64" for b in created)

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


def test_a_dry_run_changes_nothing(vast_env):
    assert (
        zeb("up", "--exp", "exp", "--role", "selfplay", "-n", "1", "--provider", "vast").exit_code
        == 0
    )
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
    monkeypatch.delenv("VAST_API_KEY")
    assert "VAST_API_KEY" in _one_error_line(
        zeb("up", "--exp", "exp", "--role", "selfplay", "--provider", "vast")
    )
