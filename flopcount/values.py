"""Nested values (tensors inside tuples, lists, dicts, namedtuples) through torch's pytree.

Inputs, outputs and op arguments can be any such nesting; :func:`leaves` and
:func:`to_info` walk it with ``torch.utils._pytree``. The fx walker, the op recorder
and the formulas call them for every op, and pytree costs microseconds per call, so
plain values skip it with the same result: a bare tensor, or plain tuples, lists and
dicts (fx's immutable ones included) nested in any way, down to tensors and plain
leaves. Anything else (a namedtuple, a model output class) goes through pytree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch.fx.immutable_collections import immutable_dict, immutable_list
from torch.utils._pytree import tree_leaves, tree_map

from flopcount.records import Shape, TensorInfo

_SEQUENCES = frozenset({tuple, list, immutable_list})
_MAPPINGS = frozenset({dict, immutable_dict})
#: Types that pytree treats as leaves (``None`` too) and that the fast path accepts.
_LEAVES = frozenset({int, float, bool, str, type(None), slice, type(Ellipsis), torch.dtype, torch.device, TensorInfo})


def _shallow_items(value: Any) -> Iterable[Any] | None:
    """The items of a plain tuple, list or dict whose items are all leaves, else ``None``."""
    kind = type(value)
    items: Iterable[Any] | None = value if kind in _SEQUENCES else value.values() if kind in _MAPPINGS else None
    if items is None:
        return None
    for item in items:  # a loop, not all(...): this runs for every op argument
        if type(item) not in _LEAVES and not isinstance(item, torch.Tensor):
            return None
    return items


def _plain_leaves(value: Any, found: list[Any]) -> bool:
    """Append the leaves of plain nested containers to ``found``; False where pytree is needed."""
    kind = type(value)
    items = value if kind in _SEQUENCES else value.values() if kind in _MAPPINGS else None
    if items is None:
        return False
    for item in items:
        if isinstance(item, torch.Tensor) or type(item) in _LEAVES:
            found.append(item)
        elif not _plain_leaves(item, found):
            return False
    return True


def leaves(value: Any) -> Iterable[Any]:
    """The leaves of a (nested) value, in order (``torch.utils._pytree.tree_leaves``)."""
    if isinstance(value, torch.Tensor) or type(value) in _LEAVES:
        return (value,)
    items = _shallow_items(value)
    if items is not None:
        return items
    found: list[Any] = []
    return found if _plain_leaves(value, found) else tree_leaves(value)


def tensors_in(value: Any) -> list[torch.Tensor]:
    """All tensors in a (nested) value, in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    return [leaf for leaf in leaves(value) if isinstance(leaf, torch.Tensor)]


def has_tensor(value: Any) -> bool:
    """True when a (nested) value holds at least one tensor."""
    return any(isinstance(leaf, torch.Tensor) for leaf in leaves(value))


def tensor_shapes(value: Any) -> list[Shape]:
    """Shapes of all tensors in a (nested) value, in order."""
    return [tuple(t.shape) for t in tensors_in(value)]


def tensor_bytes(value: Any) -> int:
    """Bytes of all tensors in a (nested) value."""
    return sum([t.numel() * t.element_size() for t in tensors_in(value)])


def _info(value: Any) -> Any:
    return TensorInfo(tuple(value.shape), value.dtype) if isinstance(value, torch.Tensor) else value


def to_info(value: Any) -> Any:
    """Replace every tensor in a (nested) value by its :class:`~flopcount.records.TensorInfo`.

    Example:
        >>> import torch
        >>> to_info((torch.zeros(2, 3), 1, {"w": [torch.zeros(4)]}))
        (TensorInfo(shape=(2, 3), dtype=torch.float32), 1, {'w': [TensorInfo(shape=(4,), dtype=torch.float32)]})
    """
    try:
        return _plain_info(value)
    except _NeedsPytree:
        return tree_map(_info, value)  # the same as the fast path, for any nesting


def map_tensors(fn: Callable[[torch.Tensor], Any], value: Any) -> Any:
    """``value`` with every tensor replaced by ``fn(tensor)`` (any nesting; plain containers without pytree)."""
    try:
        return _plain_map(fn, value)
    except _NeedsPytree:
        return tree_map(lambda leaf: fn(leaf) if isinstance(leaf, torch.Tensor) else leaf, value)


def _plain_map(fn: Callable[[torch.Tensor], Any], value: Any) -> Any:
    kind = type(value)
    if kind in _LEAVES:
        return value
    if isinstance(value, torch.Tensor):
        return fn(value)
    if kind in _SEQUENCES:
        return kind([_plain_map(fn, item) for item in value])
    if kind in _MAPPINGS:
        return kind({key: _plain_map(fn, item) for key, item in value.items()})
    raise _NeedsPytree


class _NeedsPytree(Exception):
    """A value that is not a tensor, a plain leaf or a plain container of them."""


def _plain_info(value: Any) -> Any:
    kind = type(value)
    if kind in _LEAVES:
        return value
    if isinstance(value, torch.Tensor):
        return TensorInfo(tuple(value.shape), value.dtype)
    if kind in _SEQUENCES:
        return kind([_plain_info(item) for item in value])
    if kind in _MAPPINGS:
        return kind({key: _plain_info(item) for key, item in value.items()})
    raise _NeedsPytree


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
    found = tree_leaves(value, is_leaf=_empty_container)
    return bool(found) and all(isinstance(leaf, torch.Tensor) for leaf in found)


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``."""
    return str(dtype).removeprefix("torch.")


def compute_dtype(formula: Any, inputs: list[Any]) -> str:
    """The dtype an op computes in: its formula's (``"int8"`` for quantized kernels), else its first input's.

    Args:
        formula: The op's :class:`~flopcount.formulas.registry.Formula` (its ``dtype``), or ``None``.
        inputs: The op's tensor inputs (tensors or ``TensorInfo``).
    """
    label = getattr(formula, "dtype", None)
    if label:
        return str(label)
    return dtype_name(inputs[0].dtype) if inputs else ""
