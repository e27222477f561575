"""The deployments on a real `prefect server` with a process worker, as users run them:
`prefect deploy --all` (forms that describe every parameter), `prefect deployment run
learn/stage1` (a run named and tagged by its experiment), a rollback while it learns, the ladder
following the weights (two runs, cancelled within seconds), a second learn run that takes over, a
cancel that stops the learner cleanly, and `fleet-down` stopping the fleets it leaves running."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
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
        (ladder_trigger,) = [a["trigger"] for a in automations]
        assert ladder_trigger["expect"] == ["zeb.ladder.due"] and ladder_trigger["threshold"] == 1
        _assert_forms_describe_every_parameter(server)

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
                _fleet_down(server, worker, home)
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
    (learn,) = server.flow_runs("learn/stage1")
    learn = _run(server, learn["id"])
    assert learn["name"] == f"{EXP}-stage1" and f"exp:{EXP}" in learn["tags"]
    fleet = _fleet_pids(home)
    assert sorted(fleet) == ["zeb-srv-evalaux-worker-local-0", "zeb-srv-selfplay-worker-local-0"]

    server.prefect(
        "deployment", "run", "rollback/eval-aux-off", "--params", json.dumps({"exp": EXP})
    )
    wait_until(lambda: _states(server, "rollback/eval-aux-off") == ["COMPLETED"], 120, "rollback")
    time.sleep(4 * LEARNER["poll_interval_s"])  # the learner reads the controls this often
    after = cycle()
    wait_until(lambda: cycle() >= after + 2, 120, "two more cycles", worker)
    applied = read_status(status)
    assert applied["train/eval_aux_fraction"] == 0.0  # applied at the next cycle after a read
    assert applied["controls/eval_aux_enabled"] == 0.0
    assert _fleet_pids(home) == fleet  # no fleet was touched

    _ladder_follows_the_weights(server, worker)

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


def _assert_forms_describe_every_parameter(server) -> None:
    """The run form of every deployment has a description for every top-level parameter, the
    0/1 choice of stage and the bounds Field() declared (Prefect drops Annotated descriptions
    unless the docstring carries them: flows.common.documented)."""
    for deployment in server.post("/deployments/filter", {}):
        schema = deployment["parameter_openapi_schema"]
        for name, prop in schema["properties"].items():
            assert prop.get("description"), f"{deployment['name']}: {name} has no description"
    learn = _deployment(server, "stage1")["parameter_openapi_schema"]["properties"]
    assert learn["stage"]["enum"] == [0, 1]
    assert learn["takeover_timeout_s"]["exclusiveMinimum"] == 0
    assert learn["report_every"]["minimum"] == 1
    assert learn["selfplay"]["description"] == "The self-play fleet"


def _ladder_follows_the_weights(server, worker) -> None:
    """Every 5th publish emits zeb.ladder.due: two evaluate runs appear while the learner
    publishes every cycle; one that runs is named and tagged, and stops when cancelled (a
    block of games at the latest; Prefect kills it after 30 s)."""
    wait_until(lambda: len(server.flow_runs("evaluate/ladder")) >= 2, 240, "two ladder runs")

    def started() -> list[dict]:
        runs = server.flow_runs("evaluate/ladder")
        return [r for r in runs if r["state"]["type"] in ("RUNNING", "COMPLETED")]

    wait_until(lambda: started(), 120, "a ladder run to start", worker)
    run = started()[0]
    wait_until(
        lambda: f"exp:{EXP}" in _run(server, run["id"])["tags"], 60, "the run's tags", worker
    )
    assert _run(server, run["id"])["name"] == f"{EXP}-ladder"
    _every_ladder_run_stops_on_cancel(server, worker)
    assert server.state_of(run["id"]) in ("CANCELLED", "COMPLETED")


# Prefect kills a run 30 s after its cancel whatever the run does; the rest is the CLI's and a
# loaded machine's slack.
CANCEL_WINDOW_S = 60.0


def _every_ladder_run_stops_on_cancel(server, worker, watch_s: float = 90.0) -> None:
    """Cancel every live ladder run, and each new one as it appears (the learner still publishes,
    so more are scheduled meanwhile); each must stop within CANCEL_WINDOW_S of its first cancel.
    Returns at the first moment none is live, or after watch_s if runs keep appearing but each
    stopped in time (a moment with none live is not the property; each run's stop is)."""
    cancelled_at: dict[str, float] = {}
    end = time.monotonic() + watch_s
    while True:
        live = _live_ladder_runs(server)
        now = time.monotonic()
        for run_id, state in live.items():
            if state in ("RUNNING", "PENDING", "SCHEDULED"):
                server.cancel(run_id)
            cancelled_at.setdefault(run_id, now)
        late = {i: s for i, s in live.items() if now - cancelled_at[i] > CANCEL_WINDOW_S}
        assert not late, f"ladder runs live {CANCEL_WINDOW_S:.0f}s after their cancel: {late}"
        if not live or now > end:
            return
        assert worker.poll() is None, f"the worker exited with {worker.returncode}"
        time.sleep(0.5)


def _live_ladder_runs(server) -> dict[str, str]:
    """The ladder runs not stopped yet, by id, with their state; a ladder run that failed or
    crashed is a bug of its own, named here rather than waited on."""
    runs = {r["id"]: r["state"]["type"] for r in server.flow_runs("evaluate/ladder")}
    broken = {i: s for i, s in runs.items() if s in ("FAILED", "CRASHED")}
    assert not broken, f"ladder runs that did not stop by cancel: {broken}"
    return {i: s for i, s in runs.items() if s not in ("CANCELLED", "COMPLETED")}


def _run(server, run_id: str) -> dict:
    return httpx.get(f"{server.url}/flow_runs/{run_id}", timeout=30).json()


def _fleet_down(server, worker, home: Path) -> None:
    assert _fleet_pids(home)  # a cancelled learn run leaves its fleets producing
    server.prefect("deployment", "run", "fleet-down/default", "--params", json.dumps({"exp": EXP}))
    wait_until(lambda: _states(server, "fleet-down/default") == ["COMPLETED"], 120, "fleet-down")
    wait_until(lambda: not _fleet_pids(home), 60, "the fleets to stop", worker)
    (run,) = server.flow_runs("fleet-down/default")
    assert run["name"] == f"{EXP}-fleet-down"
    for spec in home.glob(f"experiments/{EXP}/fleets/*/spec.json"):
        assert json.loads(spec.read_text())["target"] == 0  # no health pass restarts them
