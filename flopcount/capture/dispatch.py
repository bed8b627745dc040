"""The dispatch capture path: run a private copy of the model under the op recorder.

Used when fx cannot trace the model (``*args`` forwards, value-dependent control flow,
TorchScript, a meta kernel stricter than the fake one). Two runs, in this order:

* virtual (``real=False``): a copy whose parameters and buffers are fake tensors
  (:mod:`flopcount.virtual`), run on the example inputs as they are: real inputs stay
  real, so input-derived values (masks, positions, lengths) are computed and can steer
  control flow, while every op that touches a weight runs on fake tensors. No real
  arithmetic on weights; meta inputs (``input_shape``) become fake too.
* real (``real=True``), only when a weight-dependent value steers the model (the
  :class:`~flopcount.errors.CaptureLimitation` of the virtual run says which op, in
  which module): a copy that shares the parameters (no copy of the weights) and has its
  own buffers, run on the real inputs.

Every module of the copy gets a ``forward`` wrapper (an instance attribute of the copy)
that keeps the recorder's module path; leaves (:mod:`flopcount.capture.leaves`) are
recorded as one op with their module formula, as on the fx path. The user's model is
never modified and its hooks never run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from flopcount.capture.leaves import is_leaf
from flopcount.capture.recorder import OpRecorder, aten_records
from flopcount.formulas.moe import HF_EXPERTS, ROUTED_NOTE
from flopcount.leaf_shapes import leaf_fallback_output, rule_output
from flopcount.meta import numpy_guard, to_meta
from flopcount.params import packed_sizes
from flopcount.records import LayerRecord
from flopcount.virtual import VirtualSpace, input_device, quiet_fake_kernels, real_clone, virtual_clone


def capture_dispatch(
    model: nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    real: bool,
    moe: str = "expected",
    guard_numpy: bool = True,
) -> list[LayerRecord]:
    """Record the ops of one forward pass of a private copy of ``model``.

    Args:
        model: The user's model (not modified).
        args: Example positional inputs.
        kwargs: Example keyword inputs.
        real: Run on real weights (shared, read only) instead of fake ones.
        moe: How mixture-of-experts layers count (:mod:`flopcount.formulas.moe`):
            ``"expected"`` (a leaf, no routing) or ``"routed"`` (the experts' own ops,
            noted ``"moe routed"``; routing needs a real run).
        guard_numpy: (virtual run) Make ``Tensor.numpy()`` of a fake or meta tensor a
            :class:`~flopcount.errors.CaptureLimitation`, not torch's own error. The guard
            is a torch-function mode, which every torch call goes through: 5-15% of a run.

    Returns:
        One record per op (a leaf module or an aten op), in execution order.

    Raises:
        CaptureLimitation: (virtual run) an op needs values of a weight-dependent or
            meta tensor; the message names the op and the module.

    Example:
        >>> import torch
        >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
        >>> records = capture_dispatch(model, (torch.ones(2, 4),), {}, real=False)
        >>> [(r.name, r.type, r.params, r.macs) for r in records]
        [('0', 'Linear', 15, 24), ('1', 'ReLU', 0, 0)]
    """
    space: VirtualSpace | None = None
    if real:
        clone, run_args, run_kwargs = real_clone(model), args, kwargs
    else:
        space = VirtualSpace(input_device((args, kwargs)))
        clone, run_args, run_kwargs = virtual_clone(model, space), space.inputs(args), space.inputs(kwargs)
    clone.eval()
    recorder = OpRecorder(
        params={id(p): p.numel() for p in clone.parameters()},
        packed=packed_sizes(clone),
        runner=None if space is None else space.run,
        guarded=not real,
    )
    root = _instrument(clone, recorder, space=None if real else space, moe=moe)
    # a real run has no meta or fake tensor whose .numpy() the guard would catch
    guard = numpy_guard() if guard_numpy and not real else contextlib.nullcontext()
    with torch.no_grad(), recorder, guard, quiet_fake_kernels():
        root(*run_args, **run_kwargs)
    records = aten_records(recorder.calls)
    if moe == "routed":
        experts = tuple(path for path, module in clone.named_modules() if HF_EXPERTS.matches(type(module)))
        records = [_routed(r) if r.name.startswith(experts) else r for r in records] if experts else records
    return records


def _routed(record: LayerRecord) -> LayerRecord:
    return dataclasses.replace(record, note=ROUTED_NOTE)


def _instrument(clone: nn.Module, recorder: OpRecorder, *, space: VirtualSpace | None, moe: str) -> Callable[..., Any]:
    """Give every module of ``clone`` (a private copy) a ``forward`` that keeps the module path.

    In a virtual run (``space`` given), a leaf whose output follows from its inputs'
    shapes (a shape rule of :mod:`flopcount.leaf_shapes`, or the experts of a
    mixture-of-experts block) does not run its ``forward``: its output is a fake tensor
    of that shape. Returns the callable that runs the root (its tracked ``forward``, or
    the root itself when it is a TorchScript module, whose attributes cannot be set).
    """
    for path, module in _modules_outside_leaves(clone, moe):
        if isinstance(module, torch.jit.ScriptModule):
            continue  # its ops are recorded under the enclosing module's path
        if is_leaf(module, moe):
            wrapper = functools.partial(_leaf_forward, module.forward, path, module, recorder, space)
        else:
            wrapper = functools.partial(_tracked_forward, module.forward, path, recorder)
        module.forward = wrapper
    if isinstance(clone, torch.jit.ScriptModule):
        return functools.partial(_leaf_forward, clone.forward, "", clone, recorder, space)
    return clone


def _modules_outside_leaves(model: nn.Module, moe: str) -> Iterator[tuple[str, nn.Module]]:
    stack = [("", model)]
    while stack:
        path, module = stack.pop()
        yield path, module
        if not is_leaf(module, moe):
            prefix = f"{path}." if path else ""
            stack.extend(
                (f"{prefix}{name}", child) for name, child in reversed(module._modules.items()) if child is not None
            )


def _tracked_forward(forward: Callable[..., Any], path: str, recorder: OpRecorder, *args: Any, **kwargs: Any) -> Any:
    recorder.push_path(path)
    try:
        return forward(*args, **kwargs)
    finally:
        recorder.pop_path()


def _leaf_forward(
    forward: Callable[..., Any],
    path: str,
    module: nn.Module,
    recorder: OpRecorder,
    space: VirtualSpace | None,
    *args: Any,
    **kwargs: Any,
) -> Any:
    with recorder.leaf(path, module, args, kwargs) as output:
        shaped = None if space is None else _shaped_output(module, args, kwargs, space)
        output.append(forward(*args, **kwargs) if shaped is None else shaped)
    return output[0]


def _shaped_output(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], space: VirtualSpace) -> Any:
    """A leaf's output from its inputs' shapes (fake tensors), or ``None`` when it must run."""
    output = leaf_fallback_output(module, args, kwargs)
    if output is not None:
        return output
    output = rule_output(module, to_meta(args), to_meta(kwargs))
    return None if output is None else space.inputs(output)
