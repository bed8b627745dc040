"""Small frozen records: what a profile is made of.

A :class:`LayerRecord` is one executed op (a leaf module call, a function call or a
tensor method) with its shapes and cost; both capture paths produce them. Everything
else (totals, aggregation, tables) is derived from these records and never stored twice.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

Shape = tuple[int, ...]


@dataclass(frozen=True)
class TensorInfo:
    """Shape and dtype of a tensor, as formulas see it.

    Example:
        >>> TensorInfo((1, 32, 224, 224)).numel
        1605632
    """

    shape: Shape
    dtype: torch.dtype = torch.float32

    @property
    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class Count:
    """The cost of one op: multiply-accumulates and floating-point operations.

    ``flops`` counts every arithmetic operation: 2 per MAC plus the documented extra
    work (bias adds, normalisation, activations, elementwise ops).

    Example:
        >>> Count(macs=10, flops=20) + Count(flops=4)
        Count(macs=10, flops=24)
    """

    macs: int = 0
    flops: int = 0

    def __add__(self, other: Count) -> Count:
        return Count(self.macs + other.macs, self.flops + other.flops)

    def scaled(self, factor: int) -> Count:
        """Return this count multiplied by an integer factor (e.g. a batch size)."""
        return Count(self.macs * factor, self.flops * factor)


ZERO = Count()


@dataclass(frozen=True)
class LayerRecord:
    """One executed op of a model, in execution order.

    Attributes:
        name: Qualified module path of the leaf module (``"layer1.0.conv1"``), or of the
            module whose ``forward`` called the function (``"layer1.0"`` for a residual
            add). ``""`` is the root model.
        type: Module class name (``"Conv2d"``) or op name (``"add"``, ``"matmul"``).
        family: Formula family (``"conv"``, ``"linear"``, ``"matmul"``, ``"attention"``,
            ``"norm"``, ``"pool"``, ``"activation"``, ``"elementwise"``, ``"zero"``,
            ``"rnn"``, ``"other"``) or ``"uncounted"`` when no formula covers it.
        input_shapes: Shapes of the tensor inputs (non-tensor args are left out).
        output_shape: Shape of the output tensor; for several outputs, the first one.
        params: Parameters first used by this op (a tensor shared between layers is
            counted once, at its first use).
        macs: Multiply-accumulates.
        flops: Floating-point operations (2 per MAC plus documented extras).
        activation_bytes: Bytes of the op's output tensors.
        node: Name of the fx node (or dispatch op) this record comes from.
        counted: False when no formula covered the op (its macs/flops are then 0 and it
            is listed in ``Profile.uncounted``).
        dtype: The dtype the op computes in: its first tensor input's dtype
            (``"float32"``, ``"bfloat16"``, ...), or ``"int8"`` for quantized kernels
            (integer MACs); ``""`` when it has no tensor input.
        note: How the count was obtained when a convention applies (``"moe expected:
            ..."`` for a mixture-of-experts layer counted without its router's choice,
            ``"moe routed"`` for the experts' ops of a real run), else ``""``.

    Example:
        >>> import torch
        >>> from flopcount import profile
        >>> record = profile(torch.nn.Linear(4, 3), input_shape=(2, 4)).layers[0]
        >>> record.type, record.family, record.output_shape, record.params, record.macs, record.flops, record.dtype
        ('Linear', 'linear', (2, 3), 15, 24, 54, 'float32')
    """

    name: str
    type: str
    family: str
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    params: int
    macs: int
    flops: int
    activation_bytes: int
    node: str = ""
    counted: bool = True
    dtype: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON dictionary of this record (tuples become lists)."""
        data = asdict(self)
        data["input_shapes"] = [list(s) for s in self.input_shapes]
        data["output_shape"] = list(self.output_shape)
        return data


@dataclass(frozen=True)
class Uncounted:
    """An op that no formula covers, and how many times it ran.

    Example:
        >>> Uncounted("fft_rfft", 2)
        Uncounted(op='fft_rfft', occurrences=2)
    """

    op: str
    occurrences: int


@dataclass(frozen=True)
class Aggregate:
    """Records summed under one key (a module path prefix or an op type).

    Example:
        >>> import torch
        >>> from flopcount import profile
        >>> p = profile(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), input_shape=(2, 4))
        >>> [(a.name, a.calls, a.macs, a.flops) for a in p.by_op()]
        [('Linear', 1, 24, 54), ('ReLU', 1, 0, 6)]
    """

    name: str
    type: str
    calls: int
    params: int
    macs: int
    flops: int
    activation_bytes: int


@dataclass(frozen=True)
class CaptureInfo:
    """Which capture path produced a profile, and why.

    Attributes:
        method: ``"fx"`` (graph + shape formulas, no execution), ``"dispatch"`` (a copy
            with fake weights run under a dispatch recorder on the example inputs: no
            real arithmetic on weights) or ``"dispatch-real"`` (a copy sharing the real
            weights run on the real example inputs, only when a weight-dependent value
            steers the model's control flow).
        reason: Why the fx path was not used, and for ``"dispatch-real"`` which op
            (in which module) needed a weight-dependent value (``None`` for ``"fx"``).

    Example:
        >>> import torch
        >>> from flopcount import profile
        >>> info = profile(torch.nn.Linear(4, 3), input_shape=(1, 4)).capture
        >>> info, info.real_forward
        (CaptureInfo(method='fx', reason=None), False)
    """

    method: str
    reason: str | None = None

    @property
    def real_forward(self) -> bool:
        """True when real arithmetic ran on the model's weights (``"dispatch-real"``)."""
        return self.method == "dispatch-real"
