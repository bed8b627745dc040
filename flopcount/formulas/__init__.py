"""Cost formulas, one module per op family, all filled into one registry."""

from flopcount.formulas import (  # noqa: F401  (importing registers the formulas)
    activation,
    attention,
    conv,
    detection,
    elementwise,
    fft,
    interpolate,
    linear,
    moe,
    norm,
    pool,
    quantized,
    reduction,
    rnn,
    zero,
)
from flopcount.formulas.registry import (
    FAMILIES,
    DuplicateFormulaError,
    Formula,
    OpCall,
    TensorInfo,
    lookup,
    register_formula,
    registered_targets,
    target_name,
    unregister_formula,
)

__all__ = [
    "FAMILIES",
    "DuplicateFormulaError",
    "Formula",
    "OpCall",
    "TensorInfo",
    "lookup",
    "register_formula",
    "registered_targets",
    "target_name",
    "unregister_formula",
]
