"""The deployments on a real `prefect server` with a process worker, as users run them:
`prefect deploy --all`, `prefect deployment run learn/stage1`, a rollback while it learns, a second
learn run that takes over, and a cancel that stops the learner cleanly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from infra.learner.supervisor import read_status
from tests.deploy.prefect_server import REPO, prefect_server, prefect_worker, wait_until

EXP = "srv"
LEARNER = {
    "batch_size": 16,
    "training_steps_per_cycle": 10,
    "min_buffer": 100,
    "replay_buffer_size": 20000,
    "eval_aux_replay_buffer_size": 2000,
    "poll_interval_s": 0.5,
    "eval_every": 0,
    "device": "cpu",
}
WORKER = {
    "sims": 4,
    "games_in_flight": 4,
    "games_per_batch": 4,
    "upload_interval_s": 0,
    "device": "cpu",
    "eq_worlds": 2,
    "deals_per_batch": 1,
}


def _zeb_env(tmp_path: Path) -> dict[str, str]:
    return {
        "ZEB_HOME": str(tmp_path / "home"),
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path),
        "WANDB_SILENT": "true",
        "OMP_NUM_THREADS": "1",
        "HF_HOME": str(tmp_path / "hf-home"),
        "PYTHONPATH": str(REPO),
    }


def _learners() -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "zeb_cli.learner" in cmd and f"--exp {EXP}" in cmd:
            if proc.info["status"] != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def _fleet_pids(home: Path) -> dict[str, int]:
    pids = {}
    for table in home.glob(f"experiments/{EXP}/fleets/*/processes.json"):
        for entry in json.loads(table.read_text())["workers"]:
            if psutil.pid_exists(entry["pid"]):
                pids[entry["label"]] = entry["pid"]
    return pids


def _kill_fleets(home: Path) -> None:
    for pid in _fleet_pids(home).values():
        try:
            psutil.Process(pid).kill()
        except psutil.NoSuchProcess:
            pass


@pytest.mark.slow
def test_learn_rollback_takeover_and_cancel_on_a_real_server(tmp_path):
    home, cache = tmp_path / "home", tmp_path / "cache"
    status = cache / EXP / "status.json"
    with prefect_server(tmp_path, **_zeb_env(tmp_path)) as server:
        server.prefect("work-pool", "create", "zeb-local", "--type", "process")
        server.prefect("deploy", "--all", timeout=300)  # the root's prefect.yaml link
        health = _deployment(server, "every-5-min")
        assert health["global_concurrency_limit"]["limit"] == 1
        assert health["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
        (schedule,) = health["schedules"]
        assert schedule["schedule"]["interval"] == 300 and schedule["active"]
        assert schedule["slug"] == "every-5-min"
        automations = server.post("/automations/filter", {})
        expects = [a["trigger"].get("expect", []) for a in automations]
        assert ["zeb.weights.published"] in expects  # evaluate/ladder's trigger was registered

        created = subprocess.run(
            [
                sys.executable,
                "-m",
                "zeb_cli.app",
                "create",
                "--exp",
                EXP,
                "--size",
                "small",
                "--belief-head",
            ],
            env=server.env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert created.returncode == 0, created.stderr
        params = {
            "exp": EXP,
            "learner": {**LEARNER, "local_replay_cache_dir": str(cache)},
            "selfplay": {"target": 1, "worker": WORKER},
            "evalaux": {"target": 1, "worker": WORKER},
        }
        try:
            with prefect_worker(server, "zeb-local") as worker:
                _learn_rollback_takeover_cancel(server, worker, params, status, home)
        finally:
            _kill_fleets(home)


def _learn_rollback_takeover_cancel(server, worker, params, status: Path, home: Path) -> None:
    run_learn = ["deployment", "run", "learn/stage1", "--params", json.dumps(params)]
    server.prefect(*run_learn)

    def cycle() -> int:
        return (read_status(status) or {}).get("cycle", -1)

    def mix() -> float:
        return (read_status(status) or {}).get("train/eval_aux_fraction", 0.0)

    wait_until(lambda: cycle() >= 2, 240, "two learner cycles", worker)
    wait_until(lambda: mix() > 0, 240, "eval-aux rows in the batches", worker)
    fleet = _fleet_pids(home)
    assert sorted(fleet) == ["zeb-srv-evalaux-worker-local-0", "zeb-srv-selfplay-worker-local-0"]

    server.prefect(
        "deployment", "run", "rollback/eval-aux-off", "--params", json.dumps({"exp": EXP})
    )
    wait_until(lambda: _states(server, "rollback/eval-aux-off") == ["COMPLETED"], 120, "rollback")
    after = cycle()
    wait_until(lambda: cycle() >= after + 2, 120, "two more cycles", worker)
    applied = read_status(status)
    assert applied["train/eval_aux_fraction"] == 0.0  # applied within one cycle
    assert applied["controls/eval_aux_enabled"] == 0.0
    assert _fleet_pids(home) == fleet  # no fleet was touched

    (first,) = server.flow_runs("learn/stage1")
    server.prefect(*run_learn)  # a second learn run of the same experiment takes over
    wait_until(lambda: server.state_of(first["id"]) == "CANCELLED", 180, "the takeover", worker)
    taken = cycle()
    wait_until(lambda: cycle() > taken + 1, 180, "the new learner's cycles", worker)
    assert len(_learners()) == 1
    assert _fleet_pids(home) == fleet  # the takeover did not restart the fleets

    second = server.flow_runs("learn/stage1")[-1]
    server.prefect("flow-run", "cancel", second["id"])
    wait_until(lambda: server.state_of(second["id"]) == "CANCELLED", 120, "the cancel", worker)
    wait_until(lambda: not _learners(), 60, "the learner to exit")
    log = (home / "experiments" / EXP / "learner.log").read_text()
    assert log.count("learner stopped at cycle") >= 2  # both learners saved as they stopped


def _deployment(server, name: str) -> dict:
    (found,) = server.post("/deployments/filter", {"deployments": {"name": {"any_": [name]}}})
    return found


def _states(server, deployment: str) -> list[str]:
    return [run["state"]["type"] for run in server.flow_runs(deployment)]
