"""Elementwise arithmetic: one flop per output element, after broadcasting.

``+ - * /``, residual adds, comparisons, ``where``, rounding and logical ops: one flop
per output element; ``addcmul``/``addcdiv``/``lerp``: two (a multiply and an add).
Arithmetic on Python numbers (shape maths) is free.
"""

from __future__ import annotations

import math
import operator

import torch

from flopcount.formulas.registry import OpCall, TensorInfo, register_formula, tensor_methods
from flopcount.records import Count

aten = torch.ops.aten


def _out_numel(call: OpCall) -> int:
    output = call.output
    if isinstance(output, TensorInfo):
        return math.prod(output.shape)
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], TensorInfo):
        return math.prod(output[0].shape)
    return 0  # arithmetic on Python numbers, e.g. shape maths


@register_formula(
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.floordiv,
    operator.mod,
    operator.iadd,
    operator.isub,
    operator.imul,
    operator.itruediv,
    operator.neg,
    operator.eq,
    operator.ne,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
    torch.add,
    torch.sub,
    torch.subtract,
    torch.mul,
    torch.multiply,
    torch.div,
    torch.divide,
    torch.true_divide,
    torch.floor_divide,
    torch.remainder,
    torch.rsub,
    torch.reciprocal,
    torch.maximum,
    torch.minimum,
    torch.eq,
    torch.ne,
    torch.lt,
    torch.le,
    torch.gt,
    torch.ge,
    torch.where,
    torch.masked_fill,
    torch.sign,
    torch.floor,
    torch.ceil,
    torch.round,
    *tensor_methods(
        "add",
        "add_",
        "sub",
        "sub_",
        "mul",
        "mul_",
        "div",
        "div_",
        "__add__",
        "__radd__",
        "__iadd__",
        "__sub__",
        "__rsub__",
        "__mul__",
        "__rmul__",
        "__imul__",
        "__truediv__",
        "__rtruediv__",
        "__neg__",
        "reciprocal",
        "masked_fill",
        "masked_fill_",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "where",
        "maximum",
        "minimum",
        "floor",
        "ceil",
        "round",
        "__and__",
        "__or__",
        "logical_and",
        "logical_or",
        "logical_not",
    ),
    aten.add,
    aten.add_,
    aten.sub,
    aten.sub_,
    aten.mul,
    aten.mul_,
    aten.div,
    aten.div_,
    aten.rsub,
    aten.reciprocal,
    aten.maximum,
    aten.minimum,
    aten.eq,
    aten.ne,
    aten.lt,
    aten.le,
    aten.gt,
    aten.ge,
    aten.where,
    aten.masked_fill,
    aten.masked_fill_,
    aten.floor,
    aten.ceil,
    aten.round,
    aten.sign,
    aten.logical_and,
    aten.logical_or,
    aten.logical_not,
    aten.bitwise_and,
    aten.bitwise_or,
    aten.bitwise_not,
    aten.remainder,
    aten.floor_divide,
    family="elementwise",
)
def elementwise(call: OpCall) -> Count:
    """One flop per output element."""
    return Count(0, _out_numel(call))


@register_formula(
    torch.addcmul,
    torch.addcdiv,
    torch.lerp,
    *tensor_methods("addcmul", "addcmul_", "addcdiv", "lerp"),
    aten.addcmul,
    aten.addcmul_,
    aten.addcdiv,
    aten.addcdiv_,
    aten.lerp,
    aten.lerp_,
    family="elementwise",
)
def fused_elementwise(call: OpCall) -> Count:
    """Two flops per output element (a multiply and an add)."""
    return Count(0, 2 * _out_numel(call))
