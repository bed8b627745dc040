"""flopcount: exact per-layer parameters, MACs and FLOPs of PyTorch models.

>>> import torch
>>> from flopcount import profile
>>> p = profile(torch.nn.Linear(100352, 256), input_shape=(1, 100352))
>>> p.total_params, p.total_macs
(25690368, 25690112)
"""

from flopcount import errors
from flopcount._version import __version__
from flopcount.conventions import CONVENTIONS, Convention
from flopcount.errors import CaptureLimitation, DuplicateFormulaError, InputMismatchError, ShapeMismatchError
from flopcount.formulas import OpCall, TensorInfo, register_formula, unregister_formula
from flopcount.profiler import profile
from flopcount.records import Aggregate, CaptureInfo, Count, LayerRecord, Uncounted
from flopcount.result import Profile

conventions = CONVENTIONS
"""Alias of :data:`CONVENTIONS`."""

__all__ = [
    "CONVENTIONS",
    "Aggregate",
    "CaptureInfo",
    "CaptureLimitation",
    "Convention",
    "Count",
    "DuplicateFormulaError",
    "InputMismatchError",
    "LayerRecord",
    "OpCall",
    "Profile",
    "ShapeMismatchError",
    "TensorInfo",
    "Uncounted",
    "__version__",
    "conventions",
    "errors",
    "profile",
    "register_formula",
    "unregister_formula",
]
