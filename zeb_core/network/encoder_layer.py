"""One pre-LayerNorm transformer encoder layer over packed tokens (the trunk's and the belief
head's): torch's `nn.TransformerEncoderLayer` weights, applied with an explicit attention mask so
that a batch packed to its longest observation skips the padding columns."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def encoder_layer(
    layer: nn.TransformerEncoderLayer, x: torch.Tensor, attn_mask: torch.Tensor | None
) -> torch.Tensor:
    """The pre-LayerNorm encoder layer, written out so padding can be skipped (same weights)."""
    B, L, E = x.shape
    attn = layer.self_attn
    heads = attn.num_heads
    h = layer.norm1(x)
    qkv = F.linear(h, attn.in_proj_weight, attn.in_proj_bias)  # [B, L, 3E]
    q, k, v = qkv.view(B, L, 3, heads, E // heads).permute(2, 0, 3, 1, 4)  # each [B, H, L, D]
    p = attn.dropout if layer.training else 0.0
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=p)
    a = a.transpose(1, 2).reshape(B, L, E)
    x = x + layer.dropout1(attn.out_proj(a))
    h = layer.norm2(x)
    return x + layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(h)))))
