"""The pointwise shape rule of the virtual run against torch's own meta kernels."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from flopcount.aten_shapes import POINTWISE, pointwise_output

aten = torch.ops.aten
BINARY = sorted((aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.maximum.default), key=str)
UNARY = sorted((op for op in POINTWISE if len(op._schema.arguments) == 1 or op is aten.gelu.default), key=str)
SCALAR = sorted((aten.add.Scalar, aten.mul.Scalar, aten.div.Scalar, aten.pow.Tensor_Scalar), key=str)
DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


@st.composite
def broadcastable_shapes(draw):
    out = draw(st.lists(st.integers(0, 4), min_size=1, max_size=4))
    shapes = []
    for _ in range(2):
        dims = draw(st.integers(1, len(out)))
        shapes.append(tuple(size if draw(st.booleans()) else 1 for size in out[len(out) - dims :]))
    return shapes


def same_meta(rule_out, real_out):
    assert rule_out is not None
    assert (rule_out.shape, rule_out.stride(), rule_out.dtype) == (real_out.shape, real_out.stride(), real_out.dtype)


@settings(max_examples=100, deadline=None)
@given(shapes=broadcastable_shapes(), op=st.sampled_from(BINARY), dtype=st.sampled_from(DTYPES))
def test_binary_ops_match_the_meta_kernel(shapes, op, dtype):
    a, b = (torch.empty(s, dtype=dtype, device="meta") for s in shapes)
    same_meta(pointwise_output(op, (a, b), {}), op(a, b))


@settings(max_examples=100, deadline=None)
@given(shape=st.lists(st.integers(0, 4), min_size=1, max_size=4), op=st.sampled_from(UNARY + SCALAR))
def test_unary_and_scalar_ops_match_the_meta_kernel(shape, op):
    x = torch.empty(shape, device="meta")
    args = (x,) if op in UNARY else (x, 2)
    same_meta(pointwise_output(op, args, {}), op(*args))


def test_uncovered_cases_run_the_meta_kernel():
    a = torch.empty(2, 3, device="meta")
    assert pointwise_output(aten.add.Tensor, (a, a.to(torch.float16)), {}) is None  # dtype promotion
    assert pointwise_output(aten.add.Tensor, (a, torch.empty((), device="meta")), {}) is None  # 0-d operand
    assert pointwise_output(aten.add.Tensor, (a.long(), a.long()), {}) is None  # integer tensors
    assert pointwise_output(aten.add.Tensor, (a, torch.empty(4, device="meta")), {}) is None  # does not broadcast
    assert pointwise_output(aten.mm.default, (a, a.t()), {}) is None  # not pointwise
    assert pointwise_output(aten.div.Tensor, (a, a), {"rounding_mode": "floor"}) is None
    assert tuple(pointwise_output(aten.gelu.default, (a,), {"approximate": "tanh"}).shape) == (2, 3)


@st.composite
def strided_operands(draw):
    """Two broadcastable meta tensors, each a permuted (and maybe sliced) view: any strides."""
    shapes = draw(broadcastable_shapes())
    tensors = []
    for shape in shapes:
        perm = draw(st.permutations(range(len(shape))))
        base = torch.empty([shape[p] for p in perm], device="meta")
        inverse = sorted(range(len(perm)), key=perm.__getitem__)
        view = base.permute(inverse)
        if draw(st.booleans()) and view.dim() and view.shape[-1] > 1:
            view = torch.empty(*view.shape[:-1], 2 * view.shape[-1], device="meta")[..., ::2]
        tensors.append(view)
    return tensors


@settings(max_examples=100, deadline=None)
@given(operands=strided_operands(), op=st.sampled_from(BINARY))
def test_strided_operands_are_covered_only_with_new_tensor_strides(operands, op):
    """A permuted or sliced input: the meta kernel decides, unless its strides are a new tensor's."""
    for args in ((*operands,), (operands[0],), (operands[0], 0.5)):
        func = op if len(args) == 2 and isinstance(args[1], torch.Tensor) else aten.gelu.default
        func = aten.mul.Scalar if len(args) == 2 and not isinstance(args[1], torch.Tensor) else func
        out = pointwise_output(func, args, {})
        fresh = all(t.stride() == torch.empty(t.shape).stride() for t in args if isinstance(t, torch.Tensor))
        assert (out is not None) == fresh
        if out is not None:
            same_meta(out, func(*args))
