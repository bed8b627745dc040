"""Parameters of a model: its unique parameter tensors, plus quantized modules' packed weights.

Quantized modules (``torch.ao.nn.quantized``) keep their weights packed in C++ objects,
not in ``nn.Parameter`` tensors, so ``model.parameters()`` misses them: a static int8
network would have no parameters at all. :func:`packed_sizes` reads the sizes of every
module's own packed weights (and biases); they count as parameters, never as trainable
ones.

The packed objects have no cheaper accessor than unpacking (``bias()`` and
``quantized::conv2d_unpack_sizes`` unpack too): a copy of the weight, about 5 ms for a
512-channel 3 x 3 per-channel convolution with the x86 engine. So the sizes are read
once per packed object and kept, weakly, by that object: a packed object is never
changed in place (``set_weight_bias`` packs a new one), and a second profile of the
same quantized model unpacks nothing.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

# id(packed object) -> (weak reference to it, its sizes); an entry leaves with its object
_SIZES: dict[int, tuple[weakref.ref[Any], tuple[int, int | None]]] = {}
_SIZES_LOCK = threading.Lock()


def _cached(packed: Any) -> tuple[int, int | None] | None:
    with _SIZES_LOCK:
        entry = _SIZES.get(id(packed))
    return entry[1] if entry is not None and entry[0]() is packed else None


def _keep(packed: Any, sizes: tuple[int, int | None]) -> None:
    key = id(packed)

    def forget(_: weakref.ref[Any]) -> None:
        with _SIZES_LOCK:
            if key in _SIZES and _SIZES[key][0]() is None:
                del _SIZES[key]

    try:
        ref = weakref.ref(packed, forget)
    except TypeError:  # not weakly referable: not kept
        return
    with _SIZES_LOCK:
        _SIZES[key] = (ref, sizes)


def _packed_object(module: nn.Module) -> Any:
    """The C++ object holding ``module``'s packed weights (conv or ``LinearPackedParams``)."""
    packed = getattr(module, "_packed_params", None)
    return packed if packed is not None and not isinstance(packed, nn.Module) else None


def _packed_weight_bias(module: nn.Module) -> tuple[int, int | None]:
    """``(weight numel, bias numel or None)`` of a module with ``_weight_bias()``; unpacks once per object."""
    packed = _packed_object(module)
    if packed is not None and (cached := _cached(packed)) is not None:
        return cached
    weight, bias = module._weight_bias()  # type: ignore[operator]  # quantized modules define it
    sizes = (int(weight.numel()), None if bias is None else int(bias.numel()))
    if packed is not None:
        _keep(packed, sizes)
    return sizes


def _rnn_cell_numel(cell: Any) -> int:
    """Weights and biases of one layer and direction of a dynamic quantized LSTM/GRU; unpacks once per cell.

    The cell's state holds its two packed linears (input-hidden, hidden-hidden), as
    ``RNNBase._weight_bias`` reads them.
    """
    if (cached := _cached(cell)) is not None:
        return cached[0]
    total = 0
    for linear in cell.__getstate__()[0][4]:
        weight, bias = linear.__getstate__()[0][:2]
        total += int(weight.numel()) + (0 if bias is None else int(bias.numel()))
    _keep(cell, (total, None))
    return total


def has_packed_bias(module: nn.Module) -> bool:
    """Whether a quantized conv or linear module (static or dynamic) has a bias.

    Under the QNNPACK engine a layer built without a bias is packed with a zero bias (its
    kernel adds it), and this says True: the packed weights hold it.

    Example:
        >>> import torch.ao.nn.quantized as nnq
        >>> has_packed_bias(nnq.Linear(4, 3)), has_packed_bias(nnq.Conv2d(2, 2, 1, bias=False))
        (True, False)
    """
    packed = getattr(module, "_packed_params", None)
    return _packed_weight_bias(packed if isinstance(packed, nn.Module) else module)[1] is not None


def packed_numel(module: nn.Module) -> int:
    """Size of ``module``'s own packed (quantized) weights and biases; 0 for other modules.

    A linear layer's weights live in its ``_packed_params`` child (a
    ``LinearPackedParams``), as in its ``state_dict``.

    Example:
        >>> import torch
        >>> linear = torch.ao.nn.quantized.Linear(4, 3)
        >>> packed_numel(linear._packed_params), packed_numel(linear), packed_numel(torch.nn.Linear(4, 3))
        (15, 0, 0)
    """
    if not type(module).__module__.startswith("torch.ao.nn"):
        return 0
    if hasattr(module, "_all_weight_values") and hasattr(module, "get_weight"):  # dynamic LSTM/GRU
        cells: list[Any] = getattr(module, "_all_weight_values")  # noqa: B009  # typed as Tensor | Module
        return sum(_rnn_cell_numel(packed.param) for packed in cells)
    packed = getattr(module, "_packed_params", None)
    if hasattr(module, "_weight_bias") and not isinstance(packed, nn.Module):
        weight, bias = _packed_weight_bias(module)  # conv (packed object) or LinearPackedParams itself
        return weight + (bias or 0)
    return 0


def packed_sizes(root: nn.Module, modules: Iterable[nn.Module] | None = None) -> dict[int, int]:
    """``id(module) -> numel`` of the packed weights of every quantized module under ``root``.

    ``modules`` is ``root.modules()`` when the caller already has them.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.ao.nn.quantized.Linear(4, 3), torch.nn.ReLU())
        >>> sizes = packed_sizes(model)
        >>> sizes[id(model[0]._packed_params)], id(model[0]) in sizes
        (15, False)
    """
    return {id(module): numel for module in modules or root.modules() if (numel := packed_numel(module))}


def module_parameters(module: nn.Module) -> list[torch.Tensor]:
    """``module.parameters()`` as a list; a childless module's read directly (no recursion: a leaf per op).

    Example:
        >>> import torch
        >>> [tuple(p.shape) for p in module_parameters(torch.nn.Linear(4, 3, bias=False))]
        [(3, 4)]
    """
    if module._modules:
        return list(module.parameters())
    return [p for p in module._parameters.values() if p is not None]


def parameter_counts(model: nn.Module, modules: Iterable[nn.Module] | None = None) -> tuple[int, int]:
    """``(total, trainable)``: unique parameter tensors plus packed weights (never trainable).

    ``modules`` is ``model.modules()`` when the caller already has them.
    """
    params = list(model.parameters())
    total = sum(p.numel() for p in params) + sum(packed_sizes(model, modules).values())
    return total, sum(p.numel() for p in params if p.requires_grad)
