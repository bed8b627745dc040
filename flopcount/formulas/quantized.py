"""Quantized modules and ops (``torch.ao.nn.quantized``): the float formulas, on int8.

A quantized layer does the arithmetic of the float layer it replaces, on 8-bit
integers: the same MACs (an int8 network has the MAC count of its float source; batch
norms folded into convolutions add nothing), the same extras, and records marked
``dtype="int8"``. Static modules (``Conv2d``, ``Linear``, the fused ``ConvReLU2d``,
``LinearReLU``, ``ConvAdd2d`` ...) and dynamic ones (``dynamic.Linear``,
``dynamic.LSTM``/``GRU``: int8 weights, activations quantized on the fly) are counted from
their attributes. ``quantized::add``/``mul`` (``QFunctional``) are elementwise (one FLOP
per output element, two with a fused ReLU), ``quantized::cat`` is free. ``Quantize`` and
``DeQuantize`` convert each element once: one FLOP per element, no MACs.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.ao.nn.intrinsic.quantized as nniq
import torch.ao.nn.intrinsic.quantized.dynamic as nniqd
import torch.ao.nn.quantized as nnq
import torch.ao.nn.quantized.dynamic as nnqd
from torch import nn

from flopcount.formulas.conv import conv_count
from flopcount.formulas.linear import linear_count
from flopcount.formulas.registry import OpCall, register_formula, zero
from flopcount.formulas.rnn import recurrent_count
from flopcount.params import has_packed_bias
from flopcount.records import Count

quantized = torch.ops.quantized

_CONVS = (nnq.Conv1d, nnq.Conv2d, nnq.Conv3d, nnq.ConvTranspose1d, nnq.ConvTranspose2d, nnq.ConvTranspose3d)
_DYNAMIC_CONVS = tuple(getattr(nnqd, name) for name in ("Conv1d", "Conv2d", "Conv3d") if hasattr(nnqd, name))
_FUSED_CONVS = (nniq.ConvReLU1d, nniq.ConvReLU2d, nniq.ConvReLU3d, nniq.ConvAdd2d, nniq.ConvAddReLU2d)
#: Every quantized convolution class (the shape rules of :mod:`flopcount.leaf_shapes` cover them).
QUANTIZED_CONVS = (*_CONVS, *_DYNAMIC_CONVS, *_FUSED_CONVS)
#: Quantized linear classes with quantized outputs, and with float outputs (dynamic).
QUANTIZED_LINEARS = (nnq.Linear, nniq.LinearReLU, nniq.LinearLeakyReLU, nniq.LinearTanh)
DYNAMIC_LINEARS = (nnqd.Linear, nniqd.LinearReLU)
#: fused modules -> extra FLOPs per output element (ReLU 1, add 1, add + ReLU 2)
_FUSED_EXTRA: dict[type, int] = {
    nniq.ConvReLU1d: 1,
    nniq.ConvReLU2d: 1,
    nniq.ConvReLU3d: 1,
    nniq.ConvAdd2d: 1,
    nniq.ConvAddReLU2d: 2,
    nniq.LinearReLU: 1,
    nniq.LinearLeakyReLU: 2,
    nniq.LinearTanh: 5,
    nniqd.LinearReLU: 1,
}


@register_formula(*_CONVS, *_DYNAMIC_CONVS, family="conv", dtype="int8")
def quantized_conv(call: OpCall) -> Count:
    """Quantized ``ConvNd``/``ConvTransposeNd`` (and fused ``ConvReLU``/``ConvAdd``)."""
    module: Any = call.module_as(nn.Module)
    groups = int(module.groups)
    kernel = tuple(module.kernel_size)
    if module.transposed:
        weight = (module.in_channels, module.out_channels // groups, *kernel)
    else:
        weight = (module.out_channels, module.in_channels // groups, *kernel)
    count = conv_count(
        call.tensors[0].shape, weight, call.out.shape, transposed=bool(module.transposed), bias=has_packed_bias(module)
    )
    return count + Count(0, _FUSED_EXTRA.get(type(module), 0) * math.prod(call.out.shape))


@register_formula(nnq.Linear, nnqd.Linear, family="linear", dtype="int8")
def quantized_linear(call: OpCall) -> Count:
    """Quantized ``Linear`` (static and dynamic; fused ``LinearReLU`` ...)."""
    module: Any = call.module_as(nn.Module)
    count = linear_count(call.tensors[0].shape, module.in_features, module.out_features, bias=has_packed_bias(module))
    return count + Count(0, _FUSED_EXTRA.get(type(module), 0) * math.prod(call.out.shape))


@register_formula(nnqd.LSTM, nnqd.GRU, family="rnn", dtype="int8")
def quantized_recurrent(call: OpCall) -> Count:
    """Dynamically quantized ``LSTM``/``GRU``: the float formula (:mod:`~flopcount.formulas.rnn`)."""
    module: Any = call.module_as(nn.Module)
    return recurrent_count(module, call.arg(0, "input").shape)


@register_formula(
    quantized.add, quantized.mul, quantized.add_scalar, quantized.mul_scalar, family="elementwise", dtype="int8"
)
def quantized_elementwise(call: OpCall) -> Count:
    """``quantized::add``/``mul`` (``QFunctional``): one FLOP per output element."""
    return Count(0, math.prod(call.out.shape))


@register_formula(quantized.add_relu, quantized.mul_relu, family="elementwise", dtype="int8")
def quantized_elementwise_relu(call: OpCall) -> Count:
    """``quantized::add_relu``/``mul_relu``: the op and the ReLU."""
    return Count(0, 2 * math.prod(call.out.shape))


@register_formula(nnq.Quantize, nnq.DeQuantize, family="elementwise")
def quantize(call: OpCall) -> Count:
    """``Quantize``/``DeQuantize``: one conversion per element."""
    return Count(0, math.prod(call.out.shape))


register_formula(quantized.cat, family="zero")(zero)
