"""Detection ops of torchvision: RoI pooling and non-maximum suppression.

Registered by qualified op name (``"torchvision::roi_align"``), so flopcount needs no
torchvision to import; they count wherever torchvision's ops run. None has MACs.

* ``roi_align(input (N, C, H, W), rois (K, 5), ..., PH, PW, sampling_ratio)``: each of the
  ``K * C * PH * PW`` outputs averages ``S`` bilinear samples, each sample 4 weighted
  reads (a multiply and an add each, 8 FLOPs) plus one add for the average: ``9 * S``
  FLOPs per output, ``S = sampling_ratio ** 2``. An adaptive sampling ratio
  (``sampling_ratio <= 0``, the sample grid then depends on each box's size, which is a
  value) is counted as 2 x 2 samples, torchvision's detection default.
  ``ps_roi_align`` the same per output.
* ``roi_pool``: one comparison per output (a lower bound: the bin sizes depend on the
  boxes' values).
* ``nms(boxes (N, 4), scores (N,), iou)``: the worst case, every pair's IoU (12 FLOPs:
  intersection 6, areas 4, union and ratio 2), ``12 * N * (N - 1) / 2``; the scores'
  sort is free (sorting counts as zero everywhere in flopcount).
"""

from __future__ import annotations

import math

from flopcount.formulas.registry import OpCall, register_formula
from flopcount.records import Count

ROI_ALIGN_FLOPS_PER_SAMPLE = 9
ADAPTIVE_SAMPLES = 4
IOU_FLOPS = 12


def _samples(sampling_ratio: int) -> int:
    return sampling_ratio**2 if sampling_ratio > 0 else ADAPTIVE_SAMPLES


@register_formula("torchvision::roi_align", family="detection")
def roi_align(call: OpCall) -> Count:
    """``torchvision::roi_align(input, rois, spatial_scale, PH, PW, sampling_ratio, aligned)``."""
    return Count(0, math.prod(call.out.shape) * ROI_ALIGN_FLOPS_PER_SAMPLE * _samples(int(call.args[5])))


@register_formula("torchvision::ps_roi_align", family="detection")
def ps_roi_align(call: OpCall) -> Count:
    """``torchvision::ps_roi_align(input, rois, spatial_scale, PH, PW, sampling_ratio)``."""
    return Count(0, math.prod(call.out.shape) * ROI_ALIGN_FLOPS_PER_SAMPLE * _samples(int(call.args[5])))


@register_formula("torchvision::roi_pool", "torchvision::ps_roi_pool", family="detection")
def roi_pool(call: OpCall) -> Count:
    """``torchvision::roi_pool``: one comparison per output (lower bound)."""
    return Count(0, math.prod(call.out.shape))


@register_formula("torchvision::nms", family="detection")
def nms(call: OpCall) -> Count:
    """``torchvision::nms(boxes, scores, iou_threshold)``: every pair's IoU (worst case)."""
    boxes = call.args[0].shape[0]
    return Count(0, IOU_FLOPS * boxes * (boxes - 1) // 2)
