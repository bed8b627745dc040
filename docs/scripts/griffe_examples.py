"""Griffe extension: render Google-style ``Example:`` sections as example code.

The project's docstrings use ``Example:`` (and ``Example (caption):``) sections holding
doctests. Griffe's Google parser only treats the plural ``Examples:`` as an examples
section; a singular ``Example:`` becomes an admonition whose ``>>>`` lines render as
nested block quotes. This extension rewrites the section header when mkdocstrings loads
the docstrings (the source files are untouched), keeping a caption as the first line.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADER = re.compile(r"^(?P<indent>[ \t]*)Example(?:s)?(?: \((?P<caption>[^)\n]*)\))?:[ \t]*$", re.M)


def rewrite(text: str) -> str:
    """``Example (caption):`` -> ``Examples:`` plus a ``caption:`` line.

    Example:
        >>> print(rewrite("Sum.\\n\\nExample (small):\\n    code"))
        Sum.
        <BLANKLINE>
        Examples:
            Small:
            code
    """

    def header(match: re.Match[str]) -> str:
        indent, caption = match["indent"], match["caption"]
        line = f"{indent}Examples:"
        if caption:
            line += f"\n{indent}    {caption[0].upper()}{caption[1:]}:"
        return line

    return _HEADER.sub(header, text)


class ExampleSections(griffe.Extension):
    """Rewrite ``Example:`` headers of every loaded docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:  # noqa: D102
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
