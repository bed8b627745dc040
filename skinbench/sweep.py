"""``skinbench sweep CONFIG``: many runs from one YAML file (being written; see issue #12)."""

from __future__ import annotations

from typing import Any


def add_sweep_command(sub: Any) -> None:
    """Add the ``sweep`` sub-command to the ``skinbench`` parser (not yet: issue #12 in progress)."""
