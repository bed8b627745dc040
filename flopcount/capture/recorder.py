"""Dispatch-level recording: every aten op a piece of code runs, with shapes, as records.

Used twice: by the fx walker for a node that has no formula of its own (a wrapped
Python function, a leaf module without a formula), and by the dispatch capture path for
a whole model that fx cannot trace. The recorder sits below autograd, so it sees the
decomposed ops (``aten.addmm`` for a ``Linear``) and never patches anything. Every op
goes through :func:`flopcount.meta.run_guarded`, so an op that needs values of fake or
meta tensors raises :class:`~flopcount.errors.CaptureLimitation` (naming the module).

Parameters are attributed by identity: the first op (or leaf module) that uses a
parameter tensor gets its size, whether or not the module that owns it was called.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from flopcount.capture.leaves import type_name
from flopcount.errors import CaptureLimitation
from flopcount.formulas.registry import OpCall, lookup, target_name
from flopcount.meta import DispatchMode, Taint, run_guarded
from flopcount.params import module_parameters
from flopcount.records import LayerRecord, Shape, TensorInfo
from flopcount.values import compute_dtype, dtype_name, leaves, tensor_bytes, tensor_shapes, tensors_in, to_info


@dataclass(frozen=True)
class AtenCall:
    """One aten op (or one leaf module, ``module`` set) as the recorder saw it.

    Tensors are replaced by their ``TensorInfo``; ``params`` is the size of the
    parameters it used first.
    """

    path: str
    op: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    output: Any
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    output_bytes: int
    params: int = 0
    module: nn.Module | None = None
    prefix: str = ""
    dtype: str = ""


class OpRecorder(DispatchMode):
    """A dispatch mode that records every aten call under the current module path.

    Args:
        path: Module path of the calls (until :meth:`push_path`).
        params: ``id(tensor) -> numel`` of the parameters to attribute by first use.
        packed: ``id(module) -> numel`` of quantized modules' packed weights (read
            before recording: reading them runs ops).
        runner: How ops on values-free tensors run (see :func:`flopcount.meta.run_guarded`).
        guarded: Check every op for values-free tensors (:func:`flopcount.meta.run_guarded`);
            False for a real run, whose tensors all have values: its ops run as they are.

    Example:
        >>> import torch
        >>> with OpRecorder("block") as recorder:
        ...     _ = torch.ones(2, 3) @ torch.ones(3, 4)
        >>> [(r.name, r.type, r.macs) for r in aten_records(recorder.calls) if r.macs]
        [('block', 'aten.mm', 24)]
    """

    def __init__(
        self,
        path: str = "",
        params: dict[int, int] | None = None,
        packed: dict[int, int] | None = None,
        runner: Callable[[torch._ops.OpOverload, tuple[Any, ...], dict[str, Any]], Any] | None = None,
        guarded: bool = True,
    ) -> None:
        super().__init__()
        self._runner = runner
        self._guarded = guarded
        self.calls: list[AtenCall] = []
        self._paths: list[str] = [path]
        self._params = params or {}
        self._packed = packed or {}
        self._seen: set[int] = set()
        self._prefix = ""
        self._quiet = False  # inside a leaf with a formula: its aten ops run (guarded), unrecorded
        self._quiet_params = 0
        self.taint = Taint()

    @contextlib.contextmanager
    def running_with(
        self, runner: Callable[[torch._ops.OpOverload, tuple[Any, ...], dict[str, Any]], Any]
    ) -> Iterator[None]:
        """Within the block, ops on values-free tensors run through ``runner`` (a TorchScript module's fake run)."""
        outer, self._runner = self._runner, runner
        try:
            yield
        finally:
            self._runner = outer

    def push_path(self, path: str) -> None:
        """Attribute the following calls to module ``path``."""
        self._paths.append(path)

    def pop_path(self) -> None:
        """Return to the enclosing module's path."""
        self._paths.pop()

    def _new_params(self, tensors: list[torch.Tensor]) -> int:
        total = 0
        for tensor in tensors:
            key = id(tensor)
            if key in self._params and key not in self._seen:
                self._seen.add(key)
                total += self._params[key]
        return total

    def _new_packed(self, module: nn.Module) -> int:
        total = 0
        for sub in module.modules():
            if id(sub) not in self._seen:  # packed (quantized) weights, once per module
                self._seen.add(id(sub))
                total += self._packed.get(id(sub), 0)
        return total

    @contextlib.contextmanager
    def leaf(self, path: str, module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[list[Any]]:
        """Record the block (a leaf module's forward) as one call of ``module``'s formula.

        Yields a one-item list; the block puts the module's output in it. Without a
        formula, the block's aten calls are kept, named ``"<Type>>aten.op"``.
        """
        outer, outer_prefix = self.calls, self._prefix
        outer_quiet, outer_quiet_params = self._quiet, self._quiet_params
        formula = lookup(type(module))
        self.calls, self._prefix = [], f"{outer_prefix}{type_name(module)}>"
        self._quiet, self._quiet_params = outer_quiet or formula is not None, 0
        self._paths.append(path)
        result: list[Any] = []
        try:
            yield result
        finally:
            inner, self.calls, self._prefix = self.calls, outer, outer_prefix
            inner_params, self._quiet, self._quiet_params = self._quiet_params, outer_quiet, outer_quiet_params
            self._paths.pop()
        own = self._new_params(module_parameters(module)) + inner_params
        if self._packed:
            own += self._new_packed(module)
        if outer_quiet:  # a leaf inside a leaf with a formula: only its parameters count, for the outer one
            self._quiet_params += own
            return
        if formula is None and inner:  # no formula: the aten ops inside count
            inner[0] = dataclasses.replace(inner[0], params=inner[0].params + own)
            self.calls.extend(inner)
            return
        output = result[0] if result else None
        shapes = tensor_shapes(output)
        self.calls.append(
            AtenCall(
                path=path,
                op=type(module),
                args=to_info(args),
                kwargs=to_info(kwargs),
                output=to_info(output),
                input_shapes=tuple(tensor_shapes(args) + tensor_shapes(kwargs)),
                output_shape=shapes[0] if shapes else (),
                output_bytes=tensor_bytes(output),
                params=own + self._new_params(tensors_in(args) + tensors_in(kwargs)) + sum(c.params for c in inner),
                module=module,
                dtype=compute_dtype(None, tensors_in(args) + tensors_in(kwargs)),
            )
        )

    def dispatch(self, func: torch._ops.OpOverload, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Run the op (guarded) and record it under the current module path.

        Metadata queries (``prim.device`` of a fake tensor, say) are not ops of the model:
        they run and are not recorded.
        """
        if func.namespace == "prim":
            return func(*args, **kwargs)
        if not self._guarded:
            out = func(*args, **kwargs)
        else:
            try:
                out = run_guarded(func, args, kwargs, self.taint, self._runner)
            except CaptureLimitation as exc:
                raise CaptureLimitation(f"{exc} [in module {self._paths[-1]!r}]") from exc
        if self._quiet:  # the enclosing leaf's formula counts it: only parameters first used here matter
            self._quiet_params += self._new_params(tensors_in(args)) if self._params else 0
            return out
        arg_info, out_info = to_info(args), to_info(out)
        inputs, outputs = _infos(arg_info), _infos(out_info)
        self.calls.append(
            AtenCall(
                path=self._paths[-1],
                op=func.overloadpacket,
                args=arg_info,
                kwargs=to_info(kwargs) if kwargs else {},
                output=out_info,
                input_shapes=tuple([t.shape for t in inputs]),
                output_shape=outputs[0].shape if outputs else (),
                output_bytes=sum([t.numel * t.dtype.itemsize for t in outputs]),
                params=self._new_params(tensors_in(args)) if self._params else 0,
                prefix=self._prefix,
                dtype=dtype_name(inputs[0].dtype) if inputs else "",
            )
        )
        return out


def _infos(value: Any) -> list[TensorInfo]:
    return [leaf for leaf in leaves(value) if isinstance(leaf, TensorInfo)]


def aten_records(calls: list[AtenCall], prefix: str = "") -> list[LayerRecord]:
    """Turn recorded calls into records, counting each with its formula.

    An op without a formula becomes an ``"uncounted"`` record (never a silent zero).
    """
    records = []
    names: dict[Any, str] = {}
    for call in calls:
        formula = lookup(call.op)
        op_name = names.get(call.op) or names.setdefault(call.op, target_name(call.op))
        name = type_name(call.module) if call.module is not None else f"{prefix}{call.prefix}{op_name}"
        if formula is None and call.module is not None:  # a leaf that ran no aten op (an identity)
            family, macs, flops, counted = "zero", 0, 0, True
        elif formula is None:
            family, macs, flops, counted = "uncounted", 0, 0, False
        else:
            count = formula(OpCall(call.op, call.args, call.kwargs, call.output, call.module))
            family, macs, flops, counted = formula.family, count.macs, count.flops, True
        records.append(
            LayerRecord(
                name=call.path,
                type=name,
                family=family,
                input_shapes=call.input_shapes,
                output_shape=call.output_shape,
                params=call.params,
                macs=macs,
                flops=flops,
                activation_bytes=call.output_bytes,
                node=op_name,
                counted=counted,
                dtype=formula.dtype if formula is not None and formula.dtype else call.dtype,
                note=formula.note if formula is not None else "",
            )
        )
    return records
