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
# a doctest paragraph at the left margin (a module docstring's bare example)
_BARE_DOCTEST = re.compile(r"^(>>> .*(?:\n(?!\n).*)*)", re.M)
# Sphinx roles such as :func:`~flopcount.profile` (markdown shows them as code)
_ROLE = re.compile(r":(?:attr|func|class|data|mod|meth|exc|obj):`~?(?P<target>[^`]+)`")


def _role(match: re.Match[str]) -> str:
    target = match["target"]
    return f"`{target.rsplit('.', 1)[-1] if match.group(0).count('~') else target}`"


def rewrite(text: str) -> str:
    """``Example (caption):`` -> ``Examples:`` plus a ``caption:`` line.

    Also fences a bare doctest paragraph at the left margin as ``pycon`` code and turns
    Sphinx roles (``:func:`~a.b```) into inline code.

    Example:
        >>> print(rewrite("Sum.\\n\\nExample (small):\\n    code"))
        Sum.
        <BLANKLINE>
        Examples:
            Small:
            code
        >>> rewrite("See :func:`~flopcount.profile` and :data:`CONVENTIONS`.")
        'See `profile` and `CONVENTIONS`.'
    """

    def header(match: re.Match[str]) -> str:
        indent, caption = match["indent"], match["caption"]
        line = f"{indent}Examples:"
        if caption:
            line += f"\n{indent}    {caption[0].upper()}{caption[1:]}:"
        return line

    text = _BARE_DOCTEST.sub(lambda m: f"```pycon\n{m.group(1)}\n```", text)
    text = _ROLE.sub(_role, text)
    return _HEADER.sub(header, text)


class ExampleSections(griffe.Extension):
    """Rewrite ``Example:`` headers of every loaded docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)
