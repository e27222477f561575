"""`zeb hub …`: look at what the hub holds (mounted by `zeb_cli.app` as `zeb hub`).

    zeb hub ls            experiments in the weights repo, with their progress
    zeb hub ls EXP        EXP's trio (step, revision, size) and its example shards per source

Add `--json` for machine-readable output. Settings come from the environment (`infra.settings`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from infra.experiment import Experiment, ExperimentError, ExperimentView, list_experiments
from infra.hub.base import Hub, HubError
from infra.settings import SettingsError, load_settings, make_hub
from zeb_cli.errors import fail

hub_app = typer.Typer(
    help="Inspect the hub: experiments, their weights and their example shards.",
    no_args_is_help=True,
)


@hub_app.callback()
def _group() -> None:
    """Inspect the hub (settings from ZEB_HUB, ZEB_HUB_DIR, ZEB_HF_*; see infra.settings)."""
    # A callback keeps `ls` a subcommand even while it is the only one.


def _hub() -> Hub:
    try:
        return make_hub(load_settings())
    except SettingsError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None


@hub_app.command("ls")
def ls(
    experiment: Annotated[
        str | None, typer.Argument(help="An experiment name; omit it to list experiments.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """List experiments, or one experiment's weights and example shards."""
    hub = _hub()
    try:
        if experiment is None:
            rows = [_summary(Experiment(hub, name)) for name in list_experiments(hub)]
            _print_experiments(hub, rows, as_json)
        else:
            view = Experiment(hub, experiment).inspect()
            if view.state is None and not view.trio and not view.examples:
                raise HubError(f"experiment {experiment} not found on {hub.description}")
            _print_view(hub, view, as_json)
    except (HubError, ExperimentError) as err:
        raise fail(err, code=1) from None


def _summary(exp: Experiment) -> dict[str, Any]:
    view = exp.inspect()
    state = view.state
    return {
        "experiment": exp.name,
        "cycle": state.cycle if state else None,
        "step": state.step if state else None,
        "total_games": state.total_games if state else None,
        "wandb_run_id": state.wandb_run_id if state else None,
        "eval_aux": state.controls.eval_aux_enabled if state else None,
        "shards": sum(len(v) for v in view.examples.values()),
    }


def _print_experiments(hub: Hub, rows: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"hub": hub.description, "experiments": rows}, indent=2))
        return
    table = Table(title=f"experiments on {hub.description}")
    for column in ("experiment", "cycle", "step", "games", "W&B run", "eval-aux", "shards"):
        table.add_column(column, justify="left" if column == "experiment" else "right")
    for row in rows:
        values = [row[k] for k in row]
        table.add_row(*("-" if v is None else str(v) for v in values))
    Console().print(table)


def _view_dict(hub: Hub, view: ExperimentView) -> dict[str, Any]:
    step = view.state.step if view.state else None
    return {
        "experiment": view.name,
        "hub": hub.description,
        "state": view.state.model_dump(mode="json") if view.state else None,
        "weights": [
            {"path": f.path, "size": f.size, "revision": f.revision, "step": step}
            for f in view.trio
        ],
        "examples": {
            source: {
                "count": len(files),
                "bytes": sum(f.size for f in files),
                "shards": [{"name": f.name, "size": f.size} for f in files],
            }
            for source, files in sorted(view.examples.items())
        },
    }


def _print_view(hub: Hub, view: ExperimentView, as_json: bool) -> None:
    data = _view_dict(hub, view)
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    console = Console()
    weights = Table(title=f"{view.name} weights on {hub.description}")
    for column in ("file", "step", "revision", "size"):
        weights.add_column(column, justify="left" if column == "file" else "right")
    for f in data["weights"]:
        step = "-" if f["step"] is None else str(f["step"])
        weights.add_row(f["path"], step, (f["revision"] or "-")[:12], _size(f["size"]))
    console.print(weights)
    examples = Table(title=f"{view.name} example shards")
    for column in ("source", "shards", "size"):
        examples.add_column(column, justify="left" if column == "source" else "right")
    for source, info in data["examples"].items():
        examples.add_row(source, str(info["count"]), _size(info["bytes"]))
    console.print(examples)


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    value = n / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"
