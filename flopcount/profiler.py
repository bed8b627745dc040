"""``profile()``: capture -> shapes -> formulas -> records, and the :class:`Profile` result."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from flopcount.capture import (
    CaptureInfo,
    CaptureLimitation,
    bind_inputs,
    capture_dispatch,
    trace_and_walk,
)
from flopcount.conventions import Convention, get_convention
from flopcount.graph_walk import ShapeMismatchError, is_capture_limitation
from flopcount.records import Aggregate, LayerRecord, Uncounted
from flopcount.shapes import tensor_shapes

__all__ = ["Profile", "ShapeMismatchError", "profile"]


@dataclass(frozen=True)
class Profile:
    """Per-layer cost of one model on one input.

    Every total and table is derived from :attr:`layers` under :attr:`convention`.

    Attributes:
        model: Class name of the profiled model.
        layers: One record per executed op, in execution order (convention applied).
        total_params: Unique parameters of the model (shared tensors once; buffers are
            not parameters).
        trainable_params: Parameters with ``requires_grad``.
        capture: Which capture path was used and why.
        convention: The counting convention of the numbers.
        input_shapes: Shapes of the example inputs.

    Example:
        >>> import torch
        >>> p = profile(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), input_shape=(2, 4))
        >>> p.total_params, p.total_macs, p.total_flops, p.coverage
        (15, 24, 60, 1.0)
        >>> [(r.type, r.flops) for r in p.layers]
        [('Linear', 54), ('ReLU', 6)]
        >>> p.capture.method, p.convention.name
        ('fx', 'flopcount')
    """

    model: str
    layers: tuple[LayerRecord, ...]
    total_params: int
    trainable_params: int
    capture: CaptureInfo
    convention: Convention
    input_shapes: tuple[tuple[int, ...], ...]
    raw_layers: tuple[LayerRecord, ...] = field(repr=False, compare=False, default=())
    module_types: dict[str, str] = field(repr=False, compare=False, default_factory=dict)

    # ------------------------------------------------------------------ totals
    @property
    def frozen_params(self) -> int:
        """Parameters without ``requires_grad``."""
        return self.total_params - self.trainable_params

    @property
    def total_macs(self) -> int:
        """Sum of MACs over all layers."""
        return sum(r.macs for r in self.layers)

    @property
    def total_flops(self) -> int:
        """Sum of FLOPs over all layers."""
        return sum(r.flops for r in self.layers)

    @property
    def total_activation_bytes(self) -> int:
        """Sum of the output bytes of all layers."""
        return sum(r.activation_bytes for r in self.layers)

    @property
    def unused_params(self) -> int:
        """Parameters of the model that no executed op used (e.g. an unused head)."""
        return self.total_params - sum(r.params for r in self.layers)

    @property
    def uncounted(self) -> tuple[Uncounted, ...]:
        """Ops that no formula covers, with how often each ran (never a silent zero)."""
        counts = Counter(r.type for r in self.layers if not r.counted)
        return tuple(Uncounted(op, n) for op, n in sorted(counts.items()))

    @property
    def coverage(self) -> float:
        """Share of recorded ops that a formula covers (1.0 when there are none)."""
        if not self.layers:
            return 1.0
        return sum(r.counted for r in self.layers) / len(self.layers)

    # ------------------------------------------------------------------ views
    def using(self, convention: str | Convention) -> Profile:
        """The same profile counted under another convention.

        Example:
            >>> import torch
            >>> p = profile(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), input_shape=(2, 4))
            >>> p.total_macs, p.total_flops, p.using("torchvision").total_flops
            (24, 60, 48)
        """
        conv = get_convention(convention)
        raw = self.raw_layers or self.layers
        return Profile(
            self.model,
            tuple(conv.apply(r) for r in raw),
            self.total_params,
            self.trainable_params,
            self.capture,
            conv,
            self.input_shapes,
            raw,
            self.module_types,
        )

    def by_module(self, depth: int = 1) -> list[Aggregate]:
        """Totals per module path, cut at ``depth`` dotted components.

        ``depth=0`` gives one row for the whole model; records of ops that the root
        ``forward`` calls directly are grouped under ``""``.
        """
        if depth < 0:
            raise ValueError(f"depth must be >= 0, got {depth}")
        groups: dict[str, list[LayerRecord]] = {}
        for record in self.layers:
            parts = record.name.split(".") if record.name else []
            key = ".".join(parts[:depth])
            groups.setdefault(key, []).append(record)
        return [_aggregate(name, self.module_types.get(name, "(group)"), records) for name, records in groups.items()]

    def by_op(self) -> list[Aggregate]:
        """Totals per op type (``Conv2d``, ``add``, ...), largest FLOPs first."""
        groups: dict[str, list[LayerRecord]] = {}
        for record in self.layers:
            groups.setdefault(record.type, []).append(record)
        rows = [_aggregate(op, records[0].family, records) for op, records in groups.items()]
        return sorted(rows, key=lambda a: (-a.flops, -a.macs, a.name))

    # ------------------------------------------------------------------ renderers
    def to_dataframe(self):
        """Per-layer ``pandas.DataFrame`` (one row per record)."""
        from flopcount.render.tabular import to_dataframe

        return to_dataframe(self)

    def to_markdown(self, depth: int | None = None) -> str:
        """Markdown table (per layer, or per module at ``depth``) with totals."""
        from flopcount.render.tabular import to_markdown

        return to_markdown(self, depth)

    def to_latex(self, depth: int | None = None) -> str:
        """LaTeX ``tabular`` (via tabulate) with totals."""
        from flopcount.render.tabular import to_latex

        return to_latex(self, depth)

    def to_csv(self) -> str:
        """Per-layer CSV text."""
        from flopcount.render.tabular import to_csv

        return to_csv(self)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON schema as a Python dict (see :func:`to_json`)."""
        from flopcount.render.json import to_dict

        return to_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text in the stable schema ``flopcount.profile/1``."""
        from flopcount.render.json import to_json

        return to_json(self, indent)

    def to_text(self, depth: int | None = None) -> str:
        """The readable table that ``print(profile)`` shows."""
        from flopcount.render.text import to_text

        return to_text(self, depth)

    def __str__(self) -> str:
        return self.to_text()


def _aggregate(name: str, type_name: str, records: list[LayerRecord]) -> Aggregate:
    return Aggregate(
        name=name,
        type=type_name,
        calls=len(records),
        params=sum(r.params for r in records),
        macs=sum(r.macs for r in records),
        flops=sum(r.flops for r in records),
        activation_bytes=sum(r.activation_bytes for r in records),
    )


# ---------------------------------------------------------------------- profile()
def profile(
    model: nn.Module,
    *example_inputs: Any,
    input_shape: tuple[int, ...] | list[int] | None = None,
    dtype: torch.dtype | None = None,
    convention: str | Convention = "flopcount",
    **example_kwargs: Any,
) -> Profile:
    """Count parameters, MACs and FLOPs of every layer of ``model``, without running it.

    The model is traced with torch.fx and every node's shape is derived on the ``meta``
    device; no real arithmetic runs, no hook or attribute is left on the model, and the
    result does not depend on train/eval mode, grad mode or the weights' device (eval
    semantics are counted). When fx cannot trace the model, a dispatch-level capture of
    a private clone is used instead and :attr:`Profile.capture` says why.

    Args:
        model: Any ``torch.nn.Module`` (its weights may live on ``meta``).
        *example_inputs: Example positional inputs: tensors, tuples/dicts of tensors, or
            other values (fixed at trace time). Only their shapes and dtypes are used.
        input_shape: Instead of inputs, the shape of a single input tensor.
        dtype: dtype of the ``input_shape`` tensor (default: the model's first
            floating-point parameter dtype, else float32).
        convention: ``"flopcount"`` (default), ``"torchvision"`` or ``"paper"``; see
            :mod:`flopcount.conventions`.
        **example_kwargs: Example keyword inputs of ``forward``.

    Returns:
        A :class:`Profile`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module`` or inputs do not match ``forward``.
        ValueError: No inputs given, or both inputs and ``input_shape``.
        ShapeMismatchError: The inputs do not fit a layer (the message names it).

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
    if not isinstance(model, nn.Module):
        raise TypeError(f"profile() needs a torch.nn.Module, got {type(model).__name__}")
    example_inputs = _example_inputs(model, example_inputs, example_kwargs, input_shape, dtype)
    conv = get_convention(convention)
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    records, capture = _capture_records(model, example_inputs, example_kwargs)
    shapes = tuple(tensor_shapes((example_inputs, example_kwargs)))
    raw = tuple(records)
    module_types = {name: type(module).__name__ for name, module in model.named_modules()}
    return Profile(
        type(model).__name__,
        tuple(conv.apply(r) for r in raw),
        total,
        trainable,
        capture,
        conv,
        shapes,
        raw,
        module_types,
    )


def _example_inputs(model, args, kwargs, input_shape, dtype) -> tuple:
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


def _capture_records(model: nn.Module, args: tuple, kwargs: dict) -> tuple[list[LayerRecord], CaptureInfo]:
    try:
        tensors, concrete = bind_inputs(model, args, kwargs)
        _graph, records = trace_and_walk(model, tensors, concrete)
        return records, CaptureInfo("fx")
    except ShapeMismatchError:
        raise
    except TypeError as exc:
        if "example inputs do not match" in str(exc):
            raise
        reason = _reason(exc)
    except Exception as exc:  # fx cannot trace this model: fall back, and say why
        reason = _reason(exc)
    try:
        return capture_dispatch(model, args, kwargs, real=False), CaptureInfo("dispatch", reason)
    except Exception as exc:
        if not is_capture_limitation(exc):
            raise ShapeMismatchError(f"model failed on the example inputs: {_reason(exc)}") from None
        if not _all_real(args, kwargs):
            raise CaptureLimitation(
                f"{type(model).__name__} needs tensor values to run ({_reason(exc)}); "
                "pass real example tensors instead of input_shape or meta tensors"
            ) from None
        reason = f"{reason}; meta run failed: {_reason(exc)}"
    return capture_dispatch(model, args, kwargs, real=True), CaptureInfo("dispatch-real", reason)


def _all_real(args: tuple, kwargs: dict) -> bool:
    leaves = torch.utils._pytree.tree_leaves((args, kwargs))
    tensors = [leaf for leaf in leaves if isinstance(leaf, torch.Tensor)]
    return bool(tensors) and all(t.device.type != "meta" for t in tensors)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip()
