"""The meta device: shape-only tensors, private module copies, and guarded meta execution.

Whenever flopcount runs code on meta tensors (a leaf module without a shape rule, a
function without a formula, a whole model that fx cannot trace), it runs it inside
:func:`on_meta`. That is the one place that decides whether a failure is a capture
limitation (the model needs tensor values, which meta tensors do not have, so a run on
real inputs is the next step) or an error in the model or its inputs: by op identity
(:data:`VALUE_DEPENDENT_OPS`) and by exception type, never by message text.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

from flopcount.errors import CaptureLimitation

META = torch.device("meta")

#: Ops whose result (or result shape) always depends on tensor values, by qualified name,
#: with what a user calls them. Checked before they run, so a meta kernel that guesses
#: (``nonzero`` assuming every element is non-zero, say) can never give a wrong count.
VALUE_DEPENDENT_OPS = {
    "aten::_local_scalar_dense": "Tensor.item(), bool(), int() or float() of a tensor",
    "aten::is_nonzero": "bool() of a tensor",
    "aten::nonzero": "nonzero, argwhere or one-argument torch.where",
    "aten::masked_select": "masked_select",
    "aten::_unique": "unique",
    "aten::_unique2": "unique",
    "aten::unique_dim": "unique",
    "aten::unique_consecutive": "unique_consecutive",
    "aten::bincount": "bincount",
    "aten::equal": "torch.equal",
    "aten::allclose": "torch.allclose",
    "torchvision::nms": "torchvision.ops.nms",
}


def meta_empty(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A contiguous meta tensor of the given shape and dtype."""
    return torch.empty(shape, dtype=dtype, device=META)


def _tensor_to_meta(value: Any) -> Any:
    if not isinstance(value, torch.Tensor) or value.device.type == "meta":
        return value
    return torch.empty_strided(value.shape, value.stride(), dtype=value.dtype, device=META)


def to_meta(value: Any) -> Any:
    """Replace every tensor in a (nested) value by a meta tensor of the same shape and strides."""
    if isinstance(value, torch.Tensor):
        return _tensor_to_meta(value)
    return tree_map(_tensor_to_meta, value)


def clone_without_hooks(module: nn.Module, replace: dict[int, Any] | None = None) -> nn.Module:
    """Deep copy of ``module`` whose hook dictionaries are empty, so no user hook runs on it.

    Args:
        module: The module to copy (not modified).
        replace: ``id(object) -> stand-in`` to use in the copy instead of a deep copy
            (meta versions of the parameters, say).
    """
    memo: dict[int, Any] = dict(replace or {})
    for sub in module.modules():
        for attr, value in vars(sub).items():
            if attr.startswith("_") and "_hooks" in attr and isinstance(value, dict):
                memo[id(value)] = type(value)()
    return copy.deepcopy(module, memo)


def meta_clone(module: nn.Module) -> nn.Module:
    """Copy of ``module`` whose parameters and buffers live on ``meta`` and that has no hooks.

    The user's module is not touched and no tensor data is copied.
    """
    replace: dict[int, Any] = {
        id(param): nn.Parameter(to_meta(param.detach()), requires_grad=param.requires_grad)
        for param in module.parameters()
    }
    replace.update({id(buffer): to_meta(buffer) for buffer in module.buffers()})
    return clone_without_hooks(module, replace)


def module_meta_forward(module: nn.Module, *args: Any, **kwargs: Any) -> Any:
    """Run a module's ``forward`` on meta tensors (hooks never run), inside :func:`on_meta`."""
    tensors = [*module.parameters(), *module.buffers()]
    clone = module if all(t.device.type == "meta" for t in tensors) else meta_clone(module)
    with on_meta():
        return clone.forward(*args, **kwargs)


def _op_name(func: torch._ops.OpOverload) -> str:
    return f"{func.namespace}::{func.overloadpacket.__name__}"


def _value_use(name: str, func: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """How the op reads tensor values, or ``None`` when its result follows from shapes alone."""
    if name in VALUE_DEPENDENT_OPS:
        return VALUE_DEPENDENT_OPS[name]
    if name == "aten::repeat_interleave" and "Tensor" in func._overloadname and kwargs.get("output_size") is None:
        return "repeat_interleave with tensor repeats and no output_size"
    if name == "aten::index" and any(
        isinstance(i, torch.Tensor) and i.dtype in (torch.bool, torch.uint8) for i in tree_leaves(args[1:])
    ):
        return "boolean-mask indexing"
    if name == "aten::_to_copy" and kwargs.get("device") not in (None, META):
        return "copying a meta tensor to a real device: .tolist(), .cpu(), .to(device)"
    return None


class DispatchMode(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch's __init_subclass__ is unannotated
    """A ``TorchDispatchMode`` with typed construction and one typed hook, :meth:`dispatch`.

    Torch leaves ``TorchDispatchMode`` unannotated; the ignores for that live here only.
    """

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # torch leaves it unannotated

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)  # type: ignore[no-untyped-call]  # torch leaves it unannotated

    def __torch_dispatch__(
        self,
        func: torch._ops.OpOverload,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        return self.dispatch(func, args, kwargs or {})

    def dispatch(self, func: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run (or refuse) one aten op; subclasses override this."""
        return func(*args, **kwargs)


class ValueGuard(DispatchMode):
    """Raises :class:`CaptureLimitation` where an aten op cannot run without tensor values.

    Before the op: it reads tensor values of meta tensors (:data:`VALUE_DEPENDENT_OPS`,
    boolean-mask indexing, copies to a real device). After a failure: a
    ``NotImplementedError`` on meta tensors, or a failure of an op that mixes meta
    tensors with tensors on a real device (``forward`` made a tensor on a fixed device).
    Other failures pass through unchanged.
    """

    def dispatch(self, func: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Refuse the op when it needs values of meta tensors, else run it (see the class docstring)."""
        devices = {leaf.device.type for leaf in tree_leaves((args, kwargs)) if isinstance(leaf, torch.Tensor)}
        if "meta" not in devices:
            return func(*args, **kwargs)
        name = _op_name(func)
        use = _value_use(name, func, args, kwargs)
        if use is not None:
            raise CaptureLimitation(f"{name} needs tensor values ({use}); meta tensors have none")
        try:
            return func(*args, **kwargs)
        except NotImplementedError as exc:
            raise CaptureLimitation(f"{name} cannot run on meta tensors (NotImplementedError)") from exc
        except RuntimeError as exc:
            others = sorted(devices - {"meta"})
            if others:
                raise CaptureLimitation(f"{name} mixes meta and {', '.join(others)} tensors") from exc
            raise


class _NumpyGuard(TorchFunctionMode):
    """``Tensor.numpy()`` of a meta tensor fails before reaching the dispatcher: catch it here."""

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if func is torch.Tensor.numpy and args and isinstance(args[0], torch.Tensor) and args[0].is_meta:
            raise CaptureLimitation("Tensor.numpy() needs tensor values; meta tensors have none")
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def on_meta() -> Iterator[None]:
    """Run the block with ``meta`` as the default device, under a :class:`ValueGuard`.

    ``Tensor.numpy()`` of a meta tensor, which never reaches the dispatcher, is checked
    at the Python API level instead.

    Raises:
        CaptureLimitation: The block needs tensor values (see :class:`ValueGuard`), or
            raised ``NotImplementedError`` (e.g. ``Tensor.tolist()`` of a meta tensor).
    """
    try:
        with torch.device(META), _NumpyGuard(), ValueGuard():
            yield
    except NotImplementedError as exc:
        first = str(exc).strip().splitlines()
        raise CaptureLimitation(f"NotImplementedError on meta tensors: {first[0] if first else ''}".strip()) from exc
