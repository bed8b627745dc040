"""``fx.Tracer.trace`` for an ``nn.Module`` root, without the steps a :class:`ShapeTracer` never reads.

fx's ``trace`` starts by walking the whole model twice: every attribute of every
module, to index tensor attributes that are neither parameters nor buffers, and every
submodule, to map modules to paths. A :class:`~flopcount.capture.fx.ShapeTracer`
resolves tensor attributes itself (``create_arg``) and already has the module paths,
and with no autowrapped functions fx's scan of every ``forward``'s globals finds
nothing; on a small convnet those walks were about 8% of a profile in py-spy samples. Everything else
is fx's own sequence: the tracing flag, the two ``nn.Module`` patches (on the model's
classes through :mod:`.scoped_patches`), functions wrapped with ``torch.fx.wrap``, and
the output node. Where a torch lacks one of the private pieces this relies on
(:func:`supported`), the tracer calls fx's own ``trace``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import fx, nn
from torch.fx import _symbolic_trace as fx_trace

__all__ = ["supported", "trace_module"]

_FLAG_2_13 = "_is_fx_tracing_flag"  # torch 2.13 keeps the flag in a module global
_NEEDED = ("_new_patcher", "_patch_wrapped_functions", "_orig_module_call", "_orig_module_getattr")


def supported() -> bool:
    """True when this torch's fx has every private piece :func:`trace_module` uses (torch 2.13-2.15 do)."""
    has_flag = hasattr(fx_trace, "_set_is_fx_tracing") or hasattr(fx_trace, _FLAG_2_13)
    return has_flag and all(hasattr(fx_trace, name) for name in _NEEDED)


def _set_tracing(value: bool) -> bool:
    """Set fx's "tracing now" flag (read by ``torch.fx._symbolic_trace.is_fx_tracing``); return the old value."""
    if hasattr(fx_trace, "_set_is_fx_tracing"):
        old = bool(fx_trace._get_is_fx_tracing())
        fx_trace._set_is_fx_tracing(value)
        return old
    old = bool(getattr(fx_trace, _FLAG_2_13))
    setattr(fx_trace, _FLAG_2_13, value)
    return old


def trace_module(
    tracer: fx.Tracer,
    root: nn.Module,
    named_modules: Sequence[tuple[str, nn.Module]],
    concrete_args: dict[str, Any] | None = None,
) -> None:
    """Trace ``root.forward`` with ``tracer``: its proxies, nodes and module calls, as ``fx.Tracer.trace`` makes them.

    Args:
        tracer: A tracer without autowrapped functions (``autowrap_modules=()``) whose
            ``getattr`` proxies tensors only, as fx's does (it is not asked about others).
        root: The model.
        named_modules: ``root.named_modules()``.
        concrete_args: Inputs fixed at trace time, by name.
    """
    old_flag = _set_tracing(True)
    try:
        if isinstance(root, fx.GraphModule):
            from torch.fx._lazy_graph_module import _LazyGraphModule

            _LazyGraphModule.force_recompile(root)  # a lazily compiled GraphModule's forward cannot be traced
        tracer.root = root
        fn = type(root).forward
        tracer.root_module_name = type(root).__name__  # nn.Module._get_name()
        tracer.submodule_paths = {module: name for name, module in named_modules}
        tracer.graph = fx.Graph(tracer_cls=type(tracer))
        tracer.tensor_attrs = {}
        fn, args = tracer.create_args_for_root(fn, True, concrete_args)
        parameter_proxy_cache: dict[str, Any] = {}
        orig_getattr: Callable[..., Any] = fx_trace._orig_module_getattr
        orig_call: Callable[..., Any] = fx_trace._orig_module_call

        @functools.wraps(orig_getattr)
        def module_getattr_wrapper(mod: nn.Module, attr: str) -> Any:
            value = orig_getattr(mod, attr)
            if not isinstance(value, torch.Tensor):  # a submodule: fx's getattr returns it as it is
                return value
            return tracer.getattr(attr, value, parameter_proxy_cache)

        @functools.wraps(orig_call)
        def module_call_wrapper(mod: nn.Module, *args: Any, **kwargs: Any) -> Any:
            def forward(*args: Any, **kwargs: Any) -> Any:
                return orig_call(mod, *args, **kwargs)

            return tracer.call_module(mod, forward, args, kwargs)

        with fx_trace._new_patcher() as patcher:
            patcher.patch_method(nn.Module, "__getattr__", module_getattr_wrapper, deduplicate=False)
            patcher.patch_method(nn.Module, "__call__", module_call_wrapper, deduplicate=False)
            fx_trace._patch_wrapped_functions(patcher)
            tracer.create_node("output", "output", (tracer.create_arg(fn(*args)),), {})
        tracer.submodule_paths = None
    finally:
        _set_tracing(old_flag)
