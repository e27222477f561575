"""Learner options: the original's learner flags (original-EXPERIMENTS.md), typed and checked.

`LearnerSettings` is declared once and serves three places: the `zeb learner` command line (one
option per field, generated), the `learn` flow's `learner` parameter (a form in the Prefect UI) and
the learner service. `LearnerOptions` adds the experiment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from infra.experiment_state import Controls
from zeb_core.data.lr_schedule import LinearAnneal


class LearnerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoint: Path | None = Field(
        None, description="Bootstrap checkpoint: seeds the experiment only if it does not exist"
    )
    batch_size: int | None = Field(
        None, ge=1, description="Examples per training step (default: 64 on CPU, 512 on CUDA)"
    )
    replay_buffer_size: int = Field(500_000, ge=1, description="Self-play replay capacity")
    eval_aux_replay_buffer_size: int = Field(100_000, ge=1, description="Eval-aux replay capacity")
    training_steps_per_cycle: int = Field(1000, ge=1, description="Training steps per cycle")
    min_buffer: int = Field(
        10_000, ge=1, description="Self-play examples needed before training starts"
    )
    push_every: int = Field(1, ge=1, description="Publish weights every this many cycles")
    keep_example_files: int = Field(
        128, ge=1, description="Shards kept on the hub per source (older ingested ones pruned)"
    )
    lr: float = Field(1e-4, gt=0, description="AdamW learning rate")
    lr_anneal_start: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="Anneal lr linearly from this share of the run (max_minutes or max_cycles) "
        "to lr × lr_final_scale at its end (default: constant lr)",
    )
    lr_final_scale: float = Field(
        0.1, gt=0, le=1, description="lr multiple at the run's end when lr_anneal_start is set"
    )
    # The true holder by default: the sampled posterior is what the rules' prior already gives a
    # constrained head; only the true holder carries what the play itself reveals (README).
    belief_soft_mix: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Belief target: this share the sampled posterior, the rest the true holder",
    )
    belief_weight: float = Field(
        0.5, ge=0, description="Self-play belief loss weight (policy and value weigh 1)"
    )
    belief_lr_scale: float = Field(
        3.0, gt=0, description="The belief head learns at this multiple of lr"
    )
    # 0, not the original's 0.1: on a CPU dropout's random masks were a fifth of a learner step,
    # and without them 20 minutes of learning took 55% more steps and ended stronger (README).
    dropout: float = Field(
        0.0, ge=0, lt=1, description="Dropout while training (the original trained with 0.1)"
    )
    max_replay_ratio: float | None = Field(
        None,
        gt=0,
        description="Train at most this many samples per new self-play example, "
        "waiting for data otherwise (default: no limit)",
    )
    useful_reuse: float = Field(
        4.0,
        gt=0,
        description="Samples to train per example for the fleet's games to count as used: "
        "production beyond capacity / this is surplus (fleet status, target auto)",
    )
    amp: bool = Field(True, description="fp16 autocast on CUDA (CPU always trains in fp32)")
    amp_dtype: Literal["fp16"] = Field("fp16", description="AMP dtype")
    local_replay_cache_enabled: bool = Field(
        True, description="Snapshot the replay buffer locally so restarts are fast"
    )
    local_replay_cache_dir: Path | None = Field(
        None,
        description="Folder of the training state, replay cache and status"
        " (default $ZEB_HOME/cache/learner)",
    )
    local_replay_cache_save_every: int = Field(
        25, ge=1, description="Cycles between replay snapshots (and hub pruning)"
    )
    max_example_age_s: float = Field(
        1800.0, gt=0, description="Pause training after this many seconds without a new shard"
    )
    poll_interval_s: float = Field(
        10.0, gt=0, description="Seconds between looks at the hub while waiting"
    )
    eval_every: int = Field(
        10, ge=0, description="Cycles between evaluations vs random and heuristic (0 = off)"
    )
    eval_games: int = Field(
        1000, ge=2, description="Greedy games against random per evaluation (fixed deals)"
    )
    eval_heuristic_games: int = Field(
        400, ge=0, description="Greedy games against the heuristic per evaluation"
    )
    device: str = Field("auto", description="auto (CUDA when present), cpu or cuda")
    seed: int = Field(0, description="Seed of replay sampling")
    max_cycles: int | None = Field(
        None,
        ge=1,
        description="Stop after this many cycles in this run (default: run until stopped)",
    )
    max_minutes: float | None = Field(
        None, gt=0, description="Stop after this many minutes of this run (default: no limit)"
    )
    # Live eval-aux controls: when given they are written to EXP-state.json at start-up (like
    # restarting the original learner with flags); the learner re-reads the state every cycle.
    eval_aux_enabled: bool | None = Field(None, description="Turn eval-aux examples on or off")
    eval_aux_batch_fraction: float | None = Field(
        None, ge=0, le=1, description="Share of each batch from eval-aux"
    )
    eval_aux_policy_weight: float | None = Field(None, ge=0, description="Eval-aux policy weight")
    eval_aux_value_weight: float | None = Field(None, ge=0, description="Eval-aux value weight")
    eval_aux_belief_weight: float | None = Field(None, ge=0, description="Eval-aux belief weight")
    eval_aux_max_model_lag: int | None = Field(
        None, ge=0, description="Drop eval-aux shards older than this many cycles"
    )
    eval_aux_lag_half_life: float | None = Field(
        None, gt=0, description="Cycles over which an eval-aux example's keep weight halves"
    )
    eval_aux_min_keep_weight: float | None = Field(
        None, ge=0, le=1, description="Floor of the eval-aux keep weight"
    )

    @model_validator(mode="after")
    def _anneal_needs_an_end(self) -> LearnerSettings:
        if (
            self.lr_anneal_start is not None
            and self.max_minutes is None
            and self.max_cycles is None
        ):
            raise ValueError(
                "lr_anneal_start needs a run of known length: max_minutes or max_cycles"
            )
        return self

    def lr_anneal(self) -> LinearAnneal | None:
        if self.lr_anneal_start is None:
            return None
        return LinearAnneal(self.lr_anneal_start, self.lr_final_scale)

    def control_overrides(self) -> dict[str, Any]:
        return {n: getattr(self, n) for n in Controls.model_fields if getattr(self, n) is not None}


class LearnerOptions(LearnerSettings):
    experiment: str

    def on_device(self, device_type: str) -> LearnerOptions:
        """These options with the batch size the device trains best at, unless one was given."""
        if self.batch_size is not None:
            return self
        return self.model_copy(update={"batch_size": default_batch_size(device_type)})

    @property
    def batch(self) -> int:
        """The examples per step; `on_device` resolves the default first."""
        if self.batch_size is None:
            raise ValueError("the learner's batch size is not resolved: call on_device(type)")
        return self.batch_size

    @classmethod
    def of(cls, experiment: str, settings: LearnerSettings) -> LearnerOptions:
        return cls(experiment=experiment, **settings.model_dump())

    def in_home(self, home: Path) -> LearnerOptions:
        """These options with the cache under `home` ($ZEB_HOME) unless a folder was given."""
        if self.local_replay_cache_dir is not None:
            return self
        return self.model_copy(update={"local_replay_cache_dir": learner_cache_root(home)})

    def cache_folder(self) -> Path:
        if self.local_replay_cache_dir is None:
            raise ValueError("the learner's cache folder is not resolved: call in_home(home)")
        return self.local_replay_cache_dir.expanduser() / self.experiment


def learner_cache_root(home: Path) -> Path:
    """The default parent of every experiment's learner cache: inside zeb's home folder."""
    return home / "cache" / "learner"


def default_batch_size(device_type: str) -> int:
    """64 on CPU, the original's: there a step's cost grows with the batch. 512 on CUDA: there the
    step is bound by per-step overhead, not the batch (an H200 beside 14 workers ran ~30 steps/s at
    both 64 and 512), so the larger batch trains on 8x the fleet's examples in the same time;
    measured with `bench/learning.py --minutes 5 --workers 14` (README, "On a GPU")."""
    return 512 if device_type == "cuda" else 64
