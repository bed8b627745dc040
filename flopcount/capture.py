"""Capture: model + example inputs -> a graph of ops (fx), or recorded aten ops (fallback).

The fx path traces with standard ``torch.nn`` layers (and any module class with a
registered formula) as leaves, keeping the module hierarchy in each node's
``nn_module_stack``, and with concrete shapes (see :class:`LeafTracer`). When fx still
cannot trace the model (value-dependent control flow, ``*args`` forwards, item
assignment into a tensor, other untraceable code), :func:`capture_dispatch` runs a
private meta-device clone of the model under :class:`~flopcount.dispatch.OpRecorder`;
when even that needs real values (``.item()``, ``nonzero``), it runs a private real
clone on the example inputs. The user's model is never modified.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from flopcount.dispatch import OpRecorder, aten_records, track_modules
from flopcount.formulas.registry import is_registered
from flopcount.graph_walk import SHAPE_QUERIES, GraphWalker, untraced
from flopcount.records import LayerRecord
from flopcount.shapes import META, has_tensor, meta_clone, to_meta


@dataclass(frozen=True)
class CaptureInfo:
    """Which capture path produced a profile, and why.

    Attributes:
        method: ``"fx"`` (graph + shape formulas, no execution), ``"dispatch"`` (a meta
            clone run under a dispatch recorder, no real arithmetic) or
            ``"dispatch-real"`` (a private clone run on the real example inputs, only
            when the model's control flow needs tensor values).
        reason: Why the fx path was not used (``None`` for ``"fx"``).

    Example:
        >>> import torch
        >>> from flopcount import profile
        >>> profile(torch.nn.Linear(4, 3), input_shape=(1, 4)).capture
        CaptureInfo(method='fx', reason=None)
    """

    method: str
    reason: str | None = None


class CaptureLimitation(Exception):
    """A capture path cannot handle this model (the next path is tried)."""


class LeafTracer(fx.Tracer):
    """fx tracer with concrete shapes.

    Leaves are standard ``torch.nn`` layers and formula-registered modules. With a
    walker attached, new nodes are queued and their meta values computed (in order, in
    batches) whenever tracing needs a concrete answer, so ``x.shape``, ``x.size(1)``,
    ``len(x)``, ``for row in x`` and ``B, L, D = x.shape`` give plain Python values during
    tracing (the profile is for one input shape anyway) and shape-dependent control
    flow traces; only value-dependent control flow still fails.
    """

    def __init__(self, walker: GraphWalker | None = None) -> None:
        super().__init__()
        self.walker = walker
        self._param_names: dict[int, str] | None = None
        self._buffer_names: dict[int, str] | None = None

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:  # noqa: D102
        # fx searches root.named_parameters() linearly on every access; index it once.
        if isinstance(attr_val, nn.Parameter):
            if self._param_names is None:
                self._param_names = {id(p): n for n, p in self.root.named_parameters(remove_duplicate=False)}
            name = self._param_names.get(id(attr_val))
            if name is not None:
                if name not in parameter_proxy_cache:
                    parameter_proxy_cache[name] = self.create_proxy("get_attr", name, (), {})
                return parameter_proxy_cache[name]
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def create_arg(self, a: Any) -> Any:  # noqa: D102
        # fx would search root.named_buffers() linearly and setattr "_tensor_constantN" on
        # the user's model for other tensors; resolve both through our own tables instead.
        if self.walker is not None and isinstance(a, torch.Tensor) and not isinstance(a, nn.Parameter):
            if self._buffer_names is None:
                self._buffer_names = {id(b): n for n, b in self.root.named_buffers(remove_duplicate=False)}
            name = self._buffer_names.get(id(a))
            if name is None:
                name = f"<constant {len(self.walker.constants)}>"
                self._buffer_names[id(a)] = name
                self.walker.constants[name] = a
            return self.create_node("get_attr", name, (), {})
        return super().create_arg(a)

    def call_module(self, m: nn.Module, forward: Any, args: tuple, kwargs: dict) -> Any:  # noqa: D102
        # Trace m.forward itself: going through m.__call__ would run the user's hooks.
        return super().call_module(m, m.forward, args, kwargs)

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:  # noqa: D102
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        return is_registered(type(m)) or super().is_leaf_module(m, module_qualified_name)

    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):  # noqa: D102
        node = super().create_node(kind, target, args, kwargs, name, type_expr)
        if self.walker is not None:
            self.walker.pending.append(node)
        return node

    def create_proxy(self, kind, target, args, kwargs, name=None, type_expr=None, proxy_factory_fn=None):  # noqa: D102
        proxy = super().create_proxy(kind, target, args, kwargs, name, type_expr, proxy_factory_fn)
        if self.walker is not None and kind == "call_method" and target in _SHAPE_METHODS:
            return value_of(self.walker, proxy.node)
        return proxy

    def proxy(self, node: fx.Node) -> fx.Proxy:  # noqa: D102
        return ShapeProxy(node, self) if self.walker is not None else super().proxy(node)


_MISSING = object()
_SHAPE_METHODS = frozenset(name.removeprefix("Tensor.") for name in SHAPE_QUERIES)


def value_of(walker: GraphWalker, node: fx.Node) -> Any:
    """The concrete value of ``node``, stepping every queued node up to it first.

    Values are computed in batches, with fx's temporary patches lifted once per batch,
    only when tracing needs a concrete answer (or once at the end).
    """
    if node not in walker.env and walker.pending:
        with untraced():
            while walker.pending:
                current = walker.pending.popleft()
                walker.step(current)
                if current is node:
                    break
    return walker.env.get(node, _MISSING)


_CONCRETE_TENSOR_ATTRS = frozenset(
    {"shape", "ndim", "dtype", "device", "is_cuda", "layout", "is_sparse", "is_quantized"}
)


def _is_python_value(value: Any) -> bool:
    return value is not _MISSING and not has_tensor(value)


class ShapeProxy(fx.Proxy):
    """A proxy that answers shape questions with the concrete meta value."""

    def _value(self) -> Any:
        return value_of(self.tracer.walker, self.node)

    def __getattr__(self, name: str) -> Any:
        if name not in _CONCRETE_TENSOR_ATTRS:
            return super().__getattr__(name)
        value = self._value()
        if isinstance(value, torch.Tensor) and name in _CONCRETE_TENSOR_ATTRS:
            return getattr(value, name)
        return super().__getattr__(name)

    def __len__(self) -> int:
        value = self._value()
        if value is _MISSING:
            raise fx.proxy.TraceError("len() of a proxy with unknown value")
        return len(value)

    def __iter__(self):
        value = self._value()
        if isinstance(value, (torch.Tensor, tuple, list)):
            return iter([self[i] for i in range(len(value))])
        return super().__iter__()

    def __bool__(self) -> bool:
        value = self._value()
        if _is_python_value(value):
            return bool(value)
        raise fx.proxy.TraceError("control flow depends on tensor values")

    def __index__(self) -> int:
        value = self._value()
        if isinstance(value, int):
            return value
        raise fx.proxy.TraceError("a tensor value is used as an index")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode for the block, then restore each flag exactly.

    Counting in eval mode makes the result independent of ``model.training`` (auxiliary
    heads and stochastic depth only run in training).
    """
    switched = [module for module in model.modules() if module.training]
    try:
        for module in switched:
            module.training = False
        yield
    finally:
        for module in switched:
            module.training = True


def _is_tensor_tree(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, (tuple, list)):
        return bool(value) and all(_is_tensor_tree(v) for v in value)
    if isinstance(value, dict):
        return bool(value) and all(_is_tensor_tree(v) for v in value.values())
    return False


def bind_inputs(model: nn.Module, args: tuple, kwargs: dict) -> tuple[dict[str, Any], dict[str, Any]]:
    """Map example inputs to ``forward``'s parameter names.

    Returns:
        ``(tensor_inputs, concrete_args)``: tensors (or containers of tensors) become
        graph placeholders; anything else is fixed at trace time.
    """
    signature = inspect.signature(model.forward)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"example inputs do not match {type(model).__name__}.forward{signature}: {exc}") from None
    tensors, concrete = {}, {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise CaptureLimitation(f"forward takes *{name}; fx needs named inputs")
        (tensors if _is_tensor_tree(value) else concrete)[name] = value
    return tensors, concrete


def trace_and_walk(
    model: nn.Module, inputs: dict[str, Any], concrete_args: dict[str, Any]
) -> tuple[fx.Graph, list[LayerRecord]]:
    """Trace ``model`` in eval mode with concrete shapes; return the graph and its records.

    A root that is itself a leaf (a bare ``nn.LSTM``) becomes a one-node graph.
    """
    walker = GraphWalker(model)
    walker.bind(inputs)
    tracer = LeafTracer(walker)
    with eval_mode(model):
        if tracer.is_leaf_module(model, ""):
            graph = _single_call_graph(model, inputs, concrete_args)
            walker.graph = graph
            walker.run(inputs)
            return graph, walker.records
        graph = tracer.trace(model, concrete_args=concrete_args or None)
    while walker.pending:
        walker.step(walker.pending.popleft())
    return graph, walker.records


def _single_call_graph(model: nn.Module, inputs: dict[str, Any], concrete_args: dict[str, Any]) -> fx.Graph:
    """``placeholders -> call_module("") -> output``, arguments in ``forward``'s order."""
    graph = fx.Graph()
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    positional = True
    for name, param in inspect.signature(model.forward).parameters.items():
        if name not in inputs and name not in concrete_args:
            positional = False
            continue
        value = graph.placeholder(name) if name in inputs else concrete_args[name]
        if positional and param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            args.append(value)
        else:
            kwargs[name] = value
    graph.output(graph.call_module("", tuple(args), kwargs))
    return graph


def capture_dispatch(model: nn.Module, args: tuple, kwargs: dict, *, real: bool) -> list[LayerRecord]:
    """Record the aten ops of one forward pass of a private clone of ``model``.

    Args:
        model: The user's model (not modified).
        args: Example positional inputs.
        kwargs: Example keyword inputs.
        real: Run a full copy on the real inputs instead of a meta clone.
    """
    if real:
        clone = _real_clone(model)
        run_args, run_kwargs = args, kwargs
        device_context: Any = contextlib.nullcontext()
    else:
        clone = meta_clone(model)
        run_args, run_kwargs = to_meta(args), to_meta(kwargs)
        device_context = torch.device(META)
    clone.eval()
    recorder = OpRecorder()
    handles = track_modules(clone, recorder)
    try:
        with torch.no_grad(), device_context, recorder:
            clone(*run_args, **run_kwargs)
    finally:
        for handle in handles:
            handle.remove()
    records = aten_records(recorder.calls)
    return _attribute_params(clone, records)


def _real_clone(model: nn.Module) -> nn.Module:
    memo: dict[int, Any] = {}
    for sub in model.modules():
        for attr, hooks in list(sub.__dict__.items()):
            if attr.endswith("_hooks") or attr.endswith("_hooks_with_kwargs"):
                memo[id(hooks)] = type(hooks)()
    return copy.deepcopy(model, memo)


def _attribute_params(clone: nn.Module, records: list[LayerRecord]) -> list[LayerRecord]:
    """Give each module's own parameters to the first record inside that module."""
    first_inside: dict[str, int] = {}
    for index, record in enumerate(records):
        parts = record.name.split(".") if record.name else []
        for depth in range(len(parts) + 1):
            first_inside.setdefault(".".join(parts[:depth]), index)
    extra = [0] * len(records)
    seen: set[int] = set()
    for path, module in clone.named_modules():
        index = first_inside.get(path)
        if index is None:
            continue
        for param in module.parameters(recurse=False):
            if id(param) not in seen:
                seen.add(id(param))
                extra[index] += param.numel()
    return [
        dataclasses.replace(record, params=record.params + add) if add else record
        for record, add in zip(records, extra)
    ]
