"""Players that use a ZebModel, and the batched evaluator they share."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from zeb_core.checkpoint import load_checkpoint, resolve_device
from zeb_core.engine import GameState
from zeb_core.model import ZebModel
from zeb_core.player_specs import PlayerSpec
from zeb_core.players import first_best
from zeb_core.tokenizer import Observation, observe


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


class GreedyPlayer:
    """Argmax of the policy over legal slots, no search."""

    def __init__(self, evaluator: ModelEvaluator, name: str = "greedy"):
        self.evaluator = evaluator
        self.name = name

    def act(self, state: GameState, rng: np.random.Generator) -> np.ndarray:
        obs = observe(state)
        logits, _ = self.evaluator.evaluate(obs)
        return first_best(logits, obs.legal)


def load_evaluator(path: str, device: str = "auto") -> ModelEvaluator:
    return ModelEvaluator(load_checkpoint(path).build_model(), device)


def build_greedy(spec: PlayerSpec, device: str) -> GreedyPlayer:
    spec.check_options(set())
    return GreedyPlayer(load_evaluator(spec.require_path(), device), name=str(spec))
