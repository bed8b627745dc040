"""skinbench: HAM10000 skin-lesion classifiers, measured for accuracy and cost.

skinbench uses :mod:`flopcount` for every cost number; flopcount never imports skinbench.
"""

from flopcount._version import __version__

__all__ = ["__version__"]
