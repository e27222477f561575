"""The strength ladder of an experiment: where it is stored, which checkpoints it rates, and one
update (take a checkpoint, plan, play what is missing, fit, store, log).

Storage: `EXP-ladder.json` in the hub's weights repo, next to the trio, written in one commit.
It then lives wherever the experiment lives (local folder or Hugging Face), any machine can read
or extend it, and a reader sees a whole file or the previous one. A save first merges the copy
on the hub (results are immutable and keyed, so a concurrent update loses nothing) and refits.

Local cache (`$ZEB_HOME/cache/ladder/EXP/`): `ladder.json`, the results journal, rewritten
atomically after every match, so a killed update replays nothing it finished; and
`checkpoints/c<cycle>-<sha>.pt`, the bytes of every rated checkpoint. LocalHub keeps a pinned
revision for only 64 later commits, so a checkpoint rated today must still be playable against
next month's; Hugging Face keeps every revision, so another machine refetches by revision (and
checks the sha256).

Checkpoints: one per bucket of `every` cycles, the first one seen
(`zeb_core.evaluation.elo_ladder.due`). An update looks at the revision that last wrote `EXP.pt`
(or the one it is given, for example by a weights-published event), reads the trio's `cycle` there
and adds that checkpoint if its bucket has none yet. The hub protocol cannot list past revisions,
so a ladder updated after every publish sees every bucket; one updated rarely rates what it finds.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from infra.experiment import Experiment, sha256_file
from infra.hub.base import HubError, HubNotFoundError
from infra.ladder_anchor_cache import anchor_cache_file, remember, with_cached_results
from infra.ladder_report import log_ratings
from infra.tracking import Tracker
from zeb_core.atomic_files import atomic_open, atomic_write_bytes
from zeb_core.evaluation.elo_ladder import (
    Ladder,
    LadderConfig,
    LadderError,
    LadderPlayer,
    PlannedMatch,
    add_result,
    checkpoint_players,
    default_anchors,
    due,
    fit,
    merge,
    new_ladder,
    plan_matches,
    plan_run,
    play_planned,
    with_players,
    with_rungs,
)
from zeb_core.evaluation.player_specs import build_player
from zeb_core.game.players import Player

log = logging.getLogger("zeb.ladder")
Progress = Callable[[str], None]
# An automatic update plays this many games per CPU core at most (about a minute of greedy games,
# a few of E[Q] n=32 on a laptop core); the rest waits for the next update.
GAMES_PER_CORE = 100


def ladder_cache_root(home: Path) -> Path:
    """The default parent of every experiment's ladder cache: inside zeb's home folder."""
    return home / "cache" / "ladder"


class CheckpointUnavailable(LadderError):
    """A rated checkpoint is neither in the local cache nor readable from the hub any more."""


@dataclass(frozen=True)
class LadderSetup:
    """Where an update finds things: the experiment, local folders, and what to play."""

    experiment: Experiment
    config: LadderConfig = LadderConfig()
    cache_dir: Path = Path(".zeb/cache/ladder")  # parent of the per-experiment cache
    reference_dir: Path | None = None  # holds the anchors' reference checkpoints
    anchors: list[LadderPlayer] = field(default_factory=default_anchors)  # for a new ladder
    device: str = "cpu"

    @property
    def folder(self) -> Path:
        return self.cache_dir.expanduser() / self.experiment.name


@dataclass(frozen=True)
class UpdateReport:
    added: list[str]  # players taken from the experiment in this update
    played: list[PlannedMatch]
    skipped: list[str]  # matches not played, and why
    revision: str | None  # of the ladder's commit (None: nothing was stored)
    missing: int = 0  # games left for later updates (the run's budget was spent)


# -- storage --------------------------------------------------------------------------------------


def ladder_path(experiment: Experiment) -> str:
    return f"{experiment.name}-ladder.json"


def read_ladder(experiment: Experiment, revision: str | None = None) -> Ladder | None:
    """The stored ladder (None before the first update); a bad file raises LadderError."""
    path = ladder_path(experiment)
    try:
        data = experiment.hub.read("weights", path, revision)
    except HubNotFoundError:
        return None
    ladder = Ladder.from_json(data, path)
    if ladder.experiment != experiment.name:
        raise LadderError(f"{path} belongs to experiment {ladder.experiment!r}")
    return ladder


def store_ladder(setup: LadderSetup, ladder: Ladder) -> tuple[Ladder, str | None]:
    """Merge with the hub's copy, refit, and commit `EXP-ladder.json` (one commit)."""
    on_hub = read_ladder(setup.experiment)
    merged = ladder if on_hub is None else merge(on_hub, ladder)
    merged = fit(merged).model_copy(update={"updated_at": datetime.now(UTC)})
    message = f"{setup.experiment.name}: ladder, {len(merged.matches)} matches"
    puts = {ladder_path(setup.experiment): merged.to_json()}
    revision = setup.experiment.hub.commit("weights", puts, message=message)
    _write_journal(setup, merged)
    return merged, revision


def open_ladder(setup: LadderSetup) -> Ladder:
    """The hub's ladder joined with the local journal (results of an update that was killed)."""
    ladder = read_ladder(setup.experiment) or new_ladder(setup.experiment.name, setup.anchors)
    journal = _read_journal(setup)
    if journal is not None:
        try:
            ladder = fit(merge(ladder, journal))
        except LadderError as err:  # e.g. a recreated experiment: its old journal is not ours
            log.warning("%s: ignoring the local ladder journal: %s", setup.experiment.name, err)
    return with_cached_results(ladder, _anchor_cache(setup, ladder))


def _anchor_cache(setup: LadderSetup, ladder: Ladder) -> Path:
    anchors = [p for p in ladder.players if p.anchor]
    return anchor_cache_file(setup.cache_dir, anchors, setup.reference_dir)


def _journal_file(setup: LadderSetup) -> Path:
    return setup.folder / "ladder.json"


def _read_journal(setup: LadderSetup) -> Ladder | None:
    path = _journal_file(setup)
    if not path.is_file():
        return None
    try:
        journal = Ladder.from_json(path.read_bytes(), str(path))
    except LadderError as err:
        log.warning("%s", err)
        return None
    return journal if journal.experiment == setup.experiment.name else None


def _write_journal(setup: LadderSetup, ladder: Ladder) -> None:
    atomic_write_bytes(_journal_file(setup), ladder.to_json())


# -- checkpoints ----------------------------------------------------------------------------------


def take_checkpoint(
    setup: LadderSetup, ladder: Ladder, revision: str | None = None
) -> tuple[Ladder, list[LadderPlayer]]:
    """Add the checkpoint at `revision` (default: the latest weights) if its bucket is empty,
    and the MCTS rung of every checkpoint if `mcts_sims` asks for one; return the new players."""
    taken = with_rungs(_take_if_due(setup, ladder, revision), setup.config.mcts_sims)
    return taken, _added(ladder, taken)


def _take_if_due(setup: LadderSetup, ladder: Ladder, revision: str | None) -> Ladder:
    exp = setup.experiment
    revision = revision or exp.weights_revision()
    if revision is None:
        return ladder
    state = exp.read_state(revision)
    if not due(ladder, state.cycle, setup.config.every):
        return ladder
    snapshot = exp.pull_weights(revision)
    log.info("%s: rating the checkpoint of cycle %d (%s)", exp.name, state.cycle, revision)
    return _add_checkpoint(setup, ladder, snapshot.checkpoint_path, state.cycle, revision)


def take_checkpoint_file(
    setup: LadderSetup, ladder: Ladder, path: Path, cycle: int
) -> tuple[Ladder, list[LadderPlayer]]:
    """Add a kept copy of the experiment's weights (a run's snapshot, say) as the checkpoint of
    `cycle`, whatever its bucket: the caller chose it. The hub cannot list past revisions, so
    this is how a run's history joins the ladder after the fact. No revision backs the file:
    only a machine whose cache holds its bytes can play it (others skip its matches)."""
    if not path.is_file():
        raise LadderError(f"checkpoint file {path} not found")
    taken = with_rungs(_add_checkpoint(setup, ladder, path, cycle, None), setup.config.mcts_sims)
    return taken, _added(ladder, taken)


def _added(before: Ladder, after: Ladder) -> list[LadderPlayer]:
    known = {p.name for p in before.players}
    return [p for p in after.players if p.name not in known]


def _add_checkpoint(
    setup: LadderSetup, ladder: Ladder, source: Path, cycle: int, revision: str | None
) -> Ladder:
    """Cache the checkpoint's bytes under its cycle and sha256, and add its greedy player."""
    sha = sha256_file(source)
    file_name = f"c{cycle}-{sha[:12]}.pt"
    players = checkpoint_players(cycle, file_name, sha, revision, None)
    known = {p.name: p.sha256 for p in ladder.players}
    if known.get(players[0].name, sha) != sha:
        raise LadderError(f"cycle {cycle} is already on the ladder with other weights")
    _cache_copy(source, setup.folder / "checkpoints" / file_name)
    return with_players(ladder, players)


def checkpoint_path(setup: LadderSetup, player: LadderPlayer) -> Path | None:
    """The local file of a player's checkpoint (fetched again from the hub if the cache lost it)."""
    if player.checkpoint is None:
        return None
    if player.anchor:
        if setup.reference_dir is None:
            raise CheckpointUnavailable(f"{player.name}: no reference folder given")
        path = setup.reference_dir / player.checkpoint
        if not path.is_file():
            raise CheckpointUnavailable(f"{player.name}: reference checkpoint {path} is missing")
        return path
    path = setup.folder / "checkpoints" / player.checkpoint
    if not path.is_file():
        _refetch(setup, player, path)
    return path


def _refetch(setup: LadderSetup, player: LadderPlayer, path: Path) -> None:
    exp = setup.experiment
    if player.revision is None:
        raise CheckpointUnavailable(
            f"{player.name}: rated from a local file that this machine's cache lacks"
        )
    try:
        source = exp.hub.download("weights", exp.checkpoint_file, player.revision)
    except HubError as err:
        raise CheckpointUnavailable(
            f"{player.name}: not in the local cache and not on the hub any more ({err})"
        ) from None
    if sha256_file(source) != player.sha256:
        raise CheckpointUnavailable(f"{player.name}: the hub's bytes differ from those rated")
    _cache_copy(source, path)


def _cache_copy(source: Path, target: Path) -> None:
    if target.is_file():
        return
    with open(source, "rb") as src, atomic_open(target) as dst:
        shutil.copyfileobj(src, dst)


# -- playing --------------------------------------------------------------------------------------


class PlayerPool:
    """Builds each ladder player once per update (a model is loaded once, not per match)."""

    def __init__(self, setup: LadderSetup) -> None:
        self.setup = setup
        self._built: dict[str, Player] = {}

    def get(self, player: LadderPlayer) -> Player:
        if player.name not in self._built:
            path = checkpoint_path(self.setup, player)
            spec = player.spec(None if path is None else str(path))
            self._built[player.name] = build_player(spec, self.setup.device)
        return self._built[player.name]


def play_one(setup: LadderSetup, pool: PlayerPool, ladder: Ladder, match: PlannedMatch) -> Ladder:
    """Play one planned match and journal the result (CheckpointUnavailable: nothing played)."""
    a, b = pool.get(ladder.player(match.a)), pool.get(ladder.player(match.b))
    record = play_planned(match, a, b, setup.config.batch_size)
    ladder = add_result(ladder, record)
    _write_journal(setup, ladder)
    remember(ladder, record, _anchor_cache(setup, ladder))
    return ladder


def play_missing(
    setup: LadderSetup,
    ladder: Ladder,
    max_rounds: int = 3,
    progress: Progress | None = None,
    play: Callable[[LadderSetup, PlayerPool, Ladder, PlannedMatch], Ladder] | None = None,
) -> tuple[Ladder, list[PlannedMatch], list[str]]:
    """Plan, play and refit until nothing is missing or the run's game budget is spent
    (neighbours move as ratings settle). `play` plays one block (default `play_one`; the
    evaluate flow passes its task)."""
    play = play or play_one
    pool, played, skipped, unavailable = PlayerPool(setup), [], [], set()
    left = games_budget(setup.config)
    for _ in range(max_rounds):
        plan = [
            m
            for m in plan_run(ladder, setup.config, left)
            if m.a not in unavailable and m.b not in unavailable
        ]
        if not plan:
            break
        for i, match in enumerate(plan):
            if progress is not None:
                progress(f"block {i + 1}/{len(plan)}: {match.a} vs {match.b}, {match.games} games")
            try:
                ladder = play(setup, pool, ladder, match)
                played.append(match)
                left -= match.games
            except CheckpointUnavailable as err:
                unavailable.update(_unavailable_side(setup, ladder, match))
                skipped.append(f"{match.a} vs {match.b}: {err}")
                log.warning("%s", err)
        ladder = fit(ladder)
    return ladder, played, skipped


def games_budget(config: LadderConfig) -> int:
    """Games one update may play: the config's, else GAMES_PER_CORE on each core here."""
    return config.games_per_run or GAMES_PER_CORE * (os.cpu_count() or 1)


def games_missing(ladder: Ladder, config: LadderConfig) -> int:
    """Games still to play for every wanted pair to reach `config.games`."""
    return sum(m.games for m in plan_matches(ladder, config))


def _unavailable_side(setup: LadderSetup, ladder: Ladder, match: PlannedMatch) -> set[str]:
    names = set()
    for name in (match.a, match.b):
        try:
            checkpoint_path(setup, ladder.player(name))
        except CheckpointUnavailable:
            names.add(name)
    return names


def update_ladder(
    setup: LadderSetup,
    revision: str | None = None,
    tracker: Tracker | None = None,
    progress: Progress | None = None,
) -> tuple[Ladder, UpdateReport]:
    """One update: take the checkpoint if due, play what is missing, fit, store, log."""
    ladder = open_ladder(setup)
    ladder, added = take_checkpoint(setup, ladder, revision)
    ladder, played, skipped = play_missing(setup, ladder, progress=progress)
    stored_revision = None
    if _news(ladder, read_ladder(setup.experiment)):
        ladder, stored_revision = store_ladder(setup, ladder)
    if tracker is not None:
        step = setup.experiment.read_state().cycle
        log_ratings(tracker, ladder, [p.name for p in added], step)
    missing = games_missing(ladder, setup.config)
    report = UpdateReport([p.name for p in added], played, skipped, stored_revision, missing)
    return ladder, report


def _news(ladder: Ladder, on_hub: Ladder | None) -> bool:
    """Does `ladder` hold players or results that the hub's copy lacks?"""
    if on_hub is None:
        return True
    players = {p.name for p in on_hub.players}
    results = {m.key for m in on_hub.matches}
    return any(p.name not in players for p in ladder.players) or any(
        m.key not in results for m in ladder.matches
    )
