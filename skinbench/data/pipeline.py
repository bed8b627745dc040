"""The per-batch input pipeline of training: uint8 batch -> [0, 1] floats -> augmentation -> eq. 1.

The training dataset yields uint8 CHW images (a copy, nothing else per image); the
training loop moves each batch to the device and calls a :class:`BatchPipeline` on it:
one conversion, one :class:`~skinbench.data.augment.BatchAugment` call for the whole
batch (one ``grid_sample``), and the normalisation ``(x - mu) / sigma``, all vectorised
on the device. This replaces the per-image torchvision transforms, which cost more than
the model's step on CPU (their rotation alone took 13 ms per 64 px image with 2 threads).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from skinbench.data.augment import BatchAugment

__all__ = ["BatchPipeline"]


class BatchPipeline:
    """Convert, augment and normalise a batch of images on its device.

    Args:
        augment: The augmentation, or None for none.
        mean: Per-channel mean on the [0, 1] scale.
        std: Per-channel standard deviation on the [0, 1] scale.
        generator: CPU generator of the augmentation's random draws (seeded per epoch).

    Example:
        >>> p = BatchPipeline(None, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        >>> p(torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)).unique().tolist()
        [1.0]
    """

    def __init__(
        self,
        augment: BatchAugment | None,
        mean: Sequence[float],
        std: Sequence[float],
        generator: torch.Generator | None = None,
    ) -> None:
        self.augment = augment
        self.mean = torch.tensor([float(m) for m in mean]).view(1, 3, 1, 1)
        self.std = torch.tensor([float(s) for s in std]).view(1, 3, 1, 1)
        self.generator = generator or torch.Generator()

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` uint8 (or [0, 1] float) images -> normalised float32, augmented."""
        x = images.float() / 255 if images.dtype == torch.uint8 else images.float()
        if self.augment is not None:
            x = self.augment(x, self.generator)
        if self.mean.device != x.device:
            self.mean, self.std = self.mean.to(x.device), self.std.to(x.device)
        return (x - self.mean) / self.std
