"""Pooling: comparisons or adds over each window, no MACs.

* max pooling: ``prod(kernel) - 1`` comparisons per output element;
* average pooling: ``prod(kernel)`` flops per output element (``k - 1`` adds, 1 divide);
* adaptive pooling: every input element is read once (one add or comparison), plus one
  divide per output element for the average.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from flopcount.formulas.registry import OpCall, register_formula
from flopcount.records import Count

aten = torch.ops.aten


def _kernel_taps(call: OpCall, spatial_dims: int) -> int:
    kernel: Any = call.module.kernel_size if call.module is not None else call.arg(1, "kernel_size")
    if isinstance(kernel, int):
        return int(kernel**spatial_dims)
    return math.prod(kernel)


def _spatial_dims(call: OpCall) -> int:
    name = type(call.module).__name__ if call.module is not None else getattr(call.target, "__name__", str(call.target))
    for dims in (1, 2, 3):
        if f"{dims}d" in name:
            return dims
    return 2


@register_formula(
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    F.max_pool1d,
    F.max_pool2d,
    F.max_pool3d,
    aten.max_pool2d_with_indices,
    aten.max_pool3d_with_indices,
    aten.max_pool2d,
    aten.max_pool1d,
    family="pool",
)
def max_pool(call: OpCall) -> Count:
    """Max pooling: ``prod(kernel) - 1`` comparisons per output element."""
    taps = _kernel_taps(call, _spatial_dims(call))
    return Count(0, math.prod(call.out.shape) * (taps - 1))


@register_formula(
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.AvgPool3d,
    F.avg_pool1d,
    F.avg_pool2d,
    F.avg_pool3d,
    aten.avg_pool2d,
    aten.avg_pool3d,
    aten.avg_pool1d,
    family="pool",
)
def avg_pool(call: OpCall) -> Count:
    """Average pooling: ``prod(kernel)`` flops per output element."""
    taps = _kernel_taps(call, _spatial_dims(call))
    return Count(0, math.prod(call.out.shape) * taps)


@register_formula(
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    F.adaptive_avg_pool1d,
    F.adaptive_avg_pool2d,
    F.adaptive_avg_pool3d,
    aten._adaptive_avg_pool2d,
    aten.adaptive_avg_pool1d,
    aten._adaptive_avg_pool3d,
    family="pool",
)
def adaptive_avg_pool(call: OpCall) -> Count:
    """Adaptive average pooling: one add per input element, one divide per output."""
    return Count(0, math.prod(call.tensors[0].shape) + math.prod(call.out.shape))


@register_formula(
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
    F.adaptive_max_pool1d,
    F.adaptive_max_pool2d,
    F.adaptive_max_pool3d,
    aten.adaptive_max_pool2d,
    aten.adaptive_max_pool3d,
    family="pool",
)
def adaptive_max_pool(call: OpCall) -> Count:
    """Adaptive max pooling: one comparison per input element."""
    return Count(0, math.prod(call.tensors[0].shape))
