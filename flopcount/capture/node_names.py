"""Node names as fx gives them (``conv2d``, ``add_3``, ``layer1_0_conv1``), computed without a graph.

A :class:`~flopcount.capture.walker.TraceNode` carries the name ``torch.fx`` would give
its node; records keep it (``LayerRecord.node``), and the walker reads the names fx gives
the placeholders of specialised inputs. fx names a node in two steps:
``Graph._target_to_str(target)`` (pure: the same for a target in every trace) and
``_Namespace.create_name(candidate)``, which cleans the candidate with two regular
expressions and makes it unique. :class:`NodeNames` does the second step as fx does
(``torch/fx/graph.py``, unchanged from torch 2.13 to 2.15) with each candidate's cleaning
memoised: regular expressions on every node were the largest single cost of naming.

Example:
    >>> import operator
    >>> names = NodeNames()
    >>> [names.create(base_name(t)) for t in ("layer1.0.conv1", operator.add, operator.add, "input")]
    ['layer1_0_conv1', 'add', 'add_1', 'input_1']
"""

from __future__ import annotations

import functools
from typing import Any

from torch import fx
from torch.fx.graph import _illegal_char_regex, _illegal_names, _name_regex

__all__ = ["NodeNames", "base_name"]

_NAMER = fx.Graph()


def base_name(target: Any) -> str:
    """The base name fx gives a node calling ``target`` (``conv2d``, ``add``, ``layer1.0.conv1``)."""
    try:
        return _base_name(target)
    except TypeError:  # an unhashable target
        return _NAMER._target_to_str(target)


@functools.lru_cache(maxsize=4096)
def _base_name(target: Any) -> str:
    return _NAMER._target_to_str(target)


@functools.lru_cache(maxsize=8192)
def _cleaned(candidate: str) -> tuple[str, str, int | None, bool]:
    """``(candidate, base, numeric suffix, shadows a keyword or builtin)``, as ``_Namespace.create_name`` cleans it."""
    match = _name_regex.match(candidate)
    if match is None:
        candidate = _illegal_char_regex.sub("_", candidate) or "_unnamed"
        if candidate[0].isdigit():
            candidate = f"_{candidate}"
        match = _name_regex.match(candidate)
        if match is None:
            raise AssertionError(f"Name regex failed to match candidate: {candidate}")
    base, num = match.group(1, 2)
    return candidate, base, None if num is None else int(num), _illegal_names.get(candidate) is not None


class NodeNames:
    """The unique node names of one trace, given as fx's ``_Namespace.create_name(candidate, None)`` gives them."""

    def __init__(self) -> None:
        self._used: set[str] = set()
        self._base_count: dict[str, int] = {}

    def create(self, candidate: str) -> str:
        """A new unique name from ``candidate``."""
        candidate, base, num, shadows = _cleaned(candidate)
        if num is None or candidate in self._used:
            num = self._base_count.get(base, 0)
            if shadows:
                num += 1
                candidate = f"{base}_{num}"
        while candidate in self._used:
            num += 1
            candidate = f"{base}_{num}"
        self._used.add(candidate)
        self._base_count[base] = num
        return candidate
