"""The network: the transformer over observation tokens (policy, value and the optional belief
head with its rules' prior), the evaluator that runs it on batches of observations, and
checkpoints in the original's format.

May import: torch, numpy and `zeb_core.game`.
"""
