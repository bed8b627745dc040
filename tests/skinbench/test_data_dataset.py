"""LesionDataset, channel statistics (eq. 1) and the train/eval transforms."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from skinbench.data import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    LesionDataset,
    cached_images,
    channel_stats,
    load_metadata,
    make_transform,
    task_labels,
)


def test_channel_stats_match_numpy() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (37, 5, 6, 3), dtype=np.uint8)
    mean, std = channel_stats(images, chunk_pixels=8 * 30)  # several chunks, last one partial
    scaled = images.reshape(-1, 3) / 255.0
    np.testing.assert_allclose(mean, scaled.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(std, scaled.std(axis=0), rtol=1e-8)
    assert all(isinstance(v, float) for v in (*mean, *std))
    with pytest.raises(ValueError, match="non-empty uint8"):
        channel_stats(np.zeros((0, 4, 4, 3), np.uint8))


def test_eval_transform_is_equation_1() -> None:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (6, 7, 3), dtype=np.uint8)
    mean, std = (0.6, 0.5, 0.4), (0.2, 0.25, 0.3)
    out = make_transform(False, mean, std)(image)
    expected = (image.transpose(2, 0, 1) / 255.0 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    assert out.dtype == torch.float32 and out.shape == (3, 6, 7)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-5)
    assert torch.equal(out, make_transform(False, mean, std)(image))  # deterministic


def test_train_transform_augments_but_keeps_shape_and_statistics() -> None:
    image = np.zeros((16, 16, 3), np.uint8)
    image[:4, :4] = 255  # a bright corner moves under flips and rotations
    transform = make_transform(True, IMAGENET_MEAN, IMAGENET_STD)
    torch.manual_seed(0)
    outs = torch.stack([transform(image) for _ in range(20)])
    assert outs.shape == (20, 3, 16, 16) and outs.dtype == torch.float32
    assert len({o.numpy().tobytes() for o in outs}) > 5  # random, not a constant
    plain = make_transform(False, IMAGENET_MEAN, IMAGENET_STD)(image)
    assert torch.isclose(outs.amin(), plain.amin())  # same normalization


def test_dataset_items_and_loader(synthetic_root: Path, tmp_path: Path) -> None:
    meta = load_metadata(synthetic_root).iloc[:10]
    images = cached_images(meta["path"].tolist(), 32, cache_dir=tmp_path)
    mean, std = channel_stats(images)
    ds = LesionDataset(images, task_labels(meta, "dx"), make_transform(True, mean, std))
    assert len(ds) == 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. torch's non-writable-array warning
        x, y = ds[3]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert y.dtype == torch.int64 and int(y) == meta["label"].iloc[3]
    xb, yb = next(iter(DataLoader(ds, batch_size=4)))
    assert xb.shape == (4, 3, 32, 32) and yb.dtype == torch.int64 and yb.shape == (4,)


def test_dataset_default_transform_and_validation() -> None:
    images = np.full((3, 4, 4, 3), 255, np.uint8)
    x, y = LesionDataset(images, np.array([1, 0, 1]))[0]
    assert torch.equal(x, torch.ones(3, 4, 4)) and int(y) == 1
    with pytest.raises(ValueError, match="labels"):
        LesionDataset(images, np.array([1, 0]))
    with pytest.raises(ValueError, match="uint8"):
        LesionDataset(images.astype(np.float32), np.array([1, 0, 1]))
