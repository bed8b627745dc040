"""DataFrame, markdown, LaTeX and CSV output (pandas and tabulate are imported lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flopcount.render.rows import HEADERS, summary_lines, table_rows, totals_row

if TYPE_CHECKING:
    import pandas as pd

    from flopcount.result import Profile


def _missing(module: str) -> ImportError:
    return ImportError(f"this output needs {module}: pip install 'flopcount[table]'")


def to_dataframe(profile: Profile) -> pd.DataFrame:
    """One row per record with every :class:`~flopcount.records.LayerRecord` field."""
    try:
        import pandas as pd
    except ImportError:
        raise _missing("pandas") from None
    frame: pd.DataFrame = pd.DataFrame([record.to_dict() for record in profile.layers])
    return frame


def _table(profile: Profile, depth: int | None, tablefmt: str) -> str:
    try:
        from tabulate import tabulate
    except ImportError:
        raise _missing("tabulate") from None
    columns, rows = table_rows(profile, depth)
    rows = [*rows, totals_row(profile, columns)]
    body = [[row[c] for c in columns] for row in rows]
    return tabulate(body, headers=[HEADERS[c] for c in columns], tablefmt=tablefmt, intfmt=",")


def to_markdown(profile: Profile, depth: int | None = None) -> str:
    """GitHub-flavoured markdown table plus the summary lines."""
    summary = "\n".join(f"- {line}" for line in summary_lines(profile))
    return f"{_table(profile, depth, 'github')}\n\n{summary}\n"


def to_latex(profile: Profile, depth: int | None = None) -> str:
    """LaTeX ``tabular`` (booktabs) of the table."""
    return _table(profile, depth, "latex_booktabs") + "\n"


def to_csv(profile: Profile) -> str:
    """CSV of the per-layer records."""
    return to_dataframe(profile).to_csv(index=False)
