"""The paper's small custom CNN (Table II)."""

from __future__ import annotations

import torch
from torch import nn

from skinbench.errors import ConfigError

#: Output channels of the three convolution blocks (Table II).
FILTERS: tuple[int, int, int] = (32, 64, 128)


class CustomCNN(nn.Module):
    """Table II: 3x [Conv 3x3 same + ReLU + MaxPool 2], Flatten, Dense 256 + ReLU, Dropout 0.5, Dense.

    The flatten size follows the input size: ``128 * (image_size // 8) ** 2``. At 224 px
    and 7 classes the network has 25,785,415 parameters (896 / 18,496 / 73,856 in the
    convolutions, 25,690,368 in Dense 256 and 1,799 in the output layer).

    Args:
        num_classes: Number of outputs (7 for the dx task, 1 logit for the binary task).
        image_size: Side of the square input images in pixels; at least 8.
        in_channels: Input channels (3 for RGB).

    Raises:
        ConfigError: ``image_size`` below 8 (three 2x poolings would leave nothing).
    """

    def __init__(self, num_classes: int = 7, image_size: int = 224, in_channels: int = 3) -> None:
        super().__init__()
        if image_size < 8:
            raise ConfigError(f"custom_cnn needs images of at least 8 px, got {image_size}")
        layers: list[nn.Module] = []
        channels = in_channels
        for filters in FILTERS:
            layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            channels = filters
        self.features = nn.Sequential(*layers)
        side = image_size // 2 // 2 // 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * side * side, 256),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(256, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return logits of shape ``(N, num_classes)`` for images ``(N, 3, S, S)``."""
        logits: torch.Tensor = self.classifier(self.features(x))
        return logits
