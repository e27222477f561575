"""Training data and its use: self-play games and recorded games as examples, example shards (the
format that crosses processes), the replay buffer, and the losses and train step.

May import: `zeb_core.game`, `zeb_core.network`, `zeb_core.oracle` and `zeb_core.search`.
"""
