"""Flow `create`: a new experiment from random weights, another namespace's weights or a local
checkpoint (the original's four ways to create, in one flow).

    check the name and the source (a bad or unreachable source fails here: nothing written)
    if the experiment exists: say so and change nothing (the hub is authoritative)
    build the bootstrap checkpoint, seed the namespace, start its W&B lineage
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from flows.common import (
    UserError,
    artifact_key,
    documented,
    io_task,
    open_experiment,
    run_name,
    settings,
    tag_run,
)
from infra.bootstrap import SOURCES_HELP, SourceError, load_source, parse_source, write_bootstrap
from infra.experiment import Experiment
from infra.tracking import open_run
from zeb_core.network.model import count_parameters


@io_task
def check_new(exp: str) -> tuple[Experiment, bool]:
    experiment = open_experiment(exp, must_exist=False)
    return experiment, experiment.exists()


@io_task
def build_bootstrap(
    experiment: Experiment,
    source: str,
    size: str,
    tokenizer: str,
    belief_head: bool,
    belief_head_type: str,
    seed: int,
) -> dict[str, Any]:
    """Load the source's weights and write the bootstrap checkpoint to the experiment's local
    folder; return what it holds (no tensors leave the task)."""
    try:
        checkpoint = load_source(
            parse_source(source),
            experiment.hub,
            size=size,
            belief_head=belief_head,
            belief_head_type=belief_head_type,
            tokenizer=tokenizer,
            seed=seed,
        )
    except SourceError as exc:
        raise UserError(str(exc)) from None
    path = settings().home / "experiments" / experiment.name / "bootstrap.pt"
    write_bootstrap(checkpoint, path)
    return {
        "bootstrap": str(path),
        "source_weights_name": checkpoint.source_weights_name,
        "model_config": checkpoint.config.to_checkpoint_dict(),
        "parameters": count_parameters(checkpoint.build_model()),
    }


@io_task
def seed_namespace(experiment: Experiment, bootstrap: Path) -> str:
    return experiment.seed(bootstrap).message


@io_task
def start_lineage(experiment: Experiment) -> str | None:
    """Draw the experiment's W&B run id and store it in the state (the learner resumes it)."""
    config = settings()
    tracker = open_run(
        experiment,
        mode=config.wandb_mode,
        project=config.wandb_project,
        job_type="create",
        wandb_dir=config.home,
    )
    tracker.finish()
    return experiment.read_state().wandb_run_id


@flow(name="create", flow_run_name=run_name("create"), log_prints=True)
@documented
def create_experiment(
    exp: Annotated[str, Field(description="Experiment name: the namespace on the hub")],
    source: Annotated[str, Field(description=f"Where the weights come from: {SOURCES_HELP}")] = (
        "random"
    ),
    size: Annotated[
        Literal["small", "medium", "large"], Field(description="Model preset (random weights)")
    ] = "medium",
    tokenizer: Annotated[Literal["v1"], Field(description="Observation tokenizer")] = "v1",
    belief_head: Annotated[bool, Field(description="Add the belief head (random weights)")] = False,
    belief_head_type: Annotated[
        Literal["constrained", "queries", "pooled"],
        Field(
            description="Which belief head: zeb's on the rules' prior (constrained), zeb's alone"
            " (queries) or the original's (pooled: files the original can load)"
        ),
    ] = "constrained",
    seed: Annotated[int, Field(description="Seed of random weights")] = 0,
) -> dict[str, Any]:
    """Create an experiment: build its bootstrap checkpoint, seed the namespace (only if it is
    new), and start its W&B lineage."""
    tag_run(exp)
    logger = get_run_logger()
    experiment, exists = check_new(exp)
    if exists:
        message = f"{exp} already exists on {experiment.hub.description}: nothing changed"
        logger.warning(message)
        return {"experiment": exp, "created": False, "message": message}
    built = build_bootstrap(
        experiment, source, size, tokenizer, belief_head, belief_head_type, seed
    )
    message = seed_namespace(experiment, Path(built["bootstrap"]))
    run_id = start_lineage(experiment)
    summary = {
        "experiment": exp,
        "created": True,
        "message": message,
        "source": source,
        **built,
        "wandb_run_id": run_id,
        "hub": experiment.hub.description,
    }
    create_markdown_artifact(
        _markdown(summary), key=artifact_key(exp, "created"), description=f"{exp} created"
    )
    logger.info(message)
    return summary


def _markdown(summary: dict[str, Any]) -> str:
    rows = "\n".join(f"| {k} | {v} |" for k, v in summary.items())
    return f"# {summary['experiment']}\n\n| field | value |\n|---|---|\n{rows}\n"
