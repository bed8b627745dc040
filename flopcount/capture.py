"""Capture: model + example inputs -> a graph of ops (fx), or recorded aten ops (fallback).

The fx path traces with standard ``torch.nn`` layers (and any module class with a
registered formula) as leaves, keeping the module hierarchy in each node's
``nn_module_stack``. When fx cannot trace the model (data-dependent control flow,
iteration over a tensor, untraceable code), :func:`capture_dispatch` runs a private
meta-device clone of the model under :class:`~flopcount.dispatch.OpRecorder`; when even
that needs real values (``.item()``, ``nonzero``), it runs a private real clone on the
example inputs. The user's model is never modified.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from flopcount.dispatch import OpRecorder, aten_records, track_modules
from flopcount.formulas.registry import _REGISTRY
from flopcount.records import LayerRecord
from flopcount.shapes import META, meta_clone, to_meta


@dataclass(frozen=True)
class CaptureInfo:
    """Which capture path produced a profile, and why.

    Attributes:
        method: ``"fx"`` (graph + shape formulas, no execution), ``"dispatch"`` (a meta
            clone run under a dispatch recorder, no real arithmetic) or
            ``"dispatch-real"`` (a private clone run on the real example inputs, only
            when the model's control flow needs tensor values).
        reason: Why the fx path was not used (``None`` for ``"fx"``).
    """

    method: str
    reason: str | None = None


class CaptureLimitation(Exception):
    """A capture path cannot handle this model (the next path is tried)."""


class LeafTracer(fx.Tracer):
    """fx tracer whose leaves are standard ``torch.nn`` layers and formula-registered modules."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:  # noqa: D102
        if isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return False
        return type(m) in _REGISTRY or super().is_leaf_module(m, module_qualified_name)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode for the block, then restore each flag exactly.

    Counting in eval mode makes the result independent of ``model.training`` (auxiliary
    heads and stochastic depth only run in training).
    """
    flags = [(module, module.training) for module in model.modules()]
    try:
        for module, _ in flags:
            module.training = False
        yield
    finally:
        for module, flag in flags:
            module.training = flag


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


def trace_graph(model: nn.Module, concrete_args: dict[str, Any]) -> fx.Graph:
    """Symbolically trace ``model`` (in eval mode) into an fx graph."""
    tracer = LeafTracer()
    with eval_mode(model):
        return tracer.trace(model, concrete_args=concrete_args or None)


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
    import dataclasses

    seen: set[int] = set()
    records = list(records)
    for path, module in clone.named_modules():
        own = [p for p in module.parameters(recurse=False) if id(p) not in seen]
        if not own:
            continue
        for index, record in enumerate(records):
            if record.name == path or record.name.startswith(path + ".") or not path:
                seen.update(id(p) for p in own)
                records[index] = dataclasses.replace(record, params=record.params + sum(p.numel() for p in own))
                break
    return records
