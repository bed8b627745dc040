"""Elementwise arithmetic, reductions, interpolation and the explicitly-free ops.

* Elementwise arithmetic (``+ - * /``, residual adds, comparisons, ``where``): one flop
  per output element (after broadcasting); ``addcmul``/``addcdiv``/``lerp``: two.
  Arithmetic on Python numbers (shape maths) is free.
* Reductions (``sum``, ``mean``, ``amax``, ...): one flop per input element;
  ``var``/``std``: three.
* Interpolation: nearest is a copy (0); (bi/tri)linear reads ``2**d`` neighbours per
  output element (``2**d`` multiplies and ``2**d - 1`` adds); bicubic 16 (31 flops).
* Views, copies, concatenation, indexing, padding, dropout (identity at inference),
  embedding lookups and tensor factories are explicitly zero.
"""

from __future__ import annotations

import math
import operator

import torch
import torch.nn.functional as F
from torch import nn

from flopcount.formulas.registry import FormulaFn, OpCall, TensorInfo, register_formula, zero
from flopcount.records import Count

aten = torch.ops.aten


def _out_numel(call: OpCall) -> int:
    output = call.output
    if isinstance(output, TensorInfo):
        return math.prod(output.shape)
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], TensorInfo):
        return math.prod(output[0].shape)
    return 0  # arithmetic on Python numbers, e.g. shape maths


def _in_numel(call: OpCall) -> int:
    tensors = call.tensors
    return math.prod(tensors[0].shape) if tensors else 0


def _methods(*names: str) -> tuple[str, ...]:
    return tuple(f"Tensor.{name}" for name in names)


@register_formula(
    operator.add,
    operator.sub,
    operator.mul,
    operator.truediv,
    operator.floordiv,
    operator.mod,
    operator.iadd,
    operator.isub,
    operator.imul,
    operator.itruediv,
    operator.neg,
    operator.eq,
    operator.ne,
    operator.lt,
    operator.le,
    operator.gt,
    operator.ge,
    torch.add,
    torch.sub,
    torch.subtract,
    torch.mul,
    torch.multiply,
    torch.div,
    torch.divide,
    torch.true_divide,
    torch.floor_divide,
    torch.remainder,
    torch.rsub,
    torch.reciprocal,
    torch.maximum,
    torch.minimum,
    torch.eq,
    torch.ne,
    torch.lt,
    torch.le,
    torch.gt,
    torch.ge,
    torch.where,
    torch.masked_fill,
    torch.sign,
    torch.floor,
    torch.ceil,
    torch.round,
    *_methods(
        "add",
        "add_",
        "sub",
        "sub_",
        "mul",
        "mul_",
        "div",
        "div_",
        "__add__",
        "__radd__",
        "__iadd__",
        "__sub__",
        "__rsub__",
        "__mul__",
        "__rmul__",
        "__imul__",
        "__truediv__",
        "__rtruediv__",
        "__neg__",
        "reciprocal",
        "masked_fill",
        "masked_fill_",
        "eq",
        "ne",
        "lt",
        "le",
        "gt",
        "ge",
        "where",
        "maximum",
        "minimum",
        "floor",
        "ceil",
        "round",
        "__and__",
        "__or__",
        "logical_and",
        "logical_or",
        "logical_not",
    ),
    aten.add,
    aten.add_,
    aten.sub,
    aten.sub_,
    aten.mul,
    aten.mul_,
    aten.div,
    aten.div_,
    aten.rsub,
    aten.reciprocal,
    aten.maximum,
    aten.minimum,
    aten.eq,
    aten.ne,
    aten.lt,
    aten.le,
    aten.gt,
    aten.ge,
    aten.where,
    aten.masked_fill,
    aten.masked_fill_,
    aten.floor,
    aten.ceil,
    aten.round,
    aten.sign,
    aten.logical_and,
    aten.logical_or,
    aten.logical_not,
    aten.bitwise_and,
    aten.bitwise_or,
    aten.bitwise_not,
    aten.remainder,
    aten.floor_divide,
    family="elementwise",
)
def elementwise(call: OpCall) -> Count:
    """One flop per output element."""
    return Count(0, _out_numel(call))


@register_formula(
    torch.addcmul,
    torch.addcdiv,
    torch.lerp,
    *_methods("addcmul", "addcmul_", "addcdiv", "lerp"),
    aten.addcmul,
    aten.addcmul_,
    aten.addcdiv,
    aten.addcdiv_,
    aten.lerp,
    aten.lerp_,
    family="elementwise",
)
def fused_elementwise(call: OpCall) -> Count:
    """Two flops per output element (a multiply and an add)."""
    return Count(0, 2 * _out_numel(call))


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
    *_methods("sum", "mean", "amax", "amin", "max", "min", "argmax", "argmin", "cumsum", "prod", "any", "all"),
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
    *_methods("var", "std"),
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
    *_methods("norm"),
    aten.linalg_vector_norm,
    aten.norm,
    family="reduction",
)
def vector_norm(call: OpCall) -> Count:
    """p-norms (and ``F.normalize``): square and add per input element."""
    extra = _in_numel(call) if call.target is F.normalize else 0
    return Count(0, 2 * _in_numel(call) + extra)


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


ZERO_COST_TARGETS = (
    # modules
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.AlphaDropout,
    nn.FeatureAlphaDropout,
    nn.Embedding,
    nn.PixelShuffle,
    nn.PixelUnshuffle,
    nn.ChannelShuffle,
    nn.ZeroPad1d,
    nn.ZeroPad2d,
    nn.ZeroPad3d,
    nn.ConstantPad1d,
    nn.ConstantPad2d,
    nn.ConstantPad3d,
    nn.ReflectionPad1d,
    nn.ReflectionPad2d,
    nn.ReflectionPad3d,
    nn.ReplicationPad1d,
    nn.ReplicationPad2d,
    nn.ReplicationPad3d,
    # Python-level and torch functions
    operator.getitem,
    getattr,
    operator.setitem,
    len,
    torch.flatten,
    torch.reshape,
    torch.permute,
    torch.transpose,
    torch.squeeze,
    torch.unsqueeze,
    torch.cat,
    torch.concat,
    torch.stack,
    torch.chunk,
    torch.split,
    torch.narrow,
    torch.select,
    torch.roll,
    torch.flip,
    torch.unbind,
    torch.movedim,
    torch.swapaxes,
    torch.tile,
    torch.zeros,
    torch.ones,
    torch.empty,
    torch.full,
    torch.arange,
    torch.linspace,
    torch.zeros_like,
    torch.ones_like,
    torch.empty_like,
    torch.full_like,
    torch.rand,
    torch.randn,
    torch.tensor,
    torch.as_tensor,
    torch.clone,
    torch.meshgrid,
    torch.broadcast_to,
    torch.gather,
    torch.index_select,
    torch.take_along_dim,
    torch.diagonal,
    torch.tril,
    torch.triu,
    torch.bernoulli,
    torch.channel_shuffle,
    F.dropout,
    F.dropout1d,
    F.dropout2d,
    F.dropout3d,
    F.alpha_dropout,
    F.embedding,
    F.pad,
    F.pixel_shuffle,
    F.pixel_unshuffle,
    F.one_hot,
    *_methods(
        "view",
        "view_as",
        "reshape",
        "reshape_as",
        "permute",
        "transpose",
        "transpose_",
        "t",
        "flatten",
        "unflatten",
        "squeeze",
        "squeeze_",
        "unsqueeze",
        "unsqueeze_",
        "contiguous",
        "expand",
        "expand_as",
        "repeat",
        "chunk",
        "split",
        "unbind",
        "narrow",
        "select",
        "size",
        "dim",
        "numel",
        "to",
        "type",
        "type_as",
        "float",
        "double",
        "half",
        "bfloat16",
        "int",
        "long",
        "bool",
        "clone",
        "detach",
        "flip",
        "roll",
        "gather",
        "index_select",
        "new_zeros",
        "new_ones",
        "new_empty",
        "new_full",
        "new_tensor",
        "fill_",
        "zero_",
        "copy_",
        "__getitem__",
        "__setitem__",
        "movedim",
        "swapaxes",
        "tril",
        "triu",
        "masked_select",
        "tile",
        "repeat_interleave",
        "diagonal",
        "cpu",
        "cuda",
    ),
    # aten ops seen by the dispatch-level capture
    aten.view,
    aten._unsafe_view,
    aten.reshape,
    aten._reshape_alias,
    aten.permute,
    aten.transpose,
    aten.t,
    aten.expand,
    aten.clone,
    aten.cat,
    aten.stack,
    aten.slice,
    aten.select,
    aten.unsqueeze,
    aten.squeeze,
    aten.split,
    aten.split_with_sizes,
    aten.unbind,
    aten.detach,
    aten.alias,
    aten.empty,
    aten.zeros,
    aten.ones,
    aten.full,
    aten.arange,
    aten._to_copy,
    aten.copy_,
    aten.embedding,
    aten.index_select,
    aten.lift_fresh,
    aten.lift_fresh_copy,
    aten.as_strided,
    aten.new_zeros,
    aten.new_empty,
    aten.new_ones,
    aten.new_full,
    aten.zeros_like,
    aten.ones_like,
    aten.empty_like,
    aten.full_like,
    aten.fill_,
    aten.zero_,
    aten.constant_pad_nd,
    aten.roll,
    aten.flip,
    aten.repeat,
    aten.gather,
    aten.index,
    aten.index_put_,
    aten.index_put,
    aten.slice_scatter,
    aten.select_scatter,
    aten.empty_strided,
    aten.scalar_tensor,
    aten.unsqueeze_,
    aten.squeeze_,
    aten.t_,
    aten.transpose_,
    aten.detach_,
    aten.unfold,
    aten.expand_as,
    aten.view_as,
    aten.contiguous,
    aten.flatten,
    aten.unflatten,
    aten.chunk,
    aten.narrow,
    aten.pixel_shuffle,
    aten.pixel_unshuffle,
    aten.channel_shuffle,
    aten.native_channel_shuffle,
    aten.split_with_sizes_copy,
    aten.unsafe_split,
    aten.clamp_min_,
    aten.dropout,
    aten.feature_dropout,
    aten.native_dropout,
    aten._local_scalar_dense,
    aten.sym_size,
    aten.sym_numel,
    aten.sym_stride,
    aten.bernoulli_,
    aten.bernoulli,
    aten.uniform_,
    aten.normal_,
    aten.randn,
    aten.rand,
    aten.tril,
    aten.triu,
    aten.diagonal,
    aten.resize_,
    aten.set_,
    aten.linspace,
    aten.masked_select,
    aten.nonzero,
    aten.sort,
    aten.topk,
    aten.repeat_interleave,
    aten.tile,
    aten.movedim,
    aten.expand_copy,
    aten.view_copy,
    aten.permute_copy,
    aten.one_hot,
    aten._unsafe_index,
    aten.reflection_pad2d,
    aten.replication_pad2d,
    aten.reflection_pad1d,
    aten.reflection_pad3d,
    aten.replication_pad1d,
    aten.replication_pad3d,
    aten.im2col,
    aten.col2im,
    aten.is_same_size,
)
register_formula(*ZERO_COST_TARGETS, family="zero")(zero)
