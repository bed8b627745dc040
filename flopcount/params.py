"""Parameters of a model: its unique parameter tensors, plus quantized modules' packed weights.

Quantized modules (``torch.ao.nn.quantized``) keep their weights packed in C++ objects,
not in ``nn.Parameter`` tensors, so ``model.parameters()`` misses them: a static int8
network would have no parameters at all. :func:`packed_numel` reads the sizes of a
module's own packed weights (and biases) from the module's accessors, without copying
anything into the model; they count as parameters, never as trainable ones.

Reading them unpacks the weights (a copy, about a millisecond for a 512-channel 3 x 3
convolution), and one profile needs each module's sizes several times (its parameters,
the model's total, whether its formula adds a bias): inside :func:`unpacking_once`, as
:func:`flopcount.profile` runs, each module is unpacked once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

_SIZES: list[dict[int, tuple[nn.Module, int, int | None]]] = []  # the innermost unpacking_once block's memo


@contextlib.contextmanager
def unpacking_once() -> Iterator[None]:
    """Within the block, each quantized module's packed weights are unpacked at most once."""
    _SIZES.append({})
    try:
        yield
    finally:
        _SIZES.pop()


def _packed_sizes(module: nn.Module) -> tuple[int, int | None]:
    """``(weight numel, bias numel or None)`` of a module with ``_weight_bias()`` (it unpacks)."""
    memo = _SIZES[-1] if _SIZES else None
    if memo is not None and id(module) in memo:
        return memo[id(module)][1:]
    weight, bias = module._weight_bias()  # type: ignore[operator]  # quantized modules define it
    sizes = (int(weight.numel()), None if bias is None else int(bias.numel()))
    if memo is not None:
        memo[id(module)] = (module, *sizes)  # the module is kept alive, so its id stays its own
    return sizes


def _weight_bias_numel(module: nn.Module) -> int:
    weight, bias = _packed_sizes(module)
    return weight + (bias or 0)


def has_packed_bias(module: nn.Module) -> bool:
    """Whether a quantized conv or linear module (static or dynamic) has a bias.

    Example:
        >>> import torch.ao.nn.quantized as nnq
        >>> has_packed_bias(nnq.Linear(4, 3)), has_packed_bias(nnq.Conv2d(2, 2, 1, bias=False))
        (True, False)
    """
    packed = getattr(module, "_packed_params", None)
    return _packed_sizes(packed if isinstance(packed, nn.Module) else module)[1] is not None


def packed_numel(module: nn.Module) -> int:
    """Size of ``module``'s own packed (quantized) weights and biases; 0 for other modules.

    Example:
        >>> import torch
        >>> linear = torch.ao.nn.quantized.Linear(4, 3)
        >>> packed_numel(linear._packed_params), packed_numel(linear), packed_numel(torch.nn.Linear(4, 3))
        (15, 0, 0)
    """
    if not type(module).__module__.startswith("torch.ao.nn"):
        return 0
    if hasattr(module, "_all_weight_values") and hasattr(module, "get_weight"):  # dynamic LSTM/GRU
        tensors = [*module.get_weight().values(), *module.get_bias().values()]  # type: ignore[operator]
        return sum(int(t.numel()) for t in tensors)
    packed = getattr(module, "_packed_params", None)
    if hasattr(module, "_weight_bias") and not isinstance(packed, nn.Module):
        return _weight_bias_numel(module)  # conv (packed object) or LinearPackedParams itself
    return 0


def parameter_counts(model: nn.Module) -> tuple[int, int]:
    """``(total, trainable)``: unique parameter tensors plus packed weights (never trainable)."""
    params = list(model.parameters())
    packed = sum(packed_numel(module) for module in model.modules())
    total = sum(p.numel() for p in params) + packed
    return total, sum(p.numel() for p in params if p.requires_grad)
