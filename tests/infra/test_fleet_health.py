"""The health pass on an in-memory provider: classification, actions, memory, and each defect of
the original fleet scripts (prefix and substring matching, dedup killing a trial, labels renumbered
from 0, stalls counted in polls, an error line outranking progress)."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.fleet.base import FleetSpec, Offer, WorkerLabel
from infra.fleet.classify import HealthConfig
from infra.fleet.health import health_pass
from infra.fleet.memory import FleetPaths, FleetStore
from tests.infra.fleet_helpers import FakeFleet, at, beat

CONFIG = HealthConfig(stall_s=300, boot_timeout_s=600, setup_timeout_s=900, error_grace_s=120)


@pytest.fixture
def store(tmp_path: Path) -> FleetStore:
    return FleetStore(FleetPaths(tmp_path, "a", "selfplay"))


def fleet(target: int = 2, provider: str = "vast") -> FakeFleet:
    return FakeFleet(FleetSpec(experiment="a", role="selfplay", provider=provider, target=target))


def run(f: FakeFleet, store: FleetStore, seconds: float, **kw):
    return health_pass(f, store, CONFIG, now=at(seconds), **kw)


# -- labels: exact parsing, never prefixes or substrings --------------------------------------


def test_labels_parse_exactly_and_fleets_do_not_share_prefixes():
    label = WorkerLabel.parse("zeb-a-2-selfplay-worker-vast-3")
    assert label == WorkerLabel("a-2", "selfplay", "vast", 3)
    spec = FleetSpec(experiment="a", role="selfplay", provider="vast")
    assert not spec.owns("zeb-a-2-selfplay-worker-vast-3")  # another experiment, same prefix
    assert not spec.owns("zeb-a-evalaux-worker-vast-0")  # another role
    assert not spec.owns("zeb-a-selfplay-worker-vast-0-old")  # substring of a longer label
    assert not spec.owns("xzeb-a-selfplay-worker-vast-0")
    assert not spec.owns("zeb-a-selfplay-worker-vast-01")  # not how zeb numbers
    assert spec.owns("zeb-a-selfplay-worker-vast-0")
    assert WorkerLabel.parse("my-jupyter-box") is None
    assert str(label) == "zeb-a-2-selfplay-worker-vast-3"


# -- classification ----------------------------------------------------------------------------


def test_a_producing_fleet_is_healthy_and_left_alone(store):
    f = fleet()
    for i in (0, 1):
        f.add(i, heartbeat=beat(f"w{i}", 3))
    report = run(f, store, 0)
    assert report.healthy and f.actions() == []
    assert [v.health for v in report.verdicts] == ["ok", "ok"]


def test_stalls_are_measured_in_seconds_not_passes(store):
    f = fleet(target=1)
    w = f.add(0, heartbeat=beat("w", 5))
    for second in (0, 10, 20, 30, 40, 50, 299):  # many passes, little time: never stalled
        report = run(f, store, second)
        assert report.verdicts[0].health == "ok", second
    report = run(f, store, 301)  # one pass, stall_s later
    assert report.verdicts[0].health == "stalled"
    assert ("replace", w.label) in f.actions()


def test_progress_outranks_an_error_line(store):
    f = fleet(target=1)
    w = f.add(0, heartbeat=beat("w", 1), error_lines=["CUDA error: out of memory (recovered)"])
    run(f, store, 0)
    f.progress(w.label, 2)
    report = run(f, store, 200)
    assert report.verdicts[0].health == "ok" and f.actions() == []


def test_an_error_line_without_progress_is_an_error_after_a_grace(store):
    f = fleet(target=1)
    w = f.add(0, error_lines=["Traceback (most recent call last)"])
    assert run(f, store, 0).verdicts[0].health == "setting_up"
    report = run(f, store, 121)
    assert report.verdicts[0].health == "error" and ("replace", w.label) in f.actions()


def test_stuck_booting_and_stuck_setting_up_are_replaced(store):
    f = fleet(target=2)
    boot = f.add(0, state="booting")
    setup = f.add(1, state="running")
    report = run(f, store, 0)
    assert [v.health for v in report.verdicts] == ["booting", "setting_up"]
    assert run(f, store, 599).healthy is False and f.actions() == []
    run(f, store, 601)
    assert f.actions() == [("replace", boot.label)]
    run(f, store, 901)
    assert ("replace", setup.label) in f.actions()


def test_a_stuck_instance_bills_without_producing_and_is_replaced_after_a_grace(store):
    f = fleet(target=1)
    w = f.add(0, state="stuck", detail="frozen")
    report = run(f, store, 0)
    assert report.verdicts[0].health == "stuck" and "billing, not producing" in (
        report.verdicts[0].reason
    )
    assert f.actions() == []
    report = run(f, store, 121)
    assert report.verdicts[0].health == "error" and ("replace", w.label) in f.actions()


def test_an_unread_log_is_not_held_against_a_new_worker(store):
    """Vast uploads a log before its URL serves it: an unread log is no "no first batch"."""
    f = fleet(target=1)
    w = f.add(0, log_read=False)
    run(f, store, 0)
    report = run(f, store, 901)  # a read log without a batch is replaced by now
    assert report.verdicts[0].health == "setting_up" and f.actions() == []
    assert report.verdicts[0].reason == "log not readable yet"
    run(f, store, 1801)
    assert ("replace", w.label) in f.actions()


def test_waiting_for_the_hub_is_not_replaced(store):
    f = fleet(target=1)
    f.add(0, heartbeat=beat("w", 0, phase="waiting", message="hub unavailable"))
    report = run(f, store, 5000)
    assert report.verdicts[0].health == "waiting" and f.actions() == []


def test_a_killed_worker_is_replaced_and_its_machine_struck(store):
    f = fleet(target=1)
    w = f.add(0, state="exited", heartbeat=beat("w", 4))
    report = run(f, store, 0)
    assert "without a last heartbeat" in report.verdicts[0].reason
    assert f.actions() == [("replace", w.label)]
    assert store.load_memory().machine_strikes == {w.machine: 1}


@pytest.mark.parametrize("destroys_spool", [True, False])
def test_a_replaced_workers_spooled_games_are_counted_lost_with_its_machine(store, destroys_spool):
    """A worker holds off a hub storm by spooling; if its machine must go (stalled here), the
    games in its spool go with it on Vast, and the fleet says how many; a local spool stays."""
    f = fleet(target=1)
    f.destroys_spool = destroys_spool
    f.add(0, heartbeat=beat("w", 3, spooled=2, spooled_games=40))
    run(f, store, 0)
    report = run(f, store, 400)  # no batch for 400 s: stalled
    (verdict,) = report.verdicts
    assert verdict.action == "replace"
    assert verdict.lost_games == (40 if destroys_spool else 0)
    assert store.load_memory().lost_games == verdict.lost_games
    assert ("40 spooled game(s) are lost" in report.actions[0]) == destroys_spool


def test_a_worker_playing_through_a_hub_storm_is_left_alone(store):
    f = fleet(target=1)
    message = "upload of 9 shard(s) waits on the hub for 900s"
    f.add(0, heartbeat=beat("w", 3, spooled=9, spooled_games=72, message=message))
    run(f, store, 0)
    f.set(f.records[0].label, heartbeat=beat("w", 90, spooled=9, spooled_games=700))
    report = run(f, store, 1000)
    assert report.verdicts[0].health == "ok" and f.actions() == []


# -- actions -----------------------------------------------------------------------------------


def test_replenish_numbers_into_free_indices_and_never_duplicates(store):
    f = fleet(target=4)
    f.add(1, heartbeat=beat("w", 1))
    f.add(3, heartbeat=beat("w", 1))
    run(f, store, 0)
    labels = sorted(r.label for r in f.records)
    assert labels == [str(f.spec.label(i)) for i in range(4)]
    run(f, store, 10)  # the new ones are booting: nothing more is started
    assert len(f.records) == 4 and [c for c in f.calls if c[0] == "up"] == [("up", 4)]


def test_replenish_starts_a_few_per_pass():
    f = fleet(target=10)
    config = HealthConfig(replenish_batch=4)
    store = FleetStore(FleetPaths(Path("/nonexistent-never-written"), "a", "selfplay"))
    health_pass(f, store, config, dry_run=True, now=at(0))
    assert f.records == []  # a dry run starts nothing


def test_dry_run_changes_nothing(store):
    f = fleet(target=2)
    w = f.add(0, state="exited")
    report = run(f, store, 0, dry_run=True)
    assert f.actions() == [] and not store.paths.memory.exists()
    assert any(a.startswith("would replace " + w.label) for a in report.actions)
    assert any(a.startswith("would start") for a in report.actions)


def test_duplicates_keep_the_producing_one_and_never_a_trial(store):
    f = fleet(target=2)
    old = f.add(0, heartbeat=beat("w", 9))
    dup = f.add(0, state="booting")  # the same label started twice (a retried create)
    f.add(1, heartbeat=beat("w", 9))
    run(f, store, 0)
    assert f.actions() == [("stop", dup.label, dup.provider_id)]
    assert old in f.records


def test_beyond_the_target_the_highest_indices_stop(store):
    f = fleet(target=1)
    for i in range(3):
        f.add(i, heartbeat=beat("w", 1))
    run(f, store, 0)
    stopped = [c[1] for c in f.actions() if c[0] == "stop"]
    assert stopped == [str(f.spec.label(2)), str(f.spec.label(1))]


def test_without_credit_the_fleet_stops_growing_and_probes_every_5_minutes(store):
    f = fleet(target=2)
    f.credit = False
    report = run(f, store, 0)
    assert any("lacks credit" in n for n in report.notes)
    report = run(f, store, 200)  # inside the wait: no attempt
    assert [c for c in f.calls if c[0] == "up"] == [("up", 2)]
    assert any("waiting for credit" in n for n in report.notes)
    f.credit = True
    run(f, store, 301)  # the probe: it grows again
    assert len(f.records) == 2


def test_a_trial_worker_replaces_the_worst_once_it_produces(store):
    f = fleet(target=2)
    good = f.add(0, heartbeat=beat("w", 3, gps=4.0))
    worst = f.add(1, heartbeat=beat("w", 3, gps=1.0))  # 0.2 $/h at 1 game/s: 0.056 $/1000
    f.offer_list = [Offer("o1", "m9", "RTX 4090", dph=0.25, expected_games_per_s=5.0)]
    run(f, store, 0)
    trial = str(f.spec.label(2))
    assert f.actions() == [("start", trial)]
    assert store.load_memory().trials[trial].replaces == worst.label
    run(f, store, 60)  # the trial boots: both others keep running
    assert len(f.actions()) == 1
    f.progress(trial, 1)
    run(f, store, 120)  # it produced: the worst goes, the good one and the trial stay
    assert f.actions()[-1] == ("stop", worst.label, worst.provider_id)
    assert {r.label for r in f.records} == {good.label, trial}
    assert store.load_memory().trials == {}


def test_a_failed_trial_is_stopped_and_struck_and_nothing_else_changes(store):
    f = fleet(target=1)
    w = f.add(0, heartbeat=beat("w", 3, gps=1.0))
    f.offer_list = [Offer("o1", "m9", "RTX 4090", dph=0.1, expected_games_per_s=5.0)]
    run(f, store, 0)
    trial = str(f.spec.label(1))
    f.set(trial, state="exited")
    run(f, store, 30)
    assert f.actions()[-1][:2] == ("stop", trial)
    assert [r.label for r in f.records] == [w.label]
    assert store.load_memory().trials == {}


def test_no_trial_when_the_gain_is_small(store):
    f = fleet(target=1)
    f.add(0, heartbeat=beat("w", 3, gps=2.0))  # 0.2 $/h / 2 games/s = 0.0278 $/1000
    f.offer_list = [Offer("o1", "m9", "RTX 4090", dph=0.18, expected_games_per_s=2.0)]
    run(f, store, 0)  # 10% better only
    assert f.actions() == []


def test_memory_survives_a_restart_of_the_process(store):
    f = fleet(target=1)
    f.add(0, heartbeat=beat("w", 5))
    run(f, store, 0)
    fresh = FleetStore(FleetPaths(store.paths.home, "a", "selfplay"))  # a later process
    report = health_pass(f, fresh, CONFIG, now=at(301))
    assert report.verdicts[0].health == "stalled"
    assert fresh.load_memory().passes == 2


def test_dedup_never_kills_a_trial_and_keeps_the_producing_duplicate(store):
    """The original kept the oldest of two same-labelled instances and killed a fresh trial."""
    f = fleet(target=2)
    f.add(0, heartbeat=beat("w", 5, gps=1.0))
    f.add(1, heartbeat=beat("w", 5, gps=4.0))
    f.offer_list = [Offer("o1", "m9", "RTX 4090", dph=0.05, expected_games_per_s=5.0)]
    run(f, store, 0)  # all ok, a much cheaper offer: one trial
    (trial,) = store.load_memory().trials
    new_dup = f.add(1, state="booting")  # a retried create doubles worker 1, newest last
    run(f, store, 30)
    assert [c for c in f.actions() if c[0] == "stop"] == [
        ("stop", new_dup.label, new_dup.provider_id)
    ]
    assert trial in {r.label for r in f.records} and trial in store.load_memory().trials
