"""Parameters of a model: its unique parameter tensors, plus quantized modules' packed weights.

Quantized modules (``torch.ao.nn.quantized``) keep their weights packed in C++ objects,
not in ``nn.Parameter`` tensors, so ``model.parameters()`` misses them: a static int8
network would have no parameters at all. :func:`packed_numel` reads the sizes of a
module's own packed weights (and biases) from the module's accessors, without copying
anything into the model; they count as parameters, never as trainable ones.
"""

from __future__ import annotations

from torch import nn


def _weight_bias_numel(module: nn.Module) -> int:
    weight, bias = module._weight_bias()  # type: ignore[operator]  # quantized modules define it
    return int(weight.numel()) + (int(bias.numel()) if bias is not None else 0)


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
