"""The fx capture path: trace with concrete shapes, walking each node as it is created.

:class:`ShapeTracer` keeps standard ``torch.nn`` layers (and any module class with a
registered formula) as leaves and keeps the innermost module path of each call. It
builds no ``fx.Graph``: every call it records is a
:class:`~flopcount.capture.walker.TraceNode` (named as fx would name it) handed to a
:class:`~flopcount.capture.walker.GraphWalker`, which computes meta values lazily, so
``x.shape``, ``x.size(1)``, ``len(x)``, ``for row in x`` and ``B, L, D = x.shape`` give
plain Python values during tracing (the profile is for one input shape anyway) and
shape-dependent control flow traces; only value-dependent control flow still fails, and
then :func:`flopcount.profile` falls back to the dispatch path. No real arithmetic runs,
and no attribute or hook is left on the user's model: whatever ``forward`` writes to a
module during the trace (a cache entry holding a proxy, a rebuilt buffer) is put back
by :func:`~flopcount.capture.isolation.preserved`.
"""

from __future__ import annotations

import contextlib
import contextvars
import inspect
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import fx, nn

from flopcount.capture import module_trace
from flopcount.capture.isolation import preserved
from flopcount.capture.leaves import is_leaf
from flopcount.capture.node_names import NodeNames, base_name
from flopcount.capture.scoped_patches import own_class_patches
from flopcount.capture.shape_proxy import ShapeProxy
from flopcount.capture.walker import SHAPE_QUERIES, GraphWalker, TraceNode
from flopcount.errors import CaptureLimitation, InputMismatchError
from flopcount.records import LayerRecord
from flopcount.values import is_tensor_tree

_SHAPE_METHODS = frozenset(name.removeprefix("Tensor.") for name in SHAPE_QUERIES)
#: Argument types fx stores as they are (exact types: subclasses such as bool-like enums go through fx).
_CONSTANT_ARG_TYPES = frozenset(
    {int, float, bool, str, complex, type(None), type(...)}
    | {torch.dtype, torch.device, torch.memory_format, torch.layout}
)


def capture_fx(
    model: nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    moe: str = "expected",
    named_modules: Sequence[tuple[str, nn.Module]] | None = None,
) -> list[LayerRecord]:
    """Trace ``model`` in eval mode with concrete shapes; return one record per op.

    A root that is itself a leaf (a bare ``nn.LSTM``) becomes a one-node graph.
    ``named_modules`` is ``model.named_modules()`` when the caller already has them
    (each walk of a large model costs a fraction of a millisecond).

    Raises:
        InputMismatchError: The inputs do not match ``forward``'s signature.
        CaptureLimitation: fx cannot handle this model (``*args`` inputs, an op that
            needs tensor values); fx's own errors (``TraceError``) also mean that.
        ShapeMismatchError: The inputs do not fit a layer.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
        >>> [(r.name, r.type, r.macs) for r in capture_fx(net, (torch.ones(2, 4),), {})]
        [('0', 'Linear', 24), ('1', 'ReLU', 0)]
    """
    tensors, concrete = bind_inputs(model, args, kwargs)
    named = tuple(named_modules or model.named_modules())
    modules = [module for _, module in named]
    walker = GraphWalker(model, tensors, stepping=Untraced, concrete=concrete, named_modules=named)
    tracer = ShapeTracer(walker, moe=moe, named_modules=named)
    with preserved(model, modules), eval_mode(model, modules):
        if tracer.is_leaf_module(model, ""):
            for node in _single_call_nodes(model, tensors, concrete):
                walker.enqueue(node)
        else:
            tracer.trace(model, concrete_args=concrete or None)
        return walker.finish()


def bind_inputs(
    model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Map example inputs to ``forward``'s parameter names.

    Returns:
        ``(tensor_inputs, concrete_args)``: tensors (or containers of tensors) become
        graph placeholders; anything else is fixed at trace time.

    Raises:
        InputMismatchError: The inputs do not match ``forward``'s signature.
        CaptureLimitation: ``forward`` takes ``*args`` or ``**kwargs``.
    """
    signature = forward_signature(model)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise InputMismatchError(
            f"example inputs do not match {type(model).__name__}.forward{signature}: {exc}"
        ) from None
    tensors: dict[str, Any] = {}
    concrete: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_POSITIONAL:
            raise CaptureLimitation(f"forward takes *{name}; fx needs named inputs")
        # extra keyword inputs are passed by name, as the user passes them (ShapeTracer.create_args_for_root)
        for key, item in value.items() if kind is inspect.Parameter.VAR_KEYWORD else [(name, value)]:
            (tensors if is_tensor_tree(item) else concrete)[key] = item
    return tensors, concrete


_SIGNATURES: weakref.WeakKeyDictionary[Callable[..., Any], inspect.Signature] = weakref.WeakKeyDictionary()


def forward_signature(model: nn.Module) -> inspect.Signature:
    """``inspect.signature(model.forward)``, kept per class ``forward`` function.

    ``inspect.signature`` unwraps decorators (every Hugging Face ``forward`` has several)
    and builds the signature anew on every call.
    """
    forward = model.forward
    function = getattr(forward, "__func__", None)
    try:
        signature = _SIGNATURES.get(function) if function is not None else None
    except TypeError:  # a function that takes no weak reference (a builtin): not kept
        return inspect.signature(forward)
    if signature is None:
        signature = inspect.signature(forward)
        if function is not None:
            _SIGNATURES[function] = signature
    return signature


@contextlib.contextmanager
def eval_mode(model: nn.Module, modules: Iterable[nn.Module] | None = None) -> Iterator[None]:
    """Put every submodule in eval mode for the block, then restore each flag exactly.

    Counting in eval mode makes the result independent of ``model.training`` (auxiliary
    heads and stochastic depth only run in training). ``modules`` is ``model.modules()``
    when the caller already has them.
    """
    switched = [module for module in modules or model.modules() if module.training]
    try:
        for module in switched:
            module.training = False
        yield
    finally:
        for module in switched:
            module.training = True


# While the walker steps nodes, fx's patched Module.__getattr__ and __call__ still reach
# ShapeTracer.getattr / call_module, which pass through while this is set, so meta
# execution of a leaf is never traced. (Lifting fx's patches instead costs a class
# attribute write on nn.Module per query, which invalidates the method caches of every
# nn.Module subclass loaded: milliseconds each with timm or transformers imported.)
_PASS_THROUGH = contextvars.ContextVar("flopcount_fx_pass_through", default=False)


class Untraced:
    """Let meta code run plainly while fx is tracing (the walker steps nodes in here).

    A class, not a generator context manager: the walker enters one for every concrete
    value the trace asks for.
    """

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _PASS_THROUGH.set(True)

    def __exit__(self, *exc_info: object) -> None:
        _PASS_THROUGH.reset(self._token)


class ShapeTracer(fx.Tracer):
    """fx tracer with concrete shapes: each new node goes to the walker.

    Leaves are standard ``torch.nn`` layers and formula-registered modules. Shape
    queries (``x.size()``, ``x.shape``, ``len(x)``, ...) return the walker's concrete
    values; tensors that are not parameters or buffers are handed to the walker instead
    of being set as attributes on the model.
    """

    def __init__(
        self, walker: GraphWalker, moe: str = "expected", named_modules: Sequence[tuple[str, nn.Module]] | None = None
    ) -> None:
        # No autowrapping of ``math`` functions: with concrete shapes they see ints, and
        # fx's check would patch every global of every traced module's code.
        no_modules: tuple[Any, ...] = ()  # torch annotates the parameter as tuple[ModuleType] (one item)
        super().__init__(autowrap_modules=no_modules)
        self.walker = walker
        self._named_modules = named_modules  # the traced model's, when the caller has them
        self.moe = moe
        self._param_names: dict[int, str] | None = None
        self._buffer_names: dict[int, str] | None = None
        self._names = NodeNames()
        self._module_paths: list[str] = []  # the calls being traced, outermost first

    def trace(self, root: nn.Module | Callable[..., Any], concrete_args: dict[str, Any] | None = None) -> fx.Graph:
        """Trace as fx does, with its ``nn.Module`` patches on the model's own classes (:mod:`.scoped_patches`)."""
        if not isinstance(root, nn.Module):
            return super().trace(root, concrete_args)
        named = self._named_modules
        if not named or named[0][1] is not root:
            named = self._named_modules = tuple(root.named_modules())
        with own_class_patches(root, [module for _, module in named]):
            if self._autowrap_function_ids or not module_trace.supported():
                return super().trace(root, concrete_args)
            module_trace.trace_module(self, root, named, concrete_args)
            return self.graph

    def create_args_for_root(
        self, root_fn: Callable[..., Any], is_module: bool, concrete_args: Any = None
    ) -> tuple[Any, list[Any]]:
        """Placeholders for the example inputs; a forward taking ``*args``/``**kwargs`` is called by keyword.

        fx maps placeholders to the parameters of the innermost function behind
        ``functools.wraps`` but calls the outer one positionally, which breaks decorated
        forwards (Hugging Face models: ``co_varnames is too small``, or ``**kwargs``
        becoming a proxy); calling ``forward(root, name=value, ...)`` is what a user does.
        """
        flags = getattr(getattr(root_fn, "__code__", None), "co_flags", 0)
        if not is_module or not flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS):
            return super().create_args_for_root(root_fn, is_module, concrete_args)
        names = self.walker.input_names
        fixed = dict(concrete_args or {})
        placeholders = [self.create_proxy("placeholder", name, (), {}) for name in names]

        def by_keyword(root: nn.Module, *values: Any) -> Any:
            return root_fn(root, **dict(zip(names, values)), **fixed)

        return by_keyword, [self.root, *placeholders]

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:  # noqa: D102
        # Every read of a submodule, parameter or buffer comes here. fx only proxies
        # parameters (proxy_buffer_attributes is off): anything else passes as it is.
        if not isinstance(attr_val, torch.Tensor) or _PASS_THROUGH.get():
            return attr_val
        # fx searches root.named_parameters() linearly on every access; index it once.
        if isinstance(attr_val, nn.Parameter):
            if self._param_names is None:
                self._param_names = self._parameter_names()
            name = self._param_names.get(id(attr_val))
            if name is not None:
                if name not in parameter_proxy_cache:
                    proxy = parameter_proxy_cache[name] = self.create_proxy("get_attr", name, (), {})
                    self.walker.bind(proxy.node, attr_val)
                return parameter_proxy_cache[name]
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def _parameter_names(self) -> dict[int, str]:
        """``id(parameter) -> path`` for the traced model (a shared module under its first path)."""
        named = self._named_modules or tuple(self.root.named_modules())
        return {
            id(param): f"{prefix}.{name}" if prefix else name
            for prefix, module in named
            for name, param in module._parameters.items()
            if param is not None
        }

    def create_arg(self, a: Any) -> Any:  # noqa: D102
        # Most arguments are proxies, plain constants or tuples/lists of them: answer
        # those by exact type, before fx's isinstance(a, nn.Parameter) (a Python
        # metaclass check) runs on every element (the largest single cost in py-spy
        # samples of a small convnet's trace).
        kind = type(a)
        if kind in _CONSTANT_ARG_TYPES:
            return a
        if kind is ShapeProxy:
            return a.node
        if kind is tuple:
            return tuple([self.create_arg(item) for item in a])
        if kind is list:
            return [self.create_arg(item) for item in a]
        if kind is dict and all(type(key) is str for key in a):
            return {key: self.create_arg(item) for key, item in a.items()}
        # fx would search root.named_buffers() linearly and setattr "_tensor_constantN" on
        # the user's model for other tensors; resolve both through our own tables instead.
        if isinstance(a, torch.Tensor) and not isinstance(a, nn.Parameter):
            if self._buffer_names is None:
                self._buffer_names = {id(b): n for n, b in self.root.named_buffers(remove_duplicate=False)}
            name = self._buffer_names.get(id(a))
            if name is None:
                name = self._buffer_names[id(a)] = self.walker.add_constant(a)
            node = self.create_node("get_attr", name, (), {})
            self.walker.bind(node, a)
            return node
        try:
            return super().create_arg(a)
        except NotImplementedError:  # an object fx has no graph form for (a cache made in forward)
            return self.create_node("get_attr", self.walker.add_constant(a), (), {})

    def call_module(  # noqa: D102
        self, m: nn.Module, forward: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if _PASS_THROUGH.get():
            return forward(*args, **kwargs)
        # fx's own version also keeps a scope (copied on every call) and a module stack
        # for node metadata; a stack of paths is all create_node needs.
        path = self.submodule_paths.get(m) if self.submodule_paths is not None else self.path_of_module(m)
        if path is None:
            return m.forward(*args, **kwargs)  # a module outside the model (a shared activation): its ops, inline
        self._module_paths.append(path)
        try:
            if self.is_leaf_module(m, path):
                return self.create_proxy("call_module", path, args, kwargs)
            return m.forward(*args, **kwargs)  # not m.__call__, which would run the user's hooks
        finally:
            self._module_paths.pop()

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:  # noqa: D102
        return is_leaf(m, self.moe)

    def create_node(  # type: ignore[override]
        self,
        kind: str,
        target: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None = None,
        type_expr: Any = None,
    ) -> TraceNode:
        """A :class:`TraceNode` for the walker, named as fx names its nodes; no graph is built.

        fx's own ``create_node`` also builds the graph (users, a linked list, a copy of
        the module stack in every node's meta): a fifth of a small convnet's profile in
        py-spy samples, for a graph nobody reads. The walker needs each call's fields and
        its innermost module.
        """
        paths = self._module_paths
        name = self._names.create(name or base_name(target))
        node = TraceNode(kind, target, args, kwargs, name, paths[-1] if paths else "")
        self.walker.enqueue(node)
        return node

    def create_proxy(
        self,
        kind: str,
        target: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None = None,
        type_expr: Any = None,
        proxy_factory_fn: Callable[[Any], fx.Proxy] | None = None,
    ) -> Any:
        """A :class:`ShapeProxy` for a new node; a shape query's concrete value instead."""
        node = self.create_node(kind, target, self.create_arg(args), self.create_arg(kwargs), name, type_expr)
        if kind == "call_method" and target in _SHAPE_METHODS:
            return self.walker.value_of(node)
        # fx's Proxy only stores its node; nothing in fx reads a graph through it here
        return ShapeProxy(node, self) if proxy_factory_fn is None else proxy_factory_fn(node)  # type: ignore[arg-type]

    def proxy(self, node: fx.Node) -> fx.Proxy:  # noqa: D102
        return ShapeProxy(node, self)


def _single_call_nodes(model: nn.Module, inputs: dict[str, Any], concrete_args: dict[str, Any]) -> list[TraceNode]:
    """``placeholders -> call_module("")``, arguments in ``forward``'s order."""
    names = NodeNames()  # as fx's graph.placeholder and graph.call_module name their nodes

    def name_of(target: str) -> str:
        return names.create(base_name(target))

    nodes: list[TraceNode] = []
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    positional = True
    for name, param in forward_signature(model).parameters.items():
        if name not in inputs and name not in concrete_args:
            positional = False
            continue
        value: Any = concrete_args.get(name)
        if name in inputs:
            value = TraceNode("placeholder", name, (), {}, name_of(name))
            nodes.append(value)
        if positional and param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            args.append(value)
        else:
            kwargs[name] = value
    nodes.append(TraceNode("call_module", "", tuple(args), kwargs, name_of("")))
    return nodes
