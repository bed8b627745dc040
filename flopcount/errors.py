"""The errors flopcount raises; which capture path runs next is decided by these types.

* :class:`ShapeMismatchError`: the inputs do not fit the model (a user error, no fallback).
* :class:`InputMismatchError`: the inputs do not fit ``forward``'s signature (no fallback).
* :class:`CaptureLimitation`: a capture path cannot handle this model; the next path
  is tried (fx -> meta dispatch -> real dispatch), and the last one re-raises it.
* :class:`DuplicateFormulaError`: a formula target was registered twice.
"""

from __future__ import annotations


class ShapeMismatchError(ValueError):
    """The example input does not fit a layer; the message names the layer.

    Attributes:
        layer: Module path of the layer that failed (``""`` for the root model), or
            ``None`` when the failing layer is not known (the dispatch paths).

    Example:
        >>> import torch
        >>> from flopcount import profile
        >>> try:
        ...     profile(torch.nn.Linear(4, 3), input_shape=(2, 5))
        ... except ShapeMismatchError as exc:
        ...     print("Linear" in str(exc), repr(exc.layer))
        True ''
    """

    def __init__(self, message: str, layer: str | None = None) -> None:
        super().__init__(message)
        self.layer = layer


class InputMismatchError(TypeError):
    """The example inputs do not match ``forward``'s signature.

    A ``TypeError``, so code that catches ``TypeError`` keeps working.

    Example:
        >>> import torch
        >>> from flopcount import profile
        >>> try:
        ...     profile(torch.nn.Linear(2, 2), torch.ones(1, 2), torch.ones(1, 2))
        ... except InputMismatchError as exc:
        ...     print(isinstance(exc, TypeError), "do not match Linear.forward" in str(exc))
        True True
    """


class CaptureLimitation(Exception):
    """A capture path cannot handle this model; the next path is tried.

    Raised when fx cannot trace ``forward`` (``*args`` inputs), and when a run on fake
    weights or meta inputs meets an op that needs tensor values (``.item()``,
    ``nonzero``, boolean-mask indexing, ...) or has no fake/meta kernel. Reaching the
    user, it means that only a run on real example tensors can capture the model. With
    real inputs, values derived from the inputs alone are computed (no real forward):
    only values that depend on the weights need a real run.

    Example:
        >>> import torch
        >>> from flopcount import profile
        >>> class Gate(torch.nn.Module):
        ...     def forward(self, x):
        ...         return x if x.sum() > 0 else -x
        >>> try:
        ...     profile(Gate(), input_shape=(2, 3))
        ... except CaptureLimitation as exc:
        ...     print("pass real example tensors" in str(exc))
        True
        >>> profile(Gate(), torch.ones(2, 3)).capture.method  # x is an input: no real forward
        'dispatch'
    """


class DuplicateFormulaError(ValueError):
    """A target was registered twice without ``override=True``.

    Example:
        >>> import torch
        >>> from flopcount import Count, register_formula
        >>> try:
        ...     register_formula(torch.nn.ReLU, family="activation")(lambda call: Count())
        ... except DuplicateFormulaError as exc:
        ...     print(exc)
        a formula for ReLU is already registered (pass override=True to replace it)
    """
