"""Attention.

``scaled_dot_product_attention(q, k, v)`` with ``q: (..., L, E)``, ``k: (..., S, E)``,
``v: (..., S, Ev)``: ``macs = B*L*S*E`` (scores) ``+ B*L*S*Ev`` (weighted sum), where
``B`` is the product of the broadcast leading dims. ``flops = 2 * macs`` plus the scale
(one multiply per score), the mask add when a mask is given, and the softmax
(:data:`~flopcount.formulas.activation.SOFTMAX_FLOPS` per score).

``nn.MultiheadAttention`` adds its input projections (q, k, v), the same two products
per head (summing to ``E`` over heads) and the output projection.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from flopcount.formulas.activation import SOFTMAX_FLOPS
from flopcount.formulas.linear import linear_count
from flopcount.formulas.registry import OpCall, register_formula
from flopcount.records import Count, Shape

aten = torch.ops.aten

# torch leaves broadcast_shapes unannotated; this is its documented signature.
_broadcast_shapes: Callable[..., torch.Size] = torch.broadcast_shapes


def attention_count(q: Shape, k: Shape, v: Shape, *, masked: bool = False) -> Count:
    """Cost of softmax(q k^T * scale [+ mask]) v.

    Example (ViT-B/16 block: 12 heads, 197 tokens, head dim 64):
        >>> attention_count((1, 12, 197, 64), (1, 12, 197, 64), (1, 12, 197, 64)).macs
        59610624
    """
    try:
        batch = math.prod(_broadcast_shapes(q[:-2], k[:-2], v[:-2]))
    except RuntimeError:  # grouped-query attention: each query head reads its group's k/v
        batch = math.prod(q[:-2])
    length, source, embed = q[-2], k[-2], q[-1]
    scores = batch * length * source
    macs = scores * embed + scores * v[-1]
    extra = scores * (1 + SOFTMAX_FLOPS + (1 if masked else 0))
    return Count(macs, 2 * macs + extra)


@register_formula(F.scaled_dot_product_attention, family="attention")
def sdpa(call: OpCall) -> Count:
    """``F.scaled_dot_product_attention(q, k, v, attn_mask=None, ...)``."""
    q, k, v = call.arg(0, "query"), call.arg(1, "key"), call.arg(2, "value")
    masked = call.arg(3, "attn_mask") is not None or bool(call.arg(5, "is_causal", False))
    return attention_count(q.shape, k.shape, v.shape, masked=masked)


@register_formula(
    aten._scaled_dot_product_flash_attention_for_cpu,
    aten._scaled_dot_product_flash_attention,
    aten._scaled_dot_product_efficient_attention,
    aten._scaled_dot_product_cudnn_attention,
    family="attention",
)
def sdpa_aten(call: OpCall) -> Count:
    """Fused SDPA kernels seen by the dispatch-level capture."""
    q, k, v = call.args[:3]
    return attention_count(q.shape, k.shape, v.shape)


@register_formula(nn.MultiheadAttention, family="attention")
def multihead_attention(call: OpCall) -> Count:
    """``nn.MultiheadAttention(query, key, value, ...)``: projections + attention."""
    module = call.module_as(nn.MultiheadAttention)
    query, key, value = call.arg(0, "query").shape, call.arg(1, "key").shape, call.arg(2, "value").shape
    batched = len(query) == 3
    if batched and module.batch_first:
        query, key, value = (s[1:2] + s[0:1] + s[2:] for s in (query, key, value))
    length, source = query[0], key[0]
    batch = query[1] if batched else 1
    embed, heads = module.embed_dim, module.num_heads
    bias = module.in_proj_bias is not None
    total = (
        linear_count((length * batch, embed), embed, embed, bias=bias)
        + linear_count((source * batch, key[-1]), module.kdim, embed, bias=bias)
        + linear_count((source * batch, value[-1]), module.vdim, embed, bias=bias)
        + attention_count(
            (batch, heads, length, embed // heads),
            (batch, heads, source, embed // heads),
            (batch, heads, source, embed // heads),
            # forward(query, key, value, key_padding_mask, need_weights, attn_mask, ...)
            masked=call.arg(3, "key_padding_mask") is not None or call.arg(5, "attn_mask") is not None,
        )
        + linear_count((length * batch, embed), embed, embed, bias=module.out_proj.bias is not None)
    )
    return total
