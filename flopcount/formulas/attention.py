"""Attention.

``scaled_dot_product_attention(q, k, v)`` with ``q: (..., L, E)``, ``k: (..., S, E)``,
``v: (..., S, Ev)``: ``macs = B*L*S*E`` (scores) ``+ B*L*S*Ev`` (weighted sum), where
``B`` is the product of the broadcast leading dims. ``flops = 2 * macs`` plus the scale
(one multiply per score), the mask add when a mask is given, and the softmax
(:data:`~flopcount.formulas.activation.SOFTMAX_FLOPS` per score).

``nn.MultiheadAttention`` adds its input projections (q, k, v), the same two products
per head (summing to ``E`` over heads) and the output projection.

torchvision's Swin attention, ``shifted_window_attention(x (B, H, W, C), qkv_weight,
proj_weight, relative_position_bias, window_size, num_heads, shift_size, ...)``
(registered by qualified name; torchvision wraps it for fx, so it is one call), counts
what its aten ops count one by one. ``H, W`` are padded up to multiples of the window
``(wh, ww)``; a window as large as the padded map does not shift. With ``nW`` windows
of ``N = wh * ww`` tokens, ``T = B * nW`` and ``h`` heads of ``d = C // h``:

* the projections: ``linear(T*N rows, C -> 3C)`` and ``linear(T*N rows, C -> C)`` (bias
  adds when given);
* the two products: ``T*h*N*N*d`` MACs each;
* per score (``T*h*N*N``): the relative position bias add, the softmax
  (:data:`~flopcount.formulas.activation.SOFTMAX_FLOPS`), and, when shifted, the mask add;
* when shifted, the mask itself, once per call: 5 flops per ``(nW, N, N)`` entry
  (subtract, two comparisons, two fills);
* the query scale (v1): one multiply per query element; with ``logit_scale`` (Swin v2,
  cosine attention) instead: per query and key element a norm (2 flops), a divide, and
  a clamp (2 flops) per norm, plus the logit scale's clamp (2) and exp (1) per element
  and one multiply per score.

Dropout costs nothing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from flopcount.formulas.activation import SOFTMAX_FLOPS
from flopcount.formulas.linear import linear_count
from flopcount.formulas.registry import OpCall, register_formula
from flopcount.records import Count, Shape
from flopcount.shape_rule import broadcast_sizes

aten = torch.ops.aten


def attention_count(q: Shape, k: Shape, v: Shape, *, masked: bool = False) -> Count:
    """Cost of softmax(q k^T * scale [+ mask]) v.

    Example (ViT-B/16 block: 12 heads, 197 tokens, head dim 64):
        >>> attention_count((1, 12, 197, 64), (1, 12, 197, 64), (1, 12, 197, 64)).macs
        59610624
    """
    heads = broadcast_sizes((q[:-2], k[:-2], v[:-2]))
    # None: grouped-query attention, each query head reads its group's k/v
    batch = math.prod(q[:-2] if heads is None else heads)
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


#: The fx-wrapped window attention of torchvision's Swin Transformer (v1 and v2).
SWIN_WINDOW_ATTENTION = "torchvision.models.swin_transformer.shifted_window_attention"
_MASK_FLOPS = 5  # subtract, != 0, fill, == 0, fill per (window, token, token) entry


@register_formula(SWIN_WINDOW_ATTENTION, family="attention")
def swin_window_attention(call: OpCall) -> Count:
    """Swin window attention of torchvision (``shifted_window_attention``): see the module docstring."""
    batch, height, width, channels = call.arg(0, "input").shape
    window, heads = list(call.arg(4, "window_size")), int(call.arg(5, "num_heads"))
    shift = list(call.arg(6, "shift_size"))
    padded = [-(-height // window[0]) * window[0], -(-width // window[1]) * window[1]]
    shifted = any(s > 0 and w < p for s, w, p in zip(shift, window, padded))
    windows, tokens = (padded[0] // window[0]) * (padded[1] // window[1]), window[0] * window[1]
    rows, head_dim = batch * windows * tokens, channels // heads
    scores = batch * windows * heads * tokens * tokens
    elements = batch * windows * heads * tokens * head_dim  # of q (and of k)
    total = linear_count((rows, channels), channels, 3 * channels, bias=call.arg(9, "qkv_bias") is not None)
    total += linear_count((rows, channels), channels, channels, bias=call.arg(10, "proj_bias") is not None)
    products = 2 * scores * head_dim
    extra = scores * (1 + SOFTMAX_FLOPS + (1 if shifted else 0)) + (
        _MASK_FLOPS * windows * tokens * tokens if shifted else 0
    )
    logit_scale = call.arg(11, "logit_scale")
    if logit_scale is None:
        extra += elements
    else:
        norms = elements // head_dim
        extra += 2 * (2 * elements + elements + 2 * norms) + 3 * math.prod(logit_scale.shape) + scores
    return total + Count(products, 2 * products + extra)
