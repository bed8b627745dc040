"""Output values of ops from their inputs' shapes: shape rules first, meta execution otherwise.

Values flowing through the graph are tensors on the ``meta`` device (shape and dtype,
no storage) or plain Python values. Hot, shape-simple ops get a pure-Python shape rule
(:data:`MODULE_SHAPE_RULES` here, :data:`~flopcount.function_shapes.FUNCTION_SHAPE_RULES`
for functions and tensor methods) so they cost no dispatcher call; a rule that does not
cover a case raises ``NoRule`` and the op runs on meta tensors instead
(:func:`module_output`, :func:`~flopcount.function_shapes.function_output`). Nothing
here touches real data.
"""

from __future__ import annotations

from typing import Any, cast

import torch
from torch import nn

from flopcount.function_shapes import _flatten
from flopcount.meta import meta_empty, module_meta_forward
from flopcount.piece_shapes import interpolate_output
from flopcount.shape_rule import NoRule as _NoRule
from flopcount.shape_rule import ShapeRule


def _pair(value: Any, dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


def _meta_forward(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The edge cases of a rule: torch's own meta kernel (and its checks) decide."""
    return cast(torch.Tensor, module_meta_forward(module, x))


def conv_output(module: nn.modules.conv._ConvNd, x: torch.Tensor) -> torch.Tensor:
    """Output of a convolution module (float or quantized: the same attributes) on ``x``."""
    dims = len(module.kernel_size)
    spatial = x.shape[-dims:]
    if module.padding == "same" and not module.transposed and all(s == 1 for s in module.stride):
        out = list(spatial)  # torch pads so that the output keeps the input size
    elif isinstance(module.padding, str) and module.padding != "valid":
        return _meta_forward(module, x)  # let the real op decide (and reject)
    elif module.transposed:
        out = [
            (size - 1) * s - 2 * p + d * (k - 1) + op + 1
            for size, s, p, d, k, op in zip(
                spatial,
                module.stride,
                module.padding,
                module.dilation,
                module.kernel_size,
                module.output_padding,
            )
        ]
    else:
        padding: tuple[int, ...] = (0,) * dims if isinstance(module.padding, str) else tuple(module.padding)
        out = [
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, s, p, d, k in zip(spatial, module.stride, padding, module.dilation, module.kernel_size)
        ]
    if x.shape[-dims - 1] != module.in_channels:
        raise RuntimeError(f"expected input with {module.in_channels} channels, got {x.shape[-dims - 1]}")
    if min(out) <= 0:
        raise RuntimeError(f"input {tuple(x.shape)} is too small for kernel {module.kernel_size}")
    return meta_empty((*x.shape[: -dims - 1], module.out_channels, *out), x.dtype)


def linear_output(module: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Output of a linear module (float or quantized) on ``x``."""
    if x.shape[-1] != module.in_features:
        raise RuntimeError(f"expected last dim {module.in_features}, got {x.shape[-1]}")
    return meta_empty((*x.shape[:-1], module.out_features), x.dtype)


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_module(module: Any, x: torch.Tensor) -> torch.Tensor:  # any MaxPoolNd / AvgPoolNd
    dims = 3 if "3d" in type(module).__name__ else 2 if "2d" in type(module).__name__ else 1
    k = _pair(module.kernel_size, dims)
    s = _pair(module.stride if module.stride is not None else module.kernel_size, dims)
    p = _pair(module.padding, dims)
    d = _pair(getattr(module, "dilation", 1), dims)
    out = [_pool_out(*geometry, module.ceil_mode) for geometry in zip(x.shape[-dims:], k, s, p, d)]
    too_small = any(size < dd * (kk - 1) + 1 for size, kk, dd in zip(x.shape[-dims:], k, d))
    if getattr(module, "return_indices", False) or min(out) <= 0 or too_small:
        return _meta_forward(module, x)
    return meta_empty((*x.shape[:-dims], *out), x.dtype)


def _adaptive_module(module: Any, x: torch.Tensor) -> torch.Tensor:  # any AdaptiveAvgPoolNd / AdaptiveMaxPoolNd
    if getattr(module, "return_indices", False):
        return _meta_forward(module, x)
    dims = 3 if "3d" in type(module).__name__ else 2 if "2d" in type(module).__name__ else 1
    target = _pair(module.output_size, dims)
    out = [size if t is None else t for size, t in zip(x.shape[-dims:], target)]
    return meta_empty((*x.shape[:-dims], *out), x.dtype)


def _flatten_module(module: nn.Flatten, x: torch.Tensor) -> torch.Tensor:
    return _flatten(x, module.start_dim, module.end_dim)


def _multihead_attention_module(
    module: nn.MultiheadAttention,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    key_padding_mask: Any = None,
    need_weights: bool = True,
    attn_mask: Any = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    batched = query.dim() == 3
    if query.shape[-1] != module.embed_dim or key.shape[:-1] != value.shape[:-1] or key.dim() != query.dim():
        raise _NoRule  # let torch produce its own error message
    output = meta_empty(tuple(query.shape), query.dtype)
    if not need_weights:
        return output, None
    if batched:
        batch, length, source = (
            (query.shape[0], query.shape[1], key.shape[1])
            if module.batch_first
            else (query.shape[1], query.shape[0], key.shape[0])
        )
        lead: tuple[int, ...] = (batch,)
    else:
        length, source, lead = query.shape[0], key.shape[0], ()
    heads = () if average_attn_weights else (module.num_heads,)
    return output, meta_empty((*lead, *heads, length, source), query.dtype)


def _embedding_module(module: nn.Embedding, x: torch.Tensor) -> torch.Tensor:
    return meta_empty((*x.shape, module.embedding_dim), module.weight.dtype)


def _upsample_module(module: nn.Upsample, x: torch.Tensor) -> torch.Tensor:
    return interpolate_output(
        x, module.size, module.scale_factor, module.mode, module.align_corners, module.recompute_scale_factor
    )


def _same_module(module: nn.Module, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return x


_SAME_SHAPE_MODULES: tuple[type[nn.Module], ...] = (
    *(nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.LeakyReLU),
    *(nn.ELU, nn.Mish, nn.Softmax, nn.LogSoftmax, nn.Hardtanh, nn.Identity),
    *(nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout),
    *(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm),
    *(nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d),
)

#: module class -> rule(module, *args, **kwargs)
MODULE_SHAPE_RULES: dict[type[nn.Module], ShapeRule] = {
    **dict.fromkeys(_SAME_SHAPE_MODULES, _same_module),
    **dict.fromkeys((nn.Conv1d, nn.Conv2d, nn.Conv3d), conv_output),
    **dict.fromkeys((nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d), _pool_module),
    **dict.fromkeys((nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d), _adaptive_module),
    nn.AdaptiveMaxPool2d: _adaptive_module,
    nn.Linear: linear_output,
    nn.Flatten: _flatten_module,
    nn.Embedding: _embedding_module,
    nn.MultiheadAttention: _multihead_attention_module,
    nn.Upsample: _upsample_module,
}


def module_output(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Output of a leaf module call on meta values: its shape rule, else its meta ``forward``."""
    rule = MODULE_SHAPE_RULES.get(type(module))
    if rule is not None:
        try:
            return rule(module, *args, **kwargs)
        except _NoRule:
            pass
    return module_meta_forward(module, *args, **kwargs)
