"""Transfer learning wrapper around any torchvision classification model.

The torchvision network minus its last ImageNet layer becomes ``backbone`` (images to a
feature vector) and a new ``head`` maps features to class logits. Phase 1 trains the
head with the whole backbone frozen; phase 2 unfreezes the last stage(s) of the
backbone and fine-tunes them together with the head at a lower learning rate
(§III-D/E of the paper).
"""

from __future__ import annotations

import contextlib
import io
import sys

import torch
import torchvision
from torch import nn
from torch.nn.modules.batchnorm import _NormBase

from skinbench.errors import PretrainedUnavailable, UnknownModelError

__all__ = ["PretrainedUnavailable", "TransferModel", "fetch_imagenet_weights"]

#: ImageNet class count; the last layer with this many outputs is the one replaced.
_IMAGENET_CLASSES = 1000


def fetch_imagenet_weights(name: str) -> dict[str, torch.Tensor]:
    """Return torchvision's default ImageNet state dict for model ``name``.

    Uses torchvision's weights API (``get_model_weights(name).DEFAULT``), which reads the
    torch hub cache first and downloads otherwise.

    Raises:
        PretrainedUnavailable: The weights are neither cached nor downloadable.
    """
    weights = torchvision.models.get_model_weights(name).DEFAULT
    # torch.hub announces every download on stdout; hold that line back so that a failed
    # download is reported in exactly one line (the error below names the URL anyway).
    announced = io.StringIO()
    try:
        with contextlib.redirect_stdout(announced):
            state: dict[str, torch.Tensor] = weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # URLError, HTTPError, OSError, hash mismatch, truncated file...
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise PretrainedUnavailable(
            f"ImageNet weights for {name} ({weights.url}) could not be obtained: {reason}"
        ) from exc
    sys.stdout.write(announced.getvalue())
    return state


def _split_classifier(net: nn.Module) -> int:
    """Replace the ImageNet output layer of ``net`` by identity in place; return the feature size."""
    if isinstance(net, torchvision.models.SqueezeNet):
        # SqueezeNet classifies with a 1x1 conv; its pooled 512-channel map is the feature.
        net.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1))
        return int(net.features[-1].expand3x3.out_channels) * 2
    last_name, last = None, None
    for module_name, module in net.named_modules():
        if isinstance(module, nn.Linear) and module.out_features == _IMAGENET_CLASSES:
            last_name, last = module_name, module
    if last is None or last_name is None:
        raise UnknownModelError(f"cannot find the ImageNet output layer of {type(net).__name__}")
    parent_name, _, child = last_name.rpartition(".")
    parent = net.get_submodule(parent_name) if parent_name else net
    setattr(parent, child, nn.Identity())
    return last.in_features


def _is_stage(module: nn.Module) -> bool:
    """Whether ``module`` holds weights other than normalisation (a norm-only child joins the stage before it)."""
    return any(
        not isinstance(m, (_NormBase, nn.LayerNorm, nn.GroupNorm)) and any(True for _ in m.parameters(recurse=False))
        for m in module.modules()
    )


def _stage_prefixes(backbone: nn.Module) -> list[str]:
    """Names of the backbone's stages, input to output (the units phase 2 unfreezes)."""
    if all(hasattr(backbone, f"layer{i}") for i in range(1, 5)):  # ResNet / ResNeXt / Wide ResNet
        return [f"layer{i}" for i in range(1, 5)]
    for container in ("features", "layers", "trunk_output"):  # MobileNet, EfficientNet, VGG, ...
        seq = getattr(backbone, container, None)
        if isinstance(seq, nn.Sequential):
            return [f"{container}.{name}" for name, child in seq.named_children() if _is_stage(child)]
    return [name for name, child in backbone.named_children() if _is_stage(child)]


class TransferModel(nn.Module):
    """A torchvision backbone with a new classification head and phase-wise freezing.

    Args:
        name: torchvision model name, e.g. ``"resnet50"`` or ``"mobilenet_v3_small"``.
        num_classes: Number of outputs (7 for dx, 1 logit for binary).
        pretrained: Load torchvision's default ImageNet weights into the backbone.
        hidden: Width of the head's hidden layer.
        dropout: Dropout probability before the head's output layer.

    Raises:
        PretrainedUnavailable: ``pretrained`` is set and the weights cannot be obtained.
    """

    def __init__(
        self, name: str, num_classes: int, *, pretrained: bool, hidden: int = 256, dropout: float = 0.5
    ) -> None:
        super().__init__()
        state = fetch_imagenet_weights(name) if pretrained else None
        net = torchvision.models.get_model(name, weights=None)
        if state is not None:
            net.load_state_dict(state)
        self.name = name
        self.feature_dim = _split_classifier(net)
        self.backbone = net
        self.head = nn.Sequential(
            nn.Linear(self.feature_dim, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        self._stages = _stage_prefixes(net)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits ``(N, num_classes)`` for images ``(N, 3, S, S)``."""
        logits: torch.Tensor = self.head(self.features(x))
        return logits

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Return the backbone's feature vectors ``(N, feature_dim)``."""
        return torch.flatten(self.backbone(x), 1)

    @property
    def stages(self) -> list[str]:
        """Names of the backbone stages that :meth:`unfreeze_last` counts, input to output."""
        return list(self._stages)

    def freeze_backbone(self) -> None:
        """Phase 1: freeze every backbone parameter; only the head trains."""
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        for p in self.head.parameters():
            p.requires_grad_(True)
        self.train(self.training)

    def unfreeze_last(self, n_stages: int = 1) -> list[str]:
        """Phase 2: unfreeze the last ``n_stages`` stages of the backbone (and the head).

        Parameters outside every stage (a stem before the first stage, a pretrained
        projection after the last one) belong to the nearest stage before them.

        Args:
            n_stages: How many stages to unfreeze, counted from the output; 0 keeps the
                backbone frozen and values above the stage count unfreeze everything.

        Returns:
            The names of the unfrozen stages.
        """
        self.freeze_backbone()
        first = max(len(self._stages) - n_stages, 0) if n_stages > 0 else len(self._stages)
        stage = 0
        for param_name, p in self.backbone.named_parameters():
            for i, prefix in enumerate(self._stages):
                if param_name.startswith(prefix + "."):
                    stage = i
                    break
            p.requires_grad_(stage >= first)
        self.train(self.training)
        return self._stages[first:]

    def train(self, mode: bool = True) -> TransferModel:
        """Set train/eval mode; frozen normalisation layers always stay in eval mode.

        A frozen backbone must not update its BatchNorm running statistics (or drop out
        features), otherwise "frozen" layers would still change during phase 1.
        """
        super().train(mode)
        if mode:
            if not any(p.requires_grad for p in self.backbone.parameters()):
                self.backbone.eval()
            else:
                for module in self.backbone.modules():
                    params = list(module.parameters(recurse=False))
                    if isinstance(module, _NormBase) and not any(p.requires_grad for p in params):
                        module.eval()
        return self
