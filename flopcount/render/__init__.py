"""Renderers: one table of formats, all rendered from the same records.

:data:`FORMATS` is the only list of output formats: :class:`~flopcount.Profile`'s
``to_*`` methods and the ``flopcount`` command line both go through :func:`render`.
Renderers read a :class:`~flopcount.Profile`; the profile imports them only when a
method is called, so there is no import cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, overload

from flopcount.render.json import to_json
from flopcount.render.tabular import to_csv, to_dataframe, to_latex, to_markdown
from flopcount.render.text import to_text

if TYPE_CHECKING:
    import pandas as pd

    from flopcount.result import Profile

__all__ = ["FORMATS", "Format", "render"]


@dataclass(frozen=True)
class Format:
    """One output format.

    Attributes:
        render: ``render(profile, depth)``; ``depth`` (module-path aggregation) is
            ignored by the per-layer formats.
        description: One line for help texts.
        text: The format is text (the command line can print it).
    """

    render: Callable[[Profile, int | None], str | pd.DataFrame]
    description: str
    text: bool = True


#: Format name -> :class:`Format`, in the order the command line lists them.
FORMATS: dict[str, Format] = {
    "table": Format(to_text, "plain-text table with totals and summary (what print(profile) shows)"),
    "markdown": Format(to_markdown, "GitHub-flavoured markdown table plus the summary lines"),
    "latex": Format(to_latex, "LaTeX tabular (booktabs)"),
    "json": Format(lambda profile, depth: to_json(profile), "JSON in the stable schema flopcount.profile/1"),
    "csv": Format(lambda profile, depth: to_csv(profile), "per-layer CSV"),
    "dataframe": Format(lambda profile, depth: to_dataframe(profile), "per-layer pandas.DataFrame", text=False),
}

TextFormat = Literal["table", "markdown", "latex", "json", "csv"]


@overload
def render(profile: Profile, fmt: Literal["dataframe"], depth: int | None = None) -> pd.DataFrame: ...
@overload
def render(profile: Profile, fmt: TextFormat, depth: int | None = None) -> str: ...
@overload
def render(profile: Profile, fmt: str, depth: int | None = None) -> str | pd.DataFrame: ...
def render(profile: Profile, fmt: str, depth: int | None = None) -> str | pd.DataFrame:
    """Render ``profile`` in one of :data:`FORMATS`.

    Args:
        profile: The profile to render.
        fmt: A key of :data:`FORMATS`.
        depth: Aggregate by module path at this depth (``table``, ``markdown`` and
            ``latex``); ``None`` gives one row per layer.

    Raises:
        ValueError: Unknown format; the message lists the known ones.

    Example:
        >>> import torch
        >>> from flopcount import profile
        >>> p = profile(torch.nn.Linear(4, 3), input_shape=(2, 4))
        >>> print(render(p, "csv").splitlines()[1])
        ,Linear,linear,"[[2, 4]]","[2, 3]",15,24,54,24,...,True,float32,
    """
    try:
        entry = FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; choose one of {list(FORMATS)}") from None
    return entry.render(profile, depth)
