"""One data frame, every output format: markdown and LaTeX (tabulate), CSV, JSON and the cell formatting.

Every table of the report is a ``DataFrame``; :func:`write_table` renders that same frame
in every format, so all formats hold the same numbers. Markdown, LaTeX and HTML show
cells through :func:`format_value`; CSV and JSON keep the raw values.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from skinbench.atomic import write_text

__all__ = ["FORMATS", "display_frame", "format_value", "to_latex", "to_markdown", "to_records", "write_table"]

FORMATS = ("md", "tex", "csv", "json")


def format_value(value: Any) -> str:
    """How a cell is printed in markdown, LaTeX and HTML (CSV/JSON keep the raw value).

    Integers get thousands separators, floats 4 significant decimals (2 from 100 up),
    missing values an em dash.

    Example:
        >>> [format_value(v) for v in (25785415, 0.73117, 13215.5792, float("nan"), None, "x", True)]
        ['25,785,415', '0.7312', '13,215.58', '—', '—', 'x', 'yes']
    """
    if value is None or value is pd.NA or (isinstance(value, numbers.Real) and math.isnan(value)):
        return "—"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else ""
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, numbers.Real):
        value = float(value)
        if value.is_integer() and abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4f}"
    return str(value)


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every cell formatted by :func:`format_value` (strings only)."""
    shown: pd.DataFrame = frame.astype(object).apply(lambda col: col.map(format_value))
    return shown


def to_markdown(frame: pd.DataFrame) -> str:
    """The frame as a GitHub markdown table (no index)."""
    return display_frame(frame).to_markdown(index=False, disable_numparse=True) + "\n"


def to_latex(frame: pd.DataFrame) -> str:
    """The frame as a booktabs LaTeX tabular (tabulate's ``latex_booktabs``)."""
    from tabulate import tabulate

    shown = display_frame(frame)
    return (
        tabulate(shown.values.tolist(), headers=list(shown.columns), tablefmt="latex_booktabs", disable_numparse=True)
        + "\n"
    )


def _json_value(value: Any) -> Any:
    if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        return _json_value(value.item())
    return value


def to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The frame as JSON-safe records (NaN becomes null, numpy scalars Python numbers)."""
    return [{str(k): _json_value(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def write_table(frame: pd.DataFrame, out_dir: str | Path, name: str) -> dict[str, Path]:
    """Write ``frame`` as ``name.md``, ``name.tex``, ``name.csv`` and ``name.json`` into ``out_dir``.

    Every file is written atomically; all four come from the same frame.

    Returns:
        ``{format: path}``.
    """
    out_dir = Path(out_dir)
    texts = {
        "md": to_markdown(frame),
        "tex": to_latex(frame),
        "csv": frame.to_csv(index=False),
        "json": json.dumps(to_records(frame), indent=2) + "\n",
    }
    paths = {}
    for fmt, text in texts.items():
        paths[fmt] = out_dir / f"{name}.{fmt}"
        write_text(paths[fmt], text)
    return paths
