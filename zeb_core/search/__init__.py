"""The search: batched determinized MCTS (`mcts.search`) over preallocated trees, Gumbel roots,
what a search is asked and answers (`config`), and the move it then plays (`move_selection`).

May import: numpy, numba, `zeb_core.game`, `zeb_core.network` and `zeb_core.oracle` (exact
leaves and solved roots).
"""
