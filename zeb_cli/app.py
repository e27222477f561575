"""The `zeb` command line: thin wrappers over zeb_core and infra.

Errors a user can cause (a bad spec, a missing checkpoint) print one line and exit with code 2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from zeb_cli.demo import demo_command
from zeb_cli.errors import err, fail
from zeb_cli.fleet import fleet_app
from zeb_cli.flow_commands import create_command, learn_command, rollback_command, verify_command
from zeb_cli.hub import hub_app
from zeb_cli.ladder import ladder_command
from zeb_cli.learner import learner_command
from zeb_cli.solve import solve_command
from zeb_cli.worker import worker_app

app = typer.Typer(
    help="zeb: train and evaluate Texas 42 agents by self-play.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
checkpoint_app = typer.Typer(
    help="Create, export and inspect model checkpoints.", no_args_is_help=True
)
app.add_typer(checkpoint_app, name="checkpoint")
app.add_typer(hub_app, name="hub")
app.add_typer(fleet_app, name="fleet")
app.add_typer(worker_app, name="worker")
app.command("create")(create_command)
app.command("learn")(learn_command)
app.command("rollback")(rollback_command)
app.command("verify")(verify_command)
app.command("learner")(learner_command)
app.command("demo")(demo_command)
app.command("solve")(solve_command)
app.command("ladder")(ladder_command)


def _split_matchup(players: list[str]) -> tuple[str, str]:
    names = [p for p in players if p.lower() != "vs"]
    if len(names) != 2:
        raise fail("give exactly two players, for example: zeb eval greedy:model.pt vs random")
    return names[0], names[1]


@app.command("eval")
def eval_command(
    players: list[str] = typer.Argument(
        ...,
        metavar="A vs B",
        help="Two player specs KIND[:PATH][,KEY=VALUE...]: random, heuristic, greedy:CKPT, "
        "mcts:CKPT,sims=50, eq:n=32.",
    ),
    games: int = typer.Option(1000, "--games", "-n", help="Games to play (even: each deal twice)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of the deals and of the players."),
    batch_size: int = typer.Option(2048, help="Games played at once (both sides of each deal)."),
    device: str = typer.Option("auto", help="auto (CUDA when present), cpu or cuda."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Play A against B on shared deals with sides swapped; report A's win rate."""
    from zeb_core.evaluation.arena import play_match
    from zeb_core.evaluation.player_specs import PlayerSpecError, build_player
    from zeb_core.network.checkpoint import CheckpointError

    spec_a, spec_b = _split_matchup(players)
    if games < 2 or games % 2:
        raise fail(f"--games must be an even number >= 2 (got {games})")
    try:
        a, b = build_player(spec_a, device), build_player(spec_b, device)
    except (PlayerSpecError, CheckpointError) as exc:
        raise fail(str(exc)) from None
    with err.status(f"playing {games} games...") as status:

        def progress(done: int, total: int) -> None:
            status.update(f"played {done}/{total} games")

        result = play_match(a, b, games, seed=seed, batch_size=batch_size, progress=progress)
    if as_json:
        print(json.dumps(result.to_json_dict()))
        return
    table = Table(title=f"{result.a} vs {result.b}")
    for column in ("games", "A wins", "A win rate", "95% CI", "A margin", "games/s"):
        table.add_column(column, justify="right")
    lo, hi = result.a_win_rate_ci95
    table.add_row(
        str(result.games),
        str(result.a_wins),
        f"{result.a_win_rate:.1%}",
        f"{lo:.1%} - {hi:.1%}",
        f"{result.a_margin:+.2f}",
        f"{result.games_per_s:.1f}",
    )
    Console().print(table)


@checkpoint_app.command("init")
def checkpoint_init(
    output: Path = typer.Option(..., "--output", "-o", help="Where to write the checkpoint."),
    size: str = typer.Option("medium", help="Model preset: small, medium (557k) or large."),
    belief_head: bool = typer.Option(False, "--belief/--no-belief", help="Add the belief head."),
    tokenizer: str = typer.Option("v1", help="Observation tokenizer (only v1)."),
    seed: int = typer.Option(0, help="Seed of the random weights."),
) -> None:
    """Write a checkpoint with random weights for a preset."""
    from zeb_core.network.checkpoint import init_checkpoint, save_checkpoint

    try:
        ckpt = init_checkpoint(size, belief_head=belief_head, seed=seed, tokenizer=tokenizer)
    except ValueError as exc:
        raise fail(str(exc)) from None
    print(save_checkpoint(ckpt, output))


@checkpoint_app.command("export")
def checkpoint_export(
    source: Path = typer.Argument(..., help="A training checkpoint (zeb's or the original's)."),
    output: Path = typer.Argument(..., help="Where to write the model-only checkpoint."),
    source_weights_name: str = typer.Option(None, help="Record where the weights came from."),
) -> None:
    """Strip optimizer and training state from a checkpoint (for warm starts)."""
    from zeb_core.network.checkpoint import CheckpointError, export_checkpoint

    try:
        print(export_checkpoint(source, output, source_weights_name))
    except CheckpointError as exc:
        raise fail(str(exc)) from None


@checkpoint_app.command("info")
def checkpoint_info(
    path: Path = typer.Argument(..., help="A checkpoint file."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Validate a checkpoint and describe it."""
    from zeb_core.network.checkpoint import CheckpointError, load_checkpoint
    from zeb_core.network.model import count_parameters

    try:
        ckpt = load_checkpoint(path)
        params = count_parameters(ckpt.build_model())
    except CheckpointError as exc:
        raise fail(str(exc)) from None
    info = {
        "path": str(path),
        "zeb_format": ckpt.zeb_format,
        "model_config": ckpt.config.to_checkpoint_dict(),
        "parameters": params,
        "epoch": ckpt.epoch,
        "total_games": ckpt.total_games,
        "source_weights_name": ckpt.source_weights_name,
        "training_state": sorted(ckpt.extra or {}),
    }
    if as_json:
        print(json.dumps(info))
        return
    for key, value in info.items():
        Console().print(f"[bold]{key}[/bold]: {value}", highlight=False)


def main() -> None:  # pragma: no cover - console entry point
    app(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
