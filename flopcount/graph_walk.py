"""The fx path: walk a traced graph once, derive each node's shapes, count each op.

Like ``torch.fx.passes.shape_prop.ShapeProp``, one pass over the nodes keeps a value per
node, but values are meta tensors produced by shape rules (no dispatcher call for the
common layers) or by meta execution, and each op node becomes one
:class:`~flopcount.records.LayerRecord`. Ops with no formula are run under the dispatch
recorder, so the aten ops inside a wrapped function or an unknown leaf are still
counted, each as its own record; only aten ops without a formula stay uncounted.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
from typing import Any

import torch
from torch import fx, nn

from flopcount.dispatch import OpRecorder, aten_records
from flopcount.formulas.registry import OpCall, lookup, target_name
from flopcount.records import ZERO, LayerRecord
from flopcount.shapes import (
    FUNCTION_SHAPE_RULES,
    META,
    MODULE_SHAPE_RULES,
    _NoRule,
    has_tensor,
    module_meta_forward,
    tensor_bytes,
    tensor_shapes,
    to_info,
    to_meta,
)


class ShapeMismatchError(ValueError):
    """The example input does not fit a layer; the message names the layer.

    Example:
        >>> import torch
        >>> from flopcount import profile
        >>> try:
        ...     profile(torch.nn.Linear(4, 3), input_shape=(2, 5))
        ... except ShapeMismatchError as exc:
        ...     print("Linear" in str(exc))
        True
    """


_LIMITATION_MARKERS = ("meta", "data-dependent", "data dependent", "_local_scalar_dense", "item()", "nonzero")


def is_capture_limitation(exc: BaseException) -> bool:
    """True when an exception says meta execution cannot run this op (not a user error)."""
    if isinstance(exc, NotImplementedError):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _LIMITATION_MARKERS)


class GraphWalker:
    """Walks one traced graph of ``model`` and produces its records."""

    def __init__(self, model: nn.Module, graph: fx.Graph | None = None) -> None:
        self.model = model
        self.graph = graph
        self.modules = dict(model.named_modules())
        self.seen_params: set[int] = set()
        self.param_of: dict[fx.Node, nn.Parameter] = {}
        self.constants: dict[str, torch.Tensor] = {}

    def bind(self, inputs: dict[str, Any]) -> None:
        """Set the example inputs (by ``forward`` parameter name) before stepping."""
        self.inputs = inputs
        self.pending: collections.deque[fx.Node] = collections.deque()
        self.env: dict[fx.Node, Any] = {}
        self.records: list[LayerRecord] = []

    def step(self, node: fx.Node) -> None:
        """Compute the value of one node (its inputs are already known) and record it."""
        if node.op == "placeholder":
            self.env[node] = self._placeholder(node, self.inputs)
        elif node.op == "get_attr":
            self.env[node] = self._get_attr(node)
        elif node.op != "output":
            args = fx.node.map_arg(node.args, self.env.__getitem__)
            kwargs = fx.node.map_arg(node.kwargs, self.env.__getitem__)
            self.env[node] = self._run_node(node, args, kwargs, self.records)

    def run(self, inputs: dict[str, Any]) -> list[LayerRecord]:
        """Walk an already traced graph; return the records."""
        self.bind(inputs)
        for node in self.graph.nodes:
            self.step(node)
        return self.records

    # ------------------------------------------------------------------ node kinds
    def _placeholder(self, node: fx.Node, inputs: dict[str, Any]) -> Any:
        name = node.target.lstrip("*")
        if name in inputs:
            return to_meta(inputs[name])
        if node.args:
            return node.args[0]  # forward's default value
        raise TypeError(f"missing example input {name!r}")

    def _get_attr(self, node: fx.Node) -> Any:
        if node.target in self.constants:
            return to_meta(self.constants[node.target])
        value: Any = self.model
        for part in node.target.split("."):
            value = getattr(value, part)
        if isinstance(value, nn.Parameter):
            self.param_of[node] = value
        return to_meta(value)

    def _run_node(self, node: fx.Node, args: tuple, kwargs: dict, records: list[LayerRecord]) -> Any:
        module = self.modules[node.target] if node.op == "call_module" else None
        target = self._target(node, module)
        path = node.target if module is not None else _module_path(node)
        if module is None and (target is getattr or target in SHAPE_QUERIES or _python_only(args, kwargs)):
            return _run_python(node, args, kwargs)
        formula = lookup(target)
        if formula is None and node.op == "call_method":
            formula = lookup(getattr(torch, node.target, None))
        try:
            if formula is None:
                recorder = OpRecorder(path)
                with recorder:
                    output = self._execute(node, module, args, kwargs)
            else:
                output = self._shape(node, module, args, kwargs)
        except Exception as exc:
            if is_capture_limitation(exc):
                raise
            raise ShapeMismatchError(_mismatch_message(node, module, path, args, exc)) from None
        params = self._new_params(node, module)
        type_name = type(module).__name__ if module is not None else _op_name(node)
        if formula is None:
            sub = aten_records(recorder.calls, prefix=f"{type_name}>")
            if sub:  # one record per aten op inside, each counted by its own formula
                sub[0] = _with_params(sub[0], params)
                records.extend(sub)
                return output
            family, count = "zero", ZERO  # ran no aten op at all (an identity in eval mode)
        else:
            family = formula.family
            count = formula(OpCall(target, to_info(args), to_info(kwargs), to_info(output), module))
        records.append(
            LayerRecord(
                name=path,
                type=type_name,
                family=family,
                input_shapes=tuple(tensor_shapes((args, kwargs))),
                output_shape=(tensor_shapes(output) or [()])[0],
                params=params,
                macs=count.macs,
                flops=count.flops,
                activation_bytes=tensor_bytes(output),
                node=node.name,
            )
        )
        return output

    # ------------------------------------------------------------------ helpers
    def _target(self, node: fx.Node, module: nn.Module | None) -> Any:
        if module is not None:
            return type(module)
        if node.op == "call_method":
            return f"Tensor.{node.target}"
        return node.target

    def _shape(self, node: fx.Node, module: nn.Module | None, args: tuple, kwargs: dict) -> Any:
        if module is not None:
            rule = MODULE_SHAPE_RULES.get(type(module))
            if rule is not None:
                try:
                    return rule(module, *args, **kwargs)
                except _NoRule:
                    pass
        else:
            key = f"Tensor.{node.target}" if node.op == "call_method" else node.target
            rule = FUNCTION_SHAPE_RULES.get(key)
            if rule is not None:
                try:
                    return rule(*args, **kwargs)
                except (_NoRule, TypeError):
                    pass
        return self._execute(node, module, args, kwargs)

    def _execute(self, node: fx.Node, module: nn.Module | None, args: tuple, kwargs: dict) -> Any:
        if module is not None:
            return module_meta_forward(module, *args, **kwargs)
        with torch.device(META):
            if node.op == "call_method":
                return getattr(args[0], node.target)(*args[1:], **kwargs)
            return node.target(*args, **kwargs)

    def _new_params(self, node: fx.Node, module: nn.Module | None) -> int:
        tensors = list(module.parameters()) if module is not None else []
        tensors += [self.param_of[n] for n in node.all_input_nodes if n in self.param_of]
        total = 0
        for tensor in tensors:
            if id(tensor) not in self.seen_params:
                self.seen_params.add(id(tensor))
                total += tensor.numel()
        return total


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


def untraced():
    """Lift fx's temporary patches (``Module.__call__``/``__getattr__``) while meta code runs.

    The walker runs while fx is tracing; meta execution of a leaf must not be traced.
    """
    return _REVERT_FX_PATCHES() if _REVERT_FX_PATCHES is not None else contextlib.nullcontext()


_REVERT_FX_PATCHES = getattr(torch.fx._symbolic_trace, "_maybe_revert_all_patches", None)


def _python_only(args: tuple, kwargs: dict) -> bool:
    return not has_tensor(args) and not has_tensor(kwargs)


def _run_python(node: fx.Node, args: tuple, kwargs: dict) -> Any:
    """Ops on Python values and tensor attributes (``x.shape``, ``x.size(0) + 1``)."""
    if node.op == "call_method":
        return getattr(args[0], node.target)(*args[1:], **kwargs)
    with torch.device(META):
        return node.target(*args, **kwargs)


def _module_path(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack")
    if not stack:
        return ""
    innermost = next(reversed(stack.values()))
    return innermost[0] if isinstance(innermost, tuple) else next(reversed(stack))


def _op_name(node: fx.Node) -> str:
    if node.op == "call_method":
        return str(node.target)
    name = getattr(node.target, "__name__", None) or target_name(node.target)
    return name


def _with_params(record: LayerRecord, params: int) -> LayerRecord:
    return dataclasses.replace(record, params=record.params + params)


def _mismatch_message(node: fx.Node, module: nn.Module | None, path: str, args: tuple, exc: Exception) -> str:
    what = type(module).__name__ if module is not None else _op_name(node)
    where = f"layer {path!r} ({what})" if path else f"op {what!r}"
    shapes = ", ".join(str(s) for s in tensor_shapes(args)) or "no tensors"
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"input shapes stop fitting at {where}: {detail} [inputs: {shapes}]"
