"""Shape rules of tensor functions and methods: ``x.view``, ``torch.cat``, ``F.grid_sample``, ...

A rule maps a call's meta inputs to its meta output in pure Python (no dispatcher call);
one that does not cover a case raises :class:`NoRule` and the call runs on meta tensors
instead (:func:`function_output`). Module rules live in :mod:`flopcount.shapes`.
"""

from __future__ import annotations

import math
import operator
from typing import Any

import torch
import torch.nn.functional as F

from flopcount.meta import meta_empty, on_meta
from flopcount.piece_shapes import PIECE_SHAPE_RULES
from flopcount.shape_rule import NoRule, ShapeRule, broadcast, broadcast_sizes, dim_index
from flopcount.values import has_tensor

_NoRule = NoRule


def _same(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return x


def _flatten_shape(shape: tuple[int, ...], start: int = 0, end: int = -1) -> tuple[int, ...]:
    if not shape:
        return (1,)
    start %= len(shape)
    end %= len(shape)
    return (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])


def _flatten(x: torch.Tensor, start_dim: int = 0, end_dim: int = -1) -> torch.Tensor:
    return meta_empty(_flatten_shape(tuple(x.shape), start_dim, end_dim), x.dtype)


def _binary(a: Any, b: Any, *args: Any, **kwargs: Any) -> Any:
    a_tensor, b_tensor = isinstance(a, torch.Tensor), isinstance(b, torch.Tensor)
    if not (a_tensor or b_tensor) or args or kwargs:
        raise _NoRule
    tensors = [t for t in (a, b) if isinstance(t, torch.Tensor)]
    # Only float tensors of at least one dim: integer/bool promotion (true division,
    # Python scalars) and 0-d scalar rules are left to torch.
    if any(not t.dtype.is_floating_point or t.dim() == 0 for t in tensors):
        raise _NoRule
    if a_tensor and b_tensor:
        return meta_empty(broadcast(a.shape, b.shape), torch.promote_types(a.dtype, b.dtype))
    other = b if a_tensor else a
    if not isinstance(other, (int, float)):
        raise _NoRule
    return a if a_tensor else b


def _view(x: torch.Tensor, *shape: Any) -> torch.Tensor:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
        shape = tuple(shape[0])
    if not all(isinstance(s, int) for s in shape):
        raise _NoRule
    numel = x.numel()
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        shape = tuple(numel // known if s == -1 and known else s for s in shape)
    if math.prod(shape) != numel:
        raise RuntimeError(f"shape {list(shape)} is invalid for input of size {numel}")
    return meta_empty(tuple(shape), x.dtype)


def _size(x: torch.Tensor, dim: int | None = None) -> Any:
    return x.shape if dim is None else x.shape[dim]


def _transpose(x: torch.Tensor, dim0: int, dim1: int) -> torch.Tensor:
    shape = list(x.shape)
    shape[dim0], shape[dim1] = shape[dim1], shape[dim0]
    return meta_empty(tuple(shape), x.dtype)


def _permute(x: torch.Tensor, *dims: Any) -> torch.Tensor:
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if sorted(d % x.dim() for d in dims) != list(range(x.dim())):
        raise RuntimeError(f"permute dims {dims} do not match a {x.dim()}-d tensor")
    return meta_empty(tuple(x.shape[d] for d in dims), x.dtype)


def _reduce(x: torch.Tensor, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> torch.Tensor:
    if dtype is not None or isinstance(dim, str):
        raise _NoRule
    given = range(x.dim()) if dim is None else (dim if isinstance(dim, (tuple, list)) else (dim,))
    if x.dim() == 0:
        raise _NoRule
    dims = {dim_index(x, d) for d in given}
    shape = tuple(1 if i in dims else s for i, s in enumerate(x.shape) if keepdim or i not in dims)
    return meta_empty(shape, x.dtype)


def _scalar_power(x: torch.Tensor, exponent: Any) -> torch.Tensor:
    if not isinstance(exponent, (int, float)) or (isinstance(exponent, float) and not x.dtype.is_floating_point):
        raise _NoRule
    return x


def _cat(tensors: Any, dim: int = 0) -> torch.Tensor:
    tensors = [t for t in tensors if t.dim() != 1 or t.shape[0] != 0]  # torch skips legacy empty tensors
    first = tensors[0]
    dim %= first.dim()
    for t in tensors[1:]:
        if t.dim() != first.dim() or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape)) if i != dim):
            raise RuntimeError(f"cat: shapes {[tuple(t.shape) for t in tensors]} differ outside dim {dim}")
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    dtype = first.dtype
    for t in tensors[1:]:
        dtype = torch.promote_types(dtype, t.dtype)
    return meta_empty(tuple(shape), dtype)


def _advanced_index(x: torch.Tensor, items: tuple[Any, ...]) -> torch.Tensor:
    """``x[...]`` with integer index tensors among slices and ``...`` (numpy's rules, as torch follows them).

    The index tensors broadcast to one shape, which replaces their dims where they stand
    when they are adjacent, else leads the result. A boolean mask (its result depends on
    its values), a 0-d index, ``None`` or an integer beside index tensors is left to torch.
    """
    tensors = [i for i in items if isinstance(i, torch.Tensor)]
    if x.dim() == 0 or any(t.dtype not in (torch.int64, torch.int32) or t.dim() == 0 for t in tensors):
        raise _NoRule  # a 0-d index tensor selects like an integer
    ellipses = sum(i is Ellipsis for i in items)
    if not all(isinstance(i, (torch.Tensor, slice)) or i is Ellipsis for i in items) or ellipses > 1:
        raise _NoRule
    consumed = len(items) - ellipses
    if consumed > x.dim():
        raise _NoRule
    expanded: list[Any] = []
    for i in items:
        expanded.extend([slice(None)] * (x.dim() - consumed) if i is Ellipsis else [i])
    expanded.extend([slice(None)] * (x.dim() - len(expanded)))
    index_shape = broadcast_sizes([t.shape for t in tensors])
    if index_shape is None:
        raise _NoRule  # torch names the shapes that do not broadcast
    positions = [k for k, i in enumerate(expanded) if isinstance(i, torch.Tensor)]
    sizes = [len(range(*i.indices(n))) if isinstance(i, slice) else -1 for i, n in zip(expanded, x.shape)]
    if positions == list(range(positions[0], positions[-1] + 1)):
        shape = (*sizes[: positions[0]], *index_shape, *sizes[positions[-1] + 1 :])
    else:
        shape = (*index_shape, *(s for s in sizes if s >= 0))
    return meta_empty(shape, x.dtype)


def _getitem(x: Any, index: Any) -> Any:
    if not isinstance(x, torch.Tensor):
        return x[index]
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, torch.Tensor) for i in items):
        return _advanced_index(x, items)
    if not all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items):
        raise _NoRule  # advanced indexing: let torch decide
    if sum(i is Ellipsis for i in items) > 1:
        raise _NoRule  # torch's error
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis)
    if consumed > x.dim():
        raise IndexError(f"too many indices for a {x.dim()}-d tensor")
    expanded: list[Any] = []
    for i in items:
        if i is Ellipsis:
            expanded.extend([slice(None)] * (x.dim() - consumed))
        else:
            expanded.append(i)
    dims = iter(x.shape)
    shape: list[int] = []
    for i in expanded:
        if i is None:
            shape.append(1)
            continue
        size = next(dims)
        if isinstance(i, slice):
            shape.append(len(range(*i.indices(size))))
        elif not -size <= i < size:
            raise IndexError(f"index {i} is out of bounds for dimension with size {size}")
    shape.extend(dims)
    return meta_empty(tuple(shape), x.dtype)


def _sdpa(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise RuntimeError(
            f"attention shapes do not fit: q {tuple(query.shape)}, k {tuple(key.shape)}, v {tuple(value.shape)}"
        )
    if kwargs.get("enable_gqa"):
        raise _NoRule  # grouped heads: let torch check the head counts
    batch = broadcast(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    return meta_empty((*batch, query.shape[-2], value.shape[-1]), query.dtype)


def _grid_sample(x: torch.Tensor, grid: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    # on meta, torch runs grid_sampler's Python decomposition: ~60 ms a call at RAFT's sizes
    spatial = x.dim() - 2
    if spatial not in (2, 3) or grid.dim() != x.dim() or grid.shape[-1] != spatial or grid.shape[0] != x.shape[0]:
        raise _NoRule  # let torch's own checks speak
    return meta_empty((x.shape[0], x.shape[1], *grid.shape[1:-1]), x.dtype)


def _expand(x: torch.Tensor, *sizes: Any) -> torch.Tensor:
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list, torch.Size)):
        sizes = tuple(sizes[0])
    lead = len(sizes) - x.dim()
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(sizes))
    broadcast(x.shape, shape)
    return meta_empty(shape, x.dtype)


def _reshape_as(x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    return _view(x, tuple(other.shape))


def _float_same(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    """Same shape and dtype, for floating-point ``x`` and no tensor among the other arguments."""
    if not x.dtype.is_floating_point or has_tensor((args, kwargs)):
        raise _NoRule
    return x


def _einsum(equation: Any, *operands: Any) -> torch.Tensor:
    """``torch.einsum`` without ``...``: each letter's size from the operands, which must agree."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str) or "..." in equation or not operands:
        raise _NoRule
    if not all(isinstance(t, torch.Tensor) and t.dtype == operands[0].dtype for t in operands):
        raise _NoRule
    lhs, arrow, rhs = equation.replace(" ", "").partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands) or any(len(term) != t.dim() for term, t in zip(terms, operands)):
        raise _NoRule
    sizes: dict[str, int] = {}
    for term, tensor in zip(terms, operands):
        for letter, size in zip(term, tensor.shape):
            if sizes.setdefault(letter, size) != size or not letter.isalpha():
                raise _NoRule  # broadcasting a size-1 index, or a bad equation: torch decides
    letters = "".join(terms)
    output = rhs if arrow else "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if any(c not in sizes for c in output) or len(set(output)) != len(output):
        raise _NoRule
    return meta_empty(tuple(sizes[c] for c in output), operands[0].dtype)


def _bool_binary(a: Any, b: Any) -> torch.Tensor:
    """``a & b`` / ``a | b`` of two boolean tensors (masks); other dtypes are left to torch."""
    if not (isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)) or not a.dtype == b.dtype == torch.bool:
        raise _NoRule
    return meta_empty(broadcast(a.shape, b.shape), torch.bool)


def _roll(x: torch.Tensor, shifts: Any, dims: Any = None) -> torch.Tensor:
    shift_list = shifts if isinstance(shifts, (tuple, list)) else (shifts,)
    dim_list = () if dims is None else (dims if isinstance(dims, (tuple, list)) else (dims,))
    if (len(shift_list) != 1 if dims is None else len(shift_list) != len(dim_list)) or x.dim() == 0:
        raise _NoRule
    for dim in dim_list:
        dim_index(x, dim)
    return x


def _normalize(x: torch.Tensor, p: Any = 2.0, dim: int = 1, eps: float = 1e-12, out: Any = None) -> torch.Tensor:
    if out is not None:
        raise _NoRule
    dim_index(x, dim)
    return _float_same(x)


def _norm(x: torch.Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False, dtype: Any = None) -> torch.Tensor:
    if dtype is not None or not x.dtype.is_floating_point or not isinstance(p, (int, float, str, type(None))):
        raise _NoRule
    if p not in (2, 2.0, "fro", None) and dim is None and x.dim() > 1:
        raise _NoRule  # a matrix norm of a 2-d input
    return _reduce(x, dim, keepdim)


def _addcmul(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, *, value: Any = 1) -> torch.Tensor:
    tensors = (x, a, b)
    if not all(isinstance(t, torch.Tensor) and t.dtype == x.dtype and t.dim() for t in tensors):
        raise _NoRule
    if not x.dtype.is_floating_point or not isinstance(value, (int, float)):
        raise _NoRule
    return meta_empty(_broadcast_or_no_rule(x.shape, a.shape, b.shape), x.dtype)


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: Any = None) -> torch.Tensor:
    if weight.dim() != 2 or x.dim() == 0 or x.dtype != weight.dtype or x.shape[-1] != weight.shape[1]:
        raise _NoRule
    if bias is not None and (bias.dtype != x.dtype or tuple(bias.shape) not in ((), (1,), (weight.shape[0],))):
        raise _NoRule
    return meta_empty((*x.shape[:-1], weight.shape[0]), x.dtype)


def _addmm(bias: torch.Tensor, mat1: torch.Tensor, mat2: torch.Tensor, *, beta: Any = 1, alpha: Any = 1) -> Any:
    if mat1.dim() != 2 or mat2.dim() != 2 or mat1.shape[1] != mat2.shape[0]:
        raise _NoRule
    if not bias.dtype == mat1.dtype == mat2.dtype or not mat1.dtype.is_floating_point:
        raise _NoRule
    shape = (mat1.shape[0], mat2.shape[1])
    if bias.dim() > 2 or _broadcast_or_no_rule(bias.shape, shape) != shape:
        raise _NoRule
    return meta_empty(shape, mat1.dtype)


def _embedding(ids: torch.Tensor, weight: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    if ids.dtype not in (torch.int64, torch.int32) or weight.dim() != 2:
        raise _NoRule
    return meta_empty((*ids.shape, weight.shape[1]), weight.dtype)


def _broadcast_or_no_rule(*shapes: Any) -> tuple[int, ...]:
    shape = broadcast_sizes(shapes)
    if shape is None:
        raise _NoRule
    return shape


_SAME_SHAPE_FUNCTIONS: tuple[Any, ...] = (
    *(F.relu, torch.relu, F.relu6, F.gelu, F.silu, F.hardswish, F.hardsigmoid, F.leaky_relu, F.elu, F.mish),
    *(torch.sigmoid, torch.tanh, torch.exp, torch.sqrt, torch.rsqrt, operator.neg, torch.neg, F.softmax),
    *(F.dropout, F.layer_norm, F.group_norm, F.batch_norm),
)


_SAME_SHAPE_METHODS = (
    *("relu", "relu_", "sigmoid", "tanh", "exp", "sqrt", "rsqrt", "neg", "softmax"),
    *("contiguous", "clone", "detach"),
)


#: callable or ``"Tensor.<method>"`` -> rule(*args, **kwargs)
FUNCTION_SHAPE_RULES: dict[Any, ShapeRule] = {
    **dict.fromkeys(_SAME_SHAPE_FUNCTIONS, _same),
    **dict.fromkeys((f"Tensor.{name}" for name in _SAME_SHAPE_METHODS), _same),
    **dict.fromkeys((operator.add, operator.sub, operator.mul, operator.truediv), _binary),
    **dict.fromkeys((operator.iadd, operator.imul, torch.add, torch.mul, torch.sub), _binary),
    **dict.fromkeys(("Tensor.add", "Tensor.add_", "Tensor.mul", "Tensor.mul_", "Tensor.sub", "Tensor.div"), _binary),
    **dict.fromkeys((torch.flatten, "Tensor.flatten"), _flatten),
    **dict.fromkeys(("Tensor.view", "Tensor.reshape", torch.reshape), _view),
    **dict.fromkeys(("Tensor.transpose", torch.transpose), _transpose),
    **dict.fromkeys(("Tensor.permute", torch.permute), _permute),
    **dict.fromkeys(("Tensor.mean", "Tensor.sum", torch.mean, torch.sum), _reduce),
    **dict.fromkeys(("Tensor.pow", torch.pow), _scalar_power),
    **dict.fromkeys((torch.cat, torch.concat), _cat),
    "Tensor.size": _size,
    operator.getitem: _getitem,
    F.scaled_dot_product_attention: _sdpa,
    F.grid_sample: _grid_sample,
    "Tensor.expand": _expand,
    "Tensor.reshape_as": _reshape_as,
    **dict.fromkeys((torch.roll, "Tensor.roll"), _roll),
    **dict.fromkeys((torch.clamp, "Tensor.clamp", "Tensor.clamp_"), _float_same),
    F.normalize: _normalize,
    **dict.fromkeys(("Tensor.norm", torch.norm), _norm),
    **dict.fromkeys((torch.addcmul, "Tensor.addcmul"), _addcmul),
    F.linear: _linear,
    torch.addmm: _addmm,
    F.embedding: _embedding,
    torch.einsum: _einsum,
    **dict.fromkeys(("Tensor.__and__", "Tensor.__or__", operator.and_, operator.or_), _bool_binary),
    **PIECE_SHAPE_RULES,
}


def function_output(target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Output of a function or tensor-method call on meta values: its shape rule, else meta execution.

    Args:
        target: The callable, or ``"Tensor.<method>"`` for a tensor method (``args[0]`` is
            the tensor).
        args: Positional arguments (meta tensors and Python values).
        kwargs: Keyword arguments.
    """
    rule = FUNCTION_SHAPE_RULES.get(target)
    if rule is not None:
        try:
            return rule(*args, **kwargs)
        except (_NoRule, TypeError):
            pass
    with on_meta():
        return call_target(target, args, kwargs)


def call_target(target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call a formula target: a callable, or ``"Tensor.<method>"`` on ``args[0]``.

    Example:
        >>> import torch
        >>> call_target("Tensor.view", (torch.zeros(2, 3), 6), {}).shape
        torch.Size([6])
    """
    if isinstance(target, str):
        return getattr(args[0], target.removeprefix("Tensor."))(*args[1:], **kwargs)
    return target(*args, **kwargs)
