"""The proxy of the fx capture path: fx's ``Proxy``, answering shape questions with concrete values.

:class:`ShapeProxy` stands for one traced value. ``x.shape``, ``x.dtype``, ``len(x)``,
iteration and ``bool`` of a shape comparison get the walker's concrete meta value
(the profile is for one input shape), so shape-dependent Python runs as it would in a
forward; ``bool`` of a tensor value raises fx's ``TraceError`` (then
:func:`flopcount.profile` falls back to the dispatch path).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import fx

from flopcount.capture.node_names import base_name
from flopcount.capture.walker import MISSING
from flopcount.values import has_tensor

if TYPE_CHECKING:
    from flopcount.capture.fx import ShapeTracer

_CONCRETE_TENSOR_ATTRS = frozenset(
    {"shape", "ndim", "dtype", "device", "is_cuda", "layout", "is_sparse", "is_quantized"}
)


def _tracer_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ShapeTracer | None:
    """The tracer of the first :class:`ShapeProxy` among the arguments, one level of list/tuple deep."""
    for value in (*args, *kwargs.values()):
        if type(value) is ShapeProxy:
            return value.tracer
        if type(value) in (list, tuple):
            for item in value:
                if type(item) is ShapeProxy:
                    return item.tracer
    return None


class ShapeProxy(fx.Proxy):
    """A proxy that answers shape questions with the concrete meta value."""

    tracer: ShapeTracer

    @classmethod
    def __torch_function__(
        cls,
        orig_method: Callable[..., Any],
        types: tuple[type, ...],
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        # fx.Proxy's own version finds the tracer with two pytree walks over the arguments,
        # the most expensive step of a torch function's node; one tracer is ever active here.
        args, kwargs = args or (), kwargs or {}
        tracer = _tracer_of(args, kwargs)
        if tracer is None or isinstance(orig_method, (torch._C.ScriptMethod, torch._ops.HigherOrderOperator)):
            return super().__torch_function__(orig_method, types, args, kwargs)
        if torch.overrides.is_tensor_method_or_property(orig_method):
            return tracer.create_proxy("call_method", orig_method.__name__, args, kwargs)
        name = base_name(orig_method.__name__)
        return tracer.create_proxy("call_function", orig_method, args, kwargs, name=name)

    def _value(self) -> Any:
        return self.tracer.walker.value_of(self.node)  # type: ignore[arg-type]  # a TraceNode (ShapeTracer.create_node)

    def __getattr__(self, name: str) -> Any:
        if name in _CONCRETE_TENSOR_ATTRS:
            value = self._value()
            if isinstance(value, torch.Tensor):
                if name in ("device", "is_cuda"):  # the values are meta; the model's tensors are where its inputs are
                    device = self.tracer.walker.device
                    return device if name == "device" else device.type == "cuda"
                return getattr(value, name)
        return super().__getattr__(name)

    def __len__(self) -> int:
        value = self._value()
        if value is MISSING:
            raise fx.proxy.TraceError("len() of a proxy with unknown value")
        return len(value)

    def __iter__(self) -> Iterator[Any]:
        value = self._value()
        if isinstance(value, (torch.Tensor, tuple, list)):
            # fx.Proxy gains __getitem__ at runtime (torch/fx/proxy.py's magic methods).
            return iter([self[i] for i in range(len(value))])  # type: ignore[index]
        return super().__iter__()

    def __setitem__(self, key: Any, value: Any) -> None:
        # A node like any other: the walker runs it on the meta value in graph order, and
        # the copy it makes is recorded with its aten formulas (as on the dispatch path).
        self.tracer.create_proxy("call_function", operator.setitem, (self, key, value), {})

    def __bool__(self) -> bool:
        value = self._value()
        if value is not MISSING and not has_tensor(value):
            return bool(value)
        raise fx.proxy.TraceError("control flow depends on tensor values")

    def __index__(self) -> int:
        value = self._value()
        if isinstance(value, int):
            return value
        raise fx.proxy.TraceError("a tensor value is used as an index")
