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
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch._subclasses.fake_tensor import (
    DataDependentOutputException,
    DynamicOutputShapeException,
    FakeTensor,
    UnsupportedOperatorException,
)
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from flopcount.errors import CaptureLimitation
from flopcount.values import map_tensors, tensors_in

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
    return map_tensors(_tensor_to_meta, value)


def clone_without_hooks(module: nn.Module, replace: dict[int, Any] | None = None) -> nn.Module:
    """Deep copy of ``module`` whose hook dictionaries are empty, so no user hook runs on it.

    TorchScript modules are shared, not copied (their attributes live in C++; nothing
    flopcount runs writes to them). A flag that says a library has installed its hooks
    (an attribute named ``*hooks_installed*``, e.g. transformers' output capturing) is
    dropped with the hooks, so the library installs them again on the copy; a module
    compiled in place (``module.compile()``) runs its plain ``forward`` in the copy.

    Args:
        module: The module to copy (not modified).
        replace: ``id(object) -> stand-in`` to use in the copy instead of a deep copy
            (meta versions of the parameters, say).
    """
    memo: dict[int, Any] = dict(replace or {})
    for sub in module.modules():
        if isinstance(sub, torch.jit.ScriptModule):
            memo[id(sub)] = sub
            continue
        for attr, value in vars(sub).items():
            if attr.startswith("_") and "_hooks" in attr and isinstance(value, dict):
                memo[id(value)] = type(value)()
    clone = _copy_module(module, memo)
    for sub in clone.modules():
        if isinstance(sub, torch.jit.ScriptModule):
            continue
        attrs = vars(sub)
        for attr in [a for a, v in attrs.items() if "hooks_installed" in a and isinstance(v, bool)]:
            del attrs[attr]
        if attrs.get("_compiled_call_impl") is not None:
            attrs["_compiled_call_impl"] = None
    return clone


#: Copy protocol methods; a module class that defines none of them below ``nn.Module`` is
#: copied attribute by attribute (:func:`_copy_module`), which is what ``deepcopy`` does for it.
_COPY_PROTOCOL = ("__deepcopy__", "__copy__", "__reduce_ex__", "__reduce__", "__getstate__")
_PLAIN_COPY: dict[type, bool] = {}
#: Types that ``deepcopy`` returns as they are (``copy._deepcopy_atomic``), torch's dtype-like values too.
_ATOMIC = frozenset(
    {type(None), bool, int, float, complex, str, bytes, type}
    | {torch.dtype, torch.device, torch.layout, torch.memory_format}
)


def _copies_plainly(cls: type) -> bool:
    """Whether ``deepcopy`` of a ``cls`` instance is a new instance with a deep copy of its ``__dict__``.

    ``__setstate__`` of torch's own layers (``_ConvNd``, ``Softmax``, ...) only fills in
    attributes that pickles from old releases lack, which a live module has.
    """
    plain = _PLAIN_COPY.get(cls)
    if plain is None:
        setstate = getattr(cls, "__setstate__", None)
        plain = all(getattr(cls, name, None) is getattr(nn.Module, name, None) for name in _COPY_PROTOCOL) and (
            setstate is nn.Module.__setstate__ or getattr(setstate, "__module__", "").startswith("torch.nn.modules.")
        )
        _PLAIN_COPY[cls] = plain
    return plain


def _copy_module(module: nn.Module, memo: dict[int, Any]) -> nn.Module:
    """``copy.deepcopy(module, memo)``, without its pickling round trip for plain module classes.

    ``deepcopy`` copies a module through ``__reduce_ex__``; a plain class's instance is
    rebuilt from a deep copy of its ``__dict__`` instead (a third of the time on a
    detection model), its submodules the same way, all sharing ``memo``: objects shared
    between modules stay shared, and the stand-ins in ``memo`` are used.
    """
    done = memo.get(id(module))
    if done is not None:
        return done  # type: ignore[no-any-return]  # memo maps a module's id to its copy
    cls = type(module)
    if not _copies_plainly(cls):
        return copy.deepcopy(module, memo)
    clone = cls.__new__(cls)
    memo[id(module)] = clone
    state: dict[str, Any] = {}
    for key, value in vars(module).items():
        if type(value) in _ATOMIC:
            state[key] = value
        elif key == "_modules":
            state[key] = type(value)(
                (name, None if child is None else _copy_module(child, memo)) for name, child in value.items()
            )
        else:
            state[key] = copy.deepcopy(value, memo)
    vars(clone).update(state)
    return clone


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


def module_meta_forward(module: nn.Module, *args: Any, guard: bool = True, **kwargs: Any) -> Any:
    """Run a module's ``forward`` on meta tensors (hooks never run), inside :func:`on_meta`.

    The class's ``forward`` runs, never one set on the instance (a private copy may carry
    a capture's own wrapper there). ``guard`` as for :func:`on_meta`.
    """
    tensors = [*module.parameters(), *module.buffers()]
    clone = module if all(t.device.type == "meta" for t in tensors) else meta_clone(module)
    with on_meta(guard):
        return type(clone).forward(clone, *args, **kwargs)


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
    if (
        name == "aten::_to_copy"
        and kwargs.get("device") not in (None, META)
        and isinstance(args[0], torch.Tensor)
        and args[0].device.type == "meta"
    ):
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


def is_virtual(tensor: torch.Tensor) -> bool:
    """True for a tensor without values: a meta tensor or a fake tensor (a stand-in for a weight)."""
    return tensor.device.type == "meta" or isinstance(tensor, FakeTensor)


class Taint:
    """Real tensors that a weight-dependent (virtual) value was written into.

    Writing a fake tensor into a real one (``real.copy_(fake)``, ``real[i] = fake``)
    leaves the real tensor's old values in place; reading them later would steer control
    flow by stale values, so such tensors count as virtual from then on. Kept by storage.
    """

    def __init__(self) -> None:
        self._storages: set[int] = set()

    def __bool__(self) -> bool:
        return bool(self._storages)

    def holds(self, tensor: torch.Tensor) -> bool:
        """True when ``tensor`` (a real tensor) shares storage with a tainted tensor."""
        return tensor.untyped_storage().data_ptr() in self._storages

    def mark_written(self, func: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Taint the real tensors that a mutating op with virtual inputs writes to."""
        for index, argument in enumerate(func._schema.arguments):
            if argument.alias_info is None or not argument.alias_info.is_write:
                continue
            value = args[index] if index < len(args) else kwargs.get(argument.name)
            for tensor in tensors_in(value):
                if not is_virtual(tensor):
                    self._storages.add(tensor.untyped_storage().data_ptr())


#: Errors that fake tensors raise where an op needs tensor values, or has no fake kernel.
_FAKE_VALUE_ERRORS = (DataDependentOutputException, DynamicOutputShapeException)


def run_guarded(
    func: torch._ops.OpOverload,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    taint: Taint | None = None,
    runner: Callable[[torch._ops.OpOverload, tuple[Any, ...], dict[str, Any]], Any] | None = None,
) -> Any:
    """Run one aten op, or raise :class:`CaptureLimitation` where it needs values that are not there.

    An op whose tensors all have values (real tensors, none tainted) runs as it is.
    Otherwise, before the op: it reads tensor values (:data:`VALUE_DEPENDENT_OPS`,
    boolean-mask indexing, copies of meta tensors to a real device). After a failure:
    a fake tensor's data-dependent or unsupported-operator error, a
    ``NotImplementedError`` on meta tensors, or a failure of an op that mixes meta
    tensors with tensors on a real device. Other failures pass through unchanged.
    ``runner(func, args, kwargs)`` runs an op on values-free tensors instead of ``func``
    itself (the fake-tensor shortcut of :mod:`flopcount.virtual`).
    """
    tensors = tensors_in(args) + tensors_in(kwargs) if kwargs else tensors_in(args)
    if not any(is_virtual(t) for t in tensors) and not (taint and any(taint.holds(t) for t in tensors)):
        return func(*args, **kwargs)
    name = _op_name(func)
    use = _value_use(name, func, args, kwargs)
    if use is not None:
        raise CaptureLimitation(f"{name} needs tensor values ({use}); weights and meta inputs have none")
    try:
        out = func(*args, **kwargs) if runner is None else runner(func, args, kwargs)
    except _FAKE_VALUE_ERRORS as exc:
        raise CaptureLimitation(f"{name} needs tensor values; weights and meta inputs have none") from exc
    except UnsupportedOperatorException as exc:
        raise CaptureLimitation(f"{name} cannot run without tensor values (no fake kernel)") from exc
    except NotImplementedError as exc:
        raise CaptureLimitation(f"{name} cannot run on meta tensors (NotImplementedError)") from exc
    except RuntimeError as exc:
        devices = {t.device.type for t in tensors}
        if "meta" in devices and len(devices) > 1:
            others = ", ".join(sorted(devices - {"meta"}))
            raise CaptureLimitation(f"{name} mixes meta and {others} tensors") from exc
        raise
    if taint is not None and func._schema.is_mutable:
        taint.mark_written(func, args, kwargs)
    return out


class ValueGuard(DispatchMode):
    """Raises :class:`CaptureLimitation` where an aten op cannot run without tensor values.

    See :func:`run_guarded`, which this mode applies to every op.
    """

    def dispatch(self, func: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Refuse the op when it needs values of meta tensors, else run it (see :func:`run_guarded`)."""
        return run_guarded(func, args, kwargs)


class _NumpyGuard(TorchFunctionMode):
    """``Tensor.numpy()`` of a meta tensor fails before reaching the dispatcher: catch it here."""

    def __torch_function__(
        self,
        func: Any,
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        if func is torch.Tensor.numpy and args and isinstance(args[0], torch.Tensor) and is_virtual(args[0]):
            raise CaptureLimitation("Tensor.numpy() needs tensor values; meta tensors have none")
        return func(*args, **(kwargs or {}))


def numpy_guard() -> TorchFunctionMode:
    """A mode that raises :class:`CaptureLimitation` for ``Tensor.numpy()`` of a meta or fake tensor."""
    return _NumpyGuard()


@contextlib.contextmanager
def on_meta(guard: bool = True) -> Iterator[None]:
    """Run the block with ``meta`` as the default device, under a :class:`ValueGuard`.

    ``Tensor.numpy()`` of a meta tensor, which never reaches the dispatcher, is checked
    at the Python API level instead. ``guard=False`` leaves out the :class:`ValueGuard`
    for a caller whose own dispatch mode guards every op (the op recorder does).

    Raises:
        CaptureLimitation: The block needs tensor values (see :class:`ValueGuard`), or
            raised ``NotImplementedError`` (e.g. ``Tensor.tolist()`` of a meta tensor).
    """
    try:
        with torch.device(META), _NumpyGuard(), ValueGuard() if guard else contextlib.nullcontext():
            yield
    except NotImplementedError as exc:
        first = str(exc).strip().splitlines()
        raise CaptureLimitation(f"NotImplementedError on meta tensors: {first[0] if first else ''}".strip()) from exc
