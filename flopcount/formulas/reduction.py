"""Reductions: one flop per input element (``var``/``std``: three; p-norms: two).

``sum``, ``mean``, ``amax``, ``argmax``, ``cumsum``, ``prod``, ``logsumexp``, ``any``,
``histc``, ``bincount``, ... read every input element once; variance subtracts, squares and adds; a p-norm squares
and adds (``F.normalize`` also divides).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from flopcount.formulas.registry import OpCall, register_formula, tensor_methods
from flopcount.records import Count

aten = torch.ops.aten


def _in_numel(call: OpCall) -> int:
    tensors = call.tensors
    return math.prod(tensors[0].shape) if tensors else 0


@register_formula(
    torch.sum,
    torch.mean,
    torch.amax,
    torch.amin,
    torch.max,
    torch.min,
    torch.argmax,
    torch.argmin,
    torch.cumsum,
    torch.prod,
    torch.logsumexp,
    torch.any,
    torch.all,
    torch.histc,
    torch.bincount,
    *tensor_methods("sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin", "cumsum", "prod", "any", "all"),
    aten.sum,
    aten.mean,
    aten.amax,
    aten.amin,
    aten.max,
    aten.min,
    aten.argmax,
    aten.argmin,
    aten.cumsum,
    aten.prod,
    aten.logsumexp,
    aten.any,
    aten.all,
    aten.histc,
    aten.bincount,
    family="reduction",
)
def reduction(call: OpCall) -> Count:
    """One flop per input element."""
    return Count(0, _in_numel(call))


@register_formula(
    torch.var,
    torch.std,
    torch.var_mean,
    torch.std_mean,
    *tensor_methods("var", "std"),
    aten.var,
    aten.std,
    aten.var_mean,
    aten.std_mean,
    family="reduction",
)
def variance(call: OpCall) -> Count:
    """Variance/standard deviation: subtract, square, add per input element."""
    return Count(0, 3 * _in_numel(call))


@register_formula(
    torch.norm,
    torch.linalg.vector_norm,
    F.normalize,
    *tensor_methods("norm"),
    aten.linalg_vector_norm,
    aten.norm,
    family="reduction",
)
def vector_norm(call: OpCall) -> Count:
    """p-norms (and ``F.normalize``): square and add per input element."""
    extra = _in_numel(call) if call.target is F.normalize else 0
    return Count(0, 2 * _in_numel(call) + extra)
