"""Normalisation layers (inference semantics, so train/eval give the same count).

* BatchNorm uses running statistics; scale and shift fold into one multiply and one add:
  ``flops = 2 * numel``.
* LayerNorm / GroupNorm / InstanceNorm / RMSNorm compute statistics at run time:
  mean (1 per element), variance (3: subtract, square, add), normalise (2: subtract,
  multiply by the reciprocal std) = :data:`NORM_STATS_FLOPS` per element, plus 2 per
  element for an elementwise affine (1 for RMSNorm's scale only, 4 for its stats-less
  normalisation). No MACs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from flopcount.formulas.registry import OpCall, register_formula
from flopcount.records import Count

aten = torch.ops.aten

NORM_STATS_FLOPS = 6
AFFINE_FLOPS = 2


@register_formula(
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.SyncBatchNorm,
    F.batch_norm,
    aten.native_batch_norm,
    aten._native_batch_norm_legit,
    aten._native_batch_norm_legit_no_training,
    aten.batch_norm,
    aten.cudnn_batch_norm,
    family="norm",
)
def batch_norm(call: OpCall) -> Count:
    """BatchNorm with folded scale and shift: 2 flops per element."""
    return Count(0, AFFINE_FLOPS * math.prod(call.tensors[0].shape))


def _stats_norm(call: OpCall, affine: bool) -> Count:
    numel = math.prod(call.tensors[0].shape)
    return Count(0, numel * (NORM_STATS_FLOPS + (AFFINE_FLOPS if affine else 0)))


@register_formula(nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, family="norm")
def norm_module(call: OpCall) -> Count:
    """LayerNorm/GroupNorm/InstanceNorm modules (affine when the module has a weight)."""
    return _stats_norm(call, getattr(call.module, "weight", None) is not None)


@register_formula(F.layer_norm, aten.native_layer_norm, aten.layer_norm, family="norm")
def layer_norm_function(call: OpCall) -> Count:
    """``F.layer_norm(input, shape, weight, bias)``."""
    return _stats_norm(call, call.arg(2, "weight") is not None)


@register_formula(F.group_norm, aten.native_group_norm, aten.group_norm, family="norm")
def group_norm_function(call: OpCall) -> Count:
    """``F.group_norm(input, groups, weight, bias)``."""
    return _stats_norm(call, call.arg(2, "weight") is not None)


@register_formula(F.instance_norm, aten.instance_norm, family="norm")
def instance_norm_function(call: OpCall) -> Count:
    """``F.instance_norm(input, running_mean, running_var, weight, bias)``."""
    return _stats_norm(call, call.arg(3, "weight") is not None)


@register_formula(nn.LocalResponseNorm, F.local_response_norm, family="norm")
def local_response_norm(call: OpCall) -> Count:
    """LRN: a windowed sum of squares (size per element) plus pow, scale and divide."""
    size = call.module_as(nn.LocalResponseNorm).size if call.module is not None else call.arg(1, "size")
    return Count(0, math.prod(call.out.shape) * (2 * size + 3))


if hasattr(nn, "RMSNorm"):

    @register_formula(nn.RMSNorm, F.rms_norm, family="norm")
    def rms_norm(call: OpCall) -> Count:
        """RMSNorm: square, mean, rsqrt-multiply (4 per element) plus an optional scale."""
        weight = call.module.weight if call.module is not None else call.arg(2, "weight")
        return Count(0, math.prod(call.out.shape) * (4 + (1 if weight is not None else 0)))
