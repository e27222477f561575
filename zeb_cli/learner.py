"""`zeb learner --exp EXP ...`: the learner service, with the original's learner flags.

Every option comes from `LearnerSettings` (infra/learner/options.py), the same model that is the
`learn` flow's `learner` parameter.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from infra.learner.options import LearnerOptions
from zeb_cli.errors import fail
from zeb_cli.model_options import ModelGroup, OptionError, build_model, model_options
from zeb_cli.process_setup import setup_process


@model_options(learner=ModelGroup(LearnerOptions, exclude=frozenset({"experiment"})))
def learner_command(
    exp: Annotated[str, typer.Option("--exp", help="Experiment name (the hub namespace).")],
    learner: dict | None = None,
) -> None:
    """Train on the experiment's shards and publish weights; resumable, stop with Ctrl-C.

    Eval-aux flags, when given, are written to EXP-state.json at start-up; the learner re-reads
    the live controls there every cycle (the rollback flow edits them)."""
    from infra.experiment import ExperimentError
    from infra.learner.service import Learner, LearnerError
    from infra.learner.supervisor import SUPERVISOR_ENV
    from infra.tracking import open_run
    from zeb_core.network.checkpoint import CheckpointError

    settings, hub = setup_process()
    try:
        options = build_model(LearnerOptions, {"experiment": exp, **(learner or {})})
        options = options.in_home(settings.home)
    except OptionError as exc:
        raise fail(str(exc)) from None

    def tracker(experiment):
        return open_run(
            experiment,
            mode=settings.wandb_mode,
            project=settings.wandb_project,
            config=options.model_dump(mode="json"),
            wandb_dir=settings.home,
        )

    supervisor = os.environ.get(SUPERVISOR_ENV, "")
    parent = int(supervisor) if supervisor.isdigit() else None
    try:
        Learner(hub, options, tracker, parent_pid=parent).run()
    except (LearnerError, ExperimentError, CheckpointError) as exc:
        raise fail(str(exc)) from None


if __name__ == "__main__":  # `python -m zeb_cli.learner --exp ...`: the learner without the flows
    typer.run(learner_command)
