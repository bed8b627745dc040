"""What every shape rule shares: :class:`NoRule`, the rule type, and broadcasting of sizes.

A shape rule maps an op's meta inputs to its meta output in pure Python (no dispatcher
call); one that does not cover a case raises :class:`NoRule` and the op runs on meta
tensors instead. Rules live in :mod:`flopcount.shapes` (modules),
:mod:`flopcount.function_shapes` and :mod:`flopcount.piece_shapes` (functions and
tensor methods), :mod:`flopcount.aten_shapes` (aten ops) and :mod:`flopcount.leaf_shapes`
(quantized and other leaves).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ShapeRule = Callable[..., Any]


class NoRule(Exception):
    """Raised by a shape rule to hand the op over to meta execution."""


def broadcast_sizes(shapes: Any) -> tuple[int, ...] | None:
    """NumPy broadcasting of sizes, None when they do not broadcast.

    ``torch.broadcast_shapes`` does the same with checks for symbolic sizes, at several
    times the cost; shape rules call this on every elementwise node.

    Example:
        >>> broadcast_sizes([(2, 1, 4), (3, 1)]), broadcast_sizes([(2,), (3,)])
        ((2, 3, 4), None)
    """
    ndim = max((len(shape) for shape in shapes), default=0)
    out = [1] * ndim
    for shape in shapes:
        for i, size in enumerate(shape, start=ndim - len(shape)):
            if size != out[i]:
                if out[i] != 1 and size != 1:
                    return None
                out[i] = size if out[i] == 1 else out[i]
    return tuple(out)


def broadcast(*shapes: Any) -> tuple[int, ...]:
    """:func:`broadcast_sizes`; the RuntimeError torch raises (the model's own error) when they do not broadcast."""
    shape = broadcast_sizes(shapes)
    if shape is None:
        raise RuntimeError(f"shapes {[tuple(s) for s in shapes]} cannot be broadcast together")
    return shape


def dim_index(x: Any, dim: Any, extra: int = 0) -> int:
    """``dim`` of a tensor of ``x.dim() + extra`` dims, as a non-negative index (``NoRule`` when out of range)."""
    ndim: int = x.dim() + extra
    if not isinstance(dim, int) or ndim == 0 or not -ndim <= dim < ndim:
        raise NoRule
    return dim % ndim
