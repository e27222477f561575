"""From a search's root statistics to a move: the most visited slot, the prior's softmax over legal
slots, root noise, and the temperature schedule that samples early moves of self-play."""

from __future__ import annotations

import numpy as np

from zeb_core.search.config import MCTSConfig, SearchOutput


def most_visited(visits: np.ndarray, q: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """[B] the most visited legal slot; ties go to the better Q, then the lowest slot."""
    key = np.where(legal, visits + (q + 1) / 3, -np.inf)  # (q + 1) / 3 < 1: only breaks ties
    return np.argmax(key, axis=1).astype(np.int64)


def masked_softmax(logits: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """[B, 7] softmax over legal slots (0 elsewhere); rows without a legal slot stay 0."""
    z = np.where(legal, logits, -np.inf)
    z = z - np.max(z, axis=1, keepdims=True, initial=-1e30, where=legal)
    e = np.where(legal, np.exp(z), 0.0)
    return (e / np.maximum(e.sum(axis=1, keepdims=True), 1e-30)).astype(np.float32)


def dirichlet_noise(legal: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """[B, 7] a Dirichlet(alpha) draw over each row's legal slots (normalized gammas)."""
    g = np.where(legal, rng.gamma(alpha, size=legal.shape), 0.0)
    return (g / np.maximum(g.sum(axis=1, keepdims=True), 1e-30)).astype(np.float32)


def select_actions(
    output: SearchOutput,
    n_played: np.ndarray,
    config: MCTSConfig,
    rng: np.random.Generator | None,
) -> np.ndarray:
    """[B] slots: the search's move, except that a PUCT search samples from visits ** (1 / T)
    while `n_played < temperature_plays` (a Gumbel search explored through its noise already)."""
    actions = output.action.copy()
    explore = (np.asarray(n_played) < config.temperature_plays) & (config.temperature > 0)
    if config.root == "puct" and explore.any():
        assert rng is not None, "sampling with a temperature needs an rng"
        weights = output.visits[explore].astype(np.float64) ** (1.0 / config.temperature)
        cdf = np.cumsum(weights, axis=1)
        u = rng.random((int(explore.sum()), 1)) * cdf[:, -1:]  # scaled: never past the last
        actions[explore] = (cdf <= u).sum(axis=1)
    return actions
