"""``profile()``: orchestration only. Inputs -> capture (fx, else dispatch) -> records -> convention -> Profile.

Which capture path runs is decided by error types (:mod:`flopcount.errors`):

1. :func:`~flopcount.capture.capture_fx`. A :class:`ShapeMismatchError` or
   :class:`InputMismatchError` is the user's error and propagates; any other failure
   (fx's ``TraceError``, :class:`CaptureLimitation`, untraceable Python) falls back.
2. :func:`~flopcount.capture.capture_dispatch` of a copy with fake weights, on the
   example inputs as given (real inputs stay real: values derived from inputs only can
   steer control flow; no real arithmetic on weights). Any failure falls back.
3. :func:`~flopcount.capture.capture_dispatch` of a copy that shares the real weights,
   on the real inputs; :attr:`Profile.capture` says which op forced it. When the inputs
   are meta tensors or shapes there is no real run: a :class:`CaptureLimitation` (an
   op needs tensor values) says to pass real tensors, any other failure is a
   :class:`ShapeMismatchError`, as is a failure of the real run.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from flopcount.capture import capture_dispatch, capture_fx
from flopcount.capture.steered import weight_steered
from flopcount.conventions import Convention, get_convention
from flopcount.errors import CaptureLimitation, InputMismatchError, ShapeMismatchError
from flopcount.formulas.moe import HF_EXPERTS, MOE_MODES
from flopcount.params import parameter_counts
from flopcount.records import CaptureInfo, LayerRecord
from flopcount.result import Profile
from flopcount.values import tensor_shapes, tensors_in

__all__ = ["Profile", "ShapeMismatchError", "profile"]


def profile(
    model: nn.Module,
    *example_inputs: Any,
    input_shape: tuple[int, ...] | list[int] | None = None,
    dtype: torch.dtype | None = None,
    convention: str | Convention = "flopcount",
    moe: str = "expected",
    **example_kwargs: Any,
) -> Profile:
    """Count parameters, MACs and FLOPs of every layer of ``model``, without running it.

    The model is traced with torch.fx on ``meta`` shapes, else a private copy with fake
    weights runs on the example inputs (see the module docstring); only a
    weight-dependent value steering the model makes a real run. No hook or attribute is
    left on the model, and the result does not depend on train/eval mode, grad mode or
    the weights' device (eval semantics are counted). :attr:`Profile.capture` says
    which path ran and why.

    Args:
        model: Any ``torch.nn.Module`` (its weights may live on ``meta``).
        *example_inputs: Example positional inputs: tensors, tuples/dicts of tensors, or
            other values (fixed at trace time). Their shapes and dtypes are used, and
            their values where the model's control flow reads them.
        input_shape: Instead of inputs, the shape of a single input tensor.
        dtype: dtype of the ``input_shape`` tensor (default: the model's first
            floating-point parameter dtype, else float32).
        convention: ``"flopcount"`` (default), ``"torchvision"`` or ``"paper"``; see
            :mod:`flopcount.conventions`.
        moe: ``"expected"`` (default): mixture-of-experts layers count top-k of E
            experts per token, router not run; ``"routed"``: the experts' own ops for
            this input's routing (a real run). See :mod:`flopcount.formulas.moe`.
        **example_kwargs: Example keyword inputs of ``forward``.

    Returns:
        A :class:`Profile`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
        InputMismatchError: The inputs do not match ``forward`` (a ``TypeError``).
        ValueError: No inputs given, or both inputs and ``input_shape``.
        ShapeMismatchError: The inputs do not fit a layer (the message names it).
        CaptureLimitation: The model needs tensor values to run and the inputs are
            meta tensors or ``input_shape``.

    Example:
        >>> import torch
        >>> from flopcount import profile
        >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU())
        >>> p = profile(net, input_shape=(1, 3, 32, 32))
        >>> p.total_params, p.total_macs
        (224, 221184)
        >>> [r.name for r in p.layers]
        ['0', '1']
    """
    model = _uncompiled(model)
    example_inputs = _example_inputs(model, example_inputs, example_kwargs, input_shape, dtype)
    conv = get_convention(convention)
    _check_choice("moe", moe, MOE_MODES)
    return _profile(model, example_inputs, example_kwargs, conv, moe)


def _profile(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], conv: Convention, moe: str) -> Profile:
    with _collector_paused():
        named = tuple(model.named_modules())  # one walk for every stage (a capture puts back what it adds)
        records, capture = _capture_records(model, named, args, kwargs, moe)
        return _assemble(model, named, tuple(records), capture, conv, tuple(tensor_shapes((args, kwargs))))


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the call, as it was before afterwards.

    A capture allocates thousands of short-lived objects (trace nodes, proxies, meta
    tensors) and almost no garbage cycles: the collector's runs during a call found
    nothing to free and cost 5-10% of a small model's profile, and a full collection of
    a process holding torch (over 100 ms) could land in any call.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _uncompiled(model: nn.Module) -> nn.Module:
    """The module ``torch.compile(module)`` wraps (module paths then match the original)."""
    eval_frame = sys.modules.get("torch._dynamo.eval_frame")  # never import dynamo just to check
    if eval_frame is not None and isinstance(model, eval_frame.OptimizedModule):
        return _uncompiled(model._orig_mod)
    return model


def _assemble(
    model: nn.Module,
    named: tuple[tuple[str, nn.Module], ...],
    raw: tuple[LayerRecord, ...],
    capture: CaptureInfo,
    conv: Convention,
    input_shapes: tuple[tuple[int, ...], ...],
) -> Profile:
    total, trainable = parameter_counts(model, [module for _, module in named])
    return Profile(
        model=type(model).__name__,
        layers=tuple(conv.apply(r) for r in raw),
        total_params=total,
        trainable_params=trainable,
        capture=capture,
        convention=conv,
        input_shapes=input_shapes,
        raw_layers=raw,
        module_types={name: type(module).__name__ for name, module in named},
    )


def _example_inputs(
    model: nn.Module,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    input_shape: tuple[int, ...] | list[int] | None,
    dtype: torch.dtype | None,
) -> tuple[Any, ...]:
    """The example positional inputs, checked (a meta tensor when only ``input_shape`` is given)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"profile() needs a torch.nn.Module, got {type(model).__name__}")
    if input_shape is not None:
        if args:
            raise ValueError("pass example inputs or input_shape, not both")
        shape = tuple(input_shape)
        if not shape or not all(isinstance(s, int) and s > 0 for s in shape):
            raise ValueError(f"input_shape must be positive integers, got {input_shape!r}")
        if dtype is None:
            dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        return (torch.empty(shape, dtype=dtype, device="meta"),)
    if not args and not kwargs:
        raise ValueError("profile() needs example inputs or input_shape=(...)")
    return args


def _capture_records(
    model: nn.Module,
    named: tuple[tuple[str, nn.Module], ...],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    moe: str,
) -> tuple[list[LayerRecord], CaptureInfo]:
    """fx, else a virtual dispatch run, else a real dispatch run: decided by error type only."""
    if moe == "routed" and any(HF_EXPERTS.matches(type(m)) for _, m in named):
        return _routed_run(model, args, kwargs)
    steered = weight_steered(model, named)
    if steered is not None:  # known to need weight values: fx and the virtual run would fail first
        if not _all_real(args, kwargs):
            raise _needs_values(model, steered)
        return _real_run(model, args, kwargs, moe, steered)
    try:
        return capture_fx(model, args, kwargs, moe=moe, named_modules=named), CaptureInfo("fx")
    except InputMismatchError:
        raise
    except ShapeMismatchError as exc:  # the inputs do not fit, or a meta kernel refuses what fake tensors pass
        mismatch: ShapeMismatchError | None = exc
        reason = _reason(exc)
    except Exception as exc:  # fx cannot trace this model: fall back, and say why
        mismatch, reason = None, _reason(exc)
    try:
        return _virtual_run(model, args, kwargs, moe), CaptureInfo("dispatch", reason)
    except CaptureLimitation as exc:
        failure: Exception = exc
    except Exception as exc:  # a shape error, or a fake kernel stricter than the real one
        failure = exc
    if mismatch is not None:
        raise mismatch from None  # fx's message names the layer the inputs stop fitting
    if not _all_real(args, kwargs):
        if isinstance(failure, CaptureLimitation):
            raise _needs_values(model, _reason(failure)) from None
        raise ShapeMismatchError(f"model failed on the example inputs: {_reason(failure)}") from None
    return _real_run(model, args, kwargs, moe, f"{reason}; virtual run failed: {_reason(failure)}")


def _real_run(
    model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], moe: str, reason: str
) -> tuple[list[LayerRecord], CaptureInfo]:
    """The last resort: a real dispatch run, ``reason`` saying why."""
    try:
        return capture_dispatch(model, args, kwargs, real=True, moe=moe), CaptureInfo("dispatch-real", reason)
    except Exception as exc:
        raise ShapeMismatchError(f"model failed on the example inputs: {_reason(exc)}") from None


def _needs_values(model: nn.Module, why: str) -> CaptureLimitation:
    return CaptureLimitation(
        f"{type(model).__name__} needs tensor values to run ({why}); "
        "pass real example tensors instead of input_shape or meta tensors"
    )


def _virtual_run(model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], moe: str) -> list[LayerRecord]:
    """The virtual dispatch run: unguarded first (faster), guarded again only to name a failure.

    A failure other than :class:`CaptureLimitation` may be a ``.numpy()`` of a fake
    tensor; the guarded rerun turns that into the ``CaptureLimitation`` it is (and lets
    any other error through as it was).
    """
    try:
        return capture_dispatch(model, args, kwargs, real=False, moe=moe, guard_numpy=False)
    except CaptureLimitation:
        raise
    except Exception:
        return capture_dispatch(model, args, kwargs, real=False, moe=moe, guard_numpy=True)


def _routed_run(
    model: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[list[LayerRecord], CaptureInfo]:
    """``moe="routed"``: the router's choice is a value, so the experts run for real, on every torch.

    (A virtual run could go through when the experts' kernels accept fake tensors, but its
    "routing" would be made up.)
    """
    if not _all_real(args, kwargs):
        raise CaptureLimitation(
            f"moe='routed' counts {type(model).__name__}'s routing of these inputs, which needs a real run: "
            "pass real example tensors, or use moe='expected'"
        )
    try:
        records = capture_dispatch(model, args, kwargs, real=True, moe="routed")
    except Exception as exc:
        raise ShapeMismatchError(f"model failed on the example inputs: {_reason(exc)}") from None
    return records, CaptureInfo("dispatch-real", "moe='routed': the router's choice needs a real run")


def _all_real(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    tensors = tensors_in((args, kwargs))
    return bool(tensors) and all(t.device.type != "meta" for t in tensors)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()
