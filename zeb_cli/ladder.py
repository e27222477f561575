"""`zeb ladder EXP`: the strength ladder of an experiment (Elo, random = 0, 95% intervals).

    zeb ladder EXP                      the stored ratings (a table; --json for scripts)
    zeb ladder EXP --update             rate the latest checkpoint if its bucket of --every
                                        cycles has none, play the matches still missing, store
    zeb ladder EXP --plot ladder.png    rating against cycle

Hub and tracking settings come from the environment (`infra.settings`); the anchors' reference
checkpoints from --reference-dir (or ZEB_REFERENCE_DIR). Errors print one line, exit code 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from infra.ladder_store import LadderSetup, UpdateReport, ladder_cache_root
from infra.settings import Settings
from zeb_cli.errors import err, fail
from zeb_cli.model_options import ModelGroup, OptionError, build_model, model_options
from zeb_cli.process_setup import setup_process
from zeb_core.evaluation.elo_ladder import Ladder, LadderConfig

DEFAULT_REFERENCE_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference"


@model_options(config=ModelGroup(LadderConfig, panel="Ladder"))
def ladder_command(
    experiment: Annotated[str, typer.Argument(help="Experiment name (the hub namespace).")],
    update: Annotated[
        bool, typer.Option("--update", help="Take a checkpoint if due, play what is missing.")
    ] = False,
    revision: Annotated[
        str | None, typer.Option(help="Weights revision to rate (default: the latest).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of rating against cycle.")] = None,
    reference_dir: Annotated[
        Path, typer.Option(envvar="ZEB_REFERENCE_DIR", help="Folder of the reference checkpoints.")
    ] = DEFAULT_REFERENCE_DIR,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Local ladder cache (default $ZEB_HOME/cache/ladder).")
    ] = None,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
    wandb: Annotated[
        bool, typer.Option("--wandb/--no-wandb", help="Log new ratings to the experiment's run.")
    ] = True,
    config: dict | None = None,
) -> None:
    """Show (or --update) the Elo ladder of an experiment's checkpoints against fixed anchors."""
    from infra.experiment import Experiment, ExperimentError
    from infra.hub.base import HubError
    from infra.ladder_report import plot_ladder
    from infra.ladder_store import read_ladder
    from zeb_core.evaluation.elo_ladder import LadderError, new_ladder
    from zeb_core.evaluation.player_specs import PlayerSpecError
    from zeb_core.network.checkpoint import CheckpointError

    settings, hub = setup_process()
    try:
        exp = Experiment(hub, experiment)
        ladder_config = build_model(LadderConfig, config or {})
    except (ExperimentError, OptionError) as exc:
        raise fail(str(exc)) from None
    cache = cache_dir or ladder_cache_root(settings.home)
    setup = LadderSetup(exp, ladder_config, cache, reference_dir, device=device)
    report = None
    try:
        if not exp.exists():
            raise fail(f"experiment {experiment} not found on {hub.description}")
        if update:
            ladder, report = _update(setup, settings, wandb, revision)
        else:
            ladder = read_ladder(exp) or new_ladder(exp.name)
        if plot is not None:
            plot_ladder(ladder, plot)
    except (HubError, LadderError, CheckpointError, PlayerSpecError) as exc:
        raise fail(str(exc)) from None
    except ImportError as exc:
        raise fail(f"--plot needs matplotlib ({exc})") from None
    data = ladder_dict(ladder)
    if report is not None:
        data["update"] = {
            "added": report.added,
            "played": [f"{m.a} vs {m.b} ({m.games} games)" for m in report.played],
            "skipped": report.skipped,
            "revision": report.revision,
            "games_missing": report.missing,
        }
    if as_json:
        print(json.dumps(data))
        return
    _print_table(data)


def _update(
    setup: LadderSetup, settings: Settings, wandb: bool, revision: str | None
) -> tuple[Ladder, UpdateReport]:
    from infra.ladder_store import update_ladder
    from infra.tracking import open_run

    tracker = None
    if wandb:
        tracker = open_run(
            setup.experiment,
            mode=settings.wandb_mode,
            project=settings.wandb_project,
            job_type="ladder",
            wandb_dir=settings.home,
        )
    try:
        with err.status("updating the ladder...") as status:
            return update_ladder(setup, revision, tracker, progress=status.update)
    finally:
        if tracker is not None:
            tracker.finish()


def ladder_dict(ladder: Ladder) -> dict[str, Any]:
    """The ladder as `--json` prints it: players by rating (unrated last)."""
    ratings = {r.player: r for r in ladder.ratings}
    games: dict[str, int] = {}
    for m in ladder.matches:
        games[m.a] = games.get(m.a, 0) + m.games
        games[m.b] = games.get(m.b, 0) + m.games
    rows = []
    for p in ladder.players:
        r = ratings.get(p.name)
        rows.append(
            {
                "player": p.name,
                "kind": p.kind,
                "anchor": p.anchor,
                "cycle": p.cycle,
                "rating": None if r is None else round(r.rating, 1),
                "ci95": None if r is None else [round(r.lo, 1), round(r.hi, 1)],
                "games": games.get(p.name, 0),
            }
        )
    rows.sort(key=lambda row: (row["rating"] is None, -(row["rating"] or 0.0)))
    return {
        "experiment": ladder.experiment,
        "anchor": ladder.anchor,
        "anchor_rating": 0.0,
        "interval": ladder.interval,
        "updated_at": ladder.updated_at.isoformat() if ladder.updated_at else None,
        "matches": len(ladder.matches),
        "players": rows,
    }


def _print_table(data: dict[str, Any]) -> None:
    title = f"{data['experiment']} ladder: Elo, {data['anchor']} = 0"
    table = Table(title=title, caption=f"95% intervals ({data['interval']})")
    for column in ("player", "cycle", "rating", "95% interval", "games"):
        table.add_column(column, justify="left" if column == "player" else "right")
    for row in data["players"]:
        rated = row["rating"] is not None
        table.add_row(
            row["player"] + (" (anchor)" if row["anchor"] else ""),
            "-" if row["cycle"] is None else str(row["cycle"]),
            f"{row['rating']:+.0f}" if rated else "-",
            f"{row['ci95'][0]:+.0f} .. {row['ci95'][1]:+.0f}" if rated else "-",
            str(row["games"]),
        )
    console = Console()
    console.print(table)
    update = data.get("update", {})
    for line in update.get("skipped", []):
        console.print(f"skipped: {line}", highlight=False)
    if update.get("games_missing"):
        console.print(
            f"{update['games_missing']} games left for the next update (--games-per-run)",
            highlight=False,
        )
