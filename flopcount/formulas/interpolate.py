"""Interpolation: a documented number of flops per output element.

Nearest is a copy (0); (bi/tri)linear reads ``2**d`` neighbours per output element
(``2**d`` multiplies and ``2**d - 1`` adds); bicubic 16 (31 flops); area averages (1).
``grid_sample`` interpolates at every grid point the same way, plus 2 FLOPs per grid
coordinate to unnormalise it (once per point, shared by the channels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from flopcount.formulas.registry import FormulaFn, OpCall, register_formula
from flopcount.records import Count

aten = torch.ops.aten

_INTERPOLATE_FLOPS = {"nearest": 0, "nearest-exact": 0, "area": 1, "bicubic": 31}


def interpolate_flops_per_element(mode: str, spatial_dims: int) -> int:
    """Flops per output element of an interpolation mode.

    Example:
        >>> interpolate_flops_per_element("bilinear", 2)
        7
    """
    if mode in ("linear", "bilinear", "trilinear"):
        return int(2 ** (spatial_dims + 1)) - 1
    return _INTERPOLATE_FLOPS.get(mode, 0)


@register_formula(
    nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d, F.interpolate, F.upsample, family="interpolate"
)
def interpolate(call: OpCall) -> Count:
    """``F.interpolate`` / ``nn.Upsample``; the cost depends on the mode."""
    if call.module is not None:
        mode = getattr(call.module, "mode", "nearest")
    else:
        mode = call.arg(3, "mode", "nearest")
    dims = len(call.out.shape) - 2
    return Count(0, math.prod(call.out.shape) * interpolate_flops_per_element(mode, dims))


def _aten_interpolate(mode: str, dims: int) -> FormulaFn:
    def formula(call: OpCall) -> Count:
        return Count(0, math.prod(call.out.shape) * interpolate_flops_per_element(mode, dims))

    return formula


for _op, _mode, _dims in (
    (aten.upsample_nearest1d, "nearest", 1),
    (aten.upsample_nearest2d, "nearest", 2),
    (aten.upsample_nearest3d, "nearest", 3),
    (aten._upsample_nearest_exact2d, "nearest", 2),
    (aten.upsample_linear1d, "linear", 1),
    (aten.upsample_bilinear2d, "bilinear", 2),
    (aten.upsample_trilinear3d, "trilinear", 3),
    (aten.upsample_bicubic2d, "bicubic", 2),
):
    register_formula(_op, family="interpolate")(_aten_interpolate(_mode, _dims))

_GRID_MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}  # aten's interpolation_mode enum


@register_formula(F.grid_sample, aten.grid_sampler, aten.grid_sampler_2d, aten.grid_sampler_3d, family="interpolate")
def grid_sample(call: OpCall) -> Count:
    """``F.grid_sample``: an interpolation at every grid point (mode as for ``F.interpolate``).

    Plus the unnormalisation of the grid coordinates (2 FLOPs per coordinate per
    output point), which the per-element constants above do not include.
    """
    if call.target is F.grid_sample:
        mode = str(call.arg(2, "mode", "bilinear"))
    else:
        mode = _GRID_MODES.get(int(call.arg(2, "interpolation_mode", 0)), "bilinear")
    dims = len(call.out.shape) - 2
    points = math.prod(call.out.shape)
    per_point = interpolate_flops_per_element("bilinear" if mode == "bilinear" else mode, dims)
    return Count(0, points * per_point + 2 * dims * points // max(call.out.shape[1], 1))
