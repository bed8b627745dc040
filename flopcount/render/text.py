"""Plain-text table for ``print(profile)``; needs nothing beyond the standard library."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flopcount.render.rows import HEADERS, summary_lines, table_rows, totals_row

if TYPE_CHECKING:
    from flopcount.result import Profile

_NUMERIC = {"params", "macs", "flops", "activation_bytes", "calls"}


def to_text(profile: Profile, depth: int | None = None) -> str:
    """Render the per-layer (or per-module) table with totals and the summary footer."""
    columns, rows = table_rows(profile, depth)
    columns = tuple(c for c in columns if c != "activation_bytes")
    cells = [[_cell(row[c], c) for c in columns] for row in rows]
    total = totals_row(profile, columns)
    footer = [_cell(total[c], c) for c in columns]
    header = [HEADERS[c] for c in columns]
    widths = [max(len(r[i]) for r in (header, footer, *cells)) for i in range(len(columns))]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if c in _NUMERIC else v.ljust(w) for v, w, c in zip(values, widths, columns)]
        return "  ".join(parts).rstrip()

    rule = "-" * len(line(header))
    out = [f"{profile.model} ({profile.convention.name} convention)", rule, line(header), rule]
    out += [line(c) for c in cells]
    out += [rule, line(footer), rule, *summary_lines(profile)]
    return "\n".join(out)


def _cell(value: object, column: str) -> str:
    if column in _NUMERIC and isinstance(value, int):
        return f"{value:,}"
    return str(value)
