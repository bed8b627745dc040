"""The result of :func:`flopcount.profile`: per-op records and everything derived from them."""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flopcount.conventions import Convention, get_convention
from flopcount.records import Aggregate, CaptureInfo, LayerRecord, Uncounted

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Profile"]


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
        >>> from flopcount import profile
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
            >>> from flopcount import profile
            >>> p = profile(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), input_shape=(2, 4))
            >>> p.total_macs, p.total_flops, p.using("torchvision").total_flops
            (24, 60, 48)
        """
        conv = get_convention(convention)
        raw = self.raw_layers or self.layers
        return dataclasses.replace(self, layers=tuple(conv.apply(r) for r in raw), convention=conv, raw_layers=raw)

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
    # Each renders through the one table of formats, flopcount.render.FORMATS (imported
    # here: render depends on Profile, never the reverse at import time).
    def to_dataframe(self) -> pd.DataFrame:
        """Per-layer ``pandas.DataFrame`` (one row per record)."""
        from flopcount.render import render

        return render(self, "dataframe")

    def to_markdown(self, depth: int | None = None) -> str:
        """Markdown table (per layer, or per module at ``depth``) with totals."""
        from flopcount.render import render

        return render(self, "markdown", depth)

    def to_latex(self, depth: int | None = None) -> str:
        """LaTeX ``tabular`` (via tabulate) with totals."""
        from flopcount.render import render

        return render(self, "latex", depth)

    def to_csv(self) -> str:
        """Per-layer CSV text."""
        from flopcount.render import render

        return render(self, "csv")

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON schema as a Python dict (see :meth:`to_json`)."""
        from flopcount.render.json import to_dict

        return to_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text in the stable schema ``flopcount.profile/1``."""
        from flopcount.render.json import to_json

        return to_json(self, indent=indent)

    def to_text(self, depth: int | None = None) -> str:
        """The readable table that ``print(profile)`` shows."""
        from flopcount.render import render

        return render(self, "table", depth)

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
