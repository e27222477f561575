"""ZebModel: a small transformer over tokenizer-v1 observations.

Parameter names and shapes match the original system, so its checkpoints load as they are. Heads:
policy logits over the 7 hand slots, a value in [-1, 1] from the observer's team's view, and an
optional belief head (which of the other three relative seats holds each domino).

`forward` computes the same function as the original's padded forward (`forward_padded`) but
first packs each observation's valid tokens to the front and drops the padding columns that no
observation in the batch uses. Attention is permutation-equivariant once the position embedding
is added, so packing changes nothing but the work done: at a fixed decision index every
observation has the same number of valid tokens, so lock-step batches carry no padding at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from zeb_core.game.rules import N_DOMINOES
from zeb_core.game.tokenizer import FEATURE_CARDINALITY, FEATURE_NAMES, N_TOKENS, TOKENIZER_VERSION
from zeb_core.network.belief_queries import BELIEF_READOUTS, BeliefQueries
from zeb_core.network.encoder_layer import encoder_layer

N_SLOTS = 7
BELIEF_SEATS = 3  # relative seats 1 (left), 2 (partner), 3 (right)
BELIEF_HEAD_TYPES = ("pooled", "queries", "constrained")


@dataclass(frozen=True)
class ModelConfig:
    embed_dim: int = 128  # E: token width
    n_heads: int = 4  # attention heads (E must divide evenly)
    n_layers: int = 4  # pre-LayerNorm encoder layers
    ff_dim: int = 256  # feed-forward width
    tokenizer: str = TOKENIZER_VERSION  # only v1 exists
    belief_head: bool = False  # add the [B, 28, 3] belief logits head
    # "pooled": the original's MLP on the mean-pooled vector (what a file without the key has);
    # "queries": zeb's BeliefQueries, which learns (see there); "constrained": the same on top of
    # the rules' prior (hand sizes and voids, `HoldingPrior`). New models get "constrained".
    belief_head_type: str = "pooled"
    # How zeb's heads read a query into logits (`belief_queries.BELIEF_READOUTS`); "mlp" is what a
    # file without the key has, new models get "normed". The original's pooled head ignores it.
    belief_readout: str = "mlp"
    dropout: float = 0.1  # training only; not stored in checkpoints (the original had none)

    def __post_init__(self) -> None:
        if self.embed_dim % 16 or self.embed_dim % self.n_heads:
            raise ValueError("embed_dim must be a multiple of 16 and of n_heads")
        if self.tokenizer != TOKENIZER_VERSION:
            raise ValueError(f"unknown tokenizer {self.tokenizer!r}: zeb knows {TOKENIZER_VERSION}")
        if self.belief_head_type not in BELIEF_HEAD_TYPES:
            choices = ", ".join(BELIEF_HEAD_TYPES)
            raise ValueError(f"unknown belief_head_type {self.belief_head_type!r} ({choices})")
        if self.belief_readout not in BELIEF_READOUTS:
            choices = ", ".join(BELIEF_READOUTS)
            raise ValueError(f"unknown belief_readout {self.belief_readout!r} ({choices})")

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelConfig:
        """Rebuild from a checkpoint's `model_config`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown model_config key(s): {', '.join(unknown)}")
        return cls(**raw)

    def to_checkpoint_dict(self) -> dict[str, Any]:
        """The original's keys plus tokenizer and belief_head (dropout is not a model property),
        and belief_head_type and belief_readout where they are not what a file without them has
        (so the original reads ours, and older zeb files are written back as they were)."""
        out = asdict(self)
        out.pop("dropout")
        if out["belief_head_type"] == "pooled":
            out.pop("belief_head_type")
        if out["belief_readout"] == "mlp":
            out.pop("belief_readout")
        return out


PRESETS: dict[str, ModelConfig] = {
    "small": ModelConfig(embed_dim=64, n_heads=2, n_layers=2, ff_dim=128),
    "medium": ModelConfig(embed_dim=128, n_heads=4, n_layers=4, ff_dim=256),  # 556,970 params
    "large": ModelConfig(embed_dim=256, n_heads=8, n_layers=6, ff_dim=512),
}


def preset_config(
    size: str,
    belief_head: bool = False,
    tokenizer: str = "v1",
    belief_head_type: str = "constrained",
) -> ModelConfig:
    if size not in PRESETS:
        raise ValueError(f"unknown model size {size!r} (choose from {', '.join(PRESETS)})")
    base = PRESETS[size]
    chosen = {"belief_head": belief_head, "belief_head_type": belief_head_type}
    chosen["belief_readout"] = "normed"  # new models: see BELIEF_READOUTS
    return ModelConfig(**{**asdict(base), **chosen, "tokenizer": tokenizer})


class TokenEmbeddings(nn.Module):
    """One embedding per feature, concatenated in feature order, projected to E."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        wide = {"high_pip", "low_pip", "player", "decl", "token_type"}
        for name, card in zip(FEATURE_NAMES, FEATURE_CARDINALITY, strict=True):
            width = embed_dim // 8 if name in wide else embed_dim // 16
            setattr(self, f"{name}_embed", nn.Embedding(card, width))
        self.proj = nn.Linear(sum(self._tables_widths()), embed_dim)
        self._cache_key: tuple | None = None  # see _inference_table
        offsets = torch.tensor([0, *FEATURE_CARDINALITY[:-1]]).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)

    def _tables(self) -> list[torch.Tensor]:
        return [getattr(self, f"{n}_embed").weight for n in FEATURE_NAMES]

    def _tables_widths(self) -> list[int]:
        return [t.shape[1] for t in self._tables()]

    def fused_table(self) -> torch.Tensor:
        """[38, E]: every feature value's contribution after the projection (proj is linear)."""
        blocks, start = [], 0
        for table in self._tables():
            w = self.proj.weight[:, start : start + table.shape[1]]  # [E, width]
            blocks.append(table @ w.T)  # [card, E]
            start += table.shape[1]
        return torch.cat(blocks, dim=0)

    def _inference_table(self) -> torch.Tensor:
        """The fused table, rebuilt only when a weight changed: search calls the model thousands
        of times per move. A change is seen from the parameters' version counters (in-place
        edits, loads) and from `invalidate()`, which whoever steps an optimizer must call: the
        fused AdamW step writes the weights without bumping their versions."""
        key = tuple(p._version for p in self.parameters()) + (self.proj.weight.device,)
        if self._cache_key != key:
            self._cache_table = self.fused_table()
            self._cache_key = key
        return self._cache_table

    def invalidate(self) -> None:
        self._cache_key = None

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, L, 8] integer -> [B, L, E], one gather instead of 8 embeddings + matmul."""
        index = tokens.long() + self.offsets  # [B, L, 8] rows of the fused table
        table = self.fused_table() if torch.is_grad_enabled() else self._inference_table()
        # embedding_bag sums the 8 rows without materializing [B, L, 8, E].
        summed = F.embedding_bag(index.view(-1, index.shape[-1]), table, mode="sum")
        return summed.view(*index.shape[:-1], -1) + self.proj.bias


class ZebModel(nn.Module):
    def __init__(
        self,
        embed_dim: int = 128,
        n_heads: int = 4,
        n_layers: int = 4,
        ff_dim: int = 256,
        tokenizer: str = TOKENIZER_VERSION,
        belief_head: bool = False,
        belief_head_type: str = "pooled",
        belief_readout: str = "mlp",
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.config = ModelConfig(
            embed_dim=embed_dim,
            n_heads=n_heads,
            n_layers=n_layers,
            ff_dim=ff_dim,
            tokenizer=tokenizer,
            belief_head=belief_head,
            belief_head_type=belief_head_type,
            belief_readout=belief_readout,
            dropout=dropout,
        )
        E = embed_dim
        self.embeddings = TokenEmbeddings(E)
        self.pos_embed = nn.Embedding(N_TOKENS, E)
        layer = nn.TransformerEncoderLayer(
            E, n_heads, ff_dim, dropout=dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.policy_proj = nn.Linear(E, 1)
        self.value_head = nn.Sequential(
            nn.Linear(E, E // 2), nn.GELU(), nn.Linear(E // 2, 1), nn.Tanh()
        )
        self.belief_head = (
            nn.Sequential(nn.Linear(E, E), nn.GELU(), nn.Linear(E, N_DOMINOES * BELIEF_SEATS))
            if belief_head and belief_head_type == "pooled"
            else None
        )
        self.belief_queries = (
            BeliefQueries(
                E,
                n_heads,
                ff_dim,
                dropout,
                constrained=belief_head_type == "constrained",
                readout=belief_readout,
            )
            if belief_head and belief_head_type != "pooled"
            else None
        )

    @classmethod
    def from_config(cls, config: ModelConfig) -> ZebModel:
        return cls(**asdict(config))

    def weights_changed(self) -> None:
        """Call after changing weights outside autograd's view (an optimizer step): inference
        caches are rebuilt on the next call."""
        self.embeddings.invalidate()

    def forward(
        self, tokens: torch.Tensor, token_mask: torch.Tensor, belief: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """tokens [B, 36, 8], token_mask [B, 36] bool -> policy [B, 7], value [B], belief
        (None without a belief head, or when `belief` is False: search does not use it)."""
        B = tokens.shape[0]
        token_mask = token_mask.bool()
        lengths = token_mask.sum(dim=1)  # [B]
        L = int(lengths.max())
        # Valid tokens first, in their original order (a stable sort), then the batch's padding.
        order = torch.sort((~token_mask).to(torch.uint8), dim=1, stable=True).indices[:, :L]
        rows = torch.arange(B, device=tokens.device)[:, None]
        x = self.embeddings(tokens[rows, order]) + self.pos_embed.weight[order]  # [B, L, E]
        keep = torch.arange(L, device=tokens.device)[None, :] < lengths[:, None]  # [B, L]
        uniform = bool((lengths == L).all())
        attn_mask = None if uniform else keep[:, None, None, :]  # [B, 1, 1, L], True = attend
        embedded = x
        for layer in self.encoder.layers:
            x = encoder_layer(layer, x, attn_mask)
        # Where did hand tokens 1..7 land? (played slots land in padding: meaningless logits)
        where = torch.argsort(order, dim=1) if L == N_TOKENS else _inverse_positions(order, L)
        hand = x[rows, where[:, 1 : 1 + N_SLOTS].clamp(max=L - 1)]  # [B, 7, E]
        pooled = (x * keep[..., None]).sum(dim=1) / lengths[:, None]  # [B, E]
        policy, value = self._policy_value(hand, pooled)
        if not belief:
            return policy, value, None
        return policy, value, self._belief(pooled, embedded, keep, attn_mask, tokens, token_mask)

    def learned_belief(self, tokens: torch.Tensor, token_mask: torch.Tensor) -> torch.Tensor | None:
        """[B, 28, 3] what the constrained belief head adds to the rules' prior (None: the model
        has no such head). The sampler already draws from the rules' posterior; tilting its
        deals by this part alone adds what the play has shown without counting the rules twice."""
        queries = self.belief_queries
        if queries is None or queries.prior is None:
            return None
        _, _, logits = self(tokens, token_mask, belief=True)
        _, _, prior = queries.prior(tokens, token_mask.bool())
        return logits.float() - prior

    def forward_padded(
        self, tokens: torch.Tensor, token_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The original's plain padded forward (the reference `forward` is checked against)."""
        token_mask = token_mask.bool()
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        embedded = self.embeddings(tokens) + self.pos_embed(positions)[None]
        x = self.encoder(embedded, src_key_padding_mask=~token_mask)
        m = token_mask[..., None].to(x.dtype)
        pooled = (x * m).sum(dim=1) / m.sum(dim=1)
        policy, value = self._policy_value(x[:, 1 : 1 + N_SLOTS], pooled)
        attn_mask = token_mask[:, None, None, :]
        belief = self._belief(pooled, embedded, token_mask, attn_mask, tokens, token_mask)
        return policy, value, belief

    def _policy_value(
        self, hand: torch.Tensor, pooled: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        policy = self.policy_proj(hand).squeeze(-1)  # [B, 7]
        value = self.value_head(pooled).squeeze(-1)  # [B]
        return policy, value

    def _belief(
        self,
        pooled: torch.Tensor,
        embedded: torch.Tensor,
        keep: torch.Tensor,
        attn_mask: torch.Tensor | None,
        tokens: torch.Tensor,
        token_mask: torch.Tensor,
    ) -> torch.Tensor | None:
        """[B, 28, 3] logits. embedded [B, L, E] is the encoder's input, keep [B, L] its real
        tokens, attn_mask the encoder's mask for it (None: every token is real); tokens and
        token_mask are the observation as given (36 tokens, unpacked)."""
        if self.belief_head is not None:
            return self.belief_head(pooled).view(-1, N_DOMINOES, BELIEF_SEATS)
        if self.belief_queries is not None:
            return self.belief_queries(embedded, keep, attn_mask, tokens, token_mask)
        return None


def _inverse_positions(order: torch.Tensor, length: int) -> torch.Tensor:
    """[B, 36] packed position of every original token (>= length where it was dropped)."""
    where = torch.full((order.shape[0], N_TOKENS), length, dtype=order.dtype, device=order.device)
    src = torch.arange(length, device=order.device).expand_as(order)
    return where.scatter(1, order, src)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
