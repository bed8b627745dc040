"""When does an exported model match PyTorch: the tolerances of ``skinbench export`` and the check.

Kept apart from :mod:`skinbench.export` (numpy only), so the command line can print the
tolerances in its help without importing torch.

Rule: the exported model and PyTorch classify the same images; the check passes when
the largest absolute difference of any class probability is at most ``atol`` and the
argmax agrees on at least ``min_agreement`` of the images, where an image whose PyTorch
top-two probabilities are within ``tie_margin`` of each other counts as agreeing (a
difference within ``atol`` may legitimately flip such a near-tie).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["TOLERANCES", "Tolerance", "parity", "tolerance_for"]


@dataclass(frozen=True)
class Tolerance:
    """When an exported model counts as matching PyTorch (see the module docstring).

    Attributes:
        atol: Largest allowed absolute difference of a class probability.
        min_agreement: Smallest allowed share of images with the same argmax.
        tie_margin: Images whose PyTorch top-two probabilities differ by at most this
            count as agreeing (a difference within ``atol`` may flip them).
    """

    atol: float
    min_agreement: float
    tie_margin: float


#: Tolerances by precision: float32 must reproduce PyTorch up to float rounding; int8 is
#: looser, its accuracy on the test split is reported beside it.
TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(atol=1e-4, min_agreement=1.0, tie_margin=2e-4),
    "int8": Tolerance(atol=0.25, min_agreement=0.9, tie_margin=0.0),
}


def tolerance_for(int8: bool, *, atol: float | None = None, min_agreement: float | None = None) -> Tolerance:
    """The default tolerance of a precision, with ``atol``/``min_agreement`` replaced where given.

    Example:
        >>> tolerance_for(False, atol=1e-3)
        Tolerance(atol=0.001, min_agreement=1.0, tie_margin=0.0002)
    """
    base = TOLERANCES["int8" if int8 else "fp32"]
    return Tolerance(
        atol=base.atol if atol is None else atol,
        min_agreement=base.min_agreement if min_agreement is None else min_agreement,
        tie_margin=base.tie_margin,
    )


def parity(reference: np.ndarray, exported: np.ndarray, tolerance: Tolerance) -> dict[str, Any]:
    """Compare exported probabilities with PyTorch's (see the module docstring).

    Example:
        >>> ref = np.array([[0.9, 0.1], [0.50001, 0.49999]])
        >>> out = parity(ref, np.array([[0.89, 0.11], [0.49999, 0.50001]]), TOLERANCES["int8"])
        >>> out["max_abs_diff"] < 0.0101, out["argmax_agreement"], out["passed"]
        (True, 0.5, False)
    """
    ref_top = reference.argmax(1)
    agree = ref_top == exported.argmax(1)
    ordered = np.sort(reference, axis=1)
    near_tie = (ordered[:, -1] - ordered[:, -2]) <= tolerance.tie_margin if reference.shape[1] > 1 else agree
    counted = float(np.mean(agree | near_tie)) if len(agree) else 1.0
    max_diff = float(np.max(np.abs(reference - exported))) if reference.size else 0.0
    return {
        "n": len(reference),
        "max_abs_diff": max_diff,
        "mean_abs_diff": float(np.mean(np.abs(reference - exported))) if reference.size else 0.0,
        "argmax_agreement": float(np.mean(agree)) if len(agree) else 1.0,
        "agreement_with_ties": counted,
        "tolerance": asdict(tolerance),
        "passed": max_diff <= tolerance.atol and counted >= tolerance.min_agreement,
    }
