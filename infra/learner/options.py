"""Learner options: the original's learner flags (original-EXPERIMENTS.md), typed and checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from infra.experiment import Controls

DEFAULT_CACHE_DIR = Path("~/.cache/zeb/learner")


class LearnerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment: str
    checkpoint: Path | None = None  # bootstrap: seeds the namespace only if it does not exist
    batch_size: int = Field(64, ge=1)
    replay_buffer_size: int = Field(500_000, ge=1)
    eval_aux_replay_buffer_size: int = Field(100_000, ge=1)
    training_steps_per_cycle: int = Field(1000, ge=1)
    min_buffer: int = Field(10_000, ge=1)  # self-play examples needed before training starts
    push_every: int = Field(1, ge=1)  # publish weights every this many cycles
    keep_example_files: int = Field(128, ge=1)  # per source; older ingested shards are pruned
    lr: float = Field(1e-4, gt=0)
    amp: bool = True  # fp16 autocast on CUDA only; CPU trains in fp32
    amp_dtype: Literal["fp16"] = "fp16"
    local_replay_cache_enabled: bool = True
    local_replay_cache_dir: Path = DEFAULT_CACHE_DIR
    local_replay_cache_save_every: int = Field(25, ge=1)  # cycles
    max_example_age_s: float = Field(1800.0, gt=0)  # pause training after this long without shards
    poll_interval_s: float = Field(10.0, gt=0)  # between looks at the hub while waiting
    eval_every: int = Field(10, ge=0)  # cycles between evaluations vs random/heuristic (0 = off)
    eval_games: int = Field(200, ge=2)
    device: str = "auto"
    seed: int = 0
    max_cycles: int | None = Field(None, ge=1)  # stop after this many cycles in this run
    # Live eval-aux controls: when given they are written to EXP-state.json at start-up (like
    # restarting the original learner with flags); the learner re-reads the state every cycle.
    eval_aux_enabled: bool | None = None
    eval_aux_batch_fraction: float | None = Field(None, ge=0, le=1)
    eval_aux_policy_weight: float | None = Field(None, ge=0)
    eval_aux_value_weight: float | None = Field(None, ge=0)
    eval_aux_belief_weight: float | None = Field(None, ge=0)
    eval_aux_max_model_lag: int | None = Field(None, ge=0)
    eval_aux_lag_half_life: float | None = Field(None, gt=0)
    eval_aux_min_keep_weight: float | None = Field(None, ge=0, le=1)

    def control_overrides(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in Controls.model_fields if getattr(self, n) is not None}

    def cache_folder(self) -> Path:
        return self.local_replay_cache_dir.expanduser() / self.experiment
