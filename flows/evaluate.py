"""Flow `evaluate`: the strength ladder of an experiment, updated when new weights land.

    hold the experiment's ladder slot (a global concurrency limit of 1: runs never pile up)
    take the checkpoint at `revision` (default: the latest) if its bucket of `every` cycles
    has none; plan the matches still missing (anchors and nearest neighbours, never all
    pairs), play them one task each; refit; store `EXP-ladder.json`; log the new ratings to
    the experiment's W&B run; show the ladder as a table artifact

The `evaluate/ladder` deployment runs it on the learn flow's `zeb.ladder.due` events (every 5th
weights publish) and by hand. A run plays at most `games_per_run` games (sized to the machine by
default), the newest checkpoint's matches first, in small blocks with a progress artifact, so it
stops within seconds when cancelled; results are cached per (player, player, deals), and the
anchors' own games once per machine, so a rerun or a restart plays only what is new.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from prefect import flow, get_client, get_run_logger
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.concurrency.sync import concurrency
from pydantic import Field

from flows.common import (
    artifact_key,
    documented,
    io_task,
    open_experiment,
    run_name,
    settings,
    step_task,
    tag_run,
)
from infra.ladder_report import log_ratings
from infra.ladder_store import (
    LadderSetup,
    PlayerPool,
    games_budget,
    games_missing,
    ladder_cache_root,
    open_ladder,
    play_missing,
    play_one,
    store_ladder,
    take_checkpoint,
)
from infra.tracking import open_run
from zeb_core.evaluation.elo_ladder import Ladder, LadderConfig, PlannedMatch


@io_task
def ladder_limit(exp: str) -> str:
    name = f"zeb-ladder-{exp}"
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit=1)
    return name


@io_task
def open_and_take(setup: LadderSetup, revision: str | None) -> tuple[Ladder, list[str]]:
    ladder, added = take_checkpoint(setup, open_ladder(setup), revision)
    return ladder, [p.name for p in added]


@step_task(name="play-match")
def play_match_task(
    setup: LadderSetup, pool: PlayerPool, ladder: Ladder, match: PlannedMatch
) -> Ladder:
    get_run_logger().info("%s vs %s: %d games", match.a, match.b, match.games)
    return play_one(setup, pool, ladder, match)


class ProgressPlay:
    """Plays each block as a task and moves the run's progress artifact: games played out of
    the run's budget. Blocks are small (`LadderConfig.batch_size` games), so a cancel waits for
    one block's current move at most."""

    def __init__(self, exp: str, budget: int) -> None:
        self.budget, self.played = max(budget, 1), 0
        self.artifact = create_progress_artifact(
            0.0,
            key=artifact_key(exp, "ladder-progress"),
            description=f"{exp}: games of this ladder run out of its budget of {budget}",
        )

    def __call__(
        self, setup: LadderSetup, pool: PlayerPool, ladder: Ladder, match: PlannedMatch
    ) -> Ladder:
        ladder = play_match_task(setup, pool, ladder, match)
        self.played += match.games
        update_progress_artifact(self.artifact, min(100.0, 100.0 * self.played / self.budget))
        return ladder


@io_task
def store(setup: LadderSetup, ladder: Ladder) -> tuple[Ladder, str | None]:
    return store_ladder(setup, ladder)


@io_task
def log_to_wandb(exp: str, ladder: Ladder, added: list[str]) -> None:
    config = settings()
    experiment = open_experiment(exp)
    tracker = open_run(
        experiment,
        mode=config.wandb_mode,
        project=config.wandb_project,
        job_type="evaluate",
        wandb_dir=config.home,
    )
    try:
        log_ratings(tracker, ladder, added, experiment.read_state().cycle)
    finally:
        tracker.finish()


@flow(name="evaluate", flow_run_name=run_name("ladder"), log_prints=True)
@documented
def evaluate_experiment(
    exp: Annotated[str, Field(description="Experiment name: the namespace on the hub")],
    revision: Annotated[
        str | None, Field(description="Weights revision to rate (default: the latest)")
    ] = None,
    ladder: Annotated[LadderConfig, Field(description="Games per pair, neighbours, every")] = (
        LadderConfig()
    ),
    reference_dir: Annotated[
        Path | None, Field(description="Folder of the anchors' reference checkpoints")
    ] = None,
    device: Annotated[str, Field(description="auto (CUDA when present), cpu or cuda")] = "auto",
) -> list[dict[str, Any]]:
    """Rate the experiment's newest checkpoint on the ladder and show the ratings."""
    tag_run(exp)
    experiment = open_experiment(exp)
    reference = reference_dir or settings().reference_dir
    cache = ladder_cache_root(settings().home)
    setup = LadderSetup(experiment, ladder, cache, reference, device=device)
    with concurrency(ladder_limit(exp), occupy=1, strict=True):
        current, added = open_and_take(setup, revision)
        play = ProgressPlay(exp, games_budget(setup.config))
        current, _, skipped = play_missing(setup, current, play=play)
        for reason in skipped:
            get_run_logger().warning("skipped %s", reason)
        current, stored = store(setup, current)
        if added:
            log_to_wandb(exp, current, added)
    rows = _rows(current)
    create_table_artifact(rows, key=artifact_key(exp, "ladder"), description=_describe(current))
    missing = games_missing(current, setup.config)
    get_run_logger().info(
        "%s: %d players rated (ladder revision %s); %d games left for the next run",
        exp,
        len(rows),
        stored,
        missing,
    )
    return rows


def _rows(ladder: Ladder) -> list[dict[str, Any]]:
    players = {p.name: p for p in ladder.players}
    return [
        {
            "player": r.player,
            "rating": round(r.rating),
            "95% interval": f"{r.lo:.0f} .. {r.hi:.0f}",
            "games": r.games,
            "cycle": players[r.player].cycle if r.player in players else None,
        }
        for r in sorted(ladder.ratings, key=lambda r: -r.rating)
    ]


def _describe(ladder: Ladder) -> str:
    return f"{ladder.experiment}: Elo with {ladder.anchor} = 0, {len(ladder.matches)} matches"
