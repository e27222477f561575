"""Helpers for learner and worker tests: seeded experiments and synthetic shards on a hub."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from infra.experiment import Experiment
from infra.hub.base import Hub
from infra.learner.options import LearnerOptions
from infra.worker.loop import Produced
from zeb_core.data.shards import SELFPLAY, ShardMeta, shard_name, shard_to_bytes, synthetic_examples
from zeb_core.network.checkpoint import init_checkpoint, save_checkpoint

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeProducer:
    """Synthetic examples; optionally runs a hook (e.g. a learner publishing) before a batch."""

    source = SELFPLAY
    value_root_mix = 0.0

    def __init__(self, hooks=None):
        self.hooks = hooks or {}
        self.calls = 0

    def produce(self, evaluator, rng):
        self.calls += 1
        if self.calls in self.hooks:
            self.hooks[self.calls]()
        return Produced(examples=synthetic_examples(30, rng), n_games=2)


def seed_experiment(hub: Hub, tmp_path: Path, name: str = "exp") -> tuple[Experiment, Path]:
    ckpt = save_checkpoint(init_checkpoint("small", belief_head=True, seed=0), tmp_path / "init.pt")
    experiment = Experiment(hub, name)
    assert experiment.seed(ckpt).seeded
    return experiment, ckpt


def shard_bytes(
    n: int,
    seq: int,
    source: str = SELFPLAY,
    model_cycle: int = 0,
    worker: str = "w1",
    shard_format: int | None = None,
) -> tuple[str, bytes]:
    created = _T0 + timedelta(seconds=seq)
    eq = {} if source == SELFPLAY else {"eq_win_rate": 0.6, "eq_margin": 3.0}
    if shard_format is not None:
        eq["format"] = shard_format
    meta = ShardMeta(
        source=source, model_cycle=model_cycle, model_step=0, worker_id=worker,
        created_at=created, n_games=max(1, n // 28), n_examples=n, **eq,
    )  # fmt: skip
    examples = synthetic_examples(n, np.random.default_rng(seq))
    return shard_name(worker, created, seq), shard_to_bytes(examples, meta)


def upload_shards(
    experiment: Experiment, sizes: list[int], first_seq: int = 1, source: str = SELFPLAY, **kw
) -> dict[str, int]:
    """Upload one shard per size (one commit each); return hub path -> examples."""
    out = {}
    for i, n in enumerate(sizes):
        name, data = shard_bytes(n, first_seq + i, source, **kw)
        experiment.upload_examples(source, {name: data})
        out[f"{experiment.name}/{source}/{name}"] = n
    return out


def learner_options(tmp_path: Path, **overrides) -> LearnerOptions:
    values = dict(
        experiment="exp", batch_size=16, training_steps_per_cycle=4, min_buffer=50,
        replay_buffer_size=5000, eval_aux_replay_buffer_size=1000, poll_interval_s=0.05,
        local_replay_cache_dir=tmp_path / "cache", local_replay_cache_save_every=1,
        eval_every=0, max_cycles=2, device="cpu",
    )  # fmt: skip
    values.update(overrides)
    return LearnerOptions(**values)
