"""E[Q] strength in the arena (slow: minutes). The 1000-game figures are in the issue note;
these shorter matches keep CI within a few minutes and fail only on a real regression."""

from __future__ import annotations

from pathlib import Path

import pytest

from zeb_core.arena import play_match
from zeb_core.eq_player import EQPlayer
from zeb_core.player_specs import build_player
from zeb_core.players import RandomPlayer

pytestmark = pytest.mark.slow


def test_eq_beats_random() -> None:
    result = play_match(EQPlayer(n_worlds=32), RandomPlayer(), n_games=64, seed=11)
    assert result.a_win_rate >= 0.75, result


def test_eq_beats_the_reference_greedy_model(reference_ckpt: Path) -> None:
    greedy = build_player(f"greedy:{reference_ckpt}", "cpu")
    result = play_match(EQPlayer(n_worlds=32), greedy, n_games=96, seed=12)
    assert result.a_win_rate > 0.55, result
