"""Bradley-Terry Elo: known strengths come back, the anchor holds, intervals shrink with games,
a clean sweep stays finite, and the two interval methods agree."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from zeb_core.evaluation.elo import EloConfig, PairResult, expected_score, fit_elo

TRUE = {"random": 0.0, "heuristic": 60.0, "greedy": 180.0, "eq": 330.0}


def synthetic(games: int, seed: int = 0, truth: dict[str, float] = TRUE) -> list[PairResult]:
    """Every pair plays `games` games; wins drawn from the true ratings."""
    rng = np.random.default_rng(seed)
    return [
        PairResult(a, b, int(rng.binomial(games, expected_score(truth[a] - truth[b]))), games)
        for a, b in itertools.combinations(sorted(truth), 2)
    ]


def test_known_strengths_are_recovered_and_anchored() -> None:
    ratings = fit_elo(synthetic(4000, seed=1))
    assert set(ratings) == set(TRUE)
    anchor = ratings["random"]
    assert (anchor.rating, anchor.lo, anchor.hi) == (0.0, 0.0, 0.0)
    for name, want in TRUE.items():
        r = ratings[name]
        assert abs(r.rating - want) < 15, (name, r)
        assert r.lo - 5 <= want <= r.hi + 5, (name, r)  # inside its interval (give or take)
        assert r.games == 3 * 4000


def test_anchor_rating_shifts_everything() -> None:
    results = synthetic(400)
    plain = fit_elo(results)
    shifted = fit_elo(results, EloConfig(anchor="heuristic", anchor_rating=1600.0))
    assert shifted["heuristic"].rating == 1600.0
    for name in TRUE:
        gap = plain[name].rating - plain["heuristic"].rating
        assert shifted[name].rating - 1600.0 == pytest.approx(gap, abs=1e-6)


def test_intervals_shrink_with_more_games() -> None:
    small, large = fit_elo(synthetic(100)), fit_elo(synthetic(1600))
    for name in ("heuristic", "greedy", "eq"):
        width_small = small[name].hi - small[name].lo
        width_large = large[name].hi - large[name].lo
        assert width_large == pytest.approx(width_small / 4, rel=0.25), name


def test_a_clean_sweep_is_finite_and_on_top_with_a_wide_interval() -> None:
    results = synthetic(200, truth={"random": 0.0, "heuristic": 60.0})
    results += [PairResult("heuristic", "eq", 0, 200), PairResult("eq", "random", 200, 200)]
    ratings = fit_elo(results)
    eq = ratings["eq"]
    assert np.isfinite([eq.rating, eq.lo, eq.hi]).all()
    assert eq.lo > ratings["heuristic"].hi and 600 < eq.rating < 1600
    assert eq.hi - eq.lo > 3 * (ratings["heuristic"].hi - ratings["heuristic"].lo)


def test_players_not_joined_to_the_anchor_are_not_rated() -> None:
    results = synthetic(100) + [PairResult("x", "y", 30, 50)]
    assert set(fit_elo(results)) == set(TRUE)
    assert fit_elo([PairResult("x", "y", 30, 50)]) == {}


def test_bootstrap_is_seeded_and_agrees_with_the_hessian() -> None:
    results = synthetic(400, seed=3)
    config = EloConfig(interval="bootstrap", bootstrap_samples=200, seed=7)
    boot, again = fit_elo(results, config), fit_elo(results, config)
    hessian = fit_elo(results)
    assert boot == again
    for name in ("heuristic", "greedy", "eq"):
        assert boot[name].rating == hessian[name].rating
        width_boot, width_hess = boot[name].hi - boot[name].lo, hessian[name].hi - hessian[name].lo
        assert width_boot == pytest.approx(width_hess, rel=0.25), name


def test_repeated_and_reversed_results_add_up() -> None:
    one = fit_elo([PairResult("random", "eq", 20, 100)])
    split = fit_elo([PairResult("random", "eq", 12, 60), PairResult("eq", "random", 32, 40)])
    assert split["eq"].rating == pytest.approx(one["eq"].rating)
    with pytest.raises(ValueError):
        fit_elo([PairResult("random", "eq", 101, 100)])
