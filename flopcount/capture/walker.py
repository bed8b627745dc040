"""Node by node: the meta value of each fx node and the records of the ops it runs.

Like ``torch.fx.passes.shape_prop.ShapeProp``, one pass over the nodes keeps a value per
node, but values are meta tensors produced by shape rules (no dispatcher call for the
common layers) or by meta execution, and each op node becomes one
:class:`~flopcount.records.LayerRecord`. Ops with no formula run under the op recorder,
so the aten ops inside a wrapped function or an unknown leaf are still counted, each as
its own record; only aten ops without a formula stay uncounted.

Nodes arrive while the model is being traced (:meth:`GraphWalker.enqueue`) and are
stepped lazily, in order, when the tracer needs a concrete value
(:meth:`GraphWalker.value_of`) or at the end (:meth:`GraphWalker.finish`). A node is a
:class:`TraceNode`: what an ``fx.Node`` says of one call, without the graph around it
(no graph is built: the walker is its only reader).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils import _pytree as pytree

from flopcount.capture.leaves import type_name as leaf_type_name
from flopcount.capture.recorder import OpRecorder, aten_records
from flopcount.errors import CaptureLimitation, ShapeMismatchError
from flopcount.formulas.registry import OpCall, lookup, target_name
from flopcount.function_shapes import call_target
from flopcount.leaf_shapes import function_output_of, module_output_of
from flopcount.meta import META, module_meta_forward, on_meta, to_meta
from flopcount.params import module_parameters, packed_sizes
from flopcount.records import ZERO, LayerRecord
from flopcount.values import compute_dtype, tensor_bytes, tensor_shapes, tensors_in, to_info
from flopcount.virtual import VirtualSpace, input_device, script_forward

#: Tensor methods that answer a question about the shape: Python values, not layers.
SHAPE_QUERIES = frozenset(
    f"Tensor.{name}"
    for name in (
        "size",
        "dim",
        "numel",
        "nelement",
        "ndimension",
        "element_size",
        "stride",
        "is_contiguous",
        "is_floating_point",
        "is_complex",
    )
)

#: What :meth:`GraphWalker.value_of` returns for a node that has no value (yet).
MISSING: Any = object()


class TraceNode:
    """One traced call: an ``fx.Node``'s fields, without the graph's bookkeeping.

    Attributes:
        op: fx's node kind (``placeholder``, ``get_attr``, ``call_function``,
            ``call_method``, ``call_module`` or ``output``).
        target: The function, method name, module path or attribute path called.
        args: Positional arguments, earlier nodes in place of their values.
        kwargs: Keyword arguments, likewise.
        name: fx's unique node name (``conv2d``, ``add_3``).
        module_path: Path of the innermost module whose ``forward`` made the call.
        meta: Free-form notes, as on an ``fx.Node`` (fx marks calls of ``fx.wrap``-ed
            functions there); the walker reads none.
    """

    __slots__ = ("args", "kwargs", "meta", "module_path", "name", "op", "target")

    def __init__(
        self, op: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any], name: str, module_path: str = ""
    ) -> None:
        self.op, self.target, self.args, self.kwargs = op, target, args, kwargs
        self.name, self.module_path = name, module_path
        self.meta: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"TraceNode({self.op} {self.name})"


class GraphWalker:
    """Steps the nodes of one traced graph of ``model``; owns their values and records.

    Args:
        model: The traced model (only read: modules, parameters, buffers).
        inputs: Example inputs by ``forward`` parameter name.
        stepping: Context in which queued nodes are stepped (the tracer lifts its
            patches there, so meta execution is not traced).
        concrete: Non-tensor inputs fx specialised the trace on, by name (its
            placeholders for them are checked against these values).
        named_modules: ``model.named_modules()``, when the caller already has them.
    """

    def __init__(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        stepping: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
        concrete: dict[str, Any] | None = None,
        named_modules: Sequence[tuple[str, nn.Module]] | None = None,
    ) -> None:
        self._model = model
        self._inputs = inputs
        self._concrete = concrete or {}
        self.device = input_device(inputs, default="meta")  # meta when all are meta
        self._stepping = stepping
        self._modules = dict(named_modules or model.named_modules())
        self._constants: dict[str, Any] = {}
        self._bound: dict[TraceNode, Any] = {}
        self._pending: collections.deque[TraceNode] = collections.deque()
        self._env: dict[TraceNode, Any] = {}
        self._param_of: dict[TraceNode, nn.Parameter] = {}
        self._seen_params: set[int] = set()
        self._packed = packed_sizes(model, self._modules.values())
        self._records: list[LayerRecord] = []

    # ------------------------------------------------------------------ the tracer's side
    @property
    def input_names(self) -> tuple[str, ...]:
        """Names of the example inputs that become placeholders, in ``forward``'s order."""
        return tuple(self._inputs)

    def add_constant(self, value: Any) -> str:
        """Keep a value for a get_attr node; returns its name.

        A tensor that is neither a parameter nor a buffer, or an object fx has no graph
        form for (a cache made in ``forward``).
        """
        name = f"<constant {len(self._constants)}>"
        self._constants[name] = value
        return name

    def bind(self, node: TraceNode, value: Any) -> None:
        """The value a ``get_attr`` node reads, as the tracer found it (no path lookup when stepped)."""
        self._bound[node] = value

    def enqueue(self, node: TraceNode) -> None:
        """Queue a new node; it is stepped when its value is needed, or at the end."""
        self._pending.append(node)

    def value_of(self, node: TraceNode) -> Any:
        """The concrete value of ``node`` (or :data:`MISSING`), stepping every queued node up to it."""
        if node not in self._env and self._pending:
            with self._stepping():
                while self._pending:
                    current = self._pending.popleft()
                    self._step(current)
                    if current is node:
                        break
        return self._env.get(node, MISSING)

    def finish(self) -> list[LayerRecord]:
        """Step what is still queued; return the records in execution order."""
        with self._stepping():
            while self._pending:
                self._step(self._pending.popleft())
        return self._records

    # ------------------------------------------------------------------ node kinds
    def _step(self, node: TraceNode) -> None:
        if node.op == "placeholder":
            self._env[node] = self._placeholder(node)
        elif node.op == "get_attr":
            self._env[node] = self._get_attr(node)
        elif node.op != "output":
            params: list[nn.Parameter] = []
            args = self._resolve(node.args, params)
            kwargs = self._resolve(node.kwargs, params) if node.kwargs else {}
            self._env[node] = self._run_node(node, args, kwargs, params)

    def _resolve(self, value: Any, params: list[nn.Parameter]) -> Any:
        """``value`` with each node replaced by its value; parameters read are added to ``params``.

        The inputs' device becomes ``meta`` (the model sees its inputs' device; the values
        here are meta tensors).
        """
        kind = type(value)
        if kind is TraceNode:
            param = self._param_of.get(value)
            if param is not None:
                params.append(param)
            return self._env[value]
        if kind is torch.device:
            return META if value == self.device else value
        if kind is tuple or kind is list:
            return kind([self._resolve(item, params) for item in value])
        if kind is dict:
            return {key: self._resolve(item, params) for key, item in value.items()}
        if isinstance(value, tuple):  # as fx.node.map_aggregate: a named tuple keeps its type
            items = tuple([self._resolve(item, params) for item in value])
            return kind(*items) if hasattr(value, "_fields") else items
        if isinstance(value, list):
            return [self._resolve(item, params) for item in value]
        if isinstance(value, dict):
            return {key: self._resolve(item, params) for key, item in value.items()}
        if kind is slice:
            return slice(*[self._resolve(part, params) for part in (value.start, value.stop, value.step)])
        return value

    def _placeholder(self, node: TraceNode) -> Any:
        name = str(node.target).lstrip("*")
        if name in self._inputs:
            return to_meta(self._inputs[name])
        base, _, leaf = name.rpartition("_")
        if base in self._concrete and leaf.isdigit():  # fx checks its "<input>_<k>" against the k-th leaf
            return pytree.tree_leaves(self._concrete[base])[int(leaf) - 1]
        if node.args:
            return node.args[0]  # forward's default value
        raise TypeError(f"missing example input {name!r}")

    def _get_attr(self, node: TraceNode) -> Any:
        value = self._bound.pop(node, MISSING)
        target = str(node.target)
        if value is MISSING and target in self._constants:
            return to_meta(self._constants[target])
        if value is MISSING:
            value = self._model
            for part in target.split("."):
                value = getattr(value, part)
        if isinstance(value, nn.Parameter):
            self._param_of[node] = value
        return to_meta(value)

    def _run_node(
        self, node: TraceNode, args: tuple[Any, ...], kwargs: dict[str, Any], params_read: list[nn.Parameter]
    ) -> Any:
        if self.device.type != "meta":  # the model sees its inputs' device; its values here stay on meta
            if node.op == "call_method" and node.target in ("cpu", "cuda"):
                return args[0]
            args, kwargs = _named_device_onto_meta(
                args, kwargs, self.device, method=node.target if node.op == "call_method" else None
            )
        module = self._modules[str(node.target)] if node.op == "call_module" else None
        target = _target(node, module)
        inputs = tensors_in(args) + tensors_in(kwargs) if kwargs else tensors_in(args)
        if module is None and (target is getattr or target in SHAPE_QUERIES or not inputs):
            return _run_python(node, args, kwargs)
        path = str(node.target) if module is not None else node.module_path
        formula = lookup(target)
        if formula is None and node.op == "call_method":
            formula = lookup(getattr(torch, str(node.target), None))
        recorder = OpRecorder(path) if formula is None else None
        try:
            if recorder is None:
                output = _shape(node, module, target, args, kwargs)
            else:
                output = _execute(node, module, args, kwargs, recorder)
        except CaptureLimitation:
            raise
        except Exception as exc:
            raise ShapeMismatchError(_mismatch_message(node, module, path, args, exc), layer=path) from None
        params = self._new_params(module, params_read)
        type_name = leaf_type_name(module) if module is not None else _op_name(node)
        if recorder is not None and recorder.calls:  # one record per aten op inside, each with its formula
            sub = aten_records(recorder.calls, prefix=f"{type_name}>")
            sub[0] = dataclasses.replace(sub[0], params=sub[0].params + params)
            self._records.extend(sub)
            return output
        if formula is None:  # ran no aten op at all (an identity in eval mode)
            family, count, formula = "zero", ZERO, None
        else:
            call = OpCall(target, to_info(args), to_info(kwargs) if kwargs else {}, to_info(output), module)
            family, count = formula.family, formula(call)
        outputs = tensors_in(output)
        self._records.append(
            LayerRecord(
                name=path,
                type=type_name,
                family=family,
                input_shapes=tuple([tuple(t.shape) for t in inputs]),
                output_shape=tuple(outputs[0].shape) if outputs else (),
                params=params,
                macs=count.macs,
                flops=count.flops,
                activation_bytes=tensor_bytes(output),
                node=node.name,
                dtype=compute_dtype(formula, inputs),
                note=formula.note if formula is not None else "",
            )
        )
        return output

    def _new_params(self, module: nn.Module | None, params_read: list[nn.Parameter]) -> int:
        tensors: list[torch.Tensor] = module_parameters(module) if module is not None else []
        tensors += params_read
        total = 0
        for tensor in tensors:
            if id(tensor) not in self._seen_params:
                self._seen_params.add(id(tensor))
                total += tensor.numel()
        for sub in module.modules() if module is not None and self._packed else ():
            if id(sub) not in self._seen_params:  # packed (quantized) weights, once per module
                self._seen_params.add(id(sub))
                total += self._packed.get(id(sub), 0)
        return total


def _named_device_onto_meta(
    args: tuple[Any, ...], kwargs: dict[str, Any], device: torch.device, method: Any = None
) -> tuple[Any, Any]:
    """``args``/``kwargs`` with ``device``, named by a string where a device goes, made ``meta``.

    ``x.to("cpu")`` and ``device="cpu"``; ``torch.device`` values are swapped by
    :meth:`GraphWalker._resolve`.
    """
    if method == "to" and len(args) > 1 and isinstance(args[1], str) and torch.device(args[1]) == device:
        args = (args[0], META, *args[2:])
    if kwargs and isinstance(kwargs.get("device"), str) and torch.device(kwargs["device"]) == device:
        kwargs = {**kwargs, "device": META}
    return args, kwargs


def _target(node: TraceNode, module: nn.Module | None) -> Any:
    if module is not None:
        return type(module)
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    return node.target


def _shape(
    node: TraceNode, module: nn.Module | None, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    """The output from a shape rule when one applies, else from meta execution."""
    if module is not None:
        return module_output_of(module, args, kwargs)
    return function_output_of(target, args, kwargs)


def _execute(
    node: TraceNode, module: nn.Module | None, args: tuple[Any, ...], kwargs: dict[str, Any], recorder: OpRecorder
) -> Any:
    if isinstance(module, torch.jit.ScriptModule):
        space = VirtualSpace(torch.device("cpu"))
        with recorder.running_with(space.run):  # meta kernels on stand-ins, not the fake mode's own dispatch
            return script_forward(module, args, kwargs, recorder, space)
    with recorder:  # the recorder guards every op: no second ValueGuard
        if module is not None:
            return module_meta_forward(module, *args, guard=False, **kwargs)
        with on_meta(guard=False):
            return call_target(_target(node, None), args, kwargs)


def _run_python(node: TraceNode, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Ops on Python values and tensor attributes (``x.shape``, ``x.size(0) + 1``)."""
    if node.op == "call_method":
        return getattr(args[0], str(node.target))(*args[1:], **kwargs)
    with torch.device(META):
        return call_target(node.target, args, kwargs)


def _op_name(node: TraceNode) -> str:
    if node.op == "call_method":
        return str(node.target)
    return str(getattr(node.target, "__name__", None) or target_name(node.target))


def _mismatch_message(
    node: TraceNode, module: nn.Module | None, path: str, args: tuple[Any, ...], exc: Exception
) -> str:
    what = type(module).__name__ if module is not None else _op_name(node)
    where = f"layer {path!r} ({what})" if path else f"op {what!r}"
    shapes = ", ".join(str(s) for s in tensor_shapes(args)) or "no tensors"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"input shapes stop fitting at {where}: {detail} [inputs: {shapes}]"
