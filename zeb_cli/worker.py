"""`zeb worker selfplay|evalaux` and `zeb learner`: the long-running processes of an experiment.

Hub and tracking settings come from the environment (`infra.settings`): ZEB_HUB, ZEB_HUB_DIR,
ZEB_HF_*, ZEB_WANDB_MODE / WANDB_MODE. Bad settings and unknown experiments give a one-line
error and exit code 2.
"""

from __future__ import annotations

from typing import Annotated

import typer

from infra.experiment import ExperimentError
from infra.hub.base import Hub
from infra.settings import Settings
from infra.worker.options import UNUSED_BY_ROLE, WorkerOptions
from zeb_cli.errors import fail
from zeb_cli.model_options import ModelGroup, OptionError, build_model, model_options
from zeb_cli.process_setup import setup_process

worker_app = typer.Typer(
    help="Run a worker that plays games and uploads example shards.", no_args_is_help=True
)


def _worker_options(settings: Settings, role: str, exp: str, worker_id: str | None, values: dict):
    from infra.worker.options import default_worker_id

    values = {**values, "experiment": exp, "worker_id": worker_id or default_worker_id(role)}
    values.setdefault("spool_dir", settings.home / "spool")
    try:
        return build_model(WorkerOptions, values)
    except OptionError as exc:
        raise fail(str(exc)) from None


def _run_worker(hub: Hub, options, producer) -> None:
    from infra.worker.loop import Worker, WorkerError

    try:
        Worker(hub, options, producer).run()
    except (WorkerError, ExperimentError) as exc:
        raise fail(str(exc)) from None


def _role_group(role: str) -> ModelGroup:
    """The options of `zeb worker ROLE`: WorkerOptions with the settings the role uses."""
    unused = {f"play.{name}" for name in UNUSED_BY_ROLE[role]}  # type: ignore[index]
    return ModelGroup(WorkerOptions, exclude=frozenset({"experiment", "worker_id", *unused}))


ExpOption = Annotated[str, typer.Option("--exp", help="Experiment name (the hub namespace).")]


def _worker_id_option(role: str):
    help_text = f"Stable id (default {role}-<host>); names shards and the spool folder."
    return Annotated[str | None, typer.Option("--worker-id", help=help_text)]


@worker_app.command("selfplay")
@model_options(worker=_role_group("selfplay"))
def worker_selfplay(
    exp: ExpOption, worker_id: _worker_id_option("selfplay") = None, worker: dict | None = None
) -> None:
    """Self-play with MCTS and the newest weights; upload shards of source selfplay-mcts."""
    from infra.worker.selfplay import SelfPlayProducer

    settings, hub = setup_process()
    options = _worker_options(settings, "selfplay", exp, worker_id, worker or {})
    play = options.play
    try:
        producer = SelfPlayProducer(play)
    except ValueError as exc:
        raise fail(str(exc)) from None
    _run_worker(hub, options, producer)


@worker_app.command("evalaux")
@model_options(worker=_role_group("evalaux"))
def worker_evalaux(
    exp: ExpOption, worker_id: _worker_id_option("evalaux") = None, worker: dict | None = None
) -> None:
    """The E[Q] player against the current model; upload shards of source eval-eq-zeb."""
    from infra.worker.evalaux import EvalAuxProducer

    settings, hub = setup_process()
    options = _worker_options(settings, "evalaux", exp, worker_id, worker or {})
    _run_worker(hub, options, EvalAuxProducer(options.play.deals_per_batch, options.play.eq_worlds))


if __name__ == "__main__":  # `python -m zeb_cli.worker selfplay ...`: a worker without the flows
    worker_app()
