"""Activations: a documented number of flops per output element, no MACs.

The per-element costs in :data:`ACTIVATION_FLOPS` count the arithmetic of the usual
formula (a comparison counts as one flop): ``relu = max(x, 0)`` is 1, ``sigmoid =
1 / (1 + exp(-x))`` is 4 (negate, exp, add, divide), ``silu = x * sigmoid(x)`` is 5, and
so on. Softmax is :data:`SOFTMAX_FLOPS` per element: max, subtract, exp, sum, divide.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from flopcount.formulas.registry import FormulaFn, OpCall, register_formula
from flopcount.records import Count

aten = torch.ops.aten

SOFTMAX_FLOPS = 5

# aten._safe_softmax (the softmax of masked SDPA) exists from torch 2.5; older releases never run it.
_SAFE_SOFTMAX = (aten._safe_softmax,) if hasattr(aten, "_safe_softmax") else ()

#: name -> (flops per element, targets)
ACTIVATION_FLOPS: dict[str, tuple[int, tuple[Any, ...]]] = {
    "relu": (
        1,
        (nn.ReLU, F.relu, F.relu_, torch.relu, torch.relu_, "Tensor.relu", "Tensor.relu_", aten.relu, aten.relu_),
    ),
    "relu6": (2, (nn.ReLU6, F.relu6, aten.hardtanh, aten.hardtanh_)),
    "hardtanh": (2, (nn.Hardtanh, F.hardtanh, F.hardtanh_)),
    "leaky_relu": (2, (nn.LeakyReLU, F.leaky_relu, F.leaky_relu_, aten.leaky_relu, aten.leaky_relu_)),
    "prelu": (2, (nn.PReLU, F.prelu, aten.prelu, aten._prelu_kernel)),
    "elu": (4, (nn.ELU, F.elu, F.elu_, aten.elu, aten.elu_)),
    "selu": (5, (nn.SELU, F.selu, torch.selu)),
    "celu": (4, (nn.CELU, F.celu)),
    "sigmoid": (4, (nn.Sigmoid, torch.sigmoid, F.sigmoid, "Tensor.sigmoid", aten.sigmoid, aten.sigmoid_)),
    "hardsigmoid": (3, (nn.Hardsigmoid, F.hardsigmoid, aten.hardsigmoid, aten.hardsigmoid_)),
    "tanh": (5, (nn.Tanh, torch.tanh, F.tanh, "Tensor.tanh", aten.tanh, aten.tanh_)),
    "silu": (5, (nn.SiLU, F.silu, aten.silu, aten.silu_)),
    "mish": (7, (nn.Mish, F.mish, aten.mish, aten.mish_)),
    "hardswish": (4, (nn.Hardswish, F.hardswish, aten.hardswish, aten.hardswish_)),
    "gelu": (8, (nn.GELU, F.gelu, aten.gelu, aten.gelu_)),
    "softplus": (3, (nn.Softplus, F.softplus, aten.softplus)),
    "softsign": (3, (nn.Softsign, F.softsign)),
    "logsigmoid": (5, (nn.LogSigmoid, F.logsigmoid)),
    "glu": (5, (nn.GLU, F.glu, aten.glu)),
    "softmax": (
        SOFTMAX_FLOPS,
        (
            nn.Softmax,
            nn.Softmin,
            F.softmax,
            F.softmin,
            torch.softmax,
            "Tensor.softmax",
            aten._softmax,
            aten.softmax,
            *_SAFE_SOFTMAX,
        ),
    ),
    "log_softmax": (
        SOFTMAX_FLOPS + 1,
        (nn.LogSoftmax, F.log_softmax, torch.log_softmax, "Tensor.log_softmax", aten._log_softmax, aten.log_softmax),
    ),
    "exp": (1, (torch.exp, "Tensor.exp", aten.exp)),
    "log": (
        1,
        (
            *(torch.log, torch.log2, torch.log10, torch.log1p, torch.exp2, torch.expm1),
            *("Tensor.log", "Tensor.log2", "Tensor.log10", "Tensor.log1p"),
            *(aten.log, aten.log2, aten.log10, aten.log1p, aten.exp2, aten.expm1),
        ),
    ),
    "sqrt": (1, (torch.sqrt, torch.rsqrt, "Tensor.sqrt", "Tensor.rsqrt", aten.sqrt, aten.rsqrt)),
    "abs": (1, (torch.abs, "Tensor.abs", aten.abs, aten.neg, torch.neg, "Tensor.neg")),
    "clamp": (
        2,
        (
            torch.clamp,
            torch.clip,
            "Tensor.clamp",
            "Tensor.clamp_",
            "Tensor.clip",
            aten.clamp,
            aten.clamp_,
            aten.clamp_min,
            aten.clamp_max,
        ),
    ),
    "pow": (1, (torch.pow, "Tensor.pow", "Tensor.__pow__", aten.pow, torch.square, aten.square)),
    "sin_cos": (1, (torch.sin, torch.cos, "Tensor.sin", "Tensor.cos", aten.sin, aten.cos, torch.erf, aten.erf)),
}


def _per_element(flops_per_element: int) -> FormulaFn:
    def formula(call: OpCall) -> Count:
        return Count(0, flops_per_element * math.prod(call.out.shape))

    return formula


for _name, (_flops, _targets) in ACTIVATION_FLOPS.items():
    register_formula(*_targets, family="activation")(_per_element(_flops))
