"""Nested-value helpers: the fast paths give what torch's pytree gives, for any nesting."""

from __future__ import annotations

import collections

import pytest
import torch
from torch.fx.immutable_collections import immutable_dict, immutable_list
from torch.utils._pytree import tree_leaves, tree_map

from flopcount.records import TensorInfo
from flopcount.values import has_tensor, is_tensor_tree, leaves, tensor_bytes, tensor_shapes, tensors_in, to_info

T = torch.zeros(2, 3)
M = torch.empty(4, device="meta", dtype=torch.float16)
Pair = collections.namedtuple("Pair", "a b")

VALUES = [
    T,
    3,
    None,
    "text",
    (T, 1, None, slice(0, 2), ..., torch.float32, torch.device("meta")),
    [T, M],
    {"x": T, "scale": 2.0},
    immutable_list([T, 1]),
    immutable_dict({"x": M}),
    (),
    {},
    ((T, 1), {"w": [M, None]}),
    (T, torch.Size([2, 3])),
    Pair(T, (M, 2)),
    torch.Size([5, 6]),
    torch.return_types.max((T, M)),
    collections.OrderedDict(a=T),
    (TensorInfo((1, 2)), T),
]


def _pytree_info(value):
    return tree_map(lambda v: TensorInfo(tuple(v.shape), v.dtype) if isinstance(v, torch.Tensor) else v, value)


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_fast_paths_match_pytree(value):
    assert [id(leaf) for leaf in leaves(value)] == [id(leaf) for leaf in tree_leaves(value)]
    expected_tensors = [leaf for leaf in tree_leaves(value) if isinstance(leaf, torch.Tensor)]
    assert [id(t) for t in tensors_in(value)] == [id(t) for t in expected_tensors]
    assert has_tensor(value) == bool(expected_tensors)
    assert tensor_shapes(value) == [tuple(t.shape) for t in expected_tensors]
    assert tensor_bytes(value) == sum(t.numel() * t.element_size() for t in expected_tensors)
    info, expected = to_info(value), _pytree_info(value)
    assert type(info) is type(expected)
    assert info == expected


def test_tensor_trees():
    assert is_tensor_tree(T) and is_tensor_tree((T, [M], {"a": T})) and is_tensor_tree(Pair(T, M))
    assert (
        not is_tensor_tree((T, None))
        and not is_tensor_tree((T, []))
        and not is_tensor_tree({})
        and not is_tensor_tree(1)
    )
