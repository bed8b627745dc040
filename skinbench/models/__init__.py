"""Model registry: the paper's two models plus any torchvision classification model.

``custom_cnn`` is Table II of the paper; ``resnet50_tl`` is torchvision's ResNet50 with a
new head for transfer learning; every other torchvision classification model name
(``mobilenet_v3_small``, ``efficientnet_b0``, ``resnet18``, ...) gets the same head and
training phases as ``resnet50_tl``.
"""

from __future__ import annotations

import difflib

import torchvision
from torch import nn

from skinbench.errors import ModelError, PretrainedUnavailable, UnknownModelError
from skinbench.models.custom_cnn import CustomCNN
from skinbench.models.transfer import TransferModel, fetch_imagenet_weights

__all__ = [
    "CustomCNN",
    "ModelError",
    "PretrainedUnavailable",
    "TransferModel",
    "UnknownModelError",
    "available_models",
    "build_model",
    "fetch_imagenet_weights",
    "is_transfer",
]

#: Aliases for torchvision names, as the paper calls its models.
ALIASES: dict[str, str] = {"resnet50_tl": "resnet50"}

# Vision transformers and MaxViT need one fixed input size; GoogLeNet and Inception v3
# add auxiliary heads during training. Neither fits the shared training loop.
_UNSUPPORTED_PREFIXES = ("vit_", "maxvit_", "googlenet", "inception_")


def available_models() -> list[str]:
    """Return every model name :func:`build_model` accepts, paper models first."""
    tv = [
        n for n in torchvision.models.list_models(module=torchvision.models) if not n.startswith(_UNSUPPORTED_PREFIXES)
    ]
    return ["custom_cnn", *ALIASES, *sorted(tv)]


def is_transfer(name: str) -> bool:
    """Whether model ``name`` trains in two transfer-learning phases (every model but custom_cnn)."""
    return name != "custom_cnn"


def build_model(name: str, num_classes: int, *, pretrained: bool, image_size: int) -> nn.Module:
    """Build model ``name`` with ``num_classes`` outputs.

    Args:
        name: ``"custom_cnn"``, ``"resnet50_tl"`` or a torchvision classification model name
            (see :func:`available_models`).
        num_classes: Number of outputs (7 for dx; 1 logit for the binary task).
        pretrained: Start transfer models from torchvision's ImageNet weights. Ignored by
            ``custom_cnn``, which has no pretrained weights.
        image_size: Side of the square input; sets ``custom_cnn``'s flatten size.

    Returns:
        A :class:`CustomCNN` or a :class:`TransferModel`.

    Raises:
        UnknownModelError: ``name`` is not a model :func:`available_models` lists.
        PretrainedUnavailable: ``pretrained`` is set and the ImageNet weights cannot be obtained.
    """
    known = available_models()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}{hint} (choose custom_cnn, resnet50_tl or a torchvision "
            "classification model such as mobilenet_v3_small)"
        )
    if name == "custom_cnn":
        return CustomCNN(num_classes, image_size=image_size)
    return TransferModel(ALIASES.get(name, name), num_classes, pretrained=pretrained)
