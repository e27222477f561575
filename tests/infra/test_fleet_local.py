"""LocalFleet with real processes: workers outlive the command that started them, any later
process sees, heals and stops them, and a stopped worker's games all reach the hub."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from pathlib import Path

import psutil
import pytest

from infra.experiment import Experiment
from infra.fleet import fleet_store, open_fleet
from infra.fleet.base import FleetSpec, WorkerSettings
from infra.fleet.health import health_pass
from infra.hub.local import LocalHub
from infra.settings import load_settings
from infra.worker.heartbeat import read_heartbeat
from tests.infra.learner_helpers import seed_experiment
from tests.infra.process_helpers import ZEB, base_env, wait_for
from zeb_core.data.shards import SELFPLAY, shard_from_bytes

SMALL = ["--sims", "4", "--games-in-flight", "4", "--games-per-batch", "4", "--device", "cpu"]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ZEB_HOME", str(home))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    seed_experiment(LocalHub(home / "hub"), tmp_path)
    yield home
    for table in home.glob("experiments/*/fleets/*/processes.json"):  # never leave a process
        for entry in json.loads(table.read_text())["workers"]:
            _kill_group(entry["pid"])


def _kill_group(pid: int) -> None:
    try:
        psutil.Process(pid).kill()
    except psutil.NoSuchProcess:
        pass


def _zeb(args: list[str], tmp_path: Path, home: Path) -> subprocess.CompletedProcess:
    env = base_env(tmp_path, ZEB_HOME=str(home))
    return subprocess.run(
        [*ZEB, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def _fleet(home: Path):
    settings = load_settings()
    spec = fleet_store(settings, "exp", "selfplay").load_spec()
    return open_fleet(spec, Experiment(LocalHub(home / "hub"), "exp"), settings)


def _producing(fleet, n: int) -> bool:
    records = fleet.status()
    running = [r for r in records if r.state == "running" and r.heartbeat]
    return len(running) == n and all(r.heartbeat.batches >= 1 for r in running)


@pytest.mark.slow
def test_a_fleet_outlives_its_command_and_is_healed_and_stopped_by_others(tmp_path, home):
    up = ["fleet", "up", "--exp", "exp", "--role", "selfplay", "-n", "2", *SMALL]
    done = _zeb([*up, "--upload-interval-s", "0"], tmp_path, home)
    assert done.returncode == 0, done.stderr
    fleet = _fleet(home)  # this process did not start them
    logs = list((home / "experiments").rglob("*.log"))
    wait_for(lambda: _producing(fleet, 2), 120, "two producing workers", logs=logs)
    pids = {r.label: r.provider_id for r in fleet.status()}
    assert sorted(pids) == [f"zeb-exp-selfplay-worker-local-{i}" for i in (0, 1)]

    again = _zeb(up, tmp_path, home)  # a second up starts nothing
    assert again.returncode == 0 and "started" not in again.stderr
    assert {r.label: r.provider_id for r in fleet.status()} == pids

    victim = "zeb-exp-selfplay-worker-local-0"
    psutil.Process(int(pids[victim])).send_signal(signal.SIGKILL)
    wait_for(lambda: any(r.state == "exited" for r in fleet.status()), 30, "the kill to show")
    health = _zeb(["fleet", "health", "--exp", "exp", "--json"], tmp_path, home)
    assert health.returncode == 0, health.stderr
    (report,) = json.loads(health.stdout)
    assert f"replace {victim}" in " ".join(report["actions"])
    wait_for(lambda: _producing(fleet, 2), 120, "the replacement to produce", logs=logs)
    now = {r.label: r.provider_id for r in fleet.status() if r.state == "running"}
    assert (
        now[victim] != pids[victim]
        and now["zeb-exp-selfplay-worker-local-1"] == pids["zeb-exp-selfplay-worker-local-1"]
    )

    status = _zeb(["fleet", "status", "--exp", "exp", "--json"], tmp_path, home)
    (shown,) = json.loads(status.stdout)
    assert [w["worker"] for w in shown["workers"]] == sorted(pids)
    assert shown["memory"]["passes"] == 1

    down = _zeb(["fleet", "down", "--exp", "exp"], tmp_path, home)
    assert down.returncode == 0 and "stopped 2 worker(s)" in down.stdout
    assert not any(psutil.pid_exists(int(p)) and _is_worker(int(p)) for p in now.values())
    assert fleet_store(load_settings(), "exp", "selfplay").load_spec().target == 0


def _is_worker(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and "worker" in " ".join(proc.cmdline())
    except psutil.NoSuchProcess:
        return False


def test_concurrent_ups_never_start_duplicates(tmp_path, home):
    settings = load_settings()
    spec = FleetSpec(experiment="exp", role="selfplay", target=2, worker=WorkerSettings(sims=4))
    experiment = Experiment(LocalHub(home / "hub"), "exp")
    fleet_store(settings, "exp", "selfplay").save_spec(spec)
    fleets = [open_fleet(spec, experiment, settings) for _ in range(3)]
    threads = [threading.Thread(target=f.up, args=(2,)) for f in fleets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records = fleets[0].status()
    assert sorted(r.label for r in records) == [
        f"zeb-exp-selfplay-worker-local-{i}" for i in (0, 1)
    ]
    fleets[0].down()
    assert all(r.state == "exited" for r in fleets[0].status()) or fleets[0].status() == []


def test_a_health_pass_replaces_a_killed_worker_in_process(tmp_path, home):
    settings = load_settings()
    spec = FleetSpec(
        experiment="exp",
        role="selfplay",
        target=1,
        worker=WorkerSettings(sims=4, games_in_flight=4, games_per_batch=4, device="cpu"),
    )
    experiment = Experiment(LocalHub(home / "hub"), "exp")
    store = fleet_store(settings, "exp", "selfplay")
    store.save_spec(spec)
    fleet = open_fleet(spec, experiment, settings)
    (label,) = fleet.up(1)
    (first,) = fleet.status()
    psutil.Process(int(first.provider_id)).kill()
    wait_for(lambda: fleet.status()[0].state == "exited", 30, "the kill to show")
    report = health_pass(fleet, store)
    assert [v.action for v in report.verdicts] == ["replace"]
    (second,) = [r for r in fleet.status() if r.state == "running"]
    assert second.label == label and second.provider_id != first.provider_id
    assert fleet.down() == [label]


def test_a_worker_is_still_seen_and_stopped_after_the_clock_jumps(tmp_path, home):
    """psutil's start time moves with the wall clock: the recorded command still names the worker
    (before, `down` took it for another process, forgot it and left it running)."""
    settings = load_settings()
    spec = FleetSpec(experiment="exp", role="selfplay", target=1, worker=WorkerSettings(sims=4))
    fleet_store(settings, "exp", "selfplay").save_spec(spec)
    fleet = open_fleet(spec, Experiment(LocalHub(home / "hub"), "exp"), settings)
    fleet.up(1)
    (table,) = home.glob("experiments/exp/fleets/selfplay/processes.json")
    raw = json.loads(table.read_text())
    raw["workers"][0]["create_time"] += 15.0  # how a 15 s jump of the clock makes it read
    table.write_text(json.dumps(raw))
    (record,) = fleet.status()
    assert record.state == "running"
    assert fleet.down() == [record.label]
    assert not _is_worker(int(record.provider_id))


@pytest.mark.slow
def test_a_stopped_worker_loses_no_game(tmp_path, home):
    """SIGTERM mid-interval (the upload is an hour away): every game played reaches the hub."""
    env = base_env(tmp_path, ZEB_HUB_DIR=str(home / "hub"))
    spool = tmp_path / "spool"
    args = ["worker", "selfplay", "--exp", "exp", "--worker-id", "w1", *SMALL]
    args += ["--upload-interval-s", "3600", "--spool-dir", str(spool)]
    log = tmp_path / "w1.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([*ZEB, *args], env=env, cwd=tmp_path, stdout=out, stderr=out)
    try:
        folder = spool / "exp" / "w1"
        wait_for(
            lambda: (b := read_heartbeat(folder)) is not None and b.batches >= 2,
            120,
            "two batches",
            procs=[proc],
            logs=[log],
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-2000:]
    finally:
        if proc.poll() is None:
            proc.kill()
    beat = read_heartbeat(folder)
    experiment = Experiment(LocalHub(home / "hub"), "exp")
    files = experiment.list_examples().get(SELFPLAY, [])
    shards = [shard_from_bytes(experiment.read_example(f.path), f.path) for f in files]
    assert beat.phase == "stopped" and beat.games >= 8
    assert sum(s.meta.n_games for s in shards) == beat.games
    assert not list(folder.glob("*.npz"))  # nothing left behind in the spool
    assert "stopped by signal 15" in log.read_text()
