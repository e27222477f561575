"""Bradley-Terry ratings on the Elo scale, fitted to pairwise win counts, with 95% intervals.

P(i beats j) = 1 / (1 + 10^((r_j - r_i) / 400)). Every game is a win or a loss: the arena gives a
21-21 tie to team 1 and each deal is played with sides swapped, so ties need no special case.

- Anchor: one player's rating is fixed (random = 0 on the ladder); the others are relative to it,
  and only players joined to the anchor by played games are rated at all.
- Regularization: every pair that met gets `prior_games` virtual games, half won by each side.
  That keeps a clean sweep finite (400-0 reads as about +1160 Elo instead of infinity) and moves a
  400-game result by under 1 Elo when the sides are close.
- Intervals (`interval`): "hessian" (default) takes the covariance of the maximum-likelihood fit
  from the inverse of the information matrix: deterministic, one fit, and honest in the all-wins
  case (the interval opens wide, because the likelihood is flat there). "bootstrap" resamples the
  games of every pair (binomially, from its observed rate) and refits `bootstrap_samples` times,
  seeded; it is asymmetric where the fit is, but a clean sweep resamples to itself and so looks
  falsely certain. With hundreds of games per pair the two agree to a few Elo.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

ELO_PER_NAT = 400 / math.log(10)  # Elo points per unit of natural log-odds
Interval = Literal["hessian", "bootstrap"]


@dataclass(frozen=True)
class PairResult:
    """`a_wins` of `games` games between a and b went to a (the rest to b)."""

    a: str
    b: str
    a_wins: int
    games: int


@dataclass(frozen=True)
class EloConfig:
    anchor: str = "random"  # the player whose rating is fixed
    anchor_rating: float = 0.0  # its rating
    prior_games: float = 1.0  # virtual games per pair that met, half won by each side
    interval: Interval = "hessian"  # how the 95% intervals are computed (see the module doc)
    bootstrap_samples: int = 400  # refits for interval="bootstrap"
    seed: int = 0  # of the bootstrap resampling
    z: float = 1.959964  # two-sided 95% normal quantile


@dataclass(frozen=True)
class Rating:
    player: str
    rating: float
    lo: float  # 95% interval
    hi: float
    games: int  # real games played (no virtual ones)


def expected_score(rating_diff: float) -> float:
    """P(win) of a player rated `rating_diff` above its opponent."""
    return 1 / (1 + 10 ** (-rating_diff / 400))


def fit_elo(results: Iterable[PairResult], config: EloConfig = EloConfig()) -> dict[str, Rating]:
    """Ratings of the anchor and every player connected to it through played games."""
    players, wins = _win_matrix(results)
    if config.anchor not in players:
        return {}
    keep = _component(wins + wins.T, players.index(config.anchor))
    players = [players[i] for i in keep]
    wins = wins[np.ix_(keep, keep)]
    anchor = players.index(config.anchor)
    theta, cov = _fit(wins, anchor, config.prior_games)
    lo, hi = _intervals(wins, anchor, theta, cov, config)
    games = (wins + wins.T).sum(axis=1)
    base = config.anchor_rating
    return {
        name: Rating(
            player=name,
            rating=base + ELO_PER_NAT * theta[i],
            lo=base + ELO_PER_NAT * lo[i],
            hi=base + ELO_PER_NAT * hi[i],
            games=int(games[i]),
        )
        for i, name in enumerate(players)
    }


def _win_matrix(results: Iterable[PairResult]) -> tuple[list[str], np.ndarray]:
    """Players (sorted) and wins[i, j] = games i won against j."""
    results = list(results)
    players = sorted({r.a for r in results} | {r.b for r in results})
    index = {name: i for i, name in enumerate(players)}
    wins = np.zeros((len(players), len(players)))
    for r in results:
        if r.a == r.b or not 0 <= r.a_wins <= r.games:
            raise ValueError(f"bad pair result {r}")
        wins[index[r.a], index[r.b]] += r.a_wins
        wins[index[r.b], index[r.a]] += r.games - r.a_wins
    return players, wins


def _component(games: np.ndarray, start: int) -> list[int]:
    """Indices reachable from `start` through pairs that played (sorted)."""
    seen, frontier = {start}, [start]
    while frontier:
        i = frontier.pop()
        for j in np.flatnonzero(games[i] > 0):
            if int(j) not in seen:
                seen.add(int(j))
                frontier.append(int(j))
    return sorted(seen)


def _fit(
    wins: np.ndarray, anchor: int, prior_games: float, start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Maximum a-posteriori log-strengths (anchor at 0) and their covariance (anchor row 0).

    Newton's method on the concave log-likelihood, halving a step until it improves.
    """
    met = (wins + wins.T) > 0
    w = wins + met * prior_games / 2  # virtual wins of i over j
    n = w + w.T
    free = np.arange(len(wins)) != anchor
    theta = np.zeros(len(wins)) if start is None else start.copy()
    for _ in range(100):
        grad, info = _gradient_and_information(w, n, theta)
        step = np.zeros_like(theta)
        step[free] = np.linalg.solve(info[np.ix_(free, free)], grad[free])
        old, scale = _log_likelihood(w, theta), 1.0
        while _log_likelihood(w, theta + scale * step) < old - 1e-12 and scale > 1e-6:
            scale /= 2
        theta = theta + scale * step
        if np.abs(scale * step).max(initial=0.0) < 1e-10:
            break
    _, info = _gradient_and_information(w, n, theta)
    cov = np.zeros_like(info)
    cov[np.ix_(free, free)] = np.linalg.inv(info[np.ix_(free, free)])
    return theta, cov


def _gradient_and_information(
    w: np.ndarray, n: np.ndarray, theta: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    p = 1 / (1 + np.exp(theta[None, :] - theta[:, None]))  # p[i, j] = P(i beats j)
    grad = (w - n * p).sum(axis=1)
    pair_info = n * p * (1 - p)
    info = np.diag(pair_info.sum(axis=1)) - pair_info
    return grad, info


def _log_likelihood(w: np.ndarray, theta: np.ndarray) -> float:
    diff = theta[:, None] - theta[None, :]
    return float(-(w * np.logaddexp(0.0, -diff)).sum())


def _intervals(
    wins: np.ndarray, anchor: int, theta: np.ndarray, cov: np.ndarray, config: EloConfig
) -> tuple[np.ndarray, np.ndarray]:
    if config.interval == "hessian":
        half = config.z * np.sqrt(np.maximum(np.diag(cov), 0.0))
        return theta - half, theta + half
    if config.interval != "bootstrap":
        raise ValueError(f"unknown interval method {config.interval!r}")
    rng = np.random.default_rng(config.seed)
    games = np.triu(wins + wins.T)  # each pair once, i < j
    rate = np.divide(np.triu(wins), games, out=np.zeros_like(games), where=games > 0)
    samples = np.empty((config.bootstrap_samples, len(theta)))
    for s in range(config.bootstrap_samples):
        upper = rng.binomial(games.astype(np.int64), rate).astype(float)
        resampled = upper + (games - upper).T  # wins[j, i] = games - wins[i, j]
        samples[s], _ = _fit(resampled, anchor, config.prior_games, start=theta)
    tail = 100 * (1 - _normal_cdf(config.z))
    return np.percentile(samples, tail, axis=0), np.percentile(samples, 100 - tail, axis=0)


def _normal_cdf(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))
