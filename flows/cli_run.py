"""`zeb worker selfplay|evalaux` and `zeb learner`: the long-running processes of an experiment.

Hub and tracking settings come from the environment (`infra.settings`): ZEB_HUB, ZEB_HUB_DIR,
ZEB_HF_*, ZEB_WANDB_MODE / WANDB_MODE. Bad settings and unknown experiments give a one-line
error and exit code 2.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from infra.experiment import ExperimentError
from infra.hub.base import Hub
from infra.settings import Settings, SettingsError, load_settings, make_hub
from infra.worker import DEFAULT_UPLOAD_INTERVAL_S

worker_app = typer.Typer(
    help="Run a worker that plays games and uploads example shards.", no_args_is_help=True
)


def _setup(verbose: bool = False) -> tuple[Settings, Hub]:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    for noisy in ("httpx", "httpcore", "huggingface_hub", "filelock", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = load_settings()
        return settings, make_hub(settings)
    except SettingsError as exc:
        raise _fail(str(exc)) from None


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _worker_options(role: str, **values):
    from pydantic import ValidationError

    from infra.worker.loop import WorkerOptions, default_worker_id

    values["worker_id"] = values.get("worker_id") or default_worker_id(role)
    try:
        return WorkerOptions(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _fail(f"bad option {first['loc'][0]}: {first['msg']}") from None


def _run_worker(hub: Hub, options, producer) -> None:
    from infra.worker.loop import Worker, WorkerError

    try:
        Worker(hub, options, producer).run()
    except (WorkerError, ExperimentError) as exc:
        raise _fail(str(exc)) from None


# Options every worker shares.
ExpOption = typer.Option(..., "--exp", help="Experiment name (the hub namespace).")
UploadIntervalOption = typer.Option(
    DEFAULT_UPLOAD_INTERVAL_S, help="Seconds between uploads (one shard, one commit)."
)
CheckWeightsOption = typer.Option(1, help="Batches between looks for new weights.")
MaxBatchesOption = typer.Option(None, help="Stop after this many batches (default: forever).")
SpoolDirOption = typer.Option(Path(".zeb/spool"), help="Local folder for shards awaiting upload.")
DeviceOption = typer.Option("auto", help="auto (CUDA when present), cpu or cuda.")
SeedOption = typer.Option(None, help="Seed (default: fresh entropy).")


@worker_app.command("selfplay")
def worker_selfplay(
    exp: str = ExpOption,
    worker_id: str = typer.Option(None, help="Stable id (default selfplay-<host>); names shards."),
    sims: int = typer.Option(200, help="MCTS simulations per decision."),
    worlds: int = typer.Option(None, help="Sampled deals per decision (default min(8, sims))."),
    games_in_flight: int = typer.Option(
        128, help="Games advanced together (one network call per wave)."
    ),
    node_capacity: int = typer.Option(512, help="Nodes per search tree."),
    games_per_batch: int = typer.Option(128, help="Games played between weight checks."),
    upload_interval: float = UploadIntervalOption,
    check_weights_every: int = CheckWeightsOption,
    max_batches: int = MaxBatchesOption,
    spool_dir: Path = SpoolDirOption,
    device: str = DeviceOption,
    seed: int = SeedOption,
) -> None:
    """Self-play with MCTS and the newest weights; upload shards of source selfplay-mcts."""
    from infra.worker.selfplay import SelfPlayProducer
    from zeb_core.mcts import MCTSConfig

    _, hub = _setup()
    options = _worker_options(
        "selfplay", experiment=exp, worker_id=worker_id, device=device, seed=seed,
        upload_interval_s=upload_interval, check_weights_every=check_weights_every,
        spool_dir=spool_dir, max_batches=max_batches,
    )  # fmt: skip
    try:
        config = MCTSConfig(
            simulations=sims,
            worlds=worlds or min(MCTSConfig.worlds, sims),
            games_in_flight=games_in_flight,
            node_capacity=node_capacity,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    _run_worker(hub, options, SelfPlayProducer(games_per_batch, config))


@worker_app.command("evalaux")
def worker_evalaux(
    exp: str = ExpOption,
    worker_id: str = typer.Option(None, help="Stable id (default evalaux-<host>); names shards."),
    worlds: int = typer.Option(32, help="Worlds the E[Q] player samples and solves per decision."),
    deals_per_batch: int = typer.Option(
        8, help="Deals per batch (each played with sides swapped)."
    ),
    upload_interval: float = UploadIntervalOption,
    check_weights_every: int = CheckWeightsOption,
    max_batches: int = MaxBatchesOption,
    spool_dir: Path = SpoolDirOption,
    device: str = DeviceOption,
    seed: int = SeedOption,
) -> None:
    """The E[Q] player against the current model; upload shards of source eval-eq-zeb."""
    from infra.worker.evalaux import EvalAuxProducer

    _, hub = _setup()
    options = _worker_options(
        "evalaux", experiment=exp, worker_id=worker_id, device=device, seed=seed,
        upload_interval_s=upload_interval, check_weights_every=check_weights_every,
        spool_dir=spool_dir, max_batches=max_batches,
    )  # fmt: skip
    if worlds < 1 or deals_per_batch < 1:
        raise _fail("--worlds and --deals-per-batch must be at least 1")
    _run_worker(hub, options, EvalAuxProducer(deals_per_batch, worlds))
