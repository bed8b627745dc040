"""skinbench: HAM10000 skin-lesion classifiers, measured for accuracy and cost.

skinbench uses :mod:`flopcount` for every cost number; flopcount never imports skinbench.

``skinbench.load_run(RUN)`` loads a trained run for prediction (see :mod:`skinbench.predict`);
it is imported on first use, so ``import skinbench`` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flopcount._version import __version__

if TYPE_CHECKING:
    from skinbench.predict import load_run

__all__ = ["__version__", "load_run"]


def __getattr__(name: str) -> Any:
    """Import :func:`skinbench.predict.load_run` when it is first asked for."""
    if name == "load_run":
        from skinbench.predict import load_run

        return load_run
    raise AttributeError(f"module 'skinbench' has no attribute {name!r}")
