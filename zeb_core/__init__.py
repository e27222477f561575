"""zeb's pure, batched core. No Prefect, W&B, Hugging Face or Vast client here, and no reading of
the environment: the adapters in `infra/` and the flows bring the outside world.

Subpackages, each importing only those listed before it may (checked by
tests/core/test_layers.py):

    game        rules, batched state, tokenizer, positions, hidden-hand sampling, rule players
    network     the transformer (policy, value, belief head), its evaluator, checkpoints
    oracle      the exact solver and the E[Q] player built on it             (imports game)
    search      determinized MCTS and Gumbel roots           (game, network, oracle: exact leaves)
    data        self-play, recorded games, example shards, replay, the train step
    evaluation  player specs, model and MCTS players, arena, Elo, the Elo ladder (everything)

`atomic_files` (atomic writes) imports nothing of zeb's and serves every layer.
"""

__version__ = "0.1.0"
