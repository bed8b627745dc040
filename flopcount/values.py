"""Nested values (tensors inside tuples, lists, dicts, namedtuples) through torch's pytree.

Inputs, outputs and op arguments can be any such nesting; these helpers flatten it with
``torch.utils._pytree`` (``None`` has no leaves, ``torch.Size`` is a tuple of ints) and
short-cut the common case of a bare tensor.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._pytree import tree_leaves, tree_map

from flopcount.formulas.registry import TensorInfo
from flopcount.records import Shape


def tensors_in(value: Any) -> list[torch.Tensor]:
    """All tensors in a (nested) value, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    return [leaf for leaf in tree_leaves(value) if isinstance(leaf, torch.Tensor)]


def has_tensor(value: Any) -> bool:
    """True when a (nested) value holds at least one tensor."""
    return isinstance(value, torch.Tensor) or any(isinstance(leaf, torch.Tensor) for leaf in tree_leaves(value))


def tensor_shapes(value: Any) -> list[Shape]:
    """Shapes of all tensors in a (nested) value, in order."""
    return [tuple(t.shape) for t in tensors_in(value)]


def tensor_bytes(value: Any) -> int:
    """Bytes of all tensors in a (nested) value."""
    return sum(t.numel() * t.element_size() for t in tensors_in(value))


def _info(value: Any) -> Any:
    return TensorInfo(tuple(value.shape), value.dtype) if isinstance(value, torch.Tensor) else value


def to_info(value: Any) -> Any:
    """Replace every tensor in a (nested) value by its :class:`TensorInfo`."""
    if isinstance(value, torch.Tensor):
        return _info(value)
    return tree_map(_info, value)


def _empty_container(value: Any) -> bool:
    return value is None or (isinstance(value, (tuple, list, dict)) and not value)


def is_tensor_tree(value: Any) -> bool:
    """True for a tensor, or a container whose every leaf is a tensor (no ``None``, no empty part).

    Example:
        >>> import torch
        >>> t = torch.zeros(1)
        >>> is_tensor_tree((t, {"a": [t]})), is_tensor_tree((t, None)), is_tensor_tree([]), is_tensor_tree(2)
        (True, False, False, False)
    """
    leaves = tree_leaves(value, is_leaf=_empty_container)
    return bool(leaves) and all(isinstance(leaf, torch.Tensor) for leaf in leaves)
