"""Dispatch-level recording: every aten op a piece of code runs, with shapes.

Used twice: for a single fx node that has no formula of its own (a wrapped Python
function, a leaf module without a formula), and as the fallback capture path for a
whole model that fx cannot trace. The recorder sits below autograd, so it sees the
decomposed ops (``aten.addmm`` for a ``Linear``) and never patches anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from flopcount.formulas.registry import OpCall, lookup, target_name
from flopcount.records import LayerRecord
from flopcount.shapes import tensor_bytes, tensor_shapes, to_info


@dataclass(frozen=True)
class AtenCall:
    """One aten op as the recorder saw it."""

    path: str
    op: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    output: Any
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...]
    output_bytes: int


class OpRecorder(TorchDispatchMode):
    """A dispatch mode that records every aten call under the current module path."""

    def __init__(self, path: str = "") -> None:
        super().__init__()
        self.calls: list[AtenCall] = []
        self.path_stack: list[str] = [path]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        shapes = tensor_shapes(out)
        self.calls.append(
            AtenCall(
                path=self.path_stack[-1],
                op=func.overloadpacket,
                args=to_info(args),
                kwargs=to_info(kwargs),
                output=to_info(out),
                input_shapes=tuple(tensor_shapes(args)),
                output_shape=shapes[0] if shapes else (),
                output_bytes=tensor_bytes(out),
            )
        )
        return out


def aten_records(calls: list[AtenCall], prefix: str = "") -> list[LayerRecord]:
    """Turn recorded aten calls into records, counting each with its formula."""
    records = []
    for call in calls:
        formula = lookup(call.op)
        name = target_name(call.op)
        if formula is None:
            family, macs, flops, counted = "uncounted", 0, 0, False
        else:
            count = formula(OpCall(call.op, call.args, call.kwargs, call.output))
            family, macs, flops, counted = formula.family, count.macs, count.flops, True
        records.append(
            LayerRecord(
                name=call.path,
                type=f"{prefix}{name}",
                family=family,
                input_shapes=call.input_shapes,
                output_shape=call.output_shape,
                params=0,
                macs=macs,
                flops=flops,
                activation_bytes=call.output_bytes,
                node=name,
                counted=counted,
            )
        )
    return records


def track_modules(model: nn.Module, recorder: OpRecorder) -> list[Any]:
    """Register hooks on ``model`` (a private clone) that keep the recorder's module path."""
    handles = []
    for path, module in model.named_modules():

        def push(_module, _args, path=path):
            recorder.path_stack.append(path)

        def pop(_module, _args, _output):
            recorder.path_stack.pop()

        handles.append(module.register_forward_pre_hook(push))
        handles.append(module.register_forward_hook(pop, always_call=True))
    return handles
