"""Outputs of hot pointwise aten ops from their inputs' metadata, for the virtual run.

The dispatch path's virtual run (:mod:`flopcount.virtual`) runs each weight-touching op
on meta stand-ins. In recent torch releases the meta kernels of pointwise ops are Python
references (``torch._refs``): ``aten.add`` on meta tensors costs about 0.3 ms and
``aten.gelu`` over 1 ms, more than the op itself on a small real tensor. For the common
case (floating-point tensors of one dtype, each at least 1-d and with the strides of a
new contiguous tensor, with Python numbers as the other arguments) the output is a new
contiguous tensor of the broadcast shape and that dtype. Anything else (a transposed or
sliced input, whose strides the output may follow) returns ``None`` and runs the meta
kernel.
"""

from __future__ import annotations

from typing import Any

import torch

from flopcount.meta import meta_empty
from flopcount.shape_rule import broadcast_sizes

aten = torch.ops.aten

#: Pointwise aten overloads covered by :func:`pointwise_output`.
POINTWISE: frozenset[torch._ops.OpOverload] = frozenset(
    {
        *(aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor),
        *(aten.add.Scalar, aten.sub.Scalar, aten.mul.Scalar, aten.div.Scalar, aten.pow.Tensor_Scalar),
        *(aten.maximum.default, aten.minimum.default),
        *(aten.neg.default, aten.exp.default, aten.sqrt.default, aten.rsqrt.default, aten.reciprocal.default),
        *(aten.tanh.default, aten.sigmoid.default, aten.sin.default, aten.cos.default),
        *(aten.relu.default, aten.gelu.default, aten.silu.default),
    }
)
_NUMBER_KWARGS = frozenset({"alpha"})
_STRING_KWARGS = frozenset({"approximate"})


def _contiguous_strides(shape: torch.Size) -> tuple[int, ...]:
    """The strides of a new contiguous tensor (size-1 dims included: ``is_contiguous()`` ignores those)."""
    strides, step = [], 1
    for size in reversed(shape):
        strides.append(step)
        step *= max(size, 1)
    return tuple(reversed(strides))


def pointwise_output(func: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The meta output of a pointwise op from its inputs' shapes and dtype, or ``None`` when not covered.

    Example:
        >>> import torch
        >>> a, b = torch.empty(2, 1, 4, device="meta"), torch.empty(3, 1, device="meta")
        >>> out = pointwise_output(torch.ops.aten.add.Tensor, (a, b), {"alpha": 2})
        >>> tuple(out.shape), out.dtype, out.is_contiguous()
        ((2, 3, 4), torch.float32, True)
        >>> pointwise_output(torch.ops.aten.add.Tensor, (a, b.double()), {}) is None  # promotion: torch decides
        True
    """
    if func not in POINTWISE:
        return None
    tensors: list[torch.Tensor] = []
    for value in args:
        if isinstance(value, torch.Tensor):
            if value.dim() == 0 or not value.dtype.is_floating_point or (tensors and value.dtype != tensors[0].dtype):
                return None
            tensors.append(value)
        elif not isinstance(value, (int, float)):  # bool is an int
            return None
    for key, value in kwargs.items():
        number = key in _NUMBER_KWARGS and isinstance(value, (int, float))
        if not (number or (key in _STRING_KWARGS and isinstance(value, str))):
            return None
    if not tensors:
        return None
    shape = broadcast_sizes([t.shape for t in tensors])
    if shape is None:
        return None
    if any(t.stride() != _contiguous_strides(t.shape) for t in tensors):
        return None  # the output's strides follow the inputs' in ways unary and binary kernels differ on
    return meta_empty(shape, tensors[0].dtype)
