"""Shape rules of calls that split, join, cast, pad or resample tensors between layers.

``x.unbind()``, ``x.chunk(3, -1)``, ``torch.split``, ``torch.stack``, ``x.unsqueeze``,
``x.to(dtype)``, ``x.type_as(y)``, ``x.half()``, ``F.pad``, ``F.interpolate`` (and
``nn.Upsample`` through :func:`interpolate_output`): pure-Python rules in the style of
:mod:`flopcount.function_shapes`, which merges :data:`PIECE_SHAPE_RULES` into its
registry. Without them each call ran torch's meta kernel (``F.interpolate`` about
12 ms a call on meta).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from flopcount.meta import meta_empty
from flopcount.shape_rule import NoRule, ShapeRule, dim_index

_CASTS = {"float": torch.float32, "half": torch.float16, "bfloat16": torch.bfloat16, "double": torch.float64}


def _cast_to(dtype: torch.dtype) -> ShapeRule:
    def rule(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if args or set(kwargs) - {"memory_format"}:
            raise NoRule
        return x if x.dtype == dtype else meta_empty(tuple(x.shape), dtype)

    return rule


def _to(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """``x.to(dtype)``, ``x.to(device[, dtype])``, ``x.to(other)``: the values are meta, only the dtype moves."""
    if set(kwargs) - {"dtype", "device", "non_blocking", "copy", "memory_format"}:
        raise NoRule
    dtype = kwargs.get("dtype")
    for arg in args:
        if isinstance(arg, torch.dtype):
            dtype = arg
        elif isinstance(arg, torch.Tensor):
            dtype = arg.dtype
        elif not isinstance(arg, (torch.device, str, bool)):
            raise NoRule
    if dtype is None or dtype == x.dtype:
        return x
    return meta_empty(tuple(x.shape), dtype)


def _type_as(x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    return x if x.dtype == other.dtype else meta_empty(tuple(x.shape), other.dtype)


def _unsqueeze(x: torch.Tensor, dim: int) -> torch.Tensor:
    shape = list(x.shape)
    shape.insert(dim_index(x, dim, extra=1), 1)
    return meta_empty(tuple(shape), x.dtype)


def _unbind(x: torch.Tensor, dim: int = 0) -> tuple[torch.Tensor, ...]:
    d = dim_index(x, dim)
    shape = (*x.shape[:d], *x.shape[d + 1 :])
    return tuple(meta_empty(shape, x.dtype) for _ in range(x.shape[d]))


def _pieces(x: torch.Tensor, sizes: list[int], d: int) -> tuple[torch.Tensor, ...]:
    return tuple(meta_empty((*x.shape[:d], size, *x.shape[d + 1 :]), x.dtype) for size in sizes)


def _split(x: torch.Tensor, split_size_or_sections: Any, dim: int = 0) -> tuple[torch.Tensor, ...]:
    d = dim_index(x, dim)
    length = x.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0 or length == 0:
            raise NoRule
        sizes = [min(step, length - start) for start in range(0, length, step)]
    elif isinstance(split_size_or_sections, (list, tuple)) and all(isinstance(s, int) for s in split_size_or_sections):
        sizes = list(split_size_or_sections)
        if sum(sizes) != length or any(s < 0 for s in sizes):
            raise NoRule
    else:
        raise NoRule
    return _pieces(x, sizes, d)


def _chunk(x: torch.Tensor, chunks: int, dim: int = 0) -> tuple[torch.Tensor, ...]:
    d = dim_index(x, dim)
    if not isinstance(chunks, int) or chunks <= 0 or x.shape[d] == 0:
        raise NoRule
    return _split(x, -(-x.shape[d] // chunks), d)


def _stack(tensors: Any, dim: int = 0) -> torch.Tensor:
    if not isinstance(tensors, (list, tuple)) or not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise NoRule
    first = tensors[0]
    if any(t.shape != first.shape for t in tensors):
        raise NoRule
    shape = list(first.shape)
    shape.insert(dim_index(first, dim, extra=1), len(tensors))
    dtype = first.dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return meta_empty(tuple(shape), dtype)


def _pad(x: torch.Tensor, pad: Any, mode: str = "constant", value: Any = None) -> torch.Tensor:
    if mode != "constant" or not isinstance(pad, (list, tuple)) or len(pad) % 2 or len(pad) > 2 * x.dim():
        raise NoRule
    if not all(isinstance(p, int) and p >= 0 for p in pad):
        raise NoRule  # cropping: torch's own checks
    shape = list(x.shape)
    for i in range(len(pad) // 2):
        shape[-1 - i] += pad[2 * i] + pad[2 * i + 1]
    return meta_empty(tuple(shape), x.dtype)


_INTERPOLATE_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def interpolate_output(
    x: torch.Tensor,
    size: Any = None,
    scale_factor: Any = None,
    mode: str = "nearest",
    align_corners: Any = None,
    recompute_scale_factor: Any = None,
    antialias: bool = False,
) -> torch.Tensor:
    """``F.interpolate``'s output: ``size``, else ``floor(input size * scale factor)`` per spatial dim."""
    spatial = x.dim() - 2
    if spatial not in (1, 2, 3) or _INTERPOLATE_DIMS.get(mode, spatial) != spatial or not x.dtype.is_floating_point:
        raise NoRule  # torch's checks say what is wrong
    if (size is None) == (scale_factor is None) or (antialias and mode not in ("bilinear", "bicubic")):
        raise NoRule
    if align_corners is not None and mode not in _INTERPOLATE_DIMS:
        raise NoRule
    given = size if size is not None else scale_factor
    values = list(given) if isinstance(given, (list, tuple)) else [given] * spatial
    if len(values) != spatial:
        raise NoRule
    if size is not None:
        if not all(isinstance(v, int) for v in values):
            raise NoRule
        out = values
    else:
        if not all(isinstance(v, (int, float)) and v > 0 for v in values):
            raise NoRule
        out = [math.floor(float(n) * float(v)) for n, v in zip(x.shape[2:], values)]
    if any(v <= 0 for v in out):
        raise NoRule
    return meta_empty((*x.shape[:2], *out), x.dtype)


#: callable or ``"Tensor.<method>"`` -> rule(*args, **kwargs)
PIECE_SHAPE_RULES: dict[Any, ShapeRule] = {
    **{f"Tensor.{name}": _cast_to(dtype) for name, dtype in _CASTS.items()},
    "Tensor.to": _to,
    "Tensor.type_as": _type_as,
    **dict.fromkeys(("Tensor.unsqueeze", torch.unsqueeze), _unsqueeze),
    **dict.fromkeys(("Tensor.unbind", torch.unbind), _unbind),
    **dict.fromkeys(("Tensor.split", torch.split, torch.functional.split), _split),
    **dict.fromkeys(("Tensor.chunk", torch.chunk), _chunk),
    torch.stack: _stack,
    F.pad: _pad,
    F.interpolate: interpolate_output,
}
