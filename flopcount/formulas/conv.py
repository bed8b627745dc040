"""Convolutions: the paper's eq. 10 generalised.

``macs = N * H_out * W_out * C_out * (C_in / groups) * K_h * K_w`` for a 2-d convolution
(one multiply-accumulate per kernel tap per output element); the same with any number
of spatial dims. Transposed convolutions scatter every *input* element through the
kernel: ``macs = N * C_in * prod(in_spatial) * (C_out / groups) * prod(K)``.
``flops = 2 * macs`` plus one add per output element when there is a bias.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from flopcount.formulas.registry import FormulaFn, OpCall, register_formula
from flopcount.records import Count, Shape

aten = torch.ops.aten


def conv_count(input_shape: Shape, weight_shape: Shape, output_shape: Shape, *, transposed: bool, bias: bool) -> Count:
    """Cost of one convolution from its input, weight and output shapes.

    Args:
        input_shape: ``(N, C_in, *spatial_in)`` (a missing batch dim means N = 1).
        weight_shape: ``(C_out, C_in/groups, *K)``, or ``(C_in, C_out/groups, *K)`` when
            transposed.
        output_shape: ``(N, C_out, *spatial_out)``.
        transposed: Transposed convolution.
        bias: Whether a bias is added.

    Example (Table II, first layer: 224x224x3 -> 32 filters 3x3):
        >>> conv_count((1, 3, 224, 224), (32, 3, 3, 3), (1, 32, 224, 224), transposed=False, bias=True)
        Count(macs=43352064, flops=88309760)
    """
    taps_per_element = math.prod(weight_shape[1:])
    if transposed:
        macs = math.prod(input_shape) * taps_per_element
    else:
        macs = math.prod(output_shape) * taps_per_element
    bias_adds = math.prod(output_shape) if bias else 0
    return Count(macs, 2 * macs + bias_adds)


@register_formula(
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    family="conv",
)
def conv_module(call: OpCall) -> Count:
    """``nn.ConvNd`` / ``nn.ConvTransposeNd`` modules."""
    module = call.module_as(nn.modules.conv._ConvNd)
    return conv_count(
        call.tensors[0].shape,
        tuple(module.weight.shape),
        call.out.shape,
        transposed=module.transposed,
        bias=module.bias is not None,
    )


def _functional_conv(transposed: bool) -> FormulaFn:
    def formula(call: OpCall) -> Count:
        """``F.conv{,_transpose}Nd(input, weight, bias, ...)``."""
        return conv_count(
            call.arg(0, "input").shape,
            call.arg(1, "weight").shape,
            call.out.shape,
            transposed=transposed,
            bias=call.arg(2, "bias") is not None,
        )

    return formula


register_formula(F.conv1d, F.conv2d, F.conv3d, family="conv")(_functional_conv(transposed=False))
register_formula(F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d, family="conv")(
    _functional_conv(transposed=True)
)


@register_formula(aten.convolution, aten._convolution, family="conv")
def conv_aten(call: OpCall) -> Count:
    """``aten.convolution(input, weight, bias, stride, padding, dilation, transposed, ...)``."""
    return conv_count(
        call.args[0].shape,
        call.args[1].shape,
        call.out.shape,
        transposed=bool(call.args[6]),
        bias=call.args[2] is not None,
    )
