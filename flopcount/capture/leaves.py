"""Which modules both capture paths treat as one op (a leaf), and what they are called.

A leaf is counted by its module formula when it has one, else by the aten ops inside
it, each recorded under the leaf's path as ``"<Type>>aten.op"``; its submodules are not
visited. The fx path and the dispatch path use this same rule, so an op's record (name,
family, count) does not depend on the path: an ``nn.LSTM`` is one ``rnn`` record on
both.

Leaves: modules of ``torch.nn`` and ``torch.ao.nn`` (quantized modules included) but
not the containers, module classes with a registered formula (directly or through a
:class:`~flopcount.formulas.registry.ModulePattern`), and TorchScript modules (their
code is a graph, not Python; it runs as it is, on fake or meta inputs).
"""

from __future__ import annotations

import torch
from torch import nn

from flopcount.formulas.moe import HF_EXPERTS
from flopcount.formulas.registry import is_registered

_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


def is_leaf(module: nn.Module, moe: str = "expected") -> bool:
    """True when ``module`` is recorded as one op (see the module docstring).

    Args:
        module: The module.
        moe: ``"expected"``: a mixture-of-experts block's experts are one leaf, counted
            by :mod:`flopcount.formulas.moe`; ``"routed"``: their own ops are recorded.

    Example:
        >>> import torch
        >>> is_leaf(torch.nn.Conv2d(1, 1, 1)), is_leaf(torch.nn.Sequential())
        (True, False)
    """
    if isinstance(module, _CONTAINERS):
        return False
    if moe == "routed" and HF_EXPERTS.matches(type(module)):
        return False
    if isinstance(module, torch.jit.ScriptModule) or is_registered(type(module)):
        return True
    name = type(module).__module__
    return name.startswith(("torch.nn.", "torch.ao.nn."))


def type_name(module: nn.Module) -> str:
    """The class name records show (a TorchScript module's original class name).

    Example:
        >>> import torch
        >>> type_name(torch.jit.script(torch.nn.ReLU()))
        'ReLU'
    """
    if isinstance(module, torch.jit.ScriptModule):
        return str(getattr(module, "original_name", type(module).__name__))
    return type(module).__name__
