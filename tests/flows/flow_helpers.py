"""Small settings for flow tests: a tiny learner and one cheap local self-play worker."""

from __future__ import annotations

from pathlib import Path

from infra.fleet.base import FleetSettings
from infra.learner.options import LearnerSettings
from infra.worker.options import WorkerSettings


def tiny_learner(tmp_path: Path, **changes) -> LearnerSettings:
    values = dict(
        batch_size=16,
        training_steps_per_cycle=10,
        min_buffer=100,
        replay_buffer_size=20_000,
        eval_aux_replay_buffer_size=2_000,
        poll_interval_s=0.5,
        eval_every=0,
        max_cycles=2,
        local_replay_cache_dir=tmp_path / "cache",
        device="cpu",
    )
    return LearnerSettings(**{**values, **changes})


def tiny_fleet(target: int = 1, **changes) -> FleetSettings:
    worker = WorkerSettings(
        sims=4,
        games_in_flight=4,
        games_per_batch=4,
        upload_interval_s=0,
        device="cpu",
        eq_worlds=2,
        deals_per_batch=1,
    )
    return FleetSettings(target=target, worker=worker.model_copy(update=changes))
