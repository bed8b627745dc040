"""The pure-Python shape rules of tensor functions against torch itself.

Each rule of :data:`flopcount.function_shapes.FUNCTION_SHAPE_RULES` (and the module
rule of ``nn.Upsample``) is driven with random shapes and arguments (hypothesis) and
compared with the same call on real CPU tensors: same output shapes and dtypes, or, where
torch refuses the call, a rule that refuses too (``NoRule`` hands the call to torch's
meta kernel, whose error the user then sees). The ``covered`` cases must not be handed
over: they are what models call, and the point of a rule is that they cost no meta run.
"""

from __future__ import annotations

import operator

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from flopcount.function_shapes import FUNCTION_SHAPE_RULES
from flopcount.shape_rule import NoRule, broadcast_sizes
from flopcount.shapes import MODULE_SHAPE_RULES

FAST = settings(max_examples=int(__import__("os").environ.get("HYP_N", "80")), deadline=None)
shapes = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


def _meta(value):
    if isinstance(value, torch.Tensor):
        return value.to("meta")
    if isinstance(value, (list, tuple)):
        return type(value)(_meta(v) for v in value)
    return value


def _signature(value):
    if isinstance(value, torch.Tensor):
        return tuple(value.shape), value.dtype
    return tuple(_signature(v) for v in value)


def check(target, args, kwargs=None, *, covered=False):
    """The rule of ``target`` agrees with torch on ``args``.

    ``covered`` (a bool, or a test of torch's output): the rule must not hand the call over.
    """
    kwargs = kwargs or {}
    rule = FUNCTION_SHAPE_RULES[target]
    call = (lambda *a, **k: getattr(a[0], target[7:])(*a[1:], **k)) if isinstance(target, str) else target
    try:
        real = call(*args, **kwargs)
    except (RuntimeError, ValueError, IndexError, TypeError):
        with pytest.raises((NoRule, RuntimeError, ValueError, IndexError, TypeError)):
            rule(*_meta(args), **_meta(kwargs))
        return
    try:
        out = rule(*_meta(args), **_meta(kwargs))
    except NoRule:
        assert not (covered(real) if callable(covered) else covered), (
            f"{target} handed a covered call to meta execution"
        )
        return
    assert _signature(out) == _signature(real), target


@FAST
@given(shape=shapes, data=st.data())
def test_split_chunk_unbind_unsqueeze(shape, data):
    x = torch.zeros(shape)
    dim = data.draw(st.integers(-len(shape) - 1, len(shape)))
    check("Tensor.unbind", (x, dim))
    check(torch.unbind, (x, dim))
    check("Tensor.unsqueeze", (x, dim), covered=-len(shape) - 1 <= dim <= len(shape))
    size = data.draw(st.integers(-1, 5))
    check("Tensor.split", (x, size, dim), covered=size > 0 and -len(shape) <= dim < len(shape))
    check(torch.split, (x, size), {"dim": dim})
    check("Tensor.chunk", (x, size, dim), covered=size > 0 and -len(shape) <= dim < len(shape))
    if -len(shape) <= dim < len(shape):
        total = shape[dim]
        sections = data.draw(st.lists(st.integers(0, total), min_size=1, max_size=3))
        sections.append(total - sum(sections))
        check("Tensor.split", (x, sections, dim), covered=sections[-1] >= 0)


@FAST
@given(shape=shapes, count=st.integers(1, 3), data=st.data())
def test_stack(shape, count, data):
    dim = data.draw(st.integers(-len(shape) - 2, len(shape) + 1))
    dtypes = data.draw(
        st.lists(st.sampled_from((torch.float32, torch.float16, torch.int64)), min_size=count, max_size=count)
    )
    tensors = [torch.zeros(shape, dtype=d) for d in dtypes]
    if data.draw(st.booleans()):
        tensors.append(torch.zeros((*shape, 2)))  # a misfit
    check(torch.stack, (tensors, dim))


@FAST
@given(shape=shapes, data=st.data())
def test_casts(shape, data):
    x = torch.zeros(shape, dtype=data.draw(st.sampled_from((torch.float32, torch.float16, torch.int64))))
    target = data.draw(st.sampled_from((torch.float32, torch.bfloat16, torch.float64, torch.int32)))
    check("Tensor.to", (x, target), covered=True)
    check("Tensor.to", (x,), {"dtype": target, "non_blocking": True}, covered=True)
    check("Tensor.to", (x, "cpu", target), covered=True)
    check("Tensor.to", (x, torch.zeros(1, dtype=target)), covered=True)
    check("Tensor.type_as", (x, torch.zeros(2, dtype=target)), covered=True)
    for method in ("float", "half", "bfloat16", "double"):
        check(f"Tensor.{method}", (x,), covered=True)


MODE_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


@FAST
@given(
    spatial=st.integers(0, 4),
    size=st.one_of(st.none(), st.integers(1, 6), st.lists(st.integers(1, 6), min_size=1, max_size=3)),
    scale=st.one_of(
        st.none(),
        st.sampled_from((0.5, 1.5, 2, 2.0, 3.3)),
        st.lists(st.sampled_from((0.5, 2.0)), min_size=1, max_size=3),
    ),
    mode=st.sampled_from(("nearest", "bilinear", "bicubic", "linear", "trilinear", "area", "nearest-exact")),
    align=st.sampled_from((None, True, False)),
    data=st.data(),
)
def test_interpolate_and_upsample(spatial, size, scale, mode, align, data):
    x = torch.zeros((1, 2, *data.draw(st.lists(st.integers(1, 5), min_size=spatial, max_size=spatial))))
    kwargs = {"size": size, "scale_factor": scale, "mode": mode, "align_corners": align}
    fits = (size is None) != (scale is None) and MODE_DIMS.get(mode, spatial) == spatial
    plain = fits and 1 <= spatial <= 3 and align is None and not isinstance(size or scale, list)
    check(F.interpolate, (x,), kwargs, covered=lambda real: plain and real.numel() > 0)
    try:
        module = nn.Upsample(size=size, scale_factor=scale, mode=mode, align_corners=align)
        real = module(x)
    except (RuntimeError, ValueError, TypeError, NotImplementedError):
        return
    try:
        out = MODULE_SHAPE_RULES[nn.Upsample](module, x.to("meta"))
    except NoRule:
        return
    assert _signature(out) == _signature(real)


@FAST
@given(
    shape=shapes,
    pad=st.lists(st.integers(-2, 3), min_size=0, max_size=8),
    mode=st.sampled_from(("constant", "reflect")),
)
def test_pad(shape, pad, mode):
    plain = mode == "constant" and len(pad) % 2 == 0 and len(pad) <= 2 * len(shape) and min(pad, default=0) >= 0
    check(F.pad, (torch.zeros(shape), tuple(pad)), {"mode": mode}, covered=plain)


@FAST
@given(batch=shapes, features=st.integers(1, 4), out=st.integers(1, 4), bias=st.booleans(), misfit=st.booleans())
def test_linear_addmm_embedding(batch, features, out, bias, misfit):
    x = torch.zeros((*batch, features + misfit))
    weight, b = torch.zeros(out, features), (torch.zeros(out) if bias else None)
    check(F.linear, (x, weight, b), covered=not misfit)
    mat1 = torch.zeros(batch[0], features + misfit)
    check(torch.addmm, (torch.zeros(out), mat1, weight.T), covered=not misfit)
    check(torch.addmm, (torch.zeros(batch[0], out), mat1, weight.T), {"beta": 0.5}, covered=not misfit)
    check(F.embedding, (torch.zeros(batch, dtype=torch.int64), weight), covered=True)


@FAST
@given(a=shapes, b=shapes, c=shapes, data=st.data())
def test_same_shape_maths(a, b, c, data):
    x = torch.rand(a)
    dim = data.draw(st.integers(-len(a) - 1, len(a)))
    valid_dim = -len(a) <= dim < len(a)
    check(F.normalize, (x,), {"dim": dim}, covered=valid_dim)
    check(torch.roll, (x, 1, dim))
    check(torch.clamp, (x,), {"min": 0.1, "max": 0.9}, covered=True)
    check("Tensor.clamp_", (x.clone(),), {"min": 0.0}, covered=True)
    check("Tensor.norm", (x,), {"dim": dim, "keepdim": data.draw(st.booleans())}, covered=valid_dim)
    check(torch.norm, (x,))
    covered = broadcast_sizes([a, b, c]) is not None
    check(torch.addcmul, (x, torch.rand(b), torch.rand(c)), {"value": 0.5}, covered=covered)
    check("Tensor.reshape_as", (x, torch.zeros(b)), covered=len(x.flatten()) == len(torch.zeros(b).flatten()))


@FAST
@given(shape=shapes, index=shapes, dtype=st.sampled_from((torch.int64, torch.int32, torch.bool)))
def test_getitem_with_an_index_tensor(shape, index, dtype):
    x = torch.zeros(shape)
    # in-bounds values only: bounds are values, which neither a shape rule nor a meta kernel sees
    ids = torch.ones(shape[:1], dtype=dtype) if dtype == torch.bool else torch.randint(-shape[0], shape[0], index)
    check(operator.getitem, (x, ids.to(dtype)), covered=dtype != torch.bool)


@FAST
@given(data=st.data(), count=st.integers(1, 3), implicit=st.booleans())
def test_einsum(data, count, implicit):
    letters = "ijkl"
    terms = [data.draw(st.lists(st.sampled_from(letters), max_size=3, unique=True).map("".join)) for _ in range(count)]
    sizes = {c: data.draw(st.integers(1, 3)) for c in letters}
    misfit = data.draw(st.sampled_from((None, *letters)))  # one operand disagrees on one size
    shapes = [[sizes[c] + (c == misfit and i == 0) for c in term] for i, term in enumerate(terms)]
    used = sorted(set("".join(terms)))
    output = "".join(data.draw(st.permutations(used))[: data.draw(st.integers(0, len(used)))])
    equation = ",".join(terms) + ("" if implicit else f"->{output}")
    dtype = data.draw(st.sampled_from((torch.float32, torch.complex64)))
    operands = [torch.ones(shape, dtype=dtype) for shape in shapes]
    misfit_used = misfit is not None and misfit in terms[0] and sum(misfit in t for t in terms) > 1
    check(torch.einsum, (equation, *operands), covered=not misfit_used)
    check(torch.einsum, (equation, operands), covered=not misfit_used)


@FAST
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple), data=st.data())
def test_getitem_with_index_tensors_among_slices(shape, data):
    items = []
    for _ in shape[: data.draw(st.integers(1, len(shape)))]:
        kind = data.draw(st.sampled_from(("slice", "tensor", "tensor", "ellipsis")))
        if kind == "slice":
            items.append(slice(data.draw(st.integers(0, 4)), None, data.draw(st.integers(1, 2))))
        elif kind == "ellipsis":
            items.append(Ellipsis)
        else:  # in-bounds values for any dim (bounds are values: neither a shape rule nor a meta kernel sees them)
            index_shape = data.draw(st.sampled_from(((), (1,), (2,), (3, 1), (1, 2))))
            items.append(torch.randint(0, min(shape), index_shape))
    zero_d = any(isinstance(i, torch.Tensor) and i.dim() == 0 for i in items)
    covered = sum(i is Ellipsis for i in items) <= 1 and not zero_d
    check(operator.getitem, (torch.zeros(shape), tuple(items)), covered=lambda real: covered)


@FAST
@given(a=shapes, b=shapes, dtype=st.sampled_from((torch.bool, torch.int64)))
def test_mask_and_or(a, b, dtype):
    x, y = torch.ones(a, dtype=torch.bool), torch.ones(b, dtype=dtype)
    covered = dtype == torch.bool and broadcast_sizes([a, b]) is not None
    for target in ("Tensor.__and__", "Tensor.__or__", operator.and_, operator.or_):
        check(target, (x, y), covered=covered)


def test_broadcast_sizes_matches_torch():
    for shapes_ in [((2, 1, 4), (3, 1)), ((1,), ()), ((2, 3), (3, 2)), ((0, 1), (1, 5))]:
        try:
            expected = tuple(torch.broadcast_shapes(*shapes_))
        except RuntimeError:
            expected = None
        assert broadcast_sizes(shapes_) == expected


def test_rules_cover_what_models_call():
    """The calls the zoo ran on meta before these rules existed are now rules (a profile stays meta-free there)."""
    targets = (
        *("Tensor.unbind", "Tensor.chunk", "Tensor.split", torch.stack, "Tensor.to", "Tensor.type_as"),
        *("Tensor.unsqueeze", "Tensor.reshape_as", F.interpolate, F.normalize, F.linear, torch.addmm),
        *(torch.roll, torch.addcmul, F.pad, F.embedding, "Tensor.norm", torch.clamp, operator.getitem),
    )
    for target in targets:
        assert target in FUNCTION_SHAPE_RULES, target
    assert nn.Upsample in MODULE_SHAPE_RULES
