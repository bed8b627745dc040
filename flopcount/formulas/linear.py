"""Linear layers and matrix products: the paper's eq. 11 generalised.

``Linear``: ``macs = prod(leading dims) * in_features * out_features`` (any number of
leading dims, not only a batch), ``flops = 2 * macs`` plus one add per output element
with a bias. Matrix products count one MAC per output element per contracted index:
``macs = numel(output) * K``; ``addmm``/``baddbmm`` add one flop per output element.
``einsum`` contracts its operands left to right as torch does, each pairwise
contraction costing the product of the sizes of all indices involved.
"""

from __future__ import annotations

import math
import operator

import torch
import torch.nn.functional as F
from torch import nn

from flopcount.formulas.registry import OpCall, register_formula
from flopcount.records import Count, Shape

aten = torch.ops.aten
# aten._grouped_mm exists from torch 2.8.
_GROUPED_MM = (aten._grouped_mm,) if hasattr(aten, "_grouped_mm") else ()


def linear_count(input_shape: Shape, in_features: int, out_features: int, *, bias: bool) -> Count:
    """Cost of ``y = x W^T + b`` for ``x`` of shape ``(..., in_features)``.

    Example (Table II, Dense 256 on the 100,352-long flattened map):
        >>> linear_count((1, 100352), 100352, 256, bias=True)
        Count(macs=25690112, flops=51380480)
    """
    rows = math.prod(input_shape[:-1])
    macs = rows * in_features * out_features
    return Count(macs, 2 * macs + (rows * out_features if bias else 0))


@register_formula(nn.Linear, family="linear")
def linear_module(call: OpCall) -> Count:
    """``nn.Linear`` (also ``NonDynamicallyQuantizableLinear``)."""
    module = call.module_as(nn.Linear)
    return linear_count(call.tensors[0].shape, module.in_features, module.out_features, bias=module.bias is not None)


@register_formula(nn.Bilinear, family="linear")
def bilinear_module(call: OpCall) -> Count:
    """``nn.Bilinear``: ``y_k = x1^T A_k x2 + b_k``."""
    module = call.module_as(nn.Bilinear)
    rows = math.prod(call.tensors[0].shape[:-1])
    macs = rows * module.out_features * module.in1_features * (module.in2_features + 1)
    return Count(macs, 2 * macs + (rows * module.out_features if module.bias is not None else 0))


@register_formula(F.linear, family="linear")
def linear_function(call: OpCall) -> Count:
    """``F.linear(input, weight, bias)``; ``weight`` is ``(out, in)`` or ``(in,)``."""
    weight = call.arg(1, "weight").shape
    out_features = weight[0] if len(weight) == 2 else 1
    return linear_count(call.arg(0, "input").shape, weight[-1], out_features, bias=call.arg(2, "bias") is not None)


def matmul_count(a: Shape, output: Shape) -> Count:
    """Cost of ``a @ b`` from ``a``'s shape and the output shape (any broadcasting).

    Example:
        >>> matmul_count((8, 64, 32), (8, 64, 16))   # bmm: 8 x (64x32 @ 32x16)
        Count(macs=262144, flops=524288)
    """
    inner = a[-1]
    macs = max(math.prod(output), 1) * inner
    return Count(macs, 2 * macs)


@register_formula(
    torch.matmul,
    torch.mm,
    torch.bmm,
    operator.matmul,
    "Tensor.matmul",
    "Tensor.mm",
    "Tensor.bmm",
    "Tensor.__matmul__",
    aten.mm,
    aten.bmm,
    aten.matmul,
    *_GROUPED_MM,
    family="matmul",
)
def matmul(call: OpCall) -> Count:
    """``matmul``/``mm``/``bmm``/``@`` including 1-d and broadcast operands.

    ``_grouped_mm(a (S, K), b (G, K, N), offs)`` (each row of ``a`` through one group's
    matrix, as a mixture-of-experts layer runs its experts) is ``S * N * K`` MACs too.
    """
    tensors = call.tensors
    return matmul_count(tensors[0].shape, call.out.shape)


@register_formula(
    torch.addmm,
    torch.baddbmm,
    "Tensor.addmm",
    "Tensor.baddbmm",
    aten.addmm,
    aten.baddbmm,
    family="matmul",
)
def addmm(call: OpCall) -> Count:
    """``addmm(bias, a, b)`` / ``baddbmm(bias, a, b)``: a product plus one add per output."""
    a = call.arg(1, "mat1", call.kwargs.get("batch1"))
    product = matmul_count(a.shape, call.out.shape)
    return Count(product.macs, product.flops + math.prod(call.out.shape))


_ELLIPSIS_LETTERS = "".join(chr(0x391 + i) for i in range(24))  # greek: never user letters


def einsum_count(equation: str, shapes: list[Shape]) -> Count:
    """Cost of ``torch.einsum(equation, *operands)``, contracted left to right.

    A one-operand equation (a sum or a transpose) costs one add per element it
    reduces and no MACs.

    Indices that only one operand has and that nothing later needs are summed away first
    (one add per element removed), as torch does, before the pairwise product.

    Example:
        >>> einsum_count("ij,jk->i", [(2, 3), (3, 4)])   # k summed first (9 adds), then 6 MACs
        Count(macs=6, flops=21)
        >>> einsum_count("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)])
        Count(macs=120, flops=240)
        >>> einsum_count("...ij,...jk", [(2, 3, 4), (4, 5)])
        Count(macs=120, flops=240)
    """
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    ellipsis_ndim = max(
        (len(shape) - (len(term) - 3) for term, shape in zip(terms, shapes) if "..." in term),
        default=0,
    )
    fill = _ELLIPSIS_LETTERS[:ellipsis_ndim]
    sizes: dict[str, int] = {}
    own: list[dict[str, int]] = []  # each operand's own sizes (1 where it broadcasts)
    expanded: list[str] = []
    for term, shape in zip(terms, shapes):
        if "..." in term:
            count = len(shape) - (len(term) - 3)
            term = term.replace("...", fill[ellipsis_ndim - count :])
        own.append(dict(zip(term, shape)))
        for letter, size in zip(term, shape):
            sizes[letter] = max(sizes.get(letter, 1), size)
        expanded.append(term)
    if arrow:
        output = rhs.replace("...", fill)
    else:
        letters = "".join(t.replace("...", "") for t in terms)
        output = fill + "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if len(expanded) == 1:
        in_numel = math.prod(own[0].values())
        return Count(0, in_numel - math.prod(sizes[c] for c in output))
    macs = reduce_adds = 0
    current, current_sizes = expanded[0], own[0]
    for position in range(1, len(expanded)):
        other, other_sizes = expanded[position], own[position]
        still_needed = set(output).union(*expanded[position + 1 :])
        # Like torch, first sum away indices that only one side has and nothing later needs.
        kept = []
        for side, side_sizes, partner in ((current, current_sizes, other), (other, other_sizes, current)):
            keep = [c for c in side if c in partner or c in still_needed]
            reduce_adds += math.prod(side_sizes.values()) - math.prod(side_sizes[c] for c in keep)
            kept.append({c: side_sizes[c] for c in keep})
        involved = {c: max(kept[0].get(c, 1), kept[1].get(c, 1)) for c in {**kept[0], **kept[1]}}
        macs += math.prod(involved.values())
        current = "".join(c for c in involved if c in still_needed)
        current_sizes = {c: involved[c] for c in current}
    return Count(macs, 2 * macs + reduce_adds)


@register_formula(torch.einsum, family="matmul")
def einsum(call: OpCall) -> Count:
    """``torch.einsum(equation, *operands)`` (operands as varargs or one list)."""
    equation = call.args[0]
    operands = call.tensors
    return einsum_count(equation, [t.shape for t in operands])
