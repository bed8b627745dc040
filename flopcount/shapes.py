"""Output values of ops from their inputs' shapes: shape rules first, meta execution otherwise.

Values flowing through the graph are tensors on the ``meta`` device (shape and dtype,
no storage) or plain Python values. Hot, shape-simple ops get a pure-Python shape rule
(:data:`MODULE_SHAPE_RULES`, :data:`FUNCTION_SHAPE_RULES`) so they cost no dispatcher
call; a rule that does not cover a case raises ``_NoRule`` and the op runs on meta
tensors instead (:func:`module_output`, :func:`function_output`). Nothing here touches
real data.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from flopcount.meta import meta_empty, module_meta_forward, on_meta

ShapeRule = Callable[..., Any]

# torch leaves broadcast_shapes unannotated; this is its documented signature.
_broadcast_shapes: Callable[..., torch.Size] = torch.broadcast_shapes


def _same(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return x


def _pair(value: Any, dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


def _meta_forward(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The edge cases of a rule: torch's own meta kernel (and its checks) decide."""
    return cast(torch.Tensor, module_meta_forward(module, x))


def conv_output(module: nn.modules.conv._ConvNd, x: torch.Tensor) -> torch.Tensor:
    """Output of a convolution module (float or quantized: the same attributes) on ``x``."""
    dims = len(module.kernel_size)
    spatial = x.shape[-dims:]
    if module.padding == "same" and not module.transposed and all(s == 1 for s in module.stride):
        out = list(spatial)  # torch pads so that the output keeps the input size
    elif isinstance(module.padding, str) and module.padding != "valid":
        return _meta_forward(module, x)  # let the real op decide (and reject)
    elif module.transposed:
        out = [
            (size - 1) * s - 2 * p + d * (k - 1) + op + 1
            for size, s, p, d, k, op in zip(
                spatial,
                module.stride,
                module.padding,
                module.dilation,
                module.kernel_size,
                module.output_padding,
            )
        ]
    else:
        padding: tuple[int, ...] = (0,) * dims if isinstance(module.padding, str) else tuple(module.padding)
        out = [
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, s, p, d, k in zip(spatial, module.stride, padding, module.dilation, module.kernel_size)
        ]
    if x.shape[-dims - 1] != module.in_channels:
        raise RuntimeError(f"expected input with {module.in_channels} channels, got {x.shape[-dims - 1]}")
    if min(out) <= 0:
        raise RuntimeError(f"input {tuple(x.shape)} is too small for kernel {module.kernel_size}")
    return meta_empty((*x.shape[: -dims - 1], module.out_channels, *out), x.dtype)


def linear_output(module: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """Output of a linear module (float or quantized) on ``x``."""
    if x.shape[-1] != module.in_features:
        raise RuntimeError(f"expected last dim {module.in_features}, got {x.shape[-1]}")
    return meta_empty((*x.shape[:-1], module.out_features), x.dtype)


def _pool_out(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_module(module: Any, x: torch.Tensor) -> torch.Tensor:  # any MaxPoolNd / AvgPoolNd
    dims = 3 if "3d" in type(module).__name__ else 2 if "2d" in type(module).__name__ else 1
    k = _pair(module.kernel_size, dims)
    s = _pair(module.stride if module.stride is not None else module.kernel_size, dims)
    p = _pair(module.padding, dims)
    d = _pair(getattr(module, "dilation", 1), dims)
    out = [_pool_out(*geometry, module.ceil_mode) for geometry in zip(x.shape[-dims:], k, s, p, d)]
    too_small = any(size < dd * (kk - 1) + 1 for size, kk, dd in zip(x.shape[-dims:], k, d))
    if getattr(module, "return_indices", False) or min(out) <= 0 or too_small:
        return _meta_forward(module, x)
    return meta_empty((*x.shape[:-dims], *out), x.dtype)


def _adaptive_module(module: Any, x: torch.Tensor) -> torch.Tensor:  # any AdaptiveAvgPoolNd / AdaptiveMaxPoolNd
    if getattr(module, "return_indices", False):
        return _meta_forward(module, x)
    dims = 3 if "3d" in type(module).__name__ else 2 if "2d" in type(module).__name__ else 1
    target = _pair(module.output_size, dims)
    out = [size if t is None else t for size, t in zip(x.shape[-dims:], target)]
    return meta_empty((*x.shape[:-dims], *out), x.dtype)


def _flatten_shape(shape: tuple[int, ...], start: int = 0, end: int = -1) -> tuple[int, ...]:
    if not shape:
        return (1,)
    start %= len(shape)
    end %= len(shape)
    return (*shape[:start], math.prod(shape[start : end + 1]), *shape[end + 1 :])


def _flatten(x: torch.Tensor, start_dim: int = 0, end_dim: int = -1) -> torch.Tensor:
    return meta_empty(_flatten_shape(tuple(x.shape), start_dim, end_dim), x.dtype)


def _flatten_module(module: nn.Flatten, x: torch.Tensor) -> torch.Tensor:
    return _flatten(x, module.start_dim, module.end_dim)


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
        return meta_empty(tuple(_broadcast_shapes(a.shape, b.shape)), torch.promote_types(a.dtype, b.dtype))
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
    dims = {d % max(x.dim(), 1) for d in given}
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


def _getitem(x: Any, index: Any) -> Any:
    if not isinstance(x, torch.Tensor):
        return x[index]
    items = index if isinstance(index, tuple) else (index,)
    if not all(i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items):
        raise _NoRule  # advanced indexing: let torch decide
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
    batch = _broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
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
    _broadcast_shapes(x.shape, shape)
    return meta_empty(shape, x.dtype)


def _multihead_attention_module(
    module: nn.MultiheadAttention,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    key_padding_mask: Any = None,
    need_weights: bool = True,
    attn_mask: Any = None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    batched = query.dim() == 3
    if query.shape[-1] != module.embed_dim or key.shape[:-1] != value.shape[:-1] or key.dim() != query.dim():
        raise _NoRule  # let torch produce its own error message
    output = meta_empty(tuple(query.shape), query.dtype)
    if not need_weights:
        return output, None
    if batched:
        batch, length, source = (
            (query.shape[0], query.shape[1], key.shape[1])
            if module.batch_first
            else (query.shape[1], query.shape[0], key.shape[0])
        )
        lead: tuple[int, ...] = (batch,)
    else:
        length, source, lead = query.shape[0], key.shape[0], ()
    heads = () if average_attn_weights else (module.num_heads,)
    return output, meta_empty((*lead, *heads, length, source), query.dtype)


def _embedding_module(module: nn.Embedding, x: torch.Tensor) -> torch.Tensor:
    return meta_empty((*x.shape, module.embedding_dim), module.weight.dtype)


class NoRule(Exception):
    """Raised by a shape rule to hand the op over to meta execution."""


_NoRule = NoRule


def _same_module(module: nn.Module, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return x


_SAME_SHAPE_MODULES: tuple[type[nn.Module], ...] = (
    *(nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.LeakyReLU),
    *(nn.ELU, nn.Mish, nn.Softmax, nn.LogSoftmax, nn.Hardtanh, nn.Identity),
    *(nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout),
    *(nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm),
    *(nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d),
)

#: module class -> rule(module, *args, **kwargs)
MODULE_SHAPE_RULES: dict[type[nn.Module], ShapeRule] = {
    **dict.fromkeys(_SAME_SHAPE_MODULES, _same_module),
    **dict.fromkeys((nn.Conv1d, nn.Conv2d, nn.Conv3d), conv_output),
    **dict.fromkeys((nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d), _pool_module),
    **dict.fromkeys((nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d), _adaptive_module),
    nn.AdaptiveMaxPool2d: _adaptive_module,
    nn.Linear: linear_output,
    nn.Flatten: _flatten_module,
    nn.Embedding: _embedding_module,
    nn.MultiheadAttention: _multihead_attention_module,
}

_SAME_SHAPE_FUNCTIONS: tuple[Any, ...] = (
    *(F.relu, torch.relu, F.relu6, F.gelu, F.silu, F.hardswish, F.hardsigmoid, F.leaky_relu, F.elu, F.mish),
    *(torch.sigmoid, torch.tanh, torch.exp, torch.sqrt, torch.rsqrt, operator.neg, torch.neg, F.softmax),
    *(F.dropout, F.layer_norm, F.group_norm, F.batch_norm),
)
_SAME_SHAPE_METHODS = (
    *("relu", "relu_", "sigmoid", "tanh", "exp", "sqrt", "rsqrt", "neg", "softmax"),
    *("contiguous", "float", "clone", "detach"),
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
}


def module_output(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Output of a leaf module call on meta values: its shape rule, else its meta ``forward``."""
    rule = MODULE_SHAPE_RULES.get(type(module))
    if rule is not None:
        try:
            return rule(module, *args, **kwargs)
        except _NoRule:
            pass
    return module_meta_forward(module, *args, **kwargs)


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
