"""Dispatch-level recording: every aten op a piece of code runs, with shapes, as records.

Used twice: by the fx walker for a node that has no formula of its own (a wrapped
Python function, a leaf module without a formula), and by the dispatch capture path for
a whole model that fx cannot trace. The recorder sits below autograd, so it sees the
decomposed ops (``aten.addmm`` for a ``Linear``) and never patches anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from flopcount.formulas.registry import OpCall, lookup, target_name
from flopcount.meta import DispatchMode
from flopcount.records import LayerRecord, Shape
from flopcount.values import tensor_bytes, tensor_shapes, to_info


@dataclass(frozen=True)
class AtenCall:
    """One aten op as the recorder saw it (tensors replaced by their ``TensorInfo``)."""

    path: str
    op: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    output: Any
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    output_bytes: int


class OpRecorder(DispatchMode):
    """A dispatch mode that records every aten call under the current module path.

    Example:
        >>> import torch
        >>> with OpRecorder("block") as recorder:
        ...     _ = torch.ones(2, 3) @ torch.ones(3, 4)
        >>> [(r.name, r.type, r.macs) for r in aten_records(recorder.calls) if r.macs]
        [('block', 'aten.mm', 24)]
    """

    def __init__(self, path: str = "") -> None:
        super().__init__()
        self.calls: list[AtenCall] = []
        self._paths: list[str] = [path]

    def push_path(self, path: str) -> None:
        """Attribute the following calls to module ``path`` (a forward pre-hook calls this)."""
        self._paths.append(path)

    def pop_path(self) -> None:
        """Return to the enclosing module's path (a forward hook calls this)."""
        self._paths.pop()

    def dispatch(self, func: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run the op and record it under the current module path."""
        out = func(*args, **kwargs)
        shapes = tensor_shapes(out)
        self.calls.append(
            AtenCall(
                path=self._paths[-1],
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
    """Turn recorded aten calls into records, counting each with its formula.

    An op without a formula becomes an ``"uncounted"`` record (never a silent zero).
    """
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
