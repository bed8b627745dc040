"""Modules known to steer their ``forward`` by values computed from the weights.

A detection head keeps the boxes whose scores rank highest or pass a threshold
(``nonzero``, boolean masks, top-k on scores): fake weights have no scores, so only a
real run counts it, and trying fx and the virtual run first costs about one more
forward before they fail (torchvision's SSDlite: a virtual run of 1.7x a forward). For
the classes below, :func:`flopcount.profile` goes straight to the real run, and
``Profile.capture.reason`` names the module. Classes are named by import path, so
nothing is imported to check.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

#: ``module.qualname`` of the class -> what it does with weight-derived values
WEIGHT_STEERED: dict[str, str] = {
    "torchvision.models.detection.rpn.RegionProposalNetwork": "keeps the proposals whose objectness ranks highest",
    "torchvision.models.detection.roi_heads.RoIHeads": "keeps the boxes whose class scores pass its threshold",
    "torchvision.models.detection.ssd.SSD": "keeps the boxes whose class scores pass its threshold",
    "torchvision.models.detection.retinanet.RetinaNet": "keeps the boxes whose class scores pass its threshold",
    "torchvision.models.detection.fcos.FCOS": "keeps the boxes whose class scores pass its threshold",
}


def weight_steered(model: nn.Module, named_modules: Iterable[tuple[str, nn.Module]] | None = None) -> str | None:
    """Why ``model`` needs a real run (the first such module, by path), or ``None``.

    ``named_modules`` is ``model.named_modules()`` when the caller already has them.

    Example:
        >>> import torch
        >>> weight_steered(torch.nn.Linear(2, 2)) is None
        True
    """
    for path, module in named_modules or model.named_modules():
        cls = type(module)
        why = WEIGHT_STEERED.get(f"{cls.__module__}.{cls.__qualname__}")
        if why is not None:
            where = f"module '{path}'" if path else "the model"
            return f"{where} ({cls.__name__}) {why}, values fake weights do not have"
    return None
