"""The ladder's pure parts: players, planning (anchors + neighbours, never all pairs), the
results cache keyed by deals, playing a planned block, fitting, merging and the file format."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from zeb_core.evaluation.arena import play_match
from zeb_core.evaluation.elo_ladder import (
    Ladder,
    LadderConfig,
    LadderError,
    LadderPlayer,
    MatchRecord,
    PlannedMatch,
    add_result,
    checkpoint_players,
    covered_deals,
    default_anchors,
    due,
    fit,
    merge,
    new_ladder,
    plan_matches,
    plan_run,
    play_planned,
    wanted_pairs,
    with_players,
    with_rungs,
)
from zeb_core.game.players import HeuristicPlayer, RandomPlayer

CHEAP_ANCHORS = [
    LadderPlayer(name="random", kind="random", anchor=True),
    LadderPlayer(name="heuristic", kind="heuristic", anchor=True),
]


def ladder_with_checkpoints(cycles: list[int], mcts_sims: int | None = None) -> Ladder:
    ladder = new_ladder("exp1")
    for cycle in cycles:
        players = checkpoint_players(cycle, f"c{cycle}.pt", f"{cycle:064x}", "rev", mcts_sims)
        ladder = with_players(ladder, players)
    return ladder


def record(a: str, b: str, a_wins: int, games: int = 10, seed: int = 1, first: int = 0):
    return MatchRecord(
        a=a, b=b, seed=seed, first_deal=first, games=games, a_wins=a_wins, a_margin=0, seconds=0
    )


def test_default_anchors_and_specs() -> None:
    anchors = {p.name: p for p in default_anchors()}
    assert list(anchors) == ["random", "heuristic", "greedy-557k", "greedy-e2839", "eq-n32"]
    assert all(p.anchor for p in anchors.values())
    assert anchors["eq-n32"].spec() == "eq,n=32"
    assert anchors["greedy-557k"].spec("/ref/zeb-557k-1m.pt") == "greedy:/ref/zeb-557k-1m.pt"
    greedy, mcts = checkpoint_players(40, "c40-ab.pt", "ab" * 32, "rev1", mcts_sims=50)
    assert (greedy.name, mcts.name) == ("c40-greedy", "c40-mcts50")
    assert mcts.spec("/cache/c40-ab.pt") == "mcts:/cache/c40-ab.pt,sims=50"


def test_one_checkpoint_per_bucket_of_cycles() -> None:
    ladder = ladder_with_checkpoints([0, 23])
    assert not due(ladder, 5, every=10) and not due(ladder, 29, every=10)
    assert due(ladder, 10, every=10) and due(ladder, 30, every=10)


def test_planning_is_anchors_plus_neighbours_not_all_pairs() -> None:
    ladder = ladder_with_checkpoints([0, 10, 20, 30, 40, 50])
    pairs = wanted_pairs(ladder, neighbours=2)
    anchors = [p.name for p in ladder.players if p.anchor]
    checkpoints = [p.name for p in ladder.players if not p.anchor]
    assert set(itertools.combinations(sorted(anchors), 2)) <= set(pairs)  # anchors meet
    for c in checkpoints:
        assert {tuple(sorted((c, a))) for a in anchors} <= set(pairs)
    among = [p for p in pairs if p[0] in checkpoints and p[1] in checkpoints]
    # unrated: nearest by cycle, so each checkpoint meets the ones next to it, not all 15 pairs
    assert ("c10-greedy", "c20-greedy") in among and ("c0-greedy", "c50-greedy") not in among
    assert len(among) < len(list(itertools.combinations(checkpoints, 2)))
    all_pairs = len(list(itertools.combinations(anchors + checkpoints, 2)))
    assert len(pairs) < all_pairs


def test_neighbours_follow_ratings_once_rated() -> None:
    ladder = ladder_with_checkpoints([0, 10, 20])
    # c0 < c20 < c10, and c10 far above: by cycle c0 and c10 would meet; by rating they do not.
    results = [
        record("c0-greedy", "random", 6),
        record("c20-greedy", "random", 7),
        record("c10-greedy", "random", 10),
        record("c0-greedy", "c20-greedy", 4),
    ]
    rated = fit(ladder.model_copy(update={"matches": results}))
    r = rated.rating_of()
    assert r["c0-greedy"] < r["c20-greedy"] < r["c10-greedy"]
    assert ("c0-greedy", "c10-greedy") in wanted_pairs(ladder, neighbours=1)
    pairs = wanted_pairs(rated, neighbours=1)
    assert ("c0-greedy", "c20-greedy") in pairs and ("c10-greedy", "c20-greedy") in pairs
    assert ("c0-greedy", "c10-greedy") not in pairs


def test_mcts_rungs_join_the_plan() -> None:
    ladder = ladder_with_checkpoints([0], mcts_sims=8)
    pairs = wanted_pairs(ladder, neighbours=1)
    assert ("c0-greedy", "c0-mcts8") in pairs  # the twin at the same cycle is nearest


def test_an_mcts_rung_can_be_added_to_rated_checkpoints_later() -> None:
    ladder = ladder_with_checkpoints([0, 10])
    more = with_rungs(ladder, mcts_sims=8)
    names = [p.name for p in more.players if not p.anchor]
    assert names == ["c0-greedy", "c10-greedy", "c0-mcts8", "c10-mcts8"]
    assert more.player("c0-mcts8").sha256 == ladder.player("c0-greedy").sha256
    assert with_rungs(more, 8) == more and with_rungs(ladder, None) == ladder


def test_a_run_plays_the_newest_checkpoint_first_in_blocks_within_its_budget() -> None:
    ladder = ladder_with_checkpoints([0, 10, 20])
    config = LadderConfig(games=100, neighbours=1, batch_size=32)
    blocks = plan_run(ladder, config, budget_games=250)
    assert sum(b.games for b in blocks) == 250 and max(b.games for b in blocks) == 32
    assert all(b.games % 2 == 0 for b in blocks)
    first_pairs = {(b.a, b.b) for b in blocks[:4]}
    assert all("c20-greedy" in pair for pair in first_pairs)  # the newest checkpoint first
    anchor_pairs = [b for b in plan_run(ladder, config, 10**6) if "-greedy" not in b.a + b.b]
    tail = plan_run(ladder, config, 10**6)[-len(anchor_pairs) :]
    assert tail == anchor_pairs  # the anchors' own pairs last
    # A pair cut by the budget goes on from its next deal in the next run.
    cut = [b for b in blocks if (b.a, b.b) == (blocks[-1].a, blocks[-1].b)]
    deals = sum(b.games // 2 for b in cut)
    for block in blocks:
        ladder = add_result(
            ladder, record(block.a, block.b, 0, block.games, config.seed, block.first_deal)
        )
    (rest,) = [m for m in plan_matches(ladder, config) if (m.a, m.b) == (cut[0].a, cut[0].b)]
    assert rest.first_deal == cut[0].first_deal + deals and rest.games == 100 - 2 * deals
    assert plan_run(ladder, config, 0) == []


def test_cache_plays_only_missing_deals() -> None:
    ladder = new_ladder("exp1", CHEAP_ANCHORS)
    config = LadderConfig(games=20, seed=3)
    assert plan_matches(ladder, config) == [PlannedMatch("heuristic", "random", 3, 0, 20)]
    ladder = add_result(ladder, record("heuristic", "random", 12, games=20, seed=3))
    assert plan_matches(ladder, config) == []
    more = config.model_copy(update={"games": 30})
    assert plan_matches(ladder, more) == [PlannedMatch("heuristic", "random", 3, 10, 10)]
    other_seed = config.model_copy(update={"seed": 4})
    assert plan_matches(ladder, other_seed)[0].first_deal == 0  # other deals: a new match
    again = add_result(ladder, record("heuristic", "random", 0, games=20, seed=3))
    assert again.matches == ladder.matches  # the same key is never counted twice


def test_coverage_counts_only_deals_without_a_gap() -> None:
    blocks = [record("a", "b", 1, games=4, first=0), record("a", "b", 1, games=4, first=5)]
    assert covered_deals(blocks, "a", "b", 1) == 2
    blocks.append(record("a", "b", 1, games=6, first=2))
    assert covered_deals(blocks, "a", "b", 1) == 7


def test_a_planned_block_is_the_arena_on_the_same_deals() -> None:
    """Deals 0.. of a seed are the arena's deals: heuristic vs heuristic splits evenly and the
    points margin cancels, because each deal is played with sides swapped."""
    match = PlannedMatch("heuristic", "random", seed=5, first_deal=0, games=12)
    rec = play_planned(match, HeuristicPlayer(), HeuristicPlayer(), batch_size=8)
    assert rec.games == 12 and rec.a_margin == 0
    ref = play_match(HeuristicPlayer(), HeuristicPlayer(), 12, seed=5)
    assert rec.a_wins == ref.a_wins
    vs_random = play_planned(match, HeuristicPlayer(), RandomPlayer())
    again = play_planned(match, HeuristicPlayer(), RandomPlayer())
    assert vs_random == again.model_copy(update={"seconds": vs_random.seconds})


def test_fit_rates_players_joined_to_random() -> None:
    ladder = ladder_with_checkpoints([0])
    ladder = ladder.model_copy(
        update={"matches": [record("c0-greedy", "random", 8), record("heuristic", "random", 5)]}
    )
    rated = fit(ladder)
    names = [r.player for r in rated.ratings]
    assert names[0] == "c0-greedy" and "eq-n32" not in names  # eq has not played: unrated
    assert rated.rating_of()["random"] == 0.0
    assert all(r.lo <= r.rating <= r.hi for r in rated.ratings)


def test_merge_unions_results_and_rejects_a_changed_player() -> None:
    base = ladder_with_checkpoints([0])
    mine = add_result(base, record("c0-greedy", "random", 6))
    later = with_players(base, checkpoint_players(10, "c10.pt", "f" * 64, "r", None))
    theirs = add_result(later, record("c10-greedy", "random", 7))
    merged = merge(mine, theirs)
    assert len(merged.matches) == 2 and merged.player("c10-greedy").cycle == 10
    changed = with_players(new_ladder("exp1"), checkpoint_players(0, "c0.pt", "e" * 64, "r", None))
    with pytest.raises(LadderError, match="differs"):
        merge(mine, changed)
    with pytest.raises(LadderError):
        merge(mine, new_ladder("exp2"))


def test_format_round_trip_and_rejects_bad_files() -> None:
    ladder = fit(add_result(ladder_with_checkpoints([0]), record("c0-greedy", "random", 6)))
    data = ladder.to_json()
    assert Ladder.from_json(data, "x") == ladder
    raw = json.loads(data)
    assert raw["format"] == "zeb-ladder-1"
    for bad in (
        {**raw, "format": "zeb-ladder-2"},
        {**raw, "surprise": 1},
        {**raw, "matches": [{**raw["matches"][0], "games": 7}]},
    ):
        with pytest.raises(LadderError, match="not a valid zeb-ladder-1"):
            Ladder.from_json(json.dumps(bad).encode(), "EXP-ladder.json")
    assert np.isfinite([r.rating for r in ladder.ratings]).all()
