"""Named counting conventions: views over the same records.

A convention decides which op families contribute and how FLOPs relate to MACs. The
records always hold flopcount's full count; a convention only re-derives the numbers
shown and summed, so every convention of a profile comes from one capture.

| name | counts | FLOPs |
|---|---|---|
| ``flopcount`` (default) | every op family | 2 per MAC + documented extras |
| ``torchvision`` | conv, linear, matmul, attention MACs (torchvision's "GFLOPS" are these MACs) | 2 per MAC |
| ``paper`` | conv and dense MACs only: eqs. 10-11 of the paper | = MACs (the paper calls MACs "FLOPs") |

The experts of a mixture-of-experts block (family ``moe``) are linear layers: both
MAC-only conventions count them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from flopcount.records import LayerRecord


@dataclass(frozen=True)
class Convention:
    """A way of counting.

    Attributes:
        name: Registry key.
        description: One line for tables and docs.
        families: Families whose MACs count (``None``: all families and all extras).
        flops_per_mac: When set, FLOPs are recomputed as this many per MAC.

    Example:
        >>> import torch
        >>> from flopcount import profile
        >>> p = profile(torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU()), input_shape=(2, 4))
        >>> [(name, p.using(c).total_macs, p.using(c).total_flops) for name, c in CONVENTIONS.items()]
        [('flopcount', 24, 60), ('torchvision', 24, 48), ('paper', 24, 24)]
        >>> macs_only = Convention("macs", "MACs of every weighted layer", frozenset({"conv", "linear"}), 1)
        >>> p.using(macs_only).total_flops
        24
    """

    name: str
    description: str
    families: frozenset[str] | None = None
    flops_per_mac: int | None = None

    def apply(self, record: LayerRecord) -> LayerRecord:
        """The record as this convention counts it."""
        if self.families is None:
            return record
        macs = record.macs if record.family in self.families else 0
        return dataclasses.replace(record, macs=macs, flops=macs * (self.flops_per_mac or 2))


CONVENTIONS: dict[str, Convention] = {
    convention.name: convention
    for convention in (
        Convention("flopcount", "all ops; FLOPs = 2 per MAC + bias/norm/activation/elementwise work"),
        Convention(
            "torchvision",
            "MACs of conv, linear, matmul and attention only (torchvision's GFLOPS); FLOPs = 2 x MACs",
            frozenset({"conv", "linear", "matmul", "attention", "moe"}),
            2,
        ),
        Convention(
            "paper",
            "eqs. 10-11: conv and dense MACs only, reported as 'FLOPs' (FLOPs = MACs)",
            frozenset({"conv", "linear", "moe"}),
            1,
        ),
    )
}
"""The named conventions by name: ``flopcount`` (default), ``torchvision`` and ``paper``."""


def get_convention(name: str | Convention) -> Convention:
    """Look up a convention by name (or pass one through).

    Raises:
        ValueError: Unknown name; the message lists the known ones.
    """
    if isinstance(name, Convention):
        return name
    try:
        return CONVENTIONS[name]
    except KeyError:
        raise ValueError(f"unknown convention {name!r}; choose one of {sorted(CONVENTIONS)}") from None
