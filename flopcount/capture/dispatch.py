"""The dispatch capture path: run a private clone of the model under the op recorder.

Used when fx cannot trace the model (``*args`` forwards, item assignment into a tensor,
value-dependent control flow). The clone is a meta copy run on meta inputs (no real
arithmetic) or, as a last resort for models whose control flow needs tensor values, a
full copy run on the real example inputs. Forward hooks on the clone keep the module
path of every recorded op; each module's own parameters go to the first record inside
it. The user's model is never modified and its hooks never run.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from flopcount.capture.recorder import OpRecorder, aten_records
from flopcount.meta import clone_without_hooks, meta_clone, on_meta, to_meta
from flopcount.records import LayerRecord


def capture_dispatch(
    model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], *, real: bool
) -> list[LayerRecord]:
    """Record the aten ops of one forward pass of a private clone of ``model``.

    Args:
        model: The user's model (not modified).
        args: Example positional inputs.
        kwargs: Example keyword inputs.
        real: Run a full copy on the real inputs instead of a meta clone.

    Returns:
        One record per aten op, in execution order.

    Raises:
        CaptureLimitation: (meta run) an op needs tensor values or has no meta kernel.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
        >>> records = capture_dispatch(model, (torch.ones(2, 4),), {}, real=False)
        >>> [(r.name, r.type, r.params, r.macs) for r in records]
        [('0', 'aten.t', 15, 0), ('0', 'aten.addmm', 0, 24), ('1', 'aten.relu', 0, 0)]
    """
    if real:
        clone = clone_without_hooks(model)
        run_args, run_kwargs = args, kwargs
        context: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    else:
        clone = meta_clone(model)
        run_args, run_kwargs = to_meta(args), to_meta(kwargs)
        context = on_meta()
    clone.eval()
    recorder = OpRecorder()
    handles = track_modules(clone, recorder)
    try:
        with torch.no_grad(), recorder, context:
            clone(*run_args, **run_kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return _attribute_params(clone, aten_records(recorder.calls))


def track_modules(model: nn.Module, recorder: OpRecorder) -> list[RemovableHandle]:
    """Register hooks on ``model`` (a private clone) that keep the recorder's module path."""
    handles = []
    for path, module in model.named_modules():

        def push(_module: nn.Module, _args: Any, path: str = path) -> None:
            recorder.push_path(path)

        def pop(_module: nn.Module, _args: Any, _output: Any) -> None:
            recorder.pop_path()

        handles.append(module.register_forward_pre_hook(push))
        handles.append(module.register_forward_hook(pop, always_call=True))
    return handles


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
        first = first_inside.get(path)
        if first is None:
            continue
        for param in module.parameters(recurse=False):
            if id(param) not in seen:
                seen.add(id(param))
                extra[first] += param.numel()
    return [
        dataclasses.replace(record, params=record.params + add) if add else record
        for record, add in zip(records, extra)
    ]
