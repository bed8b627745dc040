"""Outputs of leaf modules that cannot run on values-free tensors: shapes from attributes.

Two kinds of leaves need this. Quantized modules (``torch.ao.nn.quantized``) have no
meta or fake kernels: their outputs follow from the module's attributes, like the float
layers they replace, with a quantized dtype (:data:`QUANTIZED_MODULE_RULES`,
:data:`QUANTIZED_FUNCTION_RULES`). A mixture-of-experts block's experts route tokens by
their scores, which fake weights do not have; their output has the shape of the hidden
states (:func:`leaf_fallback_output`), and their count is the expected active compute
(:mod:`flopcount.formulas.moe`).
"""

from __future__ import annotations

from typing import Any

import torch

from flopcount.formulas.moe import HF_EXPERTS


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
