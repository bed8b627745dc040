"""Batched augmentation: identities, exact flips, determinism, colour invariants."""

from __future__ import annotations

import pytest
import torch

from skinbench.data.augment import _LUMA, BatchAugment


def _luma(x: torch.Tensor) -> torch.Tensor:
    return (x * torch.tensor(_LUMA).view(1, 3, 1, 1)).sum(dim=1)


def test_nothing_enabled_is_the_identity():
    x = torch.rand(3, 3, 8, 8)
    assert BatchAugment()(x, torch.Generator().manual_seed(1)).equal(x)


def test_flips_are_exact_mirror_images():
    x = torch.rand(16, 3, 7, 9)
    y = BatchAugment(hflip=True, vflip=True)(x, torch.Generator().manual_seed(0))
    candidates = [x, x.flip(-1), x.flip(-2), x.flip(-1).flip(-2)]
    kinds = []
    for i in range(len(x)):
        match = [k for k, c in enumerate(candidates) if torch.allclose(y[i], c[i], atol=1e-5)]
        assert len(match) == 1, f"image {i} is not a flip of its input"
        kinds.append(match[0])
    assert len(set(kinds)) > 1  # 16 draws: not all the same flip


def test_same_seed_same_batch_other_seed_other_batch():
    aug = BatchAugment(hflip=True, rotation=180, scale=(0.8, 1.25), translate=0.1, brightness=0.2, hue=0.05)
    x = torch.rand(4, 3, 16, 16)
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert a.equal(b) and not a.equal(c)


def test_output_keeps_shape_dtype_and_range():
    aug = BatchAugment(hflip=True, vflip=True, rotation=180, scale=(0.7, 1.4), brightness=0.5, contrast=0.5,
                       saturation=0.5, hue=0.5)  # fmt: skip
    x = torch.rand(5, 3, 12, 10)
    y = aug(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.dtype == x.dtype
    assert float(y.min()) >= 0 and float(y.max()) <= 1


def test_hue_rotation_keeps_luma_and_zero_angle_is_identity():
    x = torch.rand(2, 3, 6, 6)
    rotated = BatchAugment._hue(x, torch.tensor([0.7, -2.0]))
    assert torch.allclose(_luma(rotated), _luma(x), atol=1e-5)
    assert torch.allclose(BatchAugment._hue(x, torch.zeros(2)), x, atol=1e-5)


def test_contrast_and_saturation_keep_mean_luma():
    x = 0.4 + 0.2 * torch.rand(6, 3, 8, 8)  # mid-range: no clamping
    y = BatchAugment(contrast=0.3, saturation=0.3)(x, torch.Generator().manual_seed(0))
    assert torch.allclose(_luma(y).mean(dim=(1, 2)), _luma(x).mean(dim=(1, 2)), atol=1e-5)


def test_rotation_moves_pixels_but_keeps_the_centre():
    x = torch.rand(8, 3, 9, 9)
    y = BatchAugment(rotation=180)(x, torch.Generator().manual_seed(0))
    assert not torch.allclose(y, x)
    assert torch.allclose(y[:, :, 4, 4], x[:, :, 4, 4], atol=1e-5)  # rotation about the centre pixel


@pytest.mark.parametrize(("field", "value"), [("scale", (1.2, 0.8)), ("scale", (0.0, 1.0)), ("rotation", -1.0)])
def test_bad_settings_are_refused(field, value):
    with pytest.raises(ValueError, match=field):
        BatchAugment(**{field: value})


def test_bad_batch_shape_is_refused():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        BatchAugment(hflip=True)(torch.rand(3, 8, 8), torch.Generator())
