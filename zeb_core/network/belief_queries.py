"""zeb's belief head (`BeliefQueries`): which of the mover's three other seats holds each domino,
read by one learned query per domino from an encoder layer of the head's own, optionally on top of
the rules' prior (`HoldingPrior`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zeb_core.game.rules import HAND_SIZE, N_DOMINOES
from zeb_core.network.encoder_layer import encoder_layer
from zeb_core.network.holding_prior import OTHER_SEATS, HoldingPrior

# How a query's vector becomes its 3 logits. "mlp": a Linear-GELU-Linear on the raw vector (what a
# file without the key has). "normed": LayerNorm first, and a linear path beside the MLP. In two
# 20-minute learning benchmarks every GELU unit of the raw MLP went negative for every input by
# 2,000-8,000 learner steps (the attended vector grew from norm 2 to 36, pre-activations -5 to -35)
# and the learned correction became one constant; a normalized input bounds the pre-activations
# and the linear path keeps a gradient even if the units die.
BELIEF_READOUTS = ("mlp", "normed")


class BeliefQueries(nn.Module):
    """zeb's belief head: its own encoder layer over the token embeddings, read by 28 learned
    domino queries (one per domino, attending over the tokens) and a small MLP to 3 seats.

    Why not the original's head: its MLP reads the trunk's mean-pooled vector, and trained beside
    policy and value it learned next to nothing (held-out cross-entropy 1.095 vs ln 3 = 1.0986
    after 8,500 steps; 1.073 with belief as the only loss). What the posterior knows (who has
    played in this trick, which seat failed to follow which suit) is a relation between plays
    that the policy and value do not ask the trunk to keep; a layer of its own can keep it, and
    a query per domino can pick out the plays that matter to that domino.

    `constrained` (belief_head_type "constrained"): the logits are the rules' prior
    (`HoldingPrior`: hand sizes and voids) plus what the queries learn, and each query is told
    which seats may hold its domino and how many dominoes each seat holds. Counting plays per
    seat and matching followers to their trick's lead is what one attention layer learned
    slowest (20 minutes of the learning benchmark: 0.90 vs the posterior's 0.58 in the last
    trick); the rules give it exactly, so the layer learns only what they do not say.
    """

    def __init__(
        self,
        embed_dim: int,
        n_heads: int,
        ff_dim: int,
        dropout: float,
        constrained: bool = False,
        readout: str = "mlp",
    ) -> None:
        super().__init__()
        if readout not in BELIEF_READOUTS:
            raise ValueError(f"unknown belief readout {readout!r} ({', '.join(BELIEF_READOUTS)})")
        E = embed_dim
        self.encoder = nn.TransformerEncoderLayer(
            E, n_heads, ff_dim, dropout=dropout, batch_first=True, norm_first=True
        )
        self.queries = nn.Parameter(torch.randn(N_DOMINOES, E) * 0.02)
        self.norm = nn.LayerNorm(E)
        self.attn = nn.MultiheadAttention(E, n_heads, batch_first=True)
        self.out = nn.Sequential(nn.Linear(E, E), nn.GELU(), nn.Linear(E, OTHER_SEATS))
        normed = readout == "normed"
        self.read_norm = nn.LayerNorm(E) if normed else None
        self.read_linear = nn.Linear(E, OTHER_SEATS) if normed else None
        self.prior = HoldingPrior() if constrained else None
        if constrained:
            self.allowed_embed = nn.Embedding(2**OTHER_SEATS, E)  # which seats may hold it
            self.capacity_embed = nn.Embedding(OTHER_SEATS * (HAND_SIZE + 1), E)  # (seat, size)
            for table in (self.allowed_embed, self.capacity_embed):
                nn.init.normal_(table.weight, std=0.02)  # the scale of the queries they add to

    def forward(
        self,
        embedded: torch.Tensor,
        keep: torch.Tensor,
        attn_mask: torch.Tensor | None,
        tokens: torch.Tensor,
        token_mask: torch.Tensor,
    ) -> torch.Tensor:
        """embedded [B, L, E], keep [B, L] bool; tokens [B, 36, 8], token_mask [B, 36] as given
        -> logits [B, 28, 3]."""
        x = self.norm(encoder_layer(self.encoder, embedded, attn_mask))
        queries = self.queries.expand(x.shape[0], -1, -1)  # [B, 28, E]
        if self.prior is None:
            return self._read(queries, x, keep)
        capacity, allowed, prior = self.prior(tokens, token_mask)
        bits = torch.tensor([1, 2, 4], device=allowed.device)
        seat_rows = torch.arange(OTHER_SEATS, device=allowed.device) * (HAND_SIZE + 1)
        sizes = self.capacity_embed(seat_rows + capacity).sum(dim=1)  # [B, E]
        queries = queries + self.allowed_embed((allowed.long() * bits).sum(-1)) + sizes[:, None]
        return prior + self._read(queries, x, keep)

    def _read(self, queries: torch.Tensor, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        read = self._attend(queries, x, keep) + queries
        if self.read_norm is None:
            return self.out(read)
        read = self.read_norm(read)
        return self.out(read) + self.read_linear(read)

    def _attend(self, queries: torch.Tensor, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """`self.attn(queries, x, x, key_padding_mask=~keep)` with the same weights, written out:
        the module's own call builds and merges masks and checks its fast paths on every step.
        A constrained step (small preset, batch 64, 1 CPU thread) went from 45.1 to 42.8 ms
        (`bench/learner.py --size small --heads`); the outputs are equal."""
        attn = self.attn
        B, Q, E = queries.shape
        L, H = x.shape[1], attn.num_heads
        w, b = attn.in_proj_weight, attn.in_proj_bias
        q = F.linear(queries, w[:E], b[:E]).view(B, Q, H, E // H).transpose(1, 2)
        kv = F.linear(x, w[E:], b[E:]).view(B, L, 2, H, E // H).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, kv[0], kv[1], attn_mask=keep[:, None, None, :])
        return attn.out_proj(a.transpose(1, 2).reshape(B, Q, E))
