"""Losses and the train step (nanoGPT style: the loss is a function, the step a small class).

Per row: policy cross-entropy against the visit distribution over legal slots (illegal logits are
-inf before the log-softmax), value squared error, and belief cross-entropy over the hidden
dominoes (entries with target -1 are ignored; only when the model has a belief head).

Each source (self-play, eval-aux) has its own loss weights. Reported losses are per-source means
(sample-weighted; belief averages over unmasked entries). The total weighs each source's weighted
combination by the source's share of the batch's sample weight (its rows, at weight 1), so the
sampler's `eval_fraction` sets how much eval-aux counts. A term whose weight is 0 is left out of
the graph, so it gives exactly zero gradient (eval-aux policy by default).

Loss weight defaults: eval-aux policy 0, value 1.0, belief 0.5 (the original's stage-1 flags).
Self-play policy 1, value 1, belief 0.5: the belief head is auxiliary and its cross-entropy starts
near ln 3 = 1.1, larger than the other terms, so half weight keeps it from dominating the shared
trunk while matching the eval-aux belief weight.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.profiler import record_function

from zeb_core.data.examples import SOFT_SCALE
from zeb_core.data.replay import TrainBatch
from zeb_core.network.checkpoint import resolve_device
from zeb_core.network.model import ZebModel

TRAINER_STATE_FORMAT = 1
SOURCE_NAMES = ("selfplay", "eval_aux")  # log prefixes; index = TorchBatch.is_eval_aux
Forward = Callable[
    [torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]
]


@dataclass(frozen=True)
class LossWeights:
    policy: float = 1.0
    value: float = 1.0
    belief: float = 0.5


@dataclass(frozen=True)
class SourceWeights:
    selfplay: LossWeights = LossWeights(policy=1.0, value=1.0, belief=0.5)
    eval_aux: LossWeights = LossWeights(policy=0.0, value=1.0, belief=0.5)


@dataclass(frozen=True)
class TrainConfig:
    lr: float = 1e-4  # AdamW learning rate
    weight_decay: float = 0.01  # decoupled (AdamW), so lr * wd = 1e-6 shrink per step
    grad_clip: float = 1.0  # max global gradient norm (0 = no clipping)
    amp: bool = True  # fp16 autocast + GradScaler, on CUDA only (CPU trains in fp32)
    # Forward the batch in this many chunks of rows sorted by token count (same math): the packed
    # forward pads each chunk only to its own longest row. 0 = auto: 2 on CPU (measured ~15% less
    # CPU per step; more chunks gained nothing), 1 on CUDA (kernel launches, not FLOPs, bound).
    length_buckets: int = 0
    loss_weights: SourceWeights = field(default_factory=SourceWeights)
    # Belief target: this share the sampled posterior (what the mover can know), the rest the
    # true holder. Measured: the true holder alone lets a small model memorize deals (held-out
    # cross-entropy rose from 1.10 to 1.47 in 3000 steps on 600 games); the posterior did not.
    belief_soft_mix: float = 1.0
    # The belief head's parameters train at this multiple of lr: they answer to the belief loss
    # alone, and Adam's steps do not grow with a loss weight. Measured on 100k self-play rows,
    # held-out cross-entropy after 180 s: 1.0824 at x1, 1.0765 at x3 (policy and value unhurt).
    belief_lr_scale: float = 1.0


@dataclass(frozen=True)
class TorchBatch:
    tokens: torch.Tensor  # [B, 36, 8] uint8
    token_mask: torch.Tensor  # [B, 36] bool
    legal: torch.Tensor  # [B, 7] bool
    policy: torch.Tensor  # [B, 7] float32
    value: torch.Tensor  # [B] float32
    belief: torch.Tensor  # [B, 28] int64, -1 = ignored
    belief_soft: torch.Tensor  # [B, 28, 3] float32, the sampled posterior (0 where ignored)
    is_eval_aux: torch.Tensor  # [B] bool
    weight: torch.Tensor  # [B] float32

    @classmethod
    def from_batch(cls, batch: TrainBatch, device: torch.device) -> TorchBatch:
        ex = batch.examples

        def put(a: Any) -> torch.Tensor:
            return torch.from_numpy(a).to(device, non_blocking=True)

        return cls(
            tokens=put(ex.tokens),
            token_mask=put(ex.token_mask),
            legal=put(ex.legal),
            policy=put(ex.policy),
            value=put(ex.value),
            belief=put(ex.belief).long(),
            belief_soft=put(ex.belief_soft).float() / SOFT_SCALE,
            is_eval_aux=put(batch.is_eval_aux),
            weight=put(batch.weight),
        )


@dataclass(frozen=True)
class Losses:
    total: torch.Tensor  # scalar with grad
    parts: dict[str, torch.Tensor]  # "selfplay/policy", ..., "eval_aux/belief": detached scalars

    def as_floats(self, grad_norm: torch.Tensor | None = None) -> dict[str, float]:
        names = ["loss/total", *(f"loss/{k}" for k in self.parts)]
        tensors = [self.total.detach(), *self.parts.values()]
        if grad_norm is not None:
            names.append("grad_norm")
            tensors.append(grad_norm.detach())
        values = torch.stack(tensors).float().tolist()  # one device sync for all of them
        return dict(zip(names, values, strict=True))


def row_losses(
    policy_logits: torch.Tensor,  # [B, 7]
    value: torch.Tensor,  # [B]
    belief_logits: torch.Tensor | None,  # [B, 28, 3]
    batch: TorchBatch,
    belief_soft_mix: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Per-row policy CE [B], value SE [B], belief CE summed over entries [B], entry counts [B].

    The belief target of a hidden domino is `belief_soft_mix` of the sampled posterior plus the
    rest on the true holder. The true holder alone is the same for every position of a deal, so a
    network can memorize deals from it; the posterior says only what the mover can know."""
    logits = policy_logits.float().masked_fill(~batch.legal, float("-inf"))
    logp = torch.log_softmax(logits, dim=-1).masked_fill(~batch.legal, 0.0)  # no 0 * -inf = nan
    policy = -(batch.policy * logp).sum(dim=-1)
    value_se = (value.float() - batch.value) ** 2
    counts = (batch.belief >= 0).sum(dim=-1).float()  # [B] hidden dominoes per row
    if belief_logits is None:
        return policy, value_se, None, counts
    hidden = (batch.belief >= 0)[..., None]  # [B, 28, 1]
    true_holder = F.one_hot(batch.belief.clamp(min=0), 3).float() * hidden  # [B, 28, 3]
    target = belief_soft_mix * batch.belief_soft + (1 - belief_soft_mix) * true_holder
    logp = torch.log_softmax(belief_logits.float(), dim=-1)  # [B, 28, 3]
    ce = -(target * logp).sum(dim=-1)  # [B, 28], 0 where ignored (target 0)
    return policy, value_se, ce.sum(dim=-1), counts


def compute_losses(
    policy_logits: torch.Tensor,
    value: torch.Tensor,
    belief_logits: torch.Tensor | None,
    batch: TorchBatch,
    weights: SourceWeights,
    belief_soft_mix: float = 1.0,
) -> Losses:
    policy, value_se, belief, counts = row_losses(
        policy_logits, value, belief_logits, batch, belief_soft_mix
    )
    total_weight = batch.weight.sum().clamp_min(1e-12)
    total = policy.new_zeros(())
    parts: dict[str, torch.Tensor] = {}
    for name, lw, rows in (
        ("selfplay", weights.selfplay, ~batch.is_eval_aux),
        ("eval_aux", weights.eval_aux, batch.is_eval_aux),
    ):
        w = batch.weight * rows  # [B] this source's sample weights, 0 on the other's rows
        w_sum = w.sum()
        terms = {
            "policy": (lw.policy, _mean(policy, w, w_sum)),
            "value": (lw.value, _mean(value_se, w, w_sum)),
        }
        if belief is not None:
            terms["belief"] = (lw.belief, _mean(belief, w, (w * counts).sum()))
        source_loss = policy.new_zeros(())
        for term, (coef, mean) in terms.items():
            parts[f"{name}/{term}"] = mean.detach()
            if coef != 0:  # left out of the graph: exactly zero gradient
                source_loss = source_loss + coef * mean
        total = total + source_loss * (w_sum / total_weight)
    return Losses(total=total, parts=parts)


def _mean(x: torch.Tensor, w: torch.Tensor, denom: torch.Tensor) -> torch.Tensor:
    """sum(w * x) / denom, 0 when the source has no rows in the batch."""
    return (w * x).sum() / denom.clamp_min(1e-12)


BELIEF_GROUP = "belief"  # the optimizer's parameter group of the belief head


def _param_groups(model: torch.nn.Module) -> list[dict[str, Any]]:
    """The trunk, policy and value in one group; the belief head, if any, in its own."""
    named = list(model.named_parameters())
    belief = [p for n, p in named if n.startswith("belief_")]
    groups = [{"name": "trunk", "params": [p for n, p in named if not n.startswith("belief_")]}]
    if belief:
        groups.append({"name": BELIEF_GROUP, "params": belief})
    return groups


def by_length(forward: Forward, buckets: int) -> Forward:
    """`forward` run on `buckets` chunks of rows sorted by token count, outputs in row order."""
    if buckets <= 1:
        return forward

    def run(
        tokens: torch.Tensor, token_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        order = torch.argsort(token_mask.sum(dim=1), stable=True)  # [B] shortest rows first
        outs = [forward(tokens[rows], token_mask[rows]) for rows in order.chunk(buckets)]
        back = torch.argsort(order)  # [B] where each original row landed
        policy, value, belief = (
            None if outs[0][i] is None else torch.cat([o[i] for o in outs])[back] for i in range(3)
        )
        return policy, value, belief

    return run


class Trainer:
    """AdamW + gradient clipping (+ fp16 AMP on CUDA) for a ZebModel.

    `state_dict()` holds the optimizer and grad-scaler state (the model's weights live in the
    checkpoint), so a restarted learner continues with warm Adam moments and the same loss scale;
    lr and weight decay come from the config, so a restart may change them. `loss_weights` may be
    replaced between steps (the learner's live controls).
    """

    def __init__(
        self,
        model: ZebModel,
        config: TrainConfig | None = None,
        device: str | torch.device = "auto",
        forward: Forward | None = None,  # default model.forward; benchmarks pass forward_padded
    ) -> None:
        self.config = config or TrainConfig()
        self.device = resolve_device(device)
        self.model = model.to(self.device)
        buckets = self.config.length_buckets or (2 if self.device.type == "cpu" else 1)
        self.forward = by_length(forward or self.model.forward, buckets)
        self.loss_weights = self.config.loss_weights
        self.use_amp = self.config.amp and self.device.type == "cuda"
        self.optimizer = torch.optim.AdamW(
            _param_groups(self.model),
            lr=self.config.lr,
            weight_decay=self.config.weight_decay,
            fused=self.device.type in ("cpu", "cuda"),  # one kernel, not ~8 ops per tensor
        )
        self.lr_scale = 1.0  # the run's schedule (lr_schedule.py) sets it between steps
        self._set_hyperparameters()
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self.steps = 0

    def step(self, batch: TrainBatch) -> dict[str, float]:
        """One optimizer step; returns the losses (`loss/...`), `grad_norm` and `skipped`."""
        # The phases are labelled for torch.profiler (bench/learner_profile.py); a label costs
        # microseconds when no profiler runs.
        self.model.train()
        with record_function("zeb.to_device"):
            tb = TorchBatch.from_batch(batch, self.device)
        with (
            record_function("zeb.forward"),
            torch.autocast(self.device.type, dtype=torch.float16, enabled=self.use_amp),
        ):
            policy, value, belief = self.forward(tb.tokens, tb.token_mask)
        with record_function("zeb.loss"):
            losses = compute_losses(
                policy, value, belief, tb, self.loss_weights, self.config.belief_soft_mix
            )
        with record_function("zeb.backward"):
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(losses.total).backward()
        with record_function("zeb.clip"):
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
            clip = self.config.grad_clip if self.config.grad_clip > 0 else float("inf")
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        with record_function("zeb.readout"):
            out = losses.as_floats(grad_norm)
        # The scaler skips overflowed fp16 steps itself; in fp32 a non-finite gradient would
        # poison the weights and the Adam moments, so that step is skipped here.
        skip = not self.use_amp and not math.isfinite(out["grad_norm"])
        if not skip:
            with record_function("zeb.optimizer"):
                self.scaler.step(self.optimizer)
                self.scaler.update()
            self.model.weights_changed()  # the fused step bypasses the version counters
        self.steps += 1
        out["skipped"] = float(skip)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": TRAINER_STATE_FORMAT,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "steps": self.steps,
        }

    def set_lr_scale(self, scale: float) -> None:
        """Train from the next step at `scale` × the config's lr (every group alike)."""
        self.lr_scale = scale
        self._set_hyperparameters()

    @property
    def lr(self) -> float:
        """The trunk's learning rate now (the belief head's is belief_lr_scale × this)."""
        return self.config.lr * self.lr_scale

    def _set_hyperparameters(self) -> None:
        """lr and weight decay come from the config (a restart may change them)."""
        for group in self.optimizer.param_groups:
            scale = self.config.belief_lr_scale if group.get("name") == BELIEF_GROUP else 1.0
            group["lr"], group["weight_decay"] = self.lr * scale, self.config.weight_decay

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Raises ValueError when the state does not fit this model's optimizer."""
        if state.get("format") != TRAINER_STATE_FORMAT:
            raise ValueError(f"trainer state format {state.get('format')!r} is not supported")
        self.optimizer.load_state_dict(state["optimizer"])  # moves moments to the params' device
        self._set_hyperparameters()
        # A CPU (disabled) scaler saves {}: then keep the fresh scaler, e.g. CPU -> CUDA restarts.
        if self.use_amp and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.steps = int(state["steps"])
