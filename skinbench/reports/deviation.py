"""Deviation arithmetic: relative change in % and differences in percentage points.

The paper's Table IV reports its "performance deviation" as ``+0.022%`` for an
accuracy gap of 89.08% - 87.05% = 2.03 percentage points; these helpers keep the two
notions apart. A relative change against a zero baseline is undefined: the default is
to raise :class:`ZeroBaselineError`; tables pass ``on_zero="nan"`` and get ``nan``
plus an explicit note (see :func:`deviation`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from skinbench.errors import ZeroBaselineError

__all__ = [
    "ZERO_BASELINE_NOTE",
    "Deviation",
    "ZeroBaselineError",
    "deviation",
    "point_difference",
    "ratio",
    "relative_change",
]

ZERO_BASELINE_NOTE = "baseline is 0: relative change undefined"


def relative_change(value: float, baseline: float, *, on_zero: str = "raise") -> float:
    """Relative change of ``value`` against ``baseline`` in %: ``(value - baseline) / |baseline| * 100``.

    Args:
        value: The compared quantity (e.g. the cost of ResNet50 + TL).
        baseline: The reference quantity (e.g. the cost of the custom CNN).
        on_zero: What a zero baseline does: ``"raise"`` (default) raises
            :class:`ZeroBaselineError`, ``"nan"`` returns ``nan`` (the caller must flag it).

    Returns:
        The change in percent; ``nan`` when either input is ``nan``.

    Raises:
        ZeroBaselineError: ``baseline`` is 0 and ``on_zero`` is ``"raise"``.
        ValueError: ``on_zero`` is neither ``"raise"`` nor ``"nan"``.

    Example:
        >>> round(relative_change(4.00e9, 30.04e6), 2)   # Table IV: 4.00 B vs 30.04 M
        13215.58
        >>> round(relative_change(89.08, 87.05), 2)     # accuracy, relative
        2.33
        >>> relative_change(5, 0, on_zero="nan")
        nan
        >>> relative_change(5, 0)  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        ...
        ZeroBaselineError: relative change against a zero baseline is undefined (value 5)
    """
    if on_zero not in ("raise", "nan"):
        raise ValueError(f"on_zero must be 'raise' or 'nan', got {on_zero!r}")
    value, baseline = float(value), float(baseline)
    if math.isnan(value) or math.isnan(baseline):
        return math.nan
    if baseline == 0:
        if on_zero == "raise":
            raise ZeroBaselineError(f"relative change against a zero baseline is undefined (value {value:g})")
        return math.nan
    return (value - baseline) / abs(baseline) * 100.0


def point_difference(value_pct: float, baseline_pct: float) -> float:
    """Difference of two percentages in percentage points (pp).

    Example:
        >>> round(point_difference(89.08, 87.05), 2)
        2.03
    """
    return float(value_pct) - float(baseline_pct)


def ratio(value: float, baseline: float) -> float:
    """``value / baseline``; ``nan`` for a zero baseline (never ``inf``).

    Example:
        >>> ratio(6, 3), ratio(1, 0)
        (2.0, nan)
    """
    value, baseline = float(value), float(baseline)
    return math.nan if baseline == 0 else value / baseline


class Deviation(NamedTuple):
    """One metric of one model against the baseline model.

    Attributes:
        absolute: ``value - baseline`` (percentage points for metrics in %).
        relative_pct: Relative change in %; ``nan`` when undefined.
        note: Empty, or why ``relative_pct`` is ``nan`` (:data:`ZERO_BASELINE_NOTE`).
    """

    absolute: float
    relative_pct: float
    note: str


def deviation(value: float, baseline: float) -> Deviation:
    """Absolute and relative deviation, flagging a zero baseline instead of raising.

    Example:
        >>> deviation(3.0, 2.0)
        Deviation(absolute=1.0, relative_pct=50.0, note='')
        >>> deviation(3.0, 0.0)
        Deviation(absolute=3.0, relative_pct=nan, note='baseline is 0: relative change undefined')
    """
    value, baseline = float(value), float(baseline)
    rel = relative_change(value, baseline, on_zero="nan")
    note = ZERO_BASELINE_NOTE if baseline == 0 and not math.isnan(value) else ""
    return Deviation(value - baseline, rel, note)
