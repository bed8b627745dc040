"""Batched training augmentation on tensors: one call per batch, not one per image.

Dermoscopy images have no canonical orientation, so the geometric part is a random
flip along both axes, a rotation by any angle, a zoom and a shift. All of it is folded
into one affine matrix per image and applied with one ``affine_grid`` + ``grid_sample``
call for the whole batch (bilinear, reflection padding so that rotated corners are
filled with lesion surroundings rather than black). The photometric part (brightness,
contrast, saturation, hue) is a per-image affine colour transform, also vectorised.

Images enter as float tensors in ``[0, 1]``, shape ``(N, 3, H, W)``, on any device, and
leave with the same shape, dtype and range; normalisation comes after. Randomness comes
from the ``torch.Generator`` passed in, so a seeded run draws the same augmentations.

Example:
    >>> import torch
    >>> aug = BatchAugment(rotation=180, scale=(0.8, 1.2), brightness=0.2)
    >>> x = torch.rand(4, 3, 32, 32)
    >>> y = aug(x, torch.Generator().manual_seed(0))
    >>> y.shape, bool(y.min() >= 0), bool(y.max() <= 1)
    (torch.Size([4, 3, 32, 32]), True, True)
    >>> BatchAugment()(x, torch.Generator()).equal(x)  # nothing enabled: unchanged
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["BatchAugment"]

# ITU-R BT.601 luma weights: the grey that contrast and saturation blend towards.
_LUMA = (0.299, 0.587, 0.114)
# RGB <-> YIQ; a hue shift is a rotation of the (I, Q) chroma plane.
_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


@dataclass(frozen=True)
class BatchAugment:
    """Random geometric and colour augmentation of a batch, in one pass.

    Attributes:
        hflip: Flip left-right with probability 1/2.
        vflip: Flip top-bottom with probability 1/2.
        rotation: Largest rotation in degrees, drawn uniformly in ``[-rotation, rotation]``
            (180 gives every angle).
        scale: Zoom range; a factor above 1 zooms in (a crop of ``1/factor`` of the side),
            below 1 zooms out. ``(1, 1)`` disables.
        translate: Largest shift as a fraction of the side, per axis.
        brightness: Multiply by a factor in ``[1 - b, 1 + b]``.
        contrast: Blend with the image's mean grey by a factor in ``[1 - c, 1 + c]``.
        saturation: Blend with the pixel's grey by a factor in ``[1 - s, 1 + s]``.
        hue: Rotate the chroma plane by up to ``hue`` of a full turn (0.5 = any hue).
    """

    hflip: bool = False
    vflip: bool = False
    rotation: float = 0.0
    scale: tuple[float, float] = (1.0, 1.0)
    translate: float = 0.0
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0

    def __post_init__(self) -> None:
        low, high = self.scale
        if not 0 < low <= high:
            raise ValueError(f"scale must be 0 < low <= high, got {self.scale}")
        for name in ("rotation", "translate", "brightness", "contrast", "saturation", "hue"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")

    @property
    def geometric(self) -> bool:
        """Whether any geometric transform is enabled."""
        return self.hflip or self.vflip or self.rotation > 0 or self.scale != (1.0, 1.0) or self.translate > 0

    @property
    def photometric(self) -> bool:
        """Whether any colour transform is enabled."""
        return any(v > 0 for v in (self.brightness, self.contrast, self.saturation, self.hue))

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment ``images`` (``(N, 3, H, W)`` floats in ``[0, 1]``) with draws from ``generator``."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"expected a (N, 3, H, W) batch, got {tuple(images.shape)}")
        out = images
        if self.geometric:
            out = self._geometric(out, generator)
        if self.photometric:
            out = self._photometric(out, generator)
        return out

    def _uniform(self, n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
        return low + (high - low) * torch.rand(n, generator=generator)

    def _geometric(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = images.shape[0]
        angle = self._uniform(n, -self.rotation, self.rotation, generator) * (math.pi / 180)
        low, high = self.scale
        # Zoom drawn log-uniformly, so 0.8-1.25 is symmetric around 1.
        zoom = torch.exp(self._uniform(n, math.log(low), math.log(high), generator))
        flip_x = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if self.hflip else torch.ones(n)
        flip_y = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if self.vflip else torch.ones(n)
        shift = self._uniform(2 * n, -self.translate, self.translate, generator).view(n, 2) * 2  # [-1, 1] coords
        cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
        # theta maps output coordinates to input coordinates (affine_grid's convention).
        theta = torch.stack(
            [
                torch.stack([cos * flip_x, -sin * flip_y, shift[:, 0]], dim=1),
                torch.stack([sin * flip_x, cos * flip_y, shift[:, 1]], dim=1),
            ],
            dim=1,
        ).to(device=images.device, dtype=images.dtype)
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _photometric(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = images.shape[0]
        device, dtype = images.device, images.dtype

        def factor(amount: float) -> torch.Tensor:
            return self._uniform(n, 1 - amount, 1 + amount, generator).to(device, dtype).view(n, 1, 1, 1)

        luma = torch.tensor(_LUMA, device=device, dtype=dtype).view(1, 3, 1, 1)
        out = images
        if self.brightness > 0:
            out = out * factor(self.brightness)
        if self.contrast > 0:
            mean_grey = (out * luma).sum(dim=1, keepdim=True).mean(dim=(2, 3), keepdim=True)
            out = mean_grey + factor(self.contrast) * (out - mean_grey)
        if self.saturation > 0:
            grey = (out * luma).sum(dim=1, keepdim=True)
            out = grey + factor(self.saturation) * (out - grey)
        if self.hue > 0:
            out = self._hue(out, self._uniform(n, -self.hue, self.hue, generator) * (2 * math.pi))
        return out.clamp(0, 1)

    @staticmethod
    def _hue(images: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
        """Rotate each image's chroma plane (YIQ) by its angle, as one batched matrix product."""
        to_yiq = torch.tensor(_RGB_TO_YIQ, dtype=torch.float64)
        from_yiq = torch.linalg.inv(to_yiq)
        cos, sin = torch.cos(angle).double(), torch.sin(angle).double()
        rotate = torch.zeros(angle.shape[0], 3, 3, dtype=torch.float64)
        rotate[:, 0, 0] = 1
        rotate[:, 1, 1], rotate[:, 1, 2], rotate[:, 2, 1], rotate[:, 2, 2] = cos, -sin, sin, cos
        matrix = (from_yiq @ rotate @ to_yiq).to(images.device, images.dtype)
        return torch.einsum("nij,njhw->nihw", matrix, images)
