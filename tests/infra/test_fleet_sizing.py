"""Fleet sizing: what the learner can use of a fleet, the $/h beyond it, and `target: auto`
held by the health pass."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.experiment_state import Controls, ExperimentState, LearnerThroughput, Origin
from infra.fleet.base import FleetSettings, FleetSpec
from infra.fleet.health import health_pass
from infra.fleet.memory import FleetPaths, FleetStore
from infra.fleet.sizing import resolve_target, size_fleet, useful_games_per_s
from infra.learner.throughput import ThroughputMeter
from tests.infra.fleet_helpers import FakeFleet, at, beat
from zeb_core.data.shards import EVAL_AUX, SELFPLAY

# A learner that trains 3.6M samples an hour, at 20 examples per game and a reuse of 4:
# it uses 3.6M / 4 / 20 = 45,000 games an hour, 12.5 games/s.
THROUGHPUT = LearnerThroughput(
    measured_at=datetime(2026, 12, 1, tzinfo=UTC),
    window_s=3600,
    capacity_samples_per_h=3.6e6,
    trained_samples_per_h=3.0e6,
    ingested_examples_per_h={SELFPLAY: 2.0e6, EVAL_AUX: 1.0e4},
    ingested_games_per_h={SELFPLAY: 1.0e5, EVAL_AUX: 500},
    useful_reuse=4.0,
)


def fleet(target="auto", role="selfplay", **kw) -> FakeFleet:
    spec = FleetSpec(experiment="a", role=role, provider="vast", target=target, **kw)
    return FakeFleet(spec)


def state(throughput=THROUGHPUT, controls=Controls()) -> ExperimentState:
    origin = Origin(checkpoint="c", sha256="0" * 64)
    return ExperimentState(
        experiment="a", created_from=origin, throughput=throughput, controls=controls
    )


def test_the_useful_rate_follows_capacity_reuse_and_the_batch_share():
    assert useful_games_per_s("selfplay", THROUGHPUT, Controls()) == pytest.approx(12.5)
    stage1 = Controls.stage1()  # 5% of each batch is eval-aux
    assert useful_games_per_s("selfplay", THROUGHPUT, stage1) == pytest.approx(12.5 * 0.95)
    assert useful_games_per_s("evalaux", THROUGHPUT, stage1) == pytest.approx(
        0.05 * 3.6e6 / 4 / 20 / 3600
    )
    assert useful_games_per_s("evalaux", THROUGHPUT, Controls()) == 0.0


def test_the_surplus_is_the_worst_value_workers_beyond_the_useful_rate():
    f = fleet()
    for i, (gps, dph) in enumerate([(5, 0.2), (5, 0.1), (5, 0.4), (5, 0.3), (5, 0.2)]):
        f.dph = dph
        f.add(i, heartbeat=beat(f"w{i}", 10, gps=gps))
    sizing = size_fleet("selfplay", f.status(), THROUGHPUT, Controls())
    # 12.5 games/s takes three workers; the two dearest ($0.4 and $0.3 per hour) are surplus.
    assert (sizing.workers, sizing.useful_workers) == (5, 3)
    assert sizing.surplus_dph == pytest.approx(0.7) and sizing.surplus_games_per_s == 10
    assert "$0.700/h buys 10.0 games/s the learner cannot use" in sizing.lines()[0]


def test_a_fleet_too_small_says_how_many_would_do():
    f = fleet()
    f.add(0, heartbeat=beat("w0", 10, gps=2.5))
    sizing = size_fleet("selfplay", f.status(), THROUGHPUT, Controls())
    assert (sizing.useful_workers, sizing.surplus_dph) == (5, 0.0)
    assert "could use more" in sizing.lines()[0]


def test_auto_holds_the_useful_size_within_its_bound_and_shrinks_one_per_pass():
    auto = FleetSettings(target="auto", auto_max=6)
    sizing = size_fleet("selfplay", [], THROUGHPUT, Controls())
    assert sizing is None and resolve_target(auto, None, live=3) == 3  # not measured: hold
    assert resolve_target(auto, None, live=0) == 1
    f = fleet()
    f.add(0, heartbeat=beat("w0", 10, gps=1.0))
    sizing = size_fleet("selfplay", f.status(), THROUGHPUT, Controls())  # wants 13
    assert resolve_target(auto, sizing, live=1) == 6  # bounded by auto_max
    f = fleet()
    for i in range(5):
        f.add(i, heartbeat=beat(f"w{i}", 10, gps=12.0))
    sizing = size_fleet("selfplay", f.status(), THROUGHPUT, Controls())  # wants 2
    assert sizing.useful_workers == 2 and resolve_target(auto, sizing, live=5) == 4
    assert resolve_target(FleetSettings(target=3), sizing, live=5) == 3  # a number is a number


def test_the_health_pass_sizes_an_auto_fleet_and_reports_it(tmp_path: Path):
    store = FleetStore(FleetPaths(tmp_path, "a", "selfplay"))
    f = fleet(auto_max=10)
    f.add(0, heartbeat=beat("w0", 10, gps=2.5))
    report = health_pass(f, store, now=at(0), state=state())
    assert report.target == 5 and ("up", 5) in f.actions()  # a few per pass, toward 5
    assert "useful size 5 of 1" in report.sizing.lines()[0]
    fixed = fleet(target=1)
    fixed.add(0, heartbeat=beat("w0", 10, gps=2.5))
    other = FleetStore(FleetPaths(tmp_path, "b", "selfplay"))
    report = health_pass(fixed, other, now=at(0), state=state())
    assert report.target == 1 and fixed.actions() == [] and report.sizing.useful_workers == 5


def test_the_meter_counts_training_time_apart_from_waiting():
    now = [0.0]
    meter = ThroughputMeter(useful_reuse=4.0, clock=lambda: now[0])
    assert meter.snapshot() is None
    meter.ingested({SELFPLAY: 2000}, {SELFPLAY: 100})
    now[0] = 1800.0  # half an hour: 90 s of training, the rest waiting for data
    meter.trained(samples=36_000, seconds=90.0)
    snap = meter.snapshot()
    assert snap.capacity_samples_per_h == pytest.approx(36_000 / 90 * 3600)
    assert snap.trained_samples_per_h == pytest.approx(72_000)
    assert snap.examples_per_game(SELFPLAY) == 20 and snap.examples_per_game(EVAL_AUX) is None
    now[0] = 1800.0 + 3700  # the window forgets what is older than an hour
    meter.trained(samples=1000, seconds=1.0)
    assert meter.snapshot().ingested_games_per_h == {}
