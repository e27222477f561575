"""The exact oracle: a perfect-information alpha-beta solver of the rest of a hand, and the E[Q]
player that samples deals consistent with what it has seen, solves each and plays the best
average.

May import: numpy, numba and `zeb_core.game`. It sits beside the search, not on it: the search
takes exact leaf values from it, never the other way round.
"""
