"""Evaluation on top of everything: player specs and the players they build (greedy, MCTS,
E[Q], rule players), the arena (shared deals, sides swapped), Elo, and the Elo ladder.

May import: every other part of `zeb_core`.
"""
