"""`zeb learner --exp EXP ...`: the learner service, with the original's learner flags."""

from __future__ import annotations

from pathlib import Path

import typer

from flows.cli_run import _fail, _setup
from infra.learner.options import DEFAULT_CACHE_DIR


def learner_command(
    exp: str = typer.Option(..., "--exp", help="Experiment name (the hub namespace)."),
    checkpoint: Path = typer.Option(
        None, help="Bootstrap checkpoint: seeds EXP only if it does not exist yet."
    ),
    batch_size: int = typer.Option(64, help="Examples per training step."),
    replay_buffer_size: int = typer.Option(500_000, help="Self-play replay capacity."),
    eval_aux_replay_buffer_size: int = typer.Option(100_000, help="Eval-aux replay capacity."),
    training_steps_per_cycle: int = typer.Option(1000, help="Steps per cycle."),
    min_buffer: int = typer.Option(10_000, help="Self-play examples needed before training."),
    push_every: int = typer.Option(1, help="Publish weights every this many cycles."),
    keep_example_files: int = typer.Option(128, help="Shards kept on the hub per source."),
    lr: float = typer.Option(1e-4, help="AdamW learning rate."),
    amp: bool = typer.Option(True, "--amp/--no-amp", help="fp16 autocast (CUDA only)."),
    amp_dtype: str = typer.Option("fp16", help="AMP dtype (fp16)."),
    local_replay_cache_enabled: bool = typer.Option(
        True, "--local-replay-cache-enabled/--no-local-replay-cache-enabled"
    ),
    local_replay_cache_dir: Path = typer.Option(DEFAULT_CACHE_DIR, help="Local cache folder."),
    local_replay_cache_save_every: int = typer.Option(25, help="Cycles between cache saves."),
    max_example_age: float = typer.Option(1800.0, help="Pause after this many s with no shard."),
    poll_interval: float = typer.Option(10.0, help="Seconds between hub looks while waiting."),
    eval_every: int = typer.Option(10, help="Cycles between evaluations (0 = off)."),
    eval_games: int = typer.Option(200, help="Games per evaluation matchup."),
    max_cycles: int = typer.Option(None, help="Stop after this many cycles (default: forever)."),
    device: str = typer.Option("auto", help="auto (CUDA when present), cpu or cuda."),
    seed: int = typer.Option(0, help="Seed of replay sampling."),
    eval_aux_enabled: bool = typer.Option(None, "--eval-aux-enabled/--no-eval-aux-enabled"),
    eval_aux_batch_fraction: float = typer.Option(None, help="Share of each batch from eval-aux."),
    eval_aux_policy_weight: float = typer.Option(None, help="Eval-aux policy loss weight."),
    eval_aux_value_weight: float = typer.Option(None, help="Eval-aux value loss weight."),
    eval_aux_belief_weight: float = typer.Option(None, help="Eval-aux belief loss weight."),
    eval_aux_max_model_lag: int = typer.Option(None, help="Drop eval-aux shards older (cycles)."),
    eval_aux_lag_half_life: float = typer.Option(None, help="Keep-probability half-life (cycles)."),
    eval_aux_min_keep_weight: float = typer.Option(None, help="Floor of the keep probability."),
) -> None:
    """Train on the experiment's shards and publish weights; resumable, stop with Ctrl-C.

    Eval-aux flags, when given, are written to EXP-state.json at start-up; the learner re-reads
    the live controls there every cycle (the rollback flow edits them)."""
    values = {k: v for k, v in locals().items() if v is not None}  # the flags, before imports
    from pydantic import ValidationError

    from infra.experiment import ExperimentError
    from infra.learner.options import LearnerOptions
    from infra.learner.service import Learner, LearnerError
    from infra.tracking import open_run
    from zeb_core.checkpoint import CheckpointError

    values["experiment"] = values.pop("exp")
    values["max_example_age_s"] = values.pop("max_example_age")
    values["poll_interval_s"] = values.pop("poll_interval")
    for name in (
        "LearnerOptions",
        "Learner",
        "LearnerError",
        "open_run",
        "CheckpointError",
        "ExperimentError",
    ):
        values.pop(name, None)
    settings, hub = _setup()
    try:
        options = LearnerOptions(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _fail(f"bad option {first['loc'][0]}: {first['msg']}") from None

    def tracker(experiment):
        return open_run(
            experiment,
            mode=settings.wandb_mode,
            project=settings.wandb_project,
            config=options.model_dump(mode="json"),
        )

    try:
        Learner(hub, options, tracker).run()
    except (LearnerError, ExperimentError, CheckpointError) as exc:
        raise _fail(str(exc)) from None
