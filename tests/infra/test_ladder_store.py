"""The ladder with an experiment on a LocalHub: taking checkpoints, one-commit storage, a restart
that replays nothing, the local checkpoint cache, W&B metrics, the plot and `zeb ladder`.

Cheap players only: random and heuristic anchors, a greedy anchor and checkpoints on tiny
random-init models, 8 games a pair.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
import typer
from typer.testing import CliRunner

import infra.ladder_store as ladder_module
from infra.experiment import Experiment
from infra.hub import HubNotFoundError, LocalHub
from infra.ladder_report import log_ratings, plot_ladder
from infra.ladder_store import (
    LadderSetup,
    open_ladder,
    read_ladder,
    store_ladder,
    take_checkpoint_file,
    update_ladder,
)
from zeb_cli.ladder import ladder_command
from zeb_core.evaluation.elo_ladder import (
    LadderConfig,
    LadderError,
    LadderPlayer,
    MatchRecord,
    add_result,
)
from zeb_core.network.checkpoint import init_checkpoint, save_checkpoint

ANCHORS = [
    LadderPlayer(name="random", kind="random", anchor=True),
    LadderPlayer(name="heuristic", kind="heuristic", anchor=True),
    LadderPlayer(name="greedy-ref", kind="greedy", checkpoint="ref.pt", anchor=True),
]
CONFIG = LadderConfig(games=8, every=10, neighbours=1, batch_size=16)
ANCHOR_PAIRS = 3  # random-heuristic, random-greedy-ref, heuristic-greedy-ref


def publish(exp: Experiment, folder: Path, cycle: int) -> str | None:
    """Publish tiny random weights (seeded by the cycle) as the experiment's checkpoint."""
    ckpt = init_checkpoint("small", seed=cycle)
    path = save_checkpoint(ckpt, folder / f"weights-{cycle}.pt")
    state = exp.read_state().model_copy(update={"cycle": cycle})
    return exp.publish_weights(path, ckpt.config.to_checkpoint_dict(), state)


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models on a shared machine: OpenMP threads would only spin against each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def setup(tmp_path: Path) -> LadderSetup:
    (tmp_path / "ref").mkdir()
    save_checkpoint(init_checkpoint("small", seed=99), tmp_path / "ref" / "ref.pt")
    exp = Experiment(LocalHub(tmp_path / "hub"), "exp1")
    exp.seed(save_checkpoint(init_checkpoint("small", seed=0), tmp_path / "boot.pt"))
    return LadderSetup(exp, CONFIG, tmp_path / "cache", tmp_path / "ref", ANCHORS)


def fresh(setup: LadderSetup, **changes) -> LadderSetup:
    """The same storage seen by a new process: new hub and experiment objects."""
    exp = Experiment(LocalHub(setup.experiment.hub.root), setup.experiment.name)
    values = dict(experiment=exp, config=setup.config, cache_dir=setup.cache_dir)
    values |= dict(reference_dir=setup.reference_dir, anchors=setup.anchors)
    return LadderSetup(**(values | changes))


def test_first_update_rates_the_seed_checkpoint_in_one_commit(setup: LadderSetup) -> None:
    exp = setup.experiment
    weights_rev = exp.weights_revision()
    head = exp.hub.head("weights")
    ladder, report = update_ladder(setup)
    assert report.added == ["c0-greedy"]
    assert len(report.played) == ANCHOR_PAIRS + 3 and report.skipped == []
    assert exp.hub.head("weights") == report.revision != head  # one commit, the ladder's
    assert exp.hub.revision("weights", "exp1-ladder.json") == report.revision
    assert exp.weights_revision() == weights_rev  # the trio is untouched
    assert read_ladder(exp) == ladder
    assert {r.player for r in ladder.ratings} == {p.name for p in ladder.players}
    cached = setup.folder / "checkpoints" / ladder.player("c0-greedy").checkpoint
    assert cached.read_bytes() == exp.pull_weights(weights_rev).checkpoint_path.read_bytes()


def test_a_restart_replays_nothing_and_new_checkpoints_play_only_what_is_new(
    setup: LadderSetup, tmp_path: Path
) -> None:
    first, _ = update_ladder(setup)
    again, report = update_ladder(fresh(setup))
    assert report.played == [] and report.revision is None and again.matches == first.matches
    publish(setup.experiment, tmp_path, 5)  # same bucket of 10 cycles as cycle 0: not rated
    assert update_ladder(fresh(setup))[1].added == []
    publish(setup.experiment, tmp_path, 12)
    ladder, report = update_ladder(fresh(setup))
    assert report.added == ["c12-greedy"]
    pairs = {(m.a, m.b) for m in report.played}
    opponents = {"c0-greedy", "greedy-ref", "heuristic", "random"}  # anchors + one neighbour
    assert pairs == {tuple(sorted(("c12-greedy", name))) for name in opponents}
    assert len(ladder.matches) == len(first.matches) + 4


def test_a_run_within_its_budget_leaves_the_rest_to_the_next(setup: LadderSetup) -> None:
    small = fresh(setup, config=CONFIG.model_copy(update={"games_per_run": 20}))
    ladder, report = update_ladder(small)
    played = sum(m.games for m in report.played)
    assert played == 20 and report.missing == (ANCHOR_PAIRS + 3) * 8 - 20
    assert all("c0-greedy" in (m.a, m.b) for m in report.played[:2])  # the new checkpoint first
    while report.missing:
        ladder, report = update_ladder(fresh(small))
    deals = [(m.a, m.b, m.first_deal, m.games) for m in ladder.matches]
    assert len(set(deals)) == len(deals)  # no deal played twice
    assert {(m.a, m.b) for m in ladder.matches} == {
        (m.a, m.b) for m in update_ladder(setup)[0].matches
    }


def test_anchors_play_each_other_once_per_machine(setup: LadderSetup, tmp_path: Path) -> None:
    update_ladder(setup)
    other = Experiment(LocalHub(tmp_path / "hub2"), "exp2")
    other.seed(save_checkpoint(init_checkpoint("small", seed=3), tmp_path / "boot2.pt"))
    _, report = update_ladder(fresh(setup, experiment=other))  # same cache folder
    pairs = {(m.a, m.b) for m in report.played}
    assert pairs == {tuple(sorted(("c0-greedy", a.name))) for a in ANCHORS}  # no anchor pair
    changed = tmp_path / "ref2"
    changed.mkdir()
    save_checkpoint(init_checkpoint("small", seed=7), changed / "ref.pt")  # other reference file
    third = Experiment(LocalHub(tmp_path / "hub3"), "exp3")
    third.seed(save_checkpoint(init_checkpoint("small", seed=4), tmp_path / "boot3.pt"))
    _, report = update_ladder(fresh(setup, experiment=third, reference_dir=changed))
    assert len(report.played) == ANCHOR_PAIRS + 3  # its anchors differ: nothing shared


def test_mcts_rungs_join_rated_checkpoints(setup: LadderSetup) -> None:
    update_ladder(setup)
    with_mcts = CONFIG.model_copy(update={"mcts_sims": 2, "games": 4})
    ladder, report = update_ladder(fresh(setup, config=with_mcts))
    assert report.added == ["c0-mcts2"]
    assert {(m.a, m.b) for m in report.played if "c0-mcts2" in (m.a, m.b)} == {
        tuple(sorted(("c0-mcts2", name)))
        for name in ("random", "heuristic", "greedy-ref", "c0-greedy")
    }
    assert "c0-mcts2" in {r.player for r in ladder.ratings}


def test_a_killed_update_keeps_the_matches_it_finished(
    setup: LadderSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = ladder_module.play_planned, []

    def dies_on_the_third(match, a, b, batch_size):
        calls.append(match)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(match, a, b, batch_size)

    monkeypatch.setattr(ladder_module, "play_planned", dies_on_the_third)
    with pytest.raises(KeyboardInterrupt):
        update_ladder(setup)
    assert read_ladder(setup.experiment) is None  # nothing stored on the hub yet
    monkeypatch.setattr(ladder_module, "play_planned", real)
    ladder, report = update_ladder(fresh(setup))
    assert len(report.played) == ANCHOR_PAIRS + 3 - 2  # the two finished are not replayed
    assert report.played[0] == calls[2]
    assert len(read_ladder(setup.experiment).matches) == ANCHOR_PAIRS + 3


def test_rated_checkpoints_outlive_hub_revisions(setup: LadderSetup, tmp_path: Path) -> None:
    exp = Experiment(LocalHub(setup.experiment.hub.root, keep_revisions=2), "exp1")
    setup = fresh(setup, experiment=exp)
    seed_revision = exp.weights_revision()
    update_ladder(setup)
    for cycle in (3, 4, 5, 10):
        publish(exp, tmp_path, cycle)
    # The seed's commit still wrote the config at head, so collection keeps it; remove it as a
    # hub that no longer serves that revision would.
    (exp.hub.root / "weights" / "revs" / f"{seed_revision}.json").unlink()
    with pytest.raises(HubNotFoundError):
        exp.pull_weights(seed_revision)
    _, report = update_ladder(setup)
    assert ("c0-greedy", "c10-greedy") in {(m.a, m.b) for m in report.played}  # from the cache
    for cached in (setup.folder / "checkpoints").glob("c0-*"):
        cached.unlink()
    publish(exp, tmp_path, 20)
    two_neighbours = CONFIG.model_copy(update={"neighbours": 2})
    _, report = update_ladder(fresh(setup, experiment=exp, config=two_neighbours))
    assert any("c0-greedy" in line and "not on the hub" in line for line in report.skipped)
    assert all("c0-greedy" not in (m.a, m.b) for m in report.played)


def test_a_lost_cache_file_is_fetched_again_by_revision(setup: LadderSetup, tmp_path: Path):
    first, _ = update_ladder(setup)
    cached = setup.folder / "checkpoints" / first.player("c0-greedy").checkpoint
    rated_bytes = cached.read_bytes()
    cached.unlink()
    publish(setup.experiment, tmp_path, 10)
    _, report = update_ladder(fresh(setup))
    assert ("c0-greedy", "c10-greedy") in {(m.a, m.b) for m in report.played}
    assert cached.read_bytes() == rated_bytes


def test_a_runs_kept_snapshots_join_the_ladder_by_file(setup: LadderSetup, tmp_path: Path):
    snapshots = {
        cycle: save_checkpoint(init_checkpoint("small", seed=cycle), tmp_path / f"s{cycle}.pt")
        for cycle in (3, 7)  # one bucket of 10 cycles: chosen files are rated all the same
    }
    ladder = open_ladder(setup)
    for cycle, path in snapshots.items():
        ladder, added = take_checkpoint_file(setup, ladder, path, cycle)
        assert [p.name for p in added] == [f"c{cycle}-greedy"]
    assert take_checkpoint_file(setup, ladder, snapshots[3], 3)[1] == []  # same bytes: no-op
    with pytest.raises(LadderError, match="cycle 3 is already on the ladder with other"):
        take_checkpoint_file(setup, ladder, snapshots[7], 3)
    with pytest.raises(LadderError, match="not found"):
        take_checkpoint_file(setup, ladder, tmp_path / "missing.pt", 9)
    ladder, played, skipped = ladder_module.play_missing(setup, ladder)
    ladder, _ = store_ladder(setup, ladder)
    assert skipped == [] and read_ladder(setup.experiment) == ladder
    assert {"c3-greedy", "c7-greedy"} <= {r.player for r in ladder.ratings}
    assert ladder.player("c3-greedy").revision is None
    for cached in (setup.folder / "checkpoints").glob("c3-*"):
        cached.unlink()  # no revision to fetch it again by: its matches are skipped, not wrong
    publish(setup.experiment, tmp_path, 20)
    _, report = update_ladder(fresh(setup, config=CONFIG.model_copy(update={"neighbours": 2})))
    assert any("c3-greedy" in line and "local file" in line for line in report.skipped)


def test_concurrent_stores_merge_their_results(setup: LadderSetup) -> None:
    base = open_ladder(setup)
    other_deals = MatchRecord(
        a="heuristic", b="random", seed=1, first_deal=0, games=4, a_wins=3, a_margin=2, seconds=0
    )
    stale = add_result(base, other_deals)  # from a copy read before the update below
    update_ladder(setup)
    merged, _ = store_ladder(fresh(setup), stale)
    assert len(merged.matches) == ANCHOR_PAIRS + 3 + 1
    assert read_ladder(setup.experiment) == merged


def test_a_bad_ladder_file_is_rejected(setup: LadderSetup) -> None:
    setup.experiment.hub.commit("weights", {"exp1-ladder.json": b'{"format": "zeb-ladder-9"}'})
    with pytest.raises(LadderError, match="exp1-ladder.json is not a valid zeb-ladder-1"):
        read_ladder(setup.experiment)


class FakeTracker:
    run_id = "abc"

    def __init__(self) -> None:
        self.logged: list[tuple[dict, int]] = []

    def log(self, metrics, step: int) -> None:
        self.logged.append((dict(metrics), step))

    def finish(self) -> None:
        pass


def test_new_ratings_go_to_the_tracker_and_the_plot(setup: LadderSetup, tmp_path: Path) -> None:
    tracker = FakeTracker()
    ladder, _ = update_ladder(setup, tracker=tracker)
    ((metrics, step),) = tracker.logged
    rating = {r.player: r for r in ladder.ratings}["c0-greedy"]
    assert step == 0 and metrics["ladder/cycle"] == 0.0
    assert metrics["ladder/greedy_elo"] == rating.rating
    assert (metrics["ladder/greedy_elo_lo"], metrics["ladder/greedy_elo_hi"]) == (
        rating.lo,
        rating.hi,
    )
    log_ratings(tracker, ladder, ["random"], step=7)  # anchors have no cycle: nothing logged
    assert len(tracker.logged) == 1
    png = plot_ladder(ladder, tmp_path / "plots" / "ladder.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- the command line ------------------------------------------------------------------------------

runner = CliRunner()
app = typer.Typer()
app.command()(ladder_command)


@pytest.fixture
def cli_env(setup: LadderSetup, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A stored ladder (cheap anchors) and the options that point the CLI at it."""
    store_ladder(setup, open_ladder(setup))
    monkeypatch.setenv("ZEB_HUB_DIR", str(setup.experiment.hub.root))
    monkeypatch.setenv("ZEB_WANDB_MODE", "disabled")
    return ["--reference-dir", str(setup.reference_dir), "--cache-dir", str(setup.cache_dir)]


def test_cli_update_and_json(cli_env: list[str]) -> None:
    result = runner.invoke(app, ["exp1", "--update", "--games", "4", "--json", *cli_env])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["experiment"] == "exp1" and data["anchor"] == "random"
    rows = {row["player"]: row for row in data["players"]}
    assert set(rows) == {"random", "heuristic", "greedy-ref", "c0-greedy"}
    assert rows["random"]["rating"] == 0.0 and rows["c0-greedy"]["games"] == 3 * 4
    assert (
        rows["c0-greedy"]["ci95"][0] <= rows["c0-greedy"]["rating"] <= rows["c0-greedy"]["ci95"][1]
    )
    assert data["update"]["added"] == ["c0-greedy"] and len(data["update"]["played"]) == 6
    table = runner.invoke(app, ["exp1", *cli_env])
    assert table.exit_code == 0 and "c0-greedy" in table.stdout and "random = 0" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "error: experiment nope not found on local:"),
        (["bad name"], "error: invalid experiment name 'bad name'"),
        (["exp1", "--update", "--games", "7"], "error: bad option --games"),
    ],
)
def test_cli_errors_are_one_line(cli_env: list[str], args: list[str], message: str) -> None:
    result = runner.invoke(app, [*args, *cli_env])
    assert result.exit_code == 2
    assert (
        result.stderr.strip().startswith(message) and len(result.stderr.strip().splitlines()) == 1
    )
