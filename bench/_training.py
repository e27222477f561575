"""Shared bits of the learner benchmarks: a replay of synthetic examples and a trainer built
the way the learner builds one, or the way the original did (padded forward, one chunk)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from zeb_core.data.replay import ReplayBuffer, ReplayConfig
from zeb_core.data.shards import synthetic_examples
from zeb_core.data.train import TrainConfig, Trainer
from zeb_core.network.model import ZebModel, preset_config


def synthetic_replay(selfplay: int, eval_aux: int, rng: np.random.Generator) -> ReplayBuffer:
    """A full replay of synthetic examples with real token-count spread."""
    buffer = ReplayBuffer(ReplayConfig(selfplay_capacity=selfplay, eval_aux_capacity=eval_aux))
    buffer.selfplay.add(synthetic_examples(selfplay, rng))
    buffer.eval_aux.add(synthetic_examples(eval_aux, rng))
    return buffer


def make_trainer(
    size: str,
    belief: bool,
    dropout: float,
    padded: bool,
    device: str | torch.device,
    belief_head_type: str = "constrained",
) -> Trainer:
    """zeb's step (packed forward, the learner's defaults) or, padded, the original's."""
    torch.manual_seed(0)
    config = preset_config(size, belief_head=belief, belief_head_type=belief_head_type)
    config = replace(config, dropout=dropout)
    model = ZebModel.from_config(config)
    if padded:  # the original's step: padded forward, one chunk
        return Trainer(model, TrainConfig(length_buckets=1), device, forward=model.forward_padded)
    return Trainer(model, device=device)  # zeb's defaults (packed forward, 2 length buckets)
