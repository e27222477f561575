"""Arena: player A against player B on shared deals, sides swapped, batched across games.

Each deal is played twice, once with A as team 0 (seats 0 and 2) and once as team 1, so luck of
the deal cancels. Deal `i` of a match with seed `s` is drawn from its own generator `[s, i]`, so
the first games of a long match are the games of a short one. A game is won by the team with more
of the 42 points; a 21-21 tie counts for team 1, as the original counted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from zeb_core.game.engine import GameState, concat_states, new_games, step
from zeb_core.game.players import Player


@dataclass(frozen=True)
class MatchResult:
    a: str
    b: str
    games: int
    a_wins: int
    a_win_rate: float
    a_win_rate_ci95: tuple[float, float]
    a_margin: float  # mean of (A's points - B's points) per game
    games_per_s: float
    seconds: float
    seed: int

    def to_json_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["a_win_rate_ci95"] = list(self.a_win_rate_ci95)
        return out


def wilson_interval(wins: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a binomial proportion (sane at 0 and n wins)."""
    if n == 0:
        return (0.0, 1.0)
    p = wins / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, center - half), min(1.0, center + half))


def deal_games(seed: int, first: int, count: int) -> GameState:
    """Deals `first .. first+count-1` of a match (each from its own generator)."""
    states = [
        new_games(np.random.default_rng([seed, i]), 1, "bid") for i in range(first, first + count)
    ]
    return concat_states(states)


def play_to_end(
    state: GameState,
    a_team: np.ndarray,
    a: Player,
    b: Player,
    a_rng: np.random.Generator,
    b_rng: np.random.Generator,
) -> GameState:
    """Play every game of the batch out; A moves for seats of team `a_team[g]` in game g."""
    while not state.done.all():
        live = ~state.done
        a_turn = live & (state.to_move % 2 == a_team)
        b_turn = live & ~a_turn
        actions = np.zeros(state.batch_size, dtype=np.int64)
        if a_turn.any():
            actions[a_turn] = a.act(state.take(a_turn), a_rng)
        if b_turn.any():
            actions[b_turn] = b.act(state.take(b_turn), b_rng)
        state = step(state, actions)
    return state


def play_match(
    a: Player,
    b: Player,
    n_games: int,
    seed: int = 0,
    batch_size: int = 2048,
    progress: Callable[[int, int], None] | None = None,
) -> MatchResult:
    """Play `n_games` (even: n/2 deals, each with sides swapped); `progress(done, total)`."""
    if n_games < 2 or n_games % 2:
        raise ValueError(f"n_games must be an even number >= 2 (got {n_games})")
    deals_per_chunk = max(1, batch_size // 2)
    n_deals = n_games // 2
    a_wins, margin_sum = 0, 0
    start = time.perf_counter()
    for chunk, first in enumerate(range(0, n_deals, deals_per_chunk)):
        deals = deal_games(seed, first, min(deals_per_chunk, n_deals - first))
        both = concat_states([deals, deals])
        a_team = np.repeat([0, 1], deals.batch_size)
        final = play_to_end(
            both,
            a_team,
            a,
            b,
            np.random.default_rng([seed, 1, chunk]),
            np.random.default_rng([seed, 2, chunk]),
        )
        rows = np.arange(final.batch_size)
        a_points = final.team_points[rows, a_team].astype(np.int64)
        winner_team = np.where(final.team_points[:, 0] > final.team_points[:, 1], 0, 1)
        a_wins += int((winner_team == a_team).sum())
        margin_sum += int((2 * a_points - 42).sum())
        if progress is not None:
            progress(2 * (first + deals.batch_size), n_games)
    seconds = time.perf_counter() - start
    return MatchResult(
        a=getattr(a, "name", "a"),
        b=getattr(b, "name", "b"),
        games=n_games,
        a_wins=a_wins,
        a_win_rate=a_wins / n_games,
        a_win_rate_ci95=wilson_interval(a_wins, n_games),
        a_margin=margin_sum / n_games,
        games_per_s=n_games / seconds if seconds > 0 else float("inf"),
        seconds=seconds,
        seed=seed,
    )
