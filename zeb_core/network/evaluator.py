"""A ZebModel run on numpy observations, batched: what the search and the players call."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from zeb_core.game.tokenizer import Observation
from zeb_core.network.checkpoint import load_checkpoint, resolve_device
from zeb_core.network.model import ZebModel


class ModelEvaluator:
    """Runs a ZebModel on numpy observations: (policy logits [B, 7], value [B]) as numpy."""

    def __init__(self, model: ZebModel, device: str | torch.device = "auto", max_batch: int = 512):
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.max_batch = max_batch  # larger chunks spill the CPU caches and get slower per eval

    @torch.inference_mode()
    def evaluate(self, obs: Observation) -> tuple[np.ndarray, np.ndarray]:
        logits, values = [], []
        for tokens, mask in self._chunks(obs):
            p, v, _ = self.model(tokens, mask, belief=False)
            logits.append(p.float().cpu())
            values.append(v.float().cpu())
        return torch.cat(logits).numpy(), torch.cat(values).numpy()

    @torch.inference_mode()
    def belief_tilt(self, obs: Observation) -> np.ndarray | None:
        """[B, 28, 3] log-weights for the sampler's deals (`ZebModel.learned_belief`), or None."""
        if self.model.belief_queries is None or self.model.belief_queries.prior is None:
            return None
        parts = [self.model.learned_belief(t, m).float().cpu() for t, m in self._chunks(obs)]
        return torch.cat(parts).numpy()

    def _chunks(self, obs: Observation) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(tokens, token_mask) on the device, `max_batch` rows at a time."""
        tokens = torch.from_numpy(obs.tokens).to(self.device)
        mask = torch.from_numpy(obs.token_mask).to(self.device)
        for i in range(0, tokens.shape[0], self.max_batch):
            yield tokens[i : i + self.max_batch], mask[i : i + self.max_batch]


def load_evaluator(path: str, device: str = "auto") -> ModelEvaluator:
    return ModelEvaluator(load_checkpoint(path).build_model(), device)
