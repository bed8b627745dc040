"""Torch dataset over cached uint8 images, with the paper's normalization (eq. 1).

``(I - mu) / sigma`` per channel on the [0, 1] scale, with mu and sigma from the
train split (:func:`channel_stats`) or ImageNet's for a pretrained backbone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from skinbench.errors import DataError

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)


def channel_stats(
    images: np.ndarray, chunk_pixels: int = 1 << 22
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per-channel mean and standard deviation of uint8 NHWC images on the [0, 1] scale.

    Exact (a histogram of each channel's 256 values), chunk by chunk, so a
    memory-mapped cache of any size is fine.

    Args:
        images: uint8 array (N, H, W, 3), N >= 1.
        chunk_pixels: About how many pixels to load at a time.

    Returns:
        ``(mean, std)``, each a tuple of 3 floats (population std).

    Example:
        >>> x = np.zeros((2, 1, 1, 3), np.uint8); x[1] = 255
        >>> channel_stats(x)
        ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    """
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or len(images) == 0:
        raise DataError(f"expected a non-empty uint8 (N, H, W, 3) array, got {images.dtype} {images.shape}")
    step = max(1, chunk_pixels // (images.shape[1] * images.shape[2]))
    hist = np.zeros((3, 256), dtype=np.int64)
    for start in range(0, len(images), step):
        block = np.asarray(images[start : start + step]).reshape(-1, 3)
        for c in range(3):  # bincount of a uint8 column is much faster than float sums
            hist[c] += np.bincount(block[:, c], minlength=256)
    values = np.arange(256) / 255.0
    count = hist.sum(axis=1)
    mean = hist @ values / count
    std = np.sqrt(np.maximum(hist @ values**2 / count - mean**2, 0.0))
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)  # type: ignore[return-value]


class _ToCHWTensor:
    """uint8 HWC array -> uint8 CHW tensor (a copy, so read-only memmaps are fine)."""

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1).contiguous()


def uint8_transform() -> Callable[[np.ndarray], torch.Tensor]:
    """uint8 HWC image -> uint8 CHW tensor, nothing else.

    Training batches of the batched recipes are converted, augmented and normalised on
    the device, per batch (:class:`skinbench.data.pipeline.BatchPipeline`).

    Example:
        >>> uint8_transform()(np.zeros((4, 5, 3), np.uint8)).shape
        torch.Size([3, 4, 5])
    """
    return _ToCHWTensor()


def make_transform(
    train: bool, mean: Sequence[float], std: Sequence[float], degrees: float = 180.0
) -> Callable[[np.ndarray], torch.Tensor]:
    """Transform a uint8 HWC image into a normalized float32 CHW tensor.

    Args:
        train: Add augmentation: random horizontal and vertical flips and a random
            rotation (lesions have no natural orientation; corners are filled black,
            like the dark vignette of dermoscopy images).
        mean: Per-channel mean on the [0, 1] scale (eq. 1's mu).
        std: Per-channel standard deviation on the [0, 1] scale (eq. 1's sigma).
        degrees: Rotation range (+-degrees) when ``train``.

    Returns:
        A picklable callable (usable in DataLoader workers).

    Example:
        >>> t = make_transform(False, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
        >>> y = t(np.full((4, 4, 3), 255, np.uint8))
        >>> y.shape, y.dtype, float(y.max())
        (torch.Size([3, 4, 4]), torch.float32, 1.0)
    """
    steps: list[Callable[..., Any]] = [_ToCHWTensor()]
    if train:
        steps += [
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
            v2.RandomRotation(degrees, interpolation=v2.InterpolationMode.BILINEAR),
        ]
    steps += [
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(map(float, mean)), std=list(map(float, std))),
    ]
    transform: Callable[[np.ndarray], torch.Tensor] = v2.Compose(steps)
    return transform


class LesionDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Images and integer labels as a :class:`torch.utils.data.Dataset`.

    Args:
        images: uint8 array (N, H, W, 3), e.g. from
            :func:`~skinbench.data.cached_images` (memory-mapped is fine).
        labels: N integer labels (e.g. :func:`~skinbench.data.task_labels`).
        transform: Maps one uint8 HWC image to a float32 CHW tensor; default
            scales to [0, 1] without normalizing.

    Items are ``(image, label)``: a float32 (3, H, W) tensor and an int64 scalar tensor.

    Example:
        >>> ds = LesionDataset(np.zeros((2, 8, 8, 3), np.uint8), np.array([0, 4]))
        >>> x, y = ds[1]
        >>> x.shape, x.dtype, y.dtype, int(y), len(ds)
        (torch.Size([3, 8, 8]), torch.float32, torch.int64, 4, 2)
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        transform: Callable[[np.ndarray], torch.Tensor] | None = None,
    ) -> None:
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise DataError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(images),):
            raise DataError(f"{len(images)} images but labels of shape {labels.shape}")
        self.images = images
        self.labels = labels
        self.transform = transform or v2.Compose([_ToCHWTensor(), v2.ToDtype(torch.float32, scale=True)])

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.transform(self.images[index])
        return image, torch.tensor(self.labels[index], dtype=torch.int64)
