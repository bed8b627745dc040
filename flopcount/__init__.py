"""flopcount: exact per-layer parameters, MACs and FLOPs of PyTorch models.

>>> import torch
>>> from flopcount import profile
>>> p = profile(torch.nn.Linear(100352, 256), input_shape=(1, 100352))
>>> p.total_params, p.total_macs
(25690368, 25690112)
"""

from flopcount._version import __version__
from flopcount.capture import CaptureInfo
from flopcount.conventions import CONVENTIONS, Convention
from flopcount.formulas import OpCall, TensorInfo, register_formula, unregister_formula
from flopcount.formulas.registry import DuplicateFormulaError
from flopcount.graph_walk import ShapeMismatchError
from flopcount.profiler import Profile, profile
from flopcount.records import Aggregate, Count, LayerRecord, Uncounted

conventions = CONVENTIONS
"""Alias of :data:`CONVENTIONS`."""

__all__ = [
    "CONVENTIONS",
    "Aggregate",
    "CaptureInfo",
    "Convention",
    "Count",
    "DuplicateFormulaError",
    "LayerRecord",
    "OpCall",
    "Profile",
    "ShapeMismatchError",
    "TensorInfo",
    "Uncounted",
    "__version__",
    "conventions",
    "profile",
    "register_formula",
    "unregister_formula",
]
