"""One registry of pure cost formulas, filled by a decorator.

A formula maps an :class:`OpCall` (shapes of inputs and output, plus the module or the
call's non-tensor arguments) to a :class:`~flopcount.records.Count`. Targets are module
classes (``nn.Conv2d``), Python callables (``F.conv2d``, ``torch.matmul``,
``operator.add``), tensor-method names (``"Tensor.add"``), aten overload packets
(``torch.ops.aten.mm``, used by the dispatch-level capture path), qualified names of
ops from libraries that may not be loaded (``"torchvision::nms"``), qualified names of
Python functions of such libraries (``"torchvision.models.swin_transformer.shifted_window_attention"``,
see :func:`qualified_name`), or module patterns (:class:`ModulePattern`, for classes of
libraries flopcount does not import).
Registering a target twice is an error unless ``override=True``.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn

from flopcount.errors import DuplicateFormulaError
from flopcount.records import Count, TensorInfo
from flopcount.values import leaves

__all__ = [
    "FAMILIES",
    "DuplicateFormulaError",
    "Formula",
    "FormulaFn",
    "ModulePattern",
    "OpCall",
    "TensorInfo",
    "first_tensor",
    "is_registered",
    "lookup",
    "qualified_name",
    "register_formula",
    "registered_targets",
    "target_name",
    "tensor_methods",
    "unregister_formula",
    "zero",
]

FAMILIES = (
    "conv",
    "linear",
    "matmul",
    "attention",
    "rnn",
    "norm",
    "pool",
    "activation",
    "elementwise",
    "interpolate",
    "reduction",
    "fft",
    "detection",
    "moe",
    "zero",
    "other",
)


ModuleT = TypeVar("ModuleT", bound=nn.Module)


@dataclass(frozen=True)
class OpCall:
    """What a formula sees of one executed op.

    Attributes:
        target: The module class, callable, method name or aten op.
        args: Positional arguments with tensors replaced by :class:`TensorInfo`.
        kwargs: Keyword arguments, same replacement.
        output: The output (``TensorInfo`` or a tuple/list of them).
        module: The module instance for module calls, else None.

    Example:
        >>> import torch
        >>> call = OpCall(torch.nn.functional.linear, (TensorInfo((2, 4)), TensorInfo((3, 4))), {}, TensorInfo((2, 3)))
        >>> call.out.shape, call.arg(2, "bias"), len(call.tensors)
        ((2, 3), None, 2)
    """

    target: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    output: Any
    module: nn.Module | None = None

    def arg(self, index: int, name: str, default: Any = None) -> Any:
        """Argument by position or keyword, with a default."""
        if index < len(self.args):
            return self.args[index]
        return self.kwargs.get(name, default)

    def module_as(self, cls: type[ModuleT]) -> ModuleT:
        """The called module, checked to be a ``cls`` (for formulas of module targets).

        Raises:
            TypeError: This is not a call of a ``cls`` module.
        """
        if not isinstance(self.module, cls):
            raise TypeError(f"{target_name(self.target)} is not a call of a {cls.__name__} module")
        return self.module

    @property
    def out(self) -> TensorInfo:
        """The first output tensor."""
        return first_tensor(self.output)

    @property
    def tensors(self) -> list[TensorInfo]:
        """All tensor arguments, in order (flattening lists/tuples)."""
        return _infos(self.args) + _infos(self.kwargs) if self.kwargs else _infos(self.args)


def _infos(value: Any) -> list[TensorInfo]:
    return [leaf for leaf in leaves(value) if isinstance(leaf, TensorInfo)]


def first_tensor(value: Any) -> TensorInfo:
    """First :class:`TensorInfo` in a value (a tensor, or a nested tuple/list)."""
    found = _infos(value)
    if not found:
        raise ValueError("op produced no tensor")
    return found[0]


FormulaFn = Callable[[OpCall], Count]


@dataclass(frozen=True)
class Formula:
    """A registered formula: the function, its family and where it came from."""

    target: Any
    family: str
    fn: FormulaFn = field(compare=False)
    dtype: str | None = None
    note: str = ""

    def __call__(self, call: OpCall) -> Count:
        """The count of one call."""
        return self.fn(call)


@dataclass(frozen=True)
class ModulePattern:
    """A formula target that matches module classes by what they have, not by name.

    For module classes of libraries flopcount does not import (Hugging Face's
    mixture-of-experts blocks, say): ``matches(cls)`` decides, once per class.

    Example:
        >>> import torch
        >>> pattern = ModulePattern("has experts", lambda cls: hasattr(cls, "num_experts"))
        >>> pattern.matches(torch.nn.Linear)
        False
    """

    name: str
    matches: Callable[[type], bool] = field(compare=False)

    def __str__(self) -> str:
        return self.name


_REGISTRY: dict[Any, Formula] = {}
_PATTERNS: dict[ModulePattern, Formula] = {}
_MATCHED: dict[type, Formula | None] = {}  # class -> the formula of the first pattern it matches


def target_name(target: Any) -> str:
    """Readable name of a formula target (``"Conv2d"``, ``"torch.matmul"``, ``"aten.mm"``)."""
    if isinstance(target, (str, ModulePattern)):
        return str(target)
    if isinstance(target, torch._ops.OpOverloadPacket):
        return f"aten.{target.__name__}" if "aten" in str(target) else str(target)
    if isinstance(target, torch._ops.OpOverload):
        return f"aten.{target.__name__}"
    module = getattr(target, "__module__", None) or ""
    qualname = str(getattr(target, "__qualname__", None) or getattr(target, "__name__", repr(target)))
    if isinstance(target, type):
        return qualname
    if module in ("_operator", "operator"):
        return f"operator.{qualname}"
    if module.startswith("torch"):
        return f"{module.replace('torch._C._nn', 'torch.nn.functional')}.{qualname}"
    return f"{module}.{qualname}" if module else qualname


def tensor_methods(*names: str) -> tuple[str, ...]:
    """Formula targets of tensor methods: ``"Tensor.<name>"`` for each name.

    Example:
        >>> tensor_methods("add", "add_")
        ('Tensor.add', 'Tensor.add_')
    """
    return tuple(f"Tensor.{name}" for name in names)


def register_formula(
    *targets: Any, family: str, override: bool = False, dtype: str | None = None, note: str = ""
) -> Callable[[FormulaFn], FormulaFn]:
    """Register ``fn`` as the cost formula of one or more targets.

    Args:
        *targets: Module classes, callables, ``"Tensor.<method>"`` names or aten ops.
        family: One of :data:`FAMILIES`; conventions select records by family.
        override: Replace an existing registration instead of raising.
        dtype: The dtype the counted arithmetic runs in when it is not the inputs' own
            (``"int8"`` for quantized kernels); records show it.
        note: A label every record of this formula carries (a convention's name).

    Returns:
        A decorator that registers the function and returns it unchanged.

    Raises:
        DuplicateFormulaError: A target is already registered and ``override`` is False.
        ValueError: Unknown family or no target.

    Example:
        >>> import torch
        >>> from flopcount import Count, register_formula, unregister_formula
        >>> class Scale(torch.nn.Module):
        ...     def forward(self, x):
        ...         return x * 2
        >>> @register_formula(Scale, family="elementwise")
        ... def scale_count(call):
        ...     return Count(flops=call.out.numel)
        >>> unregister_formula(Scale)
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown formula family {family!r}; expected one of {FAMILIES}")
    if not targets:
        raise ValueError("register_formula needs at least one target")

    def decorator(fn: FormulaFn) -> FormulaFn:
        for target in targets:
            if target in _REGISTRY and not override:
                raise DuplicateFormulaError(
                    f"a formula for {target_name(target)} is already registered (pass override=True to replace it)"
                )
        for target in targets:
            _REGISTRY[target] = Formula(target, family, fn, dtype, note)
            if isinstance(target, ModulePattern):
                _PATTERNS[target] = _REGISTRY[target]
        _MATCHED.clear()
        return fn

    return decorator


def unregister_formula(target: Any) -> None:
    """Remove the formula of ``target`` (KeyError if there is none).

    Args:
        target: A target passed to :func:`register_formula` before.

    Raises:
        KeyError: ``target`` has no formula.

    Example:
        >>> from flopcount import Count, register_formula
        >>> register_formula("Tensor.my_op", family="other")(lambda call: Count())  # doctest: +ELLIPSIS
        <function <lambda> at ...>
        >>> unregister_formula("Tensor.my_op")
        >>> lookup("Tensor.my_op") is None
        True
    """
    del _REGISTRY[target]
    _PATTERNS.pop(target, None)
    _MATCHED.clear()


def qualified_name(target: Any) -> str | None:
    """``"module.qualname"`` of a Python function (how functions of unimported libraries register), else None.

    Example:
        >>> import json
        >>> qualified_name(json.dumps), qualified_name("Tensor.add")
        ('json.dumps', None)
    """
    if not isinstance(target, types.FunctionType):
        return None
    return f"{target.__module__}.{target.__qualname__}"


def lookup(target: Any) -> Formula | None:
    """Formula for a target; module classes also match through base classes, then patterns.

    An op packet or a Python function without a formula of its own also matches by its
    qualified name (``"torchvision::nms"``, :func:`qualified_name`).
    """
    formula = _REGISTRY.get(target)
    if formula is None and isinstance(target, torch._ops.OpOverloadPacket):
        return _REGISTRY.get(target._qualified_op_name)  # registered by name: "torchvision::nms"
    if formula is None and isinstance(target, types.FunctionType):
        return _REGISTRY.get(qualified_name(target))
    if formula is not None or not isinstance(target, type):
        return formula
    found = next((f for base in target.__mro__[1:] if (f := _REGISTRY.get(base)) is not None), None)
    return found if found is not None else _pattern_formula(target)


def _pattern_formula(cls: type) -> Formula | None:
    if not _PATTERNS:
        return None
    if cls not in _MATCHED:
        _MATCHED[cls] = next((f for pattern, f in _PATTERNS.items() if pattern.matches(cls)), None)
    return _MATCHED[cls]


def is_registered(target: Any) -> bool:
    """True when ``target`` itself (not a base class) has a formula, or a module pattern matches it."""
    return target in _REGISTRY or (isinstance(target, type) and _pattern_formula(target) is not None)


def registered_targets() -> list[Any]:
    """All registered targets, in registration order."""
    return list(_REGISTRY)


def zero(call: OpCall) -> Count:
    """Formula of ops that do no arithmetic (views, copies, lookups)."""
    return Count()
