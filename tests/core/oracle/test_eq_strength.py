"""E[Q] strength in the arena (slow: a few minutes on one core).

The targets (N=32: at least 75% against random, more than 55% against the reference greedy
model) are measured with 1000-game matches (figures in the issue note); these matches are short
enough for CI, so each fails only when its sample shows E[Q] clearly below the target (the
target above the 95% interval) or losing outright. For scale: perfect-information play (the
solver seeing every hand) wins about 84% against random on these deals.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from zeb_core.evaluation.arena import play_match
from zeb_core.evaluation.player_specs import build_player
from zeb_core.game.players import RandomPlayer

pytestmark = pytest.mark.slow


def test_eq_beats_random() -> None:
    result = play_match(build_player("eq:n=32"), RandomPlayer(), n_games=80, seed=11)
    assert result.a_win_rate > 0.6 and result.a_win_rate_ci95[1] >= 0.75, result


def test_eq_beats_the_reference_greedy_model(reference_ckpt: Path) -> None:
    greedy = build_player(f"greedy:{reference_ckpt}", "cpu")
    result = play_match(build_player("eq:n=32"), greedy, n_games=96, seed=12)
    assert result.a_win_rate > 0.5 and result.a_win_rate_ci95[1] > 0.55, result
