"""Outputs of ops that cannot run on values-free tensors: shapes from attributes.

Two kinds need this, on top of :mod:`flopcount.shapes`. Quantized modules and ops
(``torch.ao.nn.quantized``, ``torch.ops.quantized``) have no meta or fake kernels: their
outputs follow from the module's attributes, like the float layers they replace, with
the input's quantized dtype; any other op on a quantized meta tensor runs on a float
stand-in of the same shape and gets the quantized dtype back. A mixture-of-experts
block's experts route tokens by their scores, which fake weights do not have; their
output has the shape of the hidden states (:func:`leaf_fallback_output`), and their
count is the expected active compute (:mod:`flopcount.formulas.moe`).

Functions of other libraries whose meta execution costs far more than their shapes
(torchvision's fx-wrapped Swin window attention runs some 80 ops on meta per call) have
rules by qualified name (:data:`NAMED_FUNCTION_RULES`), so flopcount needs no import of
the library.
"""

from __future__ import annotations

import operator
import types
from collections.abc import Callable
from typing import Any

import torch
import torch.ao.nn.quantized as nnq
import torch.ao.nn.quantized.dynamic as nnqd
import torch.nn.functional as F
from torch import nn
from torch.utils._pytree import tree_map

from flopcount.errors import CaptureLimitation
from flopcount.formulas.attention import SWIN_WINDOW_ATTENTION
from flopcount.formulas.moe import HF_EXPERTS
from flopcount.formulas.quantized import DYNAMIC_LINEARS, QUANTIZED_CONVS, QUANTIZED_LINEARS
from flopcount.formulas.registry import qualified_name
from flopcount.formulas.rnn import rnn_kind
from flopcount.function_shapes import function_output
from flopcount.meta import meta_empty
from flopcount.shape_rule import NoRule as _NoRule
from flopcount.shape_rule import broadcast as _broadcast_sizes
from flopcount.shapes import MODULE_SHAPE_RULES, conv_output, linear_output, module_output
from flopcount.values import tensors_in

_DEQUANTIZING = frozenset({"Tensor.dequantize", torch.dequantize})


def _quantize(module: nnq.Quantize, x: torch.Tensor) -> torch.Tensor:
    return meta_empty(tuple(x.shape), module.dtype)


def _dequantize(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return meta_empty(tuple(x.shape), torch.float32)


def _dynamic_linear(module: Any, x: torch.Tensor) -> torch.Tensor:
    return meta_empty((*x.shape[:-1], module.out_features), x.dtype)


def _recurrent(module: Any, x: Any, hx: Any = None) -> Any:
    """``nn.LSTM``/``GRU``/``RNN`` and their dynamic int8 versions: ``(output, h_n)`` or ``(output, (h_n, c_n))``.

    Unrolling a recurrent layer on meta tensors runs thousands of small ops; its shapes
    follow from its attributes.
    """
    if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3):
        raise _NoRule  # a PackedSequence: let the module run
    directions = 2 if module.bidirectional else 1
    hidden = module.hidden_size
    out_size = getattr(module, "proj_size", 0) or hidden
    output = meta_empty((*x.shape[:-1], directions * out_size), x.dtype)
    batch = () if x.dim() == 2 else (x.shape[0] if module.batch_first else x.shape[1],)
    h_n = meta_empty((module.num_layers * directions, *batch, out_size), x.dtype)
    if rnn_kind(module) == "LSTM":
        return output, (h_n, meta_empty((module.num_layers * directions, *batch, hidden), x.dtype))
    return output, h_n


#: module class -> rule(module, *args, **kwargs), on top of :data:`flopcount.shapes.MODULE_SHAPE_RULES`
LEAF_MODULE_RULES: dict[type, Callable[..., Any]] = {
    nnq.Quantize: _quantize,
    nnq.DeQuantize: _dequantize,
    **dict.fromkeys((nn.LSTM, nn.GRU, nn.RNN, nnqd.LSTM, nnqd.GRU), _recurrent),
    **dict.fromkeys(QUANTIZED_CONVS, conv_output),
    **dict.fromkeys(QUANTIZED_LINEARS, linear_output),
    **dict.fromkeys(DYNAMIC_LINEARS, _dynamic_linear),
}


def _broadcast(a: torch.Tensor, b: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
    shape = _broadcast_sizes(a.shape, b.shape) if isinstance(b, torch.Tensor) else tuple(a.shape)
    return meta_empty(shape, a.dtype)


def _cat(tensors: Any, dim: int = 0, *args: Any, **kwargs: Any) -> torch.Tensor:
    first = tensors[0]
    shape = list(first.shape)
    shape[dim] = sum(t.shape[dim] for t in tensors)
    return meta_empty(tuple(shape), first.dtype)


def _matmul(a: Any, b: Any, *args: Any, **kwargs: Any) -> torch.Tensor:
    """``a @ b`` with numpy broadcasting (1-d operands included), same dtypes only."""
    if args or kwargs or not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.dtype != b.dtype:
        raise _NoRule
    if a.dim() == 0 or b.dim() == 0:
        raise _NoRule
    left = tuple(a.shape) if a.dim() > 1 else (1, a.shape[0])
    right = tuple(b.shape) if b.dim() > 1 else (b.shape[0], 1)
    if left[-1] != right[-2]:
        raise RuntimeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be multiplied")
    batch = _broadcast_sizes(left[:-2], right[:-2])
    shape = (*batch, *left[-2:-1][: int(a.dim() > 1)], *right[-1:][: int(b.dim() > 1)])
    return meta_empty(shape, a.dtype)


def _conv(
    x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1
) -> torch.Tensor:
    """``F.conv{1,2,3}d`` with integer padding (string padding runs on meta)."""
    if not isinstance(x, torch.Tensor) or not isinstance(weight, torch.Tensor) or isinstance(padding, str):
        raise _NoRule
    dims = weight.dim() - 2
    if x.dim() != dims + 2 or x.shape[1] != weight.shape[1] * groups or x.dtype != weight.dtype:
        raise _NoRule  # unbatched input, a channel mismatch (torch words the error), mixed dtypes

    def tuple_of(value: Any) -> tuple[int, ...]:
        return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * dims

    out = [
        (size + 2 * p - d * (k - 1) - 1) // s + 1
        for size, k, s, p, d in zip(
            x.shape[2:], weight.shape[2:], tuple_of(stride), tuple_of(padding), tuple_of(dilation)
        )
    ]
    if min(out) <= 0:
        raise RuntimeError(f"input {tuple(x.shape)} is too small for kernel {tuple(weight.shape[2:])}")
    return meta_empty((x.shape[0], weight.shape[0], *out), x.dtype)


_quantized = torch.ops.quantized
#: callable -> rule(*args, **kwargs), on top of :data:`flopcount.function_shapes.FUNCTION_SHAPE_RULES`
LEAF_FUNCTION_RULES: dict[Any, Callable[..., Any]] = {
    **dict.fromkeys((torch.matmul, operator.matmul, "Tensor.matmul", "Tensor.__matmul__"), _matmul),
    **dict.fromkeys((torch.mm, torch.bmm, "Tensor.mm", "Tensor.bmm"), _matmul),
    **dict.fromkeys((F.conv1d, F.conv2d, F.conv3d), _conv),
    **dict.fromkeys(
        (_quantized.add, _quantized.mul, _quantized.add_relu, _quantized.mul_relu, _quantized.add_scalar), _broadcast
    ),
    _quantized.mul_scalar: _broadcast,
    _quantized.cat: _cat,
}


def _same_as_input(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    return meta_empty(tuple(x.shape), x.dtype)


#: qualified function name (:func:`~flopcount.formulas.registry.qualified_name`) -> rule(*args, **kwargs)
NAMED_FUNCTION_RULES: dict[str, Callable[..., Any]] = {
    SWIN_WINDOW_ATTENTION: _same_as_input,  # (B, H, W, C) in and out: padding and shift are undone
}


def _standin(value: Any) -> Any:
    """Float stand-ins of quantized meta tensors (same shape)."""
    return tree_map(
        lambda t: meta_empty(tuple(t.shape), torch.float32) if isinstance(t, torch.Tensor) and t.is_quantized else t,
        value,
    )


def _quantized_dtype(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.dtype | None:
    for tensor in tensors_in(args) + tensors_in(kwargs) if kwargs else tensors_in(args):
        if tensor.is_quantized:
            return tensor.dtype
    return None


def module_output_of(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Output of a leaf module on meta values: quantized rules first, else :func:`flopcount.shapes.module_output`."""
    if HF_EXPERTS.matches(type(module)):  # routing reads weight values; the output is shaped as its input
        return leaf_fallback_output(module, args, kwargs)
    rule = LEAF_MODULE_RULES.get(type(module))
    if rule is not None:
        try:
            return rule(module, *args, **kwargs)
        except _NoRule:
            pass
    return _with_standins(lambda a, k: module_output(module, a, k), args, kwargs, requantize=True)


def function_output_of(target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Output of a function on meta values: quantized rules first, else :func:`flopcount.shapes.function_output`."""
    rule = LEAF_FUNCTION_RULES.get(target)
    if rule is None and isinstance(target, types.FunctionType):
        rule = NAMED_FUNCTION_RULES.get(qualified_name(target) or "")
    if rule is not None:
        try:
            return rule(*args, **kwargs)
        except _NoRule:
            pass
    requantize = target not in _DEQUANTIZING
    return _with_standins(lambda a, k: function_output(target, a, k), args, kwargs, requantize=requantize)


def _with_standins(
    run: Callable[[Any, Any], Any], args: tuple[Any, ...], kwargs: dict[str, Any], *, requantize: bool
) -> Any:
    """``run(args, kwargs)``; on quantized meta inputs without a kernel, on float stand-ins.

    Float outputs of a stand-in run get the inputs' quantized dtype back (a pooling of
    a quantized tensor is quantized), unless the op dequantizes.
    """
    try:
        return run(args, kwargs)
    except (CaptureLimitation, NotImplementedError, RuntimeError):
        dtype = _quantized_dtype(args, kwargs)
        if dtype is None:
            raise
        output = run(_standin(args), _standin(kwargs))
    if not requantize:
        return output
    return tree_map(
        lambda t: meta_empty(tuple(t.shape), dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t,
        output,
    )


def rule_output(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The output of a leaf module from a pure shape rule (meta values), or ``None`` without one.

    The dispatch path's virtual run uses this instead of running a leaf on fake tensors
    (an ``nn.LSTM`` unrolls into thousands of ops there).
    """
    rule = LEAF_MODULE_RULES.get(type(module)) or MODULE_SHAPE_RULES.get(type(module))
    if rule is None:
        return None
    try:
        return rule(module, *args, **kwargs)
    except (_NoRule, TypeError):
        return None


def leaf_fallback_output(module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The output of a leaf whose ``forward`` needs tensor values, or ``None`` when unknown.

    Example:
        >>> import torch
        >>> leaf_fallback_output(torch.nn.Linear(2, 2), (torch.ones(1, 2),), {}) is None
        True
    """
    if HF_EXPERTS.matches(type(module)):
        hidden = args[0] if args else kwargs["hidden_states"]
        return torch.empty_like(hidden)
    return None
