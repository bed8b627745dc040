"""The rows and totals every renderer shows, computed once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flopcount.result import Profile

LAYER_COLUMNS = ("name", "type", "input_shapes", "output_shape", "params", "macs", "flops", "activation_bytes")
MODULE_COLUMNS = ("name", "type", "calls", "params", "macs", "flops", "activation_bytes")
HEADERS = {
    "name": "Layer",
    "type": "Type",
    "input_shapes": "Input shape",
    "output_shape": "Output shape",
    "params": "Params",
    "macs": "MACs",
    "flops": "FLOPs",
    "activation_bytes": "Activations (B)",
    "calls": "Calls",
}


def shape_text(shape: tuple[int, ...]) -> str:
    """``(1, 3, 224, 224)`` -> ``1x3x224x224`` (``()`` -> ``scalar``)."""
    return "x".join(str(s) for s in shape) if shape else "scalar"


def table_rows(profile: Profile, depth: int | None) -> tuple[tuple[str, ...], list[dict[str, Any]]]:
    """Columns and raw-valued rows: per layer (``depth=None``) or per module path."""
    if depth is None:
        rows = []
        for record in profile.layers:
            rows.append(
                {
                    "name": record.name or "(root)",
                    "type": record.type,
                    "input_shapes": ", ".join(shape_text(s) for s in record.input_shapes),
                    "output_shape": shape_text(record.output_shape),
                    "params": record.params,
                    "macs": record.macs,
                    "flops": record.flops,
                    "activation_bytes": record.activation_bytes,
                }
            )
        return LAYER_COLUMNS, rows
    rows = [
        {
            "name": agg.name or "(root)",
            "type": agg.type,
            "calls": agg.calls,
            "params": agg.params,
            "macs": agg.macs,
            "flops": agg.flops,
            "activation_bytes": agg.activation_bytes,
        }
        for agg in profile.by_module(depth)
    ]
    return MODULE_COLUMNS, rows


def totals_row(profile: Profile, columns: tuple[str, ...]) -> dict[str, Any]:
    """The 'Total' row in the same columns."""
    row: dict[str, Any] = {column: "" for column in columns}
    row.update(
        name="Total",
        params=profile.total_params,
        macs=profile.total_macs,
        flops=profile.total_flops,
        activation_bytes=profile.total_activation_bytes,
    )
    return row


def summary_lines(profile: Profile) -> list[str]:
    """Footer lines: parameters split, coverage, uncounted ops, capture path, convention."""
    lines = [
        f"Total params: {profile.total_params:,} (trainable {profile.trainable_params:,}, "
        f"frozen {profile.frozen_params:,})",
        f"Total MACs: {profile.total_macs:,} ({human(profile.total_macs)})",
        f"Total FLOPs: {profile.total_flops:,} ({human(profile.total_flops)})",
        f"Coverage: {profile.coverage:.1%} of {len(profile.layers)} ops have a formula",
    ]
    if profile.unused_params:
        lines.append(f"Parameters not used by the forward pass: {profile.unused_params:,}")
    if profile.uncounted:
        listed = ", ".join(f"{u.op} x{u.occurrences}" for u in profile.uncounted)
        lines.append(f"Uncounted ops (no formula, counted as 0): {listed}")
    integer = [r for r in profile.layers if r.dtype == "int8"]
    if integer:
        lines.append(f"Integer (int8) ops: {len(integer)}, {human(sum(r.macs for r in integer))} MACs")
    for note in sorted({r.note for r in profile.layers if r.note}):
        lines.append(f"Counted by convention: {note}")
    capture = profile.capture.method
    if profile.capture.reason:
        capture += f" (fx failed: {profile.capture.reason})"
    lines.append(f"Capture: {capture}; convention: {profile.convention.name}")
    return lines


def human(value: float) -> str:
    """Short human-readable magnitude: ``4.09 G``.

    Example:
        >>> human(4_089_184_256), human(999), human(25_785_415)
        ('4.09 G', '999', '25.79 M')
    """
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.2f} {unit}"
    return f"{value:g}"
