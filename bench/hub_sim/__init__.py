"""The pieces of `bench/hub_scale.py` (simulated time, accounting, workers, learner, one mode), one
concept a file; run the bench, not these.
"""
